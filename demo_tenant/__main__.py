"""`python -m demo_tenant`: run the demo tenant on its own until Ctrl-C (or SIGTERM).

`--print-env` prints the client environment (KEY=VALUE lines, the client secret included) once the port is
known, so another process can be pointed at it: `eval "$(python -m demo_tenant --print-env | head -7)"`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from demo_tenant.server import DEFAULT_DATA_DIR, DEFAULT_SEED, DemoTenant, DemoTenantConfig
from demo_tenant.state import SeedError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m demo_tenant", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="port to bind (default: a free one)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--seed", type=Path, default=DEFAULT_SEED, help="seed file (default: seeds/contoso.json)")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                        help="where the CA, keys and client secret live (default: data/demo_tenant)")
    parser.add_argument("--unblock-delay", type=float, default=30.0,
                        help="seconds an unblocked sender stays listed (default: 30)")
    parser.add_argument("--page-size", type=int, default=100, help="default page size (default: 100)")
    parser.add_argument("--token-lifetime", type=int, default=3600,
                        help="seconds an access token lives (default: 3600, as Entra; the chaos soak shortens it "
                             "so its token-endpoint outage outlives every cached token)")
    parser.add_argument("--throttle", action="store_true", help="enforce Microsoft's throttles")
    parser.add_argument("--latency", action="store_true", help="add realistic latency (Graph 150 ms, sign-ins 1.2 s)")
    parser.add_argument("--print-env", action="store_true", help="print the client environment after start")
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> int:
    """Start, optionally print the environment, and wait for a stop signal."""
    config = DemoTenantConfig(
        seed_path=args.seed, data_dir=args.data_dir, host=args.host, port=args.port,
        unblock_delay_seconds=args.unblock_delay, page_size=args.page_size, throttle=args.throttle,
        realistic_latency=args.latency, token_lifetime_seconds=args.token_lifetime,
    )
    tenant = DemoTenant(config)
    try:
        await tenant.start()
    except SeedError as exc:
        print(f"demo tenant: {exc}", file=sys.stderr)
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not on Windows; Ctrl-C then raises KeyboardInterrupt
            loop.add_signal_handler(sig, stop.set)
    try:
        if args.print_env:
            for key, value in tenant.client_env().items():
                print(f"{key}={value}")
            sys.stdout.flush()
        logging.getLogger("demo_tenant").info("demo tenant ready at %s (Ctrl-C stops it)", tenant.base_url)
        await stop.wait()
    finally:
        await tenant.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    try:
        return asyncio.run(serve(args))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())

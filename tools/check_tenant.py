"""`make check-tenant` (`python -m tools.check_tenant [--json]`): the tenant pre-flight from the command line.

Checks, read-only, what the configured tenant gives the bot (the embedded demo tenant when none is configured): the
tokens and the application permissions in them, the Exchange role, the licences that decide which sources exist, and
whether message trace is provisioned. Prints feature -> available / not, why, and the DEPLOY.md row that fixes it.
Exit status: 0 when every feature is available, 3 when some are not, 1 for a configuration or connection error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from contextlib import AsyncExitStack

from config import Settings
from core.preflight import Report, for_tenant, render_text, to_json
from m365.errors import M365Error
from tenancy import cli_settings, open_tenant

EXIT_OK, EXIT_ERROR, EXIT_UNAVAILABLE = 0, 1, 3


async def check(settings: Settings) -> Report | None:
    """Open the tenant the bot would use (starting the demo tenant in demo mode) and run the pre-flight."""
    async with AsyncExitStack() as stack:
        tenant, _ = await open_tenant(settings, stack)
        preflight = for_tenant(tenant)
        if preflight is None:
            return None
        return await preflight.run()


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, read settings, run, print; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m tools.check_tenant", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    settings = cli_settings()
    if settings is None:
        return EXIT_ERROR
    try:
        report = asyncio.run(check(settings))
    except M365Error as exc:
        print(f"Microsoft 365 error: {exc.message}", file=sys.stderr)
        return EXIT_ERROR
    if report is None:
        print("the configured tenant cannot be checked", file=sys.stderr)
        return EXIT_ERROR
    print(json.dumps(to_json(report), indent=2) if args.json else render_text(report))
    return EXIT_OK if report.ok else EXIT_UNAVAILABLE


if __name__ == "__main__":
    sys.exit(main())

"""`make demo`: the bot on the embedded demo tenant plus the Microsoft 365 Agents Playground; Ctrl-C stops both."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLAYGROUND_CLI = ROOT / "node_modules" / "@microsoft" / "m365agentsplayground" / "cli.js"


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float) -> bool:
    """Poll `url` until it answers 200, the process dies, or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback URL of our own
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    return False


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate a child and its children, politely first."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def main() -> int:
    """Start both, print where to go, wait for Ctrl-C."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default=".m365agentsplayground.yml", help="Playground configuration file")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3978")), help="bot port")
    parser.add_argument("--ui-port", type=int, default=56150, help="Playground port")
    args = parser.parse_args()

    if not PLAYGROUND_CLI.is_file():
        print("The Agents Playground is not installed: run `npm ci` (make demo does).", file=sys.stderr)
        return 1
    env = {**os.environ, "PORT": str(args.port), "HOST": "127.0.0.1"}
    bot = subprocess.Popen([sys.executable, str(ROOT / "bot.py")], cwd=ROOT, env=env, start_new_session=True)
    playground: subprocess.Popen[bytes] | None = None
    try:
        if not wait_ready(f"http://127.0.0.1:{args.port}/readyz", bot, timeout=60):
            print("The bot did not become ready; see its log above.", file=sys.stderr)
            return 1
        playground_env = {
            **os.environ,
            "TEAMSAPPTESTER_BROWSER": "none",
            "M365_AGENTS_PLAYGROUND_CONFIG_PATH": str((ROOT / args.config).resolve()),
        }
        playground = subprocess.Popen(
            ["node", str(PLAYGROUND_CLI), "start", "-e", f"http://127.0.0.1:{args.port}/api/messages",
             "-c", "msteams", "-p", str(args.ui_port), "--dt"],
            cwd=ROOT, env=playground_env, start_new_session=True,
        )
        if not wait_ready(f"http://127.0.0.1:{args.ui_port}/", playground, timeout=60):
            print("The Agents Playground did not start; see its log above.", file=sys.stderr)
            return 1
        print(f"\n  Blocked Sender Assistant is running on the demo tenant.\n"
              f"  Open http://127.0.0.1:{args.ui_port} and type 'help'.  Ctrl-C stops everything.\n", flush=True)
        while bot.poll() is None and playground.poll() is None:
            time.sleep(0.5)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        if playground is not None:
            stop(playground)
        stop(bot)


if __name__ == "__main__":
    sys.exit(main())

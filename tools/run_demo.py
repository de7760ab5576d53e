"""`make demo`: the bot on the embedded demo tenant plus the Microsoft 365 Agents Playground.

Ctrl-C, SIGTERM and SIGHUP stop everything it started: the bot (with its demo tenant, which runs in the bot's
process) and the Playground each run in their own process group, and the whole group is terminated (then killed
after 10 s), so no child keeps a port. Before starting, both ports are checked: a port in use is named, with the
setting that changes it, instead of a "running" that then fails.

`python -m tools.run_demo --reset` (`make demo-reset`) deletes the demo's SQLite store (the database, its WAL files
and the `.created` marker that otherwise stops the bot from starting without its database) so the next
`make demo` starts empty; it refuses for PostgreSQL, for a configured real tenant, and while a demo is running.
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
PLAYGROUND_CLI = ROOT / "node_modules" / "@microsoft" / "m365agentsplayground" / "cli.js"
DEFAULT_BOT_PORT = 3978
DEFAULT_UI_PORT = 56150
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class Stop(BaseException):
    """A stop signal arrived (SIGTERM, SIGHUP): unwinds like Ctrl-C, so every child is stopped."""


def _on_signal(signum: int, frame: FrameType | None) -> None:
    del frame
    raise Stop(signum)


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when something already listens on `host:port` (binding it fails with EADDRINUSE)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As servers do: a port left in TIME_WAIT by a demo just stopped is free, a listening one is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.errno in (errno.EADDRINUSE, errno.EACCES)
    return False


def busy_ports(ports: list[tuple[int, str, str]]) -> list[str]:
    """A message for each `(port, what, how to change it)` that is taken; empty when all are free."""
    return [f"Port {port} ({what}) is already in use: is another `make demo` still running? Stop it, or choose "
            f"another port: {how}." for port, what, how in ports if port_in_use(port)]


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
    """Terminate a child's whole process group, politely first; the group outlives its leader, so it is signalled
    even when the leader already exited."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        process.poll()
        return
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # whatever ignored SIGTERM (or a grandchild left behind)
    except ProcessLookupError:
        pass
    process.poll()


def reset(env: dict[str, str] | None = None) -> int:
    """Delete the demo's SQLite store (`make demo-reset`); say what was removed."""
    from config import Settings, SettingsError
    from store.db import SQLITE_MARKER_SUFFIX, sqlite_file

    try:
        settings = Settings.from_env(env)
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    if not settings.demo_mode:
        print("demo-reset only resets the demo: M365_CLIENT_ID is set (a real tenant), so nothing was removed.",
              file=sys.stderr)
        return 1
    path = sqlite_file(settings.effective_database_url)
    if path is None:
        print("demo-reset only deletes a SQLite store; DATABASE_URL points elsewhere, so nothing was removed.",
              file=sys.stderr)
        return 1
    port = int((env or os.environ).get("PORT") or DEFAULT_BOT_PORT)
    if port_in_use(port):
        print(f"Port {port} is in use: stop the running `make demo` first (its bot has the store open); nothing "
              "was removed.", file=sys.stderr)
        return 1
    removed = []
    for candidate in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"),
                      path.with_name(path.name + "-journal"), path.with_name(path.name + SQLITE_MARKER_SUFFIX)):
        if candidate.exists():
            candidate.unlink()
            removed.append(candidate)
    if removed:
        print("Removed " + ", ".join(str(p.relative_to(ROOT) if p.is_relative_to(ROOT) else p) for p in removed)
              + ". The next `make demo` starts with an empty store.")
    else:
        print(f"Nothing to remove: there is no demo store at {path}.")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Start both, print where to go, wait for Ctrl-C or a stop signal."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=".m365agentsplayground.yml", help="Playground configuration file")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT") or DEFAULT_BOT_PORT),
                        help="bot port (env PORT)")
    parser.add_argument("--ui-port", type=int, default=int(os.environ.get("PLAYGROUND_PORT") or DEFAULT_UI_PORT),
                        help="Playground port (env PLAYGROUND_PORT)")
    parser.add_argument("--reset", action="store_true", help="delete the demo's SQLite store and exit")
    args = parser.parse_args(argv)
    if args.reset:
        return reset()

    if not PLAYGROUND_CLI.is_file():
        print("The Agents Playground is not installed: run `npm ci` (make demo does).", file=sys.stderr)
        return 1
    taken = busy_ports([(args.port, "the bot", f"PORT={args.port + 1} make demo"),
                        (args.ui_port, "the Agents Playground", f"PLAYGROUND_PORT={args.ui_port + 1} make demo")])
    if taken:
        for line in taken:
            print(line, file=sys.stderr)
        return 1
    previous = {s: signal.signal(s, _on_signal) for s in STOP_SIGNALS}
    bot: subprocess.Popen[bytes] | None = None
    playground: subprocess.Popen[bytes] | None = None
    try:
        env = {**os.environ, "PORT": str(args.port), "HOST": "127.0.0.1"}
        bot = subprocess.Popen([sys.executable, str(ROOT / "bot.py")], cwd=ROOT, env=env, start_new_session=True)
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
        print("The bot or the Agents Playground exited; stopping the other.", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, Stop):
        return 0
    finally:
        # A second signal while stopping must not interrupt the cleanup: ignore them until the children are gone.
        for s in (*STOP_SIGNALS, signal.SIGINT):
            signal.signal(s, signal.SIG_IGN)
        if playground is not None:
            stop(playground)
        if bot is not None:
            stop(bot)
        for s, handler in previous.items():
            signal.signal(s, handler)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if bot is not None:
            print("Stopped the bot, its demo tenant and the Agents Playground.", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())

"""A throw-away PostgreSQL cluster for a bench: initdb in a temp dir, on a free loopback port, stoppable at will.

The chaos soak (bench/soak.py) runs the bot on one of these and stops it mid-run (`crash()`: `pg_ctl stop -m
immediate`, the nearest thing to pulling the plug that leaves the machine up) and starts it again (`start()`:
crash recovery replays the WAL), to prove nothing the bot acknowledged is lost.

Where the binaries come from: `initdb`/`pg_ctl` on PATH, else the newest `/usr/lib/postgresql/*/bin` (Debian and
Ubuntu keep them off PATH). PostgreSQL refuses to run as root, so as root the cluster belongs to a dedicated OS user
(`postgres`, which the distribution's package creates) and every command runs through `runuser -u postgres --`;
its directory is a fresh `mkdtemp` under the system temp dir, chowned to that user (the caller's own temp dirs are
root-only, which that user could not enter). As anyone else the cluster is the current user's. Authentication is
`trust` on 127.0.0.1 only, with a Unix socket inside the cluster's own directory, so it touches no system cluster.

`find_cluster()` returns None with the reason when no cluster can be made (no binaries, root without a `postgres`
user or `runuser`); the soak prints that reason and falls back to SQLite.
"""

from __future__ import annotations

import asyncio
import glob
import os
import pwd
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import free_port

START_TIMEOUT_SECONDS = 60
DATABASE = "soak"
SERVICE_USER = "postgres"  # the OS user Debian's/Ubuntu's postgresql package creates


class ClusterError(RuntimeError):
    """A `pg_ctl`/`initdb` command failed; the message carries its output."""


@dataclass(frozen=True)
class Runner:
    """How to run PostgreSQL's programs here: the binaries' directory and the OS user they run as."""

    bindir: Path
    user: str | None  # None: as the current (non-root) user; else through `runuser -u <user> --`

    def argv(self, program: str, *args: str) -> list[str]:
        """The command line of `program` from `bindir`, as the cluster's user."""
        command = [str(self.bindir / program), *args]
        return ["runuser", "-u", self.user, "--", *command] if self.user else command


def find_bindir() -> Path | None:
    """The directory holding `initdb`, `pg_ctl` and `createdb`: PATH first, then the newest Debian layout."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).resolve().parent
    candidates = [Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")]

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in path.parent.name.split(".") if part.isdigit())

    for bindir in sorted(candidates, key=version, reverse=True):
        if all((bindir / name).is_file() for name in ("initdb", "pg_ctl", "createdb")):
            return bindir
    return None


def find_runner() -> tuple[Runner | None, str]:
    """How to run a cluster here, or None and the reason why not."""
    bindir = find_bindir()
    if bindir is None:
        return None, "no PostgreSQL server binaries (initdb, pg_ctl) on PATH or under /usr/lib/postgresql/*/bin"
    if os.geteuid() != 0:
        return Runner(bindir, None), ""
    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        return None, (f"running as root (PostgreSQL refuses root) and there is no '{SERVICE_USER}' OS user to run "
                      "the cluster as")
    if shutil.which("runuser") is None:
        return None, "running as root (PostgreSQL refuses root) and `runuser` is missing to switch user"
    return Runner(bindir, SERVICE_USER), ""


class PgCluster:
    """One temporary cluster: `create()`, `start()`, `crash()`/`start()` as often as wanted, `destroy()`."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.port = 0
        self.root: Path | None = None
        self.stops = 0  # immediate stops (crashes) so far
        self.last_start_seconds = 0.0

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory."""
        assert self.root is not None, "create() first"
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        """The server's log (pg_ctl -l)."""
        assert self.root is not None, "create() first"
        return self.root / "postgres.log"

    @property
    def url(self) -> str:
        """The bot's DATABASE_URL (trust authentication, loopback only)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{DATABASE}"

    async def _run(self, program: str, *args: str, within: float = START_TIMEOUT_SECONDS + 30) -> str:
        proc = await asyncio.create_subprocess_exec(*self.runner.argv(program, *args), cwd=str(self.root),
                                                    stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.STDOUT)
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), within)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise ClusterError(f"{program} did not finish within {within:g} s") from None
        text = out.decode(errors="replace")
        if proc.returncode != 0:
            raise ClusterError(f"{program} {' '.join(args[:2])} failed ({proc.returncode}): {text.strip()[-800:]}")
        return text

    async def create(self) -> None:
        """initdb (superuser `postgres`, trust on loopback, UTF-8), start, and create the `soak` database."""
        self.root = Path(tempfile.mkdtemp(prefix="bench-soak-pg-"))
        if self.runner.user:
            entry = pwd.getpwnam(self.runner.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self.root.chmod(0o700)
        self.port = free_port()
        # --no-sync only skips the fsync of the freshly made files; the running server keeps fsync on.
        await self._run("initdb", "-D", str(self.data_dir), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                        "--locale=C", "--no-sync")
        await self.start()
        await self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", DATABASE)

    async def start(self) -> float:
        """Start (after a crash: WAL replay first) and wait until it accepts connections; returns seconds."""
        started = time.perf_counter()
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.root} "
                   "-c max_connections=60")
        await self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_path), "-o", options, "-w",
                        "-t", str(START_TIMEOUT_SECONDS), "start")
        self.last_start_seconds = time.perf_counter() - started
        return self.last_start_seconds

    async def crash(self) -> None:
        """`pg_ctl stop -m immediate`: every server process quits at once, no checkpoint, clients cut off."""
        await self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")
        self.stops += 1

    async def running(self) -> bool:
        """True when `pg_ctl status` finds the server running."""
        try:
            await self._run("pg_ctl", "-D", str(self.data_dir), "status", within=10)
        except ClusterError:
            return False
        return True

    async def destroy(self) -> None:
        """Stop (fast) if running and delete the cluster's directory."""
        if self.root is None:
            return
        try:
            if self.data_dir.exists() and await self.running():
                await self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None


def find_cluster() -> tuple[PgCluster | None, str]:
    """A cluster ready to `create()`, or None and the reason it cannot be made here."""
    runner, reason = find_runner()
    return (PgCluster(runner), "") if runner is not None else (None, reason)

"""Real processes for the several-instances and crash tests: a demo tenant, `bot.py` instances, a database.

- `DemoTenantProcess`: `python -m demo_tenant --print-env` on a free port; the printed client environment is
  the file every bot joins through `DEMO_TENANT_ENV`, so all instances act on one tenant. Its `/_demo/` admin
  API (over HTTPS, trusting the demo CA) reads the request log, adds fault and latency rules and restricts
  accounts.
- `BotProcess`: one `python bot.py` in demo mode (anonymous, every Microsoft 365 and Bot Framework credential
  cleared whatever `.env` says) on a free loopback port; `kill()` is `kill -9`, `start()` starts it again
  with the same settings.
- `fresh_database()`: a new PostgreSQL database next to TEST_POSTGRES_URL, dropped afterwards (skipped
  locally when PostgreSQL is unreachable, a failure in CI: `tests/store_fixtures.py`).

Every wait is bounded and fails with the tail of the process's log.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy.engine import make_url

from config import IDENTITY_ENV_NAMES, ROOT
from tests.store_fixtures import _asyncpg_dsn, _check_postgres, postgres_url

STARTUP_SECONDS = 60.0
# Settings that would take an instance out of demo mode or give it an identity: cleared, whatever .env holds.
CLEARED = (*IDENTITY_ENV_NAMES, "M365_TENANT_ID", "M365_CLIENT_ID",
           "M365_CLIENT_SECRET", "M365_CLIENT_CERTIFICATE_PATH", "M365_CA_FILE", "DEMO_TENANT_SEED",
           "IT_STAFF_GROUP_ID", "SECURITY_ADMIN_GROUP_ID", "WATCH_INTERVAL_SECONDS", "RECONCILE_GRACE_SECONDS")
_ENV_KEYS = ("M365_TENANT_ID", "M365_CLIENT_ID", "M365_CLIENT_SECRET", "M365_AUTHORITY_HOST", "M365_GRAPH_URL",
             "M365_EXCHANGE_URL", "M365_CA_FILE")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(log: Path, lines: int = 40) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


async def wait_until(condition: Callable[[], Awaitable[bool]], *, within: float, what: str,
                     logs: Callable[[], str] = lambda: "") -> None:
    """Poll `condition()` every 0.1 s until it holds; fail with `what` and `logs()` after `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await condition():
            return
        await asyncio.sleep(0.1)
    pytest.fail(f"{what} not within {within:.0f} s\n{logs()}")


@dataclass
class DemoTenantProcess:
    """`python -m demo_tenant` in its own process, and its admin API."""

    process: subprocess.Popen[bytes]
    env_file: Path
    log: Path
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def start(cls, tmp_path: Path, *, unblock_delay: float = 1.0) -> DemoTenantProcess:
        """Start on a free port; returns once the client environment was printed (the server listens then)."""
        env_file, log = tmp_path / "demo-tenant.env", tmp_path / "demo-tenant.log"
        argv = [sys.executable, "-m", "demo_tenant", "--port", str(free_port()), "--data-dir",
                str(tmp_path / "demo-tenant"), "--unblock-delay", str(unblock_delay), "--print-env"]
        with env_file.open("wb") as out, log.open("wb") as err:
            process = subprocess.Popen(argv, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                                       stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        demo = cls(process, env_file, log)
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"the demo tenant exited with {process.returncode}:\n{_tail(log)}")
            lines = env_file.read_text().splitlines()
            demo.env = dict(line.split("=", 1) for line in lines if "=" in line)
            if all(demo.env.get(key) for key in _ENV_KEYS):
                return demo
            time.sleep(0.1)
        demo.stop()
        pytest.fail(f"the demo tenant printed no environment within {STARTUP_SECONDS:.0f} s:\n{_tail(log)}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL."""
        _stop(self.process)

    def tail(self) -> str:
        """The end of its log."""
        return _tail(self.log)

    @property
    def base_url(self) -> str:
        """`https://127.0.0.1:PORT`."""
        return self.env["M365_GRAPH_URL"]

    def ssl_context(self) -> ssl.SSLContext:
        """Trusts the demo tenant's CA."""
        return ssl.create_default_context(cafile=self.env["M365_CA_FILE"])

    async def admin(self, session: aiohttp.ClientSession, method: str, path: str, body: Any = None) -> Any:
        """Call `/_demo/<path>`; the JSON answer (None for 204)."""
        async with session.request(method, f"{self.base_url}/_demo/{path}", json=body,
                                   ssl=self.ssl_context()) as response:
            assert response.status < 300, (method, path, response.status, await response.text())
            return None if response.status == 204 else await response.json()

    async def requests(self, session: aiohttp.ClientSession, cmdlet: str) -> list[dict[str, Any]]:
        """The request log's entries for one Exchange cmdlet."""
        records: list[dict[str, Any]] = await self.admin(session, "GET", f"requests?cmdlet={cmdlet}")
        return records

    async def add_fault(self, session: aiohttp.ClientSession, rule: Mapping[str, Any]) -> str:
        """Add a fault (or latency) rule; returns its id."""
        added: dict[str, Any] = await self.admin(session, "POST", "faults", dict(rule))
        return str(added["id"])

    async def fault_ids(self, session: aiohttp.ClientSession) -> set[str]:
        """The ids of the rules still active (a rule with `count` disappears once it fired that often)."""
        return {str(rule["id"]) for rule in await self.admin(session, "GET", "faults")}


@dataclass
class BotProcess:
    """One `bot.py` process in demo mode, joined to a `DemoTenantProcess`, on a shared database."""

    name: str
    env: dict[str, str]
    log: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @classmethod
    def create(cls, name: str, tmp_path: Path, *, database_url: str, demo: DemoTenantProcess,
               **settings: str) -> BotProcess:
        """An instance (not started yet); `settings` are extra environment variables."""
        port = free_port()
        data_dir = tmp_path / name
        data_dir.mkdir(exist_ok=True)
        env = {**os.environ, **{key: "" for key in CLEARED}, "DATABASE_URL": database_url,
               "DATA_DIR": str(data_dir), "HOST": "127.0.0.1", "PORT": str(port), "LOG_LEVEL": "INFO",
               "DEMO_TENANT_ENV": str(demo.env_file), "PYTHONUNBUFFERED": "1", **settings}
        return cls(name, env, tmp_path / f"{name}.log", port)

    @property
    def url(self) -> str:
        """Its base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        """The process id of the running process."""
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        """Start (again), appending to the same log."""
        with self.log.open("ab") as out:
            self.process = subprocess.Popen([sys.executable, str(ROOT / "bot.py")], cwd=ROOT, env=self.env,
                                            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        """`kill -9`: no shutdown code runs (no lease released, no audit written)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL."""
        if self.process is not None:
            _stop(self.process)

    def tail(self) -> str:
        """The end of its log."""
        return f"--- {self.name} ---\n{_tail(self.log)}"

    async def wait_ready(self, session: aiohttp.ClientSession) -> None:
        """Until `GET /readyz` answers 200 (the database, the tenant and every background task are up)."""
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                pytest.fail(f"{self.name} exited:\n{self.tail()}")
            try:
                async with session.get(f"{self.url}/readyz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
        pytest.fail(f"{self.name} not ready after {STARTUP_SECONDS:.0f} s:\n{self.tail()}")


@asynccontextmanager
async def fresh_database() -> AsyncIterator[str]:
    """A new, empty PostgreSQL database (its plain postgresql:// URL), dropped with its connections afterwards."""
    url = postgres_url()
    await _check_postgres(url)
    name = f"bsa_{uuid.uuid4().hex[:12]}"
    admin_dsn = _asyncpg_dsn(url)
    conn = await asyncpg.connect(admin_dsn, timeout=10)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        conn = await asyncpg.connect(admin_dsn, timeout=10)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


async def query(database_url: str, sql: str, *args: Any) -> list[Any]:
    """Rows of one SQL query on the shared database (what every instance sees)."""
    conn = await asyncpg.connect(_asyncpg_dsn(database_url), timeout=10)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()

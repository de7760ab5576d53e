"""Pytest fixtures for tests that need a real store (loaded from tests/conftest.py via `pytest_plugins`).

Fixtures:

* `db_target` - where a test database lives, parametrized over both backends: `[sqlite]` (a fresh file under
  `tmp_path`) and `[postgres]` (a fresh schema in the PostgreSQL named by TEST_POSTGRES_URL, default
  postgresql://postgres@127.0.0.1:5432/test, dropped after the test). Open it with `await target.open()` as
  often as needed, e.g. to simulate a restart or a second instance.
* `database` / `store` - a migrated `Database` / `Store` on `db_target`, closed after the test.
* `sqlite_target`, `sqlite_database`, `sqlite_store` - the same on SQLite only, for fast unit-level tests
  that do not need to prove anything about PostgreSQL.

PostgreSQL parameters are marked `postgres` (deselect with `-m "not postgres"`). When PostgreSQL is
unreachable they are skipped with a message saying how to enable them, unless the environment variable CI is
set (to anything but "", 0, false or no): then they fail, because CI must always run them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy.engine import make_url

from store import Database, Store, open_database
from store.db import Clock, utcnow

POSTGRES_URL_ENV = "TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"

# Reachability of each PostgreSQL URL, checked once per session: None = reachable, else the reason.
_postgres_status: dict[str, str | None] = {}


@dataclass(frozen=True)
class DbTarget:
    """A test database: its URL and, on PostgreSQL, the schema that isolates the test."""

    backend: str
    url: str
    schema: str | None = None

    async def open(self, *, migrate: bool = True, clock: Clock = utcnow) -> Database:
        """Open (and by default migrate) a new `Database` on this target; the caller closes it."""
        return await open_database(self.url, schema=self.schema, migrate=migrate, clock=clock)


def postgres_url() -> str:
    """The PostgreSQL server the tests use (TEST_POSTGRES_URL, or the local default)."""
    return os.environ.get(POSTGRES_URL_ENV, "").strip() or DEFAULT_POSTGRES_URL


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


async def _check_postgres(url: str) -> None:
    if url not in _postgres_status:
        try:
            conn = await asyncpg.connect(_asyncpg_dsn(url), timeout=5)
        except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
            _postgres_status[url] = f"{type(exc).__name__}: {exc}"
        else:
            await conn.close()
            _postgres_status[url] = None
    reason = _postgres_status[url]
    if reason is None:
        return
    safe_url = make_url(url).render_as_string(hide_password=True)
    message = (
        f"PostgreSQL at {safe_url} is unreachable ({reason}). To run the [postgres] store tests, start "
        f"PostgreSQL there or set {POSTGRES_URL_ENV} to a reachable database (the tests create and drop their "
        f"own schemas in it)."
    )
    if _in_ci():
        pytest.fail(f"{message} CI is set, so the PostgreSQL tests must run.", pytrace=False)
    pytest.skip(message)


async def _postgres_target() -> AsyncIterator[DbTarget]:
    url = postgres_url()
    await _check_postgres(url)
    schema = f"test_{uuid.uuid4().hex[:16]}"
    dsn = _asyncpg_dsn(url)
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await conn.close()
    try:
        yield DbTarget("postgres", url, schema)
    finally:
        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()


def _sqlite_target(tmp_path: Path) -> DbTarget:
    return DbTarget("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'data' / 'bot.db'}")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db_target(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[DbTarget]:
    """A fresh, empty test database on each backend (see the module docstring)."""
    if request.param == "sqlite":
        yield _sqlite_target(tmp_path)
        return
    async for target in _postgres_target():
        yield target


@pytest.fixture
async def database(db_target: DbTarget) -> AsyncIterator[Database]:
    """A migrated `Database` on `db_target`, closed after the test."""
    db = await db_target.open()
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture
async def store(database: Database) -> Store:
    """A `Store` over `database` (both backends)."""
    return Store(database)


@pytest.fixture
def sqlite_target(tmp_path: Path) -> DbTarget:
    """A fresh SQLite test database file (not yet created)."""
    return _sqlite_target(tmp_path)


@pytest.fixture
async def sqlite_database(sqlite_target: DbTarget) -> AsyncIterator[Database]:
    """A migrated SQLite `Database`, closed after the test."""
    db = await sqlite_target.open()
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture
async def sqlite_store(sqlite_database: Database) -> Store:
    """A `Store` on SQLite only."""
    return Store(sqlite_database)

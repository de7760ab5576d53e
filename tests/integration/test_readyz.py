"""Issue 18, item 5: the store watches itself, and `/readyz` names what is wrong.

`/readyz` used to stay 200 with the SQLite file deleted (an open connection keeps the unlinked file, so `SELECT 1`
passes) and the next start silently created an empty database: every case and audit row gone. Now:

- `/readyz` answers 503 naming `store` when the file is deleted, replaced or read-only, or the database (PostgreSQL)
  does not answer; its JSON names every check (`store`, `tenant`, `token`);
- a start that finds the database's marker but not the file refuses (`StoreUnavailable("gone")`) instead of
  starting empty, until the file is restored or the marker deleted on purpose;
- a write lock held past the busy timeout is `StoreUnavailable("locked")`, not the driver's error (a press turns it
  into "could not record, nothing was done").
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

import store.db
from bot import COMPONENTS, create_app
from config import Settings
from m365.errors import TokenUnavailable, UpstreamUnavailable
from store import Store, StoreUnavailable
from store.db import SQLITE_MARKER_SUFFIX, Database, create_engine, open_database, outage_reason
from tests.fakes import FakeTenant


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[tuple[TestClient[Any, Any], FakeTenant, Path]]:
    path = tmp_path / "bot.db"
    database = await Store.open(f"sqlite+aiosqlite:///{path}")
    tenant = FakeTenant()
    client: TestClient[Any, Any] = TestClient(TestServer(create_app(Settings(data_dir=tmp_path), tenant=tenant,
                                                                    store=database)))
    await client.start_server()
    yield client, tenant, path
    await client.close()
    await database.close()
    os.chmod(path, 0o644) if path.exists() else None


async def ready(client: TestClient[Any, Any]) -> tuple[int, dict[str, Any]]:
    client.server.app[COMPONENTS].ready_at = 0.0  # past the brief cache of a ready answer
    response = await client.get("/readyz")
    return response.status, await response.json()


async def test_ready_names_every_check(app: Any) -> None:
    client, _, _ = app
    status, body = await ready(client)
    assert status == 200
    assert body["status"] == "ready" and body["checks"] == {"store": "ok", "tenant": "ok", "token": "ok"}


async def test_a_deleted_database_file_is_not_ready(app: Any) -> None:
    client, _, path = app
    assert (await ready(client))[0] == 200
    path.unlink()
    status, body = await ready(client)
    assert status == 503 and body["status"] == "not ready"
    assert body["checks"]["store"] == "gone" and body["store"] == "gone"
    assert body["checks"]["tenant"] == "ok"


async def test_a_replaced_database_file_is_not_ready(app: Any, tmp_path: Path) -> None:
    client, _, path = app
    shutil.copy(path, tmp_path / "copy.db")
    path.unlink()
    shutil.move(tmp_path / "copy.db", path)  # same name, another file: writes would go to the old one
    status, body = await ready(client)
    assert (status, body["checks"]["store"]) == (503, "replaced")


async def test_a_read_only_database_file_is_not_ready(app: Any) -> None:
    client, _, path = app
    os.chmod(path, 0o444)
    status, body = await ready(client)
    assert (status, body["checks"]["store"]) == (503, "read-only")
    os.chmod(path, 0o644)
    assert (await ready(client))[0] == 200  # and back


async def test_an_unreachable_postgresql_is_not_ready() -> None:
    # Nothing listens on port 1: the connection is refused, as with a PostgreSQL that is down or restarting.
    db = Database(create_engine("postgresql+asyncpg://bot:pw@127.0.0.1:1/bot"))
    try:
        assert await db.health(within=5) == "unreachable"
        assert not await db.ping()
    finally:
        await db.close()


async def test_the_token_endpoint_is_named_apart_from_the_tenant(app: Any) -> None:
    client, tenant, _ = app
    tenant.failures["ping"] = TokenUnavailable("Entra ID token request failed: HTTP 503", status=503)
    status, body = await ready(client)
    assert (status, body["checks"]) == (503, {"store": "ok", "token": "unavailable", "tenant": "unknown"})
    tenant.failures["ping"] = UpstreamUnavailable("Graph is unavailable (HTTP 503)", status=503)
    status, body = await ready(client)
    assert (status, body["checks"]) == (503, {"store": "ok", "token": "ok", "tenant": "unreachable"})


async def test_a_lost_database_is_not_recreated_empty_at_the_next_start(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    url = f"sqlite+aiosqlite:///{path}"
    first = await Store.open(url)
    await first.settings.set("kept", 1)
    await first.close()
    assert (tmp_path / f"bot.db{SQLITE_MARKER_SUFFIX}").exists()

    path.unlink()
    with pytest.raises(StoreUnavailable) as info:
        await open_database(url)
    assert info.value.reason == "gone" and not path.exists()  # nothing was created

    (tmp_path / f"bot.db{SQLITE_MARKER_SUFFIX}").unlink()  # the operator starts empty, on purpose
    again = await Store.open(url)
    try:
        assert await again.settings.get("kept") is None
    finally:
        await again.close()


async def test_a_database_that_predates_the_marker_gets_one(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    await (await Store.open(f"sqlite+aiosqlite:///{path}")).close()
    marker = tmp_path / f"bot.db{SQLITE_MARKER_SUFFIX}"
    marker.unlink()
    reopened = await Store.open(f"sqlite+aiosqlite:///{path}")
    await reopened.close()
    assert marker.exists()


async def test_a_write_lock_held_past_the_busy_timeout_is_store_unavailable(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store.db, "SQLITE_BUSY_TIMEOUT_MS", 200)
    path = tmp_path / "bot.db"
    database = await Store.open(f"sqlite+aiosqlite:///{path}")
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock (a stuck instance, a backup tool)
        with pytest.raises(StoreUnavailable) as info:
            await database.settings.set("x", 1)
        assert info.value.reason == "locked"
        assert await database.db.health() == "ok"  # readers are not blocked in WAL mode: the store is up
        holder.execute("ROLLBACK")
        await database.settings.set("x", 1)  # the lock is gone: writes work again
    finally:
        holder.close()
        await database.close()


def test_only_outages_are_store_unavailable() -> None:
    assert outage_reason(sqlite3.OperationalError("database is locked")) == "locked"
    assert outage_reason(sqlite3.OperationalError("attempt to write a readonly database")) == "read-only"
    assert outage_reason(ConnectionRefusedError()) == "unreachable"
    assert outage_reason(sqlite3.OperationalError("no such column: x")) is None  # a bug, not an outage
    assert outage_reason(sqlite3.IntegrityError("UNIQUE constraint failed")) is None
    assert outage_reason(TimeoutError()) is None  # a caller's own deadline
    assert outage_reason(ValueError("x")) is None

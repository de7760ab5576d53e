"""SQLite under concurrent turns: readers never wait for a writer, and one-statement writes hold no lock between
awaits (docs/PERFORMANCE.md, turn overhead)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import bindparam, text, update

from store import Database, EtagConflict, Store, open_database
from store.bot_state import key_hash
from store.models import BotStateRow
from teams.storage import SqlStorage


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    opened = await open_database(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    yield opened
    await opened.close()


def other_writer(path: Path) -> sqlite3.Connection:
    """A plain connection that gives up at once when the write lock is taken (no busy wait)."""
    conn = sqlite3.connect(path, timeout=0, isolation_level=None)
    conn.execute("CREATE TABLE IF NOT EXISTS probe (n INTEGER)")
    return conn


async def test_state_reads_run_while_a_write_transaction_holds_the_lock(db: Database) -> None:
    storage = SqlStorage(db)
    await storage.write({"conv/1": {"n": 1}})
    assert db.read_engine is not db.engine  # readers have a pool of their own
    async with db.transaction() as session:
        await session.execute(text("UPDATE bot_state SET etag = 'uncommitted'"))
        # Readers, as many as turns in flight, get the committed state while the writer holds the lock.
        items = await asyncio.wait_for(asyncio.gather(*(storage.read(["conv/1"]) for _ in range(30))), 10)
    assert {item["conv/1"]["n"] for item in items} == {1}
    assert all(item["conv/1"]["e_tag"] != "uncommitted" for item in items)


async def test_a_one_statement_write_holds_no_lock_between_awaits(db: Database, tmp_path: Path) -> None:
    probe = other_writer(tmp_path / "bot.db")
    stmt = update(BotStateRow).values(etag=bindparam("etag")).where(BotStateRow.key_hash == bindparam("h"))
    try:
        await SqlStorage(db).write({"conv/1": {"n": 1}})
        await db.execute_once(stmt, {"etag": "fresh", "h": key_hash("conv/1")})
        probe.execute("INSERT INTO probe VALUES (1)")  # nothing left open: no "database is locked"
        async with db.transaction() as session:
            await session.execute(text("UPDATE bot_state SET etag = etag"))
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                probe.execute("INSERT INTO probe VALUES (2)")  # the contrast: a transaction holds the lock
    finally:
        probe.close()
    assert (await SqlStorage(db).read(["conv/1"]))["conv/1"]["e_tag"] == "fresh"


async def test_the_conversation_reference_upsert_commits_on_its_own(db: Database, tmp_path: Path) -> None:
    store = Store(db)
    probe = other_writer(tmp_path / "bot.db")
    try:
        saved = await store.conversations.save("t", "u", {"conversation": {"id": "a"}}, locale="en-US",
                                               time_zone="Europe/Amsterdam")
        probe.execute("INSERT INTO probe VALUES (1)")  # nothing left open by the save
    finally:
        probe.close()
    assert await store.conversations.get("t", "u") == saved


async def test_a_state_write_checks_its_e_tag_and_leaves_nothing_open(db: Database, tmp_path: Path) -> None:
    storage = SqlStorage(db)
    probe = other_writer(tmp_path / "bot.db")
    try:
        await storage.write({"conv/2": {"n": 1}})
        first = (await storage.read(["conv/2"]))["conv/2"]
        await storage.write({"conv/2": {**first, "n": 2}})  # with its e-tag: checked and updated
        probe.execute("INSERT INTO probe VALUES (1)")  # nothing left open by either write
        with pytest.raises(EtagConflict):
            await storage.write({"conv/2": {**first, "n": 3}})  # the same, now stale, e-tag
        probe.execute("INSERT INTO probe VALUES (2)")
    finally:
        probe.close()
    assert (await storage.read(["conv/2"]))["conv/2"]["n"] == 2


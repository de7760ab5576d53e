"""Schema migrations: from empty to head, idempotent, concurrent, matching the models, from the CLI too."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect, text

from store.db import head_revision
from store.models import Base
from tests.store_fixtures import DbTarget

ROOT = Path(__file__).resolve().parents[2]
EXPECTED_TABLES = {
    "bot_state",
    "app_settings",
    "conversation_refs",
    "cases",
    "case_cards",
    "case_subscribers",
    "audit_log",
    "action_claims",
    "restriction_seen",
    "leases",
    "event_outbox",
    "alembic_version",
}


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


async def test_migrates_empty_database_to_head(db_target: DbTarget) -> None:
    db = await db_target.open(migrate=False)
    try:
        assert await db.current_revision() is None
        async with db.engine.connect() as conn:
            assert await conn.run_sync(_tables) == set()
        await db.migrate()
        assert await db.current_revision() == head_revision() == "0003_event_outbox"
        async with db.engine.connect() as conn:
            assert await conn.run_sync(_tables) == EXPECTED_TABLES
    finally:
        await db.close()


async def test_migrating_again_is_a_no_op(db_target: DbTarget) -> None:
    first = await db_target.open()
    await first.close()
    second = await db_target.open()
    try:
        await second.migrate()
        assert await second.current_revision() == head_revision()
        async with second.engine.connect() as conn:
            versions = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
        assert versions == [head_revision()]
    finally:
        await second.close()


async def test_instances_starting_together_migrate_once(db_target: DbTarget) -> None:
    dbs = await asyncio.gather(*(db_target.open() for _ in range(3)))
    try:
        for db in dbs:
            assert await db.current_revision() == head_revision()
    finally:
        for db in dbs:
            await db.close()


async def test_models_match_migrations(db_target: DbTarget) -> None:
    db = await db_target.open()
    try:
        async with db.engine.connect() as conn:
            diffs = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync, opts={"compare_type": True}),
                                              Base.metadata)
            )
        assert diffs == []
    finally:
        await db.close()


async def test_sqlite_pragmas_and_parent_directory(sqlite_target: DbTarget) -> None:
    db = await sqlite_target.open()
    try:
        assert await asyncio.to_thread(Path(sqlite_target.url.split("///", 1)[1]).is_file)
        async with db.engine.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
            assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
            assert (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar() == 15000
        assert await db.ping() is True
    finally:
        await db.close()


async def test_ping_reports_an_unreachable_database() -> None:
    from store import open_database

    db = await open_database("postgresql://nobody@127.0.0.1:1/none", migrate=False)
    try:
        assert await db.ping(within=5) is False
    finally:
        await db.close()


def _alembic(args: list[str], database_url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "tools.migrate", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )


async def test_alembic_command_line_upgrades(db_target: DbTarget) -> None:
    url = db_target.url.replace("+aiosqlite", "")
    extra = ["-x", f"schema={db_target.schema}"] if db_target.schema else []
    result = await asyncio.to_thread(_alembic, [*extra, "upgrade", "head"], url)
    assert result.returncode == 0, result.stderr
    current = await asyncio.to_thread(_alembic, [*extra, "current"], url)
    assert current.returncode == 0, current.stderr
    assert "0003_event_outbox (head)" in current.stdout
    db = await db_target.open(migrate=False)
    try:
        assert await db.current_revision() == head_revision()
    finally:
        await db.close()


def test_bare_alembic_asks_for_a_url_instead_of_reading_the_settings(tmp_path: Path) -> None:
    """The store reads no configuration: plain `alembic` needs `-x url=`, DATABASE_URL alone is not enough."""
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}"}
    alembic = Path(sys.executable).with_name("alembic")
    bare = subprocess.run([str(alembic), "-c", str(ROOT / "store" / "alembic.ini"), "upgrade", "head"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert bare.returncode != 0 and "no database URL" in bare.stderr
    assert not (tmp_path / "bot.db").exists()
    given = subprocess.run([str(alembic), "-c", str(ROOT / "store" / "alembic.ini"),
                            "-x", f"url=sqlite:///{tmp_path / 'given.db'}", "upgrade", "head"],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert given.returncode == 0, given.stderr
    assert (tmp_path / "given.db").exists()

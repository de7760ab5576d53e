"""Audit log: started/outcome pairs, unfinished actions, redaction, and the `python -m tools.audit` CLI."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from store import Actor, AuditError, Database, Store
from store.audit_log import AuditLog
from tests.store_fixtures import DbTarget

ROOT = Path(__file__).resolve().parents[2]
TENANT = "4f8c2b1e-6d3a-4e5b-9c7d-1a2b3c4d5e6f"
ALEX = Actor(id="0d4b2a71-9f3c-4b8e-a1d2-5e6f7a8b9c01", name="Alex Wilber", upn="AlexW@example.com")
CASE = "9b1f3e2a-0000-4000-8000-000000000001"


class Clock:
    """A settable clock for the audit log's timestamps."""

    def __init__(self) -> None:
        self.now = datetime(2025, 11, 28, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def test_start_and_finish_write_two_rows(store: Store) -> None:
    correlation = await store.audit.start(
        actor=ALEX, action="unblock", target="MeganB@example.com", tenant_id=TENANT, case_id=CASE,
        parameters={"override_reason": "approved", "new_password": "hunter2", "nested": {"api_token": "x"}},
    )
    done = await store.audit.finish(correlation, "succeeded", result={"unblocked": True})
    rows = await store.audit.list(correlation_id=correlation)
    assert [r.outcome for r in rows] == ["started", "succeeded"]
    started, finished = rows
    assert finished == done
    for row in rows:
        assert (row.actor_id, row.actor_upn, row.actor_name) == (ALEX.id, ALEX.upn, ALEX.name)
        assert (row.tenant_id, row.action, row.target, row.case_id) == (TENANT, "unblock", "MeganB@example.com", CASE)
        assert row.parameters["new_password"] == "[redacted]"
        assert row.parameters["nested"] == {"api_token": "[redacted]"}
        assert row.parameters["override_reason"] == "approved"
    assert finished.parameters["result"] == {"unblocked": True}
    assert started.id < finished.id and started.at <= finished.at


async def test_failure_and_double_finish(store: Store) -> None:
    correlation = await store.audit.start(actor=ALEX, action="reset_password", target="PattiF@example.com")
    failed = await store.audit.finish(correlation, "failed", error="400 on-premises mastered\n" + "x" * 20000)
    assert failed.error is not None and failed.error.startswith("400 on-premises mastered")
    assert len(failed.error) < 9000
    with pytest.raises(AuditError):
        await store.audit.finish(correlation, "succeeded")
    with pytest.raises(AuditError):
        await store.audit.finish("no-such-correlation", "succeeded")
    with pytest.raises(ValueError):
        await store.audit.finish(correlation, "started")
    assert [r.outcome for r in await store.audit.list(correlation_id=correlation)] == ["started", "failed"]


async def test_concurrent_finishes_record_one_outcome(db_target: DbTarget, store: Store) -> None:
    correlation = await store.audit.start(actor=ALEX, action="unblock", target="MeganB@example.com")
    other = Store(await db_target.open())
    try:
        results = await asyncio.gather(
            store.audit.finish(correlation, "succeeded"), other.audit.finish(correlation, "failed", "timeout"),
            return_exceptions=True,
        )
    finally:
        await other.close()
    assert sum(isinstance(r, AuditError) for r in results) == 1
    assert len(await store.audit.list(correlation_id=correlation)) == 2


async def test_unfinished_and_filters(database: Database) -> None:
    clock = Clock()
    database.clock = clock
    audit = AuditLog(database)
    old = await audit.start(actor=ALEX, action="revoke_sessions", target="a@example.com", case_id=CASE)
    done = await audit.start(actor=ALEX, action="unblock", target="b@example.com", case_id=CASE)
    await audit.finish(done, "succeeded")
    clock.now += timedelta(minutes=30)
    recent = await audit.start(actor=ALEX, action="block_sign_in", target="c@example.com")
    event = await audit.record(actor=ALEX, action="set_alert_channel", target="19:it@thread.tacv2")
    assert event.outcome == "succeeded"

    assert [e.correlation_id for e in await audit.unfinished()] == [old, recent]
    assert [e.correlation_id for e in await audit.unfinished(older_than=timedelta(minutes=10))] == [old]
    assert {e.correlation_id for e in await audit.list(case_id=CASE)} == {old, done}
    assert len(await audit.list(since=clock.now - timedelta(minutes=5))) == 2
    assert len(await audit.list(until=clock.now - timedelta(minutes=5))) == 3
    assert len(await audit.list(limit=2)) == 2
    assert len(await audit.list(actor_id=ALEX.id)) == 5


def _cli(args: list[str], database_url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "tools.audit", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )


async def test_cli_prints_the_audit_log(sqlite_target: DbTarget, tmp_path: Path) -> None:
    db = await sqlite_target.open()
    try:
        audit = AuditLog(db)
        correlation = await audit.start(
            actor=ALEX, action="unblock", target="MeganB@example.com\x1b[31m", tenant_id=TENANT, case_id=CASE
        )
        await audit.finish(correlation, "failed", error="Exchange said no\nsecond line")
        other = await audit.start(actor=ALEX, action="reset_password", target="PattiF@example.com")
    finally:
        await db.close()
    url = sqlite_target.url.replace("+aiosqlite", "")  # DATABASE_URL as an operator would write it

    table = await asyncio.to_thread(_cli, ["--since", "7d"], url)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split()[:4] == ["AT", "(UTC)", "OUTCOME", "ACTION"]
    assert len(lines) == 5 and lines[-1] == "(3 rows)"
    assert "failed" in lines[2] and "Exchange said no" in lines[2] and "second line" not in table.stdout
    assert "\x1b" not in table.stdout and "\\x1b[31m" in lines[1]  # terminal escapes from tenant data are shown
    assert "AlexW@example.com" in lines[1] and CASE[:8] in lines[1]

    as_json = await asyncio.to_thread(_cli, ["--since", "30m", "--json", "--case", CASE], url)
    assert as_json.returncode == 0, as_json.stderr
    rows = json.loads(as_json.stdout)
    assert [(r["outcome"], r["correlation_id"]) for r in rows] == [("started", correlation), ("failed", correlation)]
    assert rows[1]["error"] == "Exchange said no\nsecond line"
    assert rows[0]["target"] == "MeganB@example.com\x1b[31m"
    assert datetime.fromisoformat(rows[0]["at"]).tzinfo is not None
    assert other not in as_json.stdout

    bad = await asyncio.to_thread(_cli, ["--since", "soon"], url)
    assert bad.returncode == 2 and "invalid duration" in bad.stderr
    missing = await asyncio.to_thread(_cli, [], f"sqlite:///{tmp_path / 'nowhere' / 'bot.db'}")
    assert missing.returncode == 1 and "no database" in missing.stderr
    assert not await asyncio.to_thread((tmp_path / "nowhere").exists)

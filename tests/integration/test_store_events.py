"""The events' outbox on both backends: which facts write which event, in the fact's own transaction, with ids and
facts only; delivery bookkeeping (delivered, retry, give up, purge); nothing written without a webhook; and the
audit log as JSON lines (`python -m store.audit --format jsonl`)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from store import Actor, Database, Store
from store.audit_log import AuditLog
from store.events import EVENT_TYPES
from tests.store_fixtures import DbTarget

ROOT = Path(__file__).resolve().parents[2]
TENANT = "4f8c2b1e-6d3a-4e5b-9c7d-1a2b3c4d5e6f"
ACCOUNT = "2f6d4c93-1b5e-4d0a-83f4-7a8b9c0d1e03"
UPN = "MeganB@example.com"
ALEX = Actor(id="0d4b2a71-9f3c-4b8e-a1d2-5e6f7a8b9c01", name="Alex Wilber", upn="AlexW@example.com")


def body(event: Any) -> dict[str, Any]:
    return dict(json.loads(event.body))


async def test_nothing_is_written_without_a_webhook(database: Database) -> None:
    store = Store(database)
    opened = await store.cases.open_or_get_case(TENANT, ACCOUNT, UPN, "Megan", ALEX)
    await store.cases.update_case(opened.case.id, opened.case.version, verdict="compromised")
    correlation = await store.audit.start(actor=ALEX, action="unblock", target=UPN, tenant_id=TENANT,
                                          case_id=opened.case.id, parameters={"account_id": ACCOUNT})
    await store.audit.finish(correlation, "succeeded")
    assert await store.events.list() == []


async def test_each_fact_writes_its_event_once(database: Database) -> None:
    store = Store(database, events=True)
    opened = await store.cases.open_or_get_case(TENANT, ACCOUNT, UPN, "Megan", ALEX)
    joined = await store.cases.open_or_get_case(TENANT, ACCOUNT, UPN, "Megan", ALEX)
    assert joined.case.id == opened.case.id and not joined.created
    case = await store.cases.update_case(opened.case.id, opened.case.version, verdict="compromised",
                                         summary={"finding_codes": ["forwarding_external", "rule_hides"],
                                                  "urgent": True, "snapshot": {"subject": "secret mail text"}})
    assert case is not None
    # A re-investigation that agrees records nothing new.
    case = await store.cases.update_case(case.id, case.version, verdict="compromised")
    assert case is not None
    sign_in = await store.audit.start(actor=ALEX, action="block_sign_in", target=UPN, tenant_id=TENANT,
                                      case_id=case.id, parameters={"account_id": ACCOUNT})
    await store.audit.finish(sign_in, "failed", "PermissionDenied: Insufficient privileges for mail@x",
                             result={"error": "permission"})
    unblock = await store.audit.start(
        actor=ALEX, action="unblock", target=UPN, tenant_id=TENANT, case_id=case.id,
        parameters={"account_id": ACCOUNT, "address": UPN, "override": True,
                    "override_reason": "the CEO needs to mail today"})
    await store.audit.finish(unblock, "succeeded")
    case = await store.cases.set_status(case.id, "unblock_pending")
    assert case is not None
    await store.cases.set_status(case.id, "resolved")
    await store.cases.set_status(case.id, "resolved")  # already resolved: no second event

    events = await store.events.list()
    assert [e.type for e in events] == ["case.opened", "case.verdict", "action.taken", "action.taken",
                                        "account.unblocked", "account.restored"]
    assert set(e.type for e in events) == set(EVENT_TYPES)
    docs = [body(e) for e in events]
    for event, doc in zip(events, docs, strict=True):
        assert set(doc) == {"id", "type", "occurredAt", "tenantId", "caseId", "account", "data"}
        assert doc["id"] == event.id and doc["type"] == event.type and doc["caseId"] == case.id
        assert doc["tenantId"] == TENANT and doc["account"] == {"id": ACCOUNT, "upn": UPN}
        assert doc["occurredAt"].endswith("Z") and datetime.fromisoformat(doc["occurredAt"]).tzinfo is not None
        assert event.attempts == 0 and event.delivered_at is None
    assert docs[0]["data"] == {"status": "open", "openedBy": {"id": ALEX.id}}
    assert docs[1]["data"] == {"verdict": "compromised", "previousVerdict": None,
                               "findingCodes": ["forwarding_external", "rule_hides"], "urgent": True}
    failed, done = docs[2]["data"], docs[3]["data"]
    assert (failed["verb"], failed["outcome"], failed["error"], failed["correlationId"]) == (
        "block_sign_in", "failed", "permission", sign_in)
    assert (done["verb"], done["outcome"], done["error"], done["override"]) == ("unblock", "succeeded", None, True)
    assert done["actor"] == {"id": ALEX.id, "upn": ALEX.upn}
    assert docs[4]["data"]["address"] == UPN and docs[4]["data"]["correlationId"] == unblock
    assert docs[5]["data"]["status"] == "resolved" and docs[5]["data"]["resolvedAt"].endswith("Z")
    # Ids and facts only: no snapshot text, no Microsoft error message, no override reason.
    everything = "".join(e.body for e in events)
    for secret in ("secret mail text", "Insufficient privileges", "the CEO needs"):
        assert secret not in everything


async def test_a_fact_rolled_back_takes_its_event_with_it(database: Database) -> None:
    store = Store(database, events=True)
    with pytest.raises(RuntimeError):
        async with database.sessionmaker() as session, session.begin():
            opened = await store.cases.open_or_get_case(TENANT, ACCOUNT, UPN, "Megan", ALEX, session=session)
            assert opened.created and len(await store.events.list(session=session)) == 1
            raise RuntimeError("crash before commit")
    assert await store.cases.get_open_case(TENANT, ACCOUNT) is None
    assert await store.events.list() == []


async def test_delivery_bookkeeping_and_purge(database: Database) -> None:
    store = Store(database, events=True)
    for n in range(3):
        await store.cases.open_or_get_case(TENANT, f"account-{n}", f"user{n}@example.com", "User", ALEX)
    first, second, third = await store.events.due()
    assert first.seq < second.seq < third.seq and await store.events.pending_count() == 3
    later = database.clock() + timedelta(seconds=30)
    await store.events.retry_later(first.id, "HTTP 503", later)
    await store.events.retry_later(first.id, "timeout", later)
    await store.events.delivered(first.id)
    await store.events.give_up(second.id, "HTTP 410")
    due = await store.events.due()
    assert [e.id for e in due] == [third.id]
    kept = {e.id: e for e in await store.events.list()}
    assert kept[first.id].attempts == 3 and kept[first.id].delivered_at is not None
    assert kept[first.id].last_error is None
    assert kept[second.id].failed_at is not None and kept[second.id].last_error == "HTTP 410"
    assert await store.events.purge(database.clock() - timedelta(days=1)) == 0
    assert await store.events.purge(database.clock() + timedelta(seconds=1)) == 2
    assert [e.id for e in await store.events.list()] == [third.id]


async def test_concurrent_openers_write_one_event(db_target: DbTarget) -> None:
    first, second = await db_target.open(), await db_target.open()
    try:
        stores = [Store(first, events=True), Store(second, events=True)]
        results = await asyncio.gather(*(s.cases.open_or_get_case(TENANT, ACCOUNT, UPN, "Megan", ALEX)
                                         for s in stores for _ in range(3)))
        assert len({r.case.id for r in results}) == 1 and sum(r.created for r in results) == 1
        assert [e.type for e in await stores[0].events.list()] == ["case.opened"]
    finally:
        await first.close()
        await second.close()


def _cli(module: str, args: list[str], env_url: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    if env_url is not None:
        env["DATABASE_URL"] = env_url
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60, check=False)


async def test_the_audit_log_as_json_lines(sqlite_target: DbTarget) -> None:
    db = await sqlite_target.open()
    try:
        audit = AuditLog(db)
        correlation = await audit.start(actor=ALEX, action="unblock", target=f"{UPN}\n\x1b[31m", tenant_id=TENANT)
        await audit.finish(correlation, "failed", error="Exchange said no\nsecond line")
    finally:
        await db.close()
    url = sqlite_target.url.replace("+aiosqlite", "")

    lines = await asyncio.to_thread(_cli, "store.audit", ["--since", "7d", "--format", "jsonl"], url)
    assert lines.returncode == 0, lines.stderr
    rows = [json.loads(line) for line in lines.stdout.splitlines()]
    assert [(r["outcome"], r["correlation_id"]) for r in rows] == [("started", correlation), ("failed", correlation)]
    # One object per line, whatever the tenant's text holds.
    assert rows[0]["target"] == f"{UPN}\n\x1b[31m" and len(lines.stdout.splitlines()) == 2
    assert rows[1]["error"] == "Exchange said no\nsecond line"

    given = await asyncio.to_thread(_cli, "store.audit", ["--database-url", url, "--format", "jsonl"], None)
    assert given.returncode == 0 and given.stdout == lines.stdout
    alias = await asyncio.to_thread(_cli, "store.audit", ["--json"], url)
    assert json.loads(alias.stdout) == rows
    via_tools = await asyncio.to_thread(_cli, "tools.audit", ["--format", "jsonl"], url)
    assert via_tools.returncode == 0 and via_tools.stdout == lines.stdout
    clash = await asyncio.to_thread(_cli, "store.audit", ["--json", "--format", "table"], url)
    assert clash.returncode == 2 and "contradict" in clash.stderr
    none = await asyncio.to_thread(_cli, "store.audit", ["--format", "jsonl"], None)
    assert none.returncode == 2 and "DATABASE_URL" in none.stderr

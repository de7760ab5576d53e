"""The bulk investigator against the real demo tenant with Microsoft's throttles on: a generated outbreak of 30
restricted accounts, every investigation complete, few requests to the throttled logs, and every 429 honoured."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from config import Settings
from demo_tenant import DemoTenant, DemoTenantConfig
from demo_tenant.faults import FaultRule, RequestRecord
from demo_tenant.outbreak_seed import DEFAULT_SEED, outbreak_seed
from investigation.collect import CollectorConfig
from investigation.service import Investigations
from m365.graph import Governor
from m365.http import create_session
from m365.records import User
from m365.tenant import M365Tenant, create_tenant
from tests.demo_stack import FAST_RETRY

COUNT = 30
pytestmark = pytest.mark.slow  # the throttle windows make each test wait about 10 s


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("outbreak")


@pytest.fixture
async def demo(data_dir: Path) -> AsyncIterator[tuple[DemoTenant, M365Tenant, list[User]]]:
    seed = data_dir / "outbreak.json"
    if not seed.exists():
        seed.write_text(json.dumps(outbreak_seed(json.loads(DEFAULT_SEED.read_text(encoding="utf-8")), COUNT)))
    server = DemoTenant(DemoTenantConfig(seed_path=seed, data_dir=data_dir, port=0, throttle=True))
    await server.start()
    try:
        settings = Settings.from_env(server.client_env(), dotenv_path=data_dir / "absent.env")
        session = create_session(settings)
        try:
            tenant = await create_tenant(settings, session, retry=FAST_RETRY)
            try:
                addresses = {b.sender_address.lower() for b in await tenant.list_blocked_senders()}
                ids = [str(u["id"]) for u in json.loads(seed.read_text())["graph"]["users"]
                       if str(u.get("mail") or "").lower() in addresses]
                users = [u for u in (await tenant.users_by_id(ids)).values() if isinstance(u, User)]
                assert len(users) == COUNT
                server.state.requests.clear()
                server.state.throttle.reset()
                yield server, tenant, users
            finally:
                await tenant.close()
        finally:
            await session.close()
    finally:
        await server.stop()


def family(record: RequestRecord) -> str | None:
    if "/auditLogs/" in record.path:
        return "auditLogs"
    if "/identityProtection/" in record.path:
        return "identityProtection"
    return None


def arrival(record: RequestRecord) -> float:
    return record.time.timestamp() - record.duration_ms / 1000


def sent_early(records: list[RequestRecord]) -> list[RequestRecord]:
    """Requests of a family that reached the tenant after one of its 429s but before that 429's Retry-After."""
    early = []
    for throttled in (r for r in records if r.status == 429 and family(r)):
        start = arrival(throttled)
        wait = throttled.retry_after or 1.0
        early += [r for r in records if family(r) == family(throttled) and r is not throttled
                  and start + 0.25 < arrival(r) < start + wait - 0.01]
    return early


async def test_an_outbreak_is_investigated_in_bulk_within_the_throttles(
        demo: tuple[DemoTenant, M365Tenant, list[User]]) -> None:
    server, tenant, users = demo
    progress: list[int] = []

    async def on_progress(done: int, total: int) -> None:
        progress.append(done)

    results = await Investigations(tenant).investigate_many(users, on_progress=on_progress)
    assert set(results) == {u.id for u in users}
    assert all(not r.evidence.unavailable for r in results.values()), [
        r.evidence.unavailable for r in results.values() if r.evidence.unavailable]
    assert {r.assessment.verdict.value for r in results.values()} >= {"compromised", "suspicious", "no_signs"}
    assert progress[-1] == COUNT
    log = list(server.state.requests)
    throttled_family = [r for r in log if family(r) and r.status != 429]
    # Many accounts per request: far fewer than the 4 requests per account one investigation each would make.
    assert len(throttled_family) <= COUNT
    assert sum(1 for r in log if "/auditLogs/signIns" in r.path and r.status == 200) <= 3
    assert any(r.in_batch for r in log)
    assert sent_early(log) == []


async def test_429s_from_the_tenant_are_waited_out_for_the_whole_family(
        demo: tuple[DemoTenant, M365Tenant, list[User]]) -> None:
    server, tenant, users = demo
    # Two forced 429s with a 2 s Retry-After on the audit logs, besides the throttles.
    server.state.faults.add(FaultRule(match=r"^GET /v1\.0/auditLogs/", status=429, retry_after=2, count=2))
    results = await Investigations(tenant).investigate_many(users)
    assert all(not r.evidence.unavailable for r in results.values())
    log = list(server.state.requests)
    assert sum(1 for r in log if r.status == 429 and family(r) == "auditLogs") >= 2
    assert sent_early(log) == []


async def test_bulk_verdicts_equal_single_investigations(demo: tuple[DemoTenant, M365Tenant, list[User]]) -> None:
    server, tenant, users = demo
    sample = users[::6]
    bulk = await Investigations(tenant).investigate_many(sample)
    server.state.throttle.enabled = False  # the single investigations may not wait throttles out
    collector = Investigations(tenant, governor=Governor({}))  # nor the client's pacing
    for user in sample:
        single = await collector.investigate(user)
        assert not single.evidence.unavailable
        assert bulk[user.id].assessment == single.assessment, user.user_principal_name


async def test_a_refused_source_is_not_checked_for_every_account_and_the_rest_stands(
        demo: tuple[DemoTenant, M365Tenant, list[User]]) -> None:
    server, tenant, users = demo
    server.state.faults.add(FaultRule(match=r"^GET /v1\.0/auditLogs/signIns", permission="AuditLog.Read.All"))
    server.state.faults.add(FaultRule(match=r"/mailFolders/inbox/messageRules$", status=503, count=1000))
    results = await Investigations(tenant).investigate_many(users[:8])
    assert len(results) == 8
    for result in results.values():
        missing = {u.source.value: (u.reason_code.value, u.detail) for u in result.evidence.unavailable}
        assert missing == {"sign_ins": ("permission", "AuditLog.Read.All"), "inbox_rules": ("error", "HTTP 503")}
        assert result.evidence.directory_audits is not None and result.evidence.mail_folders is not None


async def test_a_watch_round_and_a_triage_on_one_service_stay_inside_the_family_windows(
        demo: tuple[DemoTenant, M365Tenant, list[User]]) -> None:
    """The watch's single investigations and a triage's bulk one, at once on the process's one service: neither
    pushes the other into a 429, and nothing is sent before a family's window frees."""
    server, tenant, users = demo
    service = Investigations(tenant, config=CollectorConfig(source_timeout=60.0, total_deadline=90.0))
    watch_round = [service.investigate(u) for u in users[:3]]
    singles, bulk = await asyncio.gather(asyncio.gather(*watch_round), service.investigate_many(users))
    assert set(bulk) == {u.id for u in users}
    assert all(not r.evidence.unavailable for r in [*singles, *bulk.values()])
    log = list(server.state.requests)
    governed = [r for r in log if family(r)]
    assert len([r for r in governed if r.status == 200]) > 5  # more than one audit-log window's worth was sent
    # The governor counts a window from each request's answer (by then it had arrived), so a request that reached the
    # tenant late cannot pull the next window's requests into this one; one 429 is still allowed for the first burst
    # of a family, whose requests are not yet answered. What must never happen is a request sent into a window a 429
    # said was closed.
    throttled = [(family(r), r.method, r.path) for r in governed if r.status == 429]
    assert len(throttled) <= 1, throttled
    assert sent_early(log) == []

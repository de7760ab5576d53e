"""Events out, end to end: a real investigation, an admin's Unblock press and the checker's "restored" against the
demo tenant over HTTPS write their events; the deliverer POSTs them to a receiver on loopback; the receiver is
killed mid-run and comes back on the same port; every event arrives exactly once, in order, signed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from bot import Parts, build_handler
from config import Settings
from core.cases import CaseBook
from core.events import EventDeliverer, WebhookConfig, verify
from core.presses import RemediationConfig
from demo_tenant import DemoTenant, DemoTenantConfig
from domain.people import Role, Speaker
from investigation.collect import CollectorConfig
from investigation.service import Investigations
from m365.http import RetryPolicy, create_session
from m365.tenant import M365Tenant, create_tenant
from remediation.checker import CheckerConfig
from store import CaseRecord, Store
from teams.handler import BlockedSenderBot
from tests.activities import ALEX
from tests.dialog_client import DialogClient
from tests.report_fakes import RecordingOutbox
from tests.webhook_receiver import Receiver

SEED = Path(__file__).resolve().parents[2] / "demo_tenant" / "seeds" / "contoso.json"
FAST_RETRY = RetryPolicy(max_attempts=3, budget_seconds=5.0, base_delay_seconds=0.05, max_delay_seconds=0.2)
FAST = RemediationConfig(claim_wait_seconds=10.0, claim_poll_seconds=0.05,
                         checker=CheckerConfig(base_interval=0.2, max_interval=0.5, scan_interval=0.2))
SECRET = "webhook-test-secret-0123456789abcdef"


async def until(condition: Callable[[], Awaitable[bool]], seconds: float = 20.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if await condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[DemoTenant]:
    demo = DemoTenant(DemoTenantConfig(seed_path=SEED, data_dir=tmp_path / "demo", host="127.0.0.1", port=0,
                                       unblock_delay_seconds=0.5))
    await demo.start()
    try:
        yield demo
    finally:
        await demo.stop()


async def test_every_event_arrives_once_in_order_after_the_receiver_comes_back(server: DemoTenant,
                                                                              tmp_path: Path) -> None:
    receiver = Receiver()
    async with AsyncExitStack() as stack:
        await receiver.start()
        stack.push_async_callback(receiver.stop)
        store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", events=True)
        stack.push_async_callback(store.close)
        settings = Settings.from_env({**server.client_env(), "WEBHOOK_URL": receiver.url, "WEBHOOK_SECRET": SECRET},
                                     dotenv_path=tmp_path / "absent.env")
        session = create_session(settings)
        stack.push_async_callback(session.close)
        tenant = await create_tenant(settings, session, retry=FAST_RETRY)
        stack.push_async_callback(tenant.close)
        bot, parts = build_handler(settings, tenant=tenant, store=store, outbox=RecordingOutbox(),
                                   remediation_config=FAST)
        stack.push_async_callback(parts.presses.close)
        stack.push_async_callback(parts.reporting.notices.aclose)
        deliverer = EventDeliverer(store=store, config=WebhookConfig(
            url=settings.webhook_url, secret=settings.webhook_secret, timeout_seconds=2.0, first_retry_seconds=0.05,
            max_retry_seconds=0.3, idle_seconds=0.05))
        deliverer.start()
        stack.push_async_callback(deliverer.stop)
        case = await _run(store, tenant, bot, parts, receiver)
        events = await store.events.list()

    assert [e.type for e in events] == ["case.opened", "case.verdict", "action.taken", "account.unblocked",
                                        "account.restored"]
    deliveries = [r.headers["X-BSA-Delivery"] for r in receiver.received]
    assert deliveries == [e.id for e in events]  # each exactly once, oldest first
    for got, event in zip(receiver.received, events, strict=True):
        assert verify(SECRET, got.headers["X-BSA-Timestamp"], got.body, got.headers["X-BSA-Signature"])
        assert got.body.decode() == event.body and got.headers["X-BSA-Event"] == event.type
        document = json.loads(got.body)
        assert document["caseId"] == case.id and document["account"]["upn"].lower() == "adelev@example.com"
    action = json.loads(receiver.received[2].body)["data"]
    assert (action["verb"], action["outcome"]) == ("unblock", "succeeded")
    assert all(e.delivered_at is not None for e in events)
    assert events[2].attempts > 1  # retried through the outage


async def _delivered(receiver: Receiver, count: int) -> bool:
    return len(receiver.received) >= count


async def _status(store: Store, case_id: str, status: str) -> bool:
    case = await store.cases.get_case(case_id)
    return case is not None and case.status == status


async def _retried(store: Store) -> bool:
    due = await store.events.due(1)
    return bool(due) and due[0].attempts >= 2


async def _none_pending(store: Store) -> bool:
    return await store.events.pending_count() == 0


async def _run(store: Store, tenant: M365Tenant, bot: BlockedSenderBot, parts: Parts, receiver: Receiver) -> CaseRecord:
    """Investigate, kill the receiver, unblock, see the account restored, bring the receiver back; the case."""
    # A real investigation opens the case and stores its verdict: two events, delivered while the receiver is up.
    user = await tenant.get_user("AdeleV@example.com")
    assert user is not None
    opener = Speaker(aad_object_id=ALEX.aad_object_id, name=ALEX.name, tenant_id=tenant.tenant_id.lower(),
                     role=Role.SECURITY_ADMIN)
    investigations = Investigations(tenant, config=CollectorConfig(source_timeout=5.0, total_deadline=10.0))
    case = await CaseBook(store).record(await investigations.investigate(user), opener)
    await until(lambda: _delivered(receiver, 2))

    # The receiver dies; an admin unblocks and the checker sees sending restored meanwhile.
    await receiver.stop()
    await DialogClient(bot, ALEX).press("unblock", {"caseId": case.id, "confirm": "1"})
    for _ in range(100):  # the demo tenant lifts the block 0.5 s after the unblock; the checker sees it
        await asyncio.sleep(0.1)
        if await parts.checker.check_once():
            break
    assert await _status(store, case.id, "resolved")
    assert await store.events.pending_count() == 3  # action taken, unblocked, restored: waiting, kept
    await until(lambda: _retried(store))  # the deliverer kept trying while the receiver was away

    await receiver.start()  # back, on the same port
    await until(lambda: _none_pending(store))
    return case

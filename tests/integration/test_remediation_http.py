"""Remediation over HTTP: invokes POSTed to /api/messages of the whole app (CloudAdapter, real demo tenant over
HTTPS, SQLite), replies and card updates caught by a recording Bot Framework connector.

An `Action.Execute` answer goes through the Agents SDK's routing by verb and is serialised once: these tests
read the HTTP status and the body itself. They also prove that the other posted copy of
the card (here: the IT channel) is updated with `update_activity` (a PUT to the connector), on the press and when
the checker sees the account leave Restricted entities.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot import COMPONENTS, create_app
from config import Settings
from core.presses import RemediationConfig
from demo_tenant import DemoTenant, DemoTenantConfig
from demo_tenant.faults import FaultRule, LatencyRule
from m365.http import create_session
from m365.tenant import M365Tenant, create_tenant
from remediation.checker import CheckerConfig
from store import CaseRecord, Store
from tests.activities import ISAIAH, MEGAN, invoke, message
from tests.cardschema import assert_valid_card
from tests.connector import RecordingConnector, Sent
from tests.integration.test_remediation_demo import FAST_RETRY, SEED, UNBLOCK
from tests.integration.test_remediation_policy import shown

ADELE_ID = "4b8f6eb5-3d7a-4f2c-a5b6-9c0d1e2f3a05"
CHANNEL = "19:it-team@thread.tacv2"
CONFIG = RemediationConfig(claim_wait_seconds=10.0, claim_poll_seconds=0.05,
                           checker=CheckerConfig(base_interval=0.2, max_interval=0.5, scan_interval=0.2))


@dataclass
class App:
    client: TestClient[Any, Any]
    recorder: RecordingConnector
    service_url: str
    server: DemoTenant
    store: Store

    async def say(self, text: str, *, conversation: str = "personal-alex", channel: bool = False) -> None:
        activity = message(text, service_url=self.service_url, conversation_id=conversation)
        if channel:
            activity["conversation"]["conversationType"] = "channel"
        response = await self.client.post("/api/messages", json=activity)
        assert response.status == 201

    async def press(self, verb: str, data: dict[str, Any], **kw: Any) -> tuple[int, Any]:
        response = await self.client.post("/api/messages", json=invoke(verb, data, service_url=self.service_url,
                                                                       **kw))
        return response.status, await response.json()

    def puts(self, conversation: str) -> list[Sent]:
        return [s for s in self.recorder.sent if s.method == "PUT" and s.conversation_id == conversation]


@pytest.fixture
async def app(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[App]:
    config: RemediationConfig = getattr(request, "param", CONFIG)
    recorder = RecordingConnector()
    service_url = await recorder.start()
    server = DemoTenant(DemoTenantConfig(seed_path=SEED, data_dir=tmp_path / "demo", host="127.0.0.1", port=0,
                                         unblock_delay_seconds=0.5))
    await server.start()
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    m365 = Settings.from_env(server.client_env(), dotenv_path=tmp_path / "absent.env")
    session: aiohttp.ClientSession | None = None
    tenant: M365Tenant | None = None
    client: TestClient[Any, Any] | None = None
    try:
        session = create_session(m365)
        tenant = await create_tenant(m365, session, retry=FAST_RETRY)
        # The bot itself stays anonymous (no Bot Framework credentials), as in local demo mode.
        settings = Settings(data_dir=tmp_path, it_staff_group_id=m365.it_staff_group_id,
                            security_admin_group_id=m365.security_admin_group_id)
        client = TestClient(TestServer(create_app(settings, tenant=tenant, store=store, remediation_config=config)))
        await client.start_server()
        yield App(client, recorder, service_url, server, store)
    finally:
        if client is not None:
            await client.close()
        if tenant is not None:
            await tenant.close()
        if session is not None:
            await session.close()
        await store.close()
        await server.stop()
        await recorder.close()


async def investigate_adele_twice(app: App) -> CaseRecord:
    """Alex's personal chat and the IT channel each get a copy of Adele's findings card."""
    await app.say("investigate AdeleV@example.com")
    await app.recorder.wait_for(1)
    await app.say("yes")
    await app.recorder.wait_for(3)
    await app.say("investigate AdeleV@example.com", conversation=CHANNEL, channel=True)
    await app.recorder.wait_for(4)
    await app.say("yes", conversation=CHANNEL, channel=True)
    await app.recorder.wait_for(6)
    case = await app.store.cases.get_open_case("4f8c2b1e-6d3a-4e5b-9c7d-1a2b3c4d5e6f", ADELE_ID)
    assert case is not None
    assert {c.conversation_id for c in await app.store.cases.list_cards(case.id)} == {"personal-alex", CHANNEL}
    return case


async def wait_until(condition: Any, within: float = 10.0) -> None:
    """Poll `condition()` (state changed by the app's background work) until it holds, or fail."""
    for _ in range(int(within / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached in time")


async def test_unblock_over_http_returns_the_card_and_updates_every_copy(app: App) -> None:
    case = await investigate_adele_twice(app)
    remediation = app.client.server.app[COMPONENTS].presses
    assert remediation.checker.running
    channel_puts = len(app.puts(CHANNEL))

    # First press: the confirmation card, in the HTTP body, once serialised.
    status, body = await app.press("unblock", {"caseId": case.id})
    assert status == 200
    assert (body["statusCode"], body["type"]) == (200, "application/vnd.microsoft.card.adaptive")
    assert_valid_card(body["value"])
    assert "Please confirm" in shown(body["value"])
    assert app.server.state.requests.matching(cmdlet=UNBLOCK) == []

    status, body = await app.press("unblock", {"caseId": case.id, "confirm": "1"})
    assert status == 200
    assert (body["statusCode"], body["type"]) == (200, "application/vnd.microsoft.card.adaptive")
    card = body["value"]
    assert_valid_card(card)
    assert "Unblocked by Alex Wilber" in shown(card) and "within an hour, at most 24 hours" in shown(card)
    assert len(app.server.state.requests.matching(cmdlet=UNBLOCK)) == 1

    # The IT channel's copy was updated in place (PUT to its activity), with the same news.
    await wait_until(lambda: len(app.puts(CHANNEL)) > channel_puts)
    update = app.puts(CHANNEL)[-1]
    copy = update.body["attachments"][0]["content"]
    assert_valid_card(copy)
    assert "Unblocked by Alex Wilber" in shown(copy)
    stored = {c.conversation_id: c.activity_id for c in await app.store.cases.list_cards(case.id)}
    assert update.activity_id == stored[CHANNEL]

    # The checker: once the demo tenant lifts the block, every copy says so.
    await wait_until(lambda: any("Sending restored at" in shown(s.body["attachments"][0]["content"])
                                 for s in app.puts("personal-alex")))
    await wait_until(lambda: any("Sending restored at" in shown(s.body["attachments"][0]["content"])
                                 for s in app.puts(CHANNEL)))
    fresh = await app.store.cases.get_case(case.id)
    assert fresh is not None and fresh.status == "resolved"


async def test_two_cards_in_one_chat_both_stay_current(app: App) -> None:
    """Alex investigates Adele twice in his chat; a press on the older card redraws the newer one, and the
    checker's "restored" reaches both (copies are kept per message, not per conversation)."""
    await app.say("investigate AdeleV@example.com")
    await app.recorder.wait_for(1)
    await app.say("yes")
    await app.recorder.wait_for(3)
    await app.say("investigate AdeleV@example.com")
    await app.recorder.wait_for(4)
    await app.say("yes")
    await app.recorder.wait_for(6)
    case = await app.store.cases.get_open_case("4f8c2b1e-6d3a-4e5b-9c7d-1a2b3c4d5e6f", ADELE_ID)
    assert case is not None
    copies = [c.activity_id for c in await app.store.cases.list_cards(case.id)]
    assert len(copies) == 2 and len(set(copies)) == 2
    older, newer = copies

    before = len(app.puts("personal-alex"))
    status, body = await app.press("unblock", {"caseId": case.id, "confirm": "1"}, reply_to_id=older)
    assert status == 200 and "Unblocked by Alex Wilber" in shown(body["value"])
    await wait_until(lambda: any(s.activity_id == newer and "Unblocked by Alex Wilber" in shown(
        s.body["attachments"][0]["content"]) for s in app.puts("personal-alex")[before:]))
    # The pressed card is redrawn by the invoke response, not by a second PUT.
    assert all(s.activity_id != older for s in app.puts("personal-alex")[before:])

    for copy in (older, newer):
        await wait_until(lambda copy=copy: any(s.activity_id == copy and "Sending restored at" in shown(
            s.body["attachments"][0]["content"]) for s in app.puts("personal-alex")))


async def test_refusals_over_http_are_messages_not_errors(app: App) -> None:
    case = await investigate_adele_twice(app)
    before = len(app.recorder.sent)
    status, body = await app.press("unblock", {"caseId": case.id, "confirm": "1"}, person=ISAIAH,
                                   conversation_id="personal-isaiah", locale="nl-NL")
    assert status == 200
    assert (body["statusCode"], body["type"]) == (200, "application/vnd.microsoft.activity.message")
    assert "beveiligingsbeheerders" in body["value"]
    status, body = await app.press("unblock", {"caseId": case.id, "confirm": "1"}, person=MEGAN,
                                   conversation_id="personal-megan")
    assert (status, body["type"]) == (200, "application/vnd.microsoft.activity.message")
    status, body = await app.press("unblock", {"caseId": "forged-case", "confirm": "1"})
    assert (status, body["type"]) == (200, "application/vnd.microsoft.activity.message")
    assert "don't know this case" in body["value"]
    assert app.server.state.requests.matching(cmdlet=UNBLOCK) == []
    assert len(app.recorder.sent) == before  # no card anywhere changed
    assert await app.store.audit.list(case_id=case.id) == []


async def test_a_failure_over_http_is_a_card_that_says_so(app: App) -> None:
    case = await investigate_adele_twice(app)
    app.server.state.faults.add(FaultRule(match=f"InvokeCommand:{UNBLOCK}", status=403))
    status, body = await app.press("unblock", {"caseId": case.id, "confirm": "1"})
    assert status == 200 and body["type"] == "application/vnd.microsoft.card.adaptive"
    assert "the bot's app lacks" in shown(body["value"])
    assert [e.outcome for e in await app.store.audit.list(case_id=case.id)] == ["started", "failed"]


async def test_a_refresh_over_http_reinvestigates(app: App) -> None:
    case = await investigate_adele_twice(app)
    reads = len(app.server.state.requests.matching(cmdlet="Get-BlockedSenderAddress"))
    status, body = await app.press("refresh", {"caseId": case.id})
    assert status == 200 and body["type"] == "application/vnd.microsoft.card.adaptive"
    assert "Adele Vance" in shown(body["value"])
    assert len(app.server.state.requests.matching(cmdlet="Get-BlockedSenderAddress")) == reads + 1


@pytest.mark.parametrize("app", [replace(CONFIG, refresh_answer_seconds=0.3)], indirect=True)
async def test_a_slow_refresh_answers_at_once_and_redraws_the_card_later(app: App) -> None:
    """Sign-ins answering in 2 s: the press gets "still investigating" in time, the card follows by PUT."""
    case = await investigate_adele_twice(app)
    pressed = next(c.activity_id for c in await app.store.cases.list_cards(case.id)
                   if c.conversation_id == "personal-alex")
    app.server.state.latency.replace([LatencyRule(match="auditLogs/signIns", latency_ms=2000)])
    before = len(app.puts("personal-alex"))
    status, body = await app.press("refresh", {"caseId": case.id}, reply_to_id=pressed)
    assert status == 200 and body["type"] == "application/vnd.microsoft.activity.message"
    assert "Still investigating" in body["value"]
    await wait_until(lambda: any(s.activity_id == pressed and "Adele Vance" in shown(
        s.body["attachments"][0]["content"]) for s in app.puts("personal-alex")[before:]), within=15.0)
    fresh = await app.store.cases.get_case(case.id)
    assert fresh is not None and fresh.version > case.version  # the new findings were stored on the case


async def test_a_press_outlived_by_the_reconciler_still_answers(app: App) -> None:
    """A reconciler with too short a grace period wrote the outcome while the unblock was still running: the
    press keeps the reconciler's outcome (the log is append-only) and still answers with the card."""
    case = await investigate_adele_twice(app)
    app.server.state.latency.replace([LatencyRule(match="Remove-BlockedSenderAddress", latency_ms=1500)])
    press = asyncio.create_task(app.press("unblock", {"caseId": case.id, "confirm": "1"}))
    started: list[Any] = []

    async def audit_started() -> bool:
        started[:] = [e for e in await app.store.audit.list(case_id=case.id) if e.outcome == "started"]
        return bool(started)

    for _ in range(200):
        if await audit_started():
            break
        await asyncio.sleep(0.02)
    assert started, "the press never wrote its started row"
    await app.store.audit.finish(started[0].correlation_id, "succeeded", None)
    status, body = await press
    assert status == 200 and "Unblocked by Alex Wilber" in shown(body["value"])
    outcomes = [e.outcome for e in await app.store.audit.list(case_id=case.id)]
    assert outcomes == ["started", "succeeded"]

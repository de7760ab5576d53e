"""Progress, over HTTP: "Looking into <name>…" first, then the findings card replaces it with update_activity.

The whole path: `/api/messages` of the real app (`bot.create_app`) → CloudAdapter → handler → investigate dialog
→ the production `m365` stack → a demo tenant with its realistic latency (sign-ins alone take about 1.2 s), and
replies to a recording connector. Order is asserted causally, never by wall-clock time: when the progress card
reaches the connector, the demo tenant's request log (appended as each request is answered) must hold no
answered evidence call of this investigation yet; when the final card arrives, all of them have been answered;
and the final card is a PUT of the progress card's own activity id.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot import create_app
from config import Settings
from demo_tenant.faults import RequestRecord
from store import Store
from tests.activities import ALEX, message
from tests.cardschema import assert_valid_card, lines
from tests.connector import RecordingConnector
from tests.demo_stack import DemoStack, demo_stack

# The evidence calls of one investigation (the demo tenant's request keys), one pattern per source.
EVIDENCE_CALLS = {
    "restriction": r"^InvokeCommand:Get-BlockedSenderAddress$",
    "mailbox": r"^InvokeCommand:Get-Mailbox$",
    "cas_mailbox": r"^InvokeCommand:Get-CASMailbox$",
    "inbox_rules": r"^GET /v1\.0/users/[^/]+/mailFolders/inbox/messageRules$",
    "mail_folders": r"^GET /v1\.0/users/[^/]+/mailFolders$",
    "sign_ins": r"^GET /v1\.0/auditLogs/signIns$",
    "directory_audits": r"^GET /v1\.0/auditLogs/directoryAudits$",
    "registration": r"^GET /v1\.0/reports/authenticationMethods/userRegistrationDetails/",
    "risky_user": r"^GET /v1\.0/identityProtection/riskyUsers/",
    "risk_detections": r"^GET /v1\.0/identityProtection/riskDetections$",
    "auth_methods": r"^GET /v1\.0/users/[^/]+/authentication/methods$",
    "oauth_grants": r"^GET /v1\.0/users/[^/]+/oauth2PermissionGrants$",
    "memberships": r"^GET /v1\.0/users/[^/]+/transitiveMemberOf$",
    "alerts": r"^GET /v1\.0/security/alerts_v2$",
}


def key(record: RequestRecord) -> str:
    """The demo tenant's request key of a logged request (what fault and latency rules match)."""
    return f"InvokeCommand:{record.cmdlet}" if record.api == "exchange" else f"{record.method} {record.path}"


def evidence_sources(records: list[RequestRecord]) -> set[str]:
    """Which evidence sources have an answered call among `records`."""
    return {name for name, pattern in EVIDENCE_CALLS.items() for r in records if re.search(pattern, key(r))}


@dataclass
class Arrival:
    method: str
    activity_id: str | None
    body: dict[str, Any]
    answered: list[RequestRecord] = field(default_factory=list)  # the demo tenant's log when this arrived


class OrderRecorder(RecordingConnector):
    """A recording connector that also notes, for each call, what the demo tenant had answered by then."""

    def __init__(self, stack: DemoStack) -> None:
        super().__init__()
        self.stack = stack
        self.arrivals: list[Arrival] = []

    def _note(self, method: str, activity_id: str | None, body: dict[str, Any]) -> None:
        if body.get("type") != "typing":
            self.arrivals.append(Arrival(method, activity_id, body, list(self.stack.server.state.requests)))

    async def _post(self, request: web.Request) -> web.Response:
        response = await super()._post(request)
        sent = self.sent[-1]
        self._note("POST", sent.activity_id, sent.body)
        return response

    async def _put(self, request: web.Request) -> web.Response:
        response = await super()._put(request)
        sent = self.sent[-1]
        self._note("PUT", sent.activity_id, sent.body)
        return response


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[DemoStack]:
    async with demo_stack(tmp_path / "demo_tenant", realistic_latency=True) as running:
        yield running


async def test_progress_card_comes_first_and_the_findings_card_replaces_it(
        stack: DemoStack, sqlite_store: Store, tmp_path: Path) -> None:
    recorder = OrderRecorder(stack)
    service_url = await recorder.start()
    settings = Settings(data_dir=tmp_path, it_staff_group_id=stack.settings.it_staff_group_id,
                        security_admin_group_id=stack.settings.security_admin_group_id)
    client: TestClient[Any, Any] = TestClient(TestServer(create_app(settings, tenant=stack.tenant,
                                                                     store=sqlite_store)))
    await client.start_server()
    try:
        # A first turn looks Alex's role up (his group memberships), as any earlier message of his would have.
        helped = await client.post("/api/messages", json=message("help", person=ALEX, service_url=service_url))
        assert helped.status == 201
        await recorder.wait_for(1)
        answered_before = len(stack.server.state.requests)
        # An exact address: no confirmation question, the investigation starts in this turn.
        asked = await client.post("/api/messages", json=message("investigate MeganB@example.com",
                                                                person=ALEX, service_url=service_url))
        assert asked.status == 201
        await recorder.wait_for(3, within=30)
    finally:
        await client.close()
        await recorder.close()

    _, progress, final = recorder.arrivals
    # 1. The progress card is a new message, posted before any evidence call of the investigation was answered.
    assert progress.method == "POST"
    progress_card = progress.body["attachments"][0]["content"]
    assert_valid_card(progress_card)
    assert "Looking into Megan Bowen…" in lines(progress_card)
    assert evidence_sources(progress.answered[answered_before:]) == set()

    # 2. The findings card is a PUT of that same activity, after every evidence call was answered.
    assert final.method == "PUT"
    assert final.activity_id == progress.activity_id
    during = final.answered[answered_before:]
    assert evidence_sources(during) == set(EVIDENCE_CALLS)
    findings = final.body["attachments"][0]["content"]
    assert_valid_card(findings)
    shown = lines(findings)
    assert "Compromised" in shown and "Looking into Megan Bowen…" not in shown

    # 3. The latency rules were really on: the slowest upstream call (sign-ins) took about a second or more, so
    #    the ordering above was not a race the investigation could have won by being instant.
    sign_ins = [r for r in during if re.search(EVIDENCE_CALLS["sign_ins"], key(r))]
    assert sign_ins and max(r.duration_ms for r in sign_ins) >= 700
    assert [a.method for a in recorder.arrivals].count("PUT") == 1

"""Issue 18, item 1: the Entra token endpoint fails (5xx) and the bot keeps answering.

The whole app over HTTP (CloudAdapter, SQLite, a recording Bot Framework connector) on the production Microsoft 365
stack (msal, aiohttp) against the demo tenant, whose token endpoint is switched to 503 through its admin API
(`POST /_demo/faults`, the switch the soak uses too). The demo tenant issues tokens that live 60 s, so every
Microsoft 365 call needs the token endpoint (msal and the provider renew a token five minutes before it expires),
as happens in production at the hourly renewal that meets an incident.

While it fails: `help` and `status` (the store) answer, an investigation says "I can't reach Microsoft 365 right
now", a security admin's role fails closed to user (an Unblock press is refused politely, nothing is written),
`/readyz` answers 503 naming the token check, no turn logs a traceback and the outage is logged once. Then the
endpoint recovers and all of it comes back.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

import m365.auth
import teams.identity
from bot import COMPONENTS, create_app
from config import Settings
from demo_tenant import DemoTenant, DemoTenantConfig
from m365.auth import GRAPH_SCOPE, TokenProvider
from m365.errors import TokenUnavailable, UpstreamUnavailable
from m365.http import create_session
from m365.tenant import M365Tenant, create_tenant
from store import CaseRecord, Store
from tests.activities import ALEX, invoke, message
from tests.connector import RecordingConnector, Sent
from tests.integration.test_remediation_demo import FAST_RETRY, SEED, UNBLOCK

ADELE_ID = "4b8f6eb5-3d7a-4f2c-a5b6-9c0d1e2f3a05"
TENANT = "4f8c2b1e-6d3a-4e5b-9c7d-1a2b3c4d5e6f"
CANT_REACH = "I can't reach Microsoft 365 right now"
GENERIC = "something went wrong"


@dataclass
class Stack:
    client: TestClient[Any, Any]
    recorder: RecordingConnector
    service_url: str
    server: DemoTenant
    store: Store
    session: aiohttp.ClientSession

    async def say(self, text: str) -> list[Sent]:
        """Send a message; the replies it caused (waits until one arrived)."""
        before = len(self.recorder.messages())
        response = await self.client.post("/api/messages", json=message(text, service_url=self.service_url))
        assert response.status == 201
        await self.recorder.wait_for(before + 1)
        await asyncio.sleep(0.2)  # a second reply of the same turn (help is one card; a dialog may send two)
        return self.recorder.messages()[before:]

    async def press(self, verb: str, data: dict[str, Any]) -> tuple[int, Any]:
        response = await self.client.post("/api/messages", json=invoke(verb, data, service_url=self.service_url))
        return response.status, await response.json()

    async def token_endpoint(self, *, failing: bool) -> None:
        """Flip the demo tenant's token endpoint through its admin API (as the soak does)."""
        base = self.server.base_url
        if failing:
            rule = {"match": "^token$", "status": 503, "retry_after": 1}
            async with self.session.post(f"{base}/_demo/faults", json=rule) as response:
                assert response.status in (200, 201), await response.text()
        else:
            async with self.session.delete(f"{base}/_demo/faults") as response:
                assert response.status in (200, 204), await response.text()


def text_of(sent: list[Sent]) -> str:
    return json.dumps([s.body for s in sent])


@pytest.fixture
async def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Stack]:
    # Short holds so recovery is seen within the test; the behaviour is the same with the defaults (5 s, 30 s).
    monkeypatch.setattr(m365.auth, "FAILURE_HOLD_SECONDS", 0.3)
    monkeypatch.setattr(teams.identity, "FAILED_LOOKUP_CACHE_SECONDS", 0.5)
    recorder = RecordingConnector()
    service_url = await recorder.start()
    server = DemoTenant(DemoTenantConfig(seed_path=SEED, data_dir=tmp_path / "demo", host="127.0.0.1", port=0,
                                         token_lifetime_seconds=60))
    await server.start()
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    m365_settings = Settings.from_env(server.client_env(), dotenv_path=tmp_path / "absent.env")
    session = create_session(m365_settings)
    tenant: M365Tenant | None = None
    client: TestClient[Any, Any] | None = None
    try:
        tenant = await create_tenant(m365_settings, session, retry=FAST_RETRY)
        settings = Settings(data_dir=tmp_path, it_staff_group_id=m365_settings.it_staff_group_id,
                            security_admin_group_id=m365_settings.security_admin_group_id)
        client = TestClient(TestServer(create_app(settings, tenant=tenant, store=store)))
        await client.start_server()
        yield Stack(client, recorder, service_url, server, store, session)
    finally:
        if client is not None:
            await client.close()
        if tenant is not None:
            await tenant.close()
        await session.close()
        await store.close()
        await server.stop()
        await recorder.close()


async def investigate_adele(stack: Stack) -> CaseRecord:
    # An exact address needs no confirmation: the progress card, then the findings in its place.
    before = len(stack.recorder.messages())
    await stack.client.post("/api/messages", json=message("investigate AdeleV@example.com",
                                                          service_url=stack.service_url))
    await stack.recorder.wait_for(before + 2, within=20)
    case = await stack.store.cases.get_open_case(TENANT, ADELE_ID)
    assert case is not None
    return case


async def readyz(stack: Stack) -> tuple[int, dict[str, Any]]:
    stack.client.server.app[COMPONENTS].ready_at = 0.0  # past the 10 s cache of a ready answer
    response = await stack.client.get("/readyz")
    return response.status, await response.json()


async def test_a_failing_token_endpoint_leaves_a_bot_that_answers(stack: Stack, caplog: pytest.LogCaptureFixture
                                                                  ) -> None:
    case = await investigate_adele(stack)
    assert await readyz(stack) == (200, {"status": "ready", "checks": {"store": "ok", "token": "ok", "tenant": "ok"},
                                         "store": "ok", "token": "ok", "tenant": "ok"})
    await stack.token_endpoint(failing=True)
    # Alex's admin role was cached a moment ago; the five minutes of that cache pass.
    stack.client.server.app[COMPONENTS].roles.forget(ALEX.aad_object_id)
    caplog.clear()
    caplog.set_level(logging.DEBUG, logger="m365.auth")

    # What needs no Microsoft 365 answers.
    help_reply = text_of(await stack.say("help"))
    assert "What I can do for you" in help_reply and GENERIC not in help_reply
    assert "You are signed in as" in help_reply and "(security admin)" not in help_reply  # failed closed: a user
    status_reply = text_of(await stack.say("status"))
    assert GENERIC not in status_reply

    # What needs it says so, in the neutral words (not "you may not": the role is unknown, not refused).
    assert CANT_REACH in text_of(await stack.say("investigate AdeleV@example.com"))

    # The security admin is a user while roles cannot be looked up: the Unblock press is refused politely.
    unblocks = len(stack.server.state.requests.matching(cmdlet=UNBLOCK))
    status, body = await stack.press("unblock", {"caseId": case.id, "confirm": "1"})
    assert status == 200 and body["type"] == "application/vnd.microsoft.activity.message"
    assert "security admin" in body["value"]
    assert len(stack.server.state.requests.matching(cmdlet=UNBLOCK)) == unblocks
    assert await stack.store.audit.list(case_id=case.id) == []

    # /readyz names the token endpoint.
    status, ready = await readyz(stack)
    assert status == 503
    assert ready["checks"] == {"store": "ok", "token": "unavailable", "tenant": "unknown"}

    # No traceback for any of these turns, and the outage was logged once (not once per turn).
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records if r.exc_info]
    starts = [r for r in caplog.records if "token endpoint unavailable" in r.getMessage()]
    assert len(starts) == 1 and starts[0].levelno == logging.WARNING
    failed = [r for r in stack.server.state.requests if r.api == "identity" and r.status == 503]
    assert failed, "the token endpoint was asked and failed"

    # Recovery: the endpoint answers again; readiness, roles and investigations come back.
    await stack.token_endpoint(failing=False)
    await asyncio.sleep(1.2)  # msal holds a 5xx for its Retry-After (1 s)
    status, ready = await readyz(stack)
    assert (status, ready["checks"]) == (200, {"store": "ok", "token": "ok", "tenant": "ok"})
    assert any("answers again" in r.getMessage() for r in caplog.records)
    stack.client.server.app[COMPONENTS].roles.forget(ALEX.aad_object_id)
    assert "(security admin)" in text_of(await stack.say("help"))
    status, body = await stack.press("unblock", {"caseId": case.id})
    assert status == 200 and body["type"] == "application/vnd.microsoft.card.adaptive"
    assert "Please confirm" in json.dumps(body["value"])


async def test_the_provider_raises_one_typed_error_and_holds_it(stack: Stack) -> None:
    """msal's MsalServiceError (a 5xx) becomes `TokenUnavailable`, an `UpstreamUnavailable`; while it is held,
    callers get it again without a request to the endpoint."""
    settings = Settings.from_env(stack.server.client_env(), dotenv_path=Path("/nonexistent/absent.env"))
    tokens = TokenProvider(settings)
    try:
        await stack.token_endpoint(failing=True)
        with pytest.raises(TokenUnavailable) as info:
            await tokens.token(GRAPH_SCOPE)
        assert isinstance(info.value, UpstreamUnavailable) and info.value.status == 503
        assert tokens.health.state == "unavailable"
        asked = len([r for r in stack.server.state.requests if r.api == "identity" and r.method == "POST"])
        with pytest.raises(TokenUnavailable):
            await tokens.token(GRAPH_SCOPE)
        assert len([r for r in stack.server.state.requests if r.api == "identity" and r.method == "POST"]) == asked
        await stack.token_endpoint(failing=False)
        await asyncio.sleep(1.2)
        assert await tokens.token(GRAPH_SCOPE)
        assert tokens.health.state == "ok"
    finally:
        tokens.close()

"""The HTTP surface: /api/messages through CloudAdapter to a recording connector, health, auth, tenants."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot import create_app
from config import Settings
from m365.errors import UpstreamUnavailable
from store import Store
from tests.activities import ALEX, ISAIAH, MEGAN, OTHER_TENANT_ID, installed, invoke, message
from tests.cardschema import assert_valid_card, texts
from tests.connector import RecordingConnector
from tests.fakes import IT_STAFF_GROUP, SECURITY_ADMIN_GROUP, FakeTenant, group

APP_ID = "11111111-2222-4333-8444-555555555555"


def fake_tenant() -> FakeTenant:
    return FakeTenant(memberships={
        ALEX.aad_object_id: [group(SECURITY_ADMIN_GROUP, "Security Admins")],
        ISAIAH.aad_object_id: [group(IT_STAFF_GROUP, "IT Staff")],
    })


@pytest.fixture
async def connector() -> AsyncIterator[tuple[RecordingConnector, str]]:
    recorder = RecordingConnector()
    url = await recorder.start()
    yield recorder, url
    await recorder.close()


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Store]:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    yield store
    await store.close()


async def client_for(settings: Settings, tenant: FakeTenant, database: Store) -> TestClient[Any, Any]:
    client: TestClient[Any, Any] = TestClient(TestServer(create_app(settings, tenant=tenant, store=database)))
    await client.start_server()
    return client


@pytest.fixture
async def app_client(tmp_path: Path, database: Store) -> AsyncIterator[tuple[TestClient[Any, Any], FakeTenant]]:
    tenant = fake_tenant()
    settings = Settings(data_dir=tmp_path, it_staff_group_id=IT_STAFF_GROUP,
                        security_admin_group_id=SECURITY_ADMIN_GROUP)
    client = await client_for(settings, tenant, database)
    yield client, tenant
    await client.close()


async def test_help_brings_a_help_card_to_the_service_url(app_client: Any, connector: Any) -> None:
    client, _ = app_client
    recorder, service_url = connector
    response = await client.post("/api/messages", json=message("help", service_url=service_url))
    assert response.status == 201
    sent = await recorder.wait_for(1)
    assert sent[0].conversation_id == "personal-alex"
    card = recorder.cards()[0]
    assert_valid_card(card)
    assert any("security admin" in text for text in texts(card))


async def test_each_role_sees_its_own_help(app_client: Any, connector: Any) -> None:
    client, _ = app_client
    recorder, service_url = connector
    await client.post("/api/messages", json=message("help", person=ISAIAH, service_url=service_url,
                                                    conversation_id="personal-isaiah"))
    await client.post("/api/messages", json=message("hulp", person=MEGAN, service_url=service_url,
                                                    conversation_id="personal-megan", locale="nl-NL"))
    await recorder.wait_for(2)
    isaiah, megan = recorder.cards()
    assert any("(IT staff)" in text for text in texts(isaiah))
    assert any("Je bent aangemeld als " == text for text in texts(megan))
    assert not any("onderzoek" in text for text in texts(megan))


async def test_install_greets_once(app_client: Any, connector: Any) -> None:
    client, _ = app_client
    recorder, service_url = connector
    response = await client.post("/api/messages", json=installed(service_url=service_url))
    assert response.status == 201
    await recorder.wait_for(1)
    assert "Blocked Sender Assistant" in texts(recorder.cards()[0])


async def test_unknown_text_gets_a_pointer_to_help(app_client: Any, connector: Any) -> None:
    client, _ = app_client
    recorder, service_url = connector
    await client.post("/api/messages", json=message("what is the weather", service_url=service_url))
    sent = await recorder.wait_for(1)
    assert "help" in sent[0].body["text"]


async def test_activity_from_another_tenant_is_refused(app_client: Any, connector: Any) -> None:
    client, tenant = app_client
    recorder, service_url = connector
    response = await client.post("/api/messages", json=message("help", service_url=service_url,
                                                                tenant_id=OTHER_TENANT_ID))
    assert response.status == 201
    press = await client.post("/api/messages", json=invoke("unblock", {"caseId": "x"}, service_url=service_url,
                                                           tenant_id=OTHER_TENANT_ID))
    assert press.status == 403
    assert recorder.sent == []
    assert tenant.called("list_memberships") == []


async def test_unknown_verb_answers_with_an_error_body_not_a_500(app_client: Any, connector: Any) -> None:
    client, _ = app_client
    _, service_url = connector
    response = await client.post("/api/messages", json=invoke("launch_missiles", service_url=service_url))
    assert response.status == 200
    body = await response.json()
    assert body["statusCode"] == 400
    assert body["type"] == "application/vnd.microsoft.error"
    assert "no longer valid" in body["value"]["message"]


async def test_every_activity_type_is_routed_and_no_log_line_carries_user_text(
        app_client: Any, connector: Any, caplog: pytest.LogCaptureFixture) -> None:
    client, _ = app_client
    recorder, service_url = connector
    base = message("secret words typed by a user", service_url=service_url)
    others = [
        {**base, "type": "installationUpdate", "action": "add"},
        {**base, "type": "conversationUpdate", "membersRemoved": [{"id": "29:someone"}]},
        {**base, "type": "messageReaction", "reactionsAdded": [{"type": "like"}]},
    ]
    with caplog.at_level(logging.DEBUG):
        for activity in others:
            assert (await client.post("/api/messages", json=activity)).status == 201
        # Invokes the bot does not route, or without the value an Action.Execute carries, fail the edge's schema
        # (teams/edge.py): 400 before the turn, never the SDK's 501.
        other_invoke = {**invoke("x", service_url=service_url), "name": "task/fetch", "value": {}}
        assert (await client.post("/api/messages", json=other_invoke)).status == 400
        no_value = {**invoke("x", service_url=service_url), "value": None}
        response = await client.post("/api/messages", json=no_value)
        assert response.status == 400 and await response.json() == {"error": "activity lacks value"}
    assert recorder.sent == []
    assert not [r for r in caplog.records if "secret words" in r.getMessage() or "No route" in r.getMessage()]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    ("payload", "content_type", "status"),
    [(b"{not json", "application/json", 400), (b"[]", "application/json", 400),
     (b'{"text": "no type"}', "application/json", 400), (b"help", "text/plain", 415)],
)
async def test_malformed_requests(app_client: Any, payload: bytes, content_type: str, status: int) -> None:
    client, _ = app_client
    response = await client.post("/api/messages", data=payload, headers={"Content-Type": content_type})
    assert response.status == status


async def test_with_bot_credentials_a_request_without_jwt_is_401(tmp_path: Path, database: Store,
                                                                   connector: Any) -> None:
    recorder, service_url = connector
    settings = Settings(data_dir=tmp_path, app_id=APP_ID, app_password="secret")
    client = await client_for(settings, fake_tenant(), database)
    try:
        response = await client.post("/api/messages", json=message("help", service_url=service_url))
        assert response.status == 401
        forged = await client.post("/api/messages", json=message("help", service_url=service_url),
                                   headers={"Authorization": "Bearer not.a.jwt"})
        assert forged.status == 401
        assert recorder.sent == []
    finally:
        await client.close()


async def test_health_and_readiness(app_client: Any) -> None:
    client, tenant = app_client
    assert (await client.get("/healthz")).status == 200
    ready = await client.get("/readyz")
    assert ready.status == 200 and (await ready.json())["status"] == "ready"


async def test_not_ready_when_the_tenant_is_unreachable(app_client: Any) -> None:
    client, tenant = app_client
    tenant.failures["ping"] = UpstreamUnavailable("down", status=503)
    ready = await client.get("/readyz")
    assert ready.status == 503
    assert (await ready.json())["tenant"] == "unreachable"

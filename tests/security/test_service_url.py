"""Issue 18, item 6: where the bot posts its replies is never the caller's choice.

- Anonymous mode (the demo: no Bot Framework credentials, nothing vouches for the activity) replies to loopback
  `serviceUrl`s only: any other is refused at the edge with 400, before the turn (no tenant call, nothing posted).
- Authenticated mode: the `serviceUrl` must be the one in the validated token's `serviceurl` claim (Bot Framework's
  rule): a valid token for one conversation service and an activity naming another gets 401, nothing posted to
  either. (tests/security/test_jwt.py covers the token whose claim names another host.)

And the request body cap (`bot.MAX_BODY_BYTES`), to the byte, in both modes, before authentication.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot import MAX_BODY_BYTES, create_app, is_loopback_url
from config import Settings
from store import Store
from tests.activities import ALEX, invoke, message
from tests.connector import RecordingConnector
from tests.fakes import SECURITY_ADMIN_GROUP, FakeTenant, group
from tests.security.test_jwt import APP_ID, _no_outbound_token, bearer, bot_framework, connector  # noqa: F401

__all__ = ["bot_framework", "connector"]


@pytest.fixture
async def other_connector() -> AsyncIterator[tuple[RecordingConnector, str]]:
    """A second conversation service: the one an attacker would like the bot to post to."""
    recorder = RecordingConnector()
    url = await recorder.start()
    yield recorder, url
    await recorder.close()


@pytest.fixture
async def anonymous(tmp_path: Path) -> AsyncIterator[tuple[TestClient[Any, Any], FakeTenant]]:
    tenant = FakeTenant(memberships={ALEX.aad_object_id: [group(SECURITY_ADMIN_GROUP, "Security Admins")]})
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    settings = Settings(data_dir=tmp_path, security_admin_group_id=SECURITY_ADMIN_GROUP)
    client: TestClient[Any, Any] = TestClient(TestServer(create_app(settings, tenant=tenant, store=store)))
    await client.start_server()
    yield client, tenant
    await client.close()
    await store.close()


@pytest.mark.parametrize("url", [
    "https://smba.trafficmanager.net/emea/",
    "http://10.0.0.5:3978/",
    "http://localhost.evil.example/",
    "http://127.0.0.1.evil.example/",
    "ftp://127.0.0.1/",
    "http:///no-host",
])
async def test_anonymous_mode_refuses_a_service_url_off_this_machine(url: str, anonymous: Any) -> None:
    client, tenant = anonymous
    for activity in (message("help", service_url=url), invoke("unblock", {"caseId": "c"}, service_url=url)):
        response = await client.post("/api/messages", json=activity)
        assert response.status == 400
        assert "loopback" in (await response.json())["error"]
    assert tenant.calls == []  # refused before the turn: not even the role lookup


async def test_anonymous_mode_replies_on_loopback(anonymous: Any, connector: Any) -> None:
    client, _ = anonymous
    recorder, url = connector
    assert url.startswith("http://127.0.0.1:")
    response = await client.post("/api/messages", json=message("help", service_url=url))
    assert response.status == 201
    await recorder.wait_for(1)


@pytest.mark.parametrize(("url", "loopback"), [
    ("http://127.0.0.1:3978/", True), ("http://127.8.9.10/", True), ("http://[::1]:80/", True),
    ("https://localhost:56150/", True), ("http://LOCALHOST/", True),
    ("http://0.0.0.0/", False), ("http://[::]/", False), ("https://bot.contoso.com/", False), ("", False),
    ("not a url", False), ("http://[::1/", False),
])
def test_what_counts_as_loopback(url: str, loopback: bool) -> None:
    assert is_loopback_url(url) is loopback


@pytest.fixture
async def secured(tmp_path: Path, bot_framework: Any, monkeypatch: pytest.MonkeyPatch
                  ) -> AsyncIterator[tuple[TestClient[Any, Any], FakeTenant]]:
    from microsoft_agents.authentication.msal import MsalAuth

    monkeypatch.setattr(MsalAuth, "get_access_token", _no_outbound_token)
    tenant = FakeTenant(memberships={ALEX.aad_object_id: [group(SECURITY_ADMIN_GROUP, "Security Admins")]})
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    settings = Settings(data_dir=tmp_path, app_id=APP_ID, app_password="bot-secret",
                        bot_openid_metadata_url=bot_framework.metadata_url,
                        security_admin_group_id=SECURITY_ADMIN_GROUP)
    client: TestClient[Any, Any] = TestClient(TestServer(create_app(settings, tenant=tenant, store=store)))
    await client.start_server()
    yield client, tenant
    await client.close()
    await store.close()


async def test_authenticated_the_service_url_must_be_the_tokens(secured: Any, bot_framework: Any, connector: Any,
                                                                other_connector: Any) -> None:
    client, tenant = secured
    real, real_url = connector
    other, other_url = other_connector
    token = bot_framework.sign(bot_framework.claims(audience=APP_ID, service_url=real_url))

    for activity in (message("help", service_url=other_url), invoke("unblock", {"caseId": "c"}, service_url=other_url)):
        response = await client.post("/api/messages", json=activity, headers=bearer(token))
        assert response.status == 401
    assert tenant.calls == [] and real.sent == [] and other.sent == []

    # The same token with its own serviceUrl is served (the refusal above was the serviceUrl, nothing else).
    response = await client.post("/api/messages", json=message("help", service_url=real_url), headers=bearer(token))
    assert response.status == 201
    await real.wait_for(1)
    assert other.sent == []


# The body cap (issue 18: "the body cap gets its test"), at the whole bot's HTTP boundary, to the byte.

def activity_of_size(size: int, service_url: str) -> bytes:
    """A valid message activity whose JSON body is exactly `size` bytes (channel data is padded: the text itself is
    capped lower, at `teams.edge.TEXT_MAX`)."""
    base = message("help", service_url=service_url)
    base["channelData"] = {**base.get("channelData", {}), "padding": ""}
    empty = len(json.dumps(base).encode())
    base["channelData"]["padding"] = "x" * (size - empty)
    body = json.dumps(base).encode()
    assert len(body) == size
    return body


async def test_the_body_cap_holds_to_the_byte(anonymous: Any, connector: Any) -> None:
    client, tenant = anonymous
    recorder, url = connector
    headers = {"Content-Type": "application/json"}
    over = await client.post("/api/messages", data=activity_of_size(MAX_BODY_BYTES + 1, url), headers=headers)
    assert over.status == 413
    assert tenant.calls == [] and recorder.sent == []
    at = await client.post("/api/messages", data=activity_of_size(MAX_BODY_BYTES, url), headers=headers)
    assert at.status == 201  # the cap itself is allowed: the bot read it and answered (the help card)
    await recorder.wait_for(1)


async def test_the_body_cap_comes_before_authentication(secured: Any, connector: Any) -> None:
    """An oversize body is refused before the token is looked at (no key fetch, no parsing of a huge token)."""
    client, tenant = secured
    recorder, url = connector
    response = await client.post("/api/messages", data=activity_of_size(MAX_BODY_BYTES + 1, url),
                                 headers={"Content-Type": "application/json"})
    assert response.status == 413
    assert tenant.calls == [] and recorder.sent == []

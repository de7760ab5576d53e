"""Who gets in: the Bot Framework JWT is really validated, against a local stand-in for Bot Framework's keys.

The bot runs with an app id (CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID) and `BOT_OPENID_METADATA_URL`
pointing at `BotFrameworkStandIn`, whose
private key the test holds. A correctly signed channel token is accepted; every bad one (none, unsigned,
forged, unknown key, algorithm confusion, expired, not yet valid, wrong audience, wrong issuer, wrong
serviceurl, an Emulator token) gets 401 before the bot sees the activity: no tenant call, nothing sent to
the connector. Activities from another tenant are refused even with a valid token.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from microsoft_agents.activity import Activity
from microsoft_agents.authentication.msal import MsalAuth

from bot import create_app
from config import Settings
from store import Store
from teams.auth import (
    KEYS_MAX_AGE_SECONDS,
    KEYS_MIN_REFRESH_SECONDS,
    KEYS_REFRESH_SECONDS,
    LEEWAY_SECONDS,
    BotAuthenticator,
    Unauthorized,
)
from tests.activities import ALEX, OTHER_TENANT_ID, TENANT_ID, invoke, message
from tests.connector import RecordingConnector
from tests.fakes import SECURITY_ADMIN_GROUP, FakeTenant, group
from tests.security.botframework import EMULATOR_ISSUER, BotFrameworkStandIn, new_key

APP_ID = "11111111-2222-4333-8444-555555555555"
OTHER_APP_ID = "99999999-2222-4333-8444-555555555555"


@pytest.fixture(scope="module")
def bot_framework() -> Iterator[BotFrameworkStandIn]:
    stand_in = BotFrameworkStandIn()
    stand_in.start()
    yield stand_in
    stand_in.stop()


@pytest.fixture
async def connector() -> AsyncIterator[tuple[RecordingConnector, str]]:
    recorder = RecordingConnector()
    url = await recorder.start()
    yield recorder, url
    await recorder.close()


async def _no_outbound_token(self: MsalAuth, resource_url: str, scopes: list[str], force_refresh: bool = False) -> str:
    """The SDK asks Entra for the bot's outbound token at the start of every authenticated turn: not here."""
    del self, resource_url, scopes, force_refresh
    return "outbound-token-of-the-test"


@pytest.fixture
async def secured(tmp_path: Path, bot_framework: BotFrameworkStandIn, monkeypatch: pytest.MonkeyPatch
                  ) -> AsyncIterator[tuple[TestClient[Any, Any], FakeTenant]]:
    """The bot with bot credentials and the stand-in's metadata URL, on a fake tenant and SQLite."""
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


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def members_added(service_url: str, tenant_id: str = TENANT_ID) -> dict[str, Any]:
    """A conversationUpdate that adds someone other than the bot: handled without any reply."""
    activity = message("x", service_url=service_url, tenant_id=tenant_id)
    activity.update({"type": "conversationUpdate", "membersAdded": [{"id": ALEX.teams_id}]})
    del activity["text"]
    return activity


async def test_a_correctly_signed_channel_token_is_accepted(secured: Any, connector: Any,
                                                            bot_framework: BotFrameworkStandIn) -> None:
    client, tenant = secured
    recorder, service_url = connector
    token = bot_framework.sign(bot_framework.claims(audience=APP_ID, service_url=service_url))
    response = await client.post("/api/messages", json=members_added(service_url), headers=bearer(token))
    assert response.status == 201
    # The activity reached the bot: it identified the speaker (a role lookup in the tenant).
    assert tenant.called("list_memberships") == [(ALEX.aad_object_id,)]
    # An invoke is answered in the HTTP response itself (no outbound token needed): the turn really ran.
    press = await client.post("/api/messages", json=invoke("launch_missiles", service_url=service_url),
                              headers=bearer(token))
    assert press.status == 200
    assert (await press.json())["type"] == "application/vnd.microsoft.error"
    assert recorder.sent == []
    assert any(path.endswith("/keys") for path in bot_framework.requests_seen)


def _bad_tokens(stand_in: BotFrameworkStandIn, service_url: str) -> dict[str, str]:
    good = stand_in.claims(audience=APP_ID, service_url=service_url)
    now = int(time.time())
    return {
        "unsigned (alg none)": stand_in.unsigned(good),
        "unsigned without a key id": stand_in.unsigned(good, kid=""),
        "forged (another key, same key id)": stand_in.sign(good, key=new_key()),
        "forged (another key, unknown key id)": stand_in.sign(good, key=new_key(), kid="attacker-key"),
        "algorithm confusion (HS256 with the public key)": stand_in.hmac_with_public_key(good),
        "expired": stand_in.sign({**good, "exp": now - 3600, "nbf": now - 7200}),
        "not yet valid": stand_in.sign({**good, "nbf": now + 3600, "exp": now + 7200}),
        "wrong audience": stand_in.sign({**good, "aud": OTHER_APP_ID}),
        "no audience": stand_in.sign({k: v for k, v in good.items() if k != "aud"}),
        "wrong issuer": stand_in.sign({**good, "iss": "https://evil.example"}),
        "serviceurl of another host": stand_in.sign({**good, "serviceurl": "https://evil.example/"}),
        "no serviceurl": stand_in.sign({k: v for k, v in good.items() if k != "serviceurl"}),
        # Valid signature, audience and app id, but Emulator-issued: anyone with the bot's own app secret could
        # mint one, for any user. Production accepts Bot Framework channel tokens only.
        "emulator token": stand_in.sign({**good, "iss": EMULATOR_ISSUER, "appid": APP_ID, "ver": "1.0"}),
        "not a JWT": "not.a.jwt",
        "garbage": "eyJ" + "A" * 8000 + ".e30.",
    }


BAD_TOKEN_NAMES = sorted(_bad_tokens(BotFrameworkStandIn(key=new_key()), "https://x.invalid/"))


@pytest.mark.parametrize("name", BAD_TOKEN_NAMES)
async def test_bad_tokens_get_401_and_the_bot_never_sees_the_activity(
        name: str, secured: Any, connector: Any, bot_framework: BotFrameworkStandIn) -> None:
    client, tenant = secured
    recorder, service_url = connector
    token = _bad_tokens(bot_framework, service_url)[name]
    for activity in (message("help", service_url=service_url),
                     invoke("unblock", {"caseId": "case-1"}, service_url=service_url)):
        response = await client.post("/api/messages", json=activity, headers=bearer(token))
        assert response.status == 401, name
        assert await response.json() == {"error": "unauthorized"}
    assert tenant.calls == []
    assert recorder.sent == []


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "bearer x.y.z", "Bearer a b"])
async def test_missing_or_malformed_authorization_gets_401(header: str, secured: Any, connector: Any) -> None:
    client, tenant = secured
    recorder, service_url = connector
    headers = {"Authorization": header} if header else {}
    response = await client.post("/api/messages", json=message("help", service_url=service_url), headers=headers)
    assert response.status == 401
    assert tenant.calls == [] and recorder.sent == []


async def test_a_valid_token_from_another_tenant_is_still_refused(secured: Any, connector: Any,
                                                                  bot_framework: BotFrameworkStandIn) -> None:
    client, tenant = secured
    recorder, service_url = connector
    token = bot_framework.sign(bot_framework.claims(audience=APP_ID, service_url=service_url))
    refused = await client.post("/api/messages", json=message("help", service_url=service_url,
                                                              tenant_id=OTHER_TENANT_ID), headers=bearer(token))
    assert refused.status == 201  # accepted by the channel, then ignored: no reply, nothing looked up
    press = await client.post("/api/messages", json=invoke("unblock", {"caseId": "x"}, service_url=service_url,
                                                           tenant_id=OTHER_TENANT_ID), headers=bearer(token))
    assert press.status == 403
    no_tenant = members_added(service_url)
    del no_tenant["channelData"]
    no_tenant["conversation"].pop("tenantId")
    assert (await client.post("/api/messages", json=no_tenant, headers=bearer(token))).status == 201
    assert tenant.calls == []
    assert recorder.sent == []


async def test_the_recipient_is_not_what_authenticates(secured: Any, connector: Any,
                                                       bot_framework: BotFrameworkStandIn) -> None:
    """The token's audience is the bot's app id whatever the activity claims to be addressed to."""
    client, tenant = secured
    _, service_url = connector
    token = bot_framework.sign(bot_framework.claims(audience=OTHER_APP_ID, service_url=service_url))
    activity = members_added(service_url)
    activity["recipient"] = {"id": f"28:{OTHER_APP_ID}", "name": "Another bot"}
    assert (await client.post("/api/messages", json=activity, headers=bearer(token))).status == 401
    assert tenant.calls == []


# The same rules without HTTP: `teams.auth.BotAuthenticator` on its own, as bot.messages calls it.

def _activity(service_url: str, *, channel_id: str = "msteams") -> Activity:
    activity = message("help", service_url=service_url)
    activity["channelId"] = channel_id
    return Activity.model_validate(activity)


@pytest.fixture
def authenticator(bot_framework: BotFrameworkStandIn) -> BotAuthenticator:
    return BotAuthenticator(Settings(app_id=APP_ID, app_password="bot-secret",
                                     bot_openid_metadata_url=bot_framework.metadata_url))


SERVICE_URL = "https://smba.trafficmanager.net/emea/"


async def test_a_valid_token_gives_the_sdk_its_claims(authenticator: BotAuthenticator,
                                                      bot_framework: BotFrameworkStandIn) -> None:
    token = bot_framework.sign(bot_framework.claims(audience=APP_ID, service_url=SERVICE_URL))
    identity = await authenticator.authenticate(f"Bearer {token}", _activity(SERVICE_URL))
    assert identity.get_app_id() == APP_ID
    assert identity.get_claim_value("iss") == "https://api.botframework.com"
    assert not identity.allow_anonymous
    assert identity.security_token is None  # the token itself is not kept around


@pytest.mark.parametrize("name", BAD_TOKEN_NAMES)
async def test_every_bad_token_is_unauthorized(name: str, authenticator: BotAuthenticator,
                                               bot_framework: BotFrameworkStandIn) -> None:
    token = _bad_tokens(bot_framework, SERVICE_URL)[name]
    with pytest.raises(Unauthorized) as raised:
        await authenticator.authenticate(f"Bearer {token}", _activity(SERVICE_URL))
    assert token not in str(raised.value)


@pytest.mark.parametrize(("seconds_ago", "accepted"), [(LEEWAY_SECONDS - 60, True), (LEEWAY_SECONDS + 60, False)])
async def test_expiry_has_microsofts_five_minutes_of_leeway(seconds_ago: int, accepted: bool,
                                                            authenticator: BotAuthenticator,
                                                            bot_framework: BotFrameworkStandIn) -> None:
    now = int(time.time())
    token = bot_framework.sign(bot_framework.claims(audience=APP_ID, service_url=SERVICE_URL,
                                                    exp=now - seconds_ago, nbf=now - 3600))
    if accepted:
        await authenticator.authenticate(f"Bearer {token}", _activity(SERVICE_URL))
    else:
        with pytest.raises(Unauthorized):
            await authenticator.authenticate(f"Bearer {token}", _activity(SERVICE_URL))


async def test_the_key_must_be_endorsed_for_the_activitys_channel(authenticator: BotAuthenticator,
                                                                  bot_framework: BotFrameworkStandIn) -> None:
    token = bot_framework.sign(bot_framework.claims(audience=APP_ID, service_url=SERVICE_URL))
    with pytest.raises(Unauthorized, match="endorsed"):
        await authenticator.authenticate(f"Bearer {token}", _activity(SERVICE_URL, channel_id="webchat"))


async def test_unknown_key_ids_do_not_hammer_the_metadata(authenticator: BotAuthenticator,
                                                          bot_framework: BotFrameworkStandIn) -> None:
    """A stream of tokens with made-up key ids refetches the keys at most once per KEYS_MIN_REFRESH_SECONDS."""
    assert KEYS_MIN_REFRESH_SECONDS >= 60
    good = bot_framework.claims(audience=APP_ID, service_url=SERVICE_URL)
    before = len(bot_framework.requests_seen)
    for n in range(20):
        token = bot_framework.sign(good, key=new_key() if n == 0 else None, kid=f"made-up-{n}")
        with pytest.raises(Unauthorized, match="unknown key"):
            await authenticator.authenticate(f"Bearer {token}", _activity(SERVICE_URL))
    assert len(bot_framework.requests_seen) - before == 2  # the metadata and the keys, once


async def test_anonymous_mode_gives_the_sdks_anonymous_identity() -> None:
    authenticator = BotAuthenticator(Settings())
    identity = await authenticator.authenticate(None, _activity(SERVICE_URL))
    assert authenticator.anonymous and identity.allow_anonymous and identity.claims == {}


async def test_known_keys_survive_a_failing_refresh_for_a_while(authenticator: BotAuthenticator,
                                                                bot_framework: BotFrameworkStandIn,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    token = bot_framework.sign(bot_framework.claims(audience=APP_ID, service_url=SERVICE_URL))
    await authenticator.authenticate(f"Bearer {token}", _activity(SERVICE_URL))
    # A day later Microsoft's metadata is unreachable: the keys we have still verify Teams' tokens.
    authenticator._metadata_url = "http://127.0.0.1:9/unreachable"
    authenticator._fetched_at -= KEYS_REFRESH_SECONDS
    authenticator._attempted_at = float("-inf")
    with caplog.at_level(logging.WARNING, logger="teams.auth"):
        await authenticator.authenticate(f"Bearer {token}", _activity(SERVICE_URL))
    assert "signing keys unavailable" in caplog.text
    # Not forever: keys that could not be refreshed for five days are no longer trusted.
    authenticator._fetched_at -= KEYS_MAX_AGE_SECONDS
    with pytest.raises(Unauthorized, match="too old"):
        await authenticator.authenticate(f"Bearer {token}", _activity(SERVICE_URL))

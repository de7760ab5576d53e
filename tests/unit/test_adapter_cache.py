"""teams.adapter: connector and user-token clients cached per identity, replies over aiohttp, tokens renewed."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import ConfigurationBotFrameworkAuthentication
from botbuilder.schema import Activity, ActivityTypes, ChannelAccount, ConversationAccount
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import (
    AppCredentials,
    AuthenticationConstants,
    ClaimsIdentity,
    MicrosoftAppCredentials,
)
from botframework.connector.models import ErrorResponseException

from config import Settings
from teams.adapter import (
    AiohttpConnectorTransport,
    BotFrameworkConfig,
    CachingBotFrameworkAuthentication,
    CachingCloudAdapter,
    CachingConnectorFactory,
    app_id_of,
    create_adapter,
)
from tests.activities import message
from tests.connector import RecordingConnector

APP_ID = "8a3c2f71-5d4e-4b6a-9c8d-7e6f5a4b3c21"
OTHER_APP_ID = "1b2c3d4e-5f60-4718-9a0b-c1d2e3f4a5b6"
URL_A = "https://smba.trafficmanager.net/emea/"
URL_B = "https://smba.trafficmanager.net/amer/"
AUDIENCE_A = "https://api.botframework.com"
AUDIENCE_B = "api://skill-audience"


def claims(app_id: str) -> ClaimsIdentity:
    """Claims as botbuilder builds them for a channel request to `app_id` ('' = anonymous)."""
    if not app_id:
        return ClaimsIdentity({}, True)
    return ClaimsIdentity({AuthenticationConstants.AUDIENCE_CLAIM: app_id}, True)


def auth_of(adapter: CachingCloudAdapter) -> CachingBotFrameworkAuthentication:
    return adapter.caching_authentication


@pytest.fixture
async def anonymous() -> AsyncIterator[CachingCloudAdapter]:
    adapter = create_adapter(Settings())
    yield adapter
    await adapter.close()


@pytest.fixture
async def with_credentials() -> AsyncIterator[CachingCloudAdapter]:
    adapter = create_adapter(Settings(app_id=APP_ID, app_password="not-a-real-secret"))
    yield adapter
    await adapter.close()


# --- cache keys --------------------------------------------------------------------------------------------


async def test_one_client_per_service_url_and_audience(anonymous: CachingCloudAdapter) -> None:
    factory = anonymous.bot_framework_authentication.create_connector_factory(claims(""))
    assert isinstance(factory, CachingConnectorFactory)
    first = await factory.create(URL_A, AUDIENCE_A)
    again = await factory.create(URL_A, AUDIENCE_A)
    other_url = await factory.create(URL_B, AUDIENCE_A)
    other_audience = await factory.create(URL_A, AUDIENCE_B)
    assert first is again
    assert other_url is not first and other_audience is not first and other_url is not other_audience
    assert other_url.config.base_url == URL_B
    assert auth_of(anonymous).connector_keys == [("", URL_A, AUDIENCE_A), ("", URL_B, AUDIENCE_A),
                                                 ("", URL_A, AUDIENCE_B)]
    assert auth_of(anonymous).connector_builds == 3


async def test_factories_of_different_requests_share_the_cache(anonymous: CachingCloudAdapter) -> None:
    auth = anonymous.bot_framework_authentication
    first = await auth.create_connector_factory(claims("")).create(URL_A, AUDIENCE_A)
    second = await auth.create_connector_factory(claims("")).create(URL_A, AUDIENCE_A)
    assert first is second


async def test_authenticate_request_hands_out_the_caching_factory(anonymous: CachingCloudAdapter) -> None:
    activity = Activity().deserialize(message("help", service_url=URL_A))
    result = await anonymous.bot_framework_authentication.authenticate_request(activity, "")
    assert isinstance(result.connector_factory, CachingConnectorFactory)
    client = await result.connector_factory.create(URL_A, result.audience)
    proactive = await anonymous.bot_framework_authentication.create_connector_factory(
        result.claims_identity).create(URL_A, result.audience)
    assert client is proactive


async def test_user_token_client_is_cached_per_app_id(anonymous: CachingCloudAdapter) -> None:
    auth = anonymous.bot_framework_authentication
    first = await auth.create_user_token_client(claims(""))
    again = await auth.create_user_token_client(claims(""))
    assert first is again
    assert auth_of(anonymous).token_client_builds == 1


def test_app_id_comes_from_the_audience_then_the_appid_claim() -> None:
    assert app_id_of(claims(APP_ID)) == APP_ID
    assert app_id_of(ClaimsIdentity({AuthenticationConstants.APP_ID_CLAIM: OTHER_APP_ID}, True)) == OTHER_APP_ID
    assert app_id_of(ClaimsIdentity({}, True)) == ""
    assert app_id_of(None) == ""


async def test_concurrent_misses_build_one_client(anonymous: CachingCloudAdapter) -> None:
    factory = anonymous.bot_framework_authentication.create_connector_factory(claims(""))
    clients = await asyncio.gather(*(factory.create(URL_A, AUDIENCE_A) for _ in range(20)))
    assert len({id(c) for c in clients}) == 1
    assert auth_of(anonymous).connector_builds == 1


async def test_the_cache_is_bounded_least_recently_used_first() -> None:
    inner = ConfigurationBotFrameworkAuthentication(BotFrameworkConfig(Settings()))
    auth = CachingBotFrameworkAuthentication(inner, transport=AiohttpConnectorTransport(), max_clients=2)
    factory = auth.create_connector_factory(claims(""))
    await factory.create("https://one.example/", None)
    await factory.create("https://two.example/", None)
    await factory.create("https://one.example/", None)  # now most recently used
    await factory.create("https://three.example/", None)
    assert auth.connector_keys == [("", "https://one.example/", ""), ("", "https://three.example/", "")]
    await auth.close()


# --- with credentials configured -------------------------------------------------------------------------


async def test_with_credentials_one_client_and_one_credential_per_identity(
        with_credentials: CachingCloudAdapter) -> None:
    auth = with_credentials.bot_framework_authentication
    first = await auth.create_connector_factory(claims(APP_ID)).create(URL_A, AUDIENCE_A)
    again = await auth.create_connector_factory(claims(APP_ID)).create(URL_A, AUDIENCE_A)
    other_audience = await auth.create_connector_factory(claims(APP_ID)).create(URL_A, AUDIENCE_B)
    assert first is again
    # The credentials object, and with it msal's token cache, survives from turn to turn.
    assert isinstance(first.config.credentials, MicrosoftAppCredentials)
    assert first.config.credentials is again.config.credentials
    assert first.config.credentials.microsoft_app_id == APP_ID
    assert first.config.credentials.oauth_scope == AUDIENCE_A
    assert other_audience.config.credentials.oauth_scope == AUDIENCE_B
    assert auth_of(with_credentials).connector_keys == [(APP_ID, URL_A, AUDIENCE_A), (APP_ID, URL_A, AUDIENCE_B)]


async def test_with_credentials_another_app_id_is_refused_and_not_cached(
        with_credentials: CachingCloudAdapter) -> None:
    factory = with_credentials.bot_framework_authentication.create_connector_factory(claims(OTHER_APP_ID))
    with pytest.raises(Exception, match="Invalid app_id"):
        await factory.create(URL_A, AUDIENCE_A)
    assert auth_of(with_credentials).connector_keys == []


async def test_with_credentials_user_token_clients_are_per_app_id(with_credentials: CachingCloudAdapter) -> None:
    auth = with_credentials.bot_framework_authentication
    first = await auth.create_user_token_client(claims(APP_ID))
    again = await auth.create_user_token_client(claims(APP_ID))
    assert first is again
    assert auth_of(with_credentials).token_client_builds == 1


# --- the aiohttp transport: tokens, retries --------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class CountingCredentials(AppCredentials):  # type: ignore[misc]
    """AppCredentials that mint a JWT valid for an hour from `clock` and count how often they were asked."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(app_id=APP_ID, oauth_scope=AUDIENCE_A)
        self.clock = clock
        self.issued: list[str] = []

    def get_access_token(self, force_refresh: bool = False) -> str:
        token = jwt.encode({"aud": AUDIENCE_A, "exp": int(self.clock.now) + 3600, "n": len(self.issued)},
                           "test-signing-key-of-sufficient-length!", algorithm="HS256")
        self.issued.append(token)
        return token


class Connector:
    """A connector that records requests and answers with scripted statuses."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.script: list[tuple[int, dict[str, str]]] = []
        self.server: TestServer | None = None

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        self.requests.append((request.method, request.path, dict(request.headers)))
        if self.script:
            status, headers = self.script.pop(0)
            return web.json_response({"error": {"code": "x", "message": "scripted"}}, status=status, headers=headers)
        if request.method == "GET":
            return web.json_response([{"id": "29:someone", "name": "Someone"}])
        return web.json_response({"id": f"reply-{len(self.requests)}"})

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()
        return str(self.server.make_url("/"))

    @property
    def authorizations(self) -> list[str | None]:
        return [headers.get("Authorization") for _, _, headers in self.requests]


@pytest.fixture
async def connector() -> AsyncIterator[Connector]:
    recorder = Connector()
    await recorder.start()
    yield recorder
    assert recorder.server is not None
    await recorder.server.close()


def reply() -> Activity:
    return Activity(type=ActivityTypes.message, text="hi", from_property=ChannelAccount(id="bot"),
                    conversation=ConversationAccount(id="conv-1"))


async def rebuilt_client(credentials: Any, url: str, transport: AiohttpConnectorTransport) -> Any:
    """A botbuilder client as its factory builds it, rebuilt on the aiohttp transport."""
    stock = ConnectorClient(credentials, base_url=url)
    stock.config.add_user_agent("Microsoft-BotFramework/3.1 (test)")
    return transport.rebuild(stock)


async def test_a_cached_client_renews_its_token_before_expiry(connector: Connector) -> None:
    assert connector.server is not None
    clock = Clock()
    credentials = CountingCredentials(clock)
    transport = AiohttpConnectorTransport(clock=clock)
    client = await rebuilt_client(credentials, str(connector.server.make_url("/")), transport)
    try:
        for _ in range(3):
            await client.conversations.reply_to_activity("conv-1", "act-1", reply())
        assert len(credentials.issued) == 1
        assert connector.authorizations == [f"Bearer {credentials.issued[0]}"] * 3

        clock.now += 3600 - 200  # within the renewal window of the first token
        await client.conversations.reply_to_activity("conv-1", "act-2", reply())
        assert len(credentials.issued) == 2
        assert connector.authorizations[-1] == f"Bearer {credentials.issued[1]}"
        assert credentials.issued[0] != credentials.issued[1]
    finally:
        await transport.close()


async def test_a_401_drops_the_held_token(connector: Connector) -> None:
    assert connector.server is not None
    clock = Clock()
    credentials = CountingCredentials(clock)
    transport = AiohttpConnectorTransport(clock=clock)
    client = await rebuilt_client(credentials, str(connector.server.make_url("/")), transport)
    try:
        connector.script = [(401, {})]
        with pytest.raises(ErrorResponseException):
            await client.conversations.reply_to_activity("conv-1", "act-1", reply())
        await client.conversations.reply_to_activity("conv-1", "act-1", reply())
        assert len(credentials.issued) == 2
    finally:
        await transport.close()


async def test_anonymous_requests_carry_no_token_and_keep_the_user_agent(connector: Connector) -> None:
    assert connector.server is not None
    transport = AiohttpConnectorTransport()
    client = await rebuilt_client(MicrosoftAppCredentials.empty(), str(connector.server.make_url("/")), transport)
    try:
        response = await client.conversations.reply_to_activity("conv-1", "act-1", reply())
        assert response.id == "reply-1"
        method, path, headers = connector.requests[0]
        assert (method, path) == ("POST", "/v3/conversations/conv-1/activities/act-1")
        assert "Authorization" not in headers
        assert "Microsoft-BotFramework/3.1 (test)" in headers["User-Agent"]
    finally:
        await transport.close()


async def test_throttled_posts_are_retried_after_retry_after(connector: Connector) -> None:
    assert connector.server is not None
    transport = AiohttpConnectorTransport(backoff_seconds=0)
    client = await rebuilt_client(MicrosoftAppCredentials.empty(), str(connector.server.make_url("/")), transport)
    try:
        connector.script = [(429, {"Retry-After": "0"})]
        response = await client.conversations.reply_to_activity("conv-1", "act-1", reply())
        assert response.id == "reply-2"
        assert [m for m, _, _ in connector.requests] == ["POST", "POST"]
    finally:
        await transport.close()


async def test_server_errors_are_retried_for_reads_but_never_for_posts(connector: Connector) -> None:
    assert connector.server is not None
    transport = AiohttpConnectorTransport(backoff_seconds=0)
    client = await rebuilt_client(MicrosoftAppCredentials.empty(), str(connector.server.make_url("/")), transport)
    try:
        connector.script = [(503, {})]
        with pytest.raises(ErrorResponseException):
            await client.conversations.reply_to_activity("conv-1", "act-1", reply())
        assert len(connector.requests) == 1  # a reply is never posted twice

        connector.script = [(503, {}), (502, {})]
        members = await client.conversations.get_conversation_members("conv-1")
        assert [m.id for m in members] == ["29:someone"]
        assert [m for m, _, _ in connector.requests[1:]] == ["GET", "GET", "GET"]
    finally:
        await transport.close()


async def test_close_closes_the_shared_session() -> None:
    transport = AiohttpConnectorTransport()
    session = await transport.session()
    assert await transport.session() is session
    await transport.close()
    assert session.closed


# --- through the adapter, as bot.py uses it --------------------------------------------------------------


async def test_turns_through_the_adapter_reuse_one_client() -> None:
    recorder = RecordingConnector()
    service_url = await recorder.start()
    adapter = create_adapter(Settings())
    seen: list[Any] = []

    async def logic(turn_context: TurnContext) -> None:
        seen.append(turn_context.turn_state[adapter.BOT_CONNECTOR_CLIENT_KEY])
        await turn_context.send_activity(f"echo: {turn_context.activity.text}")

    try:
        for text in ("one", "two", "three"):
            activity = Activity().deserialize(message(text, service_url=service_url))
            await adapter.process_activity("", activity, logic)
        sent = await recorder.wait_for(3)
        assert [s.body["text"] for s in sent] == ["echo: one", "echo: two", "echo: three"]
        assert seen[0] is seen[1] is seen[2]
        assert auth_of(adapter).connector_builds == 1
        assert auth_of(adapter).token_client_builds == 1
    finally:
        await adapter.close()
        await recorder.close()


# --- serialisation ---------------------------------------------------------------------------------------


def card_reply(content: dict[str, Any]) -> Activity:
    from botbuilder.core import CardFactory, MessageFactory

    activity = MessageFactory.attachment(CardFactory.adaptive_card(content))
    activity.conversation = ConversationAccount(id="conv-1", conversation_type="personal")
    activity.from_property = ChannelAccount(id="28:bot", name="Bot")
    activity.channel_data = {"tenant": {"id": "t"}, "notification": {"alert": True}}
    return activity


async def test_the_fast_serializer_writes_what_msrest_writes() -> None:
    import datetime

    from cards.help import help_card
    from domain.people import Role

    transport = AiohttpConnectorTransport()
    client = await rebuilt_client(MicrosoftAppCredentials.empty(), URL_A, transport)
    stock = ConnectorClient(MicrosoftAppCredentials.empty(), base_url=URL_A)
    try:
        for content in (
            help_card("Alex Wilber", Role.SECURITY_ADMIN, "nl-NL"),
            # Not plain JSON: msrest's own walk handles these (datetime -> ISO 8601, tuple -> str).
            {"type": "AdaptiveCard", "when": datetime.datetime(2026, 11, 28, 10, 0, tzinfo=datetime.UTC)},
            {"type": "AdaptiveCard", "nan": float("nan")},
        ):
            ours = client.conversations._serialize.body(card_reply(content), "Activity")
            theirs = stock.conversations._serialize.body(card_reply(content), "Activity")
            assert json.dumps(ours, sort_keys=True, default=str) == json.dumps(theirs, sort_keys=True, default=str)
    finally:
        await transport.close()


def assorted_activities() -> list[Any]:
    """Activities as the bot sends them, and some it never does, to hold the fast walk to msrest's output."""
    import datetime

    from botbuilder.core import CardFactory, MessageFactory
    from botbuilder.schema import (
        ActivityTypes,
        CardAction,
        ConversationReference,
        Entity,
        Mention,
        TextFormatTypes,
    )

    mention = Mention(mentioned=ChannelAccount(id="29:u", name="Megan"), text="<at>Megan</at>", type="mention")
    with_entities = MessageFactory.text("hi <at>Megan</at>")
    with_entities.entities = [mention, Entity(type="clientInfo"), None]
    with_entities.text_format = TextFormatTypes.markdown
    suggested = MessageFactory.suggested_actions([CardAction(type="imBack", title="Yes", value="yes")], "Sure?")
    dated = MessageFactory.text("when")
    dated.timestamp = datetime.datetime(2026, 11, 28, 10, 0, tzinfo=datetime.UTC)  # not plain: msrest's path
    dict_in_model_slot = MessageFactory.text("x")
    dict_in_model_slot.from_property = {"id": "28:bot", "name": "Bot"}  # msrest turns it into a model first
    enum_type = Activity(type=ActivityTypes.typing, relates_to=ConversationReference(activity_id="1"))
    carded = MessageFactory.attachment(CardFactory.adaptive_card({"type": "AdaptiveCard", "body": []}))
    carded.attachments.append(None)
    carded.history_disclosed = False
    carded.listen_for = ["a", "b"]
    return [with_entities, suggested, dated, dict_in_model_slot, enum_type, carded, Activity()]


async def test_the_one_walk_body_writes_what_msrest_writes_for_any_activity() -> None:
    transport = AiohttpConnectorTransport()
    client = await rebuilt_client(MicrosoftAppCredentials.empty(), URL_A, transport)
    stock = ConnectorClient(MicrosoftAppCredentials.empty(), base_url=URL_A)
    try:
        for index, activity in enumerate(assorted_activities()):
            ours = client.conversations._serialize.body(copy.deepcopy(activity), "Activity")
            theirs = stock.conversations._serialize.body(copy.deepcopy(activity), "Activity")
            assert json.dumps(ours) == json.dumps(theirs), index  # same keys, same order, same values
        reply = card_reply({"type": "AdaptiveCard", "body": [{"type": "TextBlock", "text": "x"}]})
        fast = client.conversations._serialize._plain_model(reply)  # the card reply takes the one walk
        assert fast == stock.conversations._serialize.body(card_reply(reply.attachments[0].content), "Activity")
    finally:
        await transport.close()


class StaleCredentials(CountingCredentials):
    """Credentials whose cache hands back the same token, 2 minutes from expiry, as msal may near its threshold."""

    def get_access_token(self, force_refresh: bool = False) -> str:
        if not self.issued:
            self.issued.append(jwt.encode({"exp": int(self.clock.now) + 120}, "test-signing-key-of-sufficient-length!",
                                          algorithm="HS256"))
        else:
            self.issued.append(self.issued[-1])
        return self.issued[-1]


async def test_a_token_near_expiry_is_rechecked_shortly_not_on_every_request(connector: Connector) -> None:
    assert connector.server is not None
    clock = Clock()
    credentials = StaleCredentials(clock)
    transport = AiohttpConnectorTransport(clock=clock)
    client = await rebuilt_client(credentials, str(connector.server.make_url("/")), transport)
    try:
        for _ in range(3):
            await client.conversations.reply_to_activity("conv-1", "act-1", reply())
        assert len(credentials.issued) == 1
        clock.now += 31
        await client.conversations.reply_to_activity("conv-1", "act-1", reply())
        assert len(credentials.issued) == 2
    finally:
        await transport.close()


async def test_a_build_cancelled_with_its_caller_is_taken_over_by_a_waiter() -> None:
    from teams.adapter import _LruCache

    cache = _LruCache(4)
    release = asyncio.Event()
    calls = 0

    async def build() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            await release.wait()  # the first builder hangs until cancelled
        return f"client-{calls}"

    first = asyncio.create_task(cache.get("key", build))
    await asyncio.sleep(0)
    waiter = asyncio.create_task(cache.get("key", build))
    await asyncio.sleep(0)
    first.cancel()
    assert await waiter == "client-2"
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await cache.get("key", build) == "client-2"


async def test_a_failed_build_fails_its_waiters_and_is_not_cached() -> None:
    from teams.adapter import _LruCache

    cache = _LruCache(4)
    gate = asyncio.Event()

    async def failing() -> str:
        await gate.wait()
        raise RuntimeError("no credentials")

    first = asyncio.create_task(cache.get("key", failing))
    await asyncio.sleep(0)
    waiter = asyncio.create_task(cache.get("key", failing))
    await asyncio.sleep(0)
    gate.set()
    for task in (first, waiter):
        with pytest.raises(RuntimeError, match="no credentials"):
            await task
    assert len(cache) == 0

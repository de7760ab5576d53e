"""The Agents SDK side of the bot: the `AgentApplication` with our routes, and the `CloudAdapter` that runs turns.

`new_application` builds the application for a `teams.handler.BlockedSenderBot`: messages go to the main dialog,
every verb of the table (`teams/routes.py`) is one `Action.Execute` route of the SDK (it validates the invoke value
and writes the invoke response once), a catch-all answers unknown or malformed presses with a clear error card, and
every other activity type is routed to a no-op (the SDK's "No route found" warning carries the user's text).

A database outage is handled at the edge of the turn (`teams/outage.py`): a turn whose state cannot be read is
answered without it and saves nothing; the message and `Action.Execute` routes answer neutrally when the store
fails during the turn.

The application is built WITHOUT `adapter=` (deprecated in 1.9.0, a DeprecationWarning): `bot.py` keeps the adapter
and passes `bot.on_turn` to it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any

import aiohttp
from microsoft_agents.activity import ActivityTypes, RoleTypes
from microsoft_agents.hosting.core import (
    AgentApplication,
    AgentAuthConfiguration,
    ApplicationOptions,
    Authorization,
    ClaimsIdentity,
    Connections,
    ConversationState,
    MemoryStorage,
    RestChannelServiceClientFactory,
    RouteRank,
    Storage,
    TempState,
    TurnContext,
    TurnState,
)
from microsoft_agents.hosting.core.connector import ConnectorClientBase
from microsoft_agents.hosting.core.connector.teams import TeamsConnectorClient

from store import StoreUnavailable
from teams.outage import TurnOutage

if TYPE_CHECKING:
    from microsoft_agents.hosting.aiohttp import CloudAdapter

    from teams.handler import BlockedSenderBot

log = logging.getLogger(__name__)

DIALOG_STATE_PROPERTY = "DialogState"
CARD_ACTION = "adaptiveCard/action"
FILE_CONSENT = "fileConsent/invoke"


def anonymous_connections() -> Connections:
    """A connection manager for anonymous (local, test) mode: no credentials, no token requests."""
    from microsoft_agents.authentication.msal import MsalConnectionManager

    service = AgentAuthConfiguration(anonymous_allowed=True)
    return MsalConnectionManager(connections_configurations={"SERVICE_CONNECTION": service})


class ConversationTurnState(TurnState):
    """The turn state of this bot: conversation state (the dialog stack) and the temp scope, no user state.

    The SDK's `TurnState.load` reads conversation AND user state on every turn; nothing in the bot keeps
    anything per user, so that second read (a SQL round trip per turn) is skipped.

    When the store is unavailable the load does not raise: `store_outage` says why, the application's before-turn
    hook (`TurnOutage.before_turn`) answers the turn without running it, and `save` writes nothing, so the stored
    dialog is never replaced by an empty one. A failed save is reported to `TurnOutage.not_saved`.
    """

    def __init__(self, outage: TurnOutage | None = None) -> None:
        super().__init__()
        self._outage = outage or TurnOutage()
        self.store_outage: StoreUnavailable | None = None

    async def load(self, context: TurnContext, storage: Storage) -> ConversationTurnState:
        """Load the conversation state of this turn (and a fresh temp scope); records an outage instead of raising."""
        conversation = ConversationState(storage)
        try:
            await conversation.load(context)
        except StoreUnavailable as exc:
            self.store_outage = exc
        else:
            self._outage.loaded()
        # `TempState` leaves `AgentState.get_storage_key` unimplemented (it is never stored); the SDK builds it so too.
        temp = TempState()  # type: ignore[abstract, no-untyped-call]
        self._scopes = {ConversationState.__name__: conversation, TempState.SCOPE_NAME: temp}
        return self

    async def save(self, turn_context: TurnContext, force: bool = False) -> None:
        """Save the changed state, unless the store failed in this turn (what was not read is never written)."""
        if self.store_outage is not None:
            return
        try:
            await super().save(turn_context, force)
        except StoreUnavailable as exc:
            self.store_outage = exc
            await self._outage.not_saved(turn_context, exc)


def new_application(bot: BlockedSenderBot, *, storage: Storage,
                    connections: Connections) -> AgentApplication[TurnState]:
    """The application that routes `bot`'s activities; conversation state lives in `storage`."""
    # The bot uses no user sign-in (OAuth) flows, yet the SDK's `Authorization` reads a sign-in state from its
    # storage on every message and invoke: it gets an in-memory storage that never holds anything, so that read
    # costs no SQL round trip.
    authorization = Authorization(MemoryStorage(), connections)
    outage = TurnOutage()
    # No typing indicator: answers come within the turn, and an extra outbound call per turn costs throughput.
    app = AgentApplication[TurnState](
        ApplicationOptions(storage=storage, start_typing_timer=False,
                           turn_state_factory=lambda: ConversationTurnState(outage)),
        authorization=authorization)
    app.before_turn(outage.before_turn)
    app.activity(ActivityTypes.message)(outage.message(bot.on_message))
    app.conversation_update("membersAdded")(bot.on_members_added)
    for verb in bot.verbs:
        app.adaptive_card.action_execute(verb.value)(outage.action(bot.action(verb)))
    app.invoke(CARD_ACTION, rank=RouteRank.LAST)(bot.on_unknown_action)
    # The answer to the report's file consent card (teams/files.py).
    app.invoke(FILE_CONSENT)(bot.on_file_consent)
    app.add_route(_anything, bot.on_other, rank=RouteRank.LAST)
    app.error(bot.on_error)
    return app


def _anything(context: TurnContext) -> bool:
    """Every activity no other route took (an invoke left unanswered gets the SDK's 501 Not Implemented)."""
    del context
    return True


# Replies and card updates: as msrest's defaults were under botbuilder, 100 s per request and 3 retries with
# exponential backoff from 0.8 s. A 429 (throttled: the connector did not act) is retried for every method; a
# timeout or 5xx only for methods that cannot post a second copy (an update is a PUT).
REQUEST_TIMEOUT_SECONDS = 100.0
MAX_RETRIES = 3
BACKOFF_SECONDS = 0.8
MAX_RETRY_AFTER_SECONDS = 60.0
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
_RETRY_IDEMPOTENT = frozenset({408, 500, 502, 503, 504})


def _retryable(method: str, status: int) -> bool:
    return status == 429 or (method in _IDEMPOTENT and status in _RETRY_IDEMPOTENT)


def _retry_after(header: str | None, attempt: int) -> float:
    """Seconds to wait before the next attempt: the connector's `Retry-After` (seconds) when it sends one."""
    backoff: float = BACKOFF_SECONDS * 2.0 ** attempt
    if header is None:
        return backoff
    try:
        return min(max(float(header), 0.0), MAX_RETRY_AFTER_SECONDS)
    except ValueError:
        return backoff


async def retry_middleware(request: aiohttp.ClientRequest,
                           handler: aiohttp.ClientHandlerType) -> aiohttp.ClientResponse:
    """aiohttp client middleware: retries a throttled (429) or failed idempotent connector call."""
    attempt = 0
    while True:
        response = await handler(request)
        if attempt >= MAX_RETRIES or not _retryable(request.method, response.status):
            return response
        delay = _retry_after(response.headers.get("Retry-After"), attempt)
        log.info("connector answered %d to %s: retry %d in %.1f s", response.status, request.method, attempt + 1,
                 delay)
        response.release()
        await asyncio.sleep(delay)
        attempt += 1


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


async def no_nulls_middleware(request: aiohttp.ClientRequest,
                              handler: aiohttp.ClientHandlerType) -> aiohttp.ClientResponse:
    """aiohttp client middleware: leaves JSON nulls out of what the bot sends the connector.

    The SDK serialises outgoing activities with `exclude_unset` after setting `id = None` on every one (and `locale`
    from a stored reference that has none), so they would go out as nulls; the Agents Playground's connector refuses
    a null anywhere (400 BadArgument "Invalid input"), and botbuilder never sent them. A missing field means the same
    to Bot Framework."""
    body = request.body
    if request.method in ("POST", "PUT") and isinstance(body, aiohttp.payload.JsonPayload):
        await request.update_body(aiohttp.payload.JsonPayload(_without_nulls(json.loads(body.decode()))))
    return await handler(request)


class PooledClientFactory(RestChannelServiceClientFactory):
    """The SDK's client factory, with one connection pool for every turn's connector client.

    The SDK builds a connector client (an aiohttp `ClientSession`) per turn and closes it at the end of the turn,
    so each reply would open a new TCP (and TLS) connection to the connector. Here every turn's session borrows
    one shared `TCPConnector` (keep-alive; the session does not own it, so closing it keeps the pool) and carries
    the retry middleware. Tokens still come from the connection manager per turn (MSAL caches them). Agentic and
    Copilot Studio connector requests keep the SDK's own path.
    """

    def __init__(self, connections: Connections) -> None:
        super().__init__(connections)
        self._connections = connections
        self._pool: aiohttp.TCPConnector | None = None

    def _session(self, service_url: str) -> aiohttp.ClientSession:
        if self._pool is None or self._pool.closed:
            self._pool = aiohttp.TCPConnector(limit=100, keepalive_timeout=60)
        base_url = service_url if service_url.endswith("/") else service_url + "/"
        return aiohttp.ClientSession(base_url=base_url, connector=self._pool, connector_owner=False,
                                     timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS),
                                     middlewares=(no_nulls_middleware, retry_middleware))

    async def create_connector_client(self, context: TurnContext | None, claims_identity: ClaimsIdentity,
                                      service_url: str, audience: str, scopes: list[str] | None = None,
                                      use_anonymous: bool = False) -> ConnectorClientBase:
        """A connector client for `service_url` on the shared pool (the SDK's own for agentic requests)."""
        activity = context.activity if context is not None else None
        if (not service_url or not audience or activity is None or activity.is_agentic_request()
                or (activity.recipient is not None and activity.recipient.role == RoleTypes.connector_user)):
            return await super().create_connector_client(context, claims_identity, service_url, audience, scopes,
                                                         use_anonymous)
        provider = (self._ANONYMOUS_TOKEN_PROVIDER if use_anonymous
                    else self._connections.get_token_provider(claims_identity, service_url))
        token = await provider.get_access_token(audience, scopes or claims_identity.get_token_scope())
        return TeamsConnectorClient(endpoint=service_url, token=token or "", session=self._session(service_url))

    async def close(self) -> None:
        """Close the pool (at shutdown, after the last turn)."""
        if self._pool is not None:
            await self._pool.close()


def new_adapter(connections: Connections) -> tuple[CloudAdapter, PooledClientFactory]:
    """The adapter that runs a turn for an authenticated activity and sends replies over the connector, and its
    client factory (close it at shutdown)."""
    from microsoft_agents.hosting.aiohttp import CloudAdapter

    from teams.handler import on_turn_error

    factory = PooledClientFactory(connections)
    adapter = CloudAdapter(channel_service_client_factory=factory)
    # The SDK's default sends "Exception caught : <error>" to the user.
    adapter.on_turn_error = on_turn_error
    return adapter, factory

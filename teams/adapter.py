"""The Bot Framework adapter, with connector clients cached per identity and replies sent through aiohttp.

botbuilder 4.17.1 builds, for every inbound activity, a new `ConnectorClient` and a new user-token client.
Each is an msrest `Configuration`, whose retry policy alone computes a 999-entry status list against a
500-entry list (about half a million comparisons), and each new `MicrosoftAppCredentials` starts with an
empty msal token cache, so with credentials configured every turn would also fetch a new Entra token. The
reply then goes out through `requests` in the default thread pool. Profiled, that was half of a `help`
turn's CPU (docs/PERFORMANCE.md).

`create_adapter(settings)` keeps botbuilder's authentication and composes two public extension points:

- `CachingBotFrameworkAuthentication` wraps the configured `BotFrameworkAuthentication`. Its connector
  factories hand out one `ConnectorClient` per (app id, service URL, audience) and it keeps one user-token
  client per app id. The clients keep their `AppCredentials`, and with them msal's token cache: a cached
  client asks for a new token when the old one nears expiry instead of on every turn.
- `AiohttpConnectorTransport` is the HTTP sender of those clients (an msrest `AsyncPipeline` built from
  msrest's public policies with our own `AsyncHTTPSender`, the same route botbuilder's streaming adapter
  takes for its custom driver): one shared `aiohttp.ClientSession`, no thread hop per reply. Bearer
  tokens are taken from the client's credentials, refreshed before they expire (the blocking msal call
  runs in a worker thread, once per token, not once per request). Retries follow msrest's defaults, but a
  reply (POST) is only repeated after a 429 or a failed connect, never after a 5xx.
- Those clients' operations serialise with a subclass of msrest's `Serializer` that returns JSON-native
  `object` values (the Adaptive Card itself) as they are instead of copying them value by value.

Nothing in an installed package is patched; anything the transport cannot serve (credentials that are
not `AppCredentials`) keeps botbuilder's own client, still cached.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import time
import urllib.request
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from enum import Enum
from typing import Any, TypeVar

import aiohttp
import jwt
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botframework.connector import BotFrameworkConnectorConfiguration
from botframework.connector import models as connector_models
from botframework.connector.aio import ConnectorClient
from botframework.connector.aio.operations_async import AttachmentsOperations, ConversationsOperations
from botframework.connector.auth import (
    AppCredentials,
    AuthenticateRequestResult,
    AuthenticationConstants,
    BotFrameworkAuthentication,
    ClaimsIdentity,
    ConnectorFactory,
    UserTokenClient,
)
from msrest import Serializer
from msrest.pipeline import Request, Response
from msrest.pipeline.async_abc import AsyncHTTPPolicy, AsyncHTTPSender, AsyncPipeline
from msrest.pipeline.universal import RawDeserializer
from msrest.serialization import Model
from msrest.universal_http import ClientRequest
from msrest.universal_http.aiohttp import AioHttpClientResponse
from msrest.universal_http.async_abc import AsyncClientResponse

from config import Settings

log = logging.getLogger(__name__)

# Service URLs come from activities. With bot authentication on, the channel's token vouches for them; in
# anonymous (local) mode anybody can name one, so the cache is bounded and evicts the least recently used.
MAX_CACHED_CLIENTS = 256
# Renew a bearer token this long before it expires (msal itself renews within its last 5 minutes).
TOKEN_RENEW_BEFORE_SECONDS = 300.0
# A token whose expiry cannot be read is asked for again after this long (msal answers from its cache).
OPAQUE_TOKEN_SECONDS = 60.0
# A token already close to expiry (or expired: a clock skew) is asked for again after this long.
RECHECK_SECONDS = 30.0
# As msrest's default: 100 s for a request, 3 retries, exponential backoff from 0.8 s.
REQUEST_TIMEOUT_SECONDS = 100.0
MAX_RETRIES = 3
BACKOFF_SECONDS = 0.8
MAX_RETRY_AFTER_SECONDS = 60.0
# Repeating these cannot create a second copy of anything.
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
_RETRY_ANY_METHOD = frozenset({429})  # Throttled: the connector did not act on the request.
_RETRY_IDEMPOTENT = frozenset({408, 500, 502, 503, 504})

_Request = Request[ClientRequest]
_Response = Response[ClientRequest, AsyncClientResponse]

ConnectorKey = tuple[str, str, str]
"""(app id, service URL, audience): what a connector client's credentials and base URL depend on."""

_T = TypeVar("_T")


class BotFrameworkConfig:
    """The attribute names `ConfigurationBotFrameworkAuthentication` reads, filled from `Settings`."""

    def __init__(self, settings: Settings) -> None:
        self.APP_ID = settings.app_id
        self.APP_PASSWORD = settings.app_password
        self.APP_TYPE = settings.app_type
        self.APP_TENANTID = settings.app_tenant_id


class CachingCloudAdapter(CloudAdapter):
    """botbuilder's aiohttp `CloudAdapter` on a `CachingBotFrameworkAuthentication`; `close()` at shutdown."""

    def __init__(self, bot_framework_authentication: CachingBotFrameworkAuthentication) -> None:
        super().__init__(bot_framework_authentication)
        self.caching_authentication = bot_framework_authentication

    async def close(self) -> None:
        """Drop the cached clients and close the shared HTTP session."""
        await self.caching_authentication.close()


def create_adapter(settings: Settings, *, configuration: object | None = None,
                   transport: AiohttpConnectorTransport | None = None) -> CachingCloudAdapter:
    """The bot's adapter: botbuilder's configuration-driven authentication, cached clients, aiohttp replies.

    `configuration` is the object `ConfigurationBotFrameworkAuthentication` reads (`APP_ID`, `TO_*`, ...);
    by default the four app settings of `settings`. `transport` replaces the default aiohttp transport
    (tests). Close the adapter (`await adapter.close()`) when the application stops.
    """
    inner = ConfigurationBotFrameworkAuthentication(configuration or BotFrameworkConfig(settings))
    return CachingCloudAdapter(
        CachingBotFrameworkAuthentication(inner, transport=transport or AiohttpConnectorTransport())
    )


def app_id_of(claims_identity: ClaimsIdentity | None) -> str:
    """The bot's app id as botbuilder derives it from the inbound claims (audience, else appid); '' if none."""
    if claims_identity is None:
        return ""
    app_id = claims_identity.get_claim_value(AuthenticationConstants.AUDIENCE_CLAIM)
    if app_id is None:
        app_id = claims_identity.get_claim_value(AuthenticationConstants.APP_ID_CLAIM)
    return str(app_id or "")


class _LruCache:
    """A bounded map with single-flight creation: concurrent misses for one key build the value once."""

    def __init__(self, max_size: int) -> None:
        self._max_size = max_size
        self._values: OrderedDict[Hashable, Any] = OrderedDict()
        self._pending: dict[Hashable, asyncio.Future[Any]] = {}
        self.builds = 0

    def __len__(self) -> int:
        return len(self._values)

    def keys(self) -> list[Hashable]:
        """The cached keys, least recently used first."""
        return list(self._values)

    async def get(self, key: Hashable, build: Callable[[], Awaitable[_T]]) -> _T:
        """The value for `key`, built with `build()` on a miss.

        A build that fails fails every caller waiting for it; a build cancelled with its caller (a client
        that hung up) is started again by the next waiter instead.
        """
        while True:
            try:
                value: _T = self._values[key]
            except KeyError:
                pass
            else:
                self._values.move_to_end(key)
                return value
            pending = self._pending.get(key)
            if pending is None:
                break
            try:
                result: _T = await asyncio.shield(pending)
            except asyncio.CancelledError:
                if pending.cancelled():
                    continue  # The builder was cancelled, not this caller.
                raise
            return result
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            value = await build()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # Retrieved here: waiters re-raise it, nobody else needs to see it logged.
            raise
        finally:
            del self._pending[key]
        self.builds += 1
        self._values[key] = value
        while len(self._values) > self._max_size:
            self._values.popitem(last=False)
        future.set_result(value)
        return value

    def clear(self) -> None:
        """Forget every value."""
        self._values.clear()


class CachingConnectorFactory(ConnectorFactory):
    """A `ConnectorFactory` that returns the cached client for (app id, service URL, audience).

    `inner` is the factory botbuilder made for this request; it builds the client on a miss, so the
    credentials (cloud, login endpoint, tenant, managed identity) are exactly botbuilder's.
    """

    def __init__(self, inner: ConnectorFactory, *, app_id: str, auth: CachingBotFrameworkAuthentication) -> None:
        self._inner = inner
        self._app_id = app_id
        self._auth = auth

    async def create(self, service_url: str, audience: str | None = None) -> ConnectorClient:
        """The connector client for `service_url` and `audience`, shared by every turn of this identity."""
        return await self._auth.connector_client(self._inner, self._app_id, service_url, audience)


class CachingBotFrameworkAuthentication(BotFrameworkAuthentication):
    """Wraps a `BotFrameworkAuthentication`: same validation, cached connector and user-token clients."""

    def __init__(self, inner: BotFrameworkAuthentication, *, transport: AiohttpConnectorTransport | None = None,
                 max_clients: int = MAX_CACHED_CLIENTS) -> None:
        self._inner = inner
        self._transport = transport
        self._connectors = _LruCache(max_clients)
        self._token_clients = _LruCache(max_clients)

    @property
    def connector_keys(self) -> list[ConnectorKey]:
        """The keys of the cached connector clients (tests, diagnostics)."""
        return [key for key in self._connectors.keys() if isinstance(key, tuple)]

    @property
    def connector_builds(self) -> int:
        """How many connector clients were built (cache misses)."""
        return self._connectors.builds

    @property
    def token_client_builds(self) -> int:
        """How many user-token clients were built (cache misses)."""
        return self._token_clients.builds

    async def close(self) -> None:
        """Forget the clients and close the transport's session."""
        self._connectors.clear()
        self._token_clients.clear()
        if self._transport is not None:
            await self._transport.close()

    async def connector_client(self, inner: ConnectorFactory, app_id: str, service_url: str,
                               audience: str | None) -> ConnectorClient:
        """The cached client for (app id, service URL, audience), built by `inner` on a miss."""
        key: ConnectorKey = (app_id, service_url, audience or "")

        async def build() -> ConnectorClient:
            client = await inner.create(service_url, audience)
            if self._transport is not None:
                client = self._transport.rebuild(client)
            log.debug("connector client built for %s (audience %s)", service_url, audience or "default")
            return client

        return await self._connectors.get(key, build)

    def _wrap(self, factory: ConnectorFactory | None, claims_identity: ClaimsIdentity | None) -> Any:
        if factory is None or isinstance(factory, CachingConnectorFactory):
            return factory
        return CachingConnectorFactory(factory, app_id=app_id_of(claims_identity), auth=self)

    async def authenticate_request(self, activity: Any, auth_header: str) -> AuthenticateRequestResult:
        """botbuilder's validation; the result's connector factory is swapped for the caching one."""
        result = await self._inner.authenticate_request(activity, auth_header)
        result.connector_factory = self._wrap(result.connector_factory, result.claims_identity)
        return result

    async def authenticate_streaming_request(self, auth_header: str,
                                             channel_id_header: str) -> AuthenticateRequestResult:
        """Unchanged: the streaming adapter replaces the connector factory with its own."""
        return await self._inner.authenticate_streaming_request(auth_header, channel_id_header)

    def create_connector_factory(self, claims_identity: ClaimsIdentity) -> ConnectorFactory:
        """The caching factory for this identity (proactive messages, `create_conversation`)."""
        return self._wrap(self._inner.create_connector_factory(claims_identity), claims_identity)

    async def create_user_token_client(self, claims_identity: ClaimsIdentity) -> UserTokenClient:
        """One user-token client per app id (botbuilder derives its credentials from the app id alone)."""
        app_id = app_id_of(claims_identity)

        async def build() -> UserTokenClient:
            return await self._inner.create_user_token_client(claims_identity)

        return await self._token_clients.get(("user-token", app_id), build)

    def create_bot_framework_client(self) -> Any:
        """Unchanged (skills)."""
        return self._inner.create_bot_framework_client()

    def get_originating_audience(self) -> str:
        """Unchanged."""
        return str(self._inner.get_originating_audience())

    async def authenticate_channel_request(self, auth_header: str) -> ClaimsIdentity:
        """Unchanged (skills)."""
        return await self._inner.authenticate_channel_request(auth_header)


class _BearerTokenPolicy(AsyncHTTPPolicy[ClientRequest, AsyncClientResponse]):
    """Adds `Authorization: Bearer <token>` from `AppCredentials`, renewing the token before it expires.

    `AppCredentials.get_access_token()` is synchronous (msal over `requests`); msrest's default policy
    calls it on the event loop for every request. Here it runs in a worker thread, only when the token we
    hold is within `TOKEN_RENEW_BEFORE_SECONDS` of expiry, once for all requests waiting on it; msal keeps
    its own cache behind it. A 401 drops the held token, so the next request asks msal again.
    """

    def __init__(self, credentials: AppCredentials, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self._credentials = credentials
        self._clock = clock
        self._token = ""
        self._renew_at = 0.0
        self._lock = asyncio.Lock()
        self.renewals = 0

    @staticmethod
    def needs_token(credentials: AppCredentials) -> bool:
        """False for the anonymous credentials botbuilder uses when authentication is disabled."""
        app_id = getattr(credentials, "microsoft_app_id", None)
        return bool(app_id) and app_id != AuthenticationConstants.ANONYMOUS_SKILL_APP_ID

    async def token(self) -> str:
        """A bearer token valid for at least a few more minutes."""
        if self._token and self._clock() < self._renew_at:
            return self._token
        async with self._lock:
            if self._token and self._clock() < self._renew_at:
                return self._token
            token = str(await asyncio.to_thread(self._credentials.get_access_token))
            renew_at = self._renew_time(token)
            if renew_at <= self._clock():
                # The token is already inside our renewal window (msal still returns a cached token until
                # its own, similar threshold): use it, and ask again shortly rather than on every request.
                renew_at = self._clock() + RECHECK_SECONDS
            self._token, self._renew_at = token, renew_at
            self.renewals += 1
            return self._token

    def forget(self) -> None:
        """Drop the held token (after a 401)."""
        self._token, self._renew_at = "", 0.0

    def _renew_time(self, token: str) -> float:
        try:
            # Only to schedule renewal: the connector, not us, validates the token.
            claims = jwt.decode(token, options={"verify_signature": False})
            expires = float(claims["exp"])
        except (jwt.PyJWTError, KeyError, TypeError, ValueError):
            return self._clock() + OPAQUE_TOKEN_SECONDS
        return max(self._clock(), expires - TOKEN_RENEW_BEFORE_SECONDS)

    async def send(self, request: _Request, **kwargs: Any) -> _Response:
        """Sign the request, send it, and forget the token if the service rejects it."""
        request.http_request.headers["Authorization"] = f"Bearer {await self.token()}"
        assert self.next is not None, "the pipeline links every policy to the next"
        response = await self.next.send(request, **kwargs)
        if response.http_response.status_code == 401:
            self.forget()
        return response


class _AiohttpSender(AsyncHTTPSender[ClientRequest, AsyncClientResponse]):
    """An msrest `AsyncHTTPSender` on the transport's shared `aiohttp.ClientSession`, with msrest-like retries.

    msrest's own `AioHTTPSender` drops the request's headers and body, so it cannot be used as is.
    Retries: connection failures before anything was sent, 429 for any method (Retry-After honoured), and
    408/5xx only for idempotent methods, so a reply is never posted twice.
    """

    def __init__(self, transport: AiohttpConnectorTransport) -> None:
        self._transport = transport

    async def __aenter__(self) -> _AiohttpSender:
        return self

    async def __aexit__(self, *exc_details: object) -> None:
        """The session belongs to the transport, which outlives every client."""

    def build_context(self) -> None:
        """No per-request context."""
        return None

    async def send(self, request: _Request, **config: Any) -> _Response:
        """Send `request.http_request`; the body is loaded unless the caller asked to stream it."""
        http_request = request.http_request
        if http_request.files:
            raise ValueError("multipart requests are not supported by the aiohttp connector transport")
        method = http_request.method.upper()
        session = await self._transport.session()
        attempt = 0
        while True:
            try:
                raw = await session.request(method, http_request.url, headers=dict(http_request.headers),
                                            data=http_request.data)
            except aiohttp.ClientConnectorError:
                # Nothing reached the server: safe to repeat for any method.
                if attempt >= self._transport.max_retries:
                    raise
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError, asyncio.TimeoutError):
                if method not in _IDEMPOTENT or attempt >= self._transport.max_retries:
                    raise
            else:
                if attempt < self._transport.max_retries and self._retryable(method, raw.status):
                    delay = self._retry_after(raw.headers.get("Retry-After"), attempt)
                    raw.release()
                    attempt += 1
                    log.info("connector answered %s to %s, retry %d in %.1f s", raw.status, method, attempt, delay)
                    await asyncio.sleep(delay)
                    continue
                response = AioHttpClientResponse(http_request, raw)
                if not config.get("stream", False):
                    await response.load_body()
                return Response(request, response)
            delay = self._backoff(attempt)
            attempt += 1
            await asyncio.sleep(delay)

    @staticmethod
    def _retryable(method: str, status: int) -> bool:
        return status in _RETRY_ANY_METHOD or (status in _RETRY_IDEMPOTENT and method in _IDEMPOTENT)

    def _backoff(self, attempt: int) -> float:
        return float(min(self._transport.backoff_seconds * (2 ** attempt), MAX_RETRY_AFTER_SECONDS))

    def _retry_after(self, header: str | None, attempt: int) -> float:
        """Seconds to wait: Retry-After (delta-seconds or an HTTP date, capped), else exponential backoff."""
        if header:
            try:
                seconds = float(header)
            except ValueError:
                try:
                    seconds = email.utils.parsedate_to_datetime(header).timestamp() - time.time()
                except (TypeError, ValueError):
                    return self._backoff(attempt)
            return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)
        return self._backoff(attempt)


_MISSING = object()
# Declared type and exact Python type that msrest writes unchanged (it converts anything else: bool(x), int(x)...).
_PLAIN_SCALARS = frozenset({("bool", bool), ("int", int), ("float", float)})


class _NotPlain(Exception):
    """A model the fast serialisation does not cover: msrest serialises it."""


class _JsonSerializer(Serializer):
    """msrest's `Serializer` with fast paths for plain models and for `object`-typed values that are JSON already.

    An Adaptive Card is an attachment's `content` (type `object`), which msrest copies value by value in
    Python; for the help card that was most of the cost of sending it. When `json.dumps` accepts the value
    (no NaN), msrest's walk would return an equal copy, so the value itself is returned; anything else
    (datetimes, models, NaN) still goes through msrest.

    `body()` (every reply) walks the activity three times in msrest: a "deserialisation" of the model into
    itself (it turns dicts into models), a validation against `_validation` (empty for every connector model),
    then the serialisation; that was a fifth of a `help` turn. An activity whose tree holds only models, plain
    strings, enums, numbers, booleans, lists and `object` values is written in one walk here, key for key what
    msrest writes; anything else (a dict where a model belongs, a datetime, flattened or read-only attributes,
    additional properties) takes msrest's path unchanged.
    """

    def __init__(self, classes: dict[str, type]) -> None:
        super().__init__(classes)  # type: ignore[no-untyped-call]  # msrest leaves it unannotated

    def body(self, data: Any, data_type: str, **kwargs: Any) -> Any:
        """The request body for `data` (a model of type `data_type`): the fast walk when it covers it."""
        model_class = self.dependencies.get(data_type)
        if not kwargs and isinstance(model_class, type) and isinstance(data, model_class):
            try:
                return self._plain_model(data)
            except _NotPlain:
                pass
        return super().body(data, data_type, **kwargs)  # type: ignore[no-untyped-call]

    def _plain_model(self, model: Any) -> dict[str, Any]:
        cls = type(model)
        if not isinstance(model, Model) or cls._validation or cls.is_xml_model():
            raise _NotPlain
        out: dict[str, Any] = {}
        for attr, desc in cls._attribute_map.items():
            value = getattr(model, attr, _MISSING)
            if value is _MISSING:
                raise _NotPlain  # msrest fails on it: let it say so
            if value is None:
                continue  # msrest leaves unset attributes out
            key = desc["key"]
            if not key or "." in key or "\\" in key:
                raise _NotPlain  # additional properties, flattened or escaped keys
            out[key] = self._plain_value(value, desc["type"])
        return out

    def _plain_value(self, value: Any, data_type: Any) -> Any:
        if data_type == "str":
            if type(value) is str:
                return value
            if isinstance(value, Enum):
                return value.value  # msrest writes an enum's value
        elif (data_type, type(value)) in _PLAIN_SCALARS:
            return value
        elif data_type == "object":
            return self.serialize_object(value)
        elif isinstance(data_type, str) and data_type[:1] == "[" and data_type[-1:] == "]" and type(value) is list:
            return [None if item is None else self._plain_value(item, data_type[1:-1]) for item in value]
        elif isinstance(data_type, str) and isinstance(value, Model):
            declared = self.dependencies.get(data_type)
            if isinstance(declared, type) and issubclass(declared, Model) and isinstance(value, declared):
                return self._plain_model(value)
        raise _NotPlain

    def serialize_object(self, attr: Any, **kwargs: Any) -> Any:
        """`attr` itself when it is a JSON-native dict or list, else msrest's serialisation."""
        if type(attr) is dict or type(attr) is list:
            try:
                json.dumps(attr, allow_nan=False)
            except (TypeError, ValueError):
                pass
            else:
                return attr
        return super().serialize_object(attr, **kwargs)  # type: ignore[no-untyped-call]


# The model classes `ConnectorClient` gives its serializer (botframework.connector.models, as it builds them).
_CONNECTOR_MODELS = {name: value for name, value in vars(connector_models).items() if isinstance(value, type)}


class _ConnectorClient(ConnectorClient):
    """botbuilder's async `ConnectorClient` whose operations serialise with `_JsonSerializer`."""

    def __init__(self, credentials: Any, *, custom_configuration: BotFrameworkConnectorConfiguration) -> None:
        super().__init__(credentials, custom_configuration=custom_configuration)
        self._serialize = _JsonSerializer(_CONNECTOR_MODELS)
        self.attachments = AttachmentsOperations(self._client, self.config, self._serialize, self._deserialize)
        self.conversations = ConversationsOperations(self._client, self.config, self._serialize, self._deserialize)


class AiohttpConnectorTransport:
    """Sends connector requests on one shared `aiohttp.ClientSession` (created on first use, in the loop)."""

    def __init__(self, *, timeout_seconds: float = REQUEST_TIMEOUT_SECONDS, max_retries: int = MAX_RETRIES,
                 backoff_seconds: float = BACKOFF_SECONDS, limit: int = 100, trust_env: bool | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        # botbuilder's `requests` sender honours HTTPS_PROXY / NO_PROXY, so this one does when a proxy is
        # configured. Only then: aiohttp's trust_env reads ~/.netrc in a worker thread on every request.
        self.trust_env = bool(urllib.request.getproxies()) if trust_env is None else trust_env
        self.max_retries = max_retries
        self.clock = clock
        self.backoff_seconds = backoff_seconds
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._limit = limit
        self._session: aiohttp.ClientSession | None = None
        self._sender = _AiohttpSender(self)

    async def session(self) -> aiohttp.ClientSession:
        """The shared session (its connection pool is what makes replies cheap)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, trust_env=self.trust_env,
                connector=aiohttp.TCPConnector(limit=self._limit, limit_per_host=self._limit),
            )
        return self._session

    async def close(self) -> None:
        """Close the session; a later request opens a new one."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def rebuild(self, client: ConnectorClient) -> ConnectorClient:
        """A `ConnectorClient` like `client` (same credentials, base URL, user agent) sending through aiohttp.

        Clients whose credentials are not `AppCredentials` are returned unchanged: their token handling is
        only known to msrest's own `requests` pipeline.
        """
        credentials = client.config.credentials
        if not isinstance(credentials, AppCredentials):
            return client
        policies: list[Any] = []

        def pipeline(config: BotFrameworkConnectorConfiguration) -> AsyncPipeline[ClientRequest, AsyncClientResponse]:
            # The user-agent policy object is the config's own, so add_user_agent below still applies.
            policies.extend([config.user_agent_policy, RawDeserializer(), config.http_logger_policy])
            if _BearerTokenPolicy.needs_token(credentials):
                policies.insert(1, _BearerTokenPolicy(credentials, clock=self.clock))
            return AsyncPipeline(policies, self._sender)

        config = BotFrameworkConnectorConfiguration(credentials, client.config.base_url, pipeline_type=pipeline)
        ours, theirs = config.user_agent, client.config.user_agent
        if theirs != ours and theirs.startswith(ours):
            config.add_user_agent(theirs[len(ours):].strip())
        return _ConnectorClient(credentials, custom_configuration=config)

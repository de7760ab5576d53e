"""The HTTP transport shared by the Graph and Exchange clients.

One `aiohttp.ClientSession` (made by `create_session`, owned and closed by the application) carries
every call. `Transport.send` adds the bearer token, applies a per-request timeout, retries throttling
(429), gateway/availability errors (502/503/504) and connection failures with `Retry-After` or
exponential backoff with jitter, within a number of attempts and a total time budget, refreshes the
token once on 401, and turns the final failure into an `m365.errors` exception. A caller with a deadline of its
own (`deadline(seconds)`) gets the real failure at once when a retry's wait would outlast it.

Logs carry method, path (never the query, which holds addresses), status, duration and attempt; never
headers (the Authorization header) and never bodies (they hold mail and personal data).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import random
import ssl
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol
from urllib.parse import quote as _percent_quote

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from m365.auth import M365Settings
from m365.errors import (
    AuthenticationFailed,
    BadRequest,
    M365Error,
    NotFound,
    Throttled,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from m365.odata import encode_query

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 502, 503, 504})
# Statuses that say the request was not carried out, so even a non-idempotent request may be sent again.
NOT_PROCESSED_STATUSES = frozenset({429, 503})
USER_AGENT = "BlockedSenderAssistant/0.1 (+aiohttp)"

QueryParams = Mapping[str, object] | Iterable[tuple[str, str]]
Sleep = Callable[[float], Awaitable[None]]

# When the caller must have an answer (`time.monotonic()` value), set by `deadline()`. A retry whose wait would
# end after it is not attempted: the call fails at once with the real reason (throttled, unavailable) instead
# of sleeping into the caller's timeout, which could then only say "it took too long".
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("m365_http_deadline", default=None)


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Within this block (in this task), calls give up retrying when the wait would outlast `seconds` from now.

    Nested blocks keep the earlier deadline. Tasks created inside inherit it (contextvars are copied).
    """
    when = time.monotonic() + seconds
    current = _deadline.get()
    token = _deadline.set(when if current is None else min(current, when))
    try:
        yield
    finally:
        _deadline.reset(token)


def waits_past_deadline(delay: float) -> bool:
    """True when a wait of `delay` seconds from now would end after the caller's `deadline()`, if any."""
    when = _deadline.get()
    return when is not None and time.monotonic() + delay > when


# What must hold before a request's bytes leave, awaited once its connection is ready: the request may have waited
# for that connection (a full pool, a TLS handshake on a busy loop) long after its caller decided to send it, and
# in the meantime a 429 may have held its family (`m365.graph.Governor`). Set by `before_send()`.
_before_send: contextvars.ContextVar[Callable[[], Awaitable[None]] | None] = contextvars.ContextVar(
    "m365_http_before_send", default=None)


@contextlib.contextmanager
def before_send(hook: Callable[[], Awaitable[None]]) -> Iterator[None]:
    """Within this block, each request awaits `hook()` after its connection is ready and before it is written."""
    token = _before_send.set(hook)
    try:
        yield
    finally:
        _before_send.reset(token)


async def _connection_ready(session: aiohttp.ClientSession, context: Any, params: Any) -> None:
    hook = _before_send.get()
    if hook is not None:
        await hook()


def _send_hooks() -> aiohttp.TraceConfig:
    # aiohttp signals exactly one of these for every request, once it holds the connection it will write on.
    trace = aiohttp.TraceConfig()
    trace.on_connection_create_end.append(_connection_ready)
    trace.on_connection_reuseconn.append(_connection_ready)
    return trace


class AccessTokens(Protocol):
    """What the transport needs of `m365.auth.TokenProvider`."""

    async def token(self, scope: str) -> str:
        """A bearer token for the scope."""
        ...

    def invalidate(self, scope: str, token: str) -> None:
        """Drop a token the resource rejected with 401."""
        ...


@dataclass(frozen=True)
class RetryPolicy:
    """How long to keep trying a throttled or failing call.

    Both bounds apply: at most `max_attempts` tries, and no wait that would end later than
    `budget_seconds` after the first try started (a `Retry-After` beyond the budget ends the call at once,
    so the caller can say "throttled" instead of hanging).
    """

    max_attempts: int = 4
    budget_seconds: float = 30.0
    base_delay_seconds: float = 0.5
    max_delay_seconds: float = 8.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Exponential backoff with jitter for the wait after failed attempt `attempt` (1-based)."""
        ceiling = min(self.max_delay_seconds, self.base_delay_seconds * 2.0 ** (attempt - 1))
        # "Equal jitter": never zero (a burst of clients would retry together), never above the ceiling.
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


@dataclass(frozen=True)
class HttpResponse:
    """A finished HTTP exchange: status, headers (case-insensitive) and the body parsed as JSON when it is."""

    status: int
    headers: CIMultiDictProxy[str] = field(default_factory=lambda: CIMultiDictProxy(CIMultiDict()))
    body: Any = None
    method: str = ""
    path: str = ""

    @property
    def ok(self) -> bool:
        """True for 2xx."""
        return 200 <= self.status < 300

    def header(self, name: str) -> str | None:
        """A header value, or None."""
        return self.headers.get(name)


ErrorMapper = Callable[[HttpResponse], M365Error]
"""Turns a final non-2xx response into the typed error (each service has its own error body shape)."""


def make_ssl_context(ca_file: str | None) -> ssl.SSLContext:
    """A verifying TLS context; with `ca_file` it trusts that bundle (the demo tenant's CA) instead of the system's."""
    return ssl.create_default_context(cafile=ca_file or None)


def create_session(settings: M365Settings, *, connection_limit: int = 50) -> aiohttp.ClientSession:
    """The one `ClientSession` for Microsoft 365 calls. Call inside the running loop; the caller closes it."""
    connector = aiohttp.TCPConnector(ssl=make_ssl_context(settings.m365_ca_file), limit=connection_limit)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=settings.http_timeout_seconds),
        headers={"User-Agent": USER_AGENT},
        trace_configs=[_send_hooks()],
    )


def path_segment(value: str) -> str:
    """One URL path segment: everything but `@` percent-encoded (UPNs hold `'`, `#`, `+`, `%`)."""
    return _percent_quote(value, safe="@")


def build_url(base_url: str, path: str, params: QueryParams | None = None) -> URL:
    """`base_url` + an already-encoded `path` + an encoded query; yarl is told not to re-encode it."""
    query = ""
    if params:
        items = params.items() if isinstance(params, Mapping) else params
        query = encode_query((k, _param_text(v)) for k, v in items)
    return URL(base_url.rstrip("/") + path + (f"?{query}" if query else ""), encoded=True)


def _param_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """`Retry-After` in seconds: delta-seconds (`"5"`, `"2.5"`) or an HTTP date; None when absent or malformed."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if seconds == seconds else None  # NaN is not a delay
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())


def standard_error(
    response: HttpResponse,
    service: str,
    message: str,
    *,
    code: str | None = None,
    request_id: str | None = None,
) -> M365Error:
    """The typed error for statuses whose meaning does not depend on the service (403 is mapped by callers)."""
    status = response.status
    where = f"{service} {response.method} {response.path}".strip()
    text = message or f"HTTP {status}"
    if status == 401:
        return AuthenticationFailed(f"{where} refused the app's token: {text}", status=status, code=code,
                                    request_id=request_id)
    if status == 404:
        return NotFound(text, status=status, code=code, request_id=request_id)
    if status == 429:
        retry_after = parse_retry_after(response.header("Retry-After"))
        return Throttled(f"{service} is throttling the app: {text}", retry_after=retry_after, status=status,
                         code=code, request_id=request_id)
    if status >= 500:
        return UpstreamUnavailable(f"{service} is unavailable (HTTP {status}): {text}", status=status, code=code,
                                   request_id=request_id)
    if status == 400:
        return BadRequest(text, status=status, code=code, request_id=request_id)
    return M365Error(f"{where} failed with HTTP {status}: {text}", status=status, code=code, request_id=request_id)


class Transport:
    """Sends requests for one service (Graph or Exchange) with one token scope. See the module docstring."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        tokens: AccessTokens,
        scope: str,
        *,
        service: str,
        timeout_seconds: float = 20.0,
        retry: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.session = session
        self.tokens = tokens
        self.scope = scope
        self.service = service
        self.timeout_seconds = timeout_seconds
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()

    async def send(
        self,
        method: str,
        url: URL,
        *,
        map_error: ErrorMapper,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout_seconds: float | None = None,
        idempotent: bool = True,
    ) -> HttpResponse:
        """Send one logical request (retrying as the policy allows); return a 2xx response or raise.

        Reads, PATCHes that set a value and POSTs such as revoke or confirm are safe to repeat. A request
        that is not (`idempotent=False`, e.g. an unblock, which Microsoft counts) is retried only when it
        certainly was not carried out: the connection was never made, or the answer was 429/503. A dropped
        connection or a 502/504 may come after the work was done, so those end the call instead.
        """
        policy = self.retry
        limit = timeout_seconds if timeout_seconds is not None else self.timeout_seconds
        started = self._clock()
        attempt = 0
        refreshed = False
        while True:
            attempt += 1
            token = await self.tokens.token(self.scope)
            request_headers = {
                "Accept": "application/json",
                "client-request-id": str(uuid.uuid4()),
                **(headers or {}),
                "Authorization": f"Bearer {token}",
            }
            sent = self._clock()
            try:
                response = await self._once(method, url, json_body, request_headers, limit)
            except TimeoutError:
                log.warning("%s %s %s timed out after %.1f s (attempt %d)", self.service, method, url.path, limit,
                            attempt)
                raise UpstreamTimeout(f"{self.service} did not answer {method} {url.path} within {limit:g} s") from None
            except (aiohttp.ClientConnectorCertificateError, aiohttp.ClientSSLError) as exc:
                # A certificate problem does not heal by retrying; say where to look.
                raise UpstreamUnavailable(
                    f"{self.service} TLS connection to {url.host} failed ({type(exc).__name__}); "
                    "is M365_CA_FILE right?"
                ) from None
            except aiohttp.ClientError as exc:
                delay = policy.backoff(attempt, self._rng)
                never_sent = isinstance(exc, aiohttp.ClientConnectorError)
                if self._give_up(attempt, started, delay) or not (idempotent or never_sent):
                    log.warning("%s %s %s failed: %s (attempt %d, giving up)", self.service, method, url.path,
                                type(exc).__name__, attempt)
                    raise UpstreamUnavailable(
                        f"{self.service} is unreachable ({type(exc).__name__}) after {attempt} attempts"
                    ) from None
                log.warning("%s %s %s failed: %s; retry in %.2f s (attempt %d of %d)", self.service, method,
                            url.path, type(exc).__name__, delay, attempt, policy.max_attempts)
                await self._sleep(delay)
                continue
            log.debug("%s %s %s -> %d in %.0f ms (attempt %d)", self.service, method, url.path, response.status,
                      (self._clock() - sent) * 1000, attempt)
            if response.ok:
                return response
            if response.status == 401 and not refreshed:
                # Tokens can be revoked or rotated before they expire: one fresh token, one more try.
                refreshed = True
                attempt -= 1
                self.tokens.invalidate(self.scope, token)
                continue
            if response.status in (RETRY_STATUSES if idempotent else NOT_PROCESSED_STATUSES):
                retry_after = parse_retry_after(response.header("Retry-After"))
                delay = retry_after if retry_after is not None else policy.backoff(attempt, self._rng)
                if not self._give_up(attempt, started, delay):
                    log.warning("%s %s %s -> %d; retry in %.2f s (attempt %d of %d)", self.service, method,
                                url.path, response.status, delay, attempt, policy.max_attempts)
                    await self._sleep(delay)
                    continue
                log.warning("%s %s %s -> %d (attempt %d, giving up)", self.service, method, url.path,
                            response.status, attempt)
            raise map_error(response)

    def backoff(self, attempt: int) -> float:
        """The policy's backoff (with this transport's jitter source) after failed attempt `attempt`."""
        return self.retry.backoff(attempt, self._rng)

    def _give_up(self, attempt: int, started: float, delay: float) -> bool:
        policy = self.retry
        return (attempt >= policy.max_attempts or (self._clock() - started) + delay > policy.budget_seconds
                or waits_past_deadline(delay))

    async def _once(
        self,
        method: str,
        url: URL,
        json_body: Any,
        headers: Mapping[str, str],
        timeout_seconds: float,
    ) -> HttpResponse:
        data: bytes | None = None
        send_headers = dict(headers)
        if json_body is not None:
            data = json.dumps(json_body).encode("utf-8")
            send_headers["Content-Type"] = "application/json"
        async with self.session.request(
            method,
            url,
            data=data,
            headers=send_headers,
            timeout=aiohttp.ClientTimeout(total=timeout_seconds),
            allow_redirects=False,
        ) as resp:
            raw = await resp.read()
            return HttpResponse(
                status=resp.status,
                headers=CIMultiDictProxy(CIMultiDict(resp.headers)),
                body=_parse_body(raw),
                method=method,
                path=url.path,
            )


def _parse_body(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        # Gateways answer HTML or text; keep a little of it for the error message.
        return raw[:300].decode("utf-8", errors="replace")


def error_fields(body: Any) -> tuple[str, str, str | None]:
    """(code, message, request id) from a Graph/Exchange `{"error": {...}}` body; empty strings when absent."""
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping):
            code = error.get("code")
            message = error.get("message")
            inner = error.get("innerError") or error.get("innererror")
            request_id = None
            if isinstance(inner, Mapping):
                rid = inner.get("request-id") or inner.get("requestId")
                request_id = rid if isinstance(rid, str) else None
            return (code if isinstance(code, str) else "", message if isinstance(message, str) else "", request_id)
        if isinstance(error, str):
            description = body.get("error_description")
            return error, description if isinstance(description, str) else "", None
    if isinstance(body, str):
        return "", body.strip(), None
    return "", "", None

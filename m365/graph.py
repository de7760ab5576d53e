"""Microsoft Graph client: requests, paging, `$batch`, error mapping, and the typed calls the bot makes.

Low level: `get`, `get_paged` (follows `@odata.nextLink` up to a page cap), `post`, `patch`, `batch`
(≤ 20 requests per `$batch` call; inner 429s are retried). Query options go in `params`; `$search` and
`$count` add the `ConsistencyLevel: eventual` header Graph requires for them.

High level: one method per Graph call of DESIGN.md's evidence table, returning `m365.records`. They
raise `m365.errors` exceptions (a missing object is `NotFound`); `m365.tenant.M365Tenant` decides where
that means None.

Pacing: inside `governed(governor)` (every investigation, single or bulk, under the process's one governor),
requests to the throttled families (audit logs, Identity Protection) are spaced to Microsoft's published limits on
the client, and a 429 holds its whole family until `Retry-After` has passed; outside it (writes, identity look-ups),
calls are sent as they come and the transport retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from m365 import odata
from m365.auth import GRAPH_SCOPE
from m365.errors import (
    AuthenticationFailed,
    LicenseRequired,
    M365Error,
    NotProvisioned,
    OnPremisesMastered,
    PermissionDenied,
    Throttled,
    UpstreamUnavailable,
)
from m365.http import (
    RETRY_STATUSES,
    AccessTokens,
    ErrorMapper,
    HttpResponse,
    QueryParams,
    RetryPolicy,
    Sleep,
    Transport,
    before_send,
    build_url,
    error_fields,
    parse_retry_after,
    path_segment,
    standard_error,
    waits_past_deadline,
)
from m365.records import (
    METHOD_COLLECTIONS,
    AuthMethod,
    DirectoryAudit,
    DirectoryObject,
    InboxRule,
    MailFolder,
    MessageTrace,
    OAuthGrant,
    RegistrationDetails,
    RiskDetection,
    RiskyUser,
    RoleMember,
    SecurityAlert,
    ServicePrincipal,
    SignIn,
    User,
)

log = logging.getLogger(__name__)

SERVICE = "Microsoft Graph"
BATCH_LIMIT = 20  # Graph refuses a $batch with more requests
DEFAULT_MAX_PAGES = 50
MAX_TOP = 999
# Top-level folders per page: a mailbox has a dozen or so; more pages are followed.
MAIL_FOLDERS_TOP = 100
# The well-known folders a rule hides mail in, asked for by path segment (valid in v1.0 in every mailbox language;
# microsoft-graph-docs-contrib api-reference/v1.0/resources/mailfolder.md). RSS Subscriptions and Notes have no
# well-known name in Graph; they are recognised by display name.
# Outlook's limit on concurrent requests per mailbox (Microsoft Graph throttling limits, Outlook service).
OUTLOOK_CONCURRENCY = 4
HIDING_WELL_KNOWN_FOLDERS: tuple[str, ...] = ("deleteditems", "junkemail", "archive", "conversationhistory")
ENTRA_ID_P1 = "Microsoft Entra ID P1"
ENTRA_ID_P2 = "Microsoft Entra ID P2"
MESSAGE_TRACE_PATH = "/admin/exchange/tracing/messageTraces"
# What Graph's message trace needs provisioned (microsoft-graph-docs-contrib resources/exchangemessagetrace.md,
# "Prerequisites": a service principal for app id 8bd644d1-64a1-4d4b-ae52-2e0cbf64e373).
MESSAGE_TRACE_PRINCIPAL = "app id 8bd644d1-64a1-4d4b-ae52-2e0cbf64e373"

# Application permission each route needs, for 403s whose message does not name it. Mirrors DESIGN.md's
# evidence table; first match wins. Paths are relative to the version root (`/v1.0`).
ROUTE_PERMISSIONS: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("GET", re.compile(r"^/auditLogs/(signIns|directoryAudits)"), "AuditLog.Read.All"),
    ("GET", re.compile(r"^/reports/authenticationMethods/"), "AuditLog.Read.All"),
    ("POST", re.compile(r"^/identityProtection/riskyUsers/(confirmCompromised|dismiss)"),
     "IdentityRiskyUser.ReadWrite.All"),
    ("GET", re.compile(r"^/identityProtection/riskyUsers"), "IdentityRiskyUser.Read.All"),
    ("GET", re.compile(r"^/identityProtection/riskDetections"), "IdentityRiskEvent.Read.All"),
    ("GET", re.compile(r"^/users/[^/]+/authentication/methods"), "UserAuthenticationMethod.Read.All"),
    # Removing a method, reading one back, revoking a consent and the user's app role assignments (Graph v1.0
    # pages: microsoftauthenticatorauthenticationmethod-delete.md and its siblings, oauth2permissiongrant-delete.md,
    # oauth2permissiongrant-get.md, user-list-approleassignments.md, user-delete-approleassignments.md).
    ("DELETE", re.compile(r"^/users/[^/]+/authentication/"), "UserAuthenticationMethod.ReadWrite.All"),
    ("GET", re.compile(r"^/users/[^/]+/authentication/"), "UserAuthenticationMethod.Read.All"),
    ("DELETE", re.compile(r"^/oauth2PermissionGrants/"), "DelegatedPermissionGrant.ReadWrite.All"),
    ("GET", re.compile(r"^/oauth2PermissionGrants/"), "Directory.Read.All"),
    ("DELETE", re.compile(r"^/users/[^/]+/appRoleAssignments/"), "AppRoleAssignment.ReadWrite.All"),
    ("GET", re.compile(r"^/users/[^/]+/appRoleAssignments"), "Directory.Read.All"),
    ("GET", re.compile(r"^/users/[^/]+/mailFolders/inbox/messageRules"), "MailboxSettings.Read"),
    ("GET", re.compile(r"^/users/[^/]+/mailboxSettings"), "MailboxSettings.Read"),
    ("PATCH", re.compile(r"^/users/[^/]+/mailFolders/inbox/messageRules"), "MailboxSettings.ReadWrite"),
    ("DELETE", re.compile(r"^/users/[^/]+/mailFolders/inbox/messageRules/"), "MailboxSettings.ReadWrite"),
    ("GET", re.compile(r"^/users/[^/]+/mailFolders"), "Mail.ReadBasic.All"),
    ("GET", re.compile(r"^/users/[^/]+/oauth2PermissionGrants"), "Directory.Read.All"),
    ("GET", re.compile(r"^/servicePrincipals"), "Directory.Read.All"),
    ("GET", re.compile(r"^/users/[^/]+/(transitiveMemberOf|memberOf)"), "GroupMember.Read.All"),
    # directoryrole-list-members.md / directoryrole-delete-member.md (Graph v1.0).
    ("GET", re.compile(r"^/directoryRoles"), "RoleManagement.Read.Directory"),
    ("DELETE", re.compile(r"^/directoryRoles/[^/]+/members/"), "RoleManagement.ReadWrite.Directory"),
    ("GET", re.compile(r"^/security/alerts_v2"), "SecurityAlert.Read.All"),
    ("GET", re.compile(r"^/admin/exchange/tracing/"), "ExchangeMessageTrace.Read.All"),
    ("POST", re.compile(r"^/users/[^/]+/revokeSignInSessions"), "User.RevokeSessions.All"),
    ("PATCH", re.compile(r"^/users/[^/]+$"), "User.ReadWrite.All"),
    ("GET", re.compile(r"^/organization"), "Organization.Read.All"),
    ("GET", re.compile(r"^/users"), "User.Read.All"),
)

# A directory role template id (a GUID), the only thing put into the `roleTemplateId='…'` alternate key.
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# A Graph permission name as Microsoft writes it in 403 messages: `AuditLog.Read.All`, `MailboxSettings.Read`.
_PERMISSION_NAME = re.compile(r"\b[A-Z][A-Za-z0-9]+(?:\.[A-Z][A-Za-z0-9]+)*\.(?:Read|ReadWrite|ReadBasic|All|Send)\b")
_LICENSE_HINT = re.compile(
    r"not licensed|\bP[12]\b|premium licen[cs]e|NonPremiumTenant|requires? (?:a |an )?(?:valid )?licen[cs]e",
    re.IGNORECASE,
)
_ON_PREMISES = re.compile(r"on-?premises?[ -]mastered|on-?premises? (?:directory|ad)|directory ?sync", re.IGNORECASE)


@dataclass(frozen=True)
class RateLimit:
    """At most `requests` requests in any `window_seconds` (Microsoft's sliding window for one family)."""

    requests: int
    window_seconds: float


# Microsoft's published per-app limits for the families an investigation reads most (DESIGN.md): sign-in and
# directory audit logs share about 5 requests per 10 s; Identity Protection allows about 1 request per second.
MICROSOFT_RATE_LIMITS: dict[str, RateLimit] = {
    "auditLogs": RateLimit(5, 10.0),
    "identityProtection": RateLimit(1, 1.0),
    # messagetracingroot-list-messagetraces: "a throttling limit of 100 requests per 5 minutes".
    "messageTrace": RateLimit(100, 300.0),
}
_FAMILY_PREFIXES = (("/auditLogs/", "auditLogs"), ("/identityProtection/", "identityProtection"),
                    ("/admin/exchange/tracing/", "messageTrace"))


def rate_family(path: str) -> str | None:
    """The throttled family of a Graph path relative to the version root (`/auditLogs/signIns` → auditLogs)."""
    for prefix, family in _FAMILY_PREFIXES:
        if path.startswith(prefix):
            return family
    return None


class Slot:
    """One request's place in its family's window: when it was sent, and once answered, when the answer came."""

    __slots__ = ("at", "settled")

    def __init__(self, at: float) -> None:
        self.at = at
        self.settled = False


class Governor:
    """Client-side pacing of Graph's throttled families, for callers that send many requests at once.

    Each family's requests are spaced so that no sliding window ever holds more than its limit, and a 429 holds the
    whole family until its `Retry-After` has passed: no request of that family is sent before then. Microsoft counts
    a request when it arrives, which the client cannot see; what it can see is that the request had arrived by the
    time its answer came back. So a request holds its place from when it was sent until it is `settle`d with its
    answer, and from then on the window is counted from the answer: a request that reached Microsoft late (a busy
    event loop, a queued connection) can no longer let the next window's requests arrive inside this one. `margin`
    seconds cover clock granularity on top. A wait that would end after the caller's `deadline()` raises `Throttled`
    at once. Install it around the calls with `governed(governor)`; the process has one
    (`investigation.service.Investigations` owns it), so every investigation shares the windows.
    """

    def __init__(
        self,
        limits: Mapping[str, RateLimit] | None = None,
        *,
        margin: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.limits = dict(MICROSOFT_RATE_LIMITS if limits is None else limits)
        self.margin = margin
        self._clock = clock
        self._sleep = sleep
        self._slots: dict[str, list[Slot]] = {}
        self._held_until: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.throttled = 0  # 429s seen (should stay 0 when the limits are right)

    async def acquire(self, family: str) -> Slot | None:
        """Wait for a place in `family`'s window (first come, first served) and take it; None for a family without
        a limit. Hand the slot to `settle` when the request's answer (or failure) comes back."""
        limit = self.limits.get(family)
        if limit is None:
            return None
        lock = self._locks.setdefault(family, asyncio.Lock())
        async with lock:
            slots = self._slots.setdefault(family, [])
            while True:
                now = self._clock()
                horizon = limit.window_seconds + self.margin
                slots[:] = [slot for slot in slots if slot.at > now - horizon]
                wait = self._held_until.get(family, 0.0) - now
                if len(slots) >= limit.requests:
                    # Settled slots may have moved later while this caller slept: recomputed on every pass.
                    wait = max(wait, min(slot.at for slot in slots) + horizon - now)
                if wait <= 0:
                    slot = Slot(now)
                    slots.append(slot)
                    return slot
                if waits_past_deadline(wait):
                    # Like a 429 whose Retry-After outlasts the caller: say "throttled" now instead of timing out.
                    raise Throttled(f"the {family} window is full for {wait:.1f} s", retry_after=wait, status=429)
                await self._sleep(wait)

    def settle(self, slot: Slot | None) -> None:
        """The request of `slot` was answered (or failed) now: it had arrived by now, so its window counts from now."""
        if slot is not None and not slot.settled:
            slot.at = max(slot.at, self._clock())
            slot.settled = True

    async def wait_out_hold(self, family: str) -> None:
        """Return once no 429 holds `family`: the last check before an acquired request is written, as a request can
        wait for its connection long enough for another request's 429 to arrive in between."""
        while (wait := self._held_until.get(family, 0.0) - self._clock()) > 0:
            if waits_past_deadline(wait):
                raise Throttled(f"the {family} family is held for {wait:.1f} s", retry_after=wait, status=429)
            await self._sleep(wait)

    def hold(self, family: str, seconds: float) -> None:
        """A 429 said "not before `seconds` from now": no request of `family` goes out before then."""
        self.throttled += 1
        until = self._clock() + max(seconds, 0.0)
        self._held_until[family] = max(self._held_until.get(family, 0.0), until)


_governor: contextvars.ContextVar[Governor | None] = contextvars.ContextVar("m365_graph_governor", default=None)


@contextlib.contextmanager
def governed(governor: Governor) -> Iterator[None]:
    """Within this block (and the tasks it starts), Graph calls of throttled families go through `governor`."""
    token = _governor.set(governor)
    try:
        yield
    finally:
        _governor.reset(token)


def route_permission(method: str, path: str) -> str | None:
    """The application permission DESIGN.md lists for this route (path relative to `/v1.0`), if any."""
    for route_method, pattern, permission in ROUTE_PERMISSIONS:
        if route_method == method.upper() and pattern.search(path):
            return permission
    return None


def required_license(route: str, message: str) -> str:
    """Which Entra ID licence a licence error is about: P2 for Identity Protection, P1 for sign-in logs/reports."""
    if "P1" in message and "P2" not in message:
        return ENTRA_ID_P1
    if "/identityProtection/" in route or "P2" in message:
        return ENTRA_ID_P2
    if route.startswith(("/auditLogs/signIns", "/reports/")) or "/auditLogs/signIns" in route:
        return ENTRA_ID_P1
    return ENTRA_ID_P2


def graph_error(
    response: HttpResponse,
    *,
    route: str | None = None,
    permission: str | None = None,
) -> M365Error:
    """The typed error for a failed Graph response.

    `route` is the path relative to the version root (for the permission table); `permission` overrides
    the table when the caller knows better (a PATCH of `accountEnabled` needs another permission than one
    of `passwordProfile`).
    """
    code, message, request_id = error_fields(response.body)
    request_id = request_id or response.header("request-id")
    status = response.status
    text = message or code or f"HTTP {status}"
    if status == 403:
        if _LICENSE_HINT.search(text) or _LICENSE_HINT.search(code):
            licence = required_license(route or response.path, text)
            return LicenseRequired(
                f"The tenant lacks the licence this needs ({licence}): {text}",
                license=licence, status=status, code=code or None, request_id=request_id,
            )
        named = _PERMISSION_NAME.search(text)
        perm = named.group(0) if named else permission or route_permission(response.method, route or response.path)
        what = f"the Microsoft Graph application permission {perm}" if perm else "a Microsoft Graph permission"
        return PermissionDenied(f"The app lacks {what}: {text}", permission=perm, status=status,
                                code=code or None, request_id=request_id)
    if status == 400 and _ON_PREMISES.search(text):
        return OnPremisesMastered(
            f"The user is synchronized from on-premises Active Directory; change it there: {text}",
            status=status, code=code or None, request_id=request_id,
        )
    return standard_error(response, SERVICE, text, code=code or None, request_id=request_id)


@dataclass(frozen=True)
class BatchRequest:
    """One request inside a `$batch`: `url` is relative to the version root, e.g. `/servicePrincipals/{id}`."""

    id: str
    method: str
    url: str
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()  # ids of earlier requests Graph must finish first

    def as_json(self) -> dict[str, Any]:
        """The JSON object Graph expects in `requests`."""
        item: dict[str, Any] = {"id": self.id, "method": self.method, "url": self.url}
        if self.depends_on:
            item["dependsOn"] = list(self.depends_on)
        headers = dict(self.headers)
        if self.body is not None:
            item["body"] = self.body
            headers.setdefault("Content-Type", "application/json")
        if headers:
            item["headers"] = headers
        return item


@dataclass(frozen=True)
class BatchResponse:
    """One answer of a `$batch`."""

    id: str
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None

    @property
    def ok(self) -> bool:
        """True for 2xx."""
        return 200 <= self.status < 300

    def error(self, request: BatchRequest) -> M365Error:
        """The typed error this answer stands for (call when not `ok`)."""
        path = request.url.split("?", 1)[0]
        response = HttpResponse(self.status, CIMultiDictProxy(CIMultiDict(self.headers)), self.body,
                                request.method.upper(), path)
        return graph_error(response, route=path)


class GraphClient:
    """Microsoft Graph over one shared `aiohttp.ClientSession`. See the module docstring."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        tokens: AccessTokens,
        *,
        base_url: str = "https://graph.microsoft.com/v1.0",
        timeout_seconds: float = 20.0,
        retry: RetryPolicy | None = None,
        max_pages: int = DEFAULT_MAX_PAGES,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._base = URL(self.base_url)
        self.max_pages = max_pages
        self._sleep = sleep
        self._transport = Transport(session, tokens, GRAPH_SCOPE, service=SERVICE, timeout_seconds=timeout_seconds,
                                    retry=retry, sleep=sleep)
        # Under a `Governor` the governor waits out 429s (for the whole family), so those sends try once each.
        self._once = Transport(session, tokens, GRAPH_SCOPE, service=SERVICE, timeout_seconds=timeout_seconds,
                               retry=dataclasses.replace(self._transport.retry, max_attempts=1), sleep=sleep)

    # -- low level -------------------------------------------------------------------------------------

    async def get(self, path: str, params: QueryParams | None = None, *, timeout_seconds: float | None = None) -> Any:
        """GET `path` (relative to the version root, already encoded) and return the JSON body."""
        response = await self._send("GET", path, params, timeout_seconds=timeout_seconds)
        return response.body

    async def get_paged(
        self,
        path: str,
        params: QueryParams | None = None,
        *,
        max_pages: int | None = None,
        max_items: int | None = None,
        timeout_seconds: float | None = None,
    ) -> list[dict[str, Any]]:
        """GET a collection and follow `@odata.nextLink` until done, `max_pages` pages, or `max_items` items."""
        page_cap = max_pages or self.max_pages
        items: list[dict[str, Any]] = []
        headers = _consistency_headers(params)
        url: URL | None = build_url(self.base_url, path, params)
        pages = 0
        while url is not None:
            response = await self._paced_send("GET", url, path, map_error=self._mapper(path), headers=headers,
                                              timeout_seconds=timeout_seconds)
            pages += 1
            body = response.body if isinstance(response.body, Mapping) else {}
            value = body.get("value")
            if isinstance(value, list):
                items.extend(v for v in value if isinstance(v, dict))
            if max_items is not None and len(items) >= max_items:
                return items[:max_items]
            next_link = body.get("@odata.nextLink")
            if not isinstance(next_link, str) or not next_link:
                break
            if pages >= page_cap:
                log.warning("Graph %s: stopped after %d pages (%d items); more exist", path, pages, len(items))
                break
            url = self._next_url(next_link)
        return items

    async def post(self, path: str, body: Any = None, *, permission: str | None = None,
                   timeout_seconds: float | None = None) -> Any:
        """POST JSON to `path`; returns the JSON answer (None for 204)."""
        response = await self._send("POST", path, None, body=body, permission=permission,
                                    timeout_seconds=timeout_seconds)
        return response.body

    async def patch(self, path: str, body: Any, *, permission: str | None = None,
                    timeout_seconds: float | None = None) -> Any:
        """PATCH `path` with a JSON body; returns the JSON answer (None for 204)."""
        response = await self._send("PATCH", path, None, body=body, permission=permission,
                                    timeout_seconds=timeout_seconds)
        return response.body

    async def delete(self, path: str, *, permission: str | None = None,
                     timeout_seconds: float | None = None) -> None:
        """DELETE `path` (Graph answers 204); a missing object raises `NotFound`."""
        await self._send("DELETE", path, None, permission=permission, timeout_seconds=timeout_seconds)

    async def batch(self, requests: Sequence[BatchRequest]) -> list[BatchResponse]:
        """Send `requests` through `$batch`, at most 20 per call, in order; answers come back in request order.

        Inner 429/503/504 answers are sent again (only those) after their `Retry-After` or a backoff, within
        the retry policy; what still fails is returned as it is, for the caller to judge per item.
        """
        ids = [r.id for r in requests]
        if len(set(ids)) != len(ids):
            raise ValueError("BatchRequest ids must be unique")
        by_id: dict[str, BatchResponse] = {}
        for start in range(0, len(requests), BATCH_LIMIT):
            chunk = list(requests[start:start + BATCH_LIMIT])
            by_id.update(await self._batch_chunk(chunk))
        return [by_id.get(r.id) or BatchResponse(r.id, 502, {}, {"error": {"message": "no answer in $batch"}})
                for r in requests]

    async def _batch_chunk(self, chunk: list[BatchRequest]) -> dict[str, BatchResponse]:
        policy = self._transport.retry
        pending = chunk
        done: dict[str, BatchResponse] = {}
        waited = 0.0
        attempt = 0
        governor = _governor.get()
        while pending:
            attempt += 1
            slots: list[Slot | None] = []
            if governor is not None:
                for request in pending:
                    family = rate_family(request.url.split("?", 1)[0])
                    if family is not None:
                        slots.append(await governor.acquire(family))
            families = {rate_family(r.url.split("?", 1)[0]) for r in pending} - {None}

            async def held_out(families: set[str | None] = families) -> None:
                for family in families:
                    if governor is not None and family is not None:
                        await governor.wait_out_hold(family)

            try:
                with before_send(held_out):
                    response = await self._send("POST", "/$batch", None,
                                                body={"requests": [r.as_json() for r in pending]})
            finally:
                if governor is not None:
                    for slot in slots:
                        governor.settle(slot)
            answers = _batch_answers(response.body)
            retry: list[BatchRequest] = []
            delay = 0.0
            for request in pending:
                answer = answers.get(request.id)
                if answer is None:
                    continue
                done[request.id] = answer
                if answer.status in RETRY_STATUSES:
                    retry.append(request)
                    after = parse_retry_after(_header(answer.headers, "Retry-After"))
                    wait = after if after is not None else self._transport.backoff(attempt)
                    delay = max(delay, wait)
                    family = rate_family(request.url.split("?", 1)[0])
                    if governor is not None and family is not None and answer.status == 429:
                        governor.hold(family, wait)
            if not retry:
                break
            if attempt >= policy.max_attempts or waited + delay > policy.budget_seconds or waits_past_deadline(delay):
                log.warning("Graph $batch: %d inner requests still throttled/failing after %d attempts",
                            len(retry), attempt)
                break
            log.warning("Graph $batch: %d inner requests throttled; retry in %.2f s", len(retry), delay)
            await self._sleep(delay)
            waited += delay
            pending = retry
        return done

    async def _send(
        self,
        method: str,
        path: str,
        params: QueryParams | None,
        *,
        body: Any = None,
        permission: str | None = None,
        timeout_seconds: float | None = None,
    ) -> HttpResponse:
        url = build_url(self.base_url, path, params)
        return await self._paced_send(method, url, path, map_error=self._mapper(path, permission), json_body=body,
                                      headers=_consistency_headers(params), timeout_seconds=timeout_seconds)

    async def _paced_send(
        self,
        method: str,
        url: URL,
        path: str,
        *,
        map_error: ErrorMapper,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout_seconds: float | None = None,
    ) -> HttpResponse:
        """The transport's `send`, or, under a `Governor` and for a throttled family, one paced try at a time."""
        governor = _governor.get()
        family = rate_family(path.split("?", 1)[0]) if governor is not None else None
        if governor is None or family is None:
            return await self._transport.send(method, url, map_error=map_error, json_body=json_body, headers=headers,
                                              timeout_seconds=timeout_seconds)
        policy = self._transport.retry
        attempt = 0
        while True:
            attempt += 1
            slot = await governor.acquire(family)
            try:
                with before_send(lambda: governor.wait_out_hold(family)):
                    return await self._once.send(method, url, map_error=map_error, json_body=json_body,
                                                 headers=headers, timeout_seconds=timeout_seconds)
            except Throttled as exc:
                delay = exc.retry_after if exc.retry_after is not None else self._transport.backoff(attempt)
                governor.hold(family, delay)
                if attempt >= 2 * policy.max_attempts or waits_past_deadline(delay):
                    raise
                log.warning("Graph %s %s -> 429; the %s family waits %.2f s", method, url.path, family, delay)
            except UpstreamUnavailable:
                governor.settle(slot)
                delay = self._transport.backoff(attempt)
                if attempt >= policy.max_attempts or waits_past_deadline(delay):
                    raise
                await self._sleep(delay)
            finally:
                governor.settle(slot)

    def _mapper(self, path: str, permission: str | None = None) -> ErrorMapper:
        route = path.split("?", 1)[0]

        def mapper(response: HttpResponse) -> M365Error:
            return graph_error(response, route=route, permission=permission)

        return mapper

    def _next_url(self, next_link: str) -> URL:
        url = URL(next_link, encoded=True)
        if not url.is_absolute():
            url = URL(self.base_url + "/" + next_link.lstrip("/"), encoded=True)
        # The token goes wherever the link points: never off the Graph host.
        if url.origin() != self._base.origin():
            raise M365Error(f"Graph returned a nextLink to another host ({url.host}); not followed")
        return url

    # -- directory -------------------------------------------------------------------------------------

    async def get_user(self, id_or_upn: str) -> User:
        """`GET /users/{id or UPN}`; raises `NotFound`."""
        body = await self.get(f"/users/{user_segment(id_or_upn)}", {"$select": User.SELECT})
        return User.from_graph(_mapping(body))

    async def list_users(self, filter_: str | None = None, *, search: str | None = None, top: int = 10) -> list[User]:
        """`GET /users` with `$filter` and/or `$search` (the latter with `$count` and eventual consistency)."""
        params: dict[str, str | int | bool] = {"$select": User.SELECT, "$top": max(1, min(top, MAX_TOP))}
        if filter_:
            params["$filter"] = filter_
        if search:
            params["$search"] = search
            params["$count"] = True
        items = await self.get_paged("/users", params, max_pages=1, max_items=top)
        return [User.from_graph(i) for i in items]

    async def get_organization_domains(self) -> list[tuple[str, bool]]:
        """`GET /organization?$select=verifiedDomains` → [(domain name, is initial domain)]."""
        body = await self.get("/organization", {"$select": "id,verifiedDomains"})
        domains: list[tuple[str, bool]] = []
        for org in _mapping(body).get("value") or []:
            if not isinstance(org, Mapping):
                continue
            for domain in org.get("verifiedDomains") or []:
                if isinstance(domain, Mapping) and isinstance(domain.get("name"), str):
                    domains.append((domain["name"].lower(), domain.get("isInitial") is True))
        return domains

    async def list_memberships(self, user_id: str) -> list[DirectoryObject]:
        """`GET /users/{id}/transitiveMemberOf` (groups and directory roles)."""
        items = await self.get_paged(f"/users/{user_segment(user_id)}/transitiveMemberOf",
                                     {"$select": "id,displayName,roleTemplateId", "$top": MAX_TOP})
        return [DirectoryObject.from_graph(i) for i in items]

    # -- mailbox ---------------------------------------------------------------------------------------

    async def list_inbox_rules(self, user_id: str) -> list[InboxRule]:
        """`GET /users/{id}/mailFolders/inbox/messageRules`."""
        items = await self.get_paged(f"/users/{user_segment(user_id)}/mailFolders/inbox/messageRules")
        return [InboxRule.from_graph(i) for i in items]

    async def get_automatic_replies(self, user_id: str) -> dict[str, Any]:
        """`GET /users/{id}/mailboxSettings/automaticRepliesSetting` (MailboxSettings.Read): the raw setting."""
        body = await self.get(f"/users/{user_segment(user_id)}/mailboxSettings/automaticRepliesSetting")
        return dict(body) if isinstance(body, dict) else {}

    async def set_inbox_rule_enabled(self, user_id: str, rule_id: str, enabled: bool) -> None:
        """`PATCH /users/{id}/mailFolders/inbox/messageRules/{rule}` `{isEnabled}`."""
        await self.patch(f"/users/{user_segment(user_id)}/mailFolders/inbox/messageRules/{path_segment(rule_id)}",
                         {"isEnabled": enabled})

    async def delete_inbox_rule(self, user_id: str, rule_id: str) -> None:
        """`DELETE /users/{id}/mailFolders/inbox/messageRules/{rule}` (Graph v1.0 messagerule-delete.md:
        MailboxSettings.ReadWrite, 204; a rule that is not there is a 404, `NotFound`)."""
        await self.delete(f"/users/{user_segment(user_id)}/mailFolders/inbox/messageRules/{path_segment(rule_id)}",
                          permission="MailboxSettings.ReadWrite")

    async def list_mail_folders(self, user_id: str) -> list[MailFolder]:
        """The top-level folders, each hiding well-known folder marked by the name it resolved from.

        One `$batch`: `GET /users/{id}/mailFolders` and `GET /users/{id}/mailFolders/{well-known name}` for each
        of `HIDING_WELL_KNOWN_FOLDERS` (v1.0 has no property naming a well-known folder; the path segment works
        in every mailbox language). A well-known folder the mailbox lacks (404) is left out.
        """
        requests = mail_folder_requests(user_segment(user_id))
        listed, well_known = read_mail_folder_answers(requests, await self.batch(requests))
        items = items_of(listed)
        if listed.get("@odata.nextLink"):
            items = await self.list_top_mail_folders(user_id)
        return merge_mail_folders(items, well_known)

    async def list_top_mail_folders(self, user_id: str) -> list[dict[str, Any]]:
        """`GET /users/{id}/mailFolders?$select=id,displayName` (top level, every page): the raw items."""
        return await self.get_paged(f"/users/{user_segment(user_id)}/mailFolders",
                                    {"$select": MailFolder.SELECT, "$top": MAIL_FOLDERS_TOP})

    # -- sign-ins and audit ----------------------------------------------------------------------------

    async def list_sign_ins(self, filter_: str, *, limit: int) -> list[SignIn]:
        """`GET /auditLogs/signIns?$filter=…`, newest first as Graph returns them, at most `limit`."""
        items = await self.get_paged("/auditLogs/signIns", {"$filter": filter_, "$top": min(limit, MAX_TOP)},
                                     max_items=limit)
        return [SignIn.from_graph(i) for i in items]

    async def list_message_traces(self, filter_: str, *, limit: int) -> tuple[list[MessageTrace], bool]:
        """`GET /admin/exchange/tracing/messageTraces?$filter=…` (pages of up to 5,000), at most `limit` rows; and
        whether more existed. A 401 here means Microsoft's message-trace service principal is not provisioned
        (the token itself was refreshed and sent again by the transport): `NotProvisioned`."""
        try:
            items = await self.get_paged(MESSAGE_TRACE_PATH, {"$filter": filter_, "$top": min(limit + 1, 5000)},
                                         max_items=limit + 1)
        except AuthenticationFailed as exc:
            raise NotProvisioned(f"Message trace is not available: {exc.message}", what=MESSAGE_TRACE_PRINCIPAL,
                                 status=exc.status, code=exc.code, request_id=exc.request_id) from exc
        return [MessageTrace.from_graph(i) for i in items[:limit]], len(items) > limit

    async def list_directory_audits(self, filter_: str, *, limit: int) -> list[DirectoryAudit]:
        """`GET /auditLogs/directoryAudits?$filter=…`, at most `limit`."""
        items = await self.get_paged("/auditLogs/directoryAudits",
                                     {"$filter": filter_, "$top": min(limit, MAX_TOP)}, max_items=limit)
        return [DirectoryAudit.from_graph(i) for i in items]

    # -- identity protection ---------------------------------------------------------------------------

    async def get_risky_user(self, user_id: str) -> RiskyUser:
        """`GET /identityProtection/riskyUsers/{id}`; raises `NotFound`, `LicenseRequired`."""
        body = await self.get(f"/identityProtection/riskyUsers/{path_segment(user_id)}")
        return RiskyUser.from_graph(_mapping(body))

    async def list_risk_detections(self, user_id: str, since: datetime) -> list[RiskDetection]:
        """`GET /identityProtection/riskDetections?$filter=userId eq … and detectedDateTime ge …`."""
        filter_ = odata.and_([odata.eq("userId", user_id), odata.ge("detectedDateTime", since)])
        items = await self.get_paged("/identityProtection/riskDetections", {"$filter": filter_, "$top": 500})
        return [RiskDetection.from_graph(i) for i in items]

    async def confirm_compromised(self, user_ids: Sequence[str]) -> None:
        """`POST /identityProtection/riskyUsers/confirmCompromised {"userIds": […]}`."""
        await self.post("/identityProtection/riskyUsers/confirmCompromised", {"userIds": list(user_ids)})

    async def dismiss_risk(self, user_ids: Sequence[str]) -> None:
        """`POST /identityProtection/riskyUsers/dismiss {"userIds": […]}`."""
        await self.post("/identityProtection/riskyUsers/dismiss", {"userIds": list(user_ids)})

    # -- authentication methods ------------------------------------------------------------------------

    async def list_auth_methods(self, user_id: str) -> list[AuthMethod]:
        """`GET /users/{id}/authentication/methods`."""
        items = await self.get_paged(f"/users/{user_segment(user_id)}/authentication/methods")
        return [AuthMethod.from_graph(i) for i in items]

    async def get_registration_details(self, user_id: str) -> RegistrationDetails:
        """`GET /reports/authenticationMethods/userRegistrationDetails/{id}`; raises `NotFound`."""
        body = await self.get(f"/reports/authenticationMethods/userRegistrationDetails/{path_segment(user_id)}")
        return RegistrationDetails.from_graph(_mapping(body))

    async def get_auth_method(self, user_id: str, collection: str, method_id: str) -> AuthMethod:
        """`GET /users/{id}/authentication/{collection}/{method id}`; raises `NotFound` once it is gone."""
        body = await self.get(f"/users/{user_segment(user_id)}/authentication/{collection}/{path_segment(method_id)}")
        return AuthMethod.from_graph(_mapping(body), _METHOD_KINDS.get(collection, ""))

    async def delete_auth_method(self, user_id: str, collection: str, method_id: str) -> None:
        """`DELETE /users/{id}/authentication/{collection}/{method id}` (204; 404 `NotFound` when gone)."""
        await self.delete(f"/users/{user_segment(user_id)}/authentication/{collection}/{path_segment(method_id)}",
                          permission="UserAuthenticationMethod.ReadWrite.All")

    # -- consents --------------------------------------------------------------------------------------

    async def list_oauth_grants(self, user_id: str) -> list[OAuthGrant]:
        """`GET /users/{id}/oauth2PermissionGrants`."""
        items = await self.get_paged(f"/users/{user_segment(user_id)}/oauth2PermissionGrants")
        return [OAuthGrant.from_graph(i) for i in items]

    async def get_service_principals(self, ids: Sequence[str]) -> list[ServicePrincipal]:
        """The service principals with these ids, through `$batch`; unknown ids are left out.

        Raises the first non-404 failure (a missing permission, say), since then none can be trusted.
        """
        unique = list(dict.fromkeys(i for i in ids if i))
        select = ServicePrincipal.SELECT
        requests = [BatchRequest(str(n), "GET", f"/servicePrincipals/{path_segment(sp)}?$select={select}")
                    for n, sp in enumerate(unique)]
        out: list[ServicePrincipal] = []
        for request, answer in zip(requests, await self.batch(requests), strict=True):
            if answer.ok:
                out.append(ServicePrincipal.from_graph(_mapping(answer.body)))
            elif answer.status != 404:
                raise answer.error(request)
        return out

    async def get_oauth_grant(self, grant_id: str) -> OAuthGrant:
        """`GET /oauth2PermissionGrants/{id}`; raises `NotFound` once it is revoked."""
        return OAuthGrant.from_graph(_mapping(await self.get(f"/oauth2PermissionGrants/{path_segment(grant_id)}")))

    async def delete_oauth_grant(self, grant_id: str) -> None:
        """`DELETE /oauth2PermissionGrants/{id}` (204; 404 `NotFound` when gone)."""
        await self.delete(f"/oauth2PermissionGrants/{path_segment(grant_id)}",
                          permission="DelegatedPermissionGrant.ReadWrite.All")

    async def list_app_role_assignment_ids(self, user_id: str, resource_id: str) -> list[str]:
        """The ids of the user's app role assignments to the app `resource_id` (its service principal):
        `GET /users/{id}/appRoleAssignments`, filtered here (a user holds few; no query option to depend on)."""
        items = await self.get_paged(f"/users/{user_segment(user_id)}/appRoleAssignments")
        return [str(i.get("id")) for i in items
                if str(i.get("resourceId", "")).lower() == resource_id.lower() and i.get("id")]

    async def delete_app_role_assignment(self, user_id: str, assignment_id: str) -> None:
        """`DELETE /users/{id}/appRoleAssignments/{id}` (204; 404 `NotFound` when gone)."""
        await self.delete(f"/users/{user_segment(user_id)}/appRoleAssignments/{path_segment(assignment_id)}",
                          permission="AppRoleAssignment.ReadWrite.All")

    # -- Defender --------------------------------------------------------------------------------------

    async def list_alerts(self, since: datetime, *, limit: int = 500) -> list[SecurityAlert]:
        """`GET /security/alerts_v2?$filter=createdDateTime ge …`."""
        items = await self.get_paged("/security/alerts_v2",
                                     {"$filter": odata.ge("createdDateTime", since), "$top": min(limit, MAX_TOP)},
                                     max_items=limit)
        return [SecurityAlert.from_graph(i) for i in items]

    # -- account writes --------------------------------------------------------------------------------

    async def revoke_sign_in_sessions(self, user_id: str) -> None:
        """`POST /users/{id}/revokeSignInSessions`."""
        await self.post(f"/users/{user_segment(user_id)}/revokeSignInSessions")

    async def set_account_enabled(self, user_id: str, enabled: bool) -> None:
        """`PATCH /users/{id} {"accountEnabled": …}`; raises `OnPremisesMastered` for synced users."""
        await self.patch(f"/users/{user_segment(user_id)}", {"accountEnabled": enabled},
                         permission="User.EnableDisableAccount.All")

    # -- directory roles (Graph v1.0 directoryrole-list-members.md, directoryrole-delete-member.md) ------------

    async def list_role_members(self, role_template_id: str) -> list[RoleMember]:
        """`GET /directoryRoles(roleTemplateId='{id}')/members?$select=id,accountEnabled`: the role addressed by its
        immutable template id (so no lookup of the tenant's role object id first); at most 1,000 members, no
        `$top` (Microsoft's page says both)."""
        if not _GUID.fullmatch(role_template_id):
            raise ValueError("a role template id is a GUID")
        items = await self.get_paged(f"/directoryRoles(roleTemplateId='{role_template_id}')/members",
                                     {"$select": "id,accountEnabled"})
        return [RoleMember.from_graph(i) for i in items]

    async def remove_role_member(self, role_id: str, user_id: str) -> None:
        """`DELETE /directoryRoles/{role id}/members/{user id}/$ref` (204; 404 `NotFound` when not a member). The
        `/$ref` matters: without it Graph would delete the user object itself."""
        await self.delete(f"/directoryRoles/{path_segment(role_id)}/members/{path_segment(user_id)}/$ref",
                          permission="RoleManagement.ReadWrite.Directory")

    async def force_password_change(self, user_id: str) -> None:
        """`PATCH /users/{id}` with `forceChangePasswordNextSignIn` only: the bot never sets a password."""
        await self.patch(f"/users/{user_segment(user_id)}",
                         {"passwordProfile": {"forceChangePasswordNextSignIn": True}},
                         permission="User.ReadWrite.All")


# A typed method endpoint may leave out `@odata.type`: the kind follows from the collection read.
_METHOD_KINDS: Mapping[str, str] = {collection: kind for kind, collection in METHOD_COLLECTIONS.items()}


def user_segment(id_or_upn: str) -> str:
    """The `/users/{…}` key. A UPN starting with `$` needs Graph's `('…')` key syntax, else it reads as a path."""
    if id_or_upn.startswith("$"):
        return "(" + path_segment(odata.quote(id_or_upn)) + ")"
    return path_segment(id_or_upn)


def mail_folder_requests(user_seg: str, *, prefix: str = "") -> list[BatchRequest]:
    """The `$batch` requests that read one mailbox's folders: first the top-level list, then one GET per
    `HIDING_WELL_KNOWN_FOLDERS` name, in that order (`read_mail_folder_answers` relies on it)."""
    select = MailFolder.SELECT
    requests = [BatchRequest(f"{prefix}list", "GET", f"/users/{user_seg}/mailFolders?$select={select}"
                                                    f"&$top={MAIL_FOLDERS_TOP}")]
    # Outlook runs at most 4 requests per mailbox at once: the well-known reads after the first three wait for the
    # list, so this batch never holds a fifth.
    requests += [BatchRequest(f"{prefix}{name}", "GET", f"/users/{user_seg}/mailFolders/{name}?$select={select}",
                              depends_on=(f"{prefix}list",) if index >= OUTLOOK_CONCURRENCY - 1 else ())
                 for index, name in enumerate(HIDING_WELL_KNOWN_FOLDERS)]
    return requests


def read_mail_folder_answers(
    requests: Sequence[BatchRequest], answers: Sequence[BatchResponse]
) -> tuple[Mapping[str, Any], dict[str, Mapping[str, Any]]]:
    """The list's body and `{well-known name: folder body}` from the answers to `mail_folder_requests`.

    Raises the typed error of the list, or of a well-known read that failed for another reason than absence
    (404: the mailbox has no such folder, e.g. no Archive yet), since then the folders cannot be trusted.
    """
    if not answers[0].ok:
        raise answers[0].error(requests[0])
    well_known: dict[str, Mapping[str, Any]] = {}
    for name, request, answer in zip(HIDING_WELL_KNOWN_FOLDERS, requests[1:], answers[1:], strict=True):
        if answer.ok:
            well_known[name] = _mapping(answer.body)
        elif answer.status != 404:
            raise answer.error(request)
    return _mapping(answers[0].body), well_known


def merge_mail_folders(items: Sequence[Mapping[str, Any]],
                       well_known: Mapping[str, Mapping[str, Any]]) -> list[MailFolder]:
    """Top-level folders with `well_known_name` set on those a well-known name resolved to (by id)."""
    names = {str(body.get("id")): name for name, body in well_known.items() if body.get("id")}
    folders = [MailFolder.from_graph(i, well_known_name=names.pop(str(i.get("id")), None)) for i in items]
    # A well-known folder missing from the list (a later page, say) is still worth knowing by id.
    folders += [MailFolder.from_graph(well_known[name], well_known_name=name) for name in names.values()]
    return folders


def items_of(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The `value` items of a collection body."""
    value = body.get("value")
    return [dict(v) for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _consistency_headers(params: QueryParams | None) -> dict[str, str] | None:
    if not params:
        return None
    keys = params.keys() if isinstance(params, Mapping) else [k for k, _ in params]
    # Advanced queries ($search, $count) are served only from the eventually consistent index.
    if any(k in ("$search", "$count") for k in keys):
        return {"ConsistencyLevel": "eventual"}
    return None


def _mapping(body: Any) -> Mapping[str, Any]:
    if isinstance(body, Mapping):
        return body
    raise M365Error("Microsoft Graph answered without a JSON object")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def _batch_answers(body: Any) -> dict[str, BatchResponse]:
    out: dict[str, BatchResponse] = {}
    responses = body.get("responses") if isinstance(body, Mapping) else None
    if not isinstance(responses, list):
        raise M365Error("Microsoft Graph $batch answered without `responses`")
    for item in responses:
        if not isinstance(item, Mapping):
            continue
        rid = item.get("id")
        status = item.get("status")
        if not isinstance(rid, str) or not isinstance(status, int):
            continue
        headers = item.get("headers")
        out[rid] = BatchResponse(
            id=rid,
            status=status,
            headers={str(k): str(v) for k, v in headers.items()} if isinstance(headers, Mapping) else {},
            body=item.get("body"),
        )
    return out


"""`M365Tenant`: the `m365.protocol.Tenant` the bot uses in production (and against the demo tenant).

It composes `GraphClient` and `ExchangeClient`, returns `m365.records`, and applies the Protocol's rules:
single lookups give None for "does not exist", lists give tuples. `create_tenant(settings, session)`
builds the token provider and both clients over the application's shared `aiohttp.ClientSession`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

import aiohttp

from m365 import odata
from m365.auth import M365Settings, TokenProvider
from m365.errors import M365Error, NotFound, NotProvisioned, PermissionDenied
from m365.exchange import ExchangeClient
from m365.graph import (
    BATCH_LIMIT,
    MAX_TOP,
    BatchRequest,
    GraphClient,
    items_of,
    mail_folder_requests,
    merge_mail_folders,
    read_mail_folder_answers,
    user_segment,
)
from m365.http import RetryPolicy
from m365.protocol import BulkTenant
from m365.records import (
    AuditChange,
    AuthMethod,
    BlockedSender,
    CasMailbox,
    DirectoryAudit,
    DirectoryObject,
    InboxRule,
    Mailbox,
    MailboxGrant,
    MailFolder,
    MessageTraces,
    OAuthGrant,
    OutboundSpamPolicy,
    RegistrationDetails,
    RiskDetection,
    RiskyUser,
    RoleMember,
    SecurityAlert,
    ServicePrincipal,
    SignIn,
    TransportRule,
    User,
    parse_method_item,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

# The unified audit log operations `list_audit_changes` asks for (Exchange admin cmdlets and the mailbox audit's
# UpdateInboxRules, as Microsoft Purview's "Audit log activities" names them): inbox rules, mailbox forwarding,
# mailbox, SendAs and folder permissions, and mail flow rules (attributed to whoever made them).
CHANGE_OPERATIONS: tuple[str, ...] = (
    "New-InboxRule", "Set-InboxRule", "Enable-InboxRule", "Remove-InboxRule", "Disable-InboxRule", "UpdateInboxRules",
    "Set-Mailbox", "Add-MailboxPermission", "Remove-MailboxPermission", "Add-RecipientPermission",
    "Remove-RecipientPermission", "Add-MailboxFolderPermission", "Set-MailboxFolderPermission",
    "New-TransportRule", "Set-TransportRule", "Enable-TransportRule",
)
# Entra audit activities of a new app foothold (Microsoft Entra "Audit log activities" reference, category
# ApplicationManagement): a service principal, its credentials, consent and app-only permission grants. The
# credentials activity's name has an en dash and a trailing space, as Entra writes it.
APP_ACTIVITIES: tuple[str, ...] = (
    "Add service principal", "Add service principal credentials",
    "Update application \u2013 Certificates and secrets management ", "Consent to application",
    "Add app role assignment to service principal", "Add delegated permission grant",
)
APP_AUDIT_LIMIT = 500
# Tenant-wide reads whose windows start this close together share one request (`M365Tenant._tenant_wide`).
SHARED_READ_SLACK = timedelta(minutes=1)

# Longest URL-encoded `$filter` sent in one request. Graph and its front ends start failing somewhere
# above 2,000 characters of URL; the rest of the URL (host, path, $top) fits in the difference.
MAX_FILTER_CHARS = 1800
# `$batch` calls in flight at once per bulk read (each carries up to 20 requests).
BATCH_CONCURRENCY = 6
# No cap on a bulk query's items: the per-user limit is applied after grouping, so no user's records are cut
# off by another user's volume (the page cap of `GraphClient.get_paged` still bounds it).
_UNBOUNDED = 10**9

# Graph's message trace and Get-MessageTraceV2 answer at most 10 days per query.
MESSAGE_TRACE_MAX_SPAN = timedelta(days=10)
# How long a refusal of Graph's message trace (not provisioned, no permission) sends reads to Exchange directly;
# after it Graph is asked again, so provisioning the service principal takes effect without a restart.
TRACE_REFUSAL_MEMORY_SECONDS = 600.0

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_ADDRESS = re.compile(r"^[^\s@]+@[^\s@]+\.[^\s@]+$")
_SEARCH_NOISE = re.compile(r'["\\]+')


class _Closeable(Protocol):
    def close(self) -> None: ...


class M365Tenant:
    """One Microsoft 365 tenant over Graph and Exchange Online (implements `m365.protocol.Tenant`).

    It closes only what it is handed in `owned` (what `create_tenant` built for it); the clients' HTTP
    session belongs to the application.
    """

    def __init__(
        self,
        graph: GraphClient,
        exchange: ExchangeClient,
        *,
        tenant_id: str,
        owned: Sequence[_Closeable] = (),
    ) -> None:
        self.graph = graph
        self.exchange = exchange
        self._tenant_id = tenant_id
        self._owned = list(owned)
        self._domains: tuple[str, ...] | None = None
        self._initial_domain: str | None = None
        self._domains_lock = asyncio.Lock()
        # When Graph's message trace last refused (and how): the next reads go straight to Exchange for a while.
        self._trace_refused: tuple[float, NotProvisioned | PermissionDenied] | None = None
        # Tenant-wide reads in flight: (window start, the read, [callers waiting on it]).
        self._in_flight: dict[str, tuple[datetime, asyncio.Future[Any], list[int]]] = {}

    @property
    def tenant_id(self) -> str:
        """The Entra tenant id (GUID)."""
        return self._tenant_id

    async def close(self) -> None:
        """Release what this tenant owns (the token provider's msal HTTP sessions)."""
        for item in self._owned:
            item.close()
        self._owned.clear()

    async def __aenter__(self) -> M365Tenant:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def ping(self) -> None:
        """A cheap authenticated Graph call (`/organization?$select=id`); raises `M365Error` when unreachable."""
        await self.graph.get("/organization", {"$select": "id"})

    # -- directory -------------------------------------------------------------------------------------

    async def get_user(self, id_or_upn: str) -> User | None:
        """The user with this object id or UPN, or None."""
        if not id_or_upn.strip():
            return None
        try:
            return await self.graph.get_user(id_or_upn.strip())
        except NotFound:
            return None

    async def find_users(self, text: str, *, top: int = 10) -> tuple[User, ...]:
        """Users whose UPN, mail, alias or proxy address equals `text`, or whose display name matches it.

        Exact matches (object id, address, alias) come first, then display-name matches; no duplicates.
        """
        text = text.strip()
        if not text or top < 1:
            return ()
        if _GUID.match(text):
            user = await self.get_user(text)
            return (user,) if user else ()
        lookups: list[asyncio.Task[list[User]]] = []
        # `$search` tokenizes display names on punctuation, so quotes and backslashes in the text can only make
        # the clause unparseable (Graph answers 400); searching for the words around them finds the same names.
        words = " ".join(_SEARCH_NOISE.sub(" ", text).split())
        try:
            async with asyncio.TaskGroup() as group:
                if _ADDRESS.match(text):
                    filter_ = odata.or_([
                        odata.eq("userPrincipalName", text),
                        odata.eq("mail", text),
                        odata.any_eq("proxyAddresses", f"smtp:{text}"),
                    ])
                    lookups.append(group.create_task(self.graph.list_users(filter_, top=top)))
                else:
                    if not any(c.isspace() for c in text):
                        lookups.append(group.create_task(
                            self.graph.list_users(odata.eq("mailNickname", text), top=top)))
                    if words:
                        lookups.append(group.create_task(
                            self.graph.list_users(search=odata.search_phrase("displayName", words), top=top)))
        except ExceptionGroup as group_error:
            # Callers handle `M365Error`; a TaskGroup wraps it. Surface the first failure as itself.
            raise group_error.exceptions[0] from None
        seen: set[str] = set()
        found: list[User] = []
        for task in lookups:
            for user in task.result():
                if user.id and user.id not in seen:
                    seen.add(user.id)
                    found.append(user)
        return tuple(found[:top])

    async def list_verified_domains(self) -> tuple[str, ...]:
        """The tenant's verified domains (lower case); asked once per instance."""
        await self._load_domains()
        assert self._domains is not None
        return self._domains

    async def initial_domain(self) -> str:
        """The tenant's initial `*.onmicrosoft.com` domain (Exchange's anchor mailbox lives there)."""
        await self._load_domains()
        if not self._initial_domain:
            raise NotFound("The tenant reports no initial domain")
        return self._initial_domain

    async def _load_domains(self) -> None:
        if self._domains is not None:
            return
        async with self._domains_lock:
            if self._domains is None:
                pairs = await self.graph.get_organization_domains()
                self._initial_domain = next((name for name, initial in pairs if initial), None)
                self._domains = tuple(dict.fromkeys(name for name, _ in pairs))

    async def list_memberships(self, user_id: str) -> tuple[DirectoryObject, ...]:
        """Groups and directory roles the user belongs to, transitively."""
        return tuple(await self.graph.list_memberships(user_id))

    # -- restriction (Exchange) ------------------------------------------------------------------------

    async def get_blocked_sender(self, address: str) -> BlockedSender | None:
        """The Restricted entities entry for this address, or None when it may send."""
        try:
            entries = await self.exchange.get_blocked_senders(address)
        except NotFound:
            return None
        wanted = address.lower()
        # The cmdlet filters server-side; match anyway so a loose server answer cannot name someone else.
        for entry in entries:
            if entry.sender_address.lower() == wanted:
                return entry
        return None

    async def list_blocked_senders(self) -> tuple[BlockedSender, ...]:
        """Every restricted sender of the tenant."""
        return tuple(await self.exchange.get_blocked_senders())

    async def remove_blocked_sender(self, address: str) -> None:
        """Take the address off Restricted entities. Raises `UnblockLimitReached` past Microsoft's limit."""
        await self.exchange.remove_blocked_sender(address)

    # -- mailbox (Exchange) ----------------------------------------------------------------------------

    async def get_mailbox(self, identity: str) -> Mailbox | None:
        """`Get-Mailbox`, or None when the user has no mailbox."""
        try:
            return await self.exchange.get_mailbox(identity)
        except NotFound:
            return None

    async def get_cas_mailbox(self, identity: str) -> CasMailbox | None:
        """`Get-CASMailbox`, or None when the user has no mailbox."""
        try:
            return await self.exchange.get_cas_mailbox(identity)
        except NotFound:
            return None

    async def remove_mailbox_forwarding(self, identity: str) -> None:
        """`Set-Mailbox` with forwarding cleared."""
        await self.exchange.remove_mailbox_forwarding(identity)

    async def list_mailbox_grants(self, identity: str) -> tuple[MailboxGrant, ...]:
        """FullAccess, SendAs and inbox folder grants to others (three cmdlets at once); `NotFound` without a mailbox.

        An inbox the folder cmdlet cannot find while the mailbox exists (`:\\Inbox` names the folder by its display
        name, which a mailbox in another language may not use) leaves the folder grants out, logged.
        """
        full, send_as, folder = await asyncio.gather(
            self.exchange.get_mailbox_permissions(identity),
            self.exchange.get_recipient_permissions(identity),
            self.exchange.get_mailbox_folder_permissions(identity, "Inbox"),
            return_exceptions=True,
        )
        if isinstance(full, BaseException):
            raise full
        if isinstance(send_as, BaseException):
            raise send_as
        if isinstance(folder, NotFound):
            log.info("Exchange: no folder 'Inbox' in the mailbox; its folder permissions were not read")
            folder = []
        elif isinstance(folder, BaseException):
            raise folder
        return (*full, *send_as, *folder)

    async def remove_mailbox_grant(self, identity: str, grant: MailboxGrant) -> None:
        """Take one grant off the mailbox (the cmdlet follows from its kind); `NotFound` when it is not there."""
        await self.exchange.remove_mailbox_grant(identity, grant)

    async def disable_legacy_protocols(self, identity: str, protocols: Sequence[str]) -> None:
        """`Set-CASMailbox` turning off the named protocols (`imap`, `pop`, `smtp_auth`)."""
        await self.exchange.disable_legacy_protocols(identity, protocols)

    # -- mailbox (Graph) -------------------------------------------------------------------------------

    async def list_inbox_rules(self, user_id: str) -> tuple[InboxRule, ...]:
        """The inbox rules of the user's mailbox."""
        return tuple(await self.graph.list_inbox_rules(user_id))

    async def set_inbox_rule_enabled(self, user_id: str, rule_id: str, enabled: bool) -> None:
        """Enable or disable one inbox rule."""
        await self.graph.set_inbox_rule_enabled(user_id, rule_id, enabled)

    async def delete_inbox_rule(self, user_id: str, rule_id: str) -> None:
        """See `Tenant.delete_inbox_rule`."""
        await self.graph.delete_inbox_rule(user_id, rule_id)

    async def get_inbox_rules(self, identity: str) -> tuple[InboxRule, ...]:
        """`Get-InboxRule -Mailbox identity -IncludeHidden` (Exchange): hidden rules included; () without a mailbox
        (Graph's rules already say "no mailbox")."""
        try:
            return tuple(await self.exchange.get_inbox_rules(identity, include_hidden=True))
        except NotFound:
            return ()

    async def disable_exchange_inbox_rule(self, identity: str, rule_identity: str) -> None:
        """See `Tenant.disable_exchange_inbox_rule`."""
        await self.exchange.disable_inbox_rule(identity, rule_identity)

    async def remove_exchange_inbox_rule(self, identity: str, rule_identity: str) -> None:
        """See `Tenant.remove_exchange_inbox_rule`."""
        await self.exchange.remove_inbox_rule(identity, rule_identity)

    async def get_auto_reply_enabled(self, user_id: str) -> bool:
        """Whether automatic replies are on: `alwaysEnabled`, or `scheduled` (an attacker's schedule counts too)."""
        setting = await self.graph.get_automatic_replies(user_id)
        return str(setting.get("status") or "disabled") != "disabled"

    async def list_mail_folders(self, user_id: str) -> tuple[MailFolder, ...]:
        """Top-level mail folders, to name the target of a move rule; the hiding well-known folders (Deleted
        Items, Junk Email, Archive, Conversation History) carry the well-known name they resolved from."""
        return tuple(await self.graph.list_mail_folders(user_id))

    # -- sign-ins and audit ----------------------------------------------------------------------------

    async def list_sign_ins(self, user_id: str, since: datetime, *, limit: int = 500) -> tuple[SignIn, ...]:
        """Sign-ins of the user since `since`, newest first."""
        filter_ = odata.and_([odata.eq("userId", user_id), odata.ge("createdDateTime", since)])
        return _newest_first(await self.graph.list_sign_ins(filter_, limit=limit), lambda s: s.created)

    async def list_directory_audits(self, user_id: str, since: datetime, *, limit: int = 200) -> tuple[
        DirectoryAudit, ...
    ]:
        """Directory audit records that target the user since `since`."""
        filter_ = odata.and_([odata.any_eq("targetResources", user_id, member="id", var="t"),
                              odata.ge("activityDateTime", since)])
        return _newest_first(await self.graph.list_directory_audits(filter_, limit=limit), lambda a: a.activity_time)

    # -- changes and tenant-wide traps (tenant-wide reads; the investigation filters them per account) ---------------

    async def list_audit_changes(self, since: datetime) -> tuple[AuditChange, ...]:
        """`Search-UnifiedAuditLog` for `CHANGE_OPERATIONS` from `since` to now, tenant-wide, newest first."""
        async def read(start: datetime) -> tuple[AuditChange, ...]:
            return tuple(await self.exchange.search_unified_audit_log(start, datetime.now(UTC), CHANGE_OPERATIONS))

        changes = await self._tenant_wide("audit_changes", since, read)
        return tuple(c for c in changes if c.time is None or c.time >= since)

    async def list_transport_rules(self) -> tuple[TransportRule, ...]:
        """`Get-TransportRule`: every mail flow rule."""
        async def read(start: datetime) -> tuple[TransportRule, ...]:
            return tuple(await self.exchange.get_transport_rules())

        return await self._tenant_wide("transport_rules", datetime.now(UTC), read)

    async def list_outbound_spam_policies(self) -> tuple[OutboundSpamPolicy, ...]:
        """`Get-HostedOutboundSpamFilterPolicy`: every outbound spam policy."""
        return tuple(await self.exchange.get_outbound_spam_policies())

    async def list_app_audits(self, since: datetime) -> tuple[DirectoryAudit, ...]:
        """Directory audits of `APP_ACTIVITIES` since `since`, tenant-wide (one filtered read), newest first."""
        async def read(start: datetime) -> tuple[DirectoryAudit, ...]:
            filter_ = odata.and_([odata.ge("activityDateTime", start),
                                  odata.or_([odata.eq("activityDisplayName", a) for a in APP_ACTIVITIES])])
            return _newest_first(await self.graph.list_directory_audits(filter_, limit=APP_AUDIT_LIMIT),
                                 lambda a: a.activity_time)

        audits = await self._tenant_wide("app_audits", since, read)
        return tuple(a for a in audits if a.activity_time is None or a.activity_time >= since)

    async def _tenant_wide(self, name: str, since: datetime,
                           read: Callable[[datetime], Awaitable[tuple[T, ...]]]) -> tuple[T, ...]:
        """One in-flight read of a tenant-wide source, shared by every caller asking while it runs (a watch round and
        a triage starting together) whose window starts within `SHARED_READ_SLACK` of it; the read starts that much
        earlier, so each sharer's window is inside it. Nothing is kept once the read ends: a later investigation
        reads afresh. A caller that gives up (its timeout) leaves the read to the others; the last one to give up
        cancels it, so no request outlives every investigation that wanted it."""
        running = self._in_flight.get(name)
        if running is None or abs(running[0] - since) > SHARED_READ_SLACK or running[1].done():
            task: asyncio.Future[Any] = asyncio.ensure_future(read(since - SHARED_READ_SLACK))
            running = self._in_flight[name] = (since, task, [0])

            def forget(done: asyncio.Future[Any]) -> None:
                if name in self._in_flight and self._in_flight[name][1] is done:
                    del self._in_flight[name]
                if not done.cancelled():
                    done.exception()  # retrieved here: the callers may all have given up on it

            task.add_done_callback(forget)
        _, shared, waiters = running
        waiters[0] += 1
        try:
            result: tuple[T, ...] = await asyncio.shield(shared)
            return result
        finally:
            waiters[0] -= 1
            if waiters[0] == 0 and not shared.done():
                shared.cancel()

    # -- bulk reads (`m365.protocol.BulkTenant`): many users per request, a failure per user, never raised ------

    async def users_by_id(self, user_ids: Sequence[str]) -> dict[str, User | None | M365Error]:
        """`GET /users/{id}` for each id through `$batch`; None for an unknown id."""
        query = _query({"$select": User.SELECT})
        out: dict[str, User | None | M365Error] = {}
        for user_id, answer in (await self._batch_get(user_ids, lambda seg: f"/users/{seg}?{query}")).items():
            if isinstance(answer, NotFound):
                out[user_id] = None
            elif isinstance(answer, M365Error):
                out[user_id] = answer
            else:
                out[user_id] = User.from_graph(answer if isinstance(answer, Mapping) else {})
        return out

    async def inbox_rules_by_user(self, user_ids: Sequence[str]) -> dict[str, tuple[InboxRule, ...] | M365Error]:
        """Each user's inbox rules, through `$batch`."""
        return await self._batched(user_ids, lambda seg: f"/users/{seg}/mailFolders/inbox/messageRules",
                                   lambda items: tuple(InboxRule.from_graph(i) for i in items),
                                   single=self.list_inbox_rules)

    async def mail_folders_by_user(self, user_ids: Sequence[str]) -> dict[str, tuple[MailFolder, ...] | M365Error]:
        """Each user's top-level mail folders with the hiding well-known ones named (as `list_mail_folders`),
        through `$batch`: one user's requests always share one `$batch`, so its answers arrive together."""
        ids = list(dict.fromkeys(i for i in user_ids if i))
        per_user = len(mail_folder_requests(""))
        group_size = max(1, BATCH_LIMIT // per_user)
        out: dict[str, tuple[MailFolder, ...] | M365Error] = {}
        gate = asyncio.Semaphore(BATCH_CONCURRENCY)

        async def one(group: list[str]) -> None:
            plan = [(i, mail_folder_requests(user_segment(i), prefix=f"{n}-")) for n, i in enumerate(group)]
            async with gate:
                try:
                    answers = await self.graph.batch([r for _, requests in plan for r in requests])
                except M365Error as exc:
                    out.update({i: exc for i in group})
                    return
            for n, (user_id, requests) in enumerate(plan):
                try:
                    listed, well_known = read_mail_folder_answers(
                        requests, answers[n * per_user:(n + 1) * per_user])
                    items = items_of(listed)
                    if listed.get("@odata.nextLink"):
                        items = await self.graph.list_top_mail_folders(user_id)
                    out[user_id] = tuple(merge_mail_folders(items, well_known))
                except M365Error as exc:
                    out[user_id] = exc

        await asyncio.gather(*(one(ids[n:n + group_size]) for n in range(0, len(ids), group_size)))
        return out

    async def auth_methods_by_user(self, user_ids: Sequence[str]) -> dict[str, tuple[AuthMethod, ...] | M365Error]:
        """Each user's authentication methods, through `$batch`."""
        return await self._batched(user_ids, lambda seg: f"/users/{seg}/authentication/methods",
                                   lambda items: tuple(AuthMethod.from_graph(i) for i in items),
                                   single=self.list_auth_methods)

    async def oauth_grants_by_user(self, user_ids: Sequence[str]) -> dict[str, tuple[OAuthGrant, ...] | M365Error]:
        """Each user's delegated permission grants, through `$batch`."""
        return await self._batched(user_ids, lambda seg: f"/users/{seg}/oauth2PermissionGrants",
                                   lambda items: tuple(OAuthGrant.from_graph(i) for i in items),
                                   single=self.list_oauth_grants)

    async def memberships_by_user(self, user_ids: Sequence[str]) -> dict[str, tuple[DirectoryObject, ...] | M365Error]:
        """Each user's transitive groups and roles, through `$batch`."""
        query = _query({"$select": "id,displayName,roleTemplateId", "$top": MAX_TOP})
        return await self._batched(user_ids, lambda seg: f"/users/{seg}/transitiveMemberOf?{query}",
                                   lambda items: tuple(DirectoryObject.from_graph(i) for i in items),
                                   single=self.list_memberships)

    async def sign_ins_by_user(
        self, user_ids: Sequence[str], since: datetime, *, limit_per_user: int = 500
    ) -> dict[str, tuple[SignIn, ...] | M365Error]:
        """Sign-ins of many users since `since`, `(userId eq … or …)` chunked to the URL limit; newest first, at
        most `limit_per_user` each. A chunk that fails marks its users failed; the other chunks stand."""
        when = odata.ge("createdDateTime", since)

        def render(chunk: Sequence[str]) -> str:
            return odata.and_([odata.or_([odata.eq("userId", i) for i in chunk]), when])

        async def fetch(filter_: str) -> list[SignIn]:
            return await self.graph.list_sign_ins(filter_, limit=_UNBOUNDED)

        return await self._filtered(user_ids, render, fetch, lambda s: (s.user_id,), lambda s: s.created,
                                    limit_per_user)

    async def directory_audits_by_user(
        self, user_ids: Sequence[str], since: datetime, *, limit_per_user: int = 200
    ) -> dict[str, tuple[DirectoryAudit, ...] | M365Error]:
        """Directory audits targeting many users since `since`, chunked like `sign_ins_by_user`; a record that
        targets two of them is listed under both."""
        when = odata.ge("activityDateTime", since)

        def render(chunk: Sequence[str]) -> str:
            return odata.and_([odata.or_([odata.any_eq("targetResources", i, member="id", var="t") for i in chunk]),
                               when])

        async def fetch(filter_: str) -> list[DirectoryAudit]:
            return await self.graph.list_directory_audits(filter_, limit=_UNBOUNDED)

        return await self._filtered(user_ids, render, fetch, lambda a: tuple(dict.fromkeys(a.target_ids)),
                                    lambda a: a.activity_time, limit_per_user)

    async def risk_detections_by_user(
        self, user_ids: Sequence[str], since: datetime
    ) -> dict[str, tuple[RiskDetection, ...] | M365Error]:
        """Risk detections of many users since `since`, chunked like `sign_ins_by_user`; newest first."""
        when = odata.ge("detectedDateTime", since)

        def render(chunk: Sequence[str]) -> str:
            return odata.and_([odata.or_([odata.eq("userId", i) for i in chunk]), when])

        async def fetch(filter_: str) -> list[RiskDetection]:
            items = await self.graph.get_paged("/identityProtection/riskDetections", {"$filter": filter_, "$top": 500})
            return [RiskDetection.from_graph(i) for i in items]

        return await self._filtered(user_ids, render, fetch, lambda d: (d.user_id,), lambda d: d.detected, None)

    async def risky_users_by_user(self, user_ids: Sequence[str]) -> dict[str, RiskyUser | None | M365Error]:
        """Identity Protection's record of many users (`id in (…)`); None for a user it has no record of."""

        async def fetch(filter_: str) -> list[RiskyUser]:
            items = await self.graph.get_paged("/identityProtection/riskyUsers", {"$filter": filter_, "$top": 500})
            return [RiskyUser.from_graph(i) for i in items]

        found = await self._filtered(user_ids, lambda chunk: _in("id", chunk), fetch, lambda r: (r.id,), None, 1)
        return {k: (v if isinstance(v, M365Error) else (v[0] if v else None)) for k, v in found.items()}

    async def registration_by_user(self, user_ids: Sequence[str]) -> dict[str, RegistrationDetails | None | M365Error]:
        """The MFA registration summaries of many users (`id in (…)`); None for a user the report lacks."""

        async def fetch(filter_: str) -> list[RegistrationDetails]:
            items = await self.graph.get_paged("/reports/authenticationMethods/userRegistrationDetails",
                                               {"$filter": filter_, "$top": MAX_TOP})
            return [RegistrationDetails.from_graph(i) for i in items]

        found = await self._filtered(user_ids, lambda chunk: _in("id", chunk), fetch, lambda r: (r.id,), None, 1)
        return {k: (v if isinstance(v, M365Error) else (v[0] if v else None)) for k, v in found.items()}

    async def _filtered(
        self,
        user_ids: Sequence[str],
        render: Callable[[Sequence[str]], str],
        fetch: Callable[[str], Awaitable[list[T]]],
        owners: Callable[[T], Sequence[str]],
        when: Callable[[T], datetime | None] | None,
        limit_per_user: int | None,
    ) -> dict[str, tuple[T, ...] | M365Error]:
        """One filtered query per URL-sized chunk of `user_ids`, all chunks at once (a `Governor` paces them)."""
        ids = list(dict.fromkeys(i for i in user_ids if i))
        out: dict[str, tuple[T, ...] | M365Error] = {}
        lowered = {i.lower(): i for i in ids}

        async def one(chunk: list[str]) -> None:
            try:
                items = await fetch(render(chunk))
            except M365Error as exc:
                out.update({i: exc for i in chunk})
                return
            found: dict[str, list[T]] = {i: [] for i in chunk}
            for item in items:
                for owner in owners(item):
                    key = lowered.get(owner.lower())
                    if key in found:
                        found[key].append(item)
            for key, values in found.items():
                ordered = _newest_first(values, when) if when is not None else tuple(values)
                out[key] = ordered[:limit_per_user] if limit_per_user is not None else ordered

        await asyncio.gather(*(one(c) for c in odata.chunk_filters(ids, render, max_encoded_length=MAX_FILTER_CHARS)))
        return out

    async def _batched(
        self,
        user_ids: Sequence[str],
        url: Callable[[str], str],
        parse: Callable[[list[Mapping[str, Any]]], T],
        *,
        single: Callable[[str], Awaitable[T]],
    ) -> dict[str, T | M365Error]:
        """One GET of a collection per user through `$batch`; a collection that pages is read again on its own."""
        out: dict[str, T | M365Error] = {}
        for user_id, answer in (await self._batch_get(user_ids, url)).items():
            if isinstance(answer, M365Error):
                out[user_id] = answer
                continue
            body = answer if isinstance(answer, Mapping) else {}
            if body.get("@odata.nextLink"):
                try:
                    out[user_id] = await single(user_id)
                except M365Error as exc:
                    out[user_id] = exc
                continue
            value = body.get("value")
            out[user_id] = parse([v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else [])
        return out

    async def _batch_get(self, user_ids: Sequence[str], url: Callable[[str], str]) -> dict[str, Any]:
        """Each user's answer body (or its `M365Error`) for `GET url(user)`, 20 per `$batch`, several at once."""
        ids = list(dict.fromkeys(i for i in user_ids if i))
        pairs = [(i, BatchRequest(str(n), "GET", url(user_segment(i)))) for n, i in enumerate(ids)]
        out: dict[str, Any] = {}
        gate = asyncio.Semaphore(BATCH_CONCURRENCY)

        async def one(group: list[tuple[str, BatchRequest]]) -> None:
            async with gate:
                try:
                    answers = await self.graph.batch([r for _, r in group])
                except M365Error as exc:
                    out.update({i: exc for i, _ in group})
                    return
            for (user_id, request), answer in zip(group, answers, strict=True):
                out[user_id] = answer.body if answer.ok else answer.error(request)

        await asyncio.gather(*(one(pairs[n:n + BATCH_LIMIT]) for n in range(0, len(pairs), BATCH_LIMIT)))
        return out

    async def list_sign_ins_for_users(
        self,
        user_ids: Sequence[str],
        since: datetime,
        *,
        limit_per_request: int = 1000,
    ) -> dict[str, tuple[SignIn, ...]]:
        """Sign-ins of several users since `since` (`userId eq … or …`), in as few requests as the URL allows.

        Sign-in logs are throttled hard (about 5 requests per 10 s), so one filter over many users beats one
        request each. Every requested id is a key; values are newest first.
        """
        ids = list(dict.fromkeys(user_ids))
        out: dict[str, list[SignIn]] = {i: [] for i in ids}
        when = odata.ge("createdDateTime", since)

        def render(chunk: Sequence[str]) -> str:
            return odata.and_([odata.or_([odata.eq("userId", i) for i in chunk]), when])

        for chunk in odata.chunk_filters(ids, render, max_encoded_length=MAX_FILTER_CHARS):
            for sign_in in await self.graph.list_sign_ins(render(chunk), limit=limit_per_request):
                if sign_in.user_id in out:
                    out[sign_in.user_id].append(sign_in)
        return {k: _newest_first(v, lambda s: s.created) for k, v in out.items()}

    async def list_directory_audits_for_users(
        self,
        user_ids: Sequence[str],
        since: datetime,
        *,
        limit_per_request: int = 1000,
    ) -> dict[str, tuple[DirectoryAudit, ...]]:
        """Directory audits targeting any of several users since `since`, chunked like `list_sign_ins_for_users`.

        An audit record that targets two of the users is listed under both.
        """
        ids = list(dict.fromkeys(user_ids))
        out: dict[str, list[DirectoryAudit]] = {i: [] for i in ids}
        when = odata.ge("activityDateTime", since)

        def render(chunk: Sequence[str]) -> str:
            targets = [odata.any_eq("targetResources", i, member="id", var="t") for i in chunk]
            return odata.and_([odata.or_(targets), when])

        for chunk in odata.chunk_filters(ids, render, max_encoded_length=MAX_FILTER_CHARS):
            for audit in await self.graph.list_directory_audits(render(chunk), limit=limit_per_request):
                for target in dict.fromkeys(audit.target_ids):
                    if target in out:
                        out[target].append(audit)
        return {k: _newest_first(v, lambda a: a.activity_time) for k, v in out.items()}

    # -- message trace ---------------------------------------------------------------------------------

    async def list_message_traces(self, sender: str, since: datetime, until: datetime, *,
                                  limit: int = 5000) -> MessageTraces:
        """The mail `sender` sent in [`since`, `until`] (clipped to Microsoft's 10 days), oldest first, capped.

        Graph first (`senderAddress eq` and both `receivedDateTime` bounds, as the API requires for a period); when
        Graph refuses (the message-trace service principal is not provisioned: 401; or the permission is missing)
        Exchange's `Get-MessageTraceV2` with the same sender and period. When that fails too, Graph's reason is the
        one raised: provisioning the principal (or granting the permission) is the fix the admin should make.
        """
        since = max(since, until - MESSAGE_TRACE_MAX_SPAN)
        filter_ = odata.and_([odata.eq("senderAddress", sender), odata.ge("receivedDateTime", since),
                              f"receivedDateTime le {odata.datetime_literal(until)}"])
        refused = self._trace_refused
        if refused is not None and time.monotonic() - refused[0] > TRACE_REFUSAL_MEMORY_SECONDS:
            refused = self._trace_refused = None
        try:
            if refused is not None:
                # Graph said no a moment ago (a 401 costs a token refresh and a second try): go to Exchange at once.
                raise _fresh_refusal(refused[1])
            rows, capped = await self.graph.list_message_traces(filter_, limit=limit)
            via = "graph"
        except (NotProvisioned, PermissionDenied) as graph_refusal:
            if refused is None:
                log.info("message trace: Graph refused (%s); trying Get-MessageTraceV2", type(graph_refusal).__name__)
                self._trace_refused = (time.monotonic(), graph_refusal)
            try:
                rows, capped = await self.exchange.get_message_trace(sender, since, until, limit=limit)
            except M365Error as fallback:
                log.info("message trace: Get-MessageTraceV2 failed too (%s)", type(fallback).__name__)
                raise graph_refusal from fallback
            via = "exchange"
        ordered = sorted(rows, key=lambda r: (r.received is None, r.received or since))
        return MessageTraces(rows=tuple(ordered), since=since, until=until, capped=capped, cap=limit, via=via)

    # -- Identity Protection ---------------------------------------------------------------------------

    async def get_risky_user(self, user_id: str) -> RiskyUser | None:
        """The user's risk, or None when Identity Protection has no record of them."""
        try:
            return await self.graph.get_risky_user(user_id)
        except NotFound:
            return None

    async def list_risk_detections(self, user_id: str, since: datetime) -> tuple[RiskDetection, ...]:
        """Risk detections of the user since `since`."""
        return _newest_first(await self.graph.list_risk_detections(user_id, since), lambda d: d.detected)

    async def confirm_compromised(self, user_id: str) -> None:
        """Mark the user confirmed compromised (risk high)."""
        await self.graph.confirm_compromised([user_id])

    async def dismiss_risk(self, user_id: str) -> None:
        """Dismiss the user's risk."""
        await self.graph.dismiss_risk([user_id])

    # -- authentication methods ------------------------------------------------------------------------

    async def list_auth_methods(self, user_id: str) -> tuple[AuthMethod, ...]:
        """Registered authentication methods, the password included."""
        return tuple(await self.graph.list_auth_methods(user_id))

    async def get_registration_details(self, user_id: str) -> RegistrationDetails | None:
        """MFA registration summary from the authentication methods report."""
        try:
            return await self.graph.get_registration_details(user_id)
        except NotFound:
            return None

    async def remove_auth_method(self, user_id: str, item_id: str) -> None:
        """Remove one authentication method (`AuthMethod.item_id`); `NotFound` when it is gone already."""
        parsed = parse_method_item(item_id)
        if parsed is None:
            raise ValueError("not a removable authentication method id")
        await self.graph.delete_auth_method(user_id, *parsed)

    async def get_auth_method(self, user_id: str, item_id: str) -> AuthMethod | None:
        """One authentication method (`AuthMethod.item_id`), or None when it is gone."""
        parsed = parse_method_item(item_id)
        if parsed is None:
            raise ValueError("not a removable authentication method id")
        try:
            return await self.graph.get_auth_method(user_id, *parsed)
        except NotFound:
            return None

    # -- consents --------------------------------------------------------------------------------------

    async def list_oauth_grants(self, user_id: str) -> tuple[OAuthGrant, ...]:
        """Delegated permission grants the user consented to."""
        return tuple(await self.graph.list_oauth_grants(user_id))

    async def revoke_consent(self, user_id: str, grant_id: str) -> None:
        """The user's consent to one app, revoked: the grant is read first (gone: `NotFound`, nothing else is
        called; another user's or a tenant-wide grant: `ValueError`), then the user's app role assignments to
        that app are removed, and the grant last. Repeated after a crash it finds what is left and removes it:
        the grant goes last, so while it exists the revoke is not done and may be run again."""
        grant = await self.graph.get_oauth_grant(grant_id)
        if grant.consent_type.lower() != "principal" or (grant.principal_id or "").lower() != user_id.lower():
            raise ValueError("not this user's own consent; a tenant-wide grant is revoked by an admin in Entra")
        for assignment in await self.graph.list_app_role_assignment_ids(user_id, grant.client_id):
            try:
                await self.graph.delete_app_role_assignment(user_id, assignment)
            except NotFound:
                continue  # removed meanwhile (a repeat, or someone in Entra): what we wanted
        await self.graph.delete_oauth_grant(grant_id)

    async def get_oauth_grant(self, grant_id: str) -> OAuthGrant | None:
        """One delegated permission grant, or None when it is gone."""
        try:
            return await self.graph.get_oauth_grant(grant_id)
        except NotFound:
            return None

    async def get_service_principals(self, ids: Sequence[str]) -> tuple[ServicePrincipal, ...]:
        """The service principals with these ids (unknown ids are left out)."""
        if not ids:
            return ()
        return tuple(dataclasses.replace(sp, read_in_tenant=self._tenant_id)
                     for sp in await self.graph.get_service_principals(ids))

    # -- Defender --------------------------------------------------------------------------------------

    async def list_alerts(self, since: datetime, *, user_upn: str | None = None) -> tuple[SecurityAlert, ...]:
        """Defender alerts since `since`, for one user when `user_upn` is given (matched on the alert's evidence).

        alerts_v2 cannot filter on evidence server-side, so the user filter is applied here.
        """
        alerts = await self.graph.list_alerts(since)
        if user_upn:
            wanted = user_upn.lower()
            alerts = [a for a in alerts if any(u.lower() == wanted for u in a.user_upns)]
        return _newest_first(alerts, lambda a: a.created)

    # -- account writes --------------------------------------------------------------------------------

    async def revoke_sign_in_sessions(self, user_id: str) -> None:
        """Invalidate the user's refresh tokens and session cookies."""
        await self.graph.revoke_sign_in_sessions(user_id)

    async def set_account_enabled(self, user_id: str, enabled: bool) -> None:
        """Block or allow sign-in. Raises `OnPremisesMastered` for synced users."""
        await self.graph.set_account_enabled(user_id, enabled)

    async def list_role_members(self, role_template_id: str) -> tuple[RoleMember, ...]:
        """The principals assigned the directory role with this template id (users with `accountEnabled`)."""
        return tuple(await self.graph.list_role_members(role_template_id))

    async def remove_role_member(self, role_id: str, user_id: str) -> None:
        """Take the directory role `role_id` from the user; `NotFound` when the user does not hold it."""
        await self.graph.remove_role_member(role_id, user_id)

    async def force_password_change(self, user_id: str) -> None:
        """Require a password change at next sign-in. Raises `OnPremisesMastered` for synced users."""
        await self.graph.force_password_change(user_id)


def _implements_tenant(tenant: M365Tenant) -> BulkTenant:
    """Never called: makes mypy prove that `M365Tenant` satisfies the `Tenant` and `BulkTenant` Protocols."""
    return tenant


def _fresh_refusal(exc: NotProvisioned | PermissionDenied) -> NotProvisioned | PermissionDenied:
    # A new instance per read: concurrent reads must not share (and chain causes onto) one exception object.
    if isinstance(exc, NotProvisioned):
        return NotProvisioned(exc.message, what=exc.what, status=exc.status, code=exc.code)
    return PermissionDenied(exc.message, permission=exc.permission, status=exc.status, code=exc.code)


def _query(params: Mapping[str, object]) -> str:
    return odata.encode_query((k, str(v)) for k, v in params.items())


def _in(prop: str, values: Sequence[str]) -> str:
    """`prop in ('a','b')`."""
    return f"{prop} in ({','.join(odata.quote(v) for v in values)})"


def _newest_first(items: Sequence[T], key: Callable[[T], datetime | None]) -> tuple[T, ...]:
    # Items without a time sort last; the sort is stable, so Graph's order holds among equals.
    timed = [(key(i), n, i) for n, i in enumerate(items)]
    timed.sort(key=lambda t: (t[0] is None, -(t[0].timestamp()) if t[0] else 0.0, t[1]))
    return tuple(i for _, _, i in timed)


async def create_tenant(
    settings: M365Settings,
    session: aiohttp.ClientSession,
    *,
    retry: RetryPolicy | None = None,
    anchor_domain: str | None = None,
) -> M365Tenant:
    """Build the production `M365Tenant`: msal token provider, Graph and Exchange clients on `session`.

    The tenant owns (and `close()` closes) the token provider; `session` stays the caller's. The Exchange
    anchor domain is read from Graph `/organization` on first use unless `anchor_domain` is given.
    """
    tokens = TokenProvider(settings)
    graph = GraphClient(session, tokens, base_url=f"{settings.m365_graph_url.rstrip('/')}/v1.0",
                        timeout_seconds=settings.http_timeout_seconds, retry=retry)
    holder: list[M365Tenant] = []

    async def discover_anchor() -> str:
        return await holder[0].initial_domain()

    exchange = ExchangeClient(
        session,
        tokens,
        tenant_id=settings.m365_tenant_id,
        base_url=settings.m365_exchange_url,
        anchor_domain=anchor_domain,
        anchor_domain_source=discover_anchor,
        # Without Graph's answer (no Organization.Read.All, an outage) every Exchange call would fail with Graph's
        # error; Exchange also routes on the tenant id, as management tools anchor it.
        anchor_fallback=settings.m365_tenant_id,
        timeout_seconds=settings.http_timeout_seconds,
        retry=retry,
    )
    tenant = M365Tenant(graph, exchange, tenant_id=settings.m365_tenant_id, owned=[tokens])
    holder.append(tenant)
    return tenant

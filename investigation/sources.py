"""Every source of evidence in one table: `SOURCES`, one `SourceSpec` per source.

A spec says what the rest of the package would otherwise keep in lists of its own: the upstream family whose
throttles the read spends, how one account's read is made, how many accounts' read is made (or that it is made
per account), how a failure becomes "not checked", where the answer lands in `Evidence`, whether the verdict needs
it (a key source), and the locale key of its "not checked" line. The collector's jobs (`investigation.collect`),
the bulk read's order (`investigation.outbreak`), the collections of `Evidence` and the verdict's key sources are
all derived from it, so adding a source is a member of `SourceName` and a row here (plus its tenant call, its
indicator and its words).

This module imports nothing else of the package, so `evidence`, `verdict`, `collect` and `outbreak` can all read it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from m365.errors import (
    LicenseRequired,
    M365Error,
    NotFound,
    NotProvisioned,
    PermissionDenied,
    Throttled,
    UpstreamTimeout,
)
from m365.protocol import BulkTenant, Tenant
from m365.records import AuditChange, User


class SourceName(StrEnum):
    """One source of evidence; each has one row in `SOURCES` (service principals ride on the consents' row)."""

    restriction = "restriction"
    mailbox = "mailbox"
    inbox_rules = "inbox_rules"
    mail_folders = "mail_folders"
    sign_ins = "sign_ins"
    risky_user = "risky_user"
    risk_detections = "risk_detections"
    auth_methods = "auth_methods"
    registration = "registration"
    directory_audits = "directory_audits"
    oauth_grants = "oauth_grants"
    service_principals = "service_principals"
    memberships = "memberships"
    alerts = "alerts"
    cas_mailbox = "cas_mailbox"
    domains = "domains"
    # Graph `mailboxSettings/automaticRepliesSetting` (MailboxSettings.Read, already granted for the inbox rules).
    auto_reply = "auto_reply"
    # Exchange `Get-InboxRule -IncludeHidden`: the rules Graph's messageRules do not return (hidden ones). Merged into
    # `inbox_rules` (investigation.rules); when it cannot be read the card says hidden rules were not checked.
    hidden_inbox_rules = "hidden_inbox_rules"
    # The unified audit log's rule, forwarding and permission changes about the account (Exchange
    # Search-UnifiedAuditLog, one tenant-wide read filtered per account; investigation.changes).
    mailbox_audit = "mailbox_audit"
    # Tenant-wide traps (investigation.tenant_traps): mail flow rules (Get-TransportRule) and new apps, app
    # credentials and consents (Entra directory audits), read once for all accounts.
    transport_rules = "transport_rules"
    app_changes = "app_changes"
    # The mail the account sent (Graph message trace, else Exchange Get-MessageTraceV2): the burst itself
    # (investigation.burst).
    message_trace = "message_trace"
    # Exchange Get-MailboxPermission (FullAccess), Get-RecipientPermission (SendAs) and Get-MailboxFolderPermission
    # (inbox), with the trustees looked up in the directory (investigation.delegation). SendOnBehalf rides on `mailbox`.
    delegation = "delegation"
    # Exchange Get-HostedOutboundSpamFilterPolicy, tenant-wide: what the policy does when a sender reaches its limits,
    # so when a restriction lifts by itself (investigation.resume).
    outbound_spam_policy = "outbound_spam_policy"


class UnavailableReason(StrEnum):
    """Why a source could not be read. The card turns it into words; `detail` says which permission etc."""

    permission = "permission"
    license = "license"
    throttled = "throttled"
    timeout = "timeout"
    error = "error"
    no_mailbox = "no_mailbox"
    not_found = "not_found"
    not_provisioned = "not_provisioned"  # the API needs a service principal the tenant lacks (detail names it)


class Family(StrEnum):
    """Upstream families with their own Microsoft throttles."""

    audit_logs = "audit_logs"  # sign-ins, directory audits, reports: ~5 requests / 10 s per app
    identity_protection = "identity_protection"  # ~1 request / s
    outlook = "outlook"  # 4 concurrent requests per mailbox
    exchange = "exchange"  # InvokeCommand
    directory = "directory"  # ordinary Graph directory reads
    security = "security"  # Defender alerts
    message_trace = "message_trace"  # Graph message trace / Get-MessageTraceV2: 100 queries per 5 min, slow


class Absent(StrEnum):
    """What a `NotFound` from a source means."""

    none = "none"  # there is nothing to report (no Identity Protection record): checked, nothing found
    no_mailbox = "no_mailbox"  # the account has no mailbox: nothing there to check
    not_found = "not_found"


@dataclass(frozen=True)
class Scope:
    """What every read of one investigation shares: the start of the look-back window and the sign-in cap."""

    since: datetime
    sign_in_limit: int


SingleRead = Callable[[Tenant, User, Scope], Awaitable[Any]]
# user id → the single read's answer for that account, or the exception its request failed with.
BulkRead = Callable[[BulkTenant, Sequence[User], Scope], Awaitable[Mapping[str, Any]]]
# The `Evidence` fields an answer fills (an answer that fills nothing returns {}).
Lands = Callable[[Any], Mapping[str, Any]]


@dataclass(frozen=True)
class SourceSpec:
    """One source of evidence (see the module docstring).

    `bulk` None means "per account": the bulk read runs `single` for each account, many at a time. `checked_by` is
    the `Evidence` field that is None exactly when the source was not checked (collections, flags); None for single
    records, where None also means "there is none". `also` are sources this read fills too (and misses too).
    """

    name: SourceName
    family: Family
    single: SingleRead
    bulk: BulkRead | None
    key: bool = False
    absent: Absent = Absent.not_found
    checked_by: str | None = None
    lands: Lands | None = None
    also: tuple[SourceName, ...] = ()
    not_checked_key: str = field(default="")

    def __post_init__(self) -> None:
        if not self.not_checked_key:
            object.__setattr__(self, "not_checked_key", f"source.{self.name.value}")

    def land(self, value: Any) -> Mapping[str, Any]:
        """The `Evidence` fields `value` (this source's answer) fills."""
        return self.lands(value) if self.lands is not None else {self.name.value: value}

    def unavailable(self, exc: BaseException) -> tuple[UnavailableReason, str] | None:
        """How a failure is recorded (reason, detail); None when the failure just means "there is none"."""
        if isinstance(exc, PermissionDenied):
            return UnavailableReason.permission, exc.permission or ""
        if isinstance(exc, NotProvisioned):
            return UnavailableReason.not_provisioned, exc.what
        if isinstance(exc, LicenseRequired):
            return UnavailableReason.license, exc.license
        if isinstance(exc, Throttled):
            return UnavailableReason.throttled, ""
        if isinstance(exc, UpstreamTimeout | asyncio.TimeoutError | TimeoutError):
            return UnavailableReason.timeout, ""
        if isinstance(exc, NotFound):
            if self.absent == Absent.none:
                return None
            return UnavailableReason(self.absent.value), ""
        if isinstance(exc, M365Error) and exc.status:
            # What the admin can look up (and Microsoft's status page speaks of), not our exception class.
            return UnavailableReason.error, f"HTTP {exc.status}"
        return UnavailableReason.error, type(exc).__name__


# -- bulk reads that are not one `BulkTenant` method ----------------------------------------------------------------


async def _outbound_policies_for_all(tenant: BulkTenant, users: Sequence[User], scope: Scope) -> Mapping[str, Any]:
    policies = await tenant.list_outbound_spam_policies()
    return {u.id: policies for u in users}


async def _domains_for_all(tenant: BulkTenant, users: Sequence[User], scope: Scope) -> Mapping[str, Any]:
    domains = await tenant.list_verified_domains()
    return {u.id: domains for u in users}


async def _restrictions_for_all(tenant: BulkTenant, users: Sequence[User], scope: Scope) -> Mapping[str, Any]:
    by_address: dict[str, Any] = {}
    for entry in await tenant.list_blocked_senders():
        by_address.setdefault(entry.sender_address.lower(), entry)
    return {u.id: by_address.get(u.smtp_address.lower()) for u in users}


async def _alerts_for_all(tenant: BulkTenant, users: Sequence[User], scope: Scope) -> Mapping[str, Any]:
    alerts = await tenant.list_alerts(scope.since)
    out: dict[str, Any] = {}
    for user in users:
        wanted = user.user_principal_name.lower()
        out[user.id] = tuple(a for a in alerts if any(u.lower() == wanted for u in a.user_upns))
    return out


async def _grants_of(tenant: Tenant, user: User, scope: Scope) -> tuple[Any, Any]:
    grants = await tenant.list_oauth_grants(user.id)
    ids = sorted({g.client_id for g in grants if g.client_id})
    principals = await tenant.get_service_principals(ids) if ids else ()
    return grants, principals


async def _grants_for_all(tenant: BulkTenant, users: Sequence[User], scope: Scope) -> Mapping[str, Any]:
    """Consents per user, then the service principals they name in one batched lookup (as one source)."""
    grants = await tenant.oauth_grants_by_user([u.id for u in users])
    out: dict[str, Any] = {}
    wanted: dict[str, list[str]] = {}
    for user_id, value in grants.items():
        if isinstance(value, BaseException):
            out[user_id] = value
        else:
            wanted[user_id] = sorted({g.client_id for g in value if g.client_id})
    every = sorted({i for client_ids in wanted.values() for i in client_ids})
    principals: dict[str, Any] = {}
    failure: BaseException | None = None
    if every:
        try:
            principals = {p.id: p for p in await tenant.get_service_principals(every)}
        except M365Error as exc:
            failure = exc
    for user_id, client_ids in wanted.items():
        if not client_ids:
            out[user_id] = (grants[user_id], ())
        elif failure is not None:
            out[user_id] = failure
        else:
            out[user_id] = (grants[user_id], tuple(principals[i] for i in client_ids if i in principals))
    return out


# Message-trace rows read per account at most (one Graph page; Get-MessageTraceV2's maximum); the card says when
# the cap was reached.
MESSAGE_TRACE_CAP = 5000
# Trustees looked up per mailbox at most: a mailbox shared with a whole department is read, not resolved in full.
MAX_TRUSTEES = 20
# Folder permission entries that name no account.
_BUILT_IN_TRUSTEES = frozenset({"default", "anonymous"})


async def _trustee(tenant: Tenant, name: str) -> User | None:
    """The directory user a trustee string names: by UPN/address, else by an exact alias or display name."""
    if "@" in name:
        return await tenant.get_user(name)
    wanted = name.lower()
    for candidate in await tenant.find_users(name, top=2):
        if wanted in ((candidate.mail_nickname or "").lower(), candidate.display_name.lower()):
            return candidate
    return None


async def _delegation_of(tenant: Tenant, user: User, scope: Scope) -> tuple[Any, Any]:
    """The mailbox's grants, then the trustees they name (a trustee that cannot be looked up stays unresolved)."""
    grants = await tenant.list_mailbox_grants(user.user_principal_name)
    names = list(dict.fromkeys(g.trustee for g in grants if g.trustee.lower() not in _BUILT_IN_TRUSTEES))
    answers = await asyncio.gather(*(_trustee(tenant, n) for n in names[:MAX_TRUSTEES]), return_exceptions=True)
    found = {a.id: a for a in answers if isinstance(a, User)}
    for answer in answers:
        if isinstance(answer, BaseException) and not isinstance(answer, M365Error):
            raise answer
    return grants, tuple(found.values())


def _delegation_land(value: Any) -> Mapping[str, Any]:
    grants, delegates = value
    return {"mailbox_grants": grants, "delegates": delegates}


async def _message_trace_of(tenant: Tenant, user: User, scope: Scope) -> Any:
    """The account's sent mail over the investigation window: the burst and, before it, what is usual.

    The whole window in one query rather than "24 h before the restriction": it needs no answer from the restriction
    read (the sources run side by side), and the days before the burst are the baseline of usual correspondents.
    """
    return await tenant.list_message_traces(user.smtp_address, scope.since, datetime.now(UTC),
                                            limit=MESSAGE_TRACE_CAP)


def _account_names(user: User) -> frozenset[str]:
    """How an audit record may name the account (lower case): object id, UPN, addresses, alias."""
    names = {user.id, user.user_principal_name, user.user_principal_name.split("@", 1)[0], user.mail or "",
             user.mail_nickname or ""}
    names |= {p.split(":", 1)[-1] for p in user.proxy_addresses}
    return frozenset(n.strip().lower() for n in names if n and n.strip())


def changes_about(user: User, changes: Sequence[AuditChange]) -> tuple[AuditChange, ...]:
    """The tenant-wide audit changes that concern `user`: made by the account, or made to its mailbox."""
    names = _account_names(user)
    return tuple(c for c in changes if c.actor.strip().lower() in names or names.intersection(c.names()))


async def _changes_of(tenant: Tenant, user: User, scope: Scope) -> tuple[AuditChange, ...]:
    return changes_about(user, await tenant.list_audit_changes(scope.since))


async def _changes_for_all(tenant: BulkTenant, users: Sequence[User], scope: Scope) -> Mapping[str, Any]:
    """One tenant-wide audit search for every account of the outbreak, then filtered per account."""
    changes = await tenant.list_audit_changes(scope.since)
    return {u.id: changes_about(u, changes) for u in users}


async def _transport_rules_for_all(tenant: BulkTenant, users: Sequence[User], scope: Scope) -> Mapping[str, Any]:
    rules = await tenant.list_transport_rules()
    return {u.id: rules for u in users}


async def _app_changes_for_all(tenant: BulkTenant, users: Sequence[User], scope: Scope) -> Mapping[str, Any]:
    audits = await tenant.list_app_audits(scope.since)
    return {u.id: audits for u in users}


def _ids(users: Sequence[User]) -> list[str]:
    return [u.id for u in users]


def _restriction_lands(value: Any) -> Mapping[str, Any]:
    return {"restriction": value, "restricted": value is not None}


def _domains_land(value: Any) -> Mapping[str, Any]:
    # An empty answer lands nothing: the builder then falls back to the user's own domain.
    return {"verified_domains": tuple(d.lower() for d in value)} if value else {}


def _grants_land(value: Any) -> Mapping[str, Any]:
    grants, principals = value
    return {"oauth_grants": grants, "service_principals": principals}


# The order is the order of `Evidence.unavailable` and of the timings, single or bulk.
SOURCES: tuple[SourceSpec, ...] = (
    SourceSpec(SourceName.domains, Family.directory, lambda t, u, s: t.list_verified_domains(), _domains_for_all,
               lands=_domains_land),
    SourceSpec(SourceName.restriction, Family.exchange, lambda t, u, s: t.get_blocked_sender(u.smtp_address),
               _restrictions_for_all, checked_by="restricted", lands=_restriction_lands),
    SourceSpec(SourceName.inbox_rules, Family.outlook, lambda t, u, s: t.list_inbox_rules(u.id),
               lambda t, us, s: t.inbox_rules_by_user(_ids(us)), key=True, absent=Absent.no_mailbox,
               checked_by="inbox_rules"),
    SourceSpec(SourceName.mailbox, Family.exchange, lambda t, u, s: t.get_mailbox(u.user_principal_name), None,
               key=True, absent=Absent.no_mailbox),
    SourceSpec(SourceName.cas_mailbox, Family.exchange, lambda t, u, s: t.get_cas_mailbox(u.user_principal_name),
               None, absent=Absent.no_mailbox),
    SourceSpec(SourceName.mail_folders, Family.outlook, lambda t, u, s: t.list_mail_folders(u.id),
               lambda t, us, s: t.mail_folders_by_user(_ids(us)), absent=Absent.no_mailbox,
               checked_by="mail_folders"),
    SourceSpec(SourceName.sign_ins, Family.audit_logs,
               lambda t, u, s: t.list_sign_ins(u.id, s.since, limit=s.sign_in_limit),
               lambda t, us, s: t.sign_ins_by_user(_ids(us), s.since, limit_per_user=s.sign_in_limit),
               key=True, checked_by="sign_ins"),
    SourceSpec(SourceName.directory_audits, Family.audit_logs, lambda t, u, s: t.list_directory_audits(u.id, s.since),
               lambda t, us, s: t.directory_audits_by_user(_ids(us), s.since), checked_by="directory_audits"),
    SourceSpec(SourceName.registration, Family.audit_logs, lambda t, u, s: t.get_registration_details(u.id),
               lambda t, us, s: t.registration_by_user(_ids(us))),
    SourceSpec(SourceName.risky_user, Family.identity_protection, lambda t, u, s: t.get_risky_user(u.id),
               lambda t, us, s: t.risky_users_by_user(_ids(us)), key=True, absent=Absent.none),
    SourceSpec(SourceName.risk_detections, Family.identity_protection,
               lambda t, u, s: t.list_risk_detections(u.id, s.since),
               lambda t, us, s: t.risk_detections_by_user(_ids(us), s.since), key=True, checked_by="risk_detections"),
    SourceSpec(SourceName.auth_methods, Family.directory, lambda t, u, s: t.list_auth_methods(u.id),
               lambda t, us, s: t.auth_methods_by_user(_ids(us)), checked_by="auth_methods"),
    SourceSpec(SourceName.oauth_grants, Family.directory, _grants_of, _grants_for_all, checked_by="oauth_grants",
               lands=_grants_land, also=(SourceName.service_principals,)),
    SourceSpec(SourceName.memberships, Family.directory, lambda t, u, s: t.list_memberships(u.id),
               lambda t, us, s: t.memberships_by_user(_ids(us)), checked_by="memberships"),
    SourceSpec(SourceName.alerts, Family.security,
               lambda t, u, s: t.list_alerts(s.since, user_upn=u.user_principal_name), _alerts_for_all,
               checked_by="alerts"),
    # Read alongside Graph's rules and merged with them (`investigation.collect.build_evidence`): Graph does not
    # return hidden rules. Lands nothing of its own.
    SourceSpec(SourceName.hidden_inbox_rules, Family.exchange, lambda t, u, s: t.get_inbox_rules(u.user_principal_name),
               None, absent=Absent.no_mailbox, lands=lambda value: {}),
    SourceSpec(SourceName.mailbox_audit, Family.exchange, _changes_of, _changes_for_all, checked_by="mailbox_audit"),
    SourceSpec(SourceName.transport_rules, Family.exchange, lambda t, u, s: t.list_transport_rules(),
               _transport_rules_for_all, checked_by="transport_rules"),
    SourceSpec(SourceName.app_changes, Family.audit_logs, lambda t, u, s: t.list_app_audits(s.since),
               _app_changes_for_all, checked_by="app_changes"),
    SourceSpec(SourceName.auto_reply, Family.outlook, lambda t, u, s: t.get_auto_reply_enabled(u.id), None,
               absent=Absent.no_mailbox, checked_by="auto_reply_enabled",
               lands=lambda value: {"auto_reply_enabled": value}),
    # Per account, also in an outbreak: none of the three cmdlets takes many mailboxes (only Get-Mailbox -Filter does).
    SourceSpec(SourceName.delegation, Family.exchange, _delegation_of, None, absent=Absent.no_mailbox,
               checked_by="mailbox_grants", lands=_delegation_land),
    # Per account, also in an outbreak: Graph documents only `eq` on senderAddress (no `in`, no `or`), and
    # Get-MessageTraceV2's many senders would share one 5,000-row, unpaged answer. The Governor paces the
    # 100-per-5-minutes limit.
    SourceSpec(SourceName.message_trace, Family.message_trace, _message_trace_of, None,
               checked_by="message_traces", lands=lambda value: {"message_traces": value}),
    # Tenant-wide, read once (also for many accounts); not key: it says when sending resumes, not whether to unblock.
    SourceSpec(SourceName.outbound_spam_policy, Family.exchange, lambda t, u, s: t.list_outbound_spam_policies(),
               _outbound_policies_for_all, checked_by="outbound_spam_policies",
               lands=lambda value: {"outbound_spam_policies": tuple(value)}),
)

BY_NAME: Mapping[SourceName, SourceSpec] = {spec.name: spec for spec in SOURCES}
# `Evidence` field → None exactly when that source was not checked (see `SourceSpec.checked_by`).
CHECKED_BY: Mapping[SourceName, str] = {
    **{spec.name: spec.checked_by for spec in SOURCES if spec.checked_by},
    **{also: also.value for spec in SOURCES if spec.checked_by for also in spec.also},
}
KEY_SOURCES: tuple[SourceName, ...] = tuple(spec.name for spec in SOURCES if spec.key)

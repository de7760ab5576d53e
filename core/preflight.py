"""The tenant pre-flight: what the configured tenant gives the bot, checked read-only, feature by feature.

`FEATURES` is the pure table "feature -> what it needs" (the application permissions any one of which enables it,
the licence that decides whether its source exists, the Exchange cmdlet whose role it needs, the Entra role it
needs). It mirrors docs/DEPLOY.md's permission table; each feature names the row of that table that fixes it.

`Preflight.run()` gathers the facts once, read-only:
- the Graph and Exchange tokens from the app's own msal client, and their `roles` (application permissions) and
  `wids` (template ids of the Entra roles the app holds) claims. The tokens are decoded without verification (they
  are ours, fresh from Entra) and never printed or logged;
- the licences, from the service plans of `GET /subscribedSkus`;
- the Exchange roles, by one harmless read per role need (a cmdlet asked about an address that does not exist):
  a 403 means the role is missing;
- message trace, by `GET /admin/exchange/tracing/messageTraces?$top=1` (401 while Microsoft's message-trace
  service principal is not provisioned in the tenant); when Graph refuses but Exchange's `Get-MessageTraceV2` runs,
  the feature is available through it (`FeatureStatus.fallback`/`via`), as the investigation reads it then.
`evaluate(facts)` (pure) turns the facts into one `FeatureStatus` per feature; `render_text` prints the table.
Writes (unblock, remove forwarding, password) cannot be tried read-only: their roles come from the `wids` claim.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from m365.auth import EXCHANGE_SCOPE, GRAPH_SCOPE
from m365.errors import AuthenticationFailed, LicenseRequired, M365Error, NotFound, PermissionDenied
from m365.exchange import ExchangeClient
from m365.graph import GraphClient
from m365.http import AccessTokens

log = logging.getLogger(__name__)

DEPLOY_DOC = "docs/DEPLOY.md"
EXCHANGE_APP_PERMISSION = "Exchange.ManageAsApp"
MESSAGE_TRACE_PATH = "/admin/exchange/tracing/messageTraces"


class Licence(StrEnum):
    """A licence that decides whether an evidence source exists in the tenant."""

    ENTRA_ID_P1 = "Microsoft Entra ID P1"
    ENTRA_ID_P2 = "Microsoft Entra ID P2"
    DEFENDER_O365 = "Microsoft Defender for Office 365"


# `servicePlanName`s in `GET /subscribedSkus` that carry each licence, from Microsoft's "Product names and service
# plan identifiers for licensing" (https://learn.microsoft.com/en-us/entra/identity/users/licensing-service-plan-reference):
# AAD_PREMIUM 41781fb2-bc02-4b7c-bd55-b576c07bb09d, AAD_PREMIUM_P2 eec0eb4f-6444-4f95-aba0-50c24d67f998,
# ATP_ENTERPRISE f20fedf3-f3c3-43c3-8267-2bfdd51c0939 (plan 1), THREAT_INTELLIGENCE 8e0c0a52-6a6c-4d40-8370-dd62790dcd70
# (plan 2). P2 includes P1's features, so P2's plan also counts for P1.
LICENCE_SERVICE_PLANS: Mapping[Licence, frozenset[str]] = {
    Licence.ENTRA_ID_P1: frozenset({"AAD_PREMIUM", "AAD_PREMIUM_P2"}),
    Licence.ENTRA_ID_P2: frozenset({"AAD_PREMIUM_P2"}),
    Licence.DEFENDER_O365: frozenset({"ATP_ENTERPRISE", "THREAT_INTELLIGENCE"}),
}

# Template ids of the Entra built-in roles ("Microsoft Entra built-in roles", learn.microsoft.com/en-us/entra/identity/
# role-based-access-control/permissions-reference); app-only tokens carry the app's roles as these ids in `wids`.
ROLE_TEMPLATE_IDS: Mapping[str, str] = {
    "Global Administrator": "62e90394-69f5-4237-9190-012177145e10",
    "Exchange Administrator": "29232cdf-9323-42fd-ade2-1d097af3e4de",
    "Security Administrator": "194ae4cb-b126-40b2-bd5b-6091b380977d",
    "User Administrator": "fe930be7-5e62-47db-91af-98c3a49a38b1",
    "Privileged Authentication Administrator": "7be44c8a-adaf-4e2a-84d6-ab2649e08a13",
}


class ExchangeProbe(StrEnum):
    """A read-only cmdlet run once to learn whether the app's Exchange role allows it."""

    BLOCKED_SENDERS = "Get-BlockedSenderAddress"
    MAILBOX = "Get-Mailbox"
    INBOX_RULES = "Get-InboxRule"
    AUDIT_LOG = "Search-UnifiedAuditLog"
    TRANSPORT_RULES = "Get-TransportRule"
    MESSAGE_TRACE = "Get-MessageTraceV2"


@dataclass(frozen=True)
class Feature:
    """One thing the bot does and what it needs; `deploy_row` is the feature column of DEPLOY.md's table."""

    key: str
    deploy_row: str
    permissions: tuple[str, ...]  # any one of them (Graph or Exchange application permissions)
    licence: Licence | None = None
    exchange_probe: ExchangeProbe | None = None
    entra_roles: tuple[str, ...] = ()  # any one of them, for writes that cannot be tried read-only


_USER_READ = ("User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All")
_EXO = (EXCHANGE_APP_PERMISSION,)
_AUDIT = ("AuditLog.Read.All",)

FEATURES: tuple[Feature, ...] = (
    Feature("find_account", "find the account (UPN, address, alias, name)", _USER_READ),
    Feature("tenant_domains", "tenant domains",
            ("Organization.Read.All", "Organization.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All")),
    Feature("restriction", "restriction status, reason, since", _EXO,
            exchange_probe=ExchangeProbe.BLOCKED_SENDERS),
    Feature("unblock", "unblock", _EXO, exchange_probe=ExchangeProbe.BLOCKED_SENDERS,
            entra_roles=("Security Administrator", "Exchange Administrator", "Global Administrator")),
    Feature("forwarding", "mailbox forwarding", _EXO, exchange_probe=ExchangeProbe.MAILBOX),
    Feature("remove_forwarding", "remove forwarding", _EXO, exchange_probe=ExchangeProbe.MAILBOX,
            entra_roles=("Exchange Administrator", "Global Administrator")),
    Feature("inbox_rules", "inbox rules", ("MailboxSettings.Read", "MailboxSettings.ReadWrite")),
    Feature("hidden_inbox_rules", "inbox rules", _EXO, exchange_probe=ExchangeProbe.INBOX_RULES),
    # Get-RecipientPermission needs Mail Recipients, the role Get-InboxRule's probe already tries (the other two
    # delegation cmdlets also accept View-Only Recipients): no probe of its own.
    Feature("mailbox_delegates", "mailbox delegates", _EXO, exchange_probe=ExchangeProbe.INBOX_RULES),
    Feature("mail_folders", "folder names in rules", ("Mail.ReadBasic.All", "Mail.ReadBasic", "Mail.Read",
                                                       "Mail.ReadWrite")),
    Feature("sign_ins", "sign-in log", _AUDIT, licence=Licence.ENTRA_ID_P1),
    # Purview Audit (Standard) is in every business plan, and no service plan of /subscribedSkus names it alone:
    # the probe's role check is what can be tried (investigation.changes).
    Feature("audit_changes", "changes from the audit log", _EXO, exchange_probe=ExchangeProbe.AUDIT_LOG),
    Feature("transport_rules", "mail flow rules (tenant-wide traps)", _EXO,
            exchange_probe=ExchangeProbe.TRANSPORT_RULES),
    Feature("app_changes", "new apps, app secrets and consents (tenant-wide traps)", _AUDIT),
    Feature("directory_audits", "directory changes", _AUDIT),
    Feature("risky_users", "user risk", ("IdentityRiskyUser.Read.All", "IdentityRiskyUser.ReadWrite.All"),
            licence=Licence.ENTRA_ID_P2),
    Feature("risk_detections", "risk detections", ("IdentityRiskEvent.Read.All", "IdentityRiskEvent.ReadWrite.All"),
            licence=Licence.ENTRA_ID_P2),
    Feature("mfa_methods", "MFA methods", ("UserAuthenticationMethod.Read.All",
                                           "UserAuthenticationMethod.ReadWrite.All")),
    Feature("mfa_registration", "MFA registered (prevention)", _AUDIT, licence=Licence.ENTRA_ID_P1),
    Feature("app_consents", "app consents", ("DelegatedPermissionGrant.Read.All", "Directory.Read.All",
                                             "Directory.ReadWrite.All")),
    Feature("admin_roles", "who is speaking; admin roles of the account",
            ("GroupMember.Read.All", "Group.Read.All", "Directory.Read.All", "Directory.ReadWrite.All")),
    Feature("alerts", "Defender alerts", ("SecurityAlert.Read.All", "SecurityAlert.ReadWrite.All"),
            licence=Licence.DEFENDER_O365),
    Feature("revoke_sessions", "sign out everywhere", ("User.RevokeSessions.All", "User.ReadWrite.All",
                                                       "Directory.ReadWrite.All")),
    Feature("block_sign_in", "block / allow sign-in", ("User.EnableDisableAccount.All", "User.ReadWrite.All",
                                                       "Directory.ReadWrite.All")),
    Feature("force_password_change", "require a new password", ("User.ReadWrite.All", "Directory.ReadWrite.All"),
            entra_roles=("User Administrator", "Privileged Authentication Administrator", "Global Administrator")),
    Feature("message_trace", "message trace", ("ExchangeMessageTrace.Read.All",)),
)
FEATURE_KEYS = tuple(f.key for f in FEATURES)


class ProblemKind(StrEnum):
    """Why a feature is not available."""

    TOKEN = "token"  # no token for the API at all
    PERMISSION = "permission"  # none of the application permissions is granted
    LICENCE = "licence"  # the tenant lacks the licence for the source
    EXCHANGE_ROLE = "exchange_role"  # Exchange answered 403 to the read
    ENTRA_ROLE = "entra_role"  # the app holds none of the Entra roles the write needs
    NOT_PROVISIONED = "not_provisioned"  # message trace: Microsoft's service principal is missing
    UNKNOWN = "unknown"  # a probe failed for another reason (outage, timeout)


@dataclass(frozen=True)
class Problem:
    """One reason a feature is off: what kind, and what is missing (a permission, licence, role or cmdlet)."""

    kind: ProblemKind
    missing: str
    detail: str = ""


@dataclass(frozen=True)
class FeatureStatus:
    """A feature's verdict: available when `problems` is empty; `fix` names the DEPLOY.md row. `fallback`: the
    feature works through its second way (`via`, e.g. Exchange's Get-MessageTraceV2 for the message trace) because
    its first way has `fallback` as its problem — available, but worth fixing."""

    feature: Feature
    problems: tuple[Problem, ...] = ()
    fallback: Problem | None = None
    via: str = ""

    @property
    def available(self) -> bool:
        """Whether everything the feature needs is there."""
        return not self.problems

    @property
    def fix(self) -> str:
        """Where the fix is written down: the DEPLOY.md section and row (of the first way, for a fallback)."""
        problems = self.problems or ((self.fallback,) if self.fallback is not None else ())
        if any(p.kind in (ProblemKind.EXCHANGE_ROLE, ProblemKind.ENTRA_ROLE) for p in problems):
            return f'{DEPLOY_DOC} 2.3 (Entra roles), row "{self.feature.deploy_row}" in 2.2'
        if any(p.kind == ProblemKind.NOT_PROVISIONED for p in problems):
            return f'{DEPLOY_DOC} 2.2, row "{self.feature.deploy_row}" (provision message trace)'
        if any(p.kind == ProblemKind.LICENCE for p in problems):
            return f'{DEPLOY_DOC} 2.2, row "{self.feature.deploy_row}" (licence)'
        return f'{DEPLOY_DOC} 2.2, row "{self.feature.deploy_row}"'


@dataclass(frozen=True)
class Facts:
    """What the probes found. None means "could not be read" (the reason is in `unreadable`)."""

    graph_roles: frozenset[str] | None
    exchange_roles: frozenset[str] | None
    role_template_ids: frozenset[str] | None  # `wids` of the Graph token
    service_plans: frozenset[str] | None  # enabled servicePlanNames of the tenant
    exchange_probes: Mapping[ExchangeProbe, Problem | None]  # None: the read was allowed
    message_trace: Problem | None  # None: provisioned and readable
    unreadable: Mapping[str, str] = field(default_factory=dict)  # check -> why it could not be read


@dataclass(frozen=True)
class Report:
    """Every feature's status and the facts behind them."""

    facts: Facts
    features: tuple[FeatureStatus, ...]

    @property
    def ok(self) -> bool:
        """Whether every feature is available."""
        return all(f.available for f in self.features)

    def missing(self) -> dict[str, list[str]]:
        """What is missing -> the features it turns off (e.g. "Microsoft Entra ID P2" -> [risky_users, ...])."""
        out: dict[str, list[str]] = {}
        for status in self.features:
            for problem in status.problems:
                out.setdefault(problem.missing, []).append(status.feature.key)
        return out

    def licences(self) -> dict[Licence, bool | None]:
        """Each licence: present, absent, or None when the licences could not be read."""
        plans = self.facts.service_plans
        return {lic: None if plans is None else bool(plans & names) for lic, names in LICENCE_SERVICE_PLANS.items()}


# -- the pure part ---------------------------------------------------------------------------------------


def token_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, unverified (our own fresh token; nothing is trusted from it but what we were granted)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("not a JWT")
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    claims = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    if not isinstance(claims, dict):
        raise ValueError("JWT payload is not an object")
    return claims


def _strings(value: object) -> frozenset[str]:
    return frozenset(str(v) for v in value) if isinstance(value, list) else frozenset()


def enabled_service_plans(skus: Sequence[Mapping[str, Any]]) -> frozenset[str]:
    """`servicePlanName`s of enabled subscriptions whose plan is provisioned (or still being provisioned)."""
    names: set[str] = set()
    for sku in skus:
        if str(sku.get("capabilityStatus") or "Enabled") not in ("Enabled", "Warning"):
            continue
        for plan in sku.get("servicePlans") or []:
            if isinstance(plan, Mapping) and str(plan.get("provisioningStatus") or "Success") in (
                    "Success", "PendingActivation", "PendingProvisioning", "PendingInput"):
                names.add(str(plan.get("servicePlanName")))
    return frozenset(names)


def evaluate(facts: Facts) -> Report:
    """Each feature's status from the facts (pure)."""
    statuses: list[FeatureStatus] = []
    for feature in FEATURES:
        problems: list[Problem] = []
        exchange = EXCHANGE_APP_PERMISSION in feature.permissions
        roles = facts.exchange_roles if exchange else facts.graph_roles
        api = "exchange" if exchange else "graph"
        if roles is None:
            problems.append(Problem(ProblemKind.TOKEN, f"{api} token", facts.unreadable.get(f"{api}_token", "")))
        elif not roles & set(feature.permissions):
            problems.append(Problem(ProblemKind.PERMISSION, feature.permissions[0]))
        if feature.licence is not None and facts.service_plans is not None:
            if not facts.service_plans & LICENCE_SERVICE_PLANS[feature.licence]:
                problems.append(Problem(ProblemKind.LICENCE, feature.licence.value))
        if feature.exchange_probe is not None and roles:
            probe = facts.exchange_probes.get(feature.exchange_probe)
            if probe is not None and not any(p.kind == ProblemKind.PERMISSION for p in problems):
                problems.append(probe)
        if feature.entra_roles and facts.role_template_ids is not None:
            wanted = {ROLE_TEMPLATE_IDS[r] for r in feature.entra_roles}
            if not facts.role_template_ids & wanted:
                problems.append(Problem(ProblemKind.ENTRA_ROLE, feature.entra_roles[0]))
        if feature.key == "message_trace" and facts.message_trace is not None and not problems:
            problems.append(facts.message_trace)
        if feature.key == "message_trace" and problems and _exchange_trace_works(facts):
            # `investigation.burst` reads Get-MessageTraceV2 when Graph's message trace refuses: the feature works.
            statuses.append(FeatureStatus(feature, (), fallback=problems[0], via=ExchangeProbe.MESSAGE_TRACE.value))
            continue
        statuses.append(FeatureStatus(feature, tuple(problems)))
    return Report(facts, tuple(statuses))


def _exchange_trace_works(facts: Facts) -> bool:
    """Exchange's message trace answers the app: the permission is granted and Get-MessageTraceV2 ran."""
    roles = facts.exchange_roles
    return (roles is not None and EXCHANGE_APP_PERMISSION in roles
            and ExchangeProbe.MESSAGE_TRACE in facts.exchange_probes
            and facts.exchange_probes[ExchangeProbe.MESSAGE_TRACE] is None)


def describe(problem: Problem) -> str:
    """One line for a problem, in English (the CLI's language; the card translates by kind)."""
    text = {
        ProblemKind.TOKEN: f"no {problem.missing}",
        ProblemKind.PERMISSION: f"permission {problem.missing} not granted",
        ProblemKind.LICENCE: f"no {problem.missing} licence",
        ProblemKind.EXCHANGE_ROLE: f"Exchange role missing for {problem.missing}",
        ProblemKind.ENTRA_ROLE: f"Entra role {problem.missing} not assigned to the app",
        ProblemKind.NOT_PROVISIONED: "message trace not provisioned in the tenant",
        ProblemKind.UNKNOWN: f"could not check {problem.missing}",
    }[problem.kind]
    return f"{text} ({problem.detail})" if problem.detail and problem.kind == ProblemKind.UNKNOWN else text


def render_text(report: Report) -> str:
    """The table feature -> available / not, why, how to fix; then what is missing and what it turns off."""
    rows = [("feature", "status", "why", "fix")]
    for status in report.features:
        why = "; ".join(describe(p) for p in status.problems)
        if status.fallback is not None:
            why = f"read through {status.via} ({describe(status.fallback)})"
        rows.append((status.feature.key, "available" if status.available else "NOT AVAILABLE", why or "-",
                     "-" if status.available and status.fallback is None else status.fix))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["  ".join([r[0].ljust(widths[0]), r[1].ljust(widths[1]), r[2].ljust(widths[2]), r[3]]).rstrip()
             for r in rows]
    licences = ", ".join(f"{lic.value}: {'unknown' if has is None else 'yes' if has else 'NO'}"
                         for lic, has in report.licences().items())
    lines += ["", f"licences: {licences}"]
    missing = report.missing()
    if missing:
        lines.append("missing:")
        lines += [f"  {what} -> turns off {', '.join(keys)}" for what, keys in missing.items()]
    for check, why in report.facts.unreadable.items():
        lines.append(f"could not read {check}: {why}")
    lines.append("all features available" if report.ok else
                 f"{sum(not s.available for s in report.features)} of {len(report.features)} features unavailable")
    return "\n".join(lines)


def to_json(report: Report) -> dict[str, Any]:
    """The report as JSON: per feature available, problems and fix; the licences; what is missing."""
    return {
        "ok": report.ok,
        "features": [
            {"feature": s.feature.key, "available": s.available, "deployRow": s.feature.deploy_row,
             "problems": [{"kind": p.kind.value, "missing": p.missing} for p in s.problems],
             "fix": None if s.available else s.fix}
            for s in report.features
        ],
        "licences": {lic.value: has for lic, has in report.licences().items()},
        "missing": report.missing(),
    }


# -- the probes ------------------------------------------------------------------------------------------


class Preflight:
    """Runs the read-only checks against one tenant's Graph and Exchange clients and its token provider."""

    def __init__(self, graph: GraphClient, exchange: ExchangeClient, tokens: AccessTokens, *,
                 probe_domain: str = "invalid") -> None:
        self._graph = graph
        self._exchange = exchange
        self._tokens = tokens
        self._probe_domain = probe_domain

    async def run(self) -> Report:
        """Gather the facts concurrently and evaluate them. Never raises an `M365Error`."""
        unreadable: dict[str, str] = {}
        graph_claims, exchange_claims = await asyncio.gather(
            self._claims(GRAPH_SCOPE, "graph_token", unreadable), self._claims(EXCHANGE_SCOPE, "exchange_token",
                                                                               unreadable))
        graph_roles = _strings(graph_claims.get("roles")) if graph_claims is not None else None
        exchange_roles = _strings(exchange_claims.get("roles")) if exchange_claims is not None else None
        wids = None
        for claims in (graph_claims, exchange_claims):
            if claims is not None:
                wids = (wids or frozenset()) | _strings(claims.get("wids"))
        async with asyncio.TaskGroup() as group:
            plans_task = group.create_task(self._service_plans(graph_roles, unreadable))
            trace_task = group.create_task(self._message_trace(graph_roles))
            probe_tasks = [group.create_task(self._exchange_probe(p, exchange_roles)) for p in ExchangeProbe]
        plans, trace = plans_task.result(), trace_task.result()
        probes = [task.result() for task in probe_tasks]
        facts = Facts(graph_roles=graph_roles, exchange_roles=exchange_roles, role_template_ids=wids,
                      service_plans=plans, exchange_probes=dict(zip(ExchangeProbe, probes, strict=True)),
                      message_trace=trace, unreadable=unreadable)
        return evaluate(facts)

    async def _claims(self, scope: str, check: str, unreadable: dict[str, str]) -> dict[str, Any] | None:
        try:
            return token_claims(await self._tokens.token(scope))
        except M365Error as exc:
            unreadable[check] = exc.message
        except ValueError:
            unreadable[check] = "the token is not a JWT"
        return None

    async def _service_plans(self, roles: frozenset[str] | None, unreadable: dict[str, str]) -> frozenset[str] | None:
        if roles is None:
            return None
        try:
            body = await self._graph.get("/subscribedSkus")
        except M365Error as exc:
            # Without Organization.Read.All the licences stay unknown; the features needing them are not failed.
            unreadable["licences"] = exc.message
            return None
        skus = body.get("value") if isinstance(body, Mapping) else None
        return enabled_service_plans([s for s in skus or [] if isinstance(s, Mapping)])

    async def _message_trace(self, roles: frozenset[str] | None) -> Problem | None:
        if roles is None or "ExchangeMessageTrace.Read.All" not in roles:
            return None  # the permission problem is reported by itself
        try:
            await self._graph.get(MESSAGE_TRACE_PATH, {"$top": "1"})
        except AuthenticationFailed:
            return Problem(ProblemKind.NOT_PROVISIONED, "Message Trace service principal")
        except PermissionDenied as exc:
            return Problem(ProblemKind.PERMISSION, exc.permission or "ExchangeMessageTrace.Read.All")
        except M365Error as exc:
            return Problem(ProblemKind.UNKNOWN, "message trace", exc.message)
        return None

    async def _exchange_probe(self, probe: ExchangeProbe, roles: frozenset[str] | None) -> Problem | None:
        if not roles or EXCHANGE_APP_PERMISSION not in roles:
            return None  # the token or permission problem is reported by itself
        # An address no mailbox can have: the cmdlet runs its role check, then finds nothing.
        nobody = f"preflight-{uuid.uuid4().hex[:12]}@{self._probe_domain}"
        by_probe: dict[ExchangeProbe, dict[str, Any]] = {
            ExchangeProbe.BLOCKED_SENDERS: {"SenderAddress": nobody},
            ExchangeProbe.MAILBOX: {"Identity": nobody},
            ExchangeProbe.INBOX_RULES: {"Mailbox": nobody},
            # One minute of audit log, at most one record: the role check runs, the answer is tiny.
            ExchangeProbe.AUDIT_LOG: {"StartDate": "2020-01-01T00:00:00Z", "EndDate": "2020-01-01T00:01:00Z",
                                      "ResultSize": 1},
            ExchangeProbe.TRANSPORT_RULES: {"ResultSize": 1},
            ExchangeProbe.MESSAGE_TRACE: {"SenderAddress": nobody, "ResultSize": 1},
        }
        parameters = by_probe[probe]
        try:
            await self._exchange.invoke(probe.value, parameters, max_pages=1)
        except NotFound:
            return None
        except (PermissionDenied, LicenseRequired):
            return Problem(ProblemKind.EXCHANGE_ROLE, probe.value)
        except M365Error as exc:
            if exc.status == 403:
                return Problem(ProblemKind.EXCHANGE_ROLE, probe.value)
            if exc.status in (400, 404):
                return None  # the cmdlet ran (past the role check) and refused the made-up address
            return Problem(ProblemKind.UNKNOWN, probe.value, exc.message)
        return None


def for_tenant(tenant: Any, *, probe_domain: str = "invalid") -> Preflight | None:
    """A `Preflight` over an `m365.tenant.M365Tenant`'s own clients and token provider; None for another tenant
    (a test double has no tokens to inspect)."""
    graph = getattr(tenant, "graph", None)
    exchange = getattr(tenant, "exchange", None)
    if not isinstance(graph, GraphClient) or not isinstance(exchange, ExchangeClient):
        return None
    # The Graph client's transport holds the token provider the tenant was built with: the app's own msal client.
    tokens: AccessTokens = graph._transport.tokens
    return Preflight(graph, exchange, tokens, probe_domain=probe_domain)

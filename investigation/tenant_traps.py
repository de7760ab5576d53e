"""Tenant-wide traps: mail flow rules that send mail out, and new apps that can read mail, set up in the window.

An intruder with admin rights (or a user allowed to register apps) leaves footholds outside any one mailbox: a
transport (mail flow) rule that Bccs or redirects everyone's mail to an outside address, or an app with a fresh
client secret and Mail.Read. Resetting the account's password ends neither. These reads are tenant-wide: one per
investigation, one for a whole outbreak (`investigation.sources`: `transport_rules`, `app_changes`).

Sources:

- `Get-TransportRule` (Exchange; MicrosoftDocs/office-docs-powershell
  exchange/exchange-ps/ExchangePowerShell/Get-TransportRule.md @0ce0a1b29deae9ee0ade5f2fdc415d04090e6f1a; the
  properties are New-TransportRule's parameters, New-TransportRule.md @5fff4ea010dd9e196e3d82c00184096e868e5ab5):
  `State`, `Mode`, `WhenChanged`, `RedirectMessageTo`, `BlindCopyTo`, `AddToRecipients`, `CopyTo`,
  `RouteMessageOutboundConnector`. Roles: View-Only Configuration (Global Reader, Exchange Administrator,
  Organization Management). The rule itself does not say who made it; the unified audit log's New-/Set-TransportRule
  records do (`Evidence.mailbox_audit`, which holds the changes the investigated account made).
- Entra directory audits, tenant-wide, `activityDateTime ge <window start>` and `activityDisplayName` one of
  `m365.tenant.APP_ACTIVITIES` (Microsoft Entra "Audit log activities" reference, category ApplicationManagement):
  "Add service principal", "Add service principal credentials", "Update application – Certificates and secrets
  management ", "Consent to application", "Add app role assignment to service principal", "Add delegated
  permission grant". `AuditLog.Read.All`, no extra licence.

Judgement, "In your tenant: …" on every card of the window:

1. `tenant_transport_rule_external`: an enabled, enforced mail flow rule changed in the window (`WhenChanged`) that
   redirects, Bccs, adds To/Cc recipients outside the organisation or routes mail through an outbound connector.
   Rules older than the window (a disclaimer set up last year) and rules that only address internal recipients are
   no finding.
2. `tenant_app_mail_access`: an app that in the window got mail permissions (`MAIL_PERMISSIONS`: Mail.Read,
   Mail.ReadWrite, Mail.Send, MailboxSettings.ReadWrite, full_access_as_app, EWS/IMAP/POP/SMTP access…) by admin
   consent, an app role assignment (app-only) or a delegated grant; `tenant_app_credential`: a new client secret or
   certificate; `tenant_app_added`: a new service principal alone. One finding per app, with its activities. A
   user's own delegated consent reaches only that user's mailbox: it shows on that user's card only.

Severity follows who did it. Made by the investigated account (its UPN or object id initiated the record): **high**
for a rule sending out, mail permissions or a new credential; low for a bare new service principal (consenting to
any ordinary app creates one). Made by another account, or by whom is unknown: **low**, context for the admin,
because the verdict is about this account: a trap someone else set is no sign that *this* account was used, and a
clean account restricted after a bulk mailing must not turn "suspicious" because of another account's doing (the
card still shows it, and the initiating account's own card has it high).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from investigation.evidence import Evidence, SourceName
from investigation.indicators import Finding, Severity, _finding, _iso, _join, is_external
from m365.records import AuditChange, DirectoryAudit, TransportRule

# Permissions that let an app read, send or change mail (Graph delegated and application permissions, Exchange's
# full_access_as_app and the legacy protocols' OAuth scopes), compared ignoring case.
MAIL_PERMISSIONS: frozenset[str] = frozenset(p.lower() for p in (
    "Mail.Read", "Mail.ReadWrite", "Mail.Send", "Mail.ReadBasic", "Mail.ReadBasic.All", "Mail.Read.Shared",
    "Mail.ReadWrite.Shared", "Mail.Send.Shared", "MailboxSettings.ReadWrite", "full_access_as_app",
    "full_access_as_user", "EWS.AccessAsUser.All", "IMAP.AccessAsUser.All", "POP.AccessAsUser.All", "SMTP.Send",
    "IMAP.AccessAsApp", "POP.AccessAsApp", "SMTP.SendAsApp", "Mail.ReadWrite.All", "Mail.Read.All",
))
ADD_SERVICE_PRINCIPAL = "add service principal"
CREDENTIAL_ACTIVITIES = frozenset({"add service principal credentials",
                                   "update application \u2013 certificates and secrets management"})
CONSENT = "consent to application"
APP_ROLE_ASSIGNMENT = "add app role assignment to service principal"
DELEGATED_GRANT = "add delegated permission grant"
TRANSPORT_RULE_OPERATIONS = frozenset({"new-transportrule", "set-transportrule", "enable-transportrule"})
_WORD = re.compile(r"[A-Za-z0-9_.]+")


def _norm(text: str) -> str:
    return text.strip().strip('"').strip().lower()


# ---------------------------------------------------------------------------------------- transport rules


def _rule_change_by_user(rule: TransportRule, evidence: Evidence) -> AuditChange | None:
    """The investigated account's own New-/Set-/Enable-TransportRule record of this rule in the window, if any."""
    names = {_norm(rule.name), _norm(rule.identity)} - {""}
    user = evidence.user
    own = {_norm(n) for n in (user.user_principal_name, user.mail or "", user.id) if n}
    for change in evidence.mailbox_audit or ():
        if _norm(change.operation) not in TRANSPORT_RULE_OPERATIONS or _norm(change.actor) not in own:
            continue
        named = {_norm(change.parameter("Name")), _norm(change.parameter("Identity")), _norm(change.object_id)}
        if names & named and evidence.in_window(change.time):
            return change
    return None


def _outside_targets(rule: TransportRule, evidence: Evidence) -> list[str]:
    return [r for r in rule.recipients if is_external(r, evidence)]


def transport_rules(evidence: Evidence) -> list[Finding]:
    """Rule 1 of the module docstring."""
    findings: list[Finding] = []
    for rule in evidence.transport_rules or ():
        if not rule.enforced or not evidence.in_window(rule.when_changed):
            continue
        outside = _outside_targets(rule, evidence)
        if not outside and not rule.outbound_connector:
            continue
        change = _rule_change_by_user(rule, evidence)
        severity = Severity.high if change is not None else Severity.low
        actions = [name for name, values in (("RedirectMessageTo", rule.redirect_to), ("BlindCopyTo",
                   rule.blind_copy_to), ("AddToRecipients", rule.add_to_recipients), ("CopyTo", rule.copy_to))
                   if any(v in outside for v in values)]
        if rule.outbound_connector:
            actions.append("RouteMessageOutboundConnector")
        targets = outside + ([rule.outbound_connector] if rule.outbound_connector else [])
        rows = [("rule", rule.name), ("action", _join(actions)), ("target", _join(targets)),
                ("time", _iso(rule.when_changed))]
        if change is not None:
            rows += [("initiated_by", change.actor), ("ip", change.client_ip)]
        params = {"rule": rule.name, "targets": _join(targets), "actions": _join(actions),
                  "time": _iso(rule.when_changed), "initiated_by": change.actor if change is not None else ""}
        findings.append(_finding("tenant_transport_rule_external", severity, SourceName.transport_rules, rows,
                                 params, subject_id=rule.identity or rule.name or None))
    return findings


# ------------------------------------------------------------------------------------------------- apps


@dataclass
class _App:
    """What the audits of the window did to one app."""

    key: str
    name: str = ""
    activities: list[str] = field(default_factory=list)
    # Granted for the whole tenant (admin consent, app-only role, AllPrincipals) vs by one user for themselves.
    scopes: list[str] = field(default_factory=list)
    user_scopes: list[str] = field(default_factory=list)
    audits: list[DirectoryAudit] = field(default_factory=list)
    credential: bool = False
    added: bool = False


def _prop(audit: DirectoryAudit, name: str) -> str:
    """A modified property's new value without Entra's JSON quotes (case kept)."""
    wanted = name.lower()
    return next((p.new_value.strip().strip('"').strip() for p in audit.modified_properties
                 if p.name.lower() == wanted), "")


def _flag(audit: DirectoryAudit, name: str) -> bool:
    return _prop(audit, name).lower() == "true"


def _scopes(text: str) -> list[str]:
    """Permission names in an audit value (`"Mail.Read Mail.Send"`, `"[Scope: Mail.Read, ]"`)."""
    if "scope:" in text.lower():
        text = " ".join(part.split(",", 1)[0] for part in re.split(r"(?i)scope:", text)[1:])
    return [w for w in _WORD.findall(text) if "." in w or "_" in w]


def _app_of(audit: DirectoryAudit) -> tuple[str, str]:
    """(key, name) of the app an audit is about: the client of a grant, else the first target."""
    activity = _norm(audit.activity)
    if activity == APP_ROLE_ASSIGNMENT:
        client = _prop(audit, "ServicePrincipal.ObjectID")
        if client:
            return client, _prop(audit, "ServicePrincipal.DisplayName")
    if activity == DELEGATED_GRANT and len(audit.target_ids) > 1:
        return audit.target_ids[-1], audit.target_names[-1] if audit.target_names else ""
    key = audit.target_ids[0] if audit.target_ids else audit.id
    return key, audit.target_names[0] if audit.target_names else ""


def _apps(audits: Sequence[DirectoryAudit], evidence: Evidence) -> list[_App]:
    """The window's audits grouped per app (by name: an application object and its service principal have
    different ids; a grant names only the id, resolved through the other audits' targets)."""
    names = {i: n for a in audits for i, n in zip(a.target_ids, a.target_names, strict=False) if i and n}
    apps: dict[str, _App] = {}
    for audit in sorted(audits, key=lambda a: a.activity_time or evidence.now):
        if not evidence.in_window(audit.activity_time) or audit.result.lower() not in ("", "success"):
            continue
        key, name = _app_of(audit)
        name = name or names.get(key, "")
        app = apps.setdefault(name.casefold() or key, _App(key))
        app.name = app.name or name
        activity = _norm(audit.activity)
        app.activities.append(audit.activity.strip())
        app.audits.append(audit)
        if activity in CREDENTIAL_ACTIVITIES:
            app.credential = True
        elif activity == CONSENT:
            found = _scopes(_prop(audit, "ConsentAction.Permissions"))
            tenant_wide = any(_flag(audit, f"ConsentContext.{k}") for k in ("IsAdminConsent", "OnBehalfOfAll",
                                                                             "IsAppOnly"))
            (app.scopes if tenant_wide else app.user_scopes).extend(found)
        elif activity == DELEGATED_GRANT:
            found = _scopes(_prop(audit, "DelegatedPermissionGrant.Scope"))
            tenant_wide = _prop(audit, "DelegatedPermissionGrant.ConsentType").lower() == "allprincipals"
            (app.scopes if tenant_wide else app.user_scopes).extend(found)
        elif activity == APP_ROLE_ASSIGNMENT:
            app.scopes += _scopes(_prop(audit, "AppRole.Value"))
        elif activity == ADD_SERVICE_PRINCIPAL:
            app.added = True
    return list(apps.values())


def _mail(scopes: Iterable[str]) -> list[str]:
    return [s for s in dict.fromkeys(scopes) if s.lower() in MAIL_PERMISSIONS]


def _by_user(audits: Sequence[DirectoryAudit], evidence: Evidence) -> DirectoryAudit | None:
    user = evidence.user
    own = {_norm(n) for n in (user.user_principal_name, user.mail or "") if n}
    for audit in audits:
        if (audit.initiated_by_user_id and audit.initiated_by_user_id == user.id) or (
                _norm(audit.initiated_by_upn) in own):
            return audit
    return None


def app_changes(evidence: Evidence) -> list[Finding]:
    """Rule 2 of the module docstring: one finding per app changed in the window."""
    findings: list[Finding] = []
    for app in _apps(tuple(evidence.app_changes or ()), evidence):
        own = _by_user(app.audits, evidence)
        # Another user's own consent reaches only their mailbox: it shows on their card, not on this one.
        mail = _mail(app.scopes + app.user_scopes) if own is not None else _mail(app.scopes)
        if mail:
            code = "tenant_app_mail_access"
        elif app.credential:
            code = "tenant_app_credential"
        elif app.added and own is not None:
            code = "tenant_app_added"
        else:
            continue
        severity = Severity.high if own is not None and code != "tenant_app_added" else Severity.low
        first = own or app.audits[0]
        who = first.initiated_by_upn or first.initiated_by_app
        rows = [("app", app.name or app.key), ("activity", _join(app.activities)), ("scope", _join(mail)),
                ("initiated_by", who), ("time", _iso(first.activity_time)), ("ip", first.initiated_by_ip)]
        params = {"app": app.name or app.key, "activities": _join(app.activities), "scopes": _join(mail),
                  "initiated_by": who, "time": _iso(first.activity_time)}
        findings.append(_finding(code, severity, SourceName.app_changes, rows, params, subject_id=app.key or None))
    return findings


def tenant_traps(evidence: Evidence) -> list[Finding]:
    """Every finding of this module (registered in `investigation.indicators.INDICATORS`)."""
    return [*transport_rules(evidence), *app_changes(evidence)]

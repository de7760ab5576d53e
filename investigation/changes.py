"""Changes, not only state: what the unified audit log says happened to the mailbox in the window.

The mailbox's present state (rules, forwarding, delegates) misses what an intruder undid before anyone looked: a
forwarding rule created and deleted again after the mail it wanted went out, forwarding set by another account, a
delegate added for an hour. The audit log keeps who did it, when, and from which IP.

**Which API, and why (2026).** Microsoft offers two ways to read the unified audit log:

- Graph v1.0 `POST /security/auditLog/queries`, then poll `GET /security/auditLog/queries/{id}` until it succeeds,
  then `GET .../records` (`auditLogQuery` and `auditLogRecord` are in the vendored v1.0 CSDL,
  `demo_tenant/metadata/v1.0-Prod.csdl`; application permission `AuditLogsQuery-Exchange.Read.All` or
  `AuditLogsQuery.Read.All`). The query is asynchronous: it runs for minutes before its records can be read.
- Exchange Online `Search-UnifiedAuditLog` over the REST endpoint the bot already uses for Exchange
  (`Exchange.ManageAsApp` plus an Exchange role holding View-Only Audit Logs or Audit Logs: Organization Management,
  Compliance Management, or the Exchange Administrator role): synchronous, one call, bounded by `-ResultSize`.

An investigation must finish within about 1.15 times its slowest upstream call (seconds, `bench/investigation.py`);
a query that takes minutes would either hold the card for minutes or always say "still running". So the bot asks
`Search-UnifiedAuditLog` once, tenant-wide, for the window (`-StartDate`/`-EndDate`), only the operations that
matter here (`m365.tenant.CHANGE_OPERATIONS`: New/Set/Enable/Disable/Remove-InboxRule, Outlook's UpdateInboxRules,
Set-Mailbox, Add/Remove-MailboxPermission, Add/Remove-RecipientPermission, Add/Set-MailboxFolderPermission and the
transport rule cmdlets) and at most 5,000 records (`-ResultSize`'s maximum), and keeps the records about each
account (`investigation.sources.changes_about`: made by it, or made to its mailbox). An outbreak reads it once for
all accounts. `-UserIds` would miss exactly what matters, a change made *by someone else*, and `-ObjectIds` needs
the Exchange object name, which is not the UPN, so the filter is applied here.

**Latency and licence.** Microsoft: an audit record is searchable 30 minutes to 24 hours after the event, so a
change made in the last day may not be there yet; the card's caveat says so and no finding is ever concluded from
an absence. Auditing needs Microsoft Purview Audit (Standard), included in Microsoft 365 E3/E5, Office 365
E1/E3/E5 and Business Basic/Standard/Premium, and on by default; without it (or with auditing turned off) the
source is "not checked".

Judgement (records are tenant text; they go into params and evidence rows only):

1. **A rule created and removed again in the window** (`rule_created_and_removed`): a New-InboxRule (or Outlook's
   UpdateInboxRules AddMailboxRule) and a later Remove-InboxRule (RemoveMailboxRule) of the same rule in the same
   mailbox. High when the rule forwarded or redirected mail outside the organisation, or deleted, moved or marked
   mail read (it hid something); medium otherwise (a rule that lived briefly is still worth a look). Rules still
   present are judged from their state by `investigation.indicators`.
2. **Forwarding set by someone else** (`forwarding_set_by_other`, high): Set-Mailbox with a ForwardingSmtpAddress
   or ForwardingAddress on this mailbox, run by another account (a delegate, an admin account, an intruder's
   helper). **Forwarding set from a foreign IP** (`forwarding_set_from_foreign_ip`, high): run by the account
   itself, from an IP that none of its successful sign-ins used, or that only sign-ins from outside its usage
   location used. Clearing forwarding is no sign.
3. **Permission grants to others** (`permission_granted`): Add-MailboxPermission (FullAccess),
   Add-RecipientPermission (SendAs), Add-/Set-MailboxFolderPermission on this mailbox to another account in the
   window. Medium; high when the trustee is outside the organisation.

Every finding has who (`initiated_by`), when (`time`) and from where (`ip`) as evidence rows. `grant_changes`
dates grants for `investigation.delegation`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from investigation.evidence import Evidence, SourceName
from investigation.indicators import Finding, Severity, _finding, _iso, _join, is_external
from m365.records import AuditChange, GrantKind, SignIn

# Operation names (unified audit log `Operation`) by what they do.
RULE_CREATE = frozenset({"new-inboxrule"})
RULE_REMOVE = frozenset({"remove-inboxrule"})
RULE_CHANGE = frozenset({"set-inboxrule", "enable-inboxrule", "disable-inboxrule"})
OUTLOOK_RULES = "updateinboxrules"  # mailbox audit (ExchangeItem): RuleOperation says which
FORWARDING = "set-mailbox"
GRANTS: Mapping[str, GrantKind] = {
    "add-mailboxpermission": GrantKind.full_access,
    "add-recipientpermission": GrantKind.send_as,
    "add-mailboxfolderpermission": GrantKind.folder,
    "set-mailboxfolderpermission": GrantKind.folder,
}
# Inbox rule parameters (New-InboxRule / Set-InboxRule) that send mail elsewhere or keep it from the user.
_SENDING = ("ForwardTo", "ForwardAsAttachmentTo", "RedirectTo")
_HIDING = ("DeleteMessage", "SoftDeleteMessage", "MoveToFolder", "MarkAsRead")
_ADDRESS = re.compile(r"[A-Za-z0-9._%+'\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
# Accounts Exchange runs cmdlets as for itself: never "someone else".
_SYSTEM_ACTORS = ("nt authority\\system", "s-1-5-18")


@dataclass(frozen=True)
class RuleEvent:
    """One inbox rule event from the audit log: created, changed or removed, with what the rule did."""

    kind: str  # "create" | "change" | "remove"
    rule: str
    change: AuditChange
    targets: tuple[str, ...] = ()
    hides: tuple[str, ...] = ()


def _lower(text: str) -> str:
    return text.strip().lower()


def _is_true(value: str) -> bool:
    return value.strip().lower().lstrip("$") in ("true", "1", "yes")


def _rule_name(change: AuditChange) -> str:
    """The rule's name: `-Name` (New-InboxRule), Outlook's RuleName, else the part after `\\` of the identity."""
    name = change.parameter("Name") or change.parameter("RuleName")
    if name:
        return name.strip()
    for raw in (change.parameter("Identity"), change.object_id):
        if "\\" in raw:
            return raw.rsplit("\\", 1)[1].strip()
    return ""


def rule_event(change: AuditChange) -> RuleEvent | None:
    """The inbox rule event a record describes, or None when it is not one."""
    operation = _lower(change.operation)
    if operation in RULE_CREATE:
        kind = "create"
    elif operation in RULE_REMOVE:
        kind = "remove"
    elif operation in RULE_CHANGE:
        kind = "change"
    elif operation == OUTLOOK_RULES:
        what = _lower(change.parameter("RuleOperation"))
        kind = {"addmailboxrule": "create", "removemailboxrule": "remove"}.get(what, "change")
    else:
        return None
    targets: list[str] = []
    for name in _SENDING:
        targets += _ADDRESS.findall(change.parameter(name))
    hides = [name for name in _HIDING if change.has_parameter(name)
             and (name == "MoveToFolder" and change.parameter(name) or _is_true(change.parameter(name)))]
    actions = change.parameter("RuleActions")
    if actions:
        # Outlook's UpdateInboxRules writes the actions as text: addresses and action names.
        targets += _ADDRESS.findall(actions)
        lowered = actions.lower()
        hides += [word for word in ("delete", "move", "markasread") if word in lowered]
    return RuleEvent(kind, _rule_name(change), change, tuple(dict.fromkeys(targets)), tuple(dict.fromkeys(hides)))


def _by_user(change: AuditChange, evidence: Evidence) -> bool:
    """True when the account itself made the change (its UPN, address or alias is the record's `UserId`)."""
    user = evidence.user
    actor = _lower(change.actor)
    names = {user.user_principal_name, user.mail or "", user.mail_nickname or "", user.id}
    names |= {p.split(":", 1)[-1] for p in user.proxy_addresses}
    return actor in {_lower(n) for n in names if n}


def _about_user(change: AuditChange, evidence: Evidence) -> bool:
    """True when the change was made to the account's own mailbox (not one it changed elsewhere)."""
    user = evidence.user
    names = {user.user_principal_name, user.user_principal_name.split("@", 1)[0], user.mail or "",
             user.mail_nickname or "", user.id}
    names |= {p.split(":", 1)[-1] for p in user.proxy_addresses}
    wanted = {_lower(n) for n in names if n}
    return bool(wanted.intersection(change.names()))


def _is_system(change: AuditChange) -> bool:
    return _lower(change.actor) in _SYSTEM_ACTORS


def _rows(change: AuditChange) -> list[tuple[str, str]]:
    return [("activity", change.operation), ("initiated_by", change.actor), ("time", _iso(change.time)),
            ("ip", change.client_ip)]


def _in_window(evidence: Evidence) -> list[AuditChange]:
    return sorted((c for c in evidence.mailbox_audit or () if evidence.in_window(c.time)),
                  key=lambda c: c.time or evidence.now)


# ------------------------------------------------------------------------------------------- rules


def rule_created_and_removed(evidence: Evidence) -> list[Finding]:
    """Rule 1 of the module docstring: rules of this mailbox created and removed again in the window."""
    findings: list[Finding] = []
    open_rules: dict[str, list[RuleEvent]] = {}
    for change in _in_window(evidence):
        if not _about_user(change, evidence):
            continue
        event = rule_event(change)
        if event is None or not event.rule:
            continue
        key = event.rule.casefold()
        if event.kind in ("create", "change"):
            if event.kind == "create" or key in open_rules:
                open_rules.setdefault(key, []).append(event)
            continue
        history = open_rules.pop(key, None)
        if not history or history[0].kind != "create":
            continue
        created = history[0]
        targets = [t for e in history for t in e.targets]
        external = [t for t in targets if is_external(t, evidence)]
        hides = [h for e in history for h in e.hides]
        severity = Severity.high if external or hides else Severity.medium
        rows = [("rule", created.rule), *_rows(created.change), ("target", _join(targets)),
                ("action", _join(hides)), ("activity", change.operation), ("initiated_by", change.actor),
                ("time", _iso(change.time)), ("ip", change.client_ip)]
        params = {"rule": created.rule, "created": _iso(created.change.time), "created_by": created.change.actor,
                  "removed": _iso(change.time), "removed_by": change.actor, "targets": _join(external or targets),
                  "ip": created.change.client_ip}
        findings.append(_finding("rule_created_and_removed", severity, SourceName.mailbox_audit, rows, params,
                                 subject_id=created.change.id or None))
    return findings


# -------------------------------------------------------------------------------------- forwarding


def _home_ips(sign_ins: Sequence[SignIn], usage_location: str | None) -> set[str]:
    """IPs of the account's successful sign-ins, from its usage location when that is known."""
    home = (usage_location or "").upper()
    return {s.ip_address for s in sign_ins if s.succeeded and s.ip_address
            and (not home or not s.country or s.country.upper() == home)}


def forwarding_changes(evidence: Evidence) -> list[Finding]:
    """Rule 2 of the module docstring: forwarding of this mailbox set by someone else, or from a foreign IP."""
    findings: list[Finding] = []
    sign_ins_read = evidence.is_available(SourceName.sign_ins) and evidence.sign_ins is not None
    home_ips = _home_ips(evidence.sign_ins or (), evidence.user.usage_location) if sign_ins_read else set()
    for change in _in_window(evidence):
        if _lower(change.operation) != FORWARDING or not _about_user(change, evidence) or _is_system(change):
            continue
        target = change.parameter("ForwardingSmtpAddress") or change.parameter("ForwardingAddress")
        target = target.strip()
        if target.lower().startswith("smtp:"):
            target = target[5:]
        if not target or target.lower() in ("$null", "null"):
            continue  # forwarding cleared, or another Set-Mailbox setting
        rows = [("target", target), *_rows(change)]
        params = {"target": target, "initiated_by": change.actor, "time": _iso(change.time), "ip": change.client_ip}
        if not _by_user(change, evidence):
            findings.append(_finding("forwarding_set_by_other", Severity.high, SourceName.mailbox_audit, rows,
                                     params, subject_id=change.id or None))
        elif sign_ins_read and change.client_ip and change.client_ip not in home_ips:
            findings.append(_finding("forwarding_set_from_foreign_ip", Severity.high, SourceName.mailbox_audit,
                                     rows, params, subject_id=change.id or None))
    return findings


# ------------------------------------------------------------------------------------------ grants


@dataclass(frozen=True)
class GrantChange:
    """A permission granted on the mailbox, from the audit log."""

    kind: GrantKind
    trustee: str
    rights: str
    change: AuditChange


def grant_change(change: AuditChange) -> GrantChange | None:
    """The grant a record made (Add-MailboxPermission `-User`, Add-RecipientPermission `-Trustee`, folder
    permissions `-User`), or None."""
    kind = GRANTS.get(_lower(change.operation))
    if kind is None:
        return None
    trustee = (change.parameter("Trustee") or change.parameter("User")).strip()
    if not trustee:
        return None
    rights = change.parameter("AccessRights") or kind.value
    return GrantChange(kind, trustee, rights, change)


def grant_changes(evidence: Evidence) -> Mapping[tuple[str, str, str], datetime]:
    """When each grant on the account's mailbox was made in the window, from the audit log:
    `(mailbox UPN, trustee, GrantKind value)` (lower case; trustee as the cmdlet named it) → the latest grant's
    time. Empty when the audit log was not checked: unknown, not "never"."""
    out: dict[tuple[str, str, str], datetime] = {}
    mailbox = _lower(evidence.user.user_principal_name)
    for change in _in_window(evidence):
        grant = grant_change(change)
        if grant is None or change.time is None or not _about_user(change, evidence):
            continue
        out[(mailbox, _lower(grant.trustee), grant.kind.value.lower())] = change.time
    return out


def permission_grants(evidence: Evidence) -> list[Finding]:
    """Rule 3 of the module docstring: rights on this mailbox granted to another account in the window."""
    findings: list[Finding] = []
    own = {_lower(n) for n in (evidence.user.user_principal_name, evidence.user.mail or "",
                               evidence.user.mail_nickname or "") if n}
    for change in _in_window(evidence):
        grant = grant_change(change)
        if grant is None or not _about_user(change, evidence) or _lower(grant.trustee) in own:
            continue
        outside = "#EXT#" in grant.trustee.upper() or is_external(grant.trustee, evidence)
        rows = [("trustee", grant.trustee), ("access", grant.rights), *_rows(change)]
        params = {"trustee": grant.trustee, "access": grant.rights, "initiated_by": change.actor,
                  "time": _iso(change.time), "ip": change.client_ip}
        findings.append(_finding("permission_granted", Severity.high if outside else Severity.medium,
                                 SourceName.mailbox_audit, rows, params, subject_id=change.id or None))
    return findings


def mailbox_changes(evidence: Evidence) -> list[Finding]:
    """Every finding of this module (the indicator registered in `investigation.indicators.INDICATORS`)."""
    if evidence.mailbox_audit is None:
        return []
    return [*rule_created_and_removed(evidence), *forwarding_changes(evidence), *permission_grants(evidence)]

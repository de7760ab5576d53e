"""Indicators of compromise: pure functions from `Evidence` to `Finding`s, and Microsoft's prevention steps.

A finding is data, not prose: a stable `code` (the locale catalogs hold the English and Dutch text, keyed
`finding.<code>`), a `severity`, labelled evidence rows and formatting `params`. Values in both come from
the tenant and may be attacker-written: the card escapes them. Every code and its params are declared in
`FINDING_PARAMS`; a test checks that each emitted finding matches its declaration and, later, that each
code has a locale entry.

Rules of judgement (the why behind each indicator) are documented at the indicator. The ones worth
knowing up front:

- "Outside the tenant" = an address whose domain is neither a verified domain nor a subdomain of one
  (case-insensitive). The UPN's domain always counts as verified (it must be).
- "Usual" countries for sign-ins (`investigation.signins.baseline`) are learned from what the account did
  *before* the 48 hours ahead of the restriction, never from the window itself, so an attacker's client that
  signs in hundreds of times after taking the account cannot become "usual"; with no history the usage
  location stands in, and with neither no country is called foreign. The sign-in rules (new country, the
  user's own device on a trip, impossible travel, many addresses, MFA fatigue) are written in that module.
- Severity `high` means "a sign an attacker was in the account", `medium` "needs a look", `low` "context
  for the admin, not a sign on its own", `info` "context that changes urgency, not compromise".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from types import MappingProxyType

from investigation import signins
from investigation.evidence import Evidence, SourceName
from investigation.reason import LimitType, parse_reason
from investigation.rules import (
    DISPOSAL_FOLDERS,
    UNREAD_FOLDERS,
    folder_identity,
    is_outlook_junk_rule,
    named_correspondents,
    sensitive_words,
)
from m365.records import AuthMethod, DirectoryAudit, InboxRule, SignIn

# ---------------------------------------------------------------------------------------------- model


class Severity(StrEnum):
    """How much a finding weighs; see the module docstring."""

    high = "high"
    medium = "medium"
    low = "low"
    info = "info"

    @property
    def rank(self) -> int:
        """0 for high … 3 for info, to sort the most severe first."""
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {Severity.high: 0, Severity.medium: 1, Severity.low: 2, Severity.info: 3}


@dataclass(frozen=True)
class Finding:
    """One observation. `rule_id` / `subject_id` let a remediation button target it (a rule, a grant, ...)."""

    code: str
    severity: Severity
    source: SourceName
    evidence: tuple[tuple[str, str], ...] = ()
    # Excluded from hashing: a mapping is not hashable; it is made read-only in __post_init__.
    params: Mapping[str, str] = field(default_factory=dict, hash=False)
    rule_id: str | None = None
    subject_id: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))


@dataclass(frozen=True)
class PreventionStep:
    """A step of Microsoft's "prevent a repeat" advice, with the Microsoft Learn page that explains it."""

    code: str
    url: str
    params: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))


IndicatorFn = Callable[[Evidence], list[Finding]]


@dataclass(frozen=True)
class Indicator:
    """A registered indicator. It is skipped when none of its `sources` is available."""

    name: str
    sources: tuple[SourceName, ...]
    check: IndicatorFn


# Every finding code with its params (all values strings; lists joined with ", "; times ISO 8601 UTC).
FINDING_PARAMS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    # mailbox configuration
    "rule_forwards_external": ("rule", "targets", "count"),
    "rule_hides_mail": ("rule", "actions", "folder"),
    "rule_hidden": ("rule",),
    "mailbox_forwards_external": ("target", "keeps_copy"),
    "mailbox_forwards_internal": ("target", "keeps_copy"),
    "auto_reply_enabled": (),
    # Identity Protection
    "user_confirmed_compromised": ("level",),
    "user_risk_high": ("level", "state"),
    "user_risk_elevated": ("level", "state"),
    "risk_anonymous_ip": ("risk_type", "ip", "country", "time"),
    "risk_malicious_ip": ("risk_type", "ip", "country", "time"),
    "risk_atypical_travel": ("risk_type", "ip", "country", "time"),
    "risk_leaked_credentials": ("risk_type", "ip", "country", "time"),
    "risk_password_spray": ("risk_type", "ip", "country", "time"),
    "risk_inbox_manipulation": ("risk_type", "ip", "country", "time"),
    "risk_token_theft": ("risk_type", "ip", "country", "time"),
    "risk_mfa_fraud": ("risk_type", "ip", "country", "time"),
    "risk_threat_intelligence": ("risk_type", "ip", "country", "time"),
    "risk_unfamiliar_sign_in": ("risk_type", "ip", "country", "time"),
    "risk_suspicious_sending": ("risk_type", "ip", "country", "time"),
    "risk_suspicious_api_traffic": ("risk_type", "ip", "country", "time"),
    "risk_generic": ("risk_type", "ip", "country", "time"),
    "risk_other": ("risk_type", "ip", "country", "time"),
    "risk_remediated": ("risk_type", "state", "detail", "time"),
    # sign-ins
    "sign_in_new_country": ("country", "city", "ip", "time", "count"),
    "sign_in_password_ok_blocked": ("country", "ip", "time", "count"),
    "failed_sign_in_foreign": ("country", "count"),
    "legacy_protocol_sign_in": ("protocols", "count"),
    "shared_mailbox_sign_in": ("count", "time"),
    # sign-ins judged by investigation.signins
    "sign_in_travel_known_device": ("country", "device", "time", "count"),
    "sign_in_baseline_unknown": ("countries", "time"),
    "sign_in_impossible_travel": ("from_place", "to_place", "distance", "minutes", "time"),
    "sign_in_many_addresses": ("count", "minutes", "time", "protocols"),
    "mfa_fatigue_approved": ("count", "time", "ip", "country", "after_count"),
    "mfa_prompts_denied": ("count", "time", "ip", "country"),
    # directory
    "mfa_method_registered": ("method", "time", "ip"),
    "mfa_registered_from_suspicious_ip": ("method", "time", "ip"),
    "password_reset_by_other": ("initiated_by", "time"),
    "password_changed_repeatedly": ("count",),
    "display_name_changed": ("old", "new", "initiated_by", "time"),
    "contact_info_changed": ("properties", "initiated_by", "time"),
    "admin_role_added": ("role", "initiated_by", "time"),
    "admin_roles_held": ("roles", "count"),
    # consents
    "consent_unverified_app": ("app", "scopes"),
    # Defender
    "defender_alert": ("title", "severity", "time"),
    "inbox_rule_changed": ("title", "time"),
    # the restriction itself
    "outbound_spam_detected": ("spam_percent", "spam_count", "mail_count"),
    "send_volume_spike": ("recipients", "mail_count", "limit_type"),
    "restriction_reason_compromised": (),
    # changes from the audit log (investigation.changes)
    "rule_created_and_removed": ("rule", "created", "created_by", "removed", "removed_by", "targets", "ip"),
    "forwarding_set_by_other": ("target", "initiated_by", "time", "ip"),
    "forwarding_set_from_foreign_ip": ("target", "initiated_by", "time", "ip"),
    "permission_granted": ("trustee", "access", "initiated_by", "time", "ip"),
    # tenant-wide traps (investigation.tenant_traps)
    "tenant_transport_rule_external": ("rule", "targets", "actions", "time", "initiated_by"),
    "tenant_app_mail_access": ("app", "activities", "scopes", "initiated_by", "time"),
    "tenant_app_credential": ("app", "activities", "scopes", "initiated_by", "time"),
    "tenant_app_added": ("app", "activities", "scopes", "initiated_by", "time"),
    # the burst itself, from the message trace (investigation.burst)
    "burst_summary": ("messages", "hours", "recipients", "external", "domains", "subjects", "ips"),
    "burst_ip_not_in_sign_ins": ("ip", "count"),
    "burst_unusual_recipients": ("count", "external", "usual"),
    # delegation (investigation.delegation)
    "delegate_outside": ("trustee", "access"),
    "delegate_new_account": ("trustee", "access", "created"),
    "delegates_listed": ("delegates", "count"),
})
FINDING_CODES: tuple[str, ...] = tuple(FINDING_PARAMS)

# Keys of `Finding.evidence` rows (the card labels them via the locale catalogs, `evidence.<key>`).
EVIDENCE_KEYS: tuple[str, ...] = (
    "domain", "subject", "trace_cap",  # the burst (investigation.burst)
    "rule", "action", "target", "folder", "marker", "condition", "keeps_copy",
    "country", "city", "ip", "time", "first_seen", "last_seen", "count", "app", "protocol", "sign_in",
    "risk_type", "risk_level", "risk_state", "method", "activity", "initiated_by", "property", "old", "new",
    "role", "scope", "publisher", "alert", "severity", "status", "spam_percent", "recipients", "limit_type",
    "trace_id", "trustee", "access", "account", "created",
    "device",  # sign-ins (investigation.signins)
)

# Prevention step codes and their Microsoft Learn pages.
MFA_URL = "https://learn.microsoft.com/microsoft-365/admin/security-and-compliance/set-up-multi-factor-authentication"
BASIC_AUTH_URL = (
    "https://learn.microsoft.com/exchange/clients-and-mobile-in-exchange-online/"
    "disable-basic-authentication-in-exchange-online"
)
SMTP_AUTH_URL = (
    "https://learn.microsoft.com/exchange/clients-and-mobile-in-exchange-online/authenticated-client-smtp-submission"
)
POP_IMAP_URL = (
    "https://learn.microsoft.com/exchange/clients-and-mobile-in-exchange-online/pop3-and-imap4/"
    "enable-or-disable-pop3-or-imap4-access"
)
SECURITY_BEST_PRACTICES_URL = (
    "https://learn.microsoft.com/microsoft-365/admin/security-and-compliance/secure-your-business-data"
)
PREVENTION_CODES: tuple[str, ...] = ("enable_mfa", "disable_legacy_protocols")

# ------------------------------------------------------------------------------------------ helpers

_MAX_VALUE = 200
_MAX_ITEMS = 10


def _clip(value: str) -> str:
    """Bound tenant text: a rule name or an address can be as long as the attacker likes."""
    return value if len(value) <= _MAX_VALUE else value[: _MAX_VALUE - 1] + "…"


def _join(values: Iterable[str]) -> str:
    items = list(dict.fromkeys(v for v in values if v))
    shown = ", ".join(_clip(v) for v in items[:_MAX_ITEMS])
    return shown + (f" (+{len(items) - _MAX_ITEMS})" if len(items) > _MAX_ITEMS else "")


def _iso(when: datetime | None) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if when is not None else ""


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _domain(address: str) -> str | None:
    """The domain of an SMTP address (without `smtp:`), lower case; None when it is not an SMTP address."""
    text = address.strip()
    if text.lower().startswith("smtp:"):
        text = text[5:]
    if "@" not in text:
        return None
    return text.rsplit("@", 1)[1].strip().strip(">").rstrip(".").lower() or None


def _inside_domains(evidence: Evidence) -> tuple[str, ...]:
    domains = {d.strip().lower().rstrip(".") for d in evidence.verified_domains if d.strip()}
    upn_domain = _domain(evidence.user.user_principal_name)
    if upn_domain:
        domains.add(upn_domain)
    return tuple(sorted(domains))


def is_external(address: str, evidence: Evidence) -> bool:
    """True when `address` is outside the tenant: its domain is no verified domain nor a subdomain of one.

    Strings without `@` are Exchange identities (a mailbox name, a legacy DN), which resolve inside the
    tenant, so they are not external.
    """
    domain = _domain(address)
    if domain is None:
        return False
    return not any(domain == d or domain.endswith("." + d) for d in _inside_domains(evidence))


def _finding(
    code: str,
    severity: Severity,
    source: SourceName,
    evidence: Iterable[tuple[str, str]],
    params: Mapping[str, str],
    *,
    rule_id: str | None = None,
    subject_id: str | None = None,
) -> Finding:
    rows = tuple((key, _clip(value)) for key, value in evidence if value)
    return Finding(code, severity, source, rows, {k: _clip(v) for k, v in params.items()}, rule_id, subject_id)


# ----------------------------------------------------------------------------------- inbox rules

# Where rules move mail, by well-known identity (`investigation.rules.folder_identity`, any mailbox language):
# folders nobody reads (RSS Feeds, RSS Subscriptions, Conversation History, Notes… — Microsoft names Notes, Junk
# Email and RSS Subscriptions in its write-up of the attack) and folders where unwanted mail goes (Deleted Items,
# Junk Email, Archive), which users file into too.
HIDING_FOLDERS: frozenset[str] = UNREAD_FOLDERS | DISPOSAL_FOLDERS
# Kept for callers that knew the older name: the identities of every folder a rule can hide mail in.
HIDDEN_FOLDER_NAMES: frozenset[str] = HIDING_FOLDERS


def is_attacker_style_name(name: str) -> bool:
    """True for the throw-away names attackers give rules and folders: empty, one character, or no letters
    or digits at all (".", "..", ",", "a", "-")."""
    stripped = name.strip()
    return len(stripped) <= 1 or not any(ch.isalnum() for ch in stripped)


def _folder_name(rule: InboxRule, evidence: Evidence) -> tuple[str, str | None]:
    """The move target's display name (or its raw id) and where it hides mail: "unread" (a folder nobody reads,
    or one with a throw-away name), "disposal" (Deleted Items, Junk Email, Archive), or None (an ordinary folder,
    or one we could not name)."""
    name, identity = folder_identity(rule.move_to_folder, evidence.mail_folders)
    resolved = any(f.id == rule.move_to_folder for f in evidence.mail_folders or ())
    if identity in UNREAD_FOLDERS or (resolved and is_attacker_style_name(name)):
        return name, "unread"
    if identity in DISPOSAL_FOLDERS:
        return name, "disposal"
    return name, None


def _condition_rows(rule: InboxRule) -> list[tuple[str, str]]:
    """The rule's conditions as `("condition", "subjectContains: invoice, payment")` rows."""
    rows: list[tuple[str, str]] = []
    for key, value in rule.conditions.items():
        if isinstance(value, bool):
            text = key if value else ""
        elif isinstance(value, str):
            text = f"{key}: {value}"
        elif isinstance(value, Sequence):
            parts: list[str] = []
            for item in value:
                if isinstance(item, str):
                    parts.append(item)
                elif isinstance(item, Mapping):
                    address = item.get("emailAddress")
                    if isinstance(address, Mapping) and isinstance(address.get("address"), str):
                        parts.append(address["address"])
            text = f"{key}: {_join(parts)}" if parts else ""
        else:
            text = ""
        if text:
            rows.append(("condition", text))
        if len(rows) >= 5:
            break
    return rows


def rule_rows(rule: InboxRule, evidence: Evidence) -> tuple[tuple[str, str], ...]:
    """What the rule does, as evidence rows for the confirmation before it is deleted: its conditions (as
    `_condition_rows`), then each action in Graph's `messageRuleActions` names (`forwardTo`, `delete`,
    `moveToFolder` …) with the addresses it sends to (`target`) and the folder it files into (`folder`)."""
    rows = _condition_rows(rule)
    for action, addresses in (("forwardTo", rule.forward_to), ("forwardAsAttachmentTo", rule.forward_as_attachment_to),
                              ("redirectTo", rule.redirect_to)):
        if addresses:
            rows.append(("action", action))
            rows.extend(("target", address) for address in addresses)
    if rule.move_to_folder:
        rows.append(("action", "moveToFolder"))
        rows.append(("folder", folder_identity(rule.move_to_folder, evidence.mail_folders)[0]))
    rows.extend(("action", action) for action, on in (
        ("delete", rule.delete), ("permanentDelete", rule.permanent_delete), ("markAsRead", rule.mark_as_read),
        ("stopProcessingRules", rule.stop_processing_rules)) if on)
    return tuple(rows)


# Unified audit log operations that create or change an inbox rule (Exchange cmdlets, and Outlook's own record).
RULE_CHANGE_OPERATIONS: frozenset[str] = frozenset({"new-inboxrule", "set-inboxrule", "enable-inboxrule",
                                                    "updateinboxrules"})


def _rules_changed_in_window(evidence: Evidence) -> frozenset[str]:
    """Names (case-folded) of inbox rules the audit log (`mailbox_audit`) shows created or changed in the window.

    Graph's messageRule and Exchange's Get-InboxRule carry no date, so only the audit log can say it; when it was
    not read this is empty and the other marks decide. The rule is named by the cmdlet's `Name` (New-InboxRule),
    `Identity` (Set-/Enable-InboxRule, possibly `mailbox\\rule`) or Outlook's `RuleName` operation property.
    """
    names: set[str] = set()
    for change in evidence.mailbox_audit or ():
        if change.operation.strip().lower() not in RULE_CHANGE_OPERATIONS or not evidence.in_window(change.time):
            continue
        name = change.parameter("Name") or change.parameter("RuleName") or change.parameter("Identity")
        name = name.rsplit("\\", 1)[-1].strip()
        if name:
            names.add(name.casefold())
    return frozenset(names)


def _trait_rows(rule: InboxRule, evidence: Evidence, changed: frozenset[str]) -> list[tuple[str, str]]:
    """The marks of an attacker's rule (`investigation.rules`), as marker rows; none for housekeeping."""
    rows: list[tuple[str, str]] = []
    categories = dict.fromkeys(category for category, _ in sensitive_words(rule))
    rows.extend(("marker", f"{category}_words") for category in categories)
    if named_correspondents(rule):
        rows.append(("marker", "named_correspondents"))
    if is_attacker_style_name(rule.display_name):
        rows.append(("marker", "attacker_style_name"))
    if rule.hidden:
        rows.append(("marker", "hidden_rule"))
    if rule.display_name.strip().casefold() in changed:
        rows.append(("marker", "created_in_window"))
    return rows


def rule_forwarding(evidence: Evidence) -> list[Finding]:
    """High: an enabled inbox rule forwards, forwards as attachment or redirects mail outside the tenant.

    Forwarding out is the attacker's mark on its own; the other marks (payment or security words, named senders,
    a throw-away name, hidden) are added as evidence rows. Disabled rules are left out: they do nothing now (and
    are often the admin's own earlier clean-up).
    """
    changed = _rules_changed_in_window(evidence)
    findings: list[Finding] = []
    for rule in evidence.inbox_rules or ():
        if not rule.is_enabled:
            continue
        actions = (
            ("forward", rule.forward_to),
            ("forward_as_attachment", rule.forward_as_attachment_to),
            ("redirect", rule.redirect_to),
        )
        rows: list[tuple[str, str]] = [("rule", rule.display_name)]
        targets: list[str] = []
        for action, addresses in actions:
            external = [a for a in addresses if is_external(a, evidence)]
            if external:
                rows.append(("action", action))
                targets.extend(external)
        if not targets:
            continue
        rows.extend(("target", t) for t in dict.fromkeys(targets))
        rows.extend(_trait_rows(rule, evidence, changed))
        rows.extend(_condition_rows(rule))
        params = {"rule": rule.display_name, "targets": _join(targets), "count": str(len(set(targets)))}
        findings.append(_finding("rule_forwards_external", Severity.high, SourceName.inbox_rules, rows, params,
                                 rule_id=rule.item_id or None))
    return findings


def rule_hiding(evidence: Evidence) -> list[Finding]:
    """An enabled inbox rule that keeps mail from the user: deletes it, moves it out of sight, or marks it read.
    One finding per rule, listing every hiding action.

    Whose rule is it? Deleting or filing mail the user plainly does not want is housekeeping (Microsoft's own
    example rule deletes mail whose subject says "enter to win"), so the action alone decides nothing. The rule is
    the attacker's when it also carries one of the marks of `investigation.rules`: its conditions target payment or
    security wording, it acts on mail from named senders (replies from the people the attacker writes to), it or
    its target folder has a throw-away name, it is hidden from Outlook, or the audit log shows it made in the window.

    - high: any hiding action together with a mark.
    - medium: no mark, but mail is moved to a folder nobody reads (RSS Feeds, Conversation History, Notes…, by
      well-known identity in any language): users do not file mail there, so it needs a look.
    - low: no mark; deletes, marks read, or files into Deleted Items, Junk Email or Archive — shown as context
      (marker `housekeeping`), not a sign.
    A move to a folder we could not name, or an ordinary one, is no hiding action.
    """
    changed = _rules_changed_in_window(evidence)
    findings: list[Finding] = []
    for rule in evidence.inbox_rules or ():
        if not rule.is_enabled:
            continue
        actions: list[str] = []
        folder = ""
        unread_folder = unnamed_folder = False
        if rule.permanent_delete:
            actions.append("permanent_delete")
        if rule.delete:
            actions.append("delete")
        if rule.move_to_folder:
            name, where = _folder_name(rule, evidence)
            if where == "unread":
                actions.append("move_to_folder")
                folder, unread_folder = name, True
            elif where == "disposal":
                actions.append("move_to_disposal")
                folder = name
            elif is_attacker_style_name(rule.display_name) and not any(
                    f.id == rule.move_to_folder for f in evidence.mail_folders or ()):
                # A throw-away rule moving mail to a folder we could not name: worth a look, not proof.
                actions.append("move_to_folder")
                folder, unnamed_folder = name, True
        if rule.mark_as_read:
            actions.append("mark_as_read")
        if not actions:
            continue
        traits = _trait_rows(rule, evidence, changed)
        # The throw-away folder name is a mark too (the rule's own name is in `traits`).
        if unread_folder and is_attacker_style_name(folder) and ("marker", "attacker_style_name") not in traits:
            traits.append(("marker", "attacker_style_name"))
        if traits and (len(actions) > 1 or not unnamed_folder):
            severity = Severity.high
        elif unread_folder or unnamed_folder:
            severity = Severity.medium
        else:
            severity = Severity.low
            traits = [("marker", "housekeeping")]
        rows: list[tuple[str, str]] = [("rule", rule.display_name)]
        rows.extend(("action", a) for a in actions)
        rows.append(("folder", folder))
        rows.extend(traits)
        rows.extend(_condition_rows(rule))
        params = {"rule": rule.display_name, "actions": ", ".join(actions), "folder": folder}
        findings.append(_finding("rule_hides_mail", severity, SourceName.inbox_rules, rows, params,
                                 rule_id=rule.item_id or None))
    return findings


def hidden_rules(evidence: Evidence) -> list[Finding]:
    """High: an enabled inbox rule hidden from Outlook and Graph (only `Get-InboxRule -IncludeHidden` returns it)
    that neither forwards mail out nor hides it (those rules are reported, marked hidden, by `rule_forwarding` and
    `rule_hiding`). Users cannot make hidden rules; attackers do, through MAPI. Outlook's own "Junk E-Mail Rule",
    hidden in every mailbox, is left out."""
    changed = _rules_changed_in_window(evidence)
    findings: list[Finding] = []
    for rule in evidence.inbox_rules or ():
        if not rule.hidden or not rule.is_enabled or is_outlook_junk_rule(rule):
            continue
        forwards_out = any(is_external(a, evidence) for a in rule.external_targets)
        hides = rule.delete or rule.permanent_delete or rule.mark_as_read or bool(rule.move_to_folder)
        if forwards_out or hides:
            continue
        rows: list[tuple[str, str]] = [("rule", rule.display_name)]
        rows.extend(("target", t) for t in rule.external_targets)
        rows.extend(_trait_rows(rule, evidence, changed))
        rows.extend(_condition_rows(rule))
        findings.append(_finding("rule_hidden", Severity.high, SourceName.inbox_rules, rows,
                                 {"rule": rule.display_name}, rule_id=rule.item_id or None))
    return findings


# ------------------------------------------------------------------------------- mailbox settings


def mailbox_forwarding(evidence: Evidence) -> list[Finding]:
    """Mailbox-level forwarding (`Get-Mailbox`). High when `ForwardingSmtpAddress` leaves the tenant;
    low when it stays inside (`ForwardingAddress` is always an internal recipient), which is usually a
    manager or assistant arrangement but still worth showing."""
    mailbox = evidence.mailbox
    if mailbox is None:
        return []
    target = mailbox.forwarding_target
    if not target:
        return []
    keeps_copy = _flag(mailbox.deliver_to_mailbox_and_forward)
    external = bool(mailbox.forwarding_smtp_address) and is_external(target, evidence)
    code, severity = (
        ("mailbox_forwards_external", Severity.high) if external else ("mailbox_forwards_internal", Severity.low)
    )
    rows = [("target", target), ("keeps_copy", keeps_copy)]
    return [_finding(code, severity, SourceName.mailbox, rows, {"target": target, "keeps_copy": keeps_copy})]


def auto_reply(evidence: Evidence) -> list[Finding]:
    """Low: automatic replies are on (attackers use them to keep correspondents from noticing)."""
    if evidence.auto_reply_enabled:
        return [_finding("auto_reply_enabled", Severity.low, SourceName.auto_reply, (), {})]
    return []


# --------------------------------------------------------------------------- Identity Protection

# Risk states that mean "an admin or the user already dealt with it and it was not an attacker".
_DISMISSED_STATES = frozenset({"dismissed", "confirmedsafe"})


def user_risk(evidence: Evidence) -> list[Finding]:
    """Identity Protection's user risk. High: riskState confirmedCompromised, or riskLevel high while at
    risk. Low: riskLevel low or medium. Dismissed / confirmed-safe / remediated users give nothing."""
    risky = evidence.risky_user
    if risky is None:
        return []
    state = risky.risk_state.lower()
    level = risky.risk_level.lower()
    rows = [("risk_level", risky.risk_level), ("risk_state", risky.risk_state), ("time", _iso(risky.risk_last_updated))]
    if state == "confirmedcompromised":
        return [_finding("user_confirmed_compromised", Severity.high, SourceName.risky_user, rows,
                         {"level": risky.risk_level})]
    if state in _DISMISSED_STATES or state == "remediated":
        return []
    if level == "high":
        return [_finding("user_risk_high", Severity.high, SourceName.risky_user, rows,
                         {"level": risky.risk_level, "state": risky.risk_state})]
    if level in ("medium", "low"):
        return [_finding("user_risk_elevated", Severity.low, SourceName.risky_user, rows,
                         {"level": risky.risk_level, "state": risky.risk_state})]
    return []


# riskEventType (lower case) → (finding code, severity).
RISK_EVENT_CODES: Mapping[str, tuple[str, Severity]] = MappingProxyType({
    "anonymizedipaddress": ("risk_anonymous_ip", Severity.high),
    "maliciousipaddress": ("risk_malicious_ip", Severity.high),
    "malwareinfectedipaddress": ("risk_malicious_ip", Severity.high),
    "suspiciousipaddress": ("risk_malicious_ip", Severity.high),
    "riskyipaddress": ("risk_malicious_ip", Severity.high),
    "nationstateip": ("risk_malicious_ip", Severity.high),
    "impossibletravel": ("risk_atypical_travel", Severity.high),
    "unlikelytravel": ("risk_atypical_travel", Severity.high),
    "mcasimpossibletravel": ("risk_atypical_travel", Severity.high),
    "leakedcredentials": ("risk_leaked_credentials", Severity.high),
    "passwordspray": ("risk_password_spray", Severity.high),
    "mcassuspiciousinboxmanipulationrules": ("risk_inbox_manipulation", Severity.high),
    "suspiciousinboxforwarding": ("risk_inbox_manipulation", Severity.high),
    "anomaloustoken": ("risk_token_theft", Severity.high),
    "tokenissueranomaly": ("risk_token_theft", Severity.high),
    "attackerinthemiddle": ("risk_token_theft", Severity.high),
    "attemptedprtaccess": ("risk_token_theft", Severity.high),
    "mfafraud": ("risk_mfa_fraud", Severity.high),
    "userreportedsuspiciousactivity": ("risk_mfa_fraud", Severity.high),
    "suspiciousauthappapproval": ("risk_mfa_fraud", Severity.high),
    "investigationsthreatintelligence": ("risk_threat_intelligence", Severity.high),
    "adminconfirmedusercompromised": ("user_confirmed_compromised", Severity.high),
    "unfamiliarfeatures": ("risk_unfamiliar_sign_in", Severity.medium),
    "newcountry": ("risk_unfamiliar_sign_in", Severity.medium),
    "suspiciousbrowser": ("risk_unfamiliar_sign_in", Severity.medium),
    "anomaloususeractivity": ("risk_unfamiliar_sign_in", Severity.medium),
    "suspicioussendingpatterns": ("risk_suspicious_sending", Severity.medium),
    # Abnormal Graph traffic or directory enumeration by the user: reconnaissance, which needs a look.
    "suspiciousapitraffic": ("risk_suspicious_api_traffic", Severity.medium),
    # What a tenant without Entra ID P2 sees for a premium detection (riskDetection page): a risk, type hidden.
    "generic": ("risk_generic", Severity.medium),
})


# Risk states and details that say Identity Protection already closed the detection: the user proved it was them
# (a secure password reset, MFA), an admin dismissed or confirmed it safe, or the risk was remediated. riskDetail
# values from microsoft-graph-docs-contrib api-reference/v1.0/resources/riskdetection.md (riskDetail).
CLOSED_RISK_STATES: frozenset[str] = frozenset({"remediated", "dismissed", "confirmedsafe"})
CLOSED_RISK_DETAILS: frozenset[str] = frozenset({
    "userperformedsecuredpasswordchange", "userperformedsecuredpasswordreset", "userpassedmfadrivenbyriskbasedpolicy",
    "admindismissedallriskforuser", "adminconfirmedsigninsafe", "admingeneratedtemporarypassword",
    "aiconfirmedsigninsafe", "userchangedpasswordonpremises", "admindismissedriskforsignin",
    "adminconfirmedusersafe", "m365dadmindismisseddetection",
})


def _risk_closed(state: str, detail: str) -> bool:
    return state.lower() in CLOSED_RISK_STATES or detail.lower() in CLOSED_RISK_DETAILS


def risk_detections(evidence: Evidence) -> list[Finding]:
    """One finding per risk detection in the window (duplicates of the same type and IP merged), mapped by
    `RISK_EVENT_CODES`.

    A detection Identity Protection already closed (riskState remediated, dismissed or confirmedSafe, or a
    riskDetail such as `userPerformedSecuredPasswordReset` or `adminDismissedAllRiskForUser`: `_risk_closed`) is
    context, not a live sign: low `risk_remediated`, whatever its type (one per type and IP).

    `anonymizedIPAddress` is high only when a *successful* sign-in in the log came from that IP, else medium
    (also when the sign-ins could not be checked): many people use a privacy VPN; a successful sign-in
    through one into a spam-restricted account is the sign. Unknown types are medium when Microsoft rated
    them high, else low. `adminConfirmedUserCompromised` is skipped when the risky-user record already
    says so.
    """
    successful_ips = {s.ip_address for s in evidence.sign_ins or () if s.succeeded and s.ip_address}
    risky = evidence.risky_user
    already_confirmed = risky is not None and risky.risk_state.lower() == "confirmedcompromised"
    seen: set[tuple[str, str]] = set()
    findings: list[Finding] = []
    for det in evidence.risk_detections or ():
        if det.detected is not None and not evidence.in_window(det.detected):
            continue
        event = det.risk_event_type.lower()
        if _risk_closed(det.risk_state, det.risk_detail):
            key = ("risk_remediated:" + event, det.ip_address)
            if key in seen:
                continue
            seen.add(key)
            time = _iso(det.detected)
            rows = [("risk_type", det.risk_event_type), ("risk_state", det.risk_state), ("activity", det.risk_detail),
                    ("ip", det.ip_address), ("country", det.country), ("time", time)]
            findings.append(_finding("risk_remediated", Severity.low, SourceName.risk_detections, rows,
                                     {"risk_type": det.risk_event_type, "state": det.risk_state,
                                      "detail": det.risk_detail, "time": time}, subject_id=det.id or None))
            continue
        code, severity = RISK_EVENT_CODES.get(
            event, ("risk_other", Severity.medium if det.risk_level.lower() == "high" else Severity.low)
        )
        if code == "user_confirmed_compromised" and already_confirmed:
            continue
        signed_in = bool(det.ip_address) and det.ip_address in successful_ips
        if code == "risk_anonymous_ip" and not signed_in:
            severity = Severity.medium
        key = (code + ":" + event, det.ip_address)
        if key in seen:
            continue
        seen.add(key)
        rows = [
            ("risk_type", det.risk_event_type), ("risk_level", det.risk_level), ("ip", det.ip_address),
            ("country", det.country), ("city", det.city), ("time", _iso(det.detected)),
            ("sign_in", "succeeded" if signed_in else ""),
        ]
        if code == "user_confirmed_compromised":
            params = {"level": det.risk_level}
        else:
            params = {"risk_type": det.risk_event_type, "ip": det.ip_address, "country": det.country,
                      "time": _iso(det.detected)}
        findings.append(_finding(code, severity, SourceName.risk_detections, rows, params,
                                 subject_id=det.id or None))
    return findings


def sign_in_risk(evidence: Evidence) -> list[Finding]:
    """Entra's risk verdict on the sign-ins themselves (`riskEventTypes_v2` of a v1.0 `signIn`).

    Sign-ins carry their risk types whatever the licence, so a sign-in flagged `anonymizedIPAddress` is a
    finding even when Identity Protection's detections list cannot be read (no Entra ID P2, no permission).
    Each risk type is mapped by `RISK_EVENT_CODES` as in `risk_detections`, one finding per type and IP; a
    type and IP that the detections list already reports is left to it. A failed sign-in is at most medium:
    the attacker did not get in that time. Sign-ins whose risk was dismissed or confirmed safe are left out.
    """
    # Every detection is reported by `risk_detections` (a closed one as `risk_remediated`), so its sign-in is not
    # reported again here as if it were live.
    reported = {(d.risk_event_type.lower(), d.ip_address) for d in evidence.risk_detections or ()}
    seen: set[tuple[str, str]] = set()
    findings: list[Finding] = []
    for s in sorted(evidence.sign_ins or (), key=lambda s: s.created or evidence.now):
        if not s.risk_event_types or not evidence.in_window(s.created) or s.risk_state.lower() in _DISMISSED_STATES:
            continue
        level = s.risk_level_during_sign_in
        if level.lower() == "none":
            level = s.risk_level_aggregated
        for risk_type in s.risk_event_types:
            event = risk_type.lower()
            code, severity = RISK_EVENT_CODES.get(
                event, ("risk_other", Severity.medium if level.lower() == "high" else Severity.low)
            )
            if code == "user_confirmed_compromised" or (event, s.ip_address) in reported:
                continue
            if (event, s.ip_address) in seen:
                continue
            seen.add((event, s.ip_address))
            if not s.succeeded and severity.rank < Severity.medium.rank:
                severity = Severity.medium
            rows = [
                ("risk_type", risk_type), ("risk_level", level), ("ip", s.ip_address), ("country", _country(s)),
                ("city", s.city), ("time", _iso(s.created)), ("sign_in", "succeeded" if s.succeeded else "failed"),
                ("app", s.app_display_name),
            ]
            params = {"risk_type": risk_type, "ip": s.ip_address, "country": _country(s), "time": _iso(s.created)}
            findings.append(_finding(code, severity, SourceName.sign_ins, rows, params, subject_id=s.id or None))
    return findings


# ----------------------------------------------------------------------------------------- sign-ins

# Sign-in judgement (baseline, trips on the user's own device, impossible travel, address bursts, MFA fatigue)
# lives in `investigation.signins`; these functions turn its readings into findings.

# Sign-in error codes that come *after* the password was accepted: MFA required (50074, 50076, 50079),
# MFA failed or denied (500121), blocked by Conditional Access (53003). From a foreign country they mean
# someone else knows the password.
PASSWORD_OK_ERROR_CODES: frozenset[int] = frozenset({50074, 50076, 50079, 500121, 53003})


def _country(sign_in: SignIn) -> str:
    return signins.country(sign_in)


def _windowed_sign_ins(evidence: Evidence) -> list[SignIn]:
    # The collector asks for the window already; records without a time are kept rather than guessed away.
    return [s for s in evidence.sign_ins or () if s.created is None or evidence.in_window(s.created)]


def _by_country(sign_ins: Iterable[SignIn]) -> dict[str, list[SignIn]]:
    grouped: dict[str, list[SignIn]] = {}
    for s in sign_ins:
        grouped.setdefault(_country(s), []).append(s)
    return grouped


def _earliest(sign_ins: Sequence[SignIn]) -> SignIn:
    far_future = datetime.max.replace(tzinfo=UTC)
    return min(sign_ins, key=lambda s: s.created or far_future)


def _latest(sign_ins: Sequence[SignIn]) -> SignIn:
    return max(sign_ins, key=lambda s: s.created or datetime.min.replace(tzinfo=UTC))


def _place(sign_in: SignIn) -> str:
    """"Lagos, NG" (or just the country, or the IP when Entra could not place it)."""
    parts = [p for p in (sign_in.city.strip(), _country(sign_in)) if p]
    return ", ".join(parts) or sign_in.ip_address


def _baseline_rows(base: signins.Baseline) -> list[tuple[str, str]]:
    return [("marker", "baseline_usage_location")] if base.source == signins.BaselineSource.usage_location else []


def sign_in_new_country(evidence: Evidence) -> list[Finding]:
    """A successful sign-in from a country outside the baseline (`investigation.signins.baseline`: what the
    account did before the incident window). One finding per country, with its first sign-in (time, IP, city,
    app), the last one (`last_seen`) and how many came from there.

    High (`sign_in_new_country`), marked `unknown_device` when a sign-in there came from no device the user
    used at home before, and `home_continued` when home sign-ins went on from another device meanwhile (two
    people, not one traveller). Low (`sign_in_travel_known_device`) when every sign-in there came from the
    user's own managed or compliant device and home fell silent: a travelling employee (`signins.Trip`).
    """
    base = signins.baseline(evidence)
    findings: list[Finding] = []
    for trip in signins.trips(evidence, base):
        items = list(trip.sign_ins)
        first, last = _earliest(items), _latest(items)
        rows = [
            ("country", trip.country), ("city", first.city), ("ip", first.ip_address), ("time", _iso(first.created)),
            ("last_seen", _iso(last.created) if last is not first else ""), ("app", first.app_display_name),
            ("protocol", first.client_app_used), ("count", str(len(items))),
        ]
        if trip.travelling:
            device = _join(d.name or d.id for d in trip.own_devices)
            rows += [("device", device), ("marker", "known_device"), ("marker", "home_stopped")]
            params = {"country": trip.country, "device": device, "time": _iso(first.created),
                      "count": str(len(items))}
            findings.append(_finding("sign_in_travel_known_device", Severity.low, SourceName.sign_ins, rows, params,
                                     subject_id=first.id or None))
            continue
        # The why comes first: the card shows the first few kinds of row only.
        why: list[tuple[str, str]] = [] if trip.on_own_device else [("marker", "unknown_device")]
        if trip.home_continued:
            home = _latest(list(trip.home_continued))
            why += [("marker", "home_continued"), ("device", home.device_name or home.device_id)]
        rows = why + _baseline_rows(base) + rows
        params = {"country": trip.country, "city": first.city, "ip": first.ip_address, "time": _iso(first.created),
                  "count": str(len(items))}
        findings.append(_finding("sign_in_new_country", Severity.high, SourceName.sign_ins, rows, params,
                                 subject_id=first.id or None))
    return findings


def sign_in_baseline_unknown(evidence: Evidence) -> list[Finding]:
    """No history before the incident window and no usage location: no country can be called usual, so no
    sign-in is called foreign (the intruder's country must not become "home"). Said, with the countries the
    window's successful sign-ins came from: low when there are several (someone should look), else info."""
    base = signins.baseline(evidence)
    if base.known:
        return []
    countries = list(dict.fromkeys(_country(s) for s in signins.windowed(evidence) if s.succeeded and _country(s)))
    if not countries:
        return []
    severity = Severity.low if len(countries) > 1 else Severity.info
    rows = [("time", _iso(base.until))]
    return [_finding("sign_in_baseline_unknown", severity, SourceName.sign_ins, rows,
                     {"countries": _join(countries), "time": _iso(base.until)})]


def impossible_travel(evidence: Evidence) -> list[Finding]:
    """Consecutive successful sign-ins too far apart for the time between them (`signins.impossible_travel`:
    over 900 km/h and at least 500 km, from `location.geoCoordinates`). One finding per pair of places (the
    first hop's two sign-ins as evidence, the number of hops as `count`), at most `signins.MAX_READINGS`.
    High; low when both ends are the same managed device the user had before (a VPN on her own laptop)."""
    hops_by_places: dict[tuple[str, str], list[signins.Hop]] = {}
    for hop in signins.impossible_travel(evidence):
        low, high = sorted((_place(hop.departure), _place(hop.arrival)))
        hops_by_places.setdefault((low, high), []).append(hop)
    ordered = sorted(hops_by_places.values(), key=lambda hops: (all(h.same_own_device for h in hops), -len(hops)))
    findings: list[Finding] = []
    for hops in ordered[: signins.MAX_READINGS]:
        hop = next((h for h in hops if not h.same_own_device), hops[0])
        a, b = hop.departure, hop.arrival
        own = hop.same_own_device
        rows: list[tuple[str, str]] = []
        if own:
            rows += [("marker", "same_device_vpn"), ("device", a.device_name or a.device_id)]
        for s in (a, b):  # the places are in the sentence (params); the rows say when, from where, with what
            rows += [("time", _iso(s.created)), ("ip", s.ip_address), ("app", s.app_display_name),
                     ("protocol", s.client_app_used)]
        rows.append(("count", str(len(hops)) if len(hops) > 1 else ""))
        params = {"from_place": _place(a), "to_place": _place(b), "distance": str(round(hop.km)),
                  "minutes": str(max(0, round(hop.minutes))), "time": _iso(b.created)}
        findings.append(_finding("sign_in_impossible_travel", Severity.low if own else Severity.high,
                                 SourceName.sign_ins, rows, params, subject_id=b.id or None))
    return findings


def sign_in_address_burst(evidence: Evidence) -> list[Finding]:
    """The password used from many addresses within minutes (`signins.address_bursts`: five or more in ten
    minutes, whatever the country): a sending tool behind a proxy pool. Medium; high when legacy or SMTP AUTH
    clients are among them. One finding per burst, at most `signins.MAX_READINGS`."""
    findings: list[Finding] = []
    for burst in signins.address_bursts(evidence)[: signins.MAX_READINGS]:
        items = list(burst.sign_ins)
        first, last = items[0], items[-1]
        protocols = Counter(s.client_app_used.strip() for s in items if s.client_app_used.strip())
        rows: list[tuple[str, str]] = [("time", _iso(first.created)), ("last_seen", _iso(last.created))]
        rows += [("ip", ip) for ip in burst.addresses]
        rows += [("country", c) for c in dict.fromkeys(_country(s) for s in items)]
        rows += [("protocol", f"{name} ({n})") for name, n in sorted(protocols.items())]
        params = {"count": str(len(burst.addresses)), "minutes": str(burst.minutes), "time": _iso(first.created),
                  "protocols": ", ".join(sorted(protocols))}
        severity = Severity.high if burst.legacy else Severity.medium
        findings.append(_finding("sign_in_many_addresses", severity, SourceName.sign_ins, rows, params,
                                 subject_id=first.id or None))
    return findings


def mfa_fatigue(evidence: Evidence) -> list[Finding]:
    """Repeated denied or unanswered MFA prompts (`signins.mfa_fatigue`: three or more 500121 failures).

    High (`mfa_fatigue_approved`) when an approval followed from the prompts' address (or their foreign
    country): the user gave in and someone else has a session; the rows list what that session did (its
    sign-ins' addresses, apps and protocols over the next 24 hours). Medium (`mfa_prompts_denied`) when no
    approval followed: someone has the password and is pushing prompts.
    """
    findings: list[Finding] = []
    for episode in signins.mfa_fatigue(evidence)[: signins.MAX_READINGS]:
        prompts = list(episode.prompts)
        first = prompts[0]
        rows: list[tuple[str, str]] = [("first_seen", _iso(first.created)), ("count", str(len(prompts)))]
        rows += [("activity", d) for d in episode.details]
        approval = episode.approval
        if approval is None:
            rows += [("ip", s.ip_address) for s in prompts] + [("country", _country(s)) for s in prompts]
            params = {"count": str(len(prompts)), "time": _iso(first.created), "ip": first.ip_address,
                      "country": _country(first)}
            findings.append(_finding("mfa_prompts_denied", Severity.medium, SourceName.sign_ins, rows, params,
                                     subject_id=first.id or None))
            continue
        rows += [("time", _iso(approval.created)), ("ip", approval.ip_address), ("country", _country(approval)),
                 ("app", approval.app_display_name)]
        after = list(episode.after)
        rows += [("ip", s.ip_address) for s in after] + [("app", s.app_display_name) for s in after]
        rows += [("protocol", s.client_app_used) for s in after]
        if after:
            rows.append(("last_seen", _iso(_latest(after).created)))
        params = {"count": str(len(prompts)), "time": _iso(approval.created), "ip": approval.ip_address,
                  "country": _country(approval), "after_count": str(len(after))}
        findings.append(_finding("mfa_fatigue_approved", Severity.high, SourceName.sign_ins, rows, params,
                                 subject_id=approval.id or None))
    return findings


def failed_sign_ins_foreign(evidence: Evidence) -> list[Finding]:
    """Failed sign-ins from outside the baseline countries, one finding per country.

    Medium (`sign_in_password_ok_blocked`) when the failure came after the password was accepted
    (`PASSWORD_OK_ERROR_CODES`): someone abroad has the password and only MFA or Conditional Access stopped
    them. Low (`failed_sign_in_foreign`) otherwise: password guessing from abroad is background noise.
    Failures from the user's own managed device are hers (a traveller asked for MFA abroad) and left out.
    """
    base = signins.baseline(evidence)
    failures = [
        s for s in _windowed_sign_ins(evidence)
        if not s.succeeded and base.is_foreign(s) and base.trusted_device(s) is None
    ]
    findings: list[Finding] = []
    for country, items in sorted(_by_country(failures).items()):
        password_ok = [s for s in items if s.error_code in PASSWORD_OK_ERROR_CODES]
        if password_ok:
            first = _earliest(password_ok)
            rows = [("country", country), ("ip", first.ip_address), ("time", _iso(first.created)),
                    ("activity", str(first.error_code)), ("count", str(len(password_ok)))]
            params = {"country": country, "ip": first.ip_address, "time": _iso(first.created),
                      "count": str(len(password_ok))}
            findings.append(_finding("sign_in_password_ok_blocked", Severity.medium, SourceName.sign_ins, rows,
                                     params, subject_id=first.id or None))
        others = [s for s in items if s.error_code not in PASSWORD_OK_ERROR_CODES]
        if others:
            first = _earliest(others)
            rows = [("country", country), ("ip", first.ip_address), ("time", _iso(first.created)),
                    ("count", str(len(others)))]
            findings.append(_finding("failed_sign_in_foreign", Severity.low, SourceName.sign_ins, rows,
                                     {"country": country, "count": str(len(others))}))
    return findings


def legacy_protocol_sign_ins(evidence: Evidence) -> list[Finding]:
    """Medium: successful sign-ins over legacy protocols (IMAP, POP, SMTP AUTH, "Other clients", EAS, EWS…).
    They bypass MFA and are how spam tools log in. One finding, a row per protocol."""
    used = [s for s in _windowed_sign_ins(evidence) if s.succeeded and signins.is_legacy(s)]
    if not used:
        return []
    counts = Counter(s.client_app_used.strip() for s in used)
    rows: list[tuple[str, str]] = [("protocol", f"{name} ({n})") for name, n in sorted(counts.items())]
    last = max(used, key=lambda s: s.created or datetime.min.replace(tzinfo=UTC))
    rows += [("last_seen", _iso(last.created)), ("ip", last.ip_address), ("country", _country(last))]
    params = {"protocols": ", ".join(sorted(counts)), "count": str(len(used))}
    return [_finding("legacy_protocol_sign_in", Severity.medium, SourceName.sign_ins, rows, params)]


def shared_mailbox_sign_in(evidence: Evidence) -> list[Finding]:
    """Medium: successful sign-ins to the account of a *shared* mailbox. Nobody should sign in as a shared
    mailbox (Microsoft advises blocking it); a successful one means someone holds its password."""
    if evidence.mailbox is None or not evidence.mailbox.is_shared:
        return []
    used = [s for s in _windowed_sign_ins(evidence) if s.succeeded]
    if not used:
        return []
    first = _earliest(used)
    rows = [("time", _iso(first.created)), ("ip", first.ip_address), ("country", _country(first)),
            ("count", str(len(used)))]
    return [_finding("shared_mailbox_sign_in", Severity.medium, SourceName.sign_ins, rows,
                     {"count": str(len(used)), "time": _iso(first.created)})]


def _risky_detection_ips(evidence: Evidence) -> set[str]:
    ip_codes = {"risk_anonymous_ip", "risk_malicious_ip", "risk_atypical_travel", "risk_token_theft"}
    return {
        d.ip_address for d in evidence.risk_detections or ()
        if d.ip_address
        and not _risk_closed(d.risk_state, d.risk_detail)
        and RISK_EVENT_CODES.get(d.risk_event_type.lower(), ("", Severity.low))[0] in ip_codes
    }


def suspicious_ips(evidence: Evidence) -> frozenset[str]:
    """IPs seen only in suspicious sign-ins (outside the baseline countries on a device that is not the user's
    own, or rated risky by Entra), plus the
    IPs of risk detections about the IP or the travel. Used to tell an attacker's MFA registration apart."""
    base = signins.baseline(evidence)
    flagged = _risky_detection_ips(evidence)
    verdict_by_ip: dict[str, bool] = {}
    for s in evidence.sign_ins or ():
        if not s.ip_address:
            continue
        risky = (
            s.risk_level_during_sign_in.lower() == "high"
            or s.risk_state.lower() in ("atrisk", "confirmedcompromised")
            or s.ip_address in flagged
        )
        # The user's own managed device abroad is her on a trip, not an attacker's address.
        suspicious = risky or (base.is_foreign(s) and base.trusted_device(s) is None)
        verdict_by_ip[s.ip_address] = verdict_by_ip.get(s.ip_address, True) and suspicious
    return frozenset(flagged | {ip for ip, all_suspicious in verdict_by_ip.items() if all_suspicious})


# -------------------------------------------------------------------------------------- directory

# Audit activities (Entra `activityDisplayName`, lower case).
MFA_REGISTRATION_ACTIVITIES: frozenset[str] = frozenset({
    "user registered security info",
    "user registered all required security info",
    "admin registered security info",
    "admin updated security info",
    "user changed default security info",
})
# "Update user" properties that carry MFA registration (the legacy per-user MFA store).
MFA_PROPERTIES: frozenset[str] = frozenset({
    "strongauthenticationphoneappdetail", "strongauthenticationuserdetails", "strongauthenticationmethod",
})
PASSWORD_RESET_ACTIVITIES: frozenset[str] = frozenset({
    "reset user password", "reset password (by admin)", "change user password", "set force change user password",
})
PASSWORD_CHANGE_ACTIVITIES: frozenset[str] = PASSWORD_RESET_ACTIVITIES | frozenset({
    "change password (self-service)", "reset password (self-service)", "user changed password",
    "user reset password",
})
CONTACT_PROPERTIES: frozenset[str] = frozenset({
    "mobile", "telephonenumber", "businessphones", "mobilephone", "postalcode", "streetaddress", "city",
    "state", "country", "othermails", "faxnumber",
})
# Authentication methods that are no second factor.
NON_MFA_METHODS: frozenset[str] = frozenset({
    "passwordAuthenticationMethod", "emailAuthenticationMethod", "temporaryAccessPassAuthenticationMethod",
})


def _audits(evidence: Evidence) -> list[DirectoryAudit]:
    return [
        a for a in evidence.directory_audits or ()
        if (a.activity_time is None or evidence.in_window(a.activity_time)) and a.result.lower() != "failure"
    ]


def _by_someone_else(audit: DirectoryAudit, evidence: Evidence) -> bool:
    user = evidence.user
    if not audit.initiated_by_user_id and not audit.initiated_by_upn:
        return False
    return audit.initiated_by_user_id != user.id and (
        audit.initiated_by_upn.lower() != user.user_principal_name.lower()
    )


def _props(audit: DirectoryAudit) -> dict[str, tuple[str, str]]:
    # Entra wraps values in JSON arrays ('["Megan"]'); strip that so the card shows the name.
    def clean(value: str) -> str:
        return value.strip().strip("[]").strip().strip('"')

    return {p.name.strip().lower(): (clean(p.old_value), clean(p.new_value)) for p in audit.modified_properties}


# oauth2PermissionGrant.consentType (Graph v1.0): one user consented for themselves, or an admin for everyone.
_CONSENT_MARKERS = {"principal": "consent_by_user", "allprincipals": "consent_for_everyone"}


def _initiator(audit: DirectoryAudit) -> str:
    return audit.initiated_by_upn or audit.initiated_by_app or audit.initiated_by_user_id


def mfa_registration(evidence: Evidence) -> list[Finding]:
    """An MFA method added in the window — attackers register their own authenticator to stay in.

    Sources: directory audits (security-info registration activities, or "Update user" changing the
    StrongAuthentication* properties; within 15 minutes of a registration activity that is the same event) and
    authentication methods whose registration date lies in the window (a method within 15 minutes of an audit
    finding is the same event and is not repeated). The audit is the source that sees every method: Graph gives
    no date for phone, email and OATH methods (Microsoft's examples never carry one; the field is nullable), so
    an undated method is never "new" on its own. Medium;
    high (`mfa_registered_from_suspicious_ip`) when the audit's IP appears only in suspicious sign-ins or in a
    risk detection (`suspicious_ips`).
    """
    bad_ips = suspicious_ips(evidence)
    findings: list[Finding] = []
    audit_times: list[datetime] = []
    registrations = [a for a in _audits(evidence) if a.activity.strip().lower() in MFA_REGISTRATION_ACTIVITIES]
    registered_at = [a.activity_time for a in registrations if a.activity_time is not None]
    for audit in _audits(evidence):
        activity = audit.activity.strip().lower()
        props = _props(audit)
        is_mfa = activity in MFA_REGISTRATION_ACTIVITIES or (
            activity == "update user" and bool(MFA_PROPERTIES & props.keys())
        )
        if not is_mfa:
            continue
        if activity == "update user" and audit.activity_time is not None and any(
                abs(audit.activity_time - t) <= timedelta(minutes=15) for t in registered_at):
            # The directory's own record ("Update user" of StrongAuthentication*) of a registration the
            # Authentication Methods service logged too: one event, reported once.
            continue
        method_name = (props.get("methodsregistered", ("", ""))[1] or audit.detail("Method")
                       or audit.detail("Methods") or audit.activity)
        ip = audit.initiated_by_ip
        code, severity = (
            ("mfa_registered_from_suspicious_ip", Severity.high) if ip and ip in bad_ips
            else ("mfa_method_registered", Severity.medium)
        )
        rows = [("activity", audit.activity), ("method", method_name), ("time", _iso(audit.activity_time)),
                ("ip", ip), ("initiated_by", _initiator(audit))]
        params = {"method": method_name, "time": _iso(audit.activity_time), "ip": ip}
        findings.append(_finding(code, severity, SourceName.directory_audits, rows, params,
                                 subject_id=audit.id or None))
        if audit.activity_time is not None:
            audit_times.append(audit.activity_time)
    for method in evidence.auth_methods or ():
        if method.kind in NON_MFA_METHODS or not evidence.in_window(method.created):
            continue
        assert method.created is not None  # in_window guarantees it; narrows the type
        created = method.created
        if any(abs(created - t) <= timedelta(minutes=15) for t in audit_times):
            continue
        rows = [("method", method.kind), ("app", method.display_name), ("time", _iso(created))]
        params = {"method": method.kind, "time": _iso(created), "ip": ""}
        findings.append(_finding("mfa_method_registered", Severity.medium, SourceName.auth_methods, rows, params,
                                 subject_id=method.id or None))
    return findings


def directory_changes(evidence: Evidence) -> list[Finding]:
    """Changes to the account in the directory audit log, per Microsoft's symptoms of compromise.

    - medium `password_reset_by_other`: a password reset or change initiated by another user (often the
      helpdesk responding; shown so the admin knows whose reset it was).
    - medium `password_changed_repeatedly`: three or more password changes/resets in the window
      ("multiple and frequent password changes").
    - medium `display_name_changed`: "Update user" changing DisplayName ("the display name is changed in
      the Global Address List").
    - low `contact_info_changed`: phone, address or other-mail changes ("unusual profile changes").
    - medium `admin_role_added`: the account was added to a directory role in the window.
    """
    findings: list[Finding] = []
    password_events = 0
    for audit in _audits(evidence):
        activity = audit.activity.strip().lower()
        time = _iso(audit.activity_time)
        who = _initiator(audit)
        if activity in PASSWORD_CHANGE_ACTIVITIES:
            password_events += 1
        if activity in PASSWORD_RESET_ACTIVITIES and _by_someone_else(audit, evidence):
            rows = [("activity", audit.activity), ("initiated_by", who), ("ip", audit.initiated_by_ip),
                    ("time", time)]
            findings.append(_finding("password_reset_by_other", Severity.medium, SourceName.directory_audits, rows,
                                     {"initiated_by": who, "time": time}, subject_id=audit.id or None))
        if activity == "update user":
            props = _props(audit)
            if "displayname" in props and props["displayname"][0] != props["displayname"][1]:
                old, new = props["displayname"]
                rows = [("property", "DisplayName"), ("old", old), ("new", new), ("initiated_by", who),
                        ("time", time)]
                findings.append(_finding("display_name_changed", Severity.medium, SourceName.directory_audits,
                                         rows, {"old": old, "new": new, "initiated_by": who, "time": time},
                                         subject_id=audit.id or None))
            contact = sorted(k for k in props if k in CONTACT_PROPERTIES and props[k][0] != props[k][1])
            if contact:
                names = [p.name for p in audit.modified_properties if p.name.strip().lower() in contact]
                rows = [*(("property", n) for n in names), ("initiated_by", who), ("time", time)]
                findings.append(_finding("contact_info_changed", Severity.low, SourceName.directory_audits, rows,
                                         {"properties": _join(names), "initiated_by": who, "time": time},
                                         subject_id=audit.id or None))
        if activity in ("add member to role", "add eligible member to role"):
            role = _props(audit).get("role.displayname", ("", ""))[1] or next(
                (n for n in audit.target_names if n and n.lower() != evidence.user.user_principal_name.lower()), ""
            )
            rows = [("role", role), ("initiated_by", who), ("time", time)]
            findings.append(_finding("admin_role_added", Severity.medium, SourceName.directory_audits, rows,
                                     {"role": role, "initiated_by": who, "time": time}, subject_id=audit.id or None))
    if password_events >= 3:
        findings.append(_finding("password_changed_repeatedly", Severity.medium, SourceName.directory_audits,
                                 [("count", str(password_events))], {"count": str(password_events)}))
    return findings


# Entra role template ids. Roles outside `NON_ADMIN_ROLE_TEMPLATES` count as admin roles; these are named
# so the list is readable, any other directoryRole counts too.
ADMIN_ROLE_TEMPLATES: Mapping[str, str] = MappingProxyType({
    "62e90394-69f5-4237-9190-012177145e10": "Global Administrator",
    "e8611ab8-c189-46e8-94e1-60213ab1f814": "Privileged Role Administrator",
    "7be44c8a-adaf-4e2a-84d6-ab2649e08a13": "Privileged Authentication Administrator",
    "194ae4cb-b126-40b2-bd5b-6091b380977d": "Security Administrator",
    "29232cdf-9323-42fd-ade2-1d097af3e4de": "Exchange Administrator",
    "f28a1f50-f6e7-4571-818b-6a12f2af6b6c": "SharePoint Administrator",
    "fe930be7-5e62-47db-91af-98c3a49a38b1": "User Administrator",
    "729827e3-9c14-49f7-bb1b-9608f156bbb8": "Helpdesk Administrator",
    "c4e39bd9-1100-46d3-8c65-fb160da0071f": "Authentication Administrator",
    "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3": "Application Administrator",
    "158c047a-c907-4556-b7ef-446551a6b5f7": "Cloud Application Administrator",
    "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9": "Conditional Access Administrator",
    "8ac3fc64-6eca-42ea-9e69-59f4c7b60eb2": "Hybrid Identity Administrator",
    "3a2c62db-5318-420d-8d74-23affee5d9d5": "Intune Administrator",
    "69091246-20e8-4a56-aa4d-066075b2a7a8": "Teams Administrator",
    "17315797-102d-40b4-93e0-432062caca18": "Compliance Administrator",
    "b0f54661-2d74-4c50-afa3-1ec803f12efe": "Billing Administrator",
    "9360feb5-f418-4baa-8175-e2a00bac4301": "Directory Writers",
    "f2ef992c-3afb-46b9-b7cf-a126ee74c451": "Global Reader",
    "5f2222b1-57c3-48ba-8ad5-d4759f1fde6f": "Security Operator",
    "5d6b6bb7-de71-4623-b4af-96380a352509": "Security Reader",
})
NON_ADMIN_ROLE_TEMPLATES: frozenset[str] = frozenset({
    "88d8e3e3-8f55-4a1e-953a-9b9898b8876b",  # Directory Readers
    "95e79109-95c0-4d8e-aee3-d01accf2d47b",  # Guest Inviter
})


def admin_roles(evidence: Evidence) -> list[Finding]:
    """Info: the account holds admin roles. Not a sign of compromise, but it makes one urgent (Microsoft:
    remove a compromised account from admin roles); the verdict turns it into `urgent`."""
    names: list[str] = []
    for member in evidence.memberships or ():
        template = (member.role_template_id or "").lower()
        if template in NON_ADMIN_ROLE_TEMPLATES:
            continue
        if member.is_role or template in ADMIN_ROLE_TEMPLATES:
            names.append(member.display_name or ADMIN_ROLE_TEMPLATES.get(template, template))
    if not names:
        return []
    unique = list(dict.fromkeys(names))
    rows = [("role", n) for n in unique]
    return [_finding("admin_roles_held", Severity.info, SourceName.memberships, rows,
                     {"roles": _join(unique), "count": str(len(unique))})]


# ---------------------------------------------------------------------------------------- consents

# Delegated scopes that read or send the user's mail or files, or act as the user in Exchange.
SENSITIVE_SCOPE_PREFIXES: tuple[str, ...] = (
    "mail.", "files.", "mailboxsettings.", "contacts.", "notes.", "sites.", "ews.", "imap.", "pop.", "smtp.",
    "full_access_as_user", "exchange.manage", "directory.readwrite", "user.readwrite.all",
)
# Tenants Microsoft's own apps are registered in; their service principals often have no verifiedPublisher.
MICROSOFT_TENANTS: frozenset[str] = frozenset({
    "f8cdef31-a31e-4b4a-93e4-5f571e91255a", "72f988bf-86f1-41af-91ab-2d7cd011db47",
})


def consent_grants(evidence: Evidence) -> list[Finding]:
    """An app without a verified publisher that the user gave delegated access (illicit consent grant).

    From Graph v1.0 fields: `verifiedPublisher` (empty: not verified) and `appOwnerOrganizationId` (the tenant
    the app is registered in; another organisation's is marked). High when a granted scope reads or sends mail
    or files (`SENSITIVE_SCOPE_PREFIXES`); low when it only has `offline_access` (it keeps what it has —
    typically just the profile — without the user present). Microsoft's own apps count as verified. A grant
    whose service principal is missing from the evidence is judged unverified: the app could not be vouched for.
    """
    principals = {sp.id: sp for sp in evidence.service_principals or ()}
    findings: list[Finding] = []
    for grant in evidence.oauth_grants or ():
        sp = principals.get(grant.client_id)
        if sp is not None and (sp.is_verified or (sp.app_owner_organization_id or "").lower() in MICROSOFT_TENANTS):
            continue
        scopes = [s for s in grant.scopes if s]
        sensitive = [s for s in scopes if s.lower().startswith(SENSITIVE_SCOPE_PREFIXES)]
        offline = any(s.lower() == "offline_access" for s in scopes)
        if not sensitive and not offline:
            continue
        severity = Severity.high if sensitive else Severity.low
        shown = sensitive + (["offline_access"] if offline else [])
        app = (sp.display_name if sp else "") or grant.client_id
        rows = [("app", app), ("marker", "no_verified_publisher")]
        if sp is not None and sp.is_foreign:
            rows.append(("marker", "foreign_owner"))
        rows += [("scope", s) for s in shown]
        # Microsoft's consentType ("Principal" / "AllPrincipals") in words: who the grant covers.
        consent = _CONSENT_MARKERS.get(grant.consent_type.lower())
        if consent:
            rows.append(("marker", consent))
        params = {"app": app, "scopes": _join(shown)}
        findings.append(_finding("consent_unverified_app", severity, SourceName.oauth_grants, rows, params,
                                 subject_id=grant.id or None))
    return findings


# ------------------------------------------------------------------------------------------ Defender

# Alerts that *are* the restriction (Microsoft's default alert policies): context, not a second sign.
RESTRICTION_ALERT_TITLES: tuple[str, ...] = (
    "user restricted from sending email",
    "email sending limit exceeded",
    "suspicious email sending patterns detected",
    "tenant restricted from sending email",
)
# Title fragments of alerts about inbox rules or forwarding being created or changed.
RULE_ALERT_MARKERS: tuple[str, ...] = (
    "inbox rule", "inbox manipulation", "inbox forwarding", "new-inboxrule", "set-inboxrule",
    "forwarding/redirect rule", "email forwarding",
)
_ALERT_SEVERITY = {"high": Severity.high, "medium": Severity.medium, "low": Severity.low}


def defender_alerts(evidence: Evidence) -> list[Finding]:
    """Defender alerts about this user (by UPN, mail or object id), one finding each, severity from the alert
    (informational → info). Alerts about inbox rules or forwarding become `inbox_rule_changed`, at least
    medium: Exchange rule changes are not in the Entra audit log, so this (and the
    `mcasSuspiciousInboxManipulationRules` risk detection) is how a rule made and removed again shows up.
    Restriction alerts (`RESTRICTION_ALERT_TITLES`) are left out: they restate the restriction.
    """
    user = evidence.user
    names = {n.lower() for n in (user.user_principal_name, user.mail or "", user.smtp_address) if n}
    findings: list[Finding] = []
    for alert in evidence.alerts or ():
        about_user = user.id in alert.user_ids or any(u.lower() in names for u in alert.user_upns)
        if not about_user:
            continue
        if alert.created is not None and not evidence.in_window(alert.created):
            continue
        title = alert.title.strip().lower()
        if any(title.startswith(t) for t in RESTRICTION_ALERT_TITLES):
            continue
        severity = _ALERT_SEVERITY.get(alert.severity.lower(), Severity.info)
        time = _iso(alert.created)
        rows = [("alert", alert.title), ("severity", alert.severity), ("status", alert.status), ("time", time)]
        if any(marker in title for marker in RULE_ALERT_MARKERS):
            if severity.rank > Severity.medium.rank:
                severity = Severity.medium
            findings.append(_finding("inbox_rule_changed", severity, SourceName.alerts, rows,
                                     {"title": alert.title, "time": time}, subject_id=alert.id or None))
        else:
            findings.append(_finding("defender_alert", severity, SourceName.alerts, rows,
                                     {"title": alert.title, "severity": alert.severity, "time": time},
                                     subject_id=alert.id or None))
    return findings


# -------------------------------------------------------------------------------------- restriction

# Above this many recipients or messages in a day, sending is far beyond a person's normal (Exchange
# Online's hard cap is 10,000 recipients a day; people rarely reach 1,000).
VOLUME_THRESHOLD = 1000
SPAM_PERCENT_THRESHOLD = 50
MIN_SPAM_MESSAGES = 10


def restriction_reason(evidence: Evidence) -> list[Finding]:
    """What the restriction's `Reason` says (`investigation.reason`).

    - medium `outbound_spam_detected`: Microsoft's filter judged ≥ 50 % of the last day's outbound mail spam
      (and at least 10 messages): the mail itself looked like spam.
    - low `send_volume_spike`: more than 1,000 recipients or messages in a day, or a recipient limit was hit,
      without the spam verdict. Volume alone is what a legitimate bulk mailing looks like too.
    - medium `restriction_reason_compromised`: the reason itself says "Compromised".

    None of these count as independent corroboration in the verdict: the restriction is why we are looking.
    """
    if evidence.restriction is None:
        return []
    reason = parse_reason(evidence.restriction.reason)
    findings: list[Finding] = []
    percent = reason.effective_spam_percent
    trace = [("trace_id", reason.message_trace_id or "")]
    if percent is not None and percent >= SPAM_PERCENT_THRESHOLD and (reason.spam_last_24h or 0) >= MIN_SPAM_MESSAGES:
        rows = [("spam_percent", str(percent)), ("count", str(reason.spam_last_24h)), *trace]
        params = {"spam_percent": str(percent), "spam_count": str(reason.spam_last_24h),
                  "mail_count": str(reason.mail_last_24h) if reason.mail_last_24h is not None else ""}
        findings.append(_finding("outbound_spam_detected", Severity.medium, SourceName.restriction, rows, params))
    else:
        recipients = reason.recipients
        limit_hit = reason.limit_type in (
            LimitType.external_recipient_limit, LimitType.internal_recipient_limit, LimitType.recipient_rate_limit
        )
        if limit_hit or (recipients or 0) > VOLUME_THRESHOLD or (reason.mail_last_24h or 0) > VOLUME_THRESHOLD:
            rows = [("recipients", str(recipients) if recipients is not None else ""),
                    ("limit_type", reason.limit_type.value), *trace]
            params = {"recipients": str(recipients) if recipients is not None else "",
                      "mail_count": str(reason.mail_last_24h) if reason.mail_last_24h is not None else "",
                      "limit_type": reason.limit_type.value}
            findings.append(_finding("send_volume_spike", Severity.low, SourceName.restriction, rows, params))
    if reason.compromised_flag:
        findings.append(_finding("restriction_reason_compromised", Severity.medium, SourceName.restriction,
                                 [("limit_type", reason.limit_type.value)], {}))
    return findings


# ------------------------------------------------------------------------------------------ registry


def _mailbox_changes(evidence: Evidence) -> list[Finding]:
    # Imported here: investigation.changes builds its findings with this module's helpers.
    from investigation.changes import mailbox_changes

    return mailbox_changes(evidence)


def _tenant_traps(evidence: Evidence) -> list[Finding]:
    # Imported here: investigation.tenant_traps builds its findings with this module's helpers.
    from investigation.tenant_traps import tenant_traps

    return tenant_traps(evidence)


def _delegation(evidence: Evidence) -> list[Finding]:
    # Imported here: investigation.delegation builds its findings with this module's helpers.
    from investigation.delegation import delegation

    return delegation(evidence)


INDICATORS: tuple[Indicator, ...] = (
    Indicator("rule_forwarding", (SourceName.inbox_rules,), rule_forwarding),
    Indicator("rule_hiding", (SourceName.inbox_rules,), rule_hiding),
    Indicator("hidden_rules", (SourceName.inbox_rules,), hidden_rules),
    Indicator("mailbox_forwarding", (SourceName.mailbox,), mailbox_forwarding),
    Indicator("auto_reply", (SourceName.auto_reply,), auto_reply),
    Indicator("user_risk", (SourceName.risky_user,), user_risk),
    Indicator("risk_detections", (SourceName.risk_detections,), risk_detections),
    Indicator("sign_in_risk", (SourceName.sign_ins,), sign_in_risk),
    Indicator("sign_in_new_country", (SourceName.sign_ins,), sign_in_new_country),
    Indicator("failed_sign_ins_foreign", (SourceName.sign_ins,), failed_sign_ins_foreign),
    Indicator("legacy_protocol_sign_ins", (SourceName.sign_ins,), legacy_protocol_sign_ins),
    Indicator("sign_in_baseline_unknown", (SourceName.sign_ins,), sign_in_baseline_unknown),
    Indicator("impossible_travel", (SourceName.sign_ins,), impossible_travel),
    Indicator("sign_in_address_burst", (SourceName.sign_ins,), sign_in_address_burst),
    Indicator("mfa_fatigue", (SourceName.sign_ins,), mfa_fatigue),
    Indicator("shared_mailbox_sign_in", (SourceName.sign_ins,), shared_mailbox_sign_in),
    Indicator("mfa_registration", (SourceName.directory_audits, SourceName.auth_methods), mfa_registration),
    Indicator("directory_changes", (SourceName.directory_audits,), directory_changes),
    Indicator("admin_roles", (SourceName.memberships,), admin_roles),
    Indicator("consent_grants", (SourceName.oauth_grants,), consent_grants),
    Indicator("defender_alerts", (SourceName.alerts,), defender_alerts),
    Indicator("restriction_reason", (SourceName.restriction,), restriction_reason),
    Indicator("burst", (SourceName.message_trace,), lambda evidence: _burst_findings(evidence)),
    Indicator("delegation", (SourceName.delegation, SourceName.mailbox), _delegation),
    Indicator("mailbox_changes", (SourceName.mailbox_audit,), _mailbox_changes),
    Indicator("tenant_traps", (SourceName.transport_rules, SourceName.app_changes), _tenant_traps),
)


def _burst_findings(evidence: Evidence) -> list[Finding]:
    # investigation.burst builds on this module (Finding, is_external), so it is imported when first used.
    from investigation.burst import burst_findings

    return burst_findings(evidence)


def run_indicators(evidence: Evidence) -> tuple[Finding, ...]:
    """Every indicator whose sources are (partly) available, findings sorted by severity then code.

    An indicator runs when at least one of its `sources` is available; it reads unavailable ones as empty
    (a `None` field), so an indicator with a fallback source still does what it can. Indicators are pure
    and must not raise — a raise is a bug, and the tests exercise them on arbitrary Graph-shaped input.
    """
    findings: list[Finding] = []
    for indicator in INDICATORS:
        if any(evidence.is_available(source) for source in indicator.sources):
            findings.extend(indicator.check(evidence))
    # Stable sort: within a code the indicator's own (meaningful) order is kept.
    return tuple(sorted(findings, key=lambda f: (f.severity.rank, f.code)))


# ------------------------------------------------------------------------------------------ prevention


def _has_mfa(evidence: Evidence) -> bool | None:
    """Whether a second factor is registered: the live method list when available, else the registration
    report (which Microsoft refreshes with a delay), else unknown."""
    if evidence.is_available(SourceName.auth_methods) and evidence.auth_methods is not None:
        return any(m.kind not in NON_MFA_METHODS for m in evidence.auth_methods)
    if evidence.is_available(SourceName.registration) and evidence.registration is not None:
        return evidence.registration.is_mfa_registered
    return None


def mfa_methods(evidence: Evidence) -> tuple[AuthMethod, ...]:
    """The registered second factors (everything but password, email and temporary access pass)."""
    return tuple(m for m in evidence.auth_methods or () if m.kind not in NON_MFA_METHODS)


def prevention_steps(evidence: Evidence) -> tuple[PreventionStep, ...]:
    """Microsoft's step 3, "prevent a repeat", as far as the evidence shows a gap.

    - `enable_mfa` when no second factor is registered (`_has_mfa` is False; unknown gives no step).
    - `disable_legacy_protocols` when the mailbox allows IMAP, POP or SMTP AUTH (`SmtpClientAuthenticationDisabled`
      explicitly False; None follows the organisation's setting and is not held against the mailbox).
      `params["protocols"]` lists them: "imap", "pop", "smtp_auth".
    """
    steps: list[PreventionStep] = []
    if _has_mfa(evidence) is False:
        steps.append(PreventionStep("enable_mfa", MFA_URL))
    cas = evidence.cas_mailbox
    if cas is not None and evidence.is_available(SourceName.cas_mailbox):
        protocols = [
            name for name, on in (
                ("imap", cas.imap_enabled), ("pop", cas.pop_enabled),
                ("smtp_auth", cas.smtp_client_authentication_disabled is False),
            ) if on
        ]
        if protocols:
            url = SMTP_AUTH_URL if protocols == ["smtp_auth"] else POP_IMAP_URL
            steps.append(PreventionStep("disable_legacy_protocols", url, {"protocols": ", ".join(protocols)}))
    return tuple(steps)

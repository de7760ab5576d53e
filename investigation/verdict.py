"""The verdict on an account and the steps to take, in the order Microsoft gives them.

`assess(evidence, findings)` is pure. The rules, precisely:

Families. Findings are grouped by the independent system that observed them (`FAMILIES`): the mailbox
configuration (rules, forwarding, folders, auto-reply, delegation, and their changes in the audit log),
Identity Protection (user risk, risk detections), the sign-in log, the directory (audits, methods, registration,
roles), consents, Defender alerts, the message trace, the tenant's own configuration (transport rules, new apps and
credentials), and the restriction. Two findings from one family are one observation seen twice (an external
forwarding rule and external SMTP forwarding are both "the mailbox forwards"), so they never corroborate each other.

The restriction is context, not evidence. The spam or the volume that got the account restricted is why we
look; a legitimate bulk mailing produces it too. Findings of the `CONTEXT_FAMILIES` (the restriction's own reason:
`outbound_spam_detected`, `send_volume_spike`) and the `CONTEXT_CODES` (the burst as the message trace shows it:
its summary, and recipients the account never mailed before) are shown, but they never count below — not as a
sign, not as a family, not as corroboration — except the codes in `RESTRICTION_SIGNS` (Microsoft's reason itself says
"Compromised"). A restricted account with nothing else is **no_signs** (reason `restriction_only`), and the card
explains the restriction from its reason's counts and limit type.

1. **compromised** when
   a. a `DECISIVE_CODES` finding exists (an admin or Microsoft already confirmed the compromise), or
   b. a `DECISIVE_COMBINATIONS` entry is met — even from one family of evidence: every one of its groups of
      finding codes has a finding at medium or above. Each is a pattern only an intruder makes: MFA prompts
      denied or left unanswered until one was approved and a session followed (MFA fatigue); mailbox access
      granted to someone outside the organisation (or a freshly made account) while a rule hides or forwards
      mail. The table is keyed by finding codes, so a new pattern is one row, or
   c. high findings come from at least two families, or
   d. a high finding is corroborated by a medium finding in `CORROBORATING_CODES` from another family.
      Corroborating mediums are signs of an intruder, not habits: an MFA method registered, a rule change
      alert, an unfamiliar-sign-in risk detection, a foreign sign-in that passed the password, a medium
      Defender alert, MFA prompts denied, many addresses in minutes, spam sent from an address the account never
      signed in from, a mailbox permission granted in the window or to a freshly made account. Legacy-protocol
      sign-ins and directory edits do not count: legitimate users produce them.
2. **suspicious** when any high or any medium finding (context left out) exists otherwise: a medium is by
   definition something to look at before unblocking.
3. **no_signs** when nothing above low was found (context left out) *and* every key source was checked.
4. **incomplete** replaces 2 and 3 when a key source is missing (`key_sources_missing`); a compromised
   verdict stands whatever is missing, because more evidence cannot undo it.

What makes a finding high is the indicator's business (`investigation.indicators`); the ones this verdict leans on
most: an inbox rule is the attacker's — high — when it forwards or redirects mail out of the organisation, or when
it hides mail (deletes, marks read, files it out of sight) *and* targets payment or security wording, acts on mail
from named senders, has a throw-away name, is hidden from Outlook, or was made in the window; a rule that only
deletes or files mail the user plainly does not want (Microsoft's own example: delete mail whose subject says
"enter to win") is low, housekeeping. A risk detection Identity Protection already closed (remediated, dismissed,
confirmed safe) is low context (`risk_remediated`). A new MFA method is dated by the audit log (most method types
carry no date in Graph).

Which evidence decided (`Assessment.deciding`): the rule that fired (`DecidingRule`) and the codes of the findings
it rested on — the decisive finding, the combination's findings, the highs of the families, the high and its
corroboration, the highs or mediums of a suspicious verdict, or the restriction's own findings for a
`restriction_only` no_signs. The card shows it in one line near the verdict, `--json` as `deciding`. None when
nothing was found, or when the verdict is incomplete (the missing sources decided it; the reason says which).

Key sources: `inbox_rules`, `mailbox` (forwarding) and `sign_ins` — without them the main signs of a
spam compromise are invisible — plus `risky_user` and `risk_detections` unless their reason is `license`
(no Entra ID P2: they can never be checked, and that must not make every investigation in the tenant
incomplete). A mailbox or its rules marked `no_mailbox`/`not_found` are not missing: there is nothing to
check. `directory_audits` is not key: it adds MFA and password events, and `auth_methods` covers the
first.

Urgency (`urgent`): the account holds admin roles and the verdict is not no_signs, or it is compromised
and actively abused (a high sign-in finding in the last 24 hours).

Steps, in Microsoft's order ("Responding to a compromised email account"), one `StepSpec` each in
`SECURE_STEPS` (its code, Microsoft's page and the rule that offers it; `STEP_CODES` is derived from it):
secure — `force_password_change`, `revoke_sessions`, `remove_forwarding`, `disable_rule` (one per rule,
`target_id` = rule id), `remove_delegation` (one per outsider's or fresh account's grant on the mailbox,
`target_id` = `MailboxGrant.subject_id`), `remove_mfa_method` (one per method registered in the window,
`target_id` = `AuthMethod.item_id`), `review_mfa_methods` (only for a registration no method can be tied to),
`block_sign_in`, `remove_admin_role` (one per admin role an "Add member to role" audit in the window gave the
account, `target_id` = the role's object id: `roles_gained`), `remove_admin_roles` (the admin roles held from
before the window: named with Microsoft's page, no button), `revoke_consent` (one per app the user consented to,
`target_id` = the grant id), `review_consents` (only tenant-wide consents, which an admin revokes in Entra),
`confirm_compromised`; unblock — `unblock` (only when restricted); prevent — `prevention_steps`.
A compromised account gets all securing steps that apply (`required` marks those that must be done before the
unblock: the one property both the card's "required before unblocking" and the unblock gate,
`remediation.policy.open_required_steps`, read); suspicious and incomplete get the password change, session
revocation and the steps their findings target; no_signs gets only unblock and prevention. `block_sign_in` is
offered for a compromised, still enabled account when it is actively abused (`params["active"] == "true"`) or
when the sign-in log could not be read, so abuse cannot be ruled out (`"unknown"`). `remove_admin_role` and
`remove_admin_roles` only for compromised accounts holding admin roles; `confirm_compromised` only for
compromised accounts that Identity Protection can see and has not yet marked confirmed.

A step's code is also the value of the remediation verb that carries it out, where one exists
(`remediation.actions.ActionSpec.step`): remediation refers to these codes, never the other way round, so this
module stays free of remediation (the arrows run remediation → investigation), and a new button is one rule
here plus one `ActionSpec` there.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from types import MappingProxyType

from investigation.evidence import Evidence, SourceName, UnavailableReason
from investigation.indicators import (
    NON_ADMIN_ROLE_TEMPLATES,
    PREVENTION_CODES,
    Finding,
    Severity,
    mfa_methods,
    prevention_steps,
)
from investigation.sources import KEY_SOURCES as SOURCE_KEYS
from m365.records import AuthMethod, DirectoryAudit, DirectoryObject, OAuthGrant


class Verdict(StrEnum):
    """The judgement on the account."""

    compromised = "compromised"
    suspicious = "suspicious"
    no_signs = "no_signs"
    incomplete = "incomplete"


class StepPhase(StrEnum):
    """Microsoft's three phases: secure the account, unblock it, prevent a repeat."""

    secure = "secure"
    unblock = "unblock"
    prevent = "prevent"


RESPOND_URL = "https://learn.microsoft.com/defender-office-365/responding-to-a-compromised-email-account"
UNBLOCK_URL = "https://learn.microsoft.com/defender-office-365/outbound-spam-restore-restricted-users"
CONSENT_URL = "https://learn.microsoft.com/defender-office-365/detect-and-remediate-illicit-consent-grants"
RULES_URL = "https://learn.microsoft.com/defender-office-365/detect-and-remediate-outlook-rules-forms-attack"
# Where an admin reviews and revokes an app's admin (tenant-wide) consent: Microsoft Learn, "Review permissions
# granted to enterprise applications" (Entra admin center → Enterprise applications → the app → Permissions →
# Admin consent), and that page of one app in the Entra admin center, addressed by its service principal's object
# id and app id (the blade address the admin center itself opens; built from GUIDs only).
APP_PERMISSIONS_URL = "https://learn.microsoft.com/entra/identity/enterprise-apps/manage-application-permissions"
ENTRA_APP_PERMISSIONS_URL = ("https://entra.microsoft.com/#view/Microsoft_AAD_IAM/ManagedAppMenuBlade/~/Permissions"
                             "/objectId/{sp}/appId/{app}")
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@dataclass(frozen=True)
class Step:
    """A recommended step. `code` matches the remediation verb where one exists; `target_id` is what it acts
    on (a rule id for `disable_rule`); `required` = must be done before unblocking a compromised account."""

    code: str
    phase: StepPhase
    params: Mapping[str, str] = field(default_factory=dict, hash=False)
    target_id: str | None = None
    url: str = ""
    required: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))


class DecidingRule(StrEnum):
    """Which rule of the module docstring decided the verdict."""

    confirmed = "confirmed"  # 1a
    combination = "combination"  # 1b
    families = "families"  # 1c
    corroborated = "corroborated"  # 1d
    high = "high"  # 2, a high finding from one family
    medium = "medium"  # 2, mediums only
    restriction_context = "restriction_context"  # 3, only the restriction itself


@dataclass(frozen=True)
class Deciding:
    """The evidence that decided the verdict: the rule, the finding codes it rested on (most severe first), and
    for a combination its name (`DECISIVE_COMBINATIONS`; locale `combination.<name>`)."""

    rule: DecidingRule
    codes: tuple[str, ...] = ()
    combination: str = ""


@dataclass(frozen=True)
class Assessment:
    """The verdict, its one-line reason (locale key `reason.<reason_code>` with `reason_params`), urgency,
    the steps, the key sources that could not be checked, and which evidence decided it (`deciding`)."""

    verdict: Verdict
    reason_code: str
    reason_params: Mapping[str, str] = field(hash=False)
    urgent: bool
    recommended_steps: tuple[Step, ...]
    key_sources_missing: tuple[SourceName, ...]
    deciding: Deciding | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "reason_params", MappingProxyType(dict(self.reason_params)))


# reason code → its params.
REASON_PARAMS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "confirmed_compromised": ("codes",),
    "decisive_combination": ("combination", "codes"),
    "multiple_high": ("count", "codes"),
    "high_corroborated": ("codes",),
    "high_single_source": ("count", "codes"),
    "medium_only": ("count", "codes"),
    "nothing_found": (),
    "only_low": ("count",),
    "restriction_only": ("codes",),
    "incomplete_with_signs": ("sources", "count"),
    "incomplete_no_signs": ("sources",),
})
REASON_CODES: tuple[str, ...] = tuple(REASON_PARAMS)

FAMILIES: Mapping[SourceName, str] = MappingProxyType({
    SourceName.inbox_rules: "mailbox_config",
    SourceName.mail_folders: "mailbox_config",
    SourceName.mailbox: "mailbox_config",
    SourceName.cas_mailbox: "mailbox_config",
    SourceName.auto_reply: "mailbox_config",
    SourceName.risky_user: "identity_protection",
    SourceName.risk_detections: "identity_protection",
    SourceName.sign_ins: "sign_ins",
    SourceName.directory_audits: "directory",
    SourceName.auth_methods: "directory",
    SourceName.registration: "directory",
    SourceName.memberships: "directory",
    SourceName.domains: "directory",
    SourceName.oauth_grants: "consents",
    SourceName.service_principals: "consents",
    SourceName.alerts: "defender",
    SourceName.restriction: "restriction",
    # Who can read or send as the mailbox is mailbox configuration, observed by Exchange like the rules.
    SourceName.delegation: "mailbox_config",
    # The audit log's rule, forwarding and permission changes are the mailbox configuration seen over time: a grant
    # found both as state (`delegate_outside`) and as a change (`permission_granted`) is one observation.
    SourceName.mailbox_audit: "mailbox_config",
    # Tenant-wide traps (transport rules, new apps and credentials) are the directory's and Exchange's tenant
    # configuration; only the account's own hand in them is high (`investigation.tenant_traps`).
    SourceName.transport_rules: "tenant_config",
    SourceName.app_changes: "tenant_config",
})
# Families whose findings are context: why we look, never a sign (see the module docstring).
CONTEXT_FAMILIES: frozenset[str] = frozenset({"restriction"})
# Codes of other families that are context too: the burst itself (what the spam looked like, and that it went to
# people the account never mailed before) is the restriction seen in the message trace; a legitimate first mailing
# to a bought list looks the same. A sending IP that appears in none of the account's sign-ins is a sign, not context.
CONTEXT_CODES: frozenset[str] = frozenset({"burst_summary", "burst_unusual_recipients"})
# Context-family codes that are signs after all: Microsoft's own reason says the account is compromised.
RESTRICTION_SIGNS: frozenset[str] = frozenset({"restriction_reason_compromised"})
DECISIVE_CODES: frozenset[str] = frozenset({"user_confirmed_compromised"})
# Inbox-rule findings that count as "a rule" in a combination (at medium or above: housekeeping rules are low).
RULE_SIGN_CODES: frozenset[str] = frozenset({
    "rule_forwards_external", "rule_hides_mail", "rule_hidden", "inbox_rule_changed", "rule_created_in_window",
})
# Patterns only an intruder makes, decisive even from one family: name → groups of finding codes; met when every
# group has a finding at medium or above (locale `combination.<name>`, `reason.decisive_combination`).
DECISIVE_COMBINATIONS: Mapping[str, tuple[frozenset[str], ...]] = MappingProxyType({
    # Denied or unanswered MFA prompts, then an approval that opened a session (investigation.signins).
    "mfa_fatigue_session": (frozenset({"mfa_fatigue_approved"}),),
    # Mailbox access for an outsider or a freshly made account (investigation.delegation) plus a rule that hides or
    # forwards mail: the intruder keeps reading after the password is changed, and the user sees nothing.
    "outsider_delegate_with_rule": (frozenset({"delegate_outside", "delegate_new_account"}), RULE_SIGN_CODES),
})
CORROBORATING_CODES: frozenset[str] = frozenset({
    "mfa_method_registered", "inbox_rule_changed", "risk_unfamiliar_sign_in", "sign_in_password_ok_blocked",
    "defender_alert",
    # Prompts someone else triggered with the password (investigation.signins), and spam sent from an address the
    # account never signed in from (investigation.burst): an intruder's traces, not a user's habits.
    "mfa_prompts_denied", "burst_ip_not_in_sign_ins", "sign_in_many_addresses",
    # A grant made in the window (investigation.changes) or to a freshly made account (investigation.delegation).
    "permission_granted", "delegate_new_account",
})
# The sources without which "no signs" cannot be told from "could not look": the `key` rows of the sources table.
KEY_SOURCES: tuple[SourceName, ...] = SOURCE_KEYS
_NOTHING_TO_CHECK = frozenset({UnavailableReason.no_mailbox, UnavailableReason.not_found})
_IDENTITY_PROTECTION = frozenset({SourceName.risky_user, SourceName.risk_detections})
# Findings that show someone signing in as the user right now.
_ACTIVE_SIGN_IN_CODES = frozenset({"sign_in_new_country", "risk_anonymous_ip", "risk_malicious_ip",
                                   "risk_atypical_travel", "risk_token_theft", "sign_in_impossible_travel",
                                   "sign_in_many_addresses", "mfa_fatigue_approved"})
_RULE_CODES = frozenset({"rule_forwards_external", "rule_hides_mail", "rule_hidden"})


def family(source: SourceName) -> str:
    """The independent observer behind a source (see the module docstring)."""
    return FAMILIES.get(source, source.value)


def key_sources_missing(evidence: Evidence) -> tuple[SourceName, ...]:
    """The key sources that could not be checked, in `KEY_SOURCES` order."""
    missing: list[SourceName] = []
    for source in KEY_SOURCES:
        if evidence.is_available(source):
            continue
        why = evidence.unavailable_reason(source)
        reason = why.reason_code if why is not None else None
        if reason in _NOTHING_TO_CHECK:
            continue
        if source in _IDENTITY_PROTECTION and reason == UnavailableReason.license:
            continue
        missing.append(source)
    return tuple(missing)


def _codes(findings: Sequence[Finding]) -> str:
    return ", ".join(dict.fromkeys(f.code for f in findings))


def is_context(finding: Finding) -> bool:
    """True for a finding that is why we look, not a sign (`CONTEXT_FAMILIES` minus `RESTRICTION_SIGNS`, plus
    `CONTEXT_CODES`)."""
    if finding.code in CONTEXT_CODES:
        return True
    return family(finding.source) in CONTEXT_FAMILIES and finding.code not in RESTRICTION_SIGNS


def _decisive_combination(signs: Sequence[Finding]) -> tuple[str, list[Finding]] | None:
    """The first `DECISIVE_COMBINATIONS` entry the findings meet, with one finding per group."""
    strong = [f for f in signs if f.severity.rank <= Severity.medium.rank]
    for name, groups in DECISIVE_COMBINATIONS.items():
        chosen: list[Finding] = []
        for group in groups:
            match = next((f for f in strong if f.code in group and f not in chosen), None)
            if match is None:
                break
            chosen.append(match)
        else:
            return name, chosen
    return None


def _deciding(rule: DecidingRule, findings: Sequence[Finding], combination: str = "") -> Deciding:
    ordered = sorted(findings, key=lambda f: f.severity.rank)
    return Deciding(rule, tuple(dict.fromkeys(f.code for f in ordered)), combination)


def _judge(findings: Sequence[Finding]) -> tuple[Verdict, str, dict[str, str], Deciding | None]:
    """Verdict from the findings alone (rules 1–3), ignoring missing sources, and the evidence that decided it."""
    signs = [f for f in findings if not is_context(f)]
    highs = [f for f in signs if f.severity == Severity.high]
    mediums = [f for f in signs if f.severity == Severity.medium]
    lows = [f for f in signs if f.severity == Severity.low]
    decisive = [f for f in signs if f.code in DECISIVE_CODES]
    if decisive:
        return (Verdict.compromised, "confirmed_compromised", {"codes": _codes(decisive)},
                _deciding(DecidingRule.confirmed, decisive))
    combination = _decisive_combination(signs)
    if combination is not None:
        name, met = combination
        return (Verdict.compromised, "decisive_combination", {"combination": name, "codes": _codes(met)},
                _deciding(DecidingRule.combination, met, name))
    high_families = {family(f.source) for f in highs}
    if len(high_families) >= 2:
        return (Verdict.compromised, "multiple_high", {"count": str(len(highs)), "codes": _codes(highs)},
                _deciding(DecidingRule.families, highs))
    corroborating = [
        f for f in mediums if f.code in CORROBORATING_CODES and family(f.source) not in high_families
    ]
    if high_families and corroborating:
        return (Verdict.compromised, "high_corroborated", {"codes": _codes(highs + corroborating)},
                _deciding(DecidingRule.corroborated, highs + corroborating))
    if highs:
        return (Verdict.suspicious, "high_single_source", {"count": str(len(highs)), "codes": _codes(highs)},
                _deciding(DecidingRule.high, highs))
    if mediums:
        return (Verdict.suspicious, "medium_only", {"count": str(len(mediums)), "codes": _codes(mediums)},
                _deciding(DecidingRule.medium, mediums))
    context = [f for f in findings if is_context(f)]
    if context:
        return (Verdict.no_signs, "restriction_only", {"codes": _codes(context)},
                _deciding(DecidingRule.restriction_context, context))
    if lows:
        return Verdict.no_signs, "only_low", {"count": str(len(lows))}, None
    return Verdict.no_signs, "nothing_found", {}, None


def _latest_time(finding: Finding) -> datetime | None:
    """The latest `last_seen` / `time` row of a finding."""
    latest: datetime | None = None
    for key, value in finding.evidence:
        if key not in ("time", "last_seen"):
            continue
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            continue
        parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        latest = parsed if latest is None else max(latest, parsed)
    return latest


def _actively_abused(evidence: Evidence, findings: Sequence[Finding]) -> bool:
    """A high finding about someone signing in, dated within the last 24 hours."""
    since = evidence.now - timedelta(hours=24)
    for f in findings:
        if f.severity == Severity.high and f.code in _ACTIVE_SIGN_IN_CODES:
            when = _latest_time(f)
            if when is not None and when >= since:
                return True
    return False


@dataclass(frozen=True)
class Offer:
    """One instance of a step that the facts call for: its params, what it acts on, whether it is required."""

    params: Mapping[str, str] = field(default_factory=dict, hash=False)
    target_id: str | None = None
    required: bool = False
    url: str = ""  # this instance's page, instead of the step's (a tenant-wide consent's app in Entra)


@dataclass(frozen=True)
class Facts:
    """What a step's rule reads: the evidence, the findings (and their codes), and whether it is compromised."""

    evidence: Evidence
    findings: Sequence[Finding]
    compromised: bool
    codes: frozenset[str]


@dataclass(frozen=True)
class StepSpec:
    """A securing step: its code (the remediation verb's value where the bot can do it), Microsoft's page that
    explains it, and the rule that offers it (none, one, or one per target). `by_person`: Microsoft 365 offers the
    bot no write for it, so a person does it in a Microsoft portal and acknowledges it on the card ("Done, I
    checked"; `remediation.actions` derives that button's action from `PERSON_STEPS`)."""

    code: str
    url: str
    offer: Callable[[Facts], Iterable[Offer]]
    by_person: bool = False


def _password(facts: Facts) -> Iterable[Offer]:
    # Password and sessions first: every other fix is undone if the attacker can still sign in.
    synced = facts.evidence.user.on_premises_sync_enabled
    yield Offer({"on_premises": "true" if synced else "false"}, required=facts.compromised)


def _sessions(facts: Facts) -> Iterable[Offer]:
    yield Offer(required=facts.compromised)


def _forwarding(facts: Facts) -> Iterable[Offer]:
    if "mailbox_forwards_external" in facts.codes:
        target = next(f.params.get("target", "") for f in facts.findings if f.code == "mailbox_forwards_external")
        yield Offer({"target": target}, required=facts.compromised)


def _rules(facts: Facts) -> Iterable[Offer]:
    seen_rules: set[str] = set()
    for f in facts.findings:
        if f.code not in _RULE_CODES or f.severity not in (Severity.high, Severity.medium) or not f.rule_id:
            continue
        if f.rule_id in seen_rules:
            continue
        seen_rules.add(f.rule_id)
        # A medium "marks as read" rule is the user's own more often than not: offer, don't require.
        yield Offer({"rule": f.params.get("rule", "")}, target_id=f.rule_id,
                    required=facts.compromised and f.severity == Severity.high)


# Delegation findings about one grant (investigation.delegation), each with `subject_id` = `MailboxGrant.subject_id`.
_DELEGATE_CODES = frozenset({"delegate_outside", "delegate_new_account"})


def _delegation(facts: Facts) -> Iterable[Offer]:
    # One removal per grant that is a sign (an outsider's, a fresh account's); ordinary delegates are listed only.
    seen: set[str] = set()
    for f in facts.findings:
        if (f.code not in _DELEGATE_CODES or f.severity not in (Severity.high, Severity.medium)
                or not f.subject_id or f.subject_id in seen):
            continue
        seen.add(f.subject_id)
        delegate = f"{f.params.get('trustee', '')} ({f.params.get('access', '')})"
        yield Offer({"delegate": delegate}, target_id=f.subject_id, required=facts.compromised)


_MFA_CODES = frozenset({"mfa_method_registered", "mfa_registered_from_suspicious_ip"})
# An audit's registration and the method's `createdDateTime` within this are one event (as in
# `investigation.indicators.mfa_registration`).
_SAME_REGISTRATION = timedelta(minutes=15)
# Method types whose registration Graph dates (`createdDateTime`), as the audit's "Method" detail or a method's type
# names them ("Authenticator App with Notification and Code", "FIDO2 security key", "Windows Hello for Business").
_DATED_KIND = re.compile(r"authenticator ?app|microsoftauthenticator|fido|security key|passkey|windows ?hello|"
                         r"platform ?credential", re.IGNORECASE)


def _finding_time(finding: Finding) -> datetime | None:
    try:
        when = datetime.fromisoformat(finding.params.get("time", "").replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _registered_in_window(facts: Facts) -> tuple[list[tuple[AuthMethod, Finding]], bool]:
    """The removable methods the MFA findings point at (each once, with the finding that dates it and says from
    where), and whether a finding points at none the bot can tell (an undated phone, a method already gone, the
    method list unreadable): those are left to a person (`review_mfa_methods`)."""
    methods = [m for m in mfa_methods(facts.evidence) if m.item_id]
    matched: dict[str, tuple[AuthMethod, Finding]] = {}
    unjudged = False
    for f in facts.findings:
        if f.code not in _MFA_CODES:
            continue
        if f.source == SourceName.auth_methods:
            method = next((m for m in methods if m.id == f.subject_id), None)
        else:
            # The audit names no method id: the method Graph dates nearest the audit's registration, if any is close.
            when = _finding_time(f)
            close = sorted((abs(m.created - when), n) for n, m in enumerate(methods)
                           if when is not None and m.created is not None
                           and abs(m.created - when) <= _SAME_REGISTRATION)
            method = methods[close[0][1]] if close else None
        if method is None:
            # A type Graph dates that has no method near the registration any more was removed since (by the bot or
            # in Entra): nothing is left to do. Phone, email and OATH methods carry no date, so which one was added
            # cannot be told: a person looks.
            unjudged = unjudged or not _DATED_KIND.search(f.params.get("method", ""))
        elif method.item_id not in matched or (f.params.get("ip") and not matched[method.item_id][1].params.get("ip")):
            matched[method.item_id] = (method, f)
    return list(matched.values()), unjudged


def _remove_mfa_methods(facts: Facts) -> Iterable[Offer]:
    # One removal per method registered in the window; the card says when and from where (the audit's address).
    for method, f in _registered_in_window(facts)[0]:
        when = f.params.get("time") or (method.created.isoformat() if method.created else "")
        yield Offer({"method": method.display_name or method.kind, "method_type": method.kind, "time": when,
                     "from_ip": f.params.get("ip") or "unknown"},
                    target_id=method.item_id, required=facts.compromised)


def _mfa_methods(facts: Facts) -> Iterable[Offer]:
    # Only what the per-method removals do not cover: a registration the bot cannot tie to a method.
    if facts.codes & _MFA_CODES and _registered_in_window(facts)[1]:
        methods = ", ".join(dict.fromkeys(m.kind for m in mfa_methods(facts.evidence)))
        yield Offer({"methods": methods}, required=facts.compromised)


def _block_sign_in(facts: Facts) -> Iterable[Offer]:
    if facts.compromised and facts.evidence.user.account_enabled:
        abused = _actively_abused(facts.evidence, facts.findings)
        # When the sign-in log could not be read, active abuse cannot be ruled out: offer the block.
        if abused or not facts.evidence.is_available(SourceName.sign_ins):
            yield Offer({"active": "true" if abused else "unknown"})


# The Entra audit of a directory role given to a principal ("Microsoft Entra audit log activity reference",
# learn.microsoft.com/entra/identity/monitoring-health/reference-audit-activities, category RoleManagement): its
# target user carries the role as modified properties `Role.ObjectID`, `Role.DisplayName`, `Role.TemplateId` (new
# values JSON-quoted, e.g. "\"62e90394-…\"").
ROLE_ADDED_ACTIVITY = "add member to role"


def _role_property(audit: DirectoryAudit, name: str) -> str:
    value = next((p.new_value for p in audit.modified_properties if p.name.lower() == name), "")
    return value.strip().strip('"')


def roles_gained(evidence: Evidence) -> list[tuple[DirectoryObject, DirectoryAudit]]:
    """The admin roles the account holds now that an "Add member to role" audit in the window gave it, each once
    with the audit (when, by whom). A role held with no such audit was held from before: context, not the bot's to
    take (the account may be an administrator by right)."""
    user_id = evidence.user.id.lower()
    held = [m for m in evidence.memberships or ()
            if m.is_role and (m.role_template_id or "").lower() not in NON_ADMIN_ROLE_TEMPLATES]
    gained: dict[str, tuple[DirectoryObject, DirectoryAudit]] = {}
    for audit in evidence.directory_audits or ():
        if (audit.activity.strip().lower() != ROLE_ADDED_ACTIVITY or audit.result.lower() not in ("", "success")
                or not evidence.in_window(audit.activity_time) or user_id not in {t.lower() for t in audit.target_ids}):
            continue
        object_id = _role_property(audit, "role.objectid").lower()
        template = _role_property(audit, "role.templateid").lower()
        role = next((m for m in held if (object_id and m.id.lower() == object_id)
                     or (template and (m.role_template_id or "").lower() == template)), None)
        if role is not None and role.id not in gained:
            gained[role.id] = (role, audit)
    return list(gained.values())


def _remove_admin_role(facts: Facts) -> Iterable[Offer]:
    # One removal per role gained in the window (the role's object id: Graph takes it from the member by it).
    if not facts.compromised:
        return
    for role, audit in roles_gained(facts.evidence):
        by = audit.initiated_by_upn or audit.initiated_by_app or "—"  # a system change names no one
        yield Offer({"role": role.display_name or role.role_template_id or role.id,
                     "time": audit.activity_time.isoformat() if audit.activity_time else "", "initiated_by": by,
                     "template_id": role.role_template_id or ""},
                    target_id=role.id, required=True)


def _admin_roles(facts: Facts) -> Iterable[Offer]:
    # The roles held from before the window: named, with Microsoft's page, and no button (see `roles_gained`).
    if facts.compromised and "admin_roles_held" in facts.codes:
        gained = {role.id for role, _ in roles_gained(facts.evidence)}
        before = [m for m in facts.evidence.memberships or () if m.is_role and m.id not in gained
                  and (m.role_template_id or "").lower() not in NON_ADMIN_ROLE_TEMPLATES]
        if gained and not before:
            return
        roles = (", ".join(dict.fromkeys(m.display_name or m.id for m in before)) if gained
                 else next(f.params.get("roles", "") for f in facts.findings if f.code == "admin_roles_held"))
        yield Offer({"roles": roles})


def _consent_grants(facts: Facts) -> list[tuple[Finding, OAuthGrant | None]]:
    """The high consent findings with the grant each is about (None when the evidence no longer has it)."""
    grants = {g.id: g for g in facts.evidence.oauth_grants or ()}
    return [(f, grants.get(f.subject_id or "")) for f in facts.findings
            if f.code == "consent_unverified_app" and f.severity == Severity.high]


def _own_consent(grant: OAuthGrant | None, facts: Facts) -> bool:
    # consentType "Principal": the user consented for themselves, which the bot may revoke; "AllPrincipals" is an
    # admin's consent for everyone, which only an admin in Entra may take back.
    return (grant is not None and grant.consent_type.lower() == "principal"
            and (grant.principal_id or "").lower() == facts.evidence.user.id.lower())


def _revoke_consents(facts: Facts) -> Iterable[Offer]:
    seen: set[str] = set()
    for f, grant in _consent_grants(facts):
        if grant is not None and _own_consent(grant, facts) and grant.id not in seen:
            seen.add(grant.id)
            yield Offer({"app": f.params.get("app", ""), "scopes": f.params.get("scopes", "")}, target_id=grant.id,
                        required=facts.compromised)


def _consents(facts: Facts) -> Iterable[Offer]:
    # Left for a person: tenant-wide consents (and a grant the evidence lost), with the app's permissions page in
    # Entra when there is one app to point at.
    others = [(f, grant) for f, grant in _consent_grants(facts) if not _own_consent(grant, facts)]
    if others:
        apps = ", ".join(dict.fromkeys(f.params.get("app", "") for f, _ in others))
        clients = {grant.client_id for _, grant in others if grant is not None}
        principals = {sp.id: sp for sp in facts.evidence.service_principals or ()}
        sp = principals.get(next(iter(clients))) if len(clients) == 1 else None
        url = (ENTRA_APP_PERMISSIONS_URL.format(sp=sp.id, app=sp.app_id)
               if sp is not None and _GUID.fullmatch(sp.id) and _GUID.fullmatch(sp.app_id) else "")
        yield Offer({"apps": apps}, required=facts.compromised, url=url)


def _confirm(facts: Facts) -> Iterable[Offer]:
    risky = facts.evidence.risky_user
    already_confirmed = risky is not None and risky.risk_state.lower() == "confirmedcompromised"
    if facts.compromised and facts.evidence.is_available(SourceName.risky_user) and not already_confirmed:
        yield Offer()


# The securing steps in Microsoft's order; the card shows them in this order.
SECURE_STEPS: tuple[StepSpec, ...] = (
    StepSpec("force_password_change", RESPOND_URL, _password),
    StepSpec("revoke_sessions", RESPOND_URL, _sessions),
    StepSpec("remove_forwarding", RESPOND_URL, _forwarding),
    StepSpec("disable_rule", RULES_URL, _rules),
    StepSpec("remove_delegation", RESPOND_URL, _delegation),
    StepSpec("remove_mfa_method", RESPOND_URL, _remove_mfa_methods),
    StepSpec("review_mfa_methods", RESPOND_URL, _mfa_methods, by_person=True),
    StepSpec("block_sign_in", RESPOND_URL, _block_sign_in),
    StepSpec("remove_admin_role", RESPOND_URL, _remove_admin_role),
    StepSpec("remove_admin_roles", RESPOND_URL, _admin_roles),
    StepSpec("revoke_consent", CONSENT_URL, _revoke_consents),
    StepSpec("review_consents", APP_PERMISSIONS_URL, _consents, by_person=True),
    StepSpec("confirm_compromised", RESPOND_URL, _confirm),
)
UNBLOCK_STEP = "unblock"
# Steps a person does in a Microsoft portal and acknowledges on the card (each is a verb and an action too).
PERSON_STEPS: tuple[str, ...] = tuple(spec.code for spec in SECURE_STEPS if spec.by_person)
# Every step code the verdict can recommend: securing, unblocking, preventing.
STEP_CODES: tuple[str, ...] = (*(spec.code for spec in SECURE_STEPS), UNBLOCK_STEP, *PREVENTION_CODES)


def _secure_steps(evidence: Evidence, findings: Sequence[Finding], verdict: Verdict) -> list[Step]:
    facts = Facts(evidence, findings, verdict == Verdict.compromised, frozenset(f.code for f in findings))
    return [
        Step(spec.code, StepPhase.secure, offer.params, target_id=offer.target_id, url=offer.url or spec.url,
             required=offer.required)
        for spec in SECURE_STEPS
        for offer in spec.offer(facts)
    ]


def assess(evidence: Evidence, findings: Sequence[Finding]) -> Assessment:
    """Judge the account from its findings (`run_indicators(evidence)`) and the sources that were missing."""
    verdict, reason_code, params, deciding = _judge(findings)
    missing = key_sources_missing(evidence)
    if missing and verdict != Verdict.compromised:
        signs = [f for f in findings if f.severity in (Severity.high, Severity.medium) and not is_context(f)]
        sources = ", ".join(s.value for s in missing)
        if signs:
            reason_code, params = "incomplete_with_signs", {"sources": sources, "count": str(len(signs))}
        else:
            reason_code, params = "incomplete_no_signs", {"sources": sources}
        verdict = Verdict.incomplete
        deciding = None

    steps: list[Step] = []
    if verdict != Verdict.no_signs:
        steps.extend(_secure_steps(evidence, findings, verdict))
    if evidence.restricted is True:
        steps.append(Step(UNBLOCK_STEP, StepPhase.unblock, {}, url=UNBLOCK_URL))
    steps.extend(
        Step(p.code, StepPhase.prevent, p.params, url=p.url) for p in prevention_steps(evidence)
    )

    has_admin = any(f.code == "admin_roles_held" for f in findings)
    urgent = (has_admin and verdict != Verdict.no_signs) or (
        verdict == Verdict.compromised and _actively_abused(evidence, findings)
    )
    return Assessment(
        verdict=verdict,
        reason_code=reason_code,
        reason_params=params,
        urgent=urgent,
        recommended_steps=tuple(steps),
        key_sources_missing=missing,
        deciding=deciding,
    )

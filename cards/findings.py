"""The findings card: what Microsoft 365 restricted, what the investigation found, and what to do about it.

Layout, top to bottom (one column, so it stays legible at Teams' narrow width — side-by-side columns squeeze
text to a few characters per line on a phone): the header (name, UPN, department, restriction and its
reason), a verdict badge, findings by severity, the sources that were not checked, the steps as a
checklist with their buttons directly under each step line, the unblock override when unblocking is gated,
the latest actions, the IT note to the user (staff only), and the action bar (Refresh and fixed links). Notices
(the outcome of a press, the case's state: "pending", "restored", the unblock limit) sit right under the header,
where the person who pressed a button looks first.

`confirmation_card` asks "are you sure?" before a destructive action; `case_unavailable_card` stands in when a
case has no readable snapshot.

Buttons that need no input say `associatedInputs: none`, so the override reason or the note typed on the card
never travels with another button (and never blocks it).

Tenant text stays inert: every value that came from the tenant (names, rule names, addresses, cities, the
raw restriction reason, who did what) reaches the card only as a `TextRun` of a `RichTextBlock` — Teams
renders runs as plain text, never Markdown — after `cards.text.clean()`. Whole sentences are built by
`template_runs`, which splits a catalog template at its `{placeholders}`: the catalog text becomes runs of
its own and each placeholder becomes one cleaned run. No tenant value is ever formatted into a string that
Teams would parse. Button titles are plain text by definition and are cleaned too; `fallbackText` may be
rendered as Markdown, so the name in it is Markdown-escaped.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal

from microsoft_teams.cards import (
    Action,
    ActionSet,
    CardElement,
    Container,
    ContainerStyle,
    ExecuteAction,
    RichTextBlock,
    TextBlock,
    TextInput,
    TextRun,
    ToggleVisibilityAction,
)

from cards.base import JsonDict, envelope, execute, heading, merge_runs, open_url, tenant_line
from cards.help import GUIDANCE_URL
from cards.history import PreviousCase, previous_case_part
from cards.text import clean, md_escape
from cards.verbs import ITEMS, Verb
from investigation.collect import Investigation
from investigation.evidence import Evidence, Unavailable
from investigation.indicators import Finding, Severity
from investigation.reason import LimitType, RestrictionReason, parse_reason
from investigation.resume import Resume, ResumeKind, when_sending_resumes
from investigation.verdict import PERSON_STEPS, Assessment, Deciding, DecidingRule, Step, StepPhase, Verdict
from locales import CATALOGS, DEFAULT_LANGUAGE, format_datetime, format_duration, has, language_of, t, template

Color = Literal["Default", "Dark", "Light", "Accent", "Good", "Warning", "Attention"]
Weight = Literal["Lighter", "Default", "Bolder"]
Size = Literal["Small", "Default", "Medium", "Large", "ExtraLarge"]
Spacing = Literal["None", "Small", "Default", "Medium", "Large", "ExtraLarge", "Padding"]

# Fixed links. Never a URL from the tenant: an attacker controls those.
DEFENDER_RESTRICTED_URL = "https://security.microsoft.com/restrictedentities"
ENTRA_USER_URL = (
    "https://entra.microsoft.com/#view/Microsoft_AAD_UsersAndTenants/UserProfileMenuBlade/~/overview/userId/{}"
)
# Where a step's "How to do this" may point: Microsoft Learn, or an Entra admin center page the verdict built from
# GUIDs alone (`investigation.verdict.ENTRA_APP_PERMISSIONS_URL`, a tenant-wide consent's permissions page).
_PORTAL_LINKS = ("https://learn.microsoft.com/", "https://entra.microsoft.com/#view/")
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# Rule ids go into button data, not onto the card; Graph ids are base64url-ish, a mailbox grant's id
# (`MailboxGrant.subject_id`) names its trustee (`FullAccess:guest#EXT#@…`, `Folder:Megan Lewis:Inbox`). Anything
# else (control characters, or a huge value) gets no button rather than a bloated or odd payload.
_ITEM_ID = re.compile(r"[\w+/=\-.:@#' ]{1,256}")

# Caps that keep the card inside Teams' ~28 KB message limit whatever the tenant holds.
MAX_FINDING_LINES = 15
MAX_RULE_STEPS = 8
MAX_ACTION_NOTES = 5
MAX_EVIDENCE_GROUPS = 6
MAX_VALUES_PER_GROUP = 3
VALUE_LIMIT = 80  # a placeholder value in a sentence
EVIDENCE_VALUE_LIMIT = 60  # one evidence value
TITLE_VALUE_LIMIT = 30  # a rule name inside a button title
# An item's rows on its confirmation (a rule's conditions and actions): what the admin deletes is shown whole, a
# tenant's very long lists capped.
CONFIRM_VALUE_LIMIT = 200
MAX_CONFIRM_VALUES = 10
REASON_RAW_LIMIT = 160  # Microsoft's unparsed restriction reason
OVERRIDE_INPUT_ID = "overrideReason"
OVERRIDE_MAX_LENGTH = 500
NOTE_INPUT_ID = "note"
NOTE_MAX_LENGTH = 1000
# Microsoft 365 admin center → Support → New service request: where an account past the unblock limit goes.
MICROSOFT_SUPPORT_URL = "https://admin.microsoft.com/#/support"
NoticeTone = Literal["good", "warning", "attention", "accent", "emphasis"]
# Element ids of the card's folded parts (`Action.ToggleVisibility` targets; unique within a card).
FINDINGS_PART_ID = "more-findings"
STEPS_PART_ID = "more-steps"
EVIDENCE_ROW_ID = "ev{}"

BADGE_STYLES: Mapping[Verdict, ContainerStyle] = MappingProxyType({
    Verdict.compromised: "attention",
    Verdict.suspicious: "warning",
    Verdict.no_signs: "good",
    Verdict.incomplete: "emphasis",
})
_SEVERITY_COLORS: Mapping[Severity, Color] = MappingProxyType({
    # Default for all: red and yellow text miss WCAG AA in a Teams theme (tests/unit/test_contrast.py).
    Severity.high: "Default", Severity.medium: "Default", Severity.low: "Default", Severity.info: "Default",
})
_SEVERITY_ORDER = (Severity.high, Severity.medium, Severity.low, Severity.info)
_PHASE_ORDER = (StepPhase.secure, StepPhase.unblock, StepPhase.prevent)

# A finding param shown in the summary sentence makes its evidence row redundant; this maps the param to
# the evidence key it repeats when their names differ.
_PARAM_EVIDENCE: Mapping[str, str] = MappingProxyType({
    "targets": "target", "roles": "role", "scopes": "scope", "protocols": "protocol", "properties": "property",
    "title": "alert", "level": "risk_level", "state": "risk_state", "actions": "action", "spam_count": "count",
    "domains": "domain", "subjects": "subject", "ips": "ip",
})
_TIME_KEYS = frozenset({"time", "first_seen", "last_seen", "created", "removed"})
_NUMBER_KEYS = frozenset({"count", "recipients", "spam_count", "mail_count", "messages", "external", "trace_cap"})
_DIGITS = re.compile(r"[0-9]{1,12}")
# Values that name one of our codes and read better in words; translated item by item (`a, b`).
_CODE_PREFIXES: Mapping[str, str] = MappingProxyType({
    "action": "action.", "actions": "action.", "marker": "marker.", "limit_type": "limit.", "level": "level.",
    "risk_level": "level.", "severity": "level.", "method": "method.", "methods": "method.", "sources": "source.",
    "codes": "label.", "sign_in": "signin.", "keeps_copy": "bool.", "state": "state.", "risk_state": "state.",
    "status": "status.", "combination": "combination.", "method_type": "method.", "from_ip": "address.",
    "risk_type": "risk.", "activity": "detail.", "access": "access.", "condition": "condition.",
})
# Microsoft's enum values arrive in any case ("High", "atRisk", Graph's `forwardTo` and Exchange's `ForwardTo`);
# these catalogs are keyed in lower case (`locales.en_codes`). Our own codes are lower case already.
_CASE_FOLDED = frozenset({"level.", "bool.", "state.", "status.", "risk.", "detail.", "access.", "condition.",
                          "action."})
# One of Microsoft's camelCase or PascalCase codes (`unlikelyTravel`, `FullAccess`): never shown as it is.
_CODE_TOKEN = re.compile(r"[a-z]+(?:[A-Z][a-z0-9]*)+|[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+")
_CODE_WORD = re.compile(r"[A-Z]{2,}(?![a-z])|[A-Z]?[a-z0-9]+|[A-Z]")
# Protocol codes of `prevention_steps` (not language-specific, so not in the catalogs).
_PROTOCOL_NAMES: Mapping[str, str] = MappingProxyType({"imap": "IMAP", "pop": "POP", "smtp_auth": "SMTP AUTH"})


# ----------------------------------------------------------------------------------- public records


def step_verb(code: str) -> Verb | None:
    """The verb of the button that carries out a recommended step, or None for a step done in a Microsoft portal
    (which gets its Microsoft docs link instead).

    A remediation action's step code is its verb's value (`remediation.actions.ActionSpec.step`), so the button
    follows from the code alone: remediation draws this card, so this module cannot read remediation's table,
    and `tests/unit/test_actions.py` checks that every step code naming a verb is an action in it."""
    return Verb.parse(code)


def step_key(code: str, target_id: str | None) -> str:
    """How `step_states` are keyed: `"<code>:<target id or empty>"`, e.g. `disable_rule:AQAAAJ5dZqA=`."""
    return f"{code}:{target_id or ''}"


@dataclass(frozen=True)
class StepState:
    """A step that was already done (filled by remediation from the case's records); `item_name`: the name of the
    item a per-item action acted on, as it was then (a removed method or grant is gone from later investigations)."""

    code: str
    target_id: str | None
    done_by: str
    done_at: datetime
    item_name: str = ""

    @property
    def key(self) -> str:
        """This state's key in `step_states` (`step_key`)."""
        return step_key(self.code, self.target_id)


@dataclass(frozen=True)
class ActionNote:
    """One recent action, e.g. "Unblocked by Alex Wilber at 10:32": `text_key` is a catalog key whose
    placeholders come from `params` plus `actor` and `time`."""

    text_key: str
    actor: str
    at: datetime
    params: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))


@dataclass(frozen=True)
class GateInfo:
    """Why unblocking is gated (`reason_key`, a catalog key such as `gate.secure_first`). The card then
    offers an override: a reason input (`overrideReason`) and "Unblock anyway". `missing` are the required steps
    still open (`remediation.policy.open_required_steps`), shown as "Still to do: …" by name (`step_name`)."""

    reason_key: str
    missing: tuple[Step, ...] = ()


@dataclass(frozen=True)
class Notice:
    """A banner under the card's header (or by the pressed button, `anchor`): `key` is a catalog key whose
    placeholders come from `params` (tenant values allowed: they become cleaned runs). `support_link` adds the
    fixed Microsoft support link."""

    key: str
    params: Mapping[str, str] = field(default_factory=dict, hash=False)
    tone: NoticeTone = "accent"
    support_link: bool = False
    # The `step_key` of the step whose button was pressed: the notice is drawn right above that step's buttons
    # (for the unblock: above "Unblock anyway"), where the presser looks; "" (or a step not on the card): at the top.
    anchor: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))


# ------------------------------------------------------------------------------ templates → text runs


def template_of(locale: str | None, key: str) -> str:
    """The raw catalog template of `key` (speaker's language, else English, else the key), unformatted."""
    return CATALOGS[language_of(locale)].get(key) or CATALOGS[DEFAULT_LANGUAGE].get(key) or key


def split_template(template: str) -> list[tuple[str, bool]]:
    """A template as `(text, is_placeholder)` pieces in order: `"Rule “{rule}” on"` →
    `[("Rule “", False), ("rule", True), ("” on", False)]`. A malformed template is one literal piece."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:
        return [(template, False)]
    pieces: list[tuple[str, bool]] = []
    for literal, name, _spec, _conversion in parsed:
        if literal:
            pieces.append((literal, False))
        if name:
            pieces.append((name, True))
        elif name == "":
            pieces.append(("{}", False))
    return pieces


def placeholders(template: str) -> list[str]:
    """The placeholder names of a template, in order."""
    return [text for text, is_field in split_template(template) if is_field]


def text_run(text: str, *, subtle: bool = False, weight: Weight | None = None, size: Size | None = None,
             color: Color | None = None, italic: bool = False) -> TextRun:
    """One TextRun (plain text in Teams) with only the styling that was asked for."""
    return TextRun(text=text, is_subtle=subtle or None, weight=weight, size=size, color=color, italic=italic or None)


def template_runs(locale: str | None, key: str, values: Mapping[str, str], *, limit: int = VALUE_LIMIT,
                  subtle: bool = False, weight: Weight | None = None, size: Size | None = None,
                  color: Color | None = None, value_weight: Weight | None = None) -> list[TextRun]:
    """The message `key` as runs: catalog text as it is, each `{placeholder}` one `clean()`ed run.

    An empty value shows as "—"; a placeholder without a value stays visible (as `locales.t` does) rather
    than raising.
    """
    runs: list[TextRun] = []
    for text, is_field in split_template(template(locale, key, values)):  # the plural form its count asks for
        if not is_field:
            runs.append(text_run(text, subtle=subtle, weight=weight, size=size, color=color))
            continue
        value = clean(values[text], limit) if text in values else "{" + text + "}"
        runs.append(text_run(value or "—", subtle=subtle, weight=value_weight or weight, size=size, color=color))
    return runs


def rich(runs: Sequence[TextRun], *, spacing: Spacing | None = None) -> RichTextBlock:
    """A RichTextBlock of `runs` (it wraps on its own)."""
    block = RichTextBlock(inlines=list(runs))  # type: ignore[arg-type]
    if spacing:
        block.spacing = spacing
    return block


def template_line(locale: str | None, key: str, values: Mapping[str, str] | None = None, *,
                  limit: int = VALUE_LIMIT, subtle: bool = False, weight: Weight | None = None,
                  size: Size | None = None, color: Color | None = None,
                  spacing: Spacing | None = None) -> RichTextBlock:
    """`template_runs` as one RichTextBlock."""
    runs = template_runs(locale, key, values or {}, limit=limit, subtle=subtle, weight=weight, size=size,
                         color=color)
    return rich(runs, spacing=spacing)


# --------------------------------------------------------------------------------- value formatting


def _number(value: int, locale: str | None) -> str:
    # Digit grouping is per language (2,750 / 2.750); the grouped digits are ours, not tenant text.
    return f"{value:,}".replace(",", t(locale, "format.group"))


def display_value(name: str, value: str, locale: str | None, time_zone: str | None) -> str:
    """A param or evidence value as a person should read it: ISO times in the viewer's zone, our codes in
    words (`action.delete`, `label.<finding>` …). Anything unknown stays as it was (it is cleaned later)."""
    if name in _TIME_KEYS:
        when = _parse_time(value)
        return format_datetime(when, locale, time_zone) if when is not None else value
    if name in _NUMBER_KEYS and _DIGITS.fullmatch(value):
        return _number(int(value), locale)
    if name == "protocols":
        return ", ".join(_PROTOCOL_NAMES.get(p, p) for p in value.split(", "))
    if name == "delegate" and value.endswith(")") and " (" in value:
        # A delegate step's "<trustee> (<rights>)" (`investigation.verdict`): the rights in words.
        trustee, _, rights = value[:-1].rpartition(" (")
        return f"{trustee} ({display_value('access', rights, locale, time_zone)})"
    prefix = _CODE_PREFIXES.get(name)
    if prefix is None or not value:
        return value
    if name in ("access", "condition") and ": " in value:
        # "Inbox: Reviewer" (a folder's rights; the folder's name is tenant text) and "fromAddresses: a@x" (a
        # rule's condition; its value is tenant text): only the code in the pair is Microsoft's.
        if name == "access":
            folder, _, rights = value.rpartition(": ")
            return f"{folder}: {display_value(name, rights, locale, time_zone)}"
        condition, _, operand = value.partition(": ")
        return f"{_code_word(prefix, condition, locale)}: {operand}"
    if name == "condition":
        return _code_word(prefix, value, locale)  # a condition alone (`hasAttachments`); never split at commas
    return ", ".join(_code_word(prefix, item, locale) for item in value.split(", "))


def decamel(code: str) -> str:
    """A Microsoft code we have no words for, readable: `unlikelyTravel` → "unlikely travel",
    `anonymizedIPAddress` → "anonymized IP address" (acronyms stay upper case)."""
    words = _CODE_WORD.findall(code)
    return " ".join(word if len(word) > 1 and word.isupper() else word.lower() for word in words)


def _parse_time(value: str) -> datetime | None:
    """A time param as the indicators write it (ISO 8601, `…Z`); None for anything else, which is shown as is."""
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _code_word(prefix: str, item: str, locale: str | None) -> str:
    key = prefix + (item.lower() if prefix in _CASE_FOLDED else item)
    if has(key):
        return t(locale, key)
    return decamel(item) if _CODE_TOKEN.fullmatch(item) else item


def _display_params(params: Mapping[str, str], locale: str | None, time_zone: str | None) -> dict[str, str]:
    return {name: display_value(name, value, locale, time_zone) for name, value in params.items()}


# -------------------------------------------------------------------------------------- small blocks


def _section(text: str) -> TextBlock:
    """A section title with a separator line above it (our text)."""
    return TextBlock(text=text, weight="Bolder", size="Medium", wrap=True, separator=True, spacing="Medium")


def _small(text: str, *, color: Color | None = None, subtle: bool = False) -> TextBlock:
    """A wrapping line of our own (catalog) text."""
    return TextBlock(text=text, wrap=True, color=color, is_subtle=subtle or None, spacing="Small")


def _name_of(evidence: Evidence) -> str:
    return evidence.user.display_name.strip() or evidence.user.user_principal_name


# ---------------------------------------------------------------------------------------- the header


def _header(investigation: Investigation, locale: str | None, time_zone: str | None,
            restored_at: datetime | None = None) -> list[CardElement]:
    evidence = investigation.evidence
    user = evidence.user
    body: list[CardElement] = [
        rich([text_run(clean(_name_of(evidence)) or "—", weight="Bolder", size="Large")]),
    ]
    details = [v for v in (user.user_principal_name, user.department, user.job_title) if v and clean(v)]
    if details:
        parts: list[tuple[str, bool]] = []
        for index, value in enumerate(details):
            parts += [(" · " if index else "", False), (value, True)]
        line = tenant_line(*parts, subtle=True)
        line.spacing = "None"
        body.append(line)
    if restored_at is not None and investigation.evidence.restricted is not False:
        # The investigation saw the restriction; the case has seen it lifted since: the header says what holds now.
        body.append(_small(t(locale, "restriction.restored", time=format_datetime(restored_at, locale, time_zone))))
    else:
        body.extend(_restriction(investigation, locale, time_zone))
    body.extend(_burst(investigation.findings, locale, time_zone))
    if not user.account_enabled:
        body.append(_small(t(locale, "header.sign_in_blocked"), subtle=True))
    body.append(_small(t(locale, "header.checked", time=format_datetime(evidence.now, locale, time_zone),
                         days=evidence.window_days), subtle=True))
    return body


def _restriction(investigation: Investigation, locale: str | None, time_zone: str | None) -> list[CardElement]:
    evidence = investigation.evidence
    if evidence.restricted is None:
        return [_small(t(locale, "restriction.unknown"))]
    if not evidence.restricted:
        return [_small(t(locale, "restriction.none"))]
    record = evidence.restriction
    if record is not None and record.created is not None:
        status = t(locale, "restriction.since", since=format_datetime(record.created, locale, time_zone),
                   ago=format_duration(evidence.now - record.created, locale))
    else:
        status = t(locale, "restriction.since_unknown")
    out: list[CardElement] = [TextBlock(text=status, wrap=True, weight="Bolder",
                                        spacing="Small")]
    reason = investigation.reason or (parse_reason(record.reason) if record is not None else None)
    if reason is not None:
        out.append(rich(restriction_reason_runs(reason, locale), spacing="None"))
    if record is not None and record.expires is not None:
        out.append(_small(t(locale, "restriction.expires", time=format_datetime(record.expires, locale, time_zone)),
                          subtle=True))
    resume = resume_line(when_sending_resumes(evidence), locale, time_zone)
    if resume is not None:
        out.append(resume)
    return out


# Findings the header shows (what the burst looked like: context for the restriction, never cut off by the
# findings list's length limit), not the findings list.
_HEADER_CODES = frozenset({"burst_summary"})


def _burst(findings: Sequence[Finding], locale: str | None, time_zone: str | None) -> list[CardElement]:
    """The burst summary (`investigation.burst`) under the restriction: one compact line and its labelled rows."""
    for finding in findings:
        if finding.code in _HEADER_CODES:
            # Lists of three counted values each: longer than one name, bounded all the same.
            out: list[CardElement] = [rich(template_runs(locale, f"finding.{finding.code}",
                                                         _display_params(finding.params, locale, time_zone),
                                                         limit=REASON_RAW_LIMIT), spacing="Small")]
            evidence = _evidence_runs(finding, locale, time_zone)
            if evidence:
                out.append(rich(evidence, spacing="None"))
            return out
    return []


def resume_line(resume: Resume | None, locale: str | None, time_zone: str | None) -> RichTextBlock | None:
    """When sending resumes without action (`investigation.resume`); None when the card has nothing to add (the
    expiry line already says it, or the policy was not read: the "not checked" list says that)."""
    if resume is None or resume.basis in ("expiry", "no_policy", "reason_unknown"):
        return None
    if resume.kind == ResumeKind.by_itself and resume.at is not None:
        key = "resume.by_itself"
    elif resume.kind == ResumeKind.admin:
        key = "resume.admin_spam" if resume.basis == "spam" else "resume.admin_policy"
    else:
        key = f"resume.{resume.basis}"
    values = {"policy": resume.policy,
              "time": format_datetime(resume.at, locale, time_zone) if resume.at is not None else ""}
    return rich(template_runs(locale, key, values), spacing="None")


def restriction_reason_runs(reason: RestrictionReason, locale: str | None) -> list[TextRun]:
    """The restriction's reason in plain words: the limit and its counts, or Microsoft's own (cleaned) text."""
    limit = reason.limit_type
    if limit == LimitType.outbound_spam:
        spam, mail, percent = reason.spam_last_24h, reason.mail_last_24h, reason.effective_spam_percent
        if spam is not None and mail and percent is not None:
            values = {"spam": _number(spam, locale), "mail": _number(mail, locale), "percent": str(percent)}
            return template_runs(locale, "restriction.spam_counts", values)
        if spam is not None:
            return template_runs(locale, "restriction.spam_count", {"spam": _number(spam, locale)})
        if percent is not None:
            return template_runs(locale, "restriction.spam_percent", {"percent": str(percent)})
        return template_runs(locale, "limit.outbound_spam", {})
    if limit in (LimitType.external_recipient_limit, LimitType.internal_recipient_limit,
                 LimitType.recipient_rate_limit):
        ext, internal = reason.external_recipients, reason.internal_recipients
        if ext is not None and internal is not None:
            counts = t(locale, "restriction.recipients_both", external=_number(ext, locale),
                       internal=_number(internal, locale))
        elif ext is not None:
            counts = t(locale, "restriction.recipients_external", external=_number(ext, locale))
        elif internal is not None:
            counts = t(locale, "restriction.recipients_internal", internal=_number(internal, locale))
        else:
            return template_runs(locale, f"limit.{limit.value}", {})
        runs = template_runs(locale, "restriction.limit_counts",
                             {"limit": t(locale, f"limit.{limit.value}"), "counts": counts})
        if reason.last_message_recipients is not None:
            # Microsoft's `LastMessageRcptCount`: one huge message reads differently from many small ones.
            runs += template_runs(locale, "restriction.last_message",
                                  {"recipients": _number(reason.last_message_recipients, locale)})
        return runs
    if limit == LimitType.compromised:
        return template_runs(locale, "limit.compromised", {})
    raw = clean(reason.raw, REASON_RAW_LIMIT)
    if not raw:
        return template_runs(locale, "limit.unknown", {})
    return template_runs(locale, "restriction.raw", {"raw": raw}, limit=REASON_RAW_LIMIT)


# ------------------------------------------------------------------------------------------ the badge


def _badge(assessment: Assessment, findings: Sequence[Finding], locale: str | None,
           time_zone: str | None) -> Container:
    verdict = assessment.verdict
    items: list[CardElement] = [
        TextBlock(text=t(locale, f"verdict.{verdict.value}"), weight="Bolder", size="Medium", wrap=True),
        rich(template_runs(locale, f"reason.{assessment.reason_code}",
                           _display_params(assessment.reason_params, locale, time_zone), limit=400),
             spacing="Small"),
    ]
    if assessment.deciding is not None:
        items.append(rich(deciding_runs(assessment.deciding, locale), spacing="Small"))
    if assessment.urgent:
        # `urgent` has two causes (verdict.py): admin roles, or a compromised account in active use.
        admin = any(f.code == "admin_roles_held" for f in findings)
        key = "urgent.admin_roles" if admin else "urgent.active"
        items.append(TextBlock(text=t(locale, key), weight="Bolder", wrap=True, spacing="Small"))
    return Container(style=BADGE_STYLES[verdict], items=items, spacing="Medium")


MAX_DECIDING_CODES = 4


def deciding_text(deciding: Deciding, locale: str | None) -> tuple[str, dict[str, str]]:
    """The locale key and values of the "decided by" line: the findings' short labels joined by " + "."""
    labels = [_code_word("label.", code, locale) for code in deciding.codes[:MAX_DECIDING_CODES]]
    extra = len(deciding.codes) - MAX_DECIDING_CODES
    values = {"evidence": " + ".join(labels) + (f" (+{extra})" if extra > 0 else "")}
    if deciding.rule == DecidingRule.combination:
        values["combination"] = _code_word("combination.", deciding.combination, locale)
        return "deciding.combination", values
    if deciding.rule == DecidingRule.restriction_context:
        return "deciding.restriction_context", values
    return "deciding.line", values


def deciding_runs(deciding: Deciding, locale: str | None) -> list[TextRun]:
    """One line under the verdict naming the evidence that decided it (`investigation.verdict.Deciding`)."""
    key, values = deciding_text(deciding, locale)
    return template_runs(locale, key, values, limit=400)


# --------------------------------------------------------------------------------------- the findings


def _finding_runs(finding: Finding, locale: str | None, time_zone: str | None) -> list[TextRun]:
    values = _display_params(finding.params, locale, time_zone)
    return [text_run("• "), *template_runs(locale, f"finding.{finding.code}", values)]


def _evidence_runs(finding: Finding, locale: str | None, time_zone: str | None) -> list[TextRun]:
    """The finding's evidence rows, grouped by key, minus what the sentence already says, on one line:
    `To: a@x · Condition: subjectContains: invoice`."""
    names = placeholders(template_of(locale, f"finding.{finding.code}"))
    said = {_PARAM_EVIDENCE.get(p, p) for p in names}
    said_values = {finding.params[p] for p in names if finding.params.get(p)}
    groups: dict[str, list[str]] = {}
    for key, value in finding.evidence:
        if key in said or not value or value in said_values:
            continue
        shown = clean(display_value(key, value, locale, time_zone), EVIDENCE_VALUE_LIMIT)
        values = groups.setdefault(key, [])
        if shown and shown not in values:
            values.append(shown)
    runs: list[TextRun] = []
    shown_groups = [(key, values) for key, values in groups.items() if values][:MAX_EVIDENCE_GROUPS]
    for index, (key, values) in enumerate(shown_groups):
        label = t(locale, f"evidence.{key}")
        extra = len(values) - MAX_VALUES_PER_GROUP
        text = ", ".join(values[:MAX_VALUES_PER_GROUP]) + (f" +{extra}" if extra > 0 else "")
        # Subtle, default size: the rows sit behind "Show evidence", and a size on each run would cost ~1 KB of
        # Teams' 28 KB on a card like Megan's.
        runs.append(text_run(("  ·  " if index else "") + label + ": ", subtle=True))
        runs.append(text_run(text, subtle=True))
    return runs


def _findings(findings: Sequence[Finding], locale: str | None, time_zone: str | None,
              evidence_ids: list[str] | None = None) -> list[CardElement]:
    """The findings by severity. With `evidence_ids`, each evidence row is folded (hidden, with an id appended to
    the list) so one "Show evidence" toggle can open them all."""
    findings = [f for f in findings if f.code not in _HEADER_CODES]
    body: list[CardElement] = [_section(t(locale, "findings.title"))]
    if not findings:
        body.append(_small(t(locale, "findings.none"), subtle=True))
        return body
    shown = 0
    for severity in _SEVERITY_ORDER:
        group = [f for f in findings if f.severity == severity]
        if not group or shown >= MAX_FINDING_LINES:
            continue
        body.append(TextBlock(text=t(locale, f"severity.{severity.value}"), weight="Bolder", wrap=True,
                              color=_SEVERITY_COLORS[severity], spacing="Small"))
        for finding in group[: MAX_FINDING_LINES - shown]:
            body.append(rich(_finding_runs(finding, locale, time_zone), spacing="Small"))
            evidence = _evidence_runs(finding, locale, time_zone)
            if evidence:
                row = rich(evidence, spacing="None")
                if evidence_ids is not None:
                    row.id = EVIDENCE_ROW_ID.format(len(evidence_ids) + 1)
                    row.is_visible = False
                    evidence_ids.append(row.id)
                body.append(row)
            shown += 1
    if len(findings) > shown:
        body.append(_small(t(locale, "findings.more", count=len(findings) - shown), subtle=True))
    return body


def _not_checked(evidence: Evidence, locale: str | None) -> list[CardElement]:
    seen: dict[str, Unavailable] = {}
    for item in evidence.unavailable:
        seen.setdefault(item.source.value, item)
    if not seen:
        return []
    body: list[CardElement] = [_section(t(locale, "notchecked.title"))]
    for item in seen.values():
        runs = template_runs(locale, "notchecked.line", {
            "source": t(locale, f"source.{item.source.value}"),
            "reason": t(locale, f"unavailable.{item.reason_code.value}"),
        })
        if item.detail:
            runs += [text_run(" ("), text_run(clean(item.detail, VALUE_LIMIT)), text_run(")")]
        body.append(rich(runs, spacing="Small"))
    return body


# ------------------------------------------------------------------------------------------ the steps


def _step_button(step: Step, case_id: str, locale: str | None, verb: Verb | None = None) -> Action | None:
    """The step's button (`verb`: an alternative action on the step's item instead, `alternatives`)."""
    verb = verb or step_verb(step.code)
    if verb is None:
        return None
    item = ITEMS.get(verb)
    if item is not None:
        if not step.target_id or not _ITEM_ID.fullmatch(step.target_id):
            return None
        name = clean(display_value(item.name_key, step.params.get(item.name_key, ""), locale, None),
                     TITLE_VALUE_LIMIT) or "—"
        title = clean(t(locale, f"button.{verb.value}", **{item.name_key: name}), 60)
        return no_inputs(execute(title, verb, case_id=case_id, ids={item.id_key: step.target_id},
                                 style="destructive" if item.step else None))
    style = "positive" if verb == Verb.UNBLOCK else None
    return no_inputs(execute(t(locale, f"button.{step.code}"), verb, case_id=case_id, style=style))


def alternatives(code: str) -> tuple[Verb, ...]:
    """The actions offered on the items of the step `code` besides its own (`ItemKeys.step`: delete_rule on a
    disable_rule step's rule), each a second button on the step's line."""
    return tuple(verb for verb, item in ITEMS.items() if item.step == code)


def step_name(step: Step, locale: str | None) -> str:
    """A step's short name for lists ("Still to do: …", the confirmation, the gate's notice): the action's name,
    with the rule's name for a rule (tenant text: it reaches the card only as a cleaned run)."""
    verb = Verb.parse(step.code)
    item = ITEMS.get(verb) if verb is not None else None
    if item is not None:
        name = display_value(item.name_key, step.params.get(item.name_key, ""), locale, None)
        return t(locale, f"gate.step.{step.code}", **{item.name_key: name or "—"})
    key = f"remediation.action.{step.code}"
    return t(locale, key) if has(key) else t(locale, f"step.{step.code}", **step.params)


def steps_text(steps: Sequence[Step], locale: str | None) -> str:
    """`steps` by name, comma-separated (a notice or line parameter: cleaned when drawn)."""
    return ", ".join(step_name(step, locale) for step in steps)


# Longest "Still to do" list drawn: a step name is short, rule names are capped by `clean()`.
STEPS_TEXT_LIMIT = 600


def no_inputs(action: ExecuteAction) -> ExecuteAction:
    """The button sends only its data: no input of the card travels with it, and none blocks it."""
    action.associated_inputs = "none"
    return action


# Graph refuses password and account writes for users synced from on-premises AD (400, "on-premises mastered"):
# for them these steps are done in AD, and the card says so instead of offering a button that must fail.
_ON_PREMISES_STEPS = frozenset({"force_password_change", "block_sign_in"})


def _step_notes(step: Step, synced: bool, locale: str | None) -> list[str]:
    """Extra words a step needs: where the password must change, why the sign-in block is offered."""
    notes: list[str] = []
    if step.code in _ON_PREMISES_STEPS and synced:
        notes.append(t(locale, f"step.note.on_premises_{step.code}"))
    if step.code == "block_sign_in":
        active = step.params.get("active", "")
        if has(f"step.note.block_{active}"):
            notes.append(t(locale, f"step.note.block_{active}"))
    return notes


def _gate(gate: GateInfo, case_id: str, locale: str | None, notices: Sequence[Notice] = ()) -> Container:
    key = gate.reason_key if has(gate.reason_key) else "gate.generic"
    override = execute(t(locale, "gate.button"), Verb.UNBLOCK, case_id=case_id, ids={"override": "1"},
                       style="destructive")
    items: list[CardElement] = [TextBlock(text=t(locale, key), wrap=True)]
    if gate.missing:
        # Rule names are tenant text: the list is one cleaned run.
        items.append(template_line(locale, "gate.missing", {"steps": steps_text(gate.missing, locale)},
                                   limit=STEPS_TEXT_LIMIT, spacing="Small"))
    # Not `isRequired`: every Action.Execute with inputs would then refuse to send until a reason is typed
    # (the IT note's Send button too). The server refuses an empty reason and says so.
    items += [
        TextInput(id=OVERRIDE_INPUT_ID, label=t(locale, "gate.label"), placeholder=t(locale, "gate.placeholder"),
                  is_multiline=True, max_length=OVERRIDE_MAX_LENGTH),
        *_notices(notices, locale),  # the answer to "Unblock anyway", right above it
        ActionSet(actions=[override]),
    ]
    return Container(style="warning", spacing="Small", items=items)


def _synced(investigation: Investigation) -> bool:
    """The account is mastered on-premises: password and sign-in are changed in AD, not through Graph."""
    return investigation.evidence.user.on_premises_sync_enabled or any(
        s.params.get("on_premises") == "true" for s in investigation.assessment.recommended_steps)


def next_step(assessment: Assessment, step_states: Mapping[str, StepState]) -> Step | None:
    """The step the card's first screen offers: the first open required step (what the unblock gate waits for),
    else the first open step, in the card's order; None when every step drawn is done (or there are none)."""
    shown = _shown_step_keys(assessment)
    open_steps = [s for phase in _PHASE_ORDER for s in assessment.recommended_steps
                  if s.phase == phase and step_key(s.code, s.target_id) in shown
                  and step_key(s.code, s.target_id) not in step_states]
    return next((s for s in open_steps if s.required), open_steps[0] if open_steps else None)


def _steps(investigation: Investigation, *, case_id: str, viewer_can_act: bool, locale: str | None,
           time_zone: str | None, step_states: Mapping[str, StepState], gate: GateInfo | None,
           anchored: Mapping[str, Sequence[Notice]] | None = None, next_key: str | None = None) -> list[CardElement]:
    """Every step by phase, with its buttons. The step `next_key` (drawn with its buttons on the first screen) is
    only named here, pointing up: one button per step, and one "required" label per step the gate waits for."""
    assessment = investigation.assessment
    synced = _synced(investigation)
    body: list[CardElement] = [_section(t(locale, "steps.title"))]
    if not assessment.recommended_steps:
        body.append(_small(t(locale, "steps.none"), subtle=True))
        return body
    for phase in _PHASE_ORDER:
        steps = [s for s in assessment.recommended_steps if s.phase == phase]
        if not steps:
            continue
        body.append(TextBlock(text=t(locale, f"phase.{phase.value}"), weight="Bolder", wrap=True, spacing="Medium"))
        rules = [s for s in steps if s.code == "disable_rule"]
        hidden_rules = {id(s) for s in rules[MAX_RULE_STEPS:]}
        for step in steps:
            if id(step) in hidden_rules:
                continue
            key = step_key(step.code, step.target_id)
            if key == next_key:
                values = _display_params(step.params, locale, time_zone)
                runs = [text_run("☐ "), *template_runs(locale, f"step.{step.code}", values),
                        *template_runs(locale, "steps.next_above", {}, subtle=True)]
                body.append(rich(runs, spacing="Small"))
                continue
            body.extend(_step(step, case_id=case_id, viewer_can_act=viewer_can_act, locale=locale,
                              time_zone=time_zone, done=step_states.get(key), gate=gate, synced=synced,
                              notices=(anchored or {}).get(key, ()), states=step_states))
        if hidden_rules:
            body.append(_small(t(locale, "steps.more_rules", count=len(hidden_rules)), subtle=True))
    body.extend(_done_earlier(assessment.recommended_steps, step_states, locale, time_zone))
    return body


_DONE_ITEM_LIMIT = 160  # a guest's address with its rights: long, and the one way to tell two grants apart


def _done_earlier(steps: Sequence[Step], step_states: Mapping[str, StepState], locale: str | None,
                  time_zone: str | None) -> list[CardElement]:
    """The done steps the latest investigation no longer lists (a removed delegate, method or consent is no longer
    found, so it is no longer a step): still part of the record, with who and when."""
    shown = {step_key(s.code, s.target_id) for s in steps}
    shown |= {step_key(verb.value, s.target_id) for s in steps for verb in alternatives(s.code)}
    unique = {(state.code, state.target_id, state.done_at): state for key, state in step_states.items()
              if key not in shown}  # an alternative's record stands under both steps' keys (`current_steps`)
    earlier = sorted(unique.values(), key=lambda s: s.done_at)
    if not earlier:
        return []
    body: list[CardElement] = [TextBlock(text=t(locale, "steps.done_earlier"), weight="Bolder", wrap=True,
                                         spacing="Medium")]
    for state in earlier:
        key = f"remediation.action.{state.code}"
        runs = [text_run("☑ " + (t(locale, key) if has(key) else state.code))]
        verb = Verb.parse(state.code)
        item = ITEMS.get(verb) if verb is not None else None
        if state.item_name and item is not None:
            name = display_value(item.name_key, state.item_name, locale, time_zone)
            runs.append(text_run(" “" + clean(name, _DONE_ITEM_LIMIT) + "”"))
        runs += template_runs(locale, "step.done", {
            "actor": state.done_by, "time": format_datetime(state.done_at, locale, time_zone)}, subtle=True)
        body.append(rich(runs, spacing="Small"))
    return body


def _step(step: Step, *, case_id: str, viewer_can_act: bool, locale: str | None, time_zone: str | None,
          done: StepState | None, gate: GateInfo | None, synced: bool,
          notices: Sequence[Notice] = (), states: Mapping[str, StepState] | None = None) -> list[CardElement]:
    values = _display_params(step.params, locale, time_zone)
    others = alternatives(step.code)
    # An alternative done on the item (the rule deleted) says so, whether or not the step's own was done first.
    instead = next(((verb, state) for verb in others
                    if (state := (states or {}).get(step_key(verb.value, step.target_id))) is not None), None)
    runs = [text_run("☑ " if done else "☐ "), *template_runs(locale, f"step.{step.code}", values)]
    if instead is not None:
        verb, state = instead
        runs += template_runs(locale, f"step.done.{verb.value}", {
            "actor": state.done_by, "time": format_datetime(state.done_at, locale, time_zone)}, subtle=True)
    elif done is not None:
        runs += template_runs(locale, "step.done", {
            "actor": done.done_by, "time": format_datetime(done.done_at, locale, time_zone)}, subtle=True)
    elif step.required:
        runs += template_runs(locale, "step.required", {}, subtle=True, weight="Bolder")
    body: list[CardElement] = [rich(runs, spacing="Small")]
    if done is None:
        body.extend(_small(note, subtle=True) for note in _step_notes(step, synced, locale))
    actions: list[Action] = []
    gated = viewer_can_act and done is None and step.code == "unblock" and gate is not None
    if not gated:
        body.extend(_notices(notices, locale))  # the answer to this step's button, right above it
    if viewer_can_act and done is None and not (synced and step.code in _ON_PREMISES_STEPS):
        if gate is not None and step.code == "unblock":
            body.append(_gate(gate, case_id, locale, notices))
        else:
            button = _step_button(step, case_id, locale)
            if button is not None:
                actions.append(button)
    if viewer_can_act and instead is None:
        # The alternatives stay on offer after the step's own (a disabled rule may still be deleted).
        actions.extend(button for verb in others if (button := _step_button(step, case_id, locale, verb)) is not None)
    if viewer_can_act and done is not None and step.code == "block_sign_in":
        # The block is the bot's own doing: offer to lift it once the account is secure.
        actions.append(no_inputs(execute(t(locale, "button.allow_sign_in"), Verb.ALLOW_SIGN_IN, case_id=case_id)))
    portal = step_verb(step.code) is None or step.code in PERSON_STEPS
    if portal and step.url.startswith(_PORTAL_LINKS) and done is None:
        # Steps done in a Microsoft portal: link the page that explains how (a fixed Microsoft URL); a step a
        # person acknowledges keeps it next to its "Done, I checked".
        actions.append(open_url(t(locale, "steps.learn_more"), step.url))
    if actions:
        action_set = ActionSet(actions=actions)
        action_set.spacing = "Small"
        body.append(action_set)
    return body


def _notices(notices: Sequence[Notice], locale: str | None) -> list[CardElement]:
    body: list[CardElement] = []
    for notice in notices:
        items: list[CardElement] = [template_line(locale, notice.key, notice.params, weight="Bolder")]
        if notice.support_link:
            items.append(ActionSet(actions=[open_url(t(locale, "notice.support_link"), MICROSOFT_SUPPORT_URL)]))
        body.append(Container(style=notice.tone, items=items, spacing="Medium"))
    return body


def _dismiss_risk(investigation: Investigation, *, case_id: str, viewer_can_act: bool, locale: str | None,
                  step_states: Mapping[str, StepState]) -> list[CardElement]:
    """Identity Protection says "at risk" but the verdict is not compromised: the admin may dismiss the risk."""
    risky = investigation.evidence.risky_user
    if (not viewer_can_act or risky is None or risky.risk_state.lower() != "atrisk"
            or investigation.assessment.verdict == Verdict.compromised
            or step_key("dismiss_risk", None) in step_states):
        return []
    level = display_value("level", risky.risk_level, locale, None)
    action_set = ActionSet(actions=[no_inputs(execute(t(locale, "button.dismiss_risk"), Verb.DISMISS_RISK,
                                                      case_id=case_id))])
    action_set.spacing = "Small"
    return [template_line(locale, "step.dismiss_risk", {"level": level}, spacing="Medium"), action_set]


def _it_note(case_id: str, locale: str | None) -> list[CardElement]:
    """Staff may write to the account's owner; the SEND_NOTE handler relays the text (never tenant text here)."""
    send = execute(t(locale, "itnote.button"), Verb.SEND_NOTE, case_id=case_id)
    return [
        _section(t(locale, "itnote.title")),
        TextInput(id=NOTE_INPUT_ID, label=t(locale, "itnote.label"), placeholder=t(locale, "itnote.placeholder"),
                  is_multiline=True, max_length=NOTE_MAX_LENGTH),
        ActionSet(actions=[send]),
    ]


# -------------------------------------------------------------------------------------- latest actions


def _latest(notes: Sequence[ActionNote], locale: str | None, time_zone: str | None) -> list[CardElement]:
    if not notes:
        return []
    body: list[CardElement] = [_section(t(locale, "latest.title"))]
    for note in sorted(notes, key=lambda n: n.at, reverse=True)[:MAX_ACTION_NOTES]:
        key = note.text_key if has(note.text_key) else "note.generic"
        values = {**note.params, "actor": note.actor, "time": format_datetime(note.at, locale, time_zone)}
        body.append(template_line(locale, key, values, subtle=True, spacing="Small"))
    return body


# ------------------------------------------------------------------------------------------ the card


def _shown_step_keys(assessment: Assessment) -> frozenset[str]:
    """The `step_key`s of the steps the card draws (rules past `MAX_RULE_STEPS` are only counted)."""
    keys: set[str] = set()
    for phase in _PHASE_ORDER:
        rules = 0
        for step in assessment.recommended_steps:
            if step.phase != phase:
                continue
            if step.code == "disable_rule":
                rules += 1
                if rules > MAX_RULE_STEPS:
                    continue
            keys.add(step_key(step.code, step.target_id))
    return frozenset(keys)


def toggle(title: str, element_ids: Sequence[str]) -> ToggleVisibilityAction:
    """A "Show …" button that opens (and closes again) the card's folded elements `element_ids`, in Teams itself
    (no round trip to the bot)."""
    return ToggleVisibilityAction(title=title, target_elements=list(element_ids))


def _finding_count(findings: Sequence[Finding]) -> int:
    """The findings the findings list draws or counts (the header's burst summary is not one of them)."""
    return sum(1 for f in findings if f.code not in _HEADER_CODES)


def _first_step(investigation: Investigation, upcoming: Step | None, *, case_id: str, viewer_can_act: bool,
                locale: str | None, time_zone: str | None, gate: GateInfo | None,
                notices: Sequence[Notice]) -> list[CardElement]:
    """The first screen's step: the next one with its button (and the answer to its last press), or why there
    is none."""
    if not investigation.assessment.recommended_steps:
        return [_section(t(locale, "steps.title")), _small(t(locale, "steps.none"), subtle=True)]
    if upcoming is None:
        return [_section(t(locale, "steps.title")), _small(t(locale, "steps.all_done"), subtle=True)]
    return [_section(t(locale, "steps.next")),
            *_step(upcoming, case_id=case_id, viewer_can_act=viewer_can_act, locale=locale, time_zone=time_zone,
                   done=None, gate=gate, synced=_synced(investigation), notices=notices)]


def _links(evidence: Evidence, locale: str | None) -> list[Action]:
    user_id = evidence.user.id
    links: list[Action] = [open_url(t(locale, "link.defender"), DEFENDER_RESTRICTED_URL)]
    # The id goes into a URL: only a well-formed GUID may, anything else could rewrite the link.
    if _GUID.fullmatch(user_id):
        links.append(open_url(t(locale, "link.entra"), ENTRA_USER_URL.format(user_id)))
    links.append(open_url(t(locale, "help.link.guidance"), GUIDANCE_URL))
    return links


def findings_card(
    investigation: Investigation,
    *,
    case_id: str,
    viewer_can_act: bool,
    locale: str | None,
    time_zone: str | None = None,
    step_states: Mapping[str, StepState] | None = None,
    latest_actions: Sequence[ActionNote] = (),
    gate: GateInfo | None = None,
    notices: Sequence[Notice] = (),
    can_send_note: bool = False,
    restored_at: datetime | None = None,
    previous: PreviousCase | None = None,
) -> JsonDict:
    """The investigation as one Adaptive Card 1.5 (a dict).

    `notices` sit under the header, except those anchored (`Notice.anchor`) to a step on the card, which sit by
    that step's buttons. `restored_at`: sending was restored since (the case's state, newer than the
    investigation), so the header no longer says the account is restricted. `previous`: the account's finished case
    before this one (`cards.history`), a line with a button that opens it.

    `viewer_can_act` shows the remediation buttons (only for steps not in `step_states`, keyed by
    `step_key`; a done `block_sign_in` offers "Allow sign-in" instead); everyone gets Refresh and the links.
    `can_send_note` (IT staff and admins) adds the note to the user and "Export report". Button data carries `verb`
    and `caseId`,
    plus the item id of a per-item action (`cards.verbs.ITEMS`: `ruleId` for disable_rule) and `override` for
    "Unblock anyway"; the server re-reads the case for the rest.
    """
    evidence = investigation.evidence
    assessment = investigation.assessment
    states = step_states or {}
    shown_steps = _shown_step_keys(assessment)
    anchored: dict[str, list[Notice]] = {}
    for notice in notices:
        if notice.anchor in shown_steps:
            anchored.setdefault(notice.anchor, []).append(notice)
    top = [n for n in notices if n.anchor not in shown_steps]
    upcoming = next_step(assessment, states)
    next_key = step_key(upcoming.code, upcoming.target_id) if upcoming is not None else None
    # The folded parts: findings (with their evidence folded once more, and the sources not checked) and the full
    # step list. The step list opens by itself when it holds the answer to a press, so that answer is never hidden.
    evidence_ids: list[str] = []
    findings_part: list[CardElement] = [*_findings(investigation.findings, locale, time_zone, evidence_ids),
                                        *_not_checked(evidence, locale)]
    if evidence_ids:
        findings_part.append(ActionSet(actions=[toggle(t(locale, "toggle.evidence"), evidence_ids)]))
    toggles = [toggle(t(locale, "toggle.findings", count=_finding_count(investigation.findings)), [FINDINGS_PART_ID])]
    steps_part: list[CardElement] = []
    if assessment.recommended_steps:
        steps_part = _steps(investigation, case_id=case_id, viewer_can_act=viewer_can_act, locale=locale,
                            time_zone=time_zone, step_states=states, gate=gate, anchored=anchored, next_key=next_key)
        toggles.append(toggle(t(locale, "toggle.steps", count=len(shown_steps)), [STEPS_PART_ID]))
    toggle_bar = ActionSet(actions=list(toggles))
    toggle_bar.spacing = "Medium"
    body: list[CardElement] = [
        *_header(investigation, locale, time_zone, restored_at),
        *_notices(top, locale),
        # A new case after a restore is a new incident: say there was one before, and open it.
        *previous_case_part(previous, locale, time_zone),
        _badge(assessment, investigation.findings, locale, time_zone),
        *_first_step(investigation, upcoming, case_id=case_id, viewer_can_act=viewer_can_act, locale=locale,
                     time_zone=time_zone, gate=gate, notices=anchored.get(next_key or "", ())),
        *_dismiss_risk(investigation, case_id=case_id, viewer_can_act=viewer_can_act, locale=locale,
                       step_states=states),
        toggle_bar,
        Container(id=FINDINGS_PART_ID, is_visible=False, items=findings_part, spacing="None"),
        *([Container(id=STEPS_PART_ID, is_visible=any(key != next_key for key in anchored),
                     items=steps_part, spacing="None")] if steps_part else []),
        *_latest(latest_actions, locale, time_zone),
        *(_it_note(case_id, locale) if can_send_note else []),
    ]
    actions: list[Action] = [no_inputs(execute(t(locale, "button.refresh"), Verb.REFRESH, case_id=case_id)),
                             *_links(evidence, locale)]
    if can_send_note:
        # IT staff and admins (the note's audience) may export the incident report (teams/files.py re-checks).
        actions.insert(1, no_inputs(execute(t(locale, "incident.button.export"), Verb.EXPORT_REPORT,
                                            case_id=case_id)))
    fallback = t(locale, "findings.fallback", verdict=t(locale, f"verdict.{assessment.verdict.value}"),
                 name=md_escape(_name_of(evidence), 80))
    card = envelope(body, actions, fallback_text=fallback)
    _compact_evidence(card)
    return card


def _compact_evidence(node: Any) -> None:
    """The evidence rows (folded, `isVisible: false`) with their runs joined: they are most of a large card's
    size, and the largest cards came close to Teams' ~28 KB message limit. Everything on the first screen and in
    the findings' own lines keeps its runs apart."""
    if isinstance(node, list):
        for item in node:
            _compact_evidence(item)
    elif isinstance(node, dict):
        if node.get("type") == "RichTextBlock" and node.get("isVisible") is False:
            merge_runs(node)
            return
        for value in node.values():
            if isinstance(value, (dict, list)):
                _compact_evidence(value)



# ------------------------------------------------------------------------------- confirmation and fallback


@dataclass(frozen=True)
class ConfirmItem:
    """The item of a per-item action on its confirmation card: Confirm carries `id_key: item_id`, and the question
    (`confirm.<verb>`) gets `name_key: name` (tenant text: it reaches the card only as a cleaned run)."""

    id_key: str
    item_id: str
    name_key: str
    name: str
    # What the item is, as evidence rows (`("condition", "subjectContains: invoice")`, `("action", "forwardTo")`,
    # `("target", "x@example.net")` …): shown under the question, tenant text cleaned. For an inbox rule its
    # conditions and actions (`investigation.indicators.rule_rows`), with `is_rule` set: a rule with no condition
    # row applies to every message, which the card says.
    rows: tuple[tuple[str, str], ...] = ()
    is_rule: bool = False


def _item_rows(item: ConfirmItem, locale: str | None, time_zone: str | None) -> list[CardElement]:
    """The item's rows on the confirmation card, one line per kind (`Condition: …`, `Action: …`)."""
    if not item.rows and not item.is_rule:
        return []
    groups: dict[str, list[str]] = {}
    for key, value in item.rows:
        shown = clean(display_value(key, value, locale, time_zone), CONFIRM_VALUE_LIMIT)
        if shown and shown not in groups.setdefault(key, []):
            groups[key].append(shown)
    body: list[CardElement] = []
    if item.is_rule and not groups.get("condition"):
        body.append(_small(t(locale, "confirm.rule.every_message")))
    for key, values in groups.items():
        if values:
            extra = len(values) - MAX_CONFIRM_VALUES
            text = ", ".join(values[:MAX_CONFIRM_VALUES]) + (f" +{extra}" if extra > 0 else "")
            body.append(rich([text_run(t(locale, f"evidence.{key}") + ": ", weight="Bolder"), text_run(text)],
                             spacing="Small"))
    return body


def confirmation_card(
    verb: Verb,
    *,
    case_id: str,
    name: str,
    upn: str,
    locale: str | None,
    override_reason: str | None = None,
    lifts_at: datetime | None = None,
    time_zone: str | None = None,
    open_steps: Sequence[Step] = (),
    item: ConfirmItem | None = None,
) -> JsonDict:
    """"Are you sure?" before a destructive action (`confirm.<verb>` explains what happens).

    `open_steps` (Unblock anyway): the required steps still open, listed so the admin sees what the override skips.
    `item`: the one item a per-item action acts on (which method, which app), named in the question.

    Confirm repeats the verb with `confirm: "1"` (and `override: "1"` plus the reason, shown in an input the
    admin may still edit, for "Unblock anyway"); Cancel (`show_case`) redraws the case's card. `lifts_at` (Unblock
    only): the block ends by itself then, and the card warns that unblocking now spends one of Microsoft's limited
    unblocks. `name` and
    `upn` are tenant text: they only reach TextRuns.
    """
    body: list[CardElement] = [
        heading(t(locale, "confirm.title"), size="Medium"),
        template_line(locale, f"confirm.{verb.value}", {
            "name": name or upn, "upn": upn, **({item.name_key: item.name or "—"} if item is not None else {})},
            spacing="Small"),
        *(_item_rows(item, locale, time_zone) if item is not None else []),
    ]
    if verb == Verb.UNBLOCK and lifts_at is not None:
        # The block ends by itself (`investigation.resume`): an unblock now spends one of Microsoft's few for nothing.
        body.append(TextBlock(text=t(locale, "confirm.unblock_lifts_itself",
                                     time=format_datetime(lifts_at, locale, time_zone)),
                              wrap=True, weight="Bolder", spacing="Small"))
    if open_steps:
        body.append(rich(template_runs(locale, "confirm.open_steps", {"steps": steps_text(open_steps, locale)},
                                       limit=STEPS_TEXT_LIMIT, weight="Bolder"),
                         spacing="Small"))
    ids = {"confirm": "1", **({"override": "1"} if override_reason is not None else {}),
           **({item.id_key: item.item_id} if item is not None else {})}
    style = "positive" if verb == Verb.UNBLOCK else "destructive"
    confirm = execute(t(locale, f"confirm.button.{verb.value}"), verb, case_id=case_id, ids=ids, style=style)
    if override_reason is not None:
        # The reason goes back with Confirm through this input (the server re-checks that it is not empty).
        body.append(TextInput(id=OVERRIDE_INPUT_ID, label=t(locale, "confirm.override_label"),
                              value=clean(override_reason, OVERRIDE_MAX_LENGTH), is_multiline=True,
                              max_length=OVERRIDE_MAX_LENGTH))
    else:
        no_inputs(confirm)
    cancel = no_inputs(execute(t(locale, "confirm.cancel"), Verb.SHOW_CASE, case_id=case_id))
    fallback = t(locale, "confirm.title")
    return envelope(body, [confirm, cancel], fallback_text=fallback)


def case_unavailable_card(*, case_id: str, name: str, locale: str | None,
                          notices: Sequence[Notice] = ()) -> JsonDict:
    """A case whose stored investigation cannot be read (old or missing): its name and Refresh."""
    body: list[CardElement] = [
        rich([text_run(clean(name) or "—", weight="Bolder", size="Large")]),
        *_notices(notices, locale),
        _small(t(locale, "case.unavailable")),
    ]
    refresh = no_inputs(execute(t(locale, "button.refresh"), Verb.REFRESH, case_id=case_id))
    return envelope(body, [refresh], fallback_text=t(locale, "case.unavailable"))

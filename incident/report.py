"""The incident report of one case: a frozen record drawn from the store alone, and its JSON form.

`build_report(store, tenant_id, case_id, locale=...)` reads the case, its investigation snapshot
(`investigation.snapshot`, stored on the case by `core.cases`) and the case's rows of the audit log
(`store.audit_log`), and never asks Microsoft 365: the report says what the bot knew and did, which is what goes
into the incident record, the ticket and the insurer's questionnaire.

What it holds: the account; the restriction (since when, Microsoft's reason); the verdict, its reason and the
deciding evidence (`Assessment.deciding`); the findings with their evidence; a timeline (sign-ins, directory
changes such as MFA registrations and role changes, mailbox rule and permission changes, risk detections, Defender
alerts, new apps, the spam burst, the restriction, the investigation, and every audited action with who and when),
sorted by time; and the required steps still open (`remediation.policy.open_required_steps` over the case's current
steps: the same list the unblock gate reads).

A case of another tenant is refused (`ReportRefused`, code `other_tenant`) exactly like an unknown id is
(`not_found`), before anything of the case is read further.

Tenant text (names, rule names, addresses, cities, app names, alert titles) is made inert with `cards.text.clean`:
control, zero-width and bidi-override characters removed, one line, capped. Nothing here interprets markup, and the
PDF writer (`incident.pdf`) writes the strings as plain text. Times in the JSON are UTC ISO 8601 (`…Z`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cards.findings import deciding_text, display_value, step_name
from cards.text import clean
from investigation.collect import Investigation
from investigation.evidence import Evidence
from investigation.indicators import Finding
from locales import has, t
from remediation.policy import open_required_steps
from remediation.views import action_name, current_steps, investigation_of
from store import AuditEntry, CaseRecord, Store

log = logging.getLogger(__name__)

# How long one tenant value may be in the report (a rule name, a city, an alert title).
VALUE_LIMIT = 200
# The audit action of an export (one row per delivered report: who, when, which format).
EXPORT_ACTION = "report_exported"
# The finding whose evidence rows date the spam burst (`investigation.burst`).
BURST_CODE = "burst_summary"


class ReportRefused(Exception):
    """No report for this case: `code` is `not_found` or `other_tenant`; `key` is the message in the catalogs."""

    def __init__(self, code: str, case_id: str) -> None:
        super().__init__(f"{code}: {case_id}")
        self.code = code
        self.case_id = case_id

    @property
    def key(self) -> str:
        """The catalog key of the refusal (`incident.refused.<code>`)."""
        return f"incident.refused.{self.code}"


@dataclass(frozen=True)
class TimelineEvent:
    """One dated entry of the timeline: `kind` (a stable code), `text` (in the report's language, tenant parts
    inert), `actor` (who did it, when known) and `outcome` (for actions: `succeeded`, `failed`, `unknown`,
    `started`)."""

    at: datetime
    kind: str
    text: str
    actor: str = ""
    outcome: str = ""


@dataclass(frozen=True)
class ReportFinding:
    """A finding: its code and severity, the sentence the card shows, and its evidence as (label, value) rows."""

    code: str
    severity: str
    text: str
    evidence: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class OpenStep:
    """A required step not done yet: its code, what it acts on (a rule id) and its name."""

    code: str
    target_id: str | None
    text: str


@dataclass(frozen=True)
class IncidentReport:
    """Everything the report says about one case (see the module docstring)."""

    case_id: str
    tenant_id: str
    locale: str | None
    generated_at: datetime
    status: str
    opened_at: datetime
    resolved_at: datetime | None
    account_id: str
    account_upn: str
    display_name: str
    restricted: bool | None
    restricted_since: datetime | None
    restriction_reason: str
    investigated_at: datetime | None
    verdict: str | None
    verdict_text: str
    reason_text: str
    deciding_rule: str | None
    deciding_codes: tuple[str, ...]
    deciding_text: str
    findings: tuple[ReportFinding, ...]
    not_checked: tuple[str, ...]
    timeline: tuple[TimelineEvent, ...]
    open_steps: tuple[OpenStep, ...]

    @property
    def actions(self) -> tuple[TimelineEvent, ...]:
        """The timeline's audited actions (who did what, when, with what outcome)."""
        return tuple(event for event in self.timeline if event.kind == "action")


def inert(value: object, limit: int = VALUE_LIMIT) -> str:
    """Tenant text as one inert plain line (`cards.text.clean`)."""
    return clean(value, limit)


def iso(when: datetime | None) -> str | None:
    """A time as UTC ISO 8601 with a `Z` (the JSON's one time format), or None."""
    if when is None:
        return None
    aware = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _utc(when: datetime) -> datetime:
    return when.astimezone(UTC) if when.tzinfo is not None else when.replace(tzinfo=UTC)


async def load_case(store: Store, tenant_id: str, case_id: str) -> CaseRecord:
    """The case, when it exists and belongs to `tenant_id`; else `ReportRefused` (`not_found`, `other_tenant`)."""
    case = await store.cases.get_case(case_id) if case_id else None
    if case is None:
        raise ReportRefused("not_found", case_id)
    if not tenant_id or case.tenant_id.lower() != tenant_id.lower():
        log.warning("refused a report of case %s: it belongs to another tenant", case_id)
        raise ReportRefused("other_tenant", case_id)
    return case


async def build_report(store: Store, tenant_id: str, case_id: str, *, locale: str | None,
                       now: datetime | None = None) -> IncidentReport:
    """The report of `case_id`, which must be a case of `tenant_id` (else `ReportRefused`)."""
    case = await load_case(store, tenant_id, case_id)
    entries = await store.audit.list(case_id=case.id)
    return assemble(case, investigation_of(case), entries, locale=locale, now=now or datetime.now(UTC))


def assemble(case: CaseRecord, investigation: Investigation | None, entries: Sequence[AuditEntry], *,
             locale: str | None, now: datetime) -> IncidentReport:
    """The report from what the store holds (pure: the tests build one without a database)."""
    evidence = investigation.evidence if investigation is not None else None
    assessment = investigation.assessment if investigation is not None else None
    restriction = evidence.restriction if evidence is not None else None
    since = restriction.created if restriction is not None else _summary_time(case.summary.get("restricted_since"))
    deciding = assessment.deciding if assessment is not None else None
    deciding_line = ""
    if deciding is not None:
        key, values = deciding_text(deciding, locale)
        deciding_line = t(locale, key, **values)
    verdict = assessment.verdict.value if assessment is not None else case.verdict
    return IncidentReport(
        case_id=case.id,
        tenant_id=case.tenant_id,
        locale=locale,
        generated_at=_utc(now),
        status=case.status,
        opened_at=_utc(case.created_at),
        resolved_at=_utc(case.resolved_at) if case.resolved_at else None,
        account_id=case.account_id,
        account_upn=inert(case.account_upn),
        display_name=inert(case.display_name),
        restricted=evidence.restricted if evidence is not None else case.summary.get("restricted"),
        restricted_since=_utc(since) if since is not None else None,
        restriction_reason=inert(restriction.reason, 400) if restriction is not None else "",
        investigated_at=_utc(investigation.started) if investigation is not None else None,
        verdict=verdict,
        verdict_text=t(locale, f"verdict.{verdict}") if verdict else t(locale, "incident.verdict.none"),
        reason_text=_reason_text(investigation, locale),
        deciding_rule=deciding.rule.value if deciding is not None else None,
        deciding_codes=deciding.codes if deciding is not None else (),
        deciding_text=deciding_line,
        findings=tuple(_finding(f, locale) for f in investigation.findings) if investigation else (),
        not_checked=tuple(t(locale, f"source.{item.source.value}") for item in evidence.unavailable)
        if evidence is not None else (),
        timeline=timeline(case, investigation, entries, locale),
        open_steps=_open_steps(case, investigation, locale),
    )


def _summary_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _values(params: Mapping[str, str], locale: str | None) -> dict[str, str]:
    # Times are shown in UTC: a report is read later, by people in other zones, next to other UTC records.
    return {name: inert(display_value(name, value, locale, "UTC")) for name, value in params.items()}


def _reason_text(investigation: Investigation | None, locale: str | None) -> str:
    if investigation is None:
        return ""
    assessment = investigation.assessment
    params = dict(assessment.reason_params)
    if "codes" in params:
        params["codes"] = ", ".join(_label(code, locale) for code in params["codes"].split(", ") if code)
    if "sources" in params:
        params["sources"] = ", ".join(t(locale, f"source.{s}") if has(f"source.{s}") else s
                                      for s in params["sources"].split(", ") if s)
    return t(locale, f"reason.{assessment.reason_code}", **{k: inert(v, 400) for k, v in params.items()})


def _label(code: str, locale: str | None) -> str:
    key = f"label.{code}"
    return t(locale, key) if has(key) else code


def _finding(finding: Finding, locale: str | None) -> ReportFinding:
    text = t(locale, f"finding.{finding.code}", **_values(finding.params, locale))
    rows = tuple((t(locale, f"evidence.{key}") if has(f"evidence.{key}") else inert(key, 60),
                  inert(display_value(key, value, locale, "UTC")))
                 for key, value in finding.evidence if value)
    return ReportFinding(finding.code, finding.severity.value, text, rows)


def _open_steps(case: CaseRecord, investigation: Investigation | None, locale: str | None) -> tuple[OpenStep, ...]:
    if investigation is None:
        return ()
    steps = open_required_steps(investigation.assessment.recommended_steps, current_steps(case).keys())
    out: list[OpenStep] = []
    for step in steps:
        # The name holds the rule's name (tenant text): cleaned as a whole, like the card's "Still to do".
        out.append(OpenStep(step.code, step.target_id, inert(step_name(step, locale), 400)))
    return tuple(out)


# ------------------------------------------------------------------------------------------------ timeline


def timeline(case: CaseRecord, investigation: Investigation | None, entries: Sequence[AuditEntry],
             locale: str | None) -> tuple[TimelineEvent, ...]:
    """Every dated event the store knows about the case, oldest first (ties keep the order they are listed in)."""
    events: list[TimelineEvent] = [TimelineEvent(_utc(case.created_at), "case_opened",
                                                 t(locale, "incident.event.case_opened"),
                                                 actor=inert(case.opened_by_name or ""))]
    if investigation is not None:
        events += _evidence_events(investigation.evidence, locale)
        events += _burst_events(investigation.findings, locale)
        events.append(TimelineEvent(_utc(investigation.started), "investigated",
                                    t(locale, "incident.event.investigated",
                                      verdict=t(locale, f"verdict.{investigation.assessment.verdict.value}"))))
    events += _audit_events(entries, locale)
    if case.status == "resolved" and case.resolved_at is not None:
        events.append(TimelineEvent(_utc(case.resolved_at), "resolved", t(locale, "incident.event.resolved")))
    indexed = sorted(enumerate(events), key=lambda item: (item[1].at, item[0]))
    return tuple(event for _, event in indexed)


def _place(*parts: str) -> str:
    return ", ".join(inert(p, 80) for p in parts if p and p.strip()) or "—"


def _evidence_events(evidence: Evidence, locale: str | None) -> Iterable[TimelineEvent]:
    restriction = evidence.restriction
    if restriction is not None and restriction.created is not None:
        yield TimelineEvent(_utc(restriction.created), "restriction",
                            t(locale, "incident.event.restriction", reason=inert(restriction.reason, 300) or "—"))
    for sign_in in evidence.sign_ins or ():
        if sign_in.created is None:
            continue
        key = "incident.event.sign_in" if sign_in.succeeded else "incident.event.sign_in_failed"
        yield TimelineEvent(_utc(sign_in.created), "sign_in",
                            t(locale, key, ip=inert(sign_in.ip_address, 60) or "—",
                              place=_place(sign_in.city, sign_in.country),
                              app=inert(sign_in.app_display_name or sign_in.client_app_used, 80) or "—",
                              code=str(sign_in.error_code)),
                            outcome="succeeded" if sign_in.succeeded else "failed")
    for method in evidence.auth_methods or ():
        if method.created is None or not evidence.in_window(method.created):
            continue
        yield TimelineEvent(_utc(method.created), "mfa_registered",
                            t(locale, "incident.event.mfa_registered",
                              method=inert(method.display_name or method.kind, 80)))
    for audit in (*(evidence.directory_audits or ()), *(evidence.app_changes or ())):
        if audit.activity_time is None:
            continue
        yield TimelineEvent(_utc(audit.activity_time), "directory_change",
                            t(locale, "incident.event.directory_change", activity=inert(audit.activity, 120),
                              targets=_place(*audit.target_names)),
                            actor=inert(audit.initiated_by_upn or audit.initiated_by_app, 120),
                            outcome=inert(audit.result, 40))
    for change in evidence.mailbox_audit or ():
        if change.time is None:
            continue
        yield TimelineEvent(_utc(change.time), "mailbox_change",
                            t(locale, "incident.event.mailbox_change", operation=inert(change.operation, 80),
                              target=inert(change.object_name or change.target, 120) or "—"),
                            actor=inert(change.actor, 120), outcome=inert(change.result, 40))
    for detection in evidence.risk_detections or ():
        if detection.detected is None:
            continue
        yield TimelineEvent(_utc(detection.detected), "risk_detection",
                            t(locale, "incident.event.risk_detection", type=inert(detection.risk_event_type, 80),
                              level=inert(detection.risk_level, 20), ip=inert(detection.ip_address, 60) or "—"))
    for alert in evidence.alerts or ():
        if alert.created is None:
            continue
        yield TimelineEvent(_utc(alert.created), "alert",
                            t(locale, "incident.event.alert", title=inert(alert.title, 160),
                              severity=inert(alert.severity, 20)))


def _burst_events(findings: Sequence[Finding], locale: str | None) -> Iterable[TimelineEvent]:
    """The spam burst's first and last message, from the `burst_summary` finding (the trace's rows are not kept)."""
    for finding in findings:
        if finding.code != BURST_CODE:
            continue
        rows = dict(finding.evidence)
        first, last = _summary_time(rows.get("first_seen")), _summary_time(rows.get("last_seen"))
        params = {"messages": inert(finding.params.get("messages", "?"), 20),
                  "recipients": inert(finding.params.get("recipients", "?"), 20)}
        if first is not None:
            yield TimelineEvent(_utc(first), "spam_burst", t(locale, "incident.event.burst_first", **params))
        if last is not None and last != first:
            yield TimelineEvent(_utc(last), "spam_burst", t(locale, "incident.event.burst_last", **params))


def _actor(entry: AuditEntry) -> str:
    return inert(entry.actor_name or entry.actor_upn or entry.actor_id or "—", 120)


def _audit_events(entries: Sequence[AuditEntry], locale: str | None) -> Iterable[TimelineEvent]:
    """Every audited action on the case: its outcome row, or its `started` row when no outcome was written (the
    process died mid-action and the reconciler has not judged it yet)."""
    finished = {e.correlation_id for e in entries if e.outcome != "started"}
    for entry in entries:
        if entry.outcome == "started" and entry.correlation_id in finished:
            continue
        name = _action_label(entry.action, locale)
        rule = entry.parameters.get("rule")
        target = inert(rule, 120) if isinstance(rule, str) and rule else ""
        key = f"incident.outcome.{entry.outcome}"
        outcome_text = t(locale, key) if has(key) else inert(entry.outcome, 20)
        text = t(locale, "incident.event.action", action=name, outcome=outcome_text)
        if target:
            text = f"{text} ({target})"
        yield TimelineEvent(_utc(entry.at), "action", text, actor=_actor(entry), outcome=entry.outcome)


def _action_label(action: str, locale: str | None) -> str:
    own = f"incident.audit.{action}"
    if has(own):
        return t(locale, own)
    label = action_name(action, locale)
    return label if label != f"remediation.action.{action}" else inert(action, 60)


# ---------------------------------------------------------------------------------------------------- JSON


def report_json(report: IncidentReport) -> dict[str, Any]:
    """The report as JSON-compatible data (UTC ISO 8601 times; tenant text already inert)."""
    return {
        "case": {"id": report.case_id, "tenantId": report.tenant_id, "status": report.status,
                 "openedAt": iso(report.opened_at), "resolvedAt": iso(report.resolved_at)},
        "generatedAt": iso(report.generated_at),
        "language": report.locale or "en",
        "account": {"id": report.account_id, "userPrincipalName": report.account_upn,
                    "displayName": report.display_name},
        "restriction": {"restricted": report.restricted, "since": iso(report.restricted_since),
                        "reason": report.restriction_reason},
        "verdict": {"verdict": report.verdict, "text": report.verdict_text, "reason": report.reason_text,
                    "investigatedAt": iso(report.investigated_at),
                    "deciding": ({"rule": report.deciding_rule, "codes": list(report.deciding_codes),
                                  "text": report.deciding_text} if report.deciding_rule else None)},
        "findings": [{"code": f.code, "severity": f.severity, "text": f.text,
                      "evidence": [{"label": label, "value": value} for label, value in f.evidence]}
                     for f in report.findings],
        "notChecked": list(report.not_checked),
        "timeline": [{"at": iso(e.at), "kind": e.kind, "text": e.text, "actor": e.actor or None,
                      "outcome": e.outcome or None} for e in report.timeline],
        "openSteps": [{"code": s.code, "targetId": s.target_id, "text": s.text} for s in report.open_steps],
    }

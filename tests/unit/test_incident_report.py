"""The incident report (issue 17, item 8): JSON and PDF from the store alone, a sorted timeline with every action and
who did it, the required steps still open, inert tenant text, and no report of another tenant's case."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from pypdf import PdfReader

from core.cases import case_summary
from incident.pdf import printable, render_pdf
from incident.report import ReportRefused, build_report, report_json
from investigation.collect import Investigation
from store import Actor, CaseRecord, Store
from tests.unit.test_cards_findings import investigate
from tests.unit.test_verdict import MEGAN, megan

TENANT = "8f2d8a5c-4d6e-4f1b-9c7a-2b3c4d5e6f70"
OTHER_TENANT = "11111111-2222-3333-4444-555555555555"
ADMIN = Actor(id="admin-1", name="Alex Wilber", upn="AlexW@example.com")
# A rule name an attacker chose: markup, a terminal escape, a bidi override, a zero-width space, a newline.
HOSTILE_RULE = "**urgent** <b>x</b>\x1b[31m [click](https://evil.example)\u202egnp.exe\u200b\nsecond"
NOW = datetime(2024, 10, 23, 8, 0, tzinfo=UTC)


def megan_investigation(rule_name: str = ".") -> Investigation:
    story = megan()
    story["rules"][0]["displayName"] = rule_name
    return investigate(story)


async def megan_case(store: Store, investigation: Investigation, *, tenant: str = TENANT) -> CaseRecord:
    """Megan's case as the bot leaves it: opened by the admin, the investigation stored, two actions audited."""
    opened = await store.cases.open_or_get_case(tenant, MEGAN, "MeganB@example.com", "Megan Bowen", ADMIN)
    case = await store.cases.update_case(opened.case.id, opened.case.version, verdict="compromised",
                                         summary=case_summary(investigation))
    assert case is not None
    for action in ("force_password_change", "revoke_sessions"):
        correlation = await store.audit.start(actor=ADMIN, action=action, target="MeganB@example.com",
                                              tenant_id=tenant, case_id=case.id)
        await store.audit.finish(correlation, "succeeded")
        await store.cases.record_step(case.id, f"{action}:", ADMIN)
    # A failed attempt stays in the record, with who tried.
    correlation = await store.audit.start(actor=ADMIN, action="disable_rule", target="MeganB@example.com",
                                          tenant_id=tenant, case_id=case.id, parameters={"rule": ".", "ruleId": "r"})
    await store.audit.finish(correlation, "failed", "403")
    fresh = await store.cases.get_case(case.id)
    assert fresh is not None
    return fresh


async def test_the_json_has_account_restriction_verdict_findings_and_open_steps(sqlite_store: Store) -> None:
    case = await megan_case(sqlite_store, megan_investigation())
    report = report_json(await build_report(sqlite_store, TENANT, case.id, locale="en", now=NOW))
    json.dumps(report)  # JSON-compatible all the way down
    assert report["account"] == {"id": MEGAN, "userPrincipalName": "MeganB@example.com",
                                 "displayName": "Megan Bowen"}
    assert report["restriction"]["restricted"] is True
    assert report["restriction"]["since"] == "2024-10-22T04:34:00Z"
    assert "OutboundSpamPercent=96" in report["restriction"]["reason"]
    verdict = report["verdict"]
    assert verdict["verdict"] == "compromised" and verdict["text"] == "Compromised"
    assert verdict["deciding"]["rule"] == "families" and verdict["deciding"]["codes"]
    assert verdict["deciding"]["text"].startswith("Decided by")
    codes = {f["code"] for f in report["findings"]}
    assert {"rule_forwards_external", "sign_in_new_country", "user_risk_high"} <= codes
    forwarding = next(f for f in report["findings"] if f["code"] == "rule_forwards_external")
    assert "mb.archive2024@proton-drop.example.net" in forwarding["text"]
    # The password change and the sign-out were done; the rule (its attempt failed) and the MFA review are open.
    open_codes = [s["code"] for s in report["openSteps"]]
    assert "force_password_change" not in open_codes and "revoke_sessions" not in open_codes
    assert "disable_rule" in open_codes and "review_mfa_methods" in open_codes
    rule_step = next(s for s in report["openSteps"] if s["code"] == "disable_rule")
    assert rule_step["targetId"] == "AQAAAJ5dZqA="


async def test_the_timeline_is_sorted_and_holds_every_kind_of_event_and_every_action(sqlite_store: Store) -> None:
    case = await megan_case(sqlite_store, megan_investigation())
    timeline = report_json(await build_report(sqlite_store, TENANT, case.id, locale="en", now=NOW))["timeline"]
    times = [event["at"] for event in timeline]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", at) for at in times)
    assert times == sorted(times)
    kinds = {event["kind"] for event in timeline}
    assert {"sign_in", "directory_change", "risk_detection", "alert", "restriction",
            "investigated", "case_opened", "action"} <= kinds
    attacker = [e for e in timeline if e["kind"] == "sign_in" and "102.89.34.10" in e["text"]]
    assert [e["at"] for e in attacker] == ["2024-10-21T00:00:00Z", "2024-10-21T01:00:00Z"]  # 36 h, 35 h before
    registered = next(e for e in timeline if e["kind"] == "directory_change")
    assert "User registered security info" in registered["text"] and registered["actor"] == "MeganB@example.com"
    actions = [e for e in timeline if e["kind"] == "action"]
    assert [(a["text"], a["actor"], a["outcome"]) for a in actions] == [
        ("Require a new password: done", "Alex Wilber", "succeeded"),
        ("Sign out everywhere: done", "Alex Wilber", "succeeded"),
        ("Disable inbox rule: failed (.)", "Alex Wilber", "failed"),
    ]
    # The restriction precedes the investigation, which precedes the actions (audited after it).
    order = [e["kind"] for e in timeline]
    assert order.index("restriction") < order.index("investigated") < order.index("action")


async def test_an_interrupted_action_shows_as_started_without_outcome(sqlite_store: Store) -> None:
    case = await megan_case(sqlite_store, megan_investigation())
    await sqlite_store.audit.start(actor=ADMIN, action="block_sign_in", target="MeganB@example.com",
                                   tenant_id=TENANT, case_id=case.id)
    actions = (await build_report(sqlite_store, TENANT, case.id, locale="en", now=NOW)).actions
    assert actions[-1].outcome == "started"
    assert actions[-1].text.endswith("started, no outcome recorded")
    # A finished action is listed once (its outcome row), not twice.
    assert sum(1 for a in actions if a.text.startswith("Sign out everywhere")) == 1


async def test_tenant_text_is_inert_in_json_and_pdf(sqlite_store: Store) -> None:
    case = await megan_case(sqlite_store, megan_investigation(HOSTILE_RULE))
    report = await build_report(sqlite_store, TENANT, case.id, locale="en", now=NOW)
    data = json.dumps(report_json(report), ensure_ascii=False)
    for fragment in ("\x1b", "\u202e", "\u200b", "\\n"):
        assert fragment not in data
    rule_text = next(f.text for f in report.findings if f.code == "rule_forwards_external")
    # The markup is kept as the characters it is (nothing renders it), on one line.
    assert "**urgent** <b>x</b>" in rule_text and "\n" not in rule_text
    text = pdf_text(render_pdf(report))
    assert "**urgent** <b>x</b>" in text  # printed literally: fpdf2's markdown/HTML never enabled
    assert "\x1b" not in text and "\u202e" not in text


async def test_another_tenants_case_is_refused_and_an_unknown_id_too(sqlite_store: Store) -> None:
    case = await megan_case(sqlite_store, megan_investigation(), tenant=OTHER_TENANT)
    with pytest.raises(ReportRefused) as refused:
        await build_report(sqlite_store, TENANT, case.id, locale="en")
    assert refused.value.code == "other_tenant"
    with pytest.raises(ReportRefused) as unknown:
        await build_report(sqlite_store, TENANT, "no-such-case", locale="en")
    assert unknown.value.code == "not_found"


def pdf_text(data: bytes) -> str:
    """The text of every page, as pypdf extracts it (whitespace collapsed: lines wrap)."""
    assert data.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(data))
    return " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages)


async def test_the_pdf_has_the_timeline_the_actions_and_the_open_steps(sqlite_store: Store) -> None:
    case = await megan_case(sqlite_store, megan_investigation())
    report = await build_report(sqlite_store, TENANT, case.id, locale="en", now=NOW)
    text = pdf_text(render_pdf(report))
    for heading in ("Incident report: Megan Bowen", "Timeline", "Findings", "Still open", "Verdict"):
        assert heading in text
    assert "Compromised" in text
    assert "Sign-in from 102.89.34.10" in text
    assert "Microsoft 365 restricted the account from sending" in text
    for action in report.actions:
        assert action.text in text
    assert "Require a new password: done — by Alex Wilber" in text
    for step in report.open_steps:
        assert step.text in text


async def test_the_pdf_speaks_dutch_for_a_dutch_report(sqlite_store: Store) -> None:
    case = await megan_case(sqlite_store, megan_investigation())
    report = await build_report(sqlite_store, TENANT, case.id, locale="nl-NL", now=NOW)
    text = pdf_text(render_pdf(report))
    assert "Incidentrapport: Megan Bowen" in text and "Tijdlijn" in text and "Nog open" in text
    assert "Aanmelding vanaf 102.89.34.10" in text
    assert "Timeline" not in text


async def test_the_same_report_gives_the_same_pdf(sqlite_store: Store) -> None:
    case = await megan_case(sqlite_store, megan_investigation())
    first = render_pdf(await build_report(sqlite_store, TENANT, case.id, locale="en", now=NOW))
    second = render_pdf(await build_report(sqlite_store, TENANT, case.id, locale="en", now=NOW))
    assert first == second


@pytest.mark.parametrize(("text", "printed"), [
    ("Zoë Meijer – “quoted” … €5", "Zoë Meijer – “quoted” … €5"),  # Windows-1252 as is
    ("Dvořák", "Dvorák"),  # an accent dropped where that is enough (á is Windows-1252)
    ("Łukasz Иван", "[U+0141]ukasz [U+0418][U+0432][U+0430][U+043D]"),  # anything else as its code point
])
def test_printable_keeps_what_the_core_font_can_print_and_names_the_rest(text: str, printed: str) -> None:
    assert printable(text) == printed


def test_a_case_without_a_readable_snapshot_still_reports_what_the_store_has() -> None:
    from incident.report import assemble

    case = CaseRecord(id="c1", tenant_id=TENANT, account_id=MEGAN, account_upn="MeganB@example.com",
                      display_name="Megan\u202e Bowen", status="open", verdict="suspicious",
                      summary={"restricted": True, "restricted_since": "2024-10-22T04:34:00+00:00"}, steps={},
                      opened_by_id=None, opened_by_name=None, created_at=NOW, updated_at=NOW, resolved_at=None,
                      version=1)
    report: dict[str, Any] = report_json(assemble(case, None, (), locale="en", now=NOW))
    assert report["account"]["displayName"] == "Megan Bowen"
    assert report["restriction"] == {"restricted": True, "since": "2024-10-22T04:34:00Z", "reason": ""}
    assert report["verdict"]["verdict"] == "suspicious" and report["openSteps"] == []
    assert [e["kind"] for e in report["timeline"]] == ["case_opened"]

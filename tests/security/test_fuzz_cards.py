"""Hostile tenant strings through every card builder in `cards/`.

Display names, UPNs, departments, rule names, forwarding addresses, cities, alert titles, Microsoft's raw
restriction reason and the names of who did what can all be written by an attacker. Each builder gets them
with a marker in front (`ZQXMARK`) and Markdown, HTML, mentions, links, zero-width and right-to-left
characters, format-string syntax, or 100,000 characters after it. Whatever the input:

* no exception, and the card is valid against the official Adaptive Card schema and fits a Teams message;
* the marker never reaches a `TextBlock`, a `FactSet`, an input's label or placeholder (Markdown renders
  there): tenant text lives only in `TextRun`s, as cleaned plain lines, in cleaned button titles, in input
  values, or Markdown-escaped in `fallbackText`;
* no link or formatting from tenant text survives where Markdown renders;
* every URL on a card is one of ours (no `Action.OpenUrl` to a tenant-derived address) and button data holds
  the verb and ids only, never tenant text.

`test_every_card_builder_is_fuzzed` fails when a new `*_card` function appears in `cards/` without an entry in
`BUILDERS`: a card that is not fuzzed here is not known to be safe.
"""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import re
import unicodedata
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cards
from cards import alerts, diagnose, findings, help, progress, report, triage
from cards.findings import ActionNote, GateInfo, Notice, StepState, placeholders, step_key, template_of
from cards.text import clean
from cards.verbs import Verb
from core import preflight
from domain.people import Role
from investigation.collect import Investigation
from investigation.evidence import SourceName, Unavailable, UnavailableReason
from investigation.indicators import run_indicators
from investigation.reason import parse_reason
from investigation.verdict import STEP_CODES, Step, StepPhase, assess
from locales import CATALOGS
from tests.cardschema import assert_valid_card
from tests.unit.test_verdict import MEGAN, NOW, adele, evidence_from, megan, patti, quiet

Json = dict[str, Any]
DrawFn = Callable[[st.SearchStrategy[Any]], Any]

MARK = "ZQXMARK"
TEAMS_MESSAGE_LIMIT = 28_000
CARD_FUZZ = settings(max_examples=20, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

ATTACKS = (
    "[click here](https://evil.example/login)", "![x](https://evil.example/p.png)", "<https://evil.example>",
    "https://evil.example/reset", "www.evil.example", "evil.example", "**URGENT**", "__bold__", "*it*", "~~s~~",
    "`code`", "```\nblock\n```", "# Heading", "> quote", "- item\n- item", "1. item", "| a | b |\n|---|---|",
    "<script>alert(1)</script>", "<b>bold</b>", "<at>Alex Wilber</at>", "&lt;b&gt;", "&#x202e;",
    "{{DATE(2024-01-01T00:00:00Z, SHORT)}}", "${$root.secret}", "{name}", "{0}", "%s%n", "\\", "\r\n\r\n",
    "\u202egnp.exe", "\u2066\u2067\u2068\u2069", "\u200b\u200c\u200d\ufeff", "\u200e\u200f\u061c", "\x00\x1b[31m\x7f",
    "\u0085\u2028\u2029", "Z\u0351\u0358\u0360A\u0340\u0341L\u0342G\u0343O", "\ud7ff\ue000\U0010fffd",
)
# Markdown that would still be active if tenant text reached a Markdown field unescaped.
ACTIVE_FRAGMENTS = ("](", "![", "<https", "https://evil", "www.evil", "evil.example", "**URGENT", "__bold",
                    "~~s", "`", "<script", "<b>", "<at>", "{{DATE", "${$root")
# The only addresses our cards link to.
OUR_URLS = ("https://learn.microsoft.com/", "https://security.microsoft.com/", "https://entra.microsoft.com/",
            "https://admin.microsoft.com/")

hostile_chars = st.one_of(st.characters(codec="utf-8"), st.sampled_from(list("[]()*_`#<>|~\\!:.-\u200b\u202e")))
attack_mix = st.lists(st.sampled_from(ATTACKS), min_size=1, max_size=4).map("".join)
huge = st.sampled_from(ATTACKS).map(lambda a: (a * (100_000 // len(a) + 1))[:100_000])
hostile = st.one_of(attack_mix, st.text(hostile_chars, max_size=200), huge,
                    st.tuples(attack_mix, st.text(hostile_chars, max_size=50)).map("".join)).map(lambda s: MARK + s)
locales = st.sampled_from(["en-US", "nl-NL", "en", "nl", "de-DE", None, "", "xx-\u202e"])
time_zones = st.one_of(st.none(), st.sampled_from(["Europe/Amsterdam", "America/New_York", "UTC"]),
                       st.text(hostile_chars, max_size=40))
moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                       timezones=st.just(UTC))


# ----------------------------------------------------------------------------------------- invariants


def elements(node: Any) -> Iterator[dict[str, Any]]:
    """Every typed element, inline and action of a card, depth first."""
    if isinstance(node, dict):
        if "type" in node:
            yield node
        for value in node.values():
            yield from elements(value)
    elif isinstance(node, list):
        for item in node:
            yield from elements(item)


def urls(node: Any) -> Iterator[str]:
    """Every value of a `url`-like key anywhere in the card."""
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str) and key.lower().endswith("url"):
                yield value
            else:
                yield from urls(value)
    elif isinstance(node, list):
        for item in node:
            yield from urls(item)


def plain_line(text: str) -> bool:
    """What `cards.text.clean()` makes: no control, format (zero-width, bidi) or line-break characters."""
    return all(unicodedata.category(ch)[0] != "C" for ch in text) and "\u2028" not in text


def markdown_inert(text: str) -> bool:
    """No Markdown, HTML or link syntax left active: backslash-escaped characters are literal, so they are set
    aside before looking for what would still render (`\\<https\\://evil\\.example\\>` is inert)."""
    active = re.sub(r"\\.", "\ue000", text)
    return not any(fragment in active for fragment in ACTIVE_FRAGMENTS) and plain_line(text.replace("\n", " "))


def assert_inert(card: Json) -> bool:
    """The invariants of the module docstring; True when tenant text (the marker) is shown somewhere."""
    assert_valid_card(card)
    assert len(json.dumps(card)) < TEAMS_MESSAGE_LIMIT
    saw_mark = False
    for element in elements(card):
        kind = element["type"]
        if kind == "TextBlock":
            assert MARK not in element["text"], element["text"][:200]
        elif kind == "FactSet":
            for fact in element["facts"]:
                assert MARK not in fact["title"] + fact["value"]
        elif kind.startswith("Input."):
            for key in ("label", "placeholder", "errorMessage"):
                assert MARK not in str(element.get(key, ""))
            value = element.get("value")
            if isinstance(value, str) and MARK in value:
                saw_mark = True
                assert plain_line(value) and len(value) <= 1000
        elif kind == "TextRun" and MARK in element["text"]:
            saw_mark = True
            assert plain_line(element["text"]) and len(element["text"]) <= 400, element["text"][:200]
        elif kind.startswith("Action."):
            title = element.get("title", "")
            assert title == clean(title, 200), title[:200]
            saw_mark = saw_mark or MARK in title
            if kind == "Action.Execute":
                data = element.get("data") or {}
                assert all(isinstance(v, str) and MARK not in v and len(v) <= 300 for v in data.values()), data
                assert all(key.isalpha() for key in data), data
            if kind == "Action.OpenUrl":
                assert element["url"].startswith(OUR_URLS), element["url"][:200]
        if "selectAction" in element:
            assert element["selectAction"].get("type") != "Action.OpenUrl" or element["selectAction"][
                "url"].startswith(OUR_URLS)
    for url in urls(card):
        assert MARK not in url and (url.startswith(OUR_URLS) or url.startswith("http://adaptivecards.io/")), url
    fallback = card.get("fallbackText", "")
    assert markdown_inert(fallback), fallback[:200]
    assert "msteams" not in card  # no mention entities: a tenant name can never become an @mention
    return saw_mark or MARK in fallback


# --------------------------------------------------------------------------------- hostile investigations

# Keys of Graph and Exchange bodies whose values are free text someone in the tenant (or an attacker with the
# account) can write, and which the cards may show.
TEXT_KEYS = frozenset({
    "displayName", "department", "jobTitle", "city", "state", "name", "title", "description", "Reason",
    "activityDisplayName", "appDisplayName", "riskEventType", "riskDetail", "clientAppUsed", "phoneNumber",
    "deviceDisplayName", "userPrincipalName", "ForwardingSmtpAddress", "ForwardingAddress", "moveToFolder",
    "category", "resultReason", "operationType",
})
ADDRESS_KEYS = frozenset({"address", "mail", "SenderAddress", "PrimarySmtpAddress"})


def taint(node: Any, draw: DrawFn) -> Any:
    """A copy of a story's JSON with every free-text value hostile and every address hostile in its local part."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if isinstance(value, str) and key in TEXT_KEYS:
                out[key] = draw(hostile)
            elif isinstance(value, str) and key in ADDRESS_KEYS and "@" in value:
                out[key] = draw(hostile)[:200] + "@" + value.split("@", 1)[1]
            elif isinstance(value, list) and key in ("bodyOrSubjectContains", "subjectContains"):
                out[key] = [draw(hostile) for _ in value]
            else:
                out[key] = taint(value, draw)
        return out
    if isinstance(node, list):
        return [taint(item, draw) for item in node]
    return node


def hostile_investigation(draw: DrawFn) -> Investigation:
    story = taint(draw(st.sampled_from([megan(), megan(admin=True), patti(), adele(), quiet()])), draw)
    story["user"]["id"] = draw(st.one_of(st.just(MEGAN), hostile))
    unavailable = draw(st.lists(st.builds(Unavailable, st.sampled_from(list(SourceName)),
                                          st.sampled_from(list(UnavailableReason)), st.one_of(st.just(""), hostile)),
                                max_size=3))
    evidence = evidence_from(story, unavailable=unavailable)
    found = run_indicators(evidence)
    reason = parse_reason(evidence.restriction.reason) if evidence.restriction else None
    return Investigation(evidence, found, assess(evidence, found), reason)


NOTICE_KEYS = sorted(k for k in CATALOGS["en"] if k.startswith("notice.") and k != "notice.support_link")


def notices(draw: DrawFn) -> list[Notice]:
    out = []
    for key in draw(st.lists(st.sampled_from(NOTICE_KEYS), max_size=3)):
        params = {name: draw(hostile) for name in placeholders(template_of("en", key))}
        out.append(Notice(key, params, tone=draw(st.sampled_from(["good", "warning", "attention", "accent"])),
                          support_link=draw(st.booleans())))
    return out


# ------------------------------------------------------------------------------------------- builders


def _findings(draw: DrawFn) -> Json:
    investigation = hostile_investigation(draw)
    steps = investigation.assessment.recommended_steps
    done = draw(st.lists(st.sampled_from(steps), max_size=3, unique_by=id)) if steps else []
    states = {step_key(s.code, s.target_id): StepState(s.code, s.target_id, draw(hostile), NOW) for s in done}
    note_keys = sorted(k for k in CATALOGS["en"] if k.startswith("note."))
    notes = [ActionNote(draw(st.sampled_from(note_keys)), draw(hostile), draw(moments),
                        {"rule": draw(hostile)}) for _ in range(draw(st.integers(0, 7)))]
    gate = draw(st.one_of(st.none(), st.builds(GateInfo, st.sampled_from(
        sorted(k for k in CATALOGS["en"] if k.startswith("gate."))),
        # The gate's open steps carry tenant text too (a rule's name in "Still to do").
        st.lists(st.builds(lambda code, rule: Step(code, StepPhase.secure, {"rule": rule}, target_id="r",
                                                   required=True), st.sampled_from(sorted(STEP_CODES)), hostile),
                 max_size=3).map(tuple))))
    return findings.findings_card(
        investigation, case_id=draw(st.uuids()).hex, viewer_can_act=draw(st.booleans()), locale=draw(locales),
        time_zone=draw(time_zones), step_states=states, latest_actions=notes, gate=gate, notices=notices(draw),
        can_send_note=draw(st.booleans()))


CONFIRMED_VERBS = [v for v in Verb if f"confirm.{v.value}" in CATALOGS["en"]]


def _confirmation(draw: DrawFn) -> Json:
    return findings.confirmation_card(
        draw(st.sampled_from(CONFIRMED_VERBS)), case_id="case-1", name=draw(st.one_of(st.just(""), hostile)),
        upn=draw(hostile), locale=draw(locales), override_reason=draw(st.one_of(st.none(), hostile)))


REASON_CODES = sorted(k.removeprefix("reason.") for k in CATALOGS["en"] if k.startswith("reason."))
TRIAGE_NOTES = sorted(k for k in CATALOGS["en"] if k.startswith("triage.reason."))


def _triage_row(draw: DrawFn) -> triage.TriageRow:
    code = draw(st.one_of(st.none(), st.sampled_from(REASON_CODES)))
    params = {name: draw(hostile) for name in placeholders(template_of("en", f"reason.{code}"))} if code else {}
    return triage.TriageRow(
        account_id=draw(st.uuids()).hex, name=draw(hostile), upn=draw(st.one_of(st.just(""), hostile)),
        verdict=draw(st.sampled_from(list(triage.TriageVerdict))), since=draw(st.one_of(st.none(), moments)),
        reason_code=code, reason_params=params,
        restriction=draw(st.one_of(st.none(), hostile.map(parse_reason))),
        note_key=draw(st.one_of(st.none(), st.sampled_from(TRIAGE_NOTES))), pending=draw(st.booleans()))


def _triage_rows(draw: DrawFn) -> list[triage.TriageRow]:
    return [_triage_row(draw) for _ in range(draw(st.integers(1, 30)))]


def _bulk_outcome(draw: DrawFn) -> triage.BulkOutcome:
    return triage.BulkOutcome(draw(hostile), draw(hostile), draw(st.sampled_from(["unblocked", "skipped", "failed"])),
                              reason=draw(st.sampled_from(["", "Microsoft 365 refused the request."])),
                              actor=draw(st.one_of(st.just(""), hostile)), at=draw(st.one_of(st.none(), moments)))


def _diagnose(draw: DrawFn) -> Json:
    """The pre-flight card with hostile text where the card shows what a probe found missing (Microsoft's error text
    can name anything); the Exchange permission is granted so the probes' problems reach the card."""
    names = st.frozensets(st.one_of(hostile, st.sampled_from(["AuditLog.Read.All", "Mail.Read", "AAD_PREMIUM_P2"])),
                          max_size=4)
    shown_kinds = [k for k in preflight.ProblemKind if k != preflight.ProblemKind.NOT_PROVISIONED]
    problem = st.builds(preflight.Problem, st.sampled_from(shown_kinds), hostile, hostile)
    facts = preflight.Facts(
        graph_roles=draw(st.one_of(st.none(), names)),
        exchange_roles=draw(names) | {preflight.EXCHANGE_APP_PERMISSION},
        role_template_ids=draw(st.one_of(st.none(), names)), service_plans=draw(st.one_of(st.none(), names)),
        exchange_probes={p: draw(problem) for p in preflight.ExchangeProbe},
        message_trace=draw(st.one_of(st.none(), problem)),
        unreadable=draw(st.dictionaries(hostile, hostile, max_size=2)))
    return diagnose.diagnose_card(preflight.evaluate(facts), draw(locales))


BUILDERS: dict[str, Callable[[DrawFn], Json]] = {
    "cards.diagnose.diagnose_card": _diagnose,
    "cards.help.welcome_card": lambda draw: help.welcome_card(draw(locales)),
    "cards.help.help_card": lambda draw: help.help_card(draw(hostile), draw(st.sampled_from(list(Role))),
                                                        draw(locales)),
    "cards.progress.progress_card": lambda draw: progress.progress_card(draw(hostile), draw(locales)),
    "cards.findings.findings_card": _findings,
    "cards.findings.confirmation_card": _confirmation,
    "cards.findings.case_unavailable_card": lambda draw: findings.case_unavailable_card(
        case_id="case-1", name=draw(hostile), locale=draw(locales), notices=notices(draw)),
    "cards.alerts.restriction_alert_card": lambda draw: alerts.restriction_alert_card(
        name=draw(hostile), upn=draw(hostile), since=draw(st.one_of(st.none(), moments)),
        reason=draw(st.one_of(st.just(""), hostile, st.just("OutboundSpamLast24Hours=1;" + MARK + "<b>x</b>"))),
        origin=draw(st.one_of(st.sampled_from(alerts.ORIGINS), hostile)), locale=draw(locales),
        time_zone=draw(time_zones)),
    "cards.alerts.look_anyway_card": lambda draw: alerts.look_anyway_card(
        name=draw(hostile), upn=draw(hostile), checked=draw(moments), locale=draw(locales),
        time_zone=draw(time_zones)),
    "cards.report.restricted_card": lambda draw: report.restricted_card(
        address=draw(hostile), since=draw(st.one_of(st.none(), moments)),
        it_state=draw(st.one_of(st.sampled_from(report.IT_STATES), hostile)), locale=draw(locales),
        time_zone=draw(time_zones), other_addresses=draw(st.booleans())),
    "cards.report.not_restricted_card": lambda draw: report.not_restricted_card(
        address=draw(hostile), locale=draw(locales), other_addresses=draw(st.booleans())),
    "cards.report.status_card": lambda draw: report.status_card(
        account=draw(hostile), status=draw(st.one_of(st.sampled_from(["open", "resolved", "closed"]), hostile)),
        opened=draw(moments), updated=draw(moments), resolved=draw(st.one_of(st.none(), moments)),
        locale=draw(locales), time_zone=draw(time_zones)),
    "cards.triage.triage_card": lambda draw: triage.triage_card(
        _triage_rows(draw), page=draw(st.integers(0, 3)), locale=draw(locales), time_zone=draw(time_zones),
        bulk_count=draw(st.one_of(st.none(), st.integers(0, 500))), own_left_out=draw(st.booleans()),
        notice_key=draw(st.one_of(st.none(), st.just("triage.confirm.changed")))),
    "cards.triage.triage_progress_card": lambda draw: triage.triage_progress_card(
        draw(st.one_of(st.none(), st.integers(0, 10_000))), draw(locales)),
    "cards.triage.triage_unreachable_card": lambda draw: triage.triage_unreachable_card(draw(locales)),
    "cards.triage.bulk_confirmation_card": lambda draw: triage.bulk_confirmation_card(
        [_triage_row(draw) for _ in range(draw(st.integers(1, 150)))], list_id="0123456789abcdef0123",
        shown_at="1795852800000", locale=draw(locales), own_left_out=draw(st.booleans()),
        notice_key=draw(st.one_of(st.none(), st.just("triage.confirm.changed")))),
    "cards.triage.bulk_result_card": lambda draw: triage.bulk_result_card(
        [_bulk_outcome(draw) for _ in range(draw(st.integers(1, 120)))], locale=draw(locales),
        time_zone=draw(time_zones)),
}


def card_builders() -> list[str]:
    """Every public `*_card` function defined in a module of the `cards` package."""
    found = []
    for info in pkgutil.iter_modules(cards.__path__):
        module = importlib.import_module(f"cards.{info.name}")
        for name, value in vars(module).items():
            if name.endswith("_card") and not name.startswith("_") and inspect.isfunction(value) and (
                    value.__module__ == module.__name__):
                found.append(f"{module.__name__}.{name}")
    return sorted(found)


def test_every_card_builder_is_fuzzed() -> None:
    missing = sorted(set(card_builders()) - set(BUILDERS))
    assert not missing, f"add these card builders to BUILDERS in {__file__}: {missing}"
    assert not set(BUILDERS) - set(card_builders()), "BUILDERS names a card builder that no longer exists"


def _check(builder: str, draw: DrawFn) -> None:
    shown = assert_inert(BUILDERS[builder](draw))
    # The hostile text really reached the card (else the test would prove nothing); welcome has none.
    assert shown or builder in ("cards.help.welcome_card", "cards.triage.triage_progress_card",
                                "cards.triage.triage_unreachable_card")


# The findings card is large (schema validation dominates the time) and tests/unit/test_cards_findings.py fuzzes
# it further; fewer examples here keep the suite fast.
SLOW_BUILDERS = {"cards.findings.findings_card"}


@pytest.mark.parametrize("builder", sorted(set(BUILDERS) - SLOW_BUILDERS))
@CARD_FUZZ
@given(data=st.data())
def test_hostile_tenant_text_stays_inert(builder: str, data: st.DataObject) -> None:
    _check(builder, data.draw)


@pytest.mark.parametrize("builder", sorted(SLOW_BUILDERS))
@settings(CARD_FUZZ, max_examples=12)
@given(data=st.data())
def test_hostile_tenant_text_stays_inert_in_large_cards(builder: str, data: st.DataObject) -> None:
    _check(builder, data.draw)


@pytest.mark.parametrize("builder", sorted(BUILDERS))
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_a_100000_character_value_of_every_attack_at_once(builder: str, data: st.DataObject) -> None:
    """The worst case, everywhere at once: every attack in one 100,000-character value for every tenant field."""
    everything = MARK + "".join(ATTACKS)
    value = (everything * (100_000 // len(everything) + 1))[:100_000]

    def draw(strategy: st.SearchStrategy[Any]) -> Any:
        return data.draw(st.just(value) if strategy is hostile else strategy)

    _check(builder, draw)


def test_the_invariants_catch_what_they_promise() -> None:
    """The checker itself fails on each kind of leak, so a green run means something."""
    base: Json = {"type": "AdaptiveCard", "version": "1.5", "body": [], "$schema": "x"}
    leaks: list[Json] = [
        {**base, "body": [{"type": "TextBlock", "text": MARK + "[x](https://evil.example)"}]},
        {**base, "body": [{"type": "RichTextBlock", "inlines": [{"type": "TextRun", "text": MARK + "\u202e"}]}]},
        {**base, "actions": [{"type": "Action.OpenUrl", "title": "x", "url": "https://evil.example/"}]},
        {**base, "actions": [{"type": "Action.Execute", "title": "x", "verb": "v", "data": {"to": MARK}}]},
        {**base, "body": [{"type": "TextBlock", "text": "x"}], "fallbackText": "**URGENT**"},
    ]
    for card in leaks:
        with pytest.raises(AssertionError):
            assert_inert(card)

"""The findings card's compact first screen (issue 16): who, state, verdict with the line that decided it, the next
required step with its button; findings, evidence and the full step list folded behind `Action.ToggleVisibility`
buttons whose targets exist, are hidden and have ids unique in the card. Microsoft's codes read as words."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from cards.findings import (
    FINDINGS_PART_ID,
    STEPS_PART_ID,
    Notice,
    StepState,
    decamel,
    display_value,
    findings_card,
    next_step,
    step_key,
)
from locales import t
from tests.cardschema import assert_valid_card
from tests.unit.test_cards_findings import CASE, STORIES, elements, of_type

Json = dict[str, Any]
MEGAN = STORIES["megan"]


def card(name: str = "megan", **kwargs: Any) -> Json:
    options: dict[str, Any] = {"case_id": CASE, "viewer_can_act": True, "locale": "en", **kwargs}
    return findings_card(STORIES[name], **options)


def visible(node: Any) -> list[Json]:
    """Every typed element a person sees before pressing a toggle (hidden elements and their contents left out)."""
    out: list[Json] = []
    if isinstance(node, dict):
        if node.get("isVisible") is False:
            return out
        if "type" in node:
            out.append(node)
        for value in node.values():
            out.extend(visible(value))
    elif isinstance(node, list):
        for item in node:
            out.extend(visible(item))
    return out


def line_of(element: Json) -> str:
    if element["type"] == "RichTextBlock":
        return "".join(run["text"] for run in element["inlines"])
    return str(element.get("text", ""))


def by_id(data: Json) -> dict[str, Json]:
    return {e["id"]: e for e in elements(data) if "id" in e}


@pytest.mark.parametrize("name", sorted(STORIES))
@pytest.mark.parametrize("locale", ["en", "nl-NL"])
def test_every_toggle_targets_hidden_elements_with_unique_ids(name: str, locale: str) -> None:
    data = card(name, locale=locale)
    assert_valid_card(data)
    ids = Counter(e["id"] for e in elements(data) if "id" in e)
    assert [i for i, n in ids.items() if n > 1] == []
    toggles = of_type(data, "Action.ToggleVisibility")
    assert toggles, name
    targets = by_id(data)
    for toggle in toggles:
        assert toggle["targetElements"]
        for target in toggle["targetElements"]:
            assert targets[target].get("isVisible") is False, (name, target)


def test_the_first_screen_is_who_state_verdict_and_the_next_required_step() -> None:
    data = card()
    seen = [line_of(e) for e in visible(data) if e["type"] in ("RichTextBlock", "TextBlock")]
    assert seen[0] == "Megan Bowen"
    assert any(line.startswith("Restricted from sending mail since") for line in seen)
    assert "Compromised" in seen
    upcoming = next_step(MEGAN.assessment, {})
    assert upcoming is not None and upcoming.required
    assert "Next step" in seen
    # The next step's line, its "required" label and its button are on the first screen; the findings are not.
    assert any(line.startswith("☐ Require a new password") and line.endswith("required before unblocking")
               for line in seen)
    buttons = [a["verb"] for a in visible(data) if a["type"] == "Action.Execute"]
    assert buttons[0] == upcoming.code and "refresh" in buttons
    assert "disable_rule" not in buttons  # a later step: in the folded list
    assert "What I found" not in seen and not any(line.startswith("• ") for line in seen)
    titles = [a["title"] for a in visible(data) if a["type"] == "Action.ToggleVisibility"]
    findings = sum(1 for f in MEGAN.findings if f.code != "burst_summary")
    assert titles == [t("en", "toggle.findings", count=findings),
                      t("en", "toggle.steps", count=len(MEGAN.assessment.recommended_steps))]


def test_the_folded_parts_hold_findings_evidence_and_every_step_once() -> None:
    data = card()
    parts = by_id(data)
    findings = [line_of(e) for e in elements(parts[FINDINGS_PART_ID]) if e["type"] == "RichTextBlock"]
    assert any(line.startswith("• ") for line in findings)
    evidence = [e for e in of_type(parts[FINDINGS_PART_ID], "RichTextBlock") if e.get("id", "").startswith("ev")]
    assert evidence and all(e["isVisible"] is False for e in evidence)
    show_evidence = next(a for a in of_type(data, "Action.ToggleVisibility") if a["title"] == "Show evidence")
    assert show_evidence["targetElements"] == [e["id"] for e in evidence]
    # Every step has one button in the whole card: the next one on the first screen, the rest in the list, where
    # the next step is only named.
    verbs = Counter(a["verb"] for a in of_type(data, "Action.Execute"))
    assert all(n == 1 for verb, n in verbs.items() if verb != "disable_rule")
    steps = [line_of(e) for e in elements(parts[STEPS_PART_ID]) if e["type"] == "RichTextBlock"]
    assert any(line.endswith("the next step, shown above") for line in steps)


def test_an_answer_to_a_step_in_the_list_opens_the_list() -> None:
    done = Notice("notice.done", {"action": "Sign out everywhere"}, tone="good", anchor="revoke_sessions:")
    at = MEGAN.evidence.now
    states = {step_key("revoke_sessions", None): StepState("revoke_sessions", None, "Alex Wilber", at)}
    data = card(step_states=states, notices=(done,))
    assert by_id(data)[STEPS_PART_ID]["isVisible"] is True
    assert "Done: Sign out everywhere." in [line_of(e) for e in visible(data)]
    assert by_id(card(step_states=states))[STEPS_PART_ID]["isVisible"] is False


def test_when_every_step_is_done_the_first_screen_says_so() -> None:
    at = MEGAN.evidence.now
    states = {step_key(s.code, s.target_id): StepState(s.code, s.target_id, "Alex Wilber", at)
              for s in MEGAN.assessment.recommended_steps}
    data = card(step_states=states)
    assert next_step(MEGAN.assessment, states) is None
    assert "Every recommended step is done." in [line_of(e) for e in visible(data)]


@pytest.mark.parametrize(("name", "value", "en", "nl"), [
    ("risk_type", "unlikelyTravel", "atypical travel", "atypische reis"),
    ("risk_type", "ANONYMIZEDIPADDRESS", "anonymous IP address", "anoniem IP-adres"),
    ("access", "FullAccess", "full access", "volledige toegang"),
    ("access", "Inbox: Reviewer", "Inbox: reviewer (reads everything)", "Inbox: revisor (leest alles)"),
    ("delegate", "jo@x.example (SendAs)", "jo@x.example (send as)", "jo@x.example (verzenden als)"),
    ("condition", "bodyOrSubjectContains: invoice, bankAccount", "subject or body contains: invoice, bankAccount",
     "onderwerp of tekst bevat: invoice, bankAccount"),
    ("action", "DeleteMessage", "deletes", "verwijdert"),
    ("actions", "BlindCopyTo, RedirectMessageTo", "adds a Bcc recipient, redirects",
     "voegt een Bcc-ontvanger toe, leidt om"),
    ("method", "someFutureAuthenticationMethod", "some future authentication method",
     "some future authentication method"),
])
def test_microsoft_codes_read_as_words(name: str, value: str, en: str, nl: str) -> None:
    assert display_value(name, value, "en", None) == en
    assert display_value(name, value, "nl-NL", None) == nl


def test_an_unknown_code_is_de_camelised_never_shown_raw() -> None:
    assert decamel("unlikelyTravel") == "unlikely travel"
    assert decamel("anonymizedIPAddress") == "anonymized IP address"
    assert display_value("risk_type", "brandNewRiskType", "en", None) == "brand new risk type"
    # Tenant text is never touched: a rule's or a folder's name keeps its capitals.
    assert display_value("rule", "MyRule", "en", None) == "MyRule"
    assert display_value("access", "MyFolder: Editor", "en", None) == "MyFolder: editor"

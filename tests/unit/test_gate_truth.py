"""One truth for the gate, and the card as a record (issue 16): the steps the findings card labels "required before
unblocking" are exactly the steps the unblock gate waits for (both read `Step.required`); the steps a person does
in a portal get "Done, I checked"; the answer to a press sits by what was pressed; a restored account's header
says so. Every card is validated against the Adaptive Card schema."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cards.findings import (
    GateInfo,
    Notice,
    StepState,
    confirmation_card,
    findings_card,
    step_key,
    step_name,
)
from cards.verbs import Verb
from investigation.verdict import PERSON_STEPS, Step
from remediation import policy
from remediation.actions import ACTIONS
from tests.cardschema import assert_valid_card, texts
from tests.unit.test_cards_findings import CASE, STORIES, elements, investigate, of_type
from tests.unit.test_verdict import megan

Json = dict[str, Any]
WHEN = datetime(2024, 10, 22, 9, 30, tzinfo=UTC)
MEGAN = STORIES["megan"]
STEPS = MEGAN.assessment.recommended_steps
REQUIRED_KEYS = [step_key(s.code, s.target_id) for s in STEPS if s.required]


def lines(node: Any) -> list[str]:
    """Each RichTextBlock's runs joined, and each TextBlock's text, in card order."""
    out: list[str] = []
    for element in elements(node):
        if element["type"] == "RichTextBlock":
            out.append("".join(run["text"] for run in element["inlines"]))
        elif element["type"] == "TextBlock":
            out.append(element["text"])
    return out


def card_with(done: set[str], *, locale: str = "en", notices: tuple[Notice, ...] = (),
              restored_at: datetime | None = None, can_act: bool = True) -> Json:
    """Megan's card as `remediation.views.CaseView` draws it: done steps, and the gate from the same steps."""
    states = {key: StepState(key.partition(":")[0], key.partition(":")[2] or None, "Alex Wilber", WHEN)
              for key in done}
    missing = policy.open_required_steps(STEPS, done)
    card = findings_card(MEGAN, case_id=CASE, viewer_can_act=can_act, locale=locale, step_states=states,
                         gate=GateInfo("gate.secure_first", missing) if missing else None, notices=notices,
                         restored_at=restored_at)
    assert_valid_card(card)
    return card


def test_megan_needs_more_than_the_password_and_the_sign_out() -> None:
    """The issue's case: the card called the MFA review and the hidden rule required, the gate did not."""
    codes = [key.partition(":")[0] for key in REQUIRED_KEYS]
    assert codes[:2] == ["force_password_change", "revoke_sessions"]
    assert "disable_rule" in codes and "review_mfa_methods" in codes
    done = {"force_password_change:", "revoke_sessions:"}
    open_codes = [s.code for s in policy.open_required_steps(STEPS, done)]
    assert open_codes == codes[2:]
    card = card_with(done)
    assert "Unblock anyway" in texts(card) or any(a.get("title") == "Unblock anyway" for a in elements(card))


@settings(max_examples=40, deadline=None)
@given(st.sets(st.sampled_from([step_key(s.code, s.target_id) for s in STEPS if s.code != "unblock"])))
def test_the_card_labels_required_exactly_what_the_gate_waits_for(done: set[str]) -> None:
    card = card_with(done)
    shown = lines(card)
    labelled = [line for line in shown if line.endswith("required before unblocking")]
    missing = policy.open_required_steps(STEPS, done)
    assert len(labelled) == len(missing)
    gate_lines = [line for line in shown if line.startswith("Still to do: ")]
    if missing:
        assert gate_lines == ["Still to do: " + ", ".join(step_name(s, "en") for s in missing)]
        assert any(a.get("data", {}).get("override") == "1" for a in of_type(card, "Action.Execute"))
    else:
        assert gate_lines == []
        unblock = [a for a in of_type(card, "Action.Execute") if a["verb"] == "unblock"]
        assert unblock and all("override" not in a["data"] for a in unblock)


def test_steps_a_person_does_get_done_i_checked_and_keep_their_link() -> None:
    card = card_with(set())
    buttons = {a["verb"]: a for a in of_type(card, "Action.Execute")}
    assert set(PERSON_STEPS) & {s.code for s in STEPS} == {"review_mfa_methods"}
    ack = buttons["review_mfa_methods"]
    assert ack["title"] == "Done, I checked" and ack["data"] == {"verb": "review_mfa_methods", "caseId": CASE}
    assert ack["associatedInputs"] == "none"
    assert ACTIONS[Verb.REVIEW_MFA_METHODS].acknowledge
    # Microsoft's page on how to review stays next to the acknowledgement.
    links = [a for a in of_type(card, "Action.OpenUrl") if a["title"] == "How to do this"]
    assert links, [a["title"] for a in of_type(card, "Action.OpenUrl")]
    done = card_with({"review_mfa_methods:"})
    assert "review_mfa_methods" not in {a["verb"] for a in of_type(done, "Action.Execute")}
    line = next(x for x in lines(done) if x.startswith("☑ Review the MFA methods"))
    assert "done by Alex Wilber at" in line


def test_dutch_acknowledgement_and_gate() -> None:
    card = card_with({"force_password_change:"}, locale="nl-NL")
    titles = {a["title"] for a in of_type(card, "Action.Execute")}
    assert "Gedaan, ik heb het gecontroleerd" in titles
    assert any(line.startswith("Nog te doen: Overal afmelden, Inboxregel ‘.’ uitschakelen, MFA-methoden controleren")
               for line in lines(card)), lines(card)


def _gate_container(card: Json) -> Json:
    return next(c for c in of_type(card, "Container") if c.get("style") == "warning"
                and any(a.get("title") == "Unblock anyway" for a in elements(c)))


def test_an_anchored_answer_sits_right_above_unblock_anyway() -> None:
    notice = Notice("notice.reason_missing", tone="warning", anchor="unblock:")
    card = card_with(set(), notices=(notice,))
    gate = _gate_container(card)
    items = gate["items"]
    index = next(i for i, item in enumerate(items) if item["type"] == "ActionSet")
    above = items[index - 1]
    assert above["type"] == "Container" and "Give a reason to unblock anyway" in " ".join(lines(above))
    # Not at the top as well.
    top = card["body"][:8]
    assert not any("Give a reason" in " ".join(lines(item)) for item in top)


def test_an_answer_to_a_step_sits_under_that_step_and_an_unanchored_one_on_top() -> None:
    done = Notice("notice.done", {"action": "Review the MFA methods"}, tone="good", anchor="review_mfa_methods:")
    general = Notice("notice.in_progress", tone="warning")
    card = card_with({"review_mfa_methods:"}, notices=(done, general))
    shown = lines(card)
    step = next(i for i, x in enumerate(shown) if x.startswith("☑ Review the MFA methods"))
    assert shown[step + 1] == "Done: Review the MFA methods."
    assert shown.index("Someone else is doing this right now. Refresh in a moment to see the result.") < step
    # An anchor that names no step on the card falls back to the top.
    stray = card_with(set(), notices=(Notice("notice.done", {"action": "x"}, anchor="no_such_step:"),))
    assert "Done: x." in lines(stray)


def test_a_restored_account_has_no_red_restricted_header() -> None:
    before = card_with(set())
    assert any(line.startswith("Restricted from sending mail since") for line in lines(before))
    restored = card_with({"force_password_change:", "unblock:"}, restored_at=WHEN + timedelta(hours=1),
                         notices=(Notice("notice.restored", {"time": "then"}, tone="good"),))
    shown = lines(restored)
    assert not any(line.startswith("Restricted from sending mail") for line in shown)
    # The header (before the verdict badge) says what holds now.
    badge = next(i for i, b in enumerate(restored["body"]) if b.get("type") == "Container")
    header = [b["text"] for b in restored["body"][:badge] if b.get("type") == "TextBlock"]
    assert any(text.startswith("Sending restored at") for text in header), header


def test_the_unblock_confirmation_lists_every_open_required_step() -> None:
    open_steps = policy.open_required_steps(STEPS, {"revoke_sessions:"})
    card = confirmation_card(Verb.UNBLOCK, case_id=CASE, name="Megan Bowen", upn="MeganB@example.com",
                             locale="en", override_reason="Password reset by phone", open_steps=open_steps)
    assert_valid_card(card)
    line = next(x for x in lines(card) if x.startswith("Required steps still open"))
    for step in open_steps:
        assert step_name(step, "en") in line
    plain = confirmation_card(Verb.UNBLOCK, case_id=CASE, name="Megan Bowen", upn="MeganB@example.com", locale="en")
    assert not any(x.startswith("Required steps still open") for x in lines(plain))


@pytest.mark.parametrize("name", ["[x](https://evil.example)", "rule\u202e\u200bname"])
def test_a_rule_name_in_the_gate_list_stays_a_cleaned_run(name: str) -> None:
    story = megan()
    investigation = investigate(story)
    rule = Step("disable_rule", STEPS[0].phase, {"rule": name}, target_id="r1", required=True)
    card = findings_card(investigation, case_id=CASE, viewer_can_act=True, locale="en",
                         gate=GateInfo("gate.secure_first", (rule,)))
    assert_valid_card(card)
    # Only ever inside a TextRun (plain text in Teams), cleaned of bidi and zero-width characters.
    assert not any("evil.example" in b["text"] for b in of_type(card, "TextBlock"))
    run = next(r for r in of_type(card, "TextRun") if "Disable inbox rule" in r["text"])
    assert "\u202e" not in run["text"] and "\u200b" not in run["text"]

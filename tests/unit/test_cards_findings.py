"""The findings and progress cards, built from whole investigations (Graph- and Exchange-shaped JSON through the
records, the indicators and the verdict): schema-valid in English and Dutch, buttons only for those who may
act and only for steps not yet done, button data limited to verb and ids, the caps, the "not checked" list,
and tenant text — hostile or random — only ever inside cleaned TextRuns."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cards.findings import (
    BADGE_STYLES,
    MAX_ACTION_NOTES,
    MAX_FINDING_LINES,
    MAX_RULE_STEPS,
    ActionNote,
    GateInfo,
    StepState,
    alternatives,
    findings_card,
    split_template,
    step_key,
    step_verb,
)
from cards.progress import progress_card
from cards.text import clean, md_escape
from cards.verbs import Verb
from investigation.collect import Investigation
from investigation.evidence import SourceName, Unavailable, UnavailableReason
from investigation.indicators import FINDING_CODES, run_indicators
from investigation.reason import parse_reason
from investigation.verdict import Verdict, assess
from tests.cardschema import assert_valid_card, texts
from tests.unit.test_verdict import MEGAN, NOW, adele, evidence_from, megan, patti, quiet, recipients

Json = dict[str, Any]
CASE = "case-42"
ALLOWED_DATA_KEYS = {"verb", "caseId", "ruleId", "override"}
HOSTILE_RULE = "[click](https://evil.example)"
HOSTILE_NAME = "**urgent** <script>alert(1)</script> Meg\u200ban\u202egnp.exe\u2066 " + "x" * 100_000
# Fragments that must never reach a TextBlock, a fact, an input's label or placeholder.
HOSTILE_FRAGMENTS = ("evil.example", "<script>", "**urgent**", "\u202e", "\u200b", "\u2066")
TEAMS_MESSAGE_LIMIT = 28_000


# ------------------------------------------------------------------------------------------ helpers


def investigate(story: Json, *, unavailable: Sequence[Unavailable] = ()) -> Investigation:
    """What the collector would return for `story` (same records, indicators and verdict)."""
    evidence = evidence_from(story, unavailable=unavailable)
    findings = run_indicators(evidence)
    reason = parse_reason(evidence.restriction.reason) if evidence.restriction else None
    return Investigation(evidence, findings, assess(evidence, findings), reason)


def incomplete_story() -> tuple[Json, list[Unavailable]]:
    return adele(), [
        Unavailable(SourceName.sign_ins, UnavailableReason.permission, "AuditLog.Read.All"),
        Unavailable(SourceName.risky_user, UnavailableReason.license, "Entra ID P2"),
        Unavailable(SourceName.alerts, UnavailableReason.timeout),
    ]


def stories() -> dict[str, Investigation]:
    story, missing = incomplete_story()
    megan_no_log = [Unavailable(SourceName.sign_ins, UnavailableReason.throttled)]
    return {
        "megan": investigate(megan()),
        "megan_admin": investigate(megan(admin=True)),
        "megan_no_sign_ins": investigate(megan(), unavailable=megan_no_log),
        "patti": investigate(patti()),
        "adele": investigate(adele()),
        "incomplete": investigate(story, unavailable=missing),
        "not_restricted": investigate(quiet()),
    }


STORIES = stories()


def elements(node: Any) -> Iterator[dict[str, Any]]:
    """Every typed element, action and inline of a card, depth first."""
    if isinstance(node, dict):
        if "type" in node:
            yield node
        for value in node.values():
            yield from elements(value)
    elif isinstance(node, list):
        for item in node:
            yield from elements(item)


def of_type(card: Json, kind: str) -> list[dict[str, Any]]:
    return [e for e in elements(card) if e["type"] == kind]


def run_texts(card: Json) -> list[str]:
    return [r["text"] for r in of_type(card, "TextRun")]


def markdown_texts(card: Json) -> list[str]:
    """Every string Teams may parse as Markdown or show outside a TextRun (except button titles)."""
    out = [e["text"] for e in of_type(card, "TextBlock")]
    out += [f"{f.get('title', '')} {f.get('value', '')}" for e in of_type(card, "FactSet") for f in e["facts"]]
    out += [f"{e.get('label', '')} {e.get('placeholder', '')}" for e in of_type(card, "Input.Text")]
    out.append(card.get("fallbackText", ""))
    return out


def lines(card: Json) -> list[str]:
    """Each RichTextBlock as the line a person reads."""
    return ["".join(r["text"] for r in block["inlines"]) for block in of_type(card, "RichTextBlock")]


def executes(card: Json) -> list[dict[str, Any]]:
    return of_type(card, "Action.Execute")


def card_for(name: str, **kwargs: Any) -> Json:
    options: dict[str, Any] = {"case_id": CASE, "viewer_can_act": True, "locale": "en-US", **kwargs}
    return findings_card(STORIES[name], **options)


def is_plain_line(text: str) -> bool:
    """No control, format (zero-width, bidi) or line-break characters, and a bounded length: what `clean()` makes."""
    return len(text) <= 250 and all(unicodedata.category(ch)[0] != "C" for ch in text)


def assert_tenant_text_inert(card: Json) -> None:
    """Hostile fragments only in cleaned TextRuns (and cleaned button titles), never where Markdown renders."""
    for text in markdown_texts(card):
        for fragment in HOSTILE_FRAGMENTS:
            assert fragment not in text, (fragment, text[:200])
    for text in run_texts(card):
        assert is_plain_line(text), text[:200]
    for action in of_type(card, "Action.Execute") + of_type(card, "Action.OpenUrl"):
        assert action["title"] == clean(action["title"], 200)


# ------------------------------------------------------------------------------------- schema validity


@pytest.mark.parametrize("name", sorted(STORIES))
@pytest.mark.parametrize("locale", ["en-US", "nl-NL"])
@pytest.mark.parametrize("can_act", [True, False])
def test_every_story_card_is_valid(name: str, locale: str, can_act: bool) -> None:
    card = card_for(name, locale=locale, viewer_can_act=can_act, time_zone="Europe/Amsterdam")
    assert_valid_card(card)
    assert card["version"] == "1.5"
    assert len(json.dumps(card)) < TEAMS_MESSAGE_LIMIT


@pytest.mark.parametrize("locale", ["en-US", "nl-NL"])
@pytest.mark.parametrize("can_act", [True, False])
def test_card_with_states_gate_and_actions_is_valid(locale: str, can_act: bool) -> None:
    at = NOW + timedelta(minutes=5)
    card = card_for(
        "megan_admin", locale=locale, viewer_can_act=can_act,
        step_states={step_key("revoke_sessions", None): StepState("revoke_sessions", None, "Alex Wilber", at)},
        latest_actions=[ActionNote("note.sessions_revoked", "Alex Wilber", at)],
        gate=GateInfo("gate.secure_first"),
    )
    assert_valid_card(card)


@pytest.mark.parametrize("locale", ["en-US", "nl-NL"])
def test_progress_card(locale: str) -> None:
    card = progress_card("Megan Bowen", locale)
    assert_valid_card(card)
    assert "Megan Bowen" in run_texts(card)
    joined = " ".join(texts(card))
    assert ("Looking into" in joined) if locale == "en-US" else ("Ik onderzoek" in joined)
    assert "Exchange Online" in joined and "Microsoft Graph" in joined


def test_progress_card_keeps_a_hostile_name_inert() -> None:
    card = progress_card(HOSTILE_NAME, "en")
    assert_valid_card(card)
    assert_tenant_text_inert(card)
    assert any(text.startswith("**urgent** <script>") for text in run_texts(card))


# ----------------------------------------------------------------------------------------- buttons


def test_no_remediation_buttons_for_viewers_who_cannot_act() -> None:
    for name in STORIES:
        card = card_for(name, viewer_can_act=False, gate=GateInfo("gate.secure_first"))
        assert [a["verb"] for a in executes(card)] == [Verb.REFRESH.value], name
        assert not of_type(card, "Input.Text")


def test_buttons_for_every_undone_step_with_a_verb() -> None:
    investigation = STORIES["megan_admin"]
    card = card_for("megan_admin")
    # A rule's line carries "Delete" after its "Disable" (`alternatives`).
    verbs = [v for s in investigation.assessment.recommended_steps for v in (step_verb(s.code), *alternatives(s.code))]
    expected = [verb.value for verb in verbs if verb is not None]
    assert Verb.UNBLOCK.value in expected and Verb.REVOKE_SESSIONS.value in expected
    assert expected[expected.index(Verb.DISABLE_RULE.value) + 1] == Verb.DELETE_RULE.value
    assert [a["verb"] for a in executes(card)] == [*expected, Verb.REFRESH.value]
    # Refresh is in the card's action bar; step buttons sit next to their steps.
    assert [a["type"] for a in card["actions"]][0] == "Action.Execute"
    assert len(card["actions"]) <= 5


def test_done_steps_lose_their_buttons_and_say_who_did_them() -> None:
    at = datetime(2024, 10, 22, 10, 32, tzinfo=UTC)
    rule_id = next(s.target_id for s in STORIES["megan"].assessment.recommended_steps if s.code == "disable_rule")
    states = {
        step_key("revoke_sessions", None): StepState("revoke_sessions", None, "Alex Wilber", at),
        step_key("disable_rule", rule_id): StepState("disable_rule", rule_id, "Alex Wilber", at),
    }
    card = card_for("megan", step_states=states)
    verbs = [a["verb"] for a in executes(card)]
    assert Verb.REVOKE_SESSIONS.value not in verbs and Verb.DISABLE_RULE.value not in verbs
    assert Verb.FORCE_PASSWORD_CHANGE.value in verbs
    done = [line for line in lines(card) if line.startswith("☑")]
    assert done == [
        "☑ Sign the user out everywhere — done by Alex Wilber at 22 Oct 2024, 10:32 UTC",
        "☑ Disable inbox rule “.” — done by Alex Wilber at 22 Oct 2024, 10:32 UTC",
    ]
    assert "Alex Wilber" in run_texts(card)


@pytest.mark.parametrize("name", sorted(STORIES))
def test_button_data_carries_only_the_verb_and_ids(name: str) -> None:
    card = card_for(name, gate=GateInfo("gate.secure_first"))
    for action in executes(card):
        data = action["data"]
        assert set(data) <= ALLOWED_DATA_KEYS
        assert data["caseId"] == CASE
        assert Verb.parse(data["verb"]) is not None
        assert data["verb"] == action["verb"]
        assert ("ruleId" in data) == (data["verb"] in (Verb.DISABLE_RULE.value, Verb.DELETE_RULE.value))
        if "override" in data:
            assert data == {"verb": "unblock", "caseId": CASE, "override": "1"}


def test_disable_rule_button_targets_the_rule() -> None:
    card = card_for("megan")
    rules = [a for a in executes(card) if a["verb"] == Verb.DISABLE_RULE.value]
    assert [a["data"]["ruleId"] for a in rules] == ["AQAAAJ5dZqA="]
    assert rules[0]["title"] == "Disable “.”"


def test_unblock_is_positive_and_only_shown_when_restricted() -> None:
    unblock = [a for a in executes(card_for("adele")) if a["verb"] == Verb.UNBLOCK.value]
    assert len(unblock) == 1 and unblock[0]["style"] == "positive"
    assert not [a for a in executes(card_for("not_restricted")) if a["verb"] == Verb.UNBLOCK.value]


def test_steps_without_a_verb_link_microsofts_docs() -> None:
    card = card_for("megan_admin", viewer_can_act=False)
    body_links = [a for block in of_type(card, "ActionSet") for a in block["actions"] if a["type"] == "Action.OpenUrl"]
    assert body_links and all(a["url"].startswith("https://learn.microsoft.com/") for a in body_links)
    assert any("review" in line.lower() and "mfa" in line.lower() for line in lines(card))


def test_gate_shows_the_reason_an_input_and_unblock_anyway() -> None:
    card = card_for("megan", gate=GateInfo("gate.secure_first"))
    inputs = of_type(card, "Input.Text")
    # Not isRequired: Teams would then hold back every button with inputs until a reason is typed; the server
    # refuses an empty reason instead. Buttons without inputs send none, so the reason travels only with its own.
    assert [i["id"] for i in inputs] == ["overrideReason"] and not inputs[0].get("isRequired")
    unblock = [a for a in executes(card) if a["verb"] == Verb.UNBLOCK.value]
    assert [a["data"] for a in unblock] == [{"verb": "unblock", "caseId": CASE, "override": "1"}]
    assert unblock[0].get("associatedInputs", "auto").lower() == "auto"
    assert all(a["associatedInputs"] == "none" for a in executes(card) if a["verb"] != Verb.UNBLOCK.value)
    assert unblock[0]["title"] == "Unblock anyway"
    assert any("Finish the required steps first" in text for text in texts(card))
    # Without a gate: the plain Unblock button, no input.
    plain = card_for("megan")
    assert not of_type(plain, "Input.Text")
    assert [a["data"] for a in executes(plain) if a["verb"] == "unblock"] == [{"verb": "unblock", "caseId": CASE}]


def test_unknown_gate_key_falls_back_to_a_generic_reason() -> None:
    card = card_for("megan", gate=GateInfo("gate.not_a_key"))
    assert any("needs a reason" in text for text in texts(card))


def test_refresh_and_links_for_everyone() -> None:
    card = card_for("patti", viewer_can_act=False)
    bar = card["actions"]
    assert bar[0]["verb"] == "refresh"
    urls = [a["url"] for a in bar if a["type"] == "Action.OpenUrl"]
    assert urls[0] == "https://security.microsoft.com/restrictedentities"
    assert urls[1].endswith("/userId/3a7e5da4-2c6f-4e1b-94a5-8b9c0d1e2f04")
    assert urls[1].startswith("https://entra.microsoft.com/")


@pytest.mark.parametrize("user_id", ["", "not-a-guid", "3a7e5da4-2c6f-4e1b-94a5-8b9c0d1e2f04/../../evil",
                                     "3a7e5da4-2c6f-4e1b-94a5-8b9c0d1e2f04\n"])
def test_entra_link_needs_a_guid(user_id: str) -> None:
    story = patti()
    story["user"] = {**story["user"], "id": user_id}
    card = findings_card(investigate(story), case_id=CASE, viewer_can_act=True, locale="en")
    assert_valid_card(card)
    assert not any("entra.microsoft.com" in a.get("url", "") for a in of_type(card, "Action.OpenUrl"))


# ------------------------------------------------------------------------------------- header, verdict


@pytest.mark.parametrize(("name", "verdict"), [
    ("megan", Verdict.compromised), ("patti", Verdict.suspicious), ("adele", Verdict.no_signs),
    ("incomplete", Verdict.incomplete),
])
def test_badge_style_per_verdict(name: str, verdict: Verdict) -> None:
    assert STORIES[name].assessment.verdict == verdict
    badges = [c for c in of_type(card_for(name), "Container") if c.get("style") == BADGE_STYLES[verdict]]
    assert len(badges) == 1
    assert badges[0]["items"][0]["text"] == {
        Verdict.compromised: "Compromised", Verdict.suspicious: "Suspicious",
        Verdict.no_signs: "No signs of compromise", Verdict.incomplete: "Incomplete",
    }[verdict]


def test_verdict_reason_names_findings_in_words_not_codes() -> None:
    card = card_for("megan")
    everything = " ".join(texts(card))
    for code in FINDING_CODES:
        assert code not in everything
    assert "5 strong signs from independent sources: " in " ".join(lines(card))
    assert "forwarding rule" in everything


def test_urgent_line() -> None:
    assert any("this account holds admin roles" in text for text in texts(card_for("megan_admin")))
    assert not any(text.startswith("Urgent") for text in texts(card_for("megan")))


def test_header_restriction_in_the_viewers_zone_and_language() -> None:
    en = card_for("megan", time_zone="Europe/Amsterdam")
    assert "Restricted from sending mail since 22 Oct 2024, 06:34 CEST (7 h ago)" in texts(en)
    assert "Sent 242 spam messages out of 251 in 24 hours (96 %)" in lines(en)
    nl = card_for("megan", locale="nl-NL", time_zone="Europe/Amsterdam")
    assert "Mag sinds 22 okt 2024, 06:34 CEST geen mail versturen (7 uur geleden)" in texts(nl)
    assert "Verstuurde 242 spamberichten van de 251 in 24 uur (96 %)" in lines(nl)


def test_recipient_limit_reason_in_words() -> None:
    # Microsoft's `EmailSendingLimitExceeded` form: `ExceedingLimitType=External` names the limit, then the
    # counts of today and `LastMessageRcptCount`.
    assert ("Exceeded the external recipient limit: 2,750 external and 12 internal recipients"
            " (the last message went to 250 recipients)") in lines(card_for("adele"))
    assert ("Limiet voor externe ontvangers overschreden: 2.750 externe en 12 interne ontvangers"
            " (het laatste bericht ging naar 250 ontvangers)") in lines(card_for("adele", locale="nl-NL"))


def test_not_restricted_and_unknown_restriction() -> None:
    assert "Not restricted: this account can send mail." in texts(card_for("not_restricted"))
    story = adele()
    card = findings_card(investigate(story, unavailable=[Unavailable(SourceName.restriction,
                                                                     UnavailableReason.throttled)]),
                         case_id=CASE, viewer_can_act=True, locale="en")
    assert "I could not check whether this account is restricted." in texts(card)


@pytest.mark.parametrize("raw", ["Something new from Microsoft", "[x](https://evil.example) \u202e**boom**",
                                 "y" * 10_000, "\u200b\u200b"])
def test_unknown_reason_is_quoted_cleaned_in_a_run(raw: str) -> None:
    story = adele()
    story["blocked"] = {**story["blocked"], "Reason": raw}
    card = findings_card(investigate(story), case_id=CASE, viewer_can_act=True, locale="en")
    assert_valid_card(card)
    assert_tenant_text_inert(card)
    reason_lines = [line for line in lines(card) if line.startswith("Reason given by Microsoft: ")]
    if clean(raw):
        assert len(reason_lines) == 1
        assert clean(raw, 160) in run_texts(card)
    else:
        assert "Microsoft gave no reason I can read" in lines(card)


# ---------------------------------------------------------------------------------------- findings


def many_rules(count: int, name: str = ".") -> Json:
    story = megan()
    story["rules"] = [
        {"id": f"rule-{i}", "displayName": f"{name}", "isEnabled": True,
         "actions": {"forwardTo": recipients(f"drop{i}@evil-{i}.example.net")}}
        for i in range(count)
    ]
    return story


def test_finding_lines_are_capped_with_more() -> None:
    investigation = investigate(many_rules(20))
    card = findings_card(investigation, case_id=CASE, viewer_can_act=True, locale="en")
    assert_valid_card(card)
    finding_lines = [line for line in lines(card) if line.startswith("• ")]
    assert len(finding_lines) == MAX_FINDING_LINES
    hidden = len(investigation.findings) - MAX_FINDING_LINES
    assert f"+{hidden} more" in texts(card)
    # High findings come first; the hidden ones are the least severe.
    assert finding_lines[0].startswith("• ")


def test_rule_steps_are_capped() -> None:
    card = findings_card(investigate(many_rules(20)), case_id=CASE, viewer_can_act=True, locale="en")
    rules = [a for a in executes(card) if a["verb"] == Verb.DISABLE_RULE.value]
    assert len(rules) == MAX_RULE_STEPS
    assert any(text.startswith(f"+{20 - MAX_RULE_STEPS} more inbox rules") for text in texts(card))
    assert len(json.dumps(card)) < TEAMS_MESSAGE_LIMIT


def test_findings_grouped_by_severity_with_evidence() -> None:
    card = card_for("patti")
    everything = texts(card)
    assert everything.index("High") < everything.index("Medium")
    assert "• The mailbox forwards all mail outside the organisation, to patti.fernandez1987@gmail.com" in lines(card)
    assert "Keeps a copy: yes" in lines(card)
    assert "patti.fernandez1987@gmail.com" in run_texts(card)


def test_no_findings() -> None:
    assert "Nothing to report from the sources I checked." in texts(card_for("not_restricted"))
    assert "Nothing to do right now." in texts(card_for("not_restricted"))


def test_not_checked_lists_each_unavailable_source_with_its_detail() -> None:
    card = card_for("incomplete")
    assert "Not checked" in texts(card)
    assert "Sign-in log: the bot lacks a permission (AuditLog.Read.All)" in lines(card)
    assert "User risk (Identity Protection): needs a licence the tenant does not have (Entra ID P2)" in lines(card)
    assert "Defender alerts: took too long to answer" in lines(card)
    assert "AuditLog.Read.All" in run_texts(card)
    assert "Not checked" not in texts(card_for("adele"))


def test_block_sign_in_note_when_the_log_is_unreadable() -> None:
    card = card_for("megan_no_sign_ins")
    assert any("ongoing abuse cannot be ruled out" in text for text in texts(card))
    assert Verb.BLOCK_SIGN_IN.value in [a["verb"] for a in executes(card)]


def test_synced_user_gets_no_doomed_password_button_but_a_note() -> None:
    story = megan()
    story["user"] = {**story["user"], "onPremisesSyncEnabled": True}
    missing = [Unavailable(SourceName.sign_ins, UnavailableReason.throttled)]
    card = findings_card(investigate(story, unavailable=missing), case_id=CASE, viewer_can_act=True, locale="nl-NL")
    assert_valid_card(card)
    verbs = [a["verb"] for a in executes(card)]
    assert Verb.FORCE_PASSWORD_CHANGE.value not in verbs and Verb.BLOCK_SIGN_IN.value not in verbs
    assert Verb.REVOKE_SESSIONS.value in verbs
    everything = " ".join(texts(card))
    assert "stel het wachtwoord daar opnieuw in" in everything
    assert "schakel het daar uit" in everything


# ------------------------------------------------------------------------------------- latest actions


def test_latest_actions_newest_first_at_most_five() -> None:
    notes = [ActionNote("note.unblocked", f"Admin {i}", NOW + timedelta(minutes=i)) for i in range(8)]
    notes.append(ActionNote("note.rule_disabled", HOSTILE_NAME, NOW - timedelta(hours=1), {"rule": HOSTILE_RULE}))
    card = card_for("adele", latest_actions=notes)
    shown = [line for line in lines(card) if line.startswith("Unblocked by")]
    assert len(shown) == MAX_ACTION_NOTES
    assert shown[0] == "Unblocked by Admin 7 at 22 Oct 2024, 12:07 UTC"
    assert "Admin 7" in run_texts(card)
    assert_tenant_text_inert(card)


def test_latest_action_with_an_unknown_key_still_reads() -> None:
    card = card_for("adele", latest_actions=[ActionNote("note.from_the_future", "Alex", NOW)])
    assert "Action by Alex at 22 Oct 2024, 12:00 UTC" in lines(card)


# ----------------------------------------------------------------------------------------- language


def test_dutch_card_reads_dutch() -> None:
    card = card_for("megan_admin", locale="nl-NL", gate=GateInfo("gate.secure_first"))
    everything = " ".join(texts(card))
    for word in ("Gecompromitteerd", "Wat ik vond", "Wat te doen", "Het account beveiligen",
                 "Toch deblokkeren", "Vernieuwen", "Dringend"):
        assert word in everything, word
    for english in ("What I found", "What to do", "Refresh", "Unblock anyway"):
        assert english not in everything, english


# ------------------------------------------------------------------------------------- hostile tenant text


def hostile_story() -> Json:
    story = many_rules(3, HOSTILE_RULE)
    story["user"] = {**story["user"], "displayName": HOSTILE_NAME, "department": "**Sales** [x](https://evil.example)",
                     "jobTitle": "<script>\u202e"}
    story["rules"].append({"id": "AQAAAJ5dZqA=", "displayName": "**urgent**\u200b", "isEnabled": True,
                           "actions": {"delete": True}})
    story["mailbox"] = {**story["mailbox"], "ForwardingSmtpAddress": "smtp:[a](https://evil.example)@gmail.com"}
    story["sign_ins"] = [*story["sign_ins"], {
        "id": "s-evil", "createdDateTime": "2024-10-22T10:00:00Z", "userId": MEGAN, "clientAppUsed": "Browser",
        "ipAddress": "203.0.113.9", "location": {"city": "<script>alert(1)</script>", "countryOrRegion": "RU"},
        "status": {"errorCode": 0}}]
    return story


@pytest.mark.parametrize("locale", ["en-US", "nl-NL"])
def test_hostile_tenant_text_stays_in_cleaned_runs(locale: str) -> None:
    notes = [ActionNote("note.rule_disabled", HOSTILE_NAME, NOW, {"rule": HOSTILE_RULE})]
    investigation = investigate(hostile_story())
    rule_id = next(s.target_id for s in investigation.assessment.recommended_steps if s.code == "disable_rule")
    states = {step_key("disable_rule", rule_id): StepState("disable_rule", rule_id, HOSTILE_NAME, NOW)}
    card = findings_card(investigation, case_id=CASE, viewer_can_act=True, locale=locale,
                         step_states=states, latest_actions=notes, gate=GateInfo("gate.secure_first"))
    assert_valid_card(card)
    assert_tenant_text_inert(card)
    runs = run_texts(card)
    assert HOSTILE_RULE in runs
    assert "**urgent**" in runs
    # The sign-in's city is in a folded evidence row, whose runs are joined (card size): inside a TextRun still.
    assert any("<script>alert(1)</script>" in r for r in runs)
    name_runs = [r for r in runs if r.startswith("**urgent** <script>")]
    assert name_runs and all(len(r) <= 200 for r in name_runs)
    assert all("\u202e" not in r and "\u200b" not in r for r in runs)
    assert len(json.dumps(card)) < TEAMS_MESSAGE_LIMIT
    # The fallback text may be rendered as Markdown: the name is escaped there.
    assert "\\*\\*urgent\\*\\*" in card["fallbackText"]


_HOSTILE_CHARS = st.one_of(
    st.characters(codec="utf-8"),
    st.sampled_from(list("[]()*_`#<>|~\\!:.-\u200b\u200f\u202a\u202e\u2066\ufeff\x00\x1b\n\r\t")),
)
_HOSTILE_TEXT = st.text(_HOSTILE_CHARS, max_size=300)
MARK = "ZQXMARK"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=_HOSTILE_TEXT, rule=_HOSTILE_TEXT, city=_HOSTILE_TEXT, locale=st.sampled_from(["en", "nl-NL"]),
       can_act=st.booleans())
def test_random_hostile_names_never_break_the_card(name: str, rule: str, city: str, locale: str,
                                                   can_act: bool) -> None:
    story = megan()
    story["user"] = {**story["user"], "displayName": MARK + name, "department": MARK + city}
    story["rules"] = [{**story["rules"][0], "displayName": MARK + rule}]
    story["detections"] = [{**story["detections"][0], "location": {"countryOrRegion": "NG", "city": MARK + city}}]
    notes = [ActionNote("note.rule_disabled", MARK + name, NOW, {"rule": MARK + rule})]
    card = findings_card(investigate(story), case_id=CASE, viewer_can_act=can_act, locale=locale,
                         latest_actions=notes)
    assert_valid_card(card)
    for text in markdown_texts(card)[:-1]:
        assert MARK not in text
    # The fallback text is the one Markdown place the name goes, escaped.
    assert card["fallbackText"].endswith(md_escape(MARK + name, 80))
    assert any(MARK in r for r in run_texts(card))
    for text in run_texts(card):
        assert is_plain_line(text)
    for action in executes(card):
        assert action["title"] == clean(action["title"], 200)
        assert set(action["data"]) <= ALLOWED_DATA_KEYS


# ------------------------------------------------------------------------------------------- helper


def test_split_template() -> None:
    assert split_template("Rule “{rule}” sends to {targets}") == [
        ("Rule “", False), ("rule", True), ("” sends to ", False), ("targets", True)]
    assert split_template("no placeholders") == [("no placeholders", False)]
    assert split_template("broken {") == [("broken {", False)]
    assert split_template("{{literal}}") == [("{", False), ("literal}", False)]

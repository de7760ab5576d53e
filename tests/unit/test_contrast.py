"""WCAG 2.x AA contrast of every coloured text on every card, in Teams' light and dark themes.

The colours are those of Teams' Adaptive Card host configs as the Adaptive Cards designer ships them:
microsoft/AdaptiveCards `samples/HostConfig/microsoft-teams-light.json` @ d9a620113d3725c061f42c4722ef65efbc030756
and `samples/HostConfig/microsoft-teams-dark.json` @ 65d673c715b74c294af6003b7ec57db05cecadc2 (the files the
designer's Teams container imports). Colours there are `#AARRGGBB` when they have eight digits; a translucent
foreground (subtle text) is composited over its container's background before the ratio is taken.

The contrast ratio is WCAG 2.x's (https://www.w3.org/TR/WCAG22/#dfn-contrast-ratio, relative luminance of sRGB):
at least 4.5:1 for normal text, 3:1 for large text (at least 24 px, or bold at least 18.66 px; the host configs'
font sizes decide: only ExtraLarge, 24 px, is large, bold Large is 18 px).

Every card our card functions produce is walked: findings (the verdict stories, states, gate, confirmation), the
triage list, its confirmation and result, alerts, the user's report and status cards, help, diagnose and the
progress cards, in both languages. Each text's colour is checked against the nearest enclosing container's style.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cards.alerts import announce, look_anyway_card, restriction_alert_card
from cards.diagnose import diagnose_card
from cards.findings import ActionNote, GateInfo, Notice, StepState, confirmation_card, findings_card, step_key
from cards.help import help_card, welcome_card
from cards.progress import progress_card
from cards.report import not_restricted_card, restricted_card, status_card
from cards.triage import (
    BulkOutcome,
    TriageRow,
    TriageVerdict,
    bulk_confirmation_card,
    bulk_result_card,
    triage_card,
    triage_progress_card,
)
from cards.verbs import Verb
from core.preflight import ExchangeProbe, Problem, ProblemKind, evaluate
from domain.people import Role
from investigation.reason import parse_reason
from tests.unit.test_cards_findings import STORIES
from tests.unit.test_preflight import ALL_PLANS, facts

Json = dict[str, Any]

# containerStyles.<style>.backgroundColor and foregroundColors.<color>.{default,subtle} of each theme.
_COLORS = ("default", "dark", "light", "accent", "good", "warning", "attention")
_LIGHT_FG = {"default": ("#ff252424", "#bf252424"), "dark": ("#252424", "#bf252424"),
             "light": ("#ffffff", "#fff3f2f1"), "accent": ("#6264a7", "#8b8cc7"),
             "good": ("#92c353", "#e592c353"), "warning": ("#f8d22a", "#e5f8d22a"),
             "attention": ("#c4314b", "#e5c4314b")}
_DARK_FG_ON_DARK = {"default": ("#ffffffff", "#bfffffff"), "dark": ("#ff201f1f", "#ff2d2c2c"),
                    "light": ("#ffffffff", "#bfffffff"), "accent": ("#ffa6a7dc", "#ff8b8cc7"),
                    "good": ("#ff92c353", "#e592c353"), "warning": ("#fff8d22a", "#e5f8d22a"),
                    "attention": ("#ffd74654", "#e5d74654")}
# In the dark theme the coloured containers keep light backgrounds, so their default text is dark.
_DARK_FG_ON_COLOUR = {**_DARK_FG_ON_DARK, "default": ("#ff201f1f", "#ff2d2c2c")}
THEMES: dict[str, dict[str, tuple[str, dict[str, tuple[str, str]]]]] = {
    "light": {"default": ("#ffffff", _LIGHT_FG), "emphasis": ("#fff9f8f7", _LIGHT_FG),
              "accent": ("#C7DEF9", _LIGHT_FG), "good": ("#CCFFCC", _LIGHT_FG),
              "attention": ("#FFC5B2", _LIGHT_FG), "warning": ("#FFE2B2", _LIGHT_FG)},
    "dark": {"default": ("#ff2d2c2c", _DARK_FG_ON_DARK), "emphasis": ("#ff292828", _DARK_FG_ON_DARK),
             "accent": ("#C7DEF9", _DARK_FG_ON_COLOUR), "good": ("#CCFFCC", _DARK_FG_ON_COLOUR),
             "attention": ("#FFC5B2", _DARK_FG_ON_COLOUR), "warning": ("#FFE2B2", _DARK_FG_ON_COLOUR)},
}
# fontTypes.default.fontSizes of both host configs (px).
FONT_SIZES = {"small": 12, "default": 14, "medium": 14, "large": 18, "extralarge": 24}
_CONTAINERS = {"Container", "ColumnSet", "Column", "TableCell", "Table"}


def _rgba(value: str) -> tuple[float, tuple[int, int, int]]:
    digits = value.lstrip("#")
    alpha = 1.0
    if len(digits) == 8:
        alpha, digits = int(digits[:2], 16) / 255, digits[2:]
    return alpha, (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16))


def _luminance(rgb: tuple[float, ...]) -> float:
    def channel(value: float) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(foreground: str, background: str) -> float:
    """WCAG's contrast ratio of `foreground` (composited over `background` when translucent) on `background`."""
    alpha, fg = _rgba(foreground)
    _, bg = _rgba(background)
    shown = tuple(alpha * f + (1 - alpha) * b for f, b in zip(fg, bg, strict=True))
    lighter, darker = sorted((_luminance(shown), _luminance(bg)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


@dataclass(frozen=True)
class Text:
    """One piece of text as a host renders it: its colour, subtlety, size and weight, and its container's style."""

    text: str
    style: str
    color: str
    subtle: bool
    size: str
    bold: bool

    @property
    def large(self) -> bool:
        px = FONT_SIZES.get(self.size, 14)
        return px >= 24 or (self.bold and px >= 18.66)


def texts(node: Any, style: str = "default") -> Iterator[Text]:
    """Every text of a card with the style of the container it sits in (the nearest one that sets a style)."""
    if isinstance(node, list):
        for item in node:
            yield from texts(item, style)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    if kind in _CONTAINERS and isinstance(node.get("style"), str):
        style = node["style"].lower()
    if kind in ("TextBlock", "TextRun"):
        yield Text(str(node.get("text", "")), style, str(node.get("color", "default")).lower(),
                   bool(node.get("isSubtle")), str(node.get("size", "default")).lower(),
                   str(node.get("weight", "default")).lower() == "bolder")
    elif kind == "FactSet":
        # factSet.title / value of the host configs: colour Default, not subtle; titles bold.
        for fact in node.get("facts", []):
            yield Text(str(fact.get("title", "")), style, "default", False, "default", True)
            yield Text(str(fact.get("value", "")), style, "default", False, "default", False)
    if kind == "Action.ShowCard":
        yield from texts(node.get("card"), "emphasis")  # actions.showCard.style of both host configs
        return
    for key, value in node.items():
        if key != "card" and isinstance(value, (dict, list)):
            yield from texts(value, style)


def failures(card: Json) -> list[str]:
    """Every text that misses AA in either theme, with the ratio it has."""
    out = []
    for text in texts(card.get("body", [])):
        for theme, styles in THEMES.items():
            background, foregrounds = styles.get(text.style, styles["default"])
            colour = foregrounds.get(text.color, foregrounds["default"])[1 if text.subtle else 0]
            ratio = contrast(colour, background)
            needed = 3.0 if text.large else 4.5
            if ratio < needed:
                out.append(f"{theme}: {text.color}{' subtle' if text.subtle else ''} on {text.style} "
                           f"{ratio:.2f} < {needed} ({text.text[:40]!r})")
    return out


# --------------------------------------------------------------------------------------------- the cards

AT = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
LOCALES = ("en-US", "nl-NL")


def _triage_rows() -> list[TriageRow]:
    return [
        TriageRow("m", "Megan Bowen", "MeganB@example.com", TriageVerdict.compromised, AT,
                  reason_code="multiple_high", reason_params={"count": "2", "codes": "forwarding_rule_external"},
                  case_id="c-m"),
        TriageRow("p", "Patti Fernandez", "PattiF@example.com", TriageVerdict.suspicious, AT,
                  reason_code="medium_only", reason_params={"count": "1", "codes": "legacy_auth_sign_in"},
                  case_id="c-p"),
        TriageRow("g", "Grady Archie", "GradyA@example.com", TriageVerdict.not_checked, None,
                  note_key="triage.reason.not_investigated",
                  restriction=parse_reason("OutboundSpamLast24Hours=120;OutboundMailLast24Hours=150")),
        TriageRow("a", "Adele Vance", "AdeleV@example.com", TriageVerdict.no_signs, AT, reason_code="nothing_found",
                  case_id="c-a", lifts_at=AT + timedelta(hours=6)),
        TriageRow("l", "Lee Gu", "LeeG@example.com", TriageVerdict.no_signs, AT, case_id="c-l", pending=True),
    ]


def all_cards() -> Iterator[tuple[str, Json]]:
    """Every kind of card, from the fixtures the card tests use."""
    rows = _triage_rows()
    later = AT + timedelta(minutes=5)
    for locale in LOCALES:
        for name, investigation in STORIES.items():
            for can_act in (True, False):
                yield f"findings {name} {can_act}", findings_card(investigation, case_id="c1", viewer_can_act=can_act,
                                                                  locale=locale, time_zone="UTC")
        yield "findings states", findings_card(
            STORIES["megan_admin"], case_id="c1", viewer_can_act=True, locale=locale,
            step_states={step_key("revoke_sessions", None): StepState("revoke_sessions", None, "Alex Wilber", later)},
            latest_actions=[ActionNote("note.sessions_revoked", "Alex Wilber", later)],
            gate=GateInfo("gate.secure_first"),
            notices=[Notice("notice.gated", tone="warning"), Notice("notice.gated", tone="good"),
                     Notice("notice.gated", tone="attention")])
        for verb in (Verb.UNBLOCK, Verb.REVOKE_SESSIONS, Verb.BLOCK_SIGN_IN):
            yield f"confirm {verb}", confirmation_card(verb, case_id="c1", name="Megan", upn="m@example.com",
                                                       locale=locale, lifts_at=later, time_zone="UTC")
        yield "triage", triage_card(rows, page=0, locale=locale, bulk_count=1, bulk_lifting=1,
                                    unblockable={"c-a"}, notice_key="triage.confirm.changed")
        yield "triage staff", triage_card(rows, page=0, locale=locale)
        yield "triage confirm", bulk_confirmation_card(rows[3:4], list_id="a" * 20, shown_at="1", locale=locale,
                                                       own_left_out=True, notice_key="triage.confirm.changed",
                                                       rest_list_id="b" * 20)
        yield "triage result", bulk_result_card(
            [BulkOutcome("Adele", "a@example.com", "unblocked"), BulkOutcome("Lee", "l@example.com", "failed", "x"),
             BulkOutcome("Lee", "l@example.com", "skipped", actor="Alex", at=AT)], locale=locale)
        yield "triage progress", triage_progress_card(4, locale)
        alert = restriction_alert_card(name="Megan", upn="m@example.com", since=AT, reason="Compromised=true",
                                       origin="watch", locale=locale, time_zone="UTC")
        yield "alert", alert
        yield "alert report", restriction_alert_card(name="Megan", upn="m@example.com", since=None, reason="",
                                                     origin="report", reporter="Megan", locale=locale, time_zone="UTC")
        yield "alert findings", announce(findings_card(STORIES["megan"], case_id="c1", viewer_can_act=True,
                                                       locale=locale), origin="triage", at=AT, locale=locale,
                                         time_zone="UTC")
        yield "look anyway", look_anyway_card(name="Lynne", upn="l@example.com", checked=AT, locale=locale,
                                              time_zone="UTC")
        for state in ("posted", "already", "pending"):
            yield f"report {state}", restricted_card(address="m@example.com", since=AT, it_state=state,
                                                     locale=locale, time_zone="UTC")
        yield "not restricted", not_restricted_card(address="l@example.com", locale=locale, other_addresses=True)
        for status in ("open", "unblock_pending", "resolved", "closed"):
            yield f"status {status}", status_card(account="m@example.com", status=status, opened=AT, updated=AT,
                                                  resolved=AT if status == "resolved" else None, locale=locale,
                                                  time_zone="UTC")
        yield "welcome", welcome_card(locale)
        for role in Role:
            yield f"help {role}", help_card("Alex", role, locale)
        probes = {p: None for p in ExchangeProbe} | {
            ExchangeProbe.MAILBOX: Problem(ProblemKind.EXCHANGE_ROLE, "Get-Mailbox")}
        yield "diagnose", diagnose_card(evaluate(facts(service_plans=ALL_PLANS - {"AAD_PREMIUM_P2"},
                                                       exchange_probes=probes)), locale)
        yield "diagnose ok", diagnose_card(evaluate(facts()), locale)
        yield "progress", progress_card("Megan Bowen", locale)


CARDS = list(all_cards())


@pytest.mark.parametrize(("name", "card"), CARDS, ids=[f"{i}-{name}" for i, (name, _) in enumerate(CARDS)])
def test_every_text_meets_wcag_aa_in_both_teams_themes(name: str, card: Json) -> None:
    assert failures(card) == []


def test_the_walk_sees_every_kind_of_card_and_coloured_text() -> None:
    kinds = {name.split()[0] for name, _card in CARDS}
    assert kinds >= {"findings", "confirm", "triage", "alert", "report", "status", "welcome", "help", "diagnose",
                     "progress", "look", "not"}
    styles = {text.style for _name, card in CARDS for text in texts(card["body"])}
    assert styles >= {"good", "warning", "attention", "emphasis"}


def test_the_check_fails_the_colours_the_issue_names() -> None:
    """Yellow on orange and green on green (the triage rows before this change) fail; default text passes."""
    def card(color: str, style: str) -> Json:
        return {"body": [{"type": "Container", "style": style,
                          "items": [{"type": "TextBlock", "text": "x", "color": color}]}]}

    assert failures(card("Warning", "warning")) and failures(card("Good", "good"))
    assert failures(card("Attention", "default"))  # 3.24:1 on the dark theme's background
    assert failures(card("Good", "default"))  # 2.07:1 on white
    assert failures(card("Default", "warning")) == failures(card("Accent", "default")) == []
    # Large text needs 3:1 only: ExtraLarge (24 px) is large, bold Large (18 px) is not.
    big = {"body": [{"type": "TextBlock", "text": "x", "color": "Attention", "size": "ExtraLarge"}]}
    bold = {"body": [{"type": "TextBlock", "text": "x", "color": "Attention", "size": "Large", "weight": "Bolder"}]}
    assert failures(big) == [] and failures(bold)


def test_contrast_formula_matches_wcag_reference_values() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#ffffff", "#ffffff") == pytest.approx(1.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
    # Translucent subtle text is blended first: fully transparent text has no contrast at all.
    assert contrast("#00000000", "#ffffff") == pytest.approx(1.0)

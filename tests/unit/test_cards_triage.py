"""The triage cards: schema-valid in English and Dutch, worst first, 25 per page, tenant text inert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cards.triage import (
    MAX_CONFIRM_LINES,
    PAGE_SIZE,
    BulkOutcome,
    TriageRow,
    TriageVerdict,
    bulk_confirmation_card,
    bulk_result_card,
    ordered,
    triage_card,
    triage_progress_card,
    triage_verdict,
)
from investigation.reason import parse_reason
from tests.cardschema import assert_valid_card, lines, texts

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
LOCALES = ["en-US", "nl-NL"]
EVIL = "**Boss** [click](https://evil.example) <at>x</at>\u202egnp.exe"


def row(name: str, verdict: TriageVerdict, hours_ago: float | None = 1.0, **kw: Any) -> TriageRow:
    since = T0 - timedelta(hours=hours_ago) if hours_ago is not None else None
    upn = kw.pop("upn", f"{name.split()[0].lower()}@example.com")
    return TriageRow(account_id=kw.pop("account_id", f"id-{name}"), name=name, upn=upn, verdict=verdict,
                     since=since, **kw)


def many(count: int) -> list[TriageRow]:
    return [row(f"User {i:03d}", TriageVerdict.no_signs, hours_ago=count - i) for i in range(count)]


def actions(card: dict[str, Any]) -> list[dict[str, Any]]:
    return list(card.get("actions", []))


def account_names(card: dict[str, Any]) -> list[str]:
    """The first run of each row (the account's name), top to bottom."""
    return [c["items"][0]["inlines"][0]["text"] for c in card["body"]
            if c.get("type") == "Container" and c.get("separator")]


def all_blocks(node: Any, kind: str) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        found = [node] if node.get("type") == kind else []
        return found + [b for v in node.values() for b in all_blocks(v, kind)]
    if isinstance(node, list):
        return [b for item in node for b in all_blocks(item, kind)]
    return []


@pytest.mark.parametrize("locale", LOCALES)
def test_every_card_is_schema_valid(locale: str) -> None:
    rows = [row("Megan Bowen", TriageVerdict.compromised, reason_code="multiple_high",
                reason_params={"count": "2", "codes": "forwarding_rule_external, impossible_travel"}),
            row("Patti Fernandez", TriageVerdict.suspicious, reason_code="medium_only",
                reason_params={"count": "1", "codes": "legacy_auth_sign_in"}),
            row("Grady Archie", TriageVerdict.not_checked, None, note_key="triage.reason.not_investigated",
                restriction=parse_reason("OutboundSpamLast24Hours=120;OutboundMailLast24Hours=150")),
            row("Adele Vance", TriageVerdict.no_signs, reason_code="nothing_found", pending=True)]
    cards = [
        triage_card(rows, page=0, locale=locale, bulk_count=1),
        triage_card(rows, page=0, locale=locale, bulk_count=None),
        triage_card([], page=0, locale=locale, bulk_count=0),
        triage_card(many(60), page=1, locale=locale, bulk_count=60, own_left_out=True,
                    notice_key="triage.confirm.changed"),
        triage_progress_card(40, locale),
        bulk_confirmation_card(rows[3:], list_id="a" * 20, shown_at="1795852800000", locale=locale),
        bulk_confirmation_card([], list_id="a" * 20, shown_at="1795852800000", locale=locale),
        bulk_result_card([BulkOutcome("Adele Vance", "AdeleV@example.com", "unblocked"),
                          BulkOutcome("Lee Gu", "LeeG@example.com", "skipped", actor="Alex Wilber", at=T0),
                          BulkOutcome("Info", "info@example.com", "skipped"),
                          BulkOutcome("Diego", "DiegoS@example.com", "failed", "Microsoft 365 refused the request.")],
                         locale=locale, time_zone="Europe/Amsterdam"),
    ]
    for card in cards:
        assert_valid_card(card)
        assert card["version"] == "1.5"


def test_worst_first_then_oldest_first() -> None:
    rows = [
        row("New no signs", TriageVerdict.no_signs, 1),
        row("Old no signs", TriageVerdict.no_signs, 30),
        row("Unknown since compromised", TriageVerdict.compromised, None),
        row("New compromised", TriageVerdict.compromised, 2),
        row("Old compromised", TriageVerdict.compromised, 20),
        row("Not checked", TriageVerdict.not_checked, 5),
        row("Suspicious", TriageVerdict.suspicious, 50),
    ]
    card = triage_card(rows, page=0, locale="en-US", bulk_count=2)
    assert account_names(card) == ["Old compromised", "New compromised", "Unknown since compromised", "Suspicious",
                                   "Not checked", "Old no signs", "New no signs"]
    assert [r.name for r in ordered(rows)] == account_names(card)
    shown = " ".join(lines(card))
    assert "3 compromised · 1 suspicious · 1 not checked · 2 no signs of compromise" in shown


def test_verdicts_map_to_the_list_s_four_words() -> None:
    assert [triage_verdict(v) for v in ("compromised", "suspicious", "no_signs", "incomplete", None)] == [
        TriageVerdict.compromised, TriageVerdict.suspicious, TriageVerdict.no_signs, TriageVerdict.not_checked,
        TriageVerdict.not_checked]


def test_pages_of_25_with_previous_and_next_carrying_only_the_page() -> None:
    rows = many(60)
    first = triage_card(rows, page=0, locale="en-US", bulk_count=60)
    assert len(account_names(first)) == PAGE_SIZE == 25
    assert account_names(first)[0] == "User 000"  # the longest restricted
    assert [(a["title"], a["data"]) for a in actions(first)] == [
        ("Next", {"verb": "triage_page", "page": "1"}),
        ("Unblock all with no signs of compromise (60)", {"verb": "triage_unblock"}),
    ]
    middle = triage_card(rows, page=1, locale="en-US", bulk_count=None)
    assert account_names(middle)[0] == "User 025"
    assert [a["data"] for a in actions(middle)] == [{"verb": "triage_page", "page": "0"},
                                                    {"verb": "triage_page", "page": "2"}]
    assert "Page 2 of 3" in " ".join(lines(middle))
    last = triage_card(rows, page=2, locale="en-US", bulk_count=None)
    assert account_names(last) == [f"User {i:03d}" for i in range(50, 60)]
    assert [a["data"] for a in actions(last)] == [{"verb": "triage_page", "page": "1"}]
    # A page past the end (the list shrank since the card was drawn) shows the last page.
    assert account_names(triage_card(rows, page=99, locale="en-US")) == account_names(last)
    for card in (first, middle, last):
        for action in actions(card):
            assert action["type"] == "Action.Execute" and action["associatedInputs"] == "none"


def test_one_page_has_no_paging_buttons_and_staff_see_no_bulk_button() -> None:
    rows = many(3)
    staff = triage_card(rows, page=0, locale="en-US", bulk_count=None)
    assert actions(staff) == []
    assert "Only security admins can unblock accounts from this list." in texts(staff)
    nothing_to_unblock = triage_card([row("A", TriageVerdict.compromised)], page=0, locale="en-US", bulk_count=0)
    assert actions(nothing_to_unblock) == []
    empty = triage_card([], page=0, locale="nl-NL", bulk_count=0)
    assert "Er is op dit moment geen account dat geen mail mag versturen." in texts(empty)
    assert "Geblokkeerde accounts (0)" in texts(empty)


def test_a_row_says_verdict_since_pending_and_reason() -> None:
    adele = row("Adele Vance", TriageVerdict.no_signs, 3, reason_code="nothing_found", pending=True)
    grady = row("Grady Archie", TriageVerdict.not_checked, 4, note_key="triage.reason.not_investigated")
    raw = row("Info", TriageVerdict.not_checked, 5, restriction=parse_reason("OutboundSpamLast24Hours=242"))
    shown = lines(triage_card([adele, grady, raw], page=0, locale="en-US", time_zone="Europe/Amsterdam"))
    assert "Adele Vance  adele@example.com" in shown
    assert ("No signs of compromise · restricted since 28 Nov 2026, 06:00 CET · unblock pending" in shown)
    assert "Nothing suspicious found." in shown
    assert "Not investigated yet: ask for \"triage\" again to check it." in shown
    assert any("242" in line for line in shown)
    dutch = lines(triage_card([adele], page=0, locale="nl-NL", time_zone="Europe/Amsterdam"))
    assert "Geen tekenen van misbruik · geblokkeerd sinds 28 nov 2026, 06:00 CET · deblokkering loopt" in dutch
    assert "Niets verdachts gevonden." in dutch


@pytest.mark.parametrize("locale", LOCALES)
def test_tenant_text_only_reaches_text_runs_cleaned(locale: str) -> None:
    evil = row(EVIL, TriageVerdict.suspicious, upn="evil\u202e@example.com", reason_code="medium_only",
               reason_params={"count": "1", "codes": EVIL})
    cards = [triage_card([evil], page=0, locale=locale, bulk_count=1),
             bulk_confirmation_card([evil], list_id="a" * 20, shown_at="1", locale=locale),
             bulk_result_card([BulkOutcome(EVIL, "evil@example.com", "skipped", actor=EVIL, at=T0)], locale=locale)]
    for card in cards:
        assert_valid_card(card)
        for block in all_blocks(card, "TextBlock"):
            assert "evil.example" not in block["text"] and "Boss" not in block["text"]
        assert "Boss" not in card.get("fallbackText", "")
        runs = [r["text"] for b in all_blocks(card, "RichTextBlock") for r in b["inlines"]]
        assert any("**Boss** [click](https://evil.example) <at>x</at>gnp.exe" in r for r in runs)
        assert not any("\u202e" in r for r in runs)
        for action in actions(card):
            assert "Boss" not in action["title"] and "Boss" not in str(action["data"])


def test_confirmation_lists_every_account_and_confirm_carries_the_fingerprint() -> None:
    rows = [row("Adele Vance", TriageVerdict.no_signs, 2), row("Lee Gu", TriageVerdict.no_signs, 9)]
    card = bulk_confirmation_card(rows, list_id="0123456789abcdef0123", shown_at="1795852800000", locale="en-US",
                                  own_left_out=True)
    shown = lines(card)
    assert "Unblock 2 accounts with no signs of compromise?" in shown
    assert "Lee Gu  lee@example.com" in shown and "Adele Vance  adele@example.com" in shown
    assert "Your own account is left out of the bulk unblock: ask another security admin." in shown
    confirm, cancel = actions(card)
    assert confirm["title"] == "Yes, unblock 2"
    assert confirm["data"] == {"verb": "triage_unblock", "confirm": "1", "list": "0123456789abcdef0123",
                               "at": "1795852800000"}
    assert cancel["data"] == {"verb": "triage_page", "page": "0"}
    dutch = bulk_confirmation_card(rows, list_id="x" * 20, shown_at="1", locale="nl-NL")
    assert "2 accounts zonder tekenen van misbruik deblokkeren?" in lines(dutch)
    assert [a["title"] for a in actions(dutch)] == ["Ja, deblokkeer 2", "Annuleren"]


def test_a_long_confirmation_names_the_first_hundred_and_counts_the_rest() -> None:
    card = bulk_confirmation_card(many(130), list_id="a" * 20, shown_at="1", locale="en-US")
    named = [line for line in lines(card) if line.startswith("User ")]
    assert len(named) == MAX_CONFIRM_LINES
    assert "… and 30 more." in lines(card)
    assert actions(card)[0]["title"] == "Yes, unblock 130"
    assert len(str(card)) < 28_000


@pytest.mark.parametrize(("locale", "expected"), [
    ("en-US", ["Bulk unblock: 1 unblocked, 1 skipped, 1 failed",
               "Unblocked: sending usually resumes within an hour, at most 24 hours.",
               "Skipped: already unblocked by Alex Wilber at 28 Nov 2026, 09:00 CET.",
               "Failed: Microsoft 365 refused the request."]),
    ("nl-NL", ["Deblokkeren: 1 gedeblokkeerd, 1 overgeslagen, 1 mislukt",
               "Gedeblokkeerd: versturen lukt meestal binnen een uur weer, uiterlijk na 24 uur.",
               "Overgeslagen: al gedeblokkeerd door Alex Wilber op 28 nov 2026, 09:00 CET.",
               "Mislukt: Microsoft 365 refused the request."]),
])
def test_the_result_says_what_happened_to_each_account(locale: str, expected: list[str]) -> None:
    card = bulk_result_card([BulkOutcome("Adele Vance", "AdeleV@example.com", "unblocked"),
                             BulkOutcome("Lee Gu", "LeeG@example.com", "skipped", actor="Alex Wilber", at=T0),
                             BulkOutcome("Diego", "DiegoS@example.com", "failed",
                                         "Microsoft 365 refused the request.")],
                            locale=locale, time_zone="Europe/Amsterdam")
    shown = lines(card)
    for line in expected:
        assert line in shown
    assert "Adele Vance  AdeleV@example.com" in shown
    assert [a["data"] for a in actions(card)] == [{"verb": "triage_page", "page": "0"}]

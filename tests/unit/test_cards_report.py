"""The report and alert cards: schema-valid in both languages, tenant text inert, our text from the catalogs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cards.alerts import look_anyway_card, restriction_alert_card
from cards.report import not_restricted_card, restricted_card, status_card
from tests.cardschema import assert_valid_card, texts

HOSTILE = "[click](https://evil.example) **urgent**\u202e"
SINCE = datetime(2026, 11, 28, 3, 12, 44, tzinfo=UTC)


def _runs(card: dict[str, object]) -> list[str]:
    body = card["body"]
    assert isinstance(body, list)
    return [i["text"] for b in body if b["type"] == "RichTextBlock" for i in b["inlines"]]


def _text_blocks(card: dict[str, object]) -> list[str]:
    body = card["body"]
    assert isinstance(body, list)
    return [b["text"] for b in body if b["type"] == "TextBlock"]


@pytest.mark.parametrize("locale", ["en-US", "nl-NL"])
@pytest.mark.parametrize("state", ["posted", "already", "pending", "bogus"])
def test_restricted_card(locale: str, state: str) -> None:
    card = restricted_card(address="MeganB@example.com", since=SINCE, it_state=state, locale=locale,
                           time_zone="Europe/Amsterdam", other_addresses=True)
    assert_valid_card(card)
    assert "MeganB@example.com" in _runs(card)
    assert any("04:12 CET" in t for t in texts(card))
    assert "actions" not in card  # a user never gets buttons that act


@pytest.mark.parametrize("locale", ["en-US", "nl-NL"])
def test_not_restricted_card_offers_notify_it(locale: str) -> None:
    card = not_restricted_card(address="LynneR@example.com", locale=locale)
    assert_valid_card(card)
    actions = card["actions"]
    assert isinstance(actions, list)
    assert [a["data"] for a in actions] == [{"verb": "notify_it"}]


@pytest.mark.parametrize("status", ["open", "unblock_pending", "resolved", "closed", "weird"])
@pytest.mark.parametrize("locale", ["en-US", "nl-NL"])
def test_status_card(status: str, locale: str) -> None:
    resolved = SINCE if status == "resolved" else None
    card = status_card(account="MeganB@example.com", status=status, opened=SINCE, updated=SINCE, resolved=resolved,
                       locale=locale, time_zone="Europe/Amsterdam")
    assert_valid_card(card)
    assert "MeganB@example.com" in _runs(card)


@pytest.mark.parametrize("locale", ["en-US", "nl-NL"])
@pytest.mark.parametrize("origin", ["watch", "report"])
def test_alert_card_keeps_tenant_text_inert(locale: str, origin: str) -> None:
    card = restriction_alert_card(name=HOSTILE, upn="MeganB@example.com", since=SINCE,
                                  reason="OutboundSpamLast24Hours=187;OutboundMailLast24Hours=203;"
                                         "OutboundSpamPercent=92", origin=origin, locale=locale,
                                  time_zone="Europe/Amsterdam")
    assert_valid_card(card)
    assert "[click](https://evil.example) **urgent**" in _runs(card)
    assert all("evil" not in t for t in _text_blocks(card))
    assert any("187" in r for r in _runs(card))  # the parsed reason


def test_alert_card_with_an_unreadable_reason_and_no_date() -> None:
    card = restriction_alert_card(name="Megan", upn="m@example.com", since=None, reason="<script>x</script>",
                                  origin="watch", locale="en", time_zone=None)
    assert_valid_card(card)
    assert "Microsoft 365 did not say since when." in texts(card)
    assert all("<script>" not in t for t in _text_blocks(card))


@pytest.mark.parametrize("locale", ["en-US", "nl-NL"])
def test_look_anyway_card(locale: str) -> None:
    card = look_anyway_card(name=HOSTILE, upn="LynneR@example.com", checked=SINCE, locale=locale,
                            time_zone="Europe/Amsterdam")
    assert_valid_card(card)
    assert "LynneR@example.com" in _runs(card)
    assert all("evil" not in t for t in _text_blocks(card))

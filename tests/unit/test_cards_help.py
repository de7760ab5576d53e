"""The welcome and help cards: schema-valid, role-appropriate, tenant text inert."""

from __future__ import annotations

import pytest

from cards.help import help_card, help_card_from_models, welcome_card
from cards.text import clean, md_escape
from domain.people import Role
from tests.cardschema import assert_valid_card, texts


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("locale", ["en-US", "nl-NL"])
def test_help_card_is_valid(role: Role, locale: str) -> None:
    assert_valid_card(help_card("Alex Wilber", role, locale))


def test_welcome_card_is_valid() -> None:
    assert_valid_card(welcome_card("nl-NL"))


def test_help_card_shows_what_the_role_allows() -> None:
    user = " ".join(texts(help_card("Megan", Role.USER, "en")))
    staff = " ".join(texts(help_card("Isaiah", Role.IT_STAFF, "en")))
    admin = " ".join(texts(help_card("Alex", Role.SECURITY_ADMIN, "en")))
    assert "**investigate" not in user and "**unblock**" not in user
    assert "**investigate" in staff and "**unblock**" not in staff
    assert "**unblock**" in admin and "alerts here" in admin


def test_help_card_in_dutch() -> None:
    assert "Wat ik voor je kan doen" in texts(help_card("Megan", Role.USER, "nl-NL"))


def test_hostile_display_name_is_plain_text() -> None:
    card = help_card("[click](https://evil.example) **urgent**\u202e", Role.USER, "en")
    runs = [i for b in card["body"] if b["type"] == "RichTextBlock" for i in b["inlines"]]
    assert any(r["text"] == "[click](https://evil.example) **urgent**" for r in runs)
    assert all(b["type"] != "TextBlock" or "evil" not in b["text"] for b in card["body"])


def test_clean_and_escape() -> None:
    assert clean("a\u200bb\u202ec\n\td") == "abc d"
    assert clean("x" * 100_000, limit=10) == "x" * 9 + "…"
    assert md_escape("[a](http://b)") == r"\[a\]\(http\:\/\/b\)".replace(r"\/", "/")
    assert md_escape("**x**") == r"\*\*x\*\*"


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("locale", ["en-US", "nl-NL", None, "xx"])
@pytest.mark.parametrize(
    "name", ["Alex Wilber", "", "\u200b", 'Quote " and \\ back\nslash', "Zoë 🙂 \u202e", "x" * 500])
def test_help_card_served_per_role_and_locale_equals_the_built_card(name: str, role: Role, locale: str) -> None:
    assert help_card(name, role, locale) == help_card_from_models(name, role, locale)


def test_served_help_cards_are_independent_copies() -> None:
    first = help_card("Megan", Role.USER, "en")
    first["body"].clear()
    first["actions"][0]["title"] = "changed"
    second = help_card("Megan", Role.USER, "en")
    assert second == help_card_from_models("Megan", Role.USER, "en") and second["body"]

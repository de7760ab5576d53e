"""The plural helper: the singular form for exactly one, the general form for 0 and 2+, in English and Dutch, chosen
by `t` from the count it is given (an int or a string of digits) and by the card runs from their values."""

from __future__ import annotations

import string

import pytest

from locales import CATALOGS, ONE, plural, plural_category, t, template

CASES = {
    # key: {lang: (0, 1, 2)}
    "triage.confirm.title": {
        "en": ("Unblock 0 accounts with no signs of compromise?", "Unblock 1 account with no signs of compromise?",
               "Unblock 2 accounts with no signs of compromise?"),
        "nl": ("0 accounts zonder tekenen van misbruik deblokkeren?", "1 account zonder tekenen van misbruik "
               "deblokkeren?", "2 accounts zonder tekenen van misbruik deblokkeren?"),
    },
    "sendnote.sent": {
        "en": ("Sent to 0 people.", "Sent to 1 person.", "Sent to 2 people."),
        "nl": ("Verstuurd naar 0 personen.", "Verstuurd naar 1 persoon.", "Verstuurd naar 2 personen."),
    },
}


@pytest.mark.parametrize("lang", ["en", "nl"])
@pytest.mark.parametrize("key", sorted(CASES))
def test_zero_one_two(key: str, lang: str) -> None:
    assert tuple(plural(lang, key, n) for n in (0, 1, 2)) == CASES[key][lang]
    assert tuple(t(lang, key, count=n) for n in (0, 1, 2)) == CASES[key][lang]


@pytest.mark.parametrize("lang", ["en", "nl"])
def test_english_and_dutch_have_one_and_other(lang: str) -> None:
    assert [plural_category(lang, n) for n in (0, 1, 2, 11, 21, 101)] == ["other", "one"] + ["other"] * 4


@pytest.mark.parametrize("lang", ["en", "nl"])
def test_every_singular_differs_from_its_general_form(lang: str) -> None:
    assert [k for k, v in ONE[lang].items() if v == CATALOGS[lang][k]] == []
    for key, singular in ONE[lang].items():
        assert t(lang, key, count=1, **_filler(singular)) == singular.format_map({"count": 1} | _filler(singular))
        assert t(lang, key, count=2, **_filler(singular)) != t(lang, key, count=1, **_filler(singular))


def _filler(template_text: str) -> dict[str, object]:
    return {name: "x" for _, name, _, _ in string.Formatter().parse(template_text) if name and name != "count"}


def test_a_count_given_as_digits_picks_the_form_too() -> None:
    assert t("en", "sendnote.sent", count="1") == "Sent to 1 person."
    assert t("en", "sendnote.sent", count=" 1 ") == "Sent to  1  person."
    assert t("nl", "sendnote.sent", count="12") == "Verstuurd naar 12 personen."


def test_no_count_or_a_non_number_keeps_the_general_form() -> None:
    assert t("en", "sendnote.sent") == "Sent to {count} people."
    assert t("en", "sendnote.sent", count="one") == "Sent to one people."
    assert t("en", "sendnote.sent", count=True) == "Sent to True people."  # a bool is not a count


def test_a_message_without_a_singular_form_is_unchanged() -> None:
    assert t("en", "triage.title", count=1) == "Restricted accounts (1)"
    assert template("en", "triage.title", {"count": 1}) == CATALOGS["en"]["triage.title"]


def test_the_dutch_singular_falls_back_like_the_message() -> None:
    # A locale without a catalog speaks English, singular included; an unknown key is itself.
    assert t("de-DE", "sendnote.sent", count=1) == "Sent to 1 person."
    assert t("nl-BE", "sendnote.sent", count=1) == "Verstuurd naar 1 persoon."
    assert t("en", "no.such.key", count=1) == "no.such.key"

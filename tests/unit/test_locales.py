"""Message catalogs: English and Dutch define the same keys with the same placeholders."""

from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta

from locales import CATALOGS, format_datetime, format_duration, language_of, t


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_catalogs_have_the_same_keys() -> None:
    assert sorted(set(CATALOGS["en"]) - set(CATALOGS["nl"])) == []
    assert sorted(set(CATALOGS["nl"]) - set(CATALOGS["en"])) == []


def test_catalogs_use_the_same_placeholders() -> None:
    en, nl = CATALOGS["en"], CATALOGS["nl"]
    mismatched = [k for k in en if _placeholders(en[k]) != _placeholders(nl[k])]
    assert mismatched == []


def test_language_follows_teams_locale() -> None:
    assert language_of("nl-NL") == "nl"
    assert language_of("nl-BE") == "nl"
    assert language_of("en-GB") == "en"
    assert language_of("de-DE") == "en"
    assert language_of(None) == "en"
    assert t("nl-NL", "cancel.done") == "Geannuleerd."
    assert t("fr-FR", "cancel.done") == "Cancelled."


def test_missing_parameter_stays_visible_instead_of_raising() -> None:
    assert "{name}" in t("en", "help.role.user")


def test_dates_in_the_speakers_language_and_zone() -> None:
    moment = datetime(2026, 11, 28, 9, 32, tzinfo=UTC)
    assert format_datetime(moment, "nl-NL", "Europe/Amsterdam") == "28 nov 2026, 10:32 CET"
    assert format_datetime(moment, "en-US", "America/New_York") == "28 Nov 2026, 04:32 EST"
    assert format_datetime(moment, "en-US", "Not/AZone") == "28 Nov 2026, 09:32 UTC"
    assert format_duration(timedelta(hours=3), "nl") == "3 uur"
    assert format_duration(timedelta(days=3), "en") == "3 days"

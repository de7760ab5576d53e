"""Times in finding params and evidence rows are shown in the viewer's zone; the card parses them itself.

The cards are pure on investigation records and do not import `m365`, so they read the one format the
indicators write (`investigation.indicators._iso`: ISO 8601 in UTC, `…Z`) without Microsoft's parsers.
"""

from __future__ import annotations

import pytest

from cards.findings import display_value


@pytest.mark.parametrize(("value", "expected"), [
    ("2024-10-22T08:32:00Z", "22 Oct 2024, 10:32 CEST"),          # what the indicators write
    ("2024-10-22T08:32:00.1234567Z", "22 Oct 2024, 10:32 CEST"),  # Graph's seven fractional digits
    ("2024-10-22T08:32:00", "22 Oct 2024, 10:32 CEST"),           # no offset: UTC, as Microsoft means it
    ("2024-10-22T10:32:00+02:00", "22 Oct 2024, 10:32 CEST"),
    ("2024-12-22T08:32:00Z", "22 Dec 2024, 09:32 CET"),
])
def test_time_params_are_shown_in_the_viewers_zone(value: str, expected: str) -> None:
    assert display_value("time", value, "en", "Europe/Amsterdam") == expected
    assert display_value("last_seen", value, "en", "Europe/Amsterdam") == expected


@pytest.mark.parametrize("value", ["", "soon", "2024-13-40T00:00:00Z"])
def test_what_is_not_a_time_is_shown_as_it_came(value: str) -> None:
    assert display_value("time", value, "en", "Europe/Amsterdam") == value


def test_only_time_keys_are_parsed() -> None:
    assert display_value("ip", "2024-10-22T08:32:00Z", "en", "Europe/Amsterdam") == "2024-10-22T08:32:00Z"

"""Recognising the triage command in English and Dutch: whole phrases only, never two intents."""

from __future__ import annotations

import pytest

from dialogs.intents import Intent, matching_intents, recognize

TRIAGE = ["triage", "Triage!", "list blocked", "list blocked accounts", "list the restricted users",
          "show me all blocked accounts", "blocked accounts", "restricted senders", "who is blocked?",
          "who's restricted", "which accounts are blocked", "lijst geblokkeerd", "lijst geblokkeerde accounts",
          "geblokkeerde accounts", "Geblokkeerde gebruikers", "toon alle geblokkeerde accounts",
          "wie is er geblokkeerd", "wie is geblokkeerd", "welke accounts zijn geblokkeerd"]
# Near misses keep their own meaning: an account to investigate, a user's own report, or nothing.
OTHERS = {
    "Megan is blocked": Intent.INVESTIGATE,
    "check Megan": Intent.INVESTIGATE,
    "my mail is blocked": Intent.REPORT_BOUNCE,
    "mijn mail is geblokkeerd": Intent.REPORT_BOUNCE,
    "blocked": Intent.UNKNOWN,
    "triage the tickets": Intent.UNKNOWN,
    "please list blocked accounts and unblock them": Intent.UNKNOWN,
    "accounts": Intent.UNKNOWN,
}


@pytest.mark.parametrize("text", TRIAGE)
def test_triage_phrases(text: str) -> None:
    assert recognize(text).intent == Intent.TRIAGE
    assert matching_intents(text) == [Intent.TRIAGE]


@pytest.mark.parametrize(("text", "intent"), OTHERS.items())
def test_near_misses(text: str, intent: Intent) -> None:
    assert recognize(text).intent == intent
    assert len(matching_intents(text)) <= 1

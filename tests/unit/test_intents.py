"""Intent recognition: whole-message patterns, never two intents for one sentence."""

from __future__ import annotations

import pytest

from dialogs.intents import Intent, matching_intents, recognize

SAMPLES = {
    Intent.HELP: ["help", "Help!", "  HELP  ", "hulp", "wat kun je doen?", "what can you do"],
    Intent.GREETING: ["hi", "Hallo", "goedemorgen"],
    Intent.CANCEL: ["cancel", "stop", "annuleer", "laat maar"],
    Intent.REPORT_BOUNCE: ["my mail bounces", "I can't send email", "mijn mail komt terug", "ik kan niet mailen",
                           "mijn mail wordt geweigerd", "550 5.1.8 Access denied, bad outbound sender",
                           "Toegang geweigerd, ongeldige uitgaande afzender", "Mijn mail komt terug"],
    Intent.STATUS: ["status", "Status?", "how is my report going", "any news", "hoe staat het met mijn melding",
                    "status van mijn melding", "is er al nieuws"],
    Intent.ALERTS_HERE: ["alerts here", "use this channel for alerts", "send alerts here", "meldingen hier",
                         "gebruik dit kanaal voor meldingen", "stuur de waarschuwingen naar dit kanaal"],
    Intent.ALERTS_OFF: ["alerts off", "turn off alerts", "stop alerts", "meldingen uit", "zet de meldingen uit",
                        "geen meldingen meer"],
    Intent.ALERTS_WHERE: ["where do alerts go?", "where are alerts sent", "which channel gets the alerts",
                          "waar gaan meldingen heen?", "waar gaan de meldingen naartoe",
                          "welk kanaal krijgt de alerts"],
    Intent.NOTIFY_IT: ["notify IT anyway", "tell IT", "let IT know", "meld het toch aan IT", "laat het IT toch weten",
                       "waarschuw IT toch", "IT toch waarschuwen"],
}


@pytest.mark.parametrize(("intent", "text"), [(i, s) for i, samples in SAMPLES.items() for s in samples])
def test_samples_are_recognized(intent: Intent, text: str) -> None:
    assert recognize(text).intent == intent


@pytest.mark.parametrize("text", [s for samples in SAMPLES.values() for s in samples])
def test_no_sample_matches_two_intents(text: str) -> None:
    assert len(matching_intents(text)) == 1


@pytest.mark.parametrize("text", ["", None, "helpdesk is down", "please stop the spam", "x" * 10_000, "🙂🙂"])
def test_other_text_is_unknown(text: str | None) -> None:
    assert recognize(text).intent == Intent.UNKNOWN

"""Intent recognition: whole-message patterns, never two intents for one sentence."""

from __future__ import annotations

import pytest

from dialogs.intents import Intent, matching_intents, recognize

SAMPLES = {
    Intent.HELP: ["help", "Help!", "  HELP  ", "hulp", "wat kun je doen?", "what can you do"],
    Intent.GREETING: ["hi", "Hallo", "goedemorgen"],
    Intent.CANCEL: ["cancel", "stop", "annuleer", "laat maar"],
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

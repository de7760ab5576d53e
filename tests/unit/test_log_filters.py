"""The log stays readable: botbuilder's known schema gaps do not warn on every card press; other gaps still do."""

from __future__ import annotations

import logging

import pytest
from botbuilder.schema import AdaptiveCardInvokeValue

from bot import KnownSchemaGaps


def test_the_trigger_warning_of_every_press_is_dropped_and_other_unknown_fields_are_kept(
        caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("msrest.serialization")
    gaps = KnownSchemaGaps()
    logger.addFilter(gaps)
    try:
        with caplog.at_level(logging.WARNING, logger="msrest.serialization"):
            AdaptiveCardInvokeValue(trigger="manual")  # what Teams sends with every Action.Execute
            AdaptiveCardInvokeValue(colour="red")  # type: ignore[call-arg]
    finally:
        logger.removeFilter(gaps)
    assert [r.args[0] for r in caplog.records if isinstance(r.args, tuple)] == ["colour"]

"""The `diagnose` card's summary agrees in number with what is MISSING, not with how many features were checked:
"1 of 26 features is not available", "3 of 26 features are not available", in English and Dutch."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cards.diagnose import diagnose_card
from core.preflight import FEATURES, ExchangeProbe, Problem, ProblemKind, Report, evaluate
from tests.unit.test_preflight import facts

SUMMARY = {
    "en": {"one": "{n} of {total} features is not available.", "other": "{n} of {total} features are not available."},
    "nl": {"one": "{n} van de {total} functies is niet beschikbaar.",
           "other": "{n} van de {total} functies zijn niet beschikbaar."},
}
FALLBACK = {"en": "Tenant check: {n} of {total} features not available",
            "nl": "Tenantcontrole: {n} van de {total} functies niet beschikbaar"}
NOT_PROVISIONED = Problem(ProblemKind.NOT_PROVISIONED, "Message Trace service principal")


def _one_missing() -> Report:
    # Graph's message trace not provisioned and Exchange's refused too: the burst cannot be read at all.
    probes: dict[ExchangeProbe, Problem | None] = {p: None for p in ExchangeProbe}
    probes[ExchangeProbe.MESSAGE_TRACE] = Problem(ProblemKind.EXCHANGE_ROLE, "Get-MessageTraceV2")
    return evaluate(facts(exchange_probes=probes, message_trace=NOT_PROVISIONED))


def _several_missing() -> Report:
    probes: dict[ExchangeProbe, Problem | None] = {p: None for p in ExchangeProbe}
    probes[ExchangeProbe.MAILBOX] = Problem(ProblemKind.EXCHANGE_ROLE, "Get-Mailbox")
    return evaluate(facts(exchange_probes=probes, message_trace=NOT_PROVISIONED))


@pytest.mark.parametrize("locale", ["en-US", "nl-NL"])
@pytest.mark.parametrize(("build", "form"), [(_one_missing, "one"), (_several_missing, "other")])
def test_the_summary_agrees_with_the_missing_count(locale: str, build: Callable[[], Report], form: str) -> None:
    report = build()
    missing = sum(not s.available for s in report.features)
    assert (missing == 1) == (form == "one") and missing < len(FEATURES)
    lang = locale[:2]
    card = diagnose_card(report, locale)
    summary = card["body"][1]["text"]
    assert summary.startswith(SUMMARY[lang][form].format(n=missing, total=len(FEATURES))), summary
    assert card["fallbackText"] == FALLBACK[lang].format(n=missing, total=len(FEATURES))

"""`investigation.reason.parse_reason`: the Restricted entities `Reason` text, table-driven and fuzzed."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from investigation.reason import MAX_REASON_CHARS, ExceedingLimit, LimitType, RestrictionReason, parse_reason
from m365.records import BlockedSender

SPAM = (
    "OutboundSpamLast24Hours=242;OutboundMailLast24Hours=251;OutboundSpamPercent=96;"
    "Last Spam Message MessagetraceId:2e24d2c8-0b5a-4f44-9d2f-08dcf1a2b3c4"
)
RECIPIENTS = (
    "ExternalRecipientLimitExceeded;InternalRecipientCount=12;ExternalRecipientCount=2750;Limit=RecipientRateLimit"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            SPAM,
            RestrictionReason(LimitType.outbound_spam, spam_last_24h=242, mail_last_24h=251, spam_percent=96,
                              message_trace_id="2e24d2c8-0b5a-4f44-9d2f-08dcf1a2b3c4", raw=SPAM),
            id="outbound-spam",
        ),
        pytest.param(
            RECIPIENTS,
            RestrictionReason(LimitType.external_recipient_limit, internal_recipients=12, external_recipients=2750,
                              raw=RECIPIENTS),
            id="external-recipient-limit",
        ),
        pytest.param(
            "InternalRecipientLimitExceeded;InternalRecipientCount=5400",
            RestrictionReason(LimitType.internal_recipient_limit, internal_recipients=5400,
                              raw="InternalRecipientLimitExceeded;InternalRecipientCount=5400"),
            id="internal-recipient-limit",
        ),
        pytest.param(
            "Limit=RecipientRateLimit;ExternalRecipientCount=10,000",
            RestrictionReason(LimitType.recipient_rate_limit, external_recipients=10000,
                              raw="Limit=RecipientRateLimit;ExternalRecipientCount=10,000"),
            id="rate-limit-thousands-separator",
        ),
        pytest.param("Compromised", RestrictionReason(LimitType.compromised, raw="Compromised", compromised_flag=True),
                     id="compromised"),
        pytest.param(
            "Compromised;OutboundSpamLast24Hours=90",
            RestrictionReason(LimitType.outbound_spam, spam_last_24h=90, raw="Compromised;OutboundSpamLast24Hours=90",
                              compromised_flag=True),
            id="compromised-with-spam-counts",
        ),
        pytest.param(
            "Reason=Compromised;ExternalRecipientCount=40",
            RestrictionReason(LimitType.compromised, external_recipients=40,
                              raw="Reason=Compromised;ExternalRecipientCount=40", compromised_flag=True),
            id="compromised-as-a-value",
        ),
        pytest.param(
            # Microsoft documents Internal and External only; another value keeps the counts and the generic limit.
            "EmailSendingLimitExceeded;InternalRecipientCountToday=4;ExternalRecipientCountToday=9;"
            "ExceedingLimitType=Total;LastMessageRcptCount=1,000",
            RestrictionReason(LimitType.recipient_rate_limit, internal_recipients=4, external_recipients=9,
                              exceeding_limit=ExceedingLimit.other, last_message_recipients=1000,
                              raw="EmailSendingLimitExceeded;InternalRecipientCountToday=4;"
                                  "ExternalRecipientCountToday=9;ExceedingLimitType=Total;LastMessageRcptCount=1,000"),
            id="undocumented-exceeding-limit-type",
        ),
        pytest.param(
            # The key names alone must not decide the limit: this used to read as an internal limit.
            "InternalRecipientCountToday=12;ExternalRecipientCountToday=1250",
            RestrictionReason(LimitType.recipient_rate_limit, internal_recipients=12, external_recipients=1250,
                              raw="InternalRecipientCountToday=12;ExternalRecipientCountToday=1250"),
            id="counts-without-limit-type",
        ),
        pytest.param("", RestrictionReason(LimitType.unknown), id="empty"),
        pytest.param("%%%;;==::", RestrictionReason(LimitType.unknown, raw="%%%;;==::"), id="garbage"),
        pytest.param(
            " outboundspamlast24hours = 30 ; OUTBOUND_SPAM_PERCENT = 55.5% ",
            RestrictionReason(LimitType.outbound_spam, spam_last_24h=30, spam_percent=55,
                              raw=" outboundspamlast24hours = 30 ; OUTBOUND_SPAM_PERCENT = 55.5% "),
            id="case-spacing-punctuation",
        ),
        pytest.param(
            "OutboundSpamPercent=250",
            RestrictionReason(LimitType.outbound_spam, spam_percent=100, raw="OutboundSpamPercent=250"),
            id="percent-capped",
        ),
        pytest.param(
            "OutboundSpamLast24Hours=abc;MessagetraceId:not-a-guid",
            RestrictionReason(LimitType.outbound_spam, raw="OutboundSpamLast24Hours=abc;MessagetraceId:not-a-guid"),
            id="unparsable-values-become-none",
        ),
        pytest.param(
            "OutboundSpamLast24Hours=99999999999999999999999",
            RestrictionReason(LimitType.outbound_spam, raw="OutboundSpamLast24Hours=99999999999999999999999"),
            id="absurd-number-ignored",
        ),
    ],
)
def test_parse_reason_table(text: str, expected: RestrictionReason) -> None:
    assert parse_reason(text) == expected


def test_parse_reason_from_exchange_record() -> None:
    blocked = BlockedSender.from_exchange({"SenderAddress": "MeganB@example.com", "Reason": SPAM})
    parsed = parse_reason(blocked.reason)
    assert parsed.limit_type == LimitType.outbound_spam
    assert parsed.effective_spam_percent == 96


def test_effective_spam_percent_is_computed_when_missing() -> None:
    parsed = parse_reason("OutboundSpamLast24Hours=150;OutboundMailLast24Hours=200")
    assert parsed.spam_percent is None
    assert parsed.effective_spam_percent == 75


def test_recipients_sums_known_counts() -> None:
    assert parse_reason(RECIPIENTS).recipients == 2762
    assert parse_reason(SPAM).recipients is None


def test_non_string_input_is_unknown() -> None:
    assert parse_reason(None) == RestrictionReason(LimitType.unknown)
    assert parse_reason(42) == RestrictionReason(LimitType.unknown)


def test_very_long_reason_is_bounded_and_fast() -> None:
    text = SPAM + ";" + "x=1;" * 500_000
    started = time.perf_counter()
    parsed = parse_reason(text)
    assert time.perf_counter() - started < 1.0
    assert len(parsed.raw) == MAX_REASON_CHARS
    assert parsed.spam_last_24h == 242


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300))
def test_parse_never_raises_on_arbitrary_text(text: str) -> None:
    parsed = parse_reason(text)
    assert isinstance(parsed.limit_type, LimitType)
    assert parsed.raw == text[:MAX_REASON_CHARS]
    for value in (parsed.spam_last_24h, parsed.mail_last_24h, parsed.internal_recipients,
                  parsed.external_recipients):
        assert value is None or 0 <= value < 10**12
    assert parsed.spam_percent is None or 0 <= parsed.spam_percent <= 100


_KEYS = st.sampled_from([
    "OutboundSpamLast24Hours", "OutboundMailLast24Hours", "OutboundSpamPercent", "InternalRecipientCount",
    "ExternalRecipientCount", "Limit", "Last Spam Message MessagetraceId", "Compromised",
    "ExternalRecipientLimitExceeded",
])
_VALUES = st.one_of(st.integers(min_value=-10, max_value=10**15).map(str), st.text(max_size=12), st.uuids().map(str))
_TOKENS = st.tuples(_KEYS, st.sampled_from(["=", ":", "", " = "]), _VALUES).map(lambda t: "".join(t))


@settings(max_examples=400, deadline=None)
@given(st.lists(_TOKENS, max_size=8), st.sampled_from([";", "|", "\n", "; "]))
def test_parse_never_raises_on_reason_like_text(tokens: list[str], separator: str) -> None:
    parsed = parse_reason(separator.join(tokens))
    assert isinstance(parsed, RestrictionReason)
    assert parsed.effective_spam_percent is None or 0 <= parsed.effective_spam_percent <= 100

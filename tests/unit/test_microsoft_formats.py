"""Microsoft's own formats, each a fixture that names its source: restriction reasons, NDR texts, policy actions.

Every file under `tests/fixtures/microsoft/exchange/` (reasons, outbound spam policies) and
`tests/fixtures/microsoft/ndr/` (pasted bounces, English and, where Microsoft publishes it, Dutch) is read by the
parser the bot uses, and what comes out is compared with the fixture's `expected`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dialogs.intents import Intent, recognize
from dialogs.ndr import NdrKind, read_ndr
from investigation.reason import parse_reason
from m365.records import BlockedSender, OutboundSpamPolicy, Release, ThresholdAction

ROOT = Path(__file__).resolve().parents[1] / "fixtures" / "microsoft"
REASONS = sorted((ROOT / "exchange").glob("reason-*.json"))
POLICIES = sorted((ROOT / "exchange").glob("outbound-spam-policy-*.json"))
NDRS = sorted((ROOT / "ndr").glob("*.json"))


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def test_there_is_a_fixture_for_every_documented_shape() -> None:
    assert {p.name for p in REASONS} >= {"reason-outbound-spam.json", "reason-recipient-limit-external.json",
                                         "reason-recipient-limit-internal.json"}
    assert {load(p)["expected"]["kind"] for p in NDRS} == {kind.value for kind in NdrKind}
    assert {load(p)["expected"]["action"] for p in POLICIES} == {"Alert", "BlockUser", "BlockUserForToday"}
    assert any(load(p)["language"] == "nl" for p in NDRS)


@pytest.mark.parametrize("path", REASONS + POLICIES + NDRS, ids=lambda p: p.name)
def test_every_fixture_names_its_source(path: Path) -> None:
    sources = load(path)["source"]
    assert isinstance(sources, list) and sources
    for source in sources:
        if isinstance(source, dict):
            assert source["repo"] and source["path"] and len(source["commit"]) == 40
        else:
            assert "learn.microsoft.com" in source or "Microsoft" in source


@pytest.mark.parametrize("path", REASONS, ids=lambda p: p.name)
def test_reason_fixture_is_parsed_with_its_numbers(path: Path) -> None:
    fixture = load(path)
    parsed = parse_reason(fixture["shape"])
    for field, value in fixture["expected"].items():
        got = getattr(parsed, field)
        assert (got.value if hasattr(got, "value") else got) == value, field
    # The same text as the Exchange record carries it.
    record = BlockedSender.from_exchange({"SenderAddress": "a@example.com", "Reason": fixture["shape"]})
    assert parse_reason(record.reason) == parsed


@pytest.mark.parametrize("path", NDRS, ids=lambda p: p.name)
def test_pasted_ndr_is_a_report_and_says_which_code(path: Path) -> None:
    fixture = load(path)
    reading = read_ndr(fixture["shape"])
    assert reading is not None
    assert reading.code == fixture["expected"]["code"]
    assert reading.kind.value == fixture["expected"]["kind"]
    assert recognize(fixture["shape"]).intent == Intent.REPORT_BOUNCE
    # Inside a longer paste, with Outlook's subject line and headers around it.
    paste = f"Undeliverable: Q3 figures\n{fixture['shape']}\nReceived: from relay.example.net by mx.example.com"
    assert read_ndr(paste) == reading


@pytest.mark.parametrize("path", POLICIES, ids=lambda p: p.name)
def test_outbound_spam_policy_fixture(path: Path) -> None:
    fixture = load(path)
    policy = OutboundSpamPolicy.from_exchange(fixture["shape"])
    expected = fixture["expected"]
    assert policy.name == expected["name"]
    assert policy.is_default is expected["is_default"]
    assert policy.action == ThresholdAction(expected["action"])
    assert policy.release == Release(expected["release"])
    assert (policy.external_per_hour, policy.internal_per_hour, policy.per_day) == (
        expected["external_per_hour"], expected["internal_per_hour"], expected["per_day"])


@pytest.mark.parametrize(("text", "code", "kind"), [
    ("Remote Server returned '550 5.1.8 Access denied, bad outbound sender AS(42003)'", "5.1.8",
     NdrKind.restricted_sender),
    ("bad outbound sender", "5.1.8", NdrKind.restricted_sender),
    ("Uw bericht kan niet worden bezorgd omdat u niet bent herkend als een geldige afzender.", "5.1.8",
     NdrKind.restricted_sender),
    ("tenant external recipient rate limit", "5.7.233", NdrKind.tenant_external_limit),
    ("Access denied, banned sender", None, NdrKind.banned_sender),
    # A code decides over words: 5.7.511 is not one of ours, but 5.1.8 further on is.
    ("5.7.511 Access denied, banned sender ... 550 5.1.8", "5.1.8", NdrKind.restricted_sender),
    ("550 5.2.0 failed", None, None),
])
def test_codes_and_words(text: str, code: str | None, kind: NdrKind | None) -> None:
    reading = read_ndr(text)
    assert (reading.code if reading else None, reading.kind if reading else None) == (code, kind)
    if reading is not None:
        assert reading.stated == (reading.code is not None and reading.code in text)


@pytest.mark.parametrize("text", ["", None, "version 15.1.8 is out", "5.1.80", "release 5.2.2", "toegang geweigerd",
                                  "I can't send the report by Friday", "x" * 30_000])
def test_not_an_ndr(text: str | None) -> None:
    assert read_ndr(text) is None


def test_unknown_policy_values_do_not_raise() -> None:
    policy = OutboundSpamPolicy.from_exchange({"ActionWhenThresholdReached": 7, "RecipientLimitPerDay": "abc",
                                               "RecipientLimitExternalPerHour": True,
                                               "RecipientLimitInternalPerHour": 99_999})
    assert policy.action == ThresholdAction.unknown and policy.release == Release.unknown
    assert (policy.external_per_hour, policy.internal_per_hour, policy.per_day) == (None, None, None)
    assert OutboundSpamPolicy.from_exchange({"ActionWhenThresholdReached": "blockuserfortoday"}).release == (
        Release.next_utc_day)

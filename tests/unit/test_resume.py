"""When sending resumes without action (`investigation.resume`), what the findings card says about it, and the
Unblock confirmation's warning before one of Microsoft's limited unblocks is spent on a block that lifts itself."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cards.findings import confirmation_card, resume_line
from cards.verbs import Verb
from investigation.evidence import Evidence, SourceName, Unavailable, UnavailableReason
from investigation.resume import Resume, ResumeKind, next_utc_day, when_sending_resumes
from m365.records import OutboundSpamPolicy, ThresholdAction
from tests.cardschema import texts
from tests.unit.test_indicators import NOW, make_evidence

EXCHANGE_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "microsoft" / "exchange"
# 2024-10-22 04:34 UTC, the morning of NOW.
CREATED = "/Date(1729571640000)/"
LIMIT = {"SenderAddress": "MeganB@example.com", "CreatedDatetime": CREATED,
         "Reason": "EmailSendingLimitExceeded;InternalRecipientCountToday=12;ExternalRecipientCountToday=2750;"
                   "ExceedingLimitType=External;LastMessageRcptCount=250;"}
SPAM = {"SenderAddress": "MeganB@example.com", "CreatedDatetime": CREATED,
        "Reason": "OutboundSpamLast24Hours=242;OutboundMailLast24Hours=251;OutboundSpamPercent=96"}


def policy_from(stem: str) -> OutboundSpamPolicy:
    return OutboundSpamPolicy.from_exchange(json.loads((EXCHANGE_FIXTURES / f"{stem}.json").read_text())["shape"])


def with_policies(blocked: dict[str, object], *policies: OutboundSpamPolicy) -> Evidence:
    return dataclasses.replace(make_evidence(blocked=blocked), outbound_spam_policies=tuple(policies))


def test_block_user_for_today_lifts_at_the_next_utc_midnight() -> None:
    resume = when_sending_resumes(with_policies(LIMIT, policy_from("outbound-spam-policy-defaults")))
    assert resume == Resume(ResumeKind.by_itself, datetime(2024, 10, 23, tzinfo=UTC), "Default", "policy")
    assert resume.lifts_by_itself(NOW)
    assert not resume.lifts_by_itself(datetime(2024, 10, 23, 0, 1, tzinfo=UTC))


def test_block_user_is_lifted_only_by_an_admin() -> None:
    resume = when_sending_resumes(with_policies(LIMIT, policy_from("outbound-spam-policy-set-example-1")))
    assert resume == Resume(ResumeKind.admin, None, "Default", "policy")
    assert resume is not None and not resume.lifts_by_itself(NOW)


def test_an_unread_policy_gives_no_guessed_time() -> None:
    evidence = make_evidence(blocked=LIMIT, unavailable=[
        Unavailable(SourceName.outbound_spam_policy, UnavailableReason.permission, "Security Reader")])
    assert when_sending_resumes(evidence) == Resume(ResumeKind.unknown, basis="no_policy")
    assert when_sending_resumes(make_evidence(blocked=LIMIT)) == Resume(ResumeKind.unknown, basis="no_policy")


def test_an_alert_only_policy_does_not_explain_the_block() -> None:
    resume = when_sending_resumes(with_policies(LIMIT, policy_from("outbound-spam-policy-alert-only")))
    assert resume is not None and (resume.kind, resume.basis) == (ResumeKind.unknown, "alert_only")


def test_policies_that_disagree_leave_it_unknown() -> None:
    default = OutboundSpamPolicy("Default", is_default=True, action=ThresholdAction.block_user_for_today)
    executives = OutboundSpamPolicy("Contoso Executives", action=ThresholdAction.block_user)
    resume = when_sending_resumes(with_policies(LIMIT, default, executives))
    assert resume == Resume(ResumeKind.unknown, basis="policies_differ")
    # A disabled custom policy covers nobody.
    off = dataclasses.replace(executives, enabled=False)
    still = when_sending_resumes(with_policies(LIMIT, default, off))
    assert still is not None and still.kind == ResumeKind.by_itself


def test_a_spam_restriction_is_lifted_only_by_an_admin_whatever_the_policy() -> None:
    resume = when_sending_resumes(with_policies(SPAM, policy_from("outbound-spam-policy-defaults")))
    assert resume == Resume(ResumeKind.admin, basis="spam")


def test_an_expiry_on_the_entry_is_microsofts_own_time() -> None:
    blocked = {**SPAM, "ExpireDatetime": "2024-10-22T18:00:00Z"}
    resume = when_sending_resumes(make_evidence(blocked=blocked))
    assert resume == Resume(ResumeKind.by_itself, datetime(2024, 10, 22, 18, tzinfo=UTC), basis="expiry")


def test_not_restricted_says_nothing() -> None:
    assert when_sending_resumes(make_evidence()) is None


@pytest.mark.parametrize(("when", "expected"), [
    (datetime(2024, 10, 22, 23, 59, tzinfo=UTC), datetime(2024, 10, 23, tzinfo=UTC)),
    (datetime(2024, 10, 22, 0, 0, tzinfo=UTC), datetime(2024, 10, 23, tzinfo=UTC)),
    (datetime(2024, 10, 23, 1, 30, tzinfo=UTC), datetime(2024, 10, 24, tzinfo=UTC)),
    (datetime(2024, 10, 22, 23, 30), datetime(2024, 10, 23, tzinfo=UTC)),
])
def test_next_utc_day(when: datetime, expected: datetime) -> None:
    assert next_utc_day(when) == expected


def test_next_utc_day_counts_in_utc_not_local_time() -> None:
    from zoneinfo import ZoneInfo

    local = datetime(2024, 10, 23, 1, 30, tzinfo=ZoneInfo("Europe/Amsterdam"))  # 23:30 UTC on the 22nd
    assert next_utc_day(local) == datetime(2024, 10, 23, tzinfo=UTC)


def test_the_findings_card_says_when_sending_resumes() -> None:
    by_itself = Resume(ResumeKind.by_itself, datetime(2024, 10, 23, tzinfo=UTC), "Default", "policy")
    line = resume_line(by_itself, "en", None)
    assert line is not None
    words = texts(line.model_dump(by_alias=True, exclude_none=True))
    assert "Default" in words and "Sending resumes by itself on " in words
    admin = resume_line(Resume(ResumeKind.admin, policy="Strict", basis="policy"), "nl", None)
    assert admin is not None and "Strict" in texts(admin.model_dump(by_alias=True, exclude_none=True))
    assert resume_line(Resume(ResumeKind.unknown, basis="no_policy"), "en", None) is None


def test_the_unblock_confirmation_warns_when_the_block_lifts_by_itself() -> None:
    lifts = datetime(2024, 10, 23, tzinfo=UTC)
    warned = texts(confirmation_card(Verb.UNBLOCK, case_id="c1", name="Megan", upn="m@example.com", locale="en",
                                     lifts_at=lifts))
    plain = texts(confirmation_card(Verb.UNBLOCK, case_id="c1", name="Megan", upn="m@example.com", locale="en"))
    assert any("lifts by itself" in t and "limited unblocks" in t for t in warned)
    assert not any("lifts by itself" in t for t in plain)

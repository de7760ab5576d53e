"""Against the demo tenant: the outbound spam policy reaches the evidence, the findings card says when sending
resumes, and `python -m investigation --json` carries `deciding` and `restricted.sendingResumes` (issue 15)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cards.findings import findings_card
from investigation.collect import Investigation
from investigation.evidence import SourceName
from investigation.resolve import Outcome, resolve_account
from investigation.resume import ResumeKind, next_utc_day, when_sending_resumes
from investigation.verdict import DecidingRule, Verdict
from m365.records import ThresholdAction
from tests.cardschema import assert_valid_card, lines
from tests.demo_stack import DemoStack
from tests.integration.test_investigation_inputs import run_cli


async def _adele(stack: DemoStack) -> Investigation:
    resolution = await resolve_account(stack.tenant, "AdeleV@example.com")
    assert resolution.outcome == Outcome.found
    return await stack.collector().investigate(resolution.user)


def _card_text(investigation: Investigation) -> str:
    card = findings_card(investigation, case_id="c1", viewer_can_act=True, locale="en-US", time_zone="UTC")
    assert_valid_card(card)
    return "\n".join(lines(card))


async def test_adeles_bulk_mailing_lifts_by_itself_and_the_card_says_so(stack: DemoStack) -> None:
    adele = await _adele(stack)
    assert adele.evidence.is_available(SourceName.outbound_spam_policy)
    policies = adele.evidence.outbound_spam_policies or ()
    assert [(p.name, p.is_default, p.action) for p in policies] == [
        ("Default", True, ThresholdAction.block_user_for_today)]
    # The seeded entry carries Microsoft's own expiry: that time wins, and the card's expiry line says it.
    restriction = adele.evidence.restriction
    assert restriction is not None and restriction.expires is not None
    resume = when_sending_resumes(adele.evidence)
    assert resume is not None and (resume.kind, resume.at, resume.basis) == (
        ResumeKind.by_itself, restriction.expires, "expiry")
    assert adele.assessment.verdict == Verdict.no_signs
    assert adele.assessment.deciding is not None
    assert adele.assessment.deciding.rule == DecidingRule.restriction_context
    text = _card_text(adele)
    assert "The restriction ends by itself on" in text and "Only the restriction itself" in text


async def test_without_an_expiry_the_policy_says_when_sending_resumes(stack: DemoStack) -> None:
    for entry in stack.server.state.exchange["Get-BlockedSenderAddress"]:
        if str(entry.get("SenderAddress", "")).lower() == "adelev@example.com":
            entry.pop("ExpireDatetime", None)
    adele = await _adele(stack)
    restriction = adele.evidence.restriction
    assert restriction is not None and restriction.created is not None and restriction.expires is None
    resume = when_sending_resumes(adele.evidence)
    assert resume is not None and (resume.kind, resume.at, resume.policy, resume.basis) == (
        ResumeKind.by_itself, next_utc_day(restriction.created), "Default", "policy")
    text = _card_text(adele)
    assert "Sending resumes by itself on" in text and "Default" in text


@pytest.fixture(scope="module")
def cli_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli")


def test_cli_json_has_deciding_and_when_sending_resumes(cli_dir: Path) -> None:
    result = run_cli(cli_dir, "AdeleV@example.com", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["deciding"]["rule"] == "restriction_context"
    # The restriction's reason and what the message trace shows of the mailing: context, both of them.
    assert data["deciding"]["codes"] == ["send_volume_spike", "burst_summary"]
    assert data["deciding"]["text"].startswith("Only the restriction itself: sending volume")
    resumes = data["restricted"]["sendingResumes"]
    assert (resumes["kind"], resumes["basis"]) == ("by_itself", "expiry")
    assert datetime.fromisoformat(resumes["at"]) > datetime.now(UTC)
    assert data["sources"]["outbound_spam_policy"] == "ok"

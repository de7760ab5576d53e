"""The verdict's precision rules (issue 15, items 11 and 12), on evidence and findings built here: housekeeping
rules and a legitimate bulk mailing are "no signs", closed risk detections are context, the decisive combinations
are "compromised" from one family, and `Assessment.deciding` names the evidence that decided (card and --json)."""

from __future__ import annotations

from typing import Any

import pytest

from cards.findings import deciding_text, findings_card
from investigation.collect import Investigation
from investigation.evidence import Evidence, SourceName
from investigation.indicators import Finding, Severity, run_indicators
from investigation.verdict import (
    DECISIVE_COMBINATIONS,
    REASON_PARAMS,
    Deciding,
    DecidingRule,
    Verdict,
    assess,
)
from tests.cardschema import texts
from tests.unit.test_indicators import detection_json, make_evidence, recipients, rule_json, sign_in_json

BULK_MAILING = {"SenderAddress": "MeganB@example.com", "CreatedDatetime": "/Date(1729571640000)/",
                "Reason": "EmailSendingLimitExceeded;InternalRecipientCountToday=12;ExternalRecipientCountToday=2750;"
                          "ExceedingLimitType=External;Last MessagetraceId=9a3e5c71-2f4b-4d8e-b6a0-08dcf1d2e3f4;"
                          "LastMessageRcptCount=250;"}
SPAM = {"SenderAddress": "MeganB@example.com", "CreatedDatetime": "/Date(1729571640000)/",
        "Reason": "OutboundSpamLast24Hours=242;OutboundMailLast24Hours=251;OutboundSpamPercent=96"}


def judge(evidence: Evidence) -> tuple[tuple[Finding, ...], Any]:
    findings = run_indicators(evidence)
    return findings, assess(evidence, findings)


def finding(code: str, severity: Severity, source: SourceName) -> Finding:
    return Finding(code, severity, source)


def test_microsofts_housekeeping_rule_leaves_no_signs() -> None:
    # "Remove spam": delete mail whose subject contains "enter to win" (mailfolder-list-messagerules.md).
    rule = rule_json("AQAAAJ5dZp8=", "Remove spam", {"delete": True, "stopProcessingRules": True},
                     conditions={"subjectContains": ["enter to win"]})
    findings, result = judge(make_evidence(rules=[rule]))
    assert [(f.code, f.severity) for f in findings] == [("rule_hides_mail", Severity.low)]
    assert (result.verdict, result.reason_code, result.deciding) == (Verdict.no_signs, "only_low", None)
    assert "disable_rule" not in [s.code for s in result.recommended_steps]


def test_a_bulk_mailing_restriction_alone_is_no_signs_with_the_restriction_explained() -> None:
    findings, result = judge(make_evidence(blocked=BULK_MAILING))
    assert [f.code for f in findings] == ["send_volume_spike"]
    assert (result.verdict, result.reason_code) == (Verdict.no_signs, "restriction_only")
    assert result.deciding == Deciding(DecidingRule.restriction_context, ("send_volume_spike",))
    assert [s.code for s in result.recommended_steps] == ["unblock"]


def test_a_spam_restriction_alone_is_no_signs_too() -> None:
    # Microsoft's 96 % spam verdict is medium on the card, but it is the premise of the investigation.
    findings, result = judge(make_evidence(blocked=SPAM))
    assert [(f.code, f.severity) for f in findings] == [("outbound_spam_detected", Severity.medium)]
    assert (result.verdict, result.reason_code) == (Verdict.no_signs, "restriction_only")


def test_the_restriction_reason_saying_compromised_is_still_a_sign() -> None:
    blocked = {**SPAM, "Reason": "Compromised;" + SPAM["Reason"]}
    _, result = judge(make_evidence(blocked=blocked))
    assert result.verdict == Verdict.suspicious
    assert result.deciding is not None and result.deciding.codes == ("restriction_reason_compromised",)


def test_restriction_findings_do_not_count_as_signs_when_a_key_source_is_missing() -> None:
    evidence = make_evidence(blocked=SPAM, sign_ins=None)
    _, result = judge(evidence)
    assert (result.verdict, result.reason_code) == (Verdict.incomplete, "incomplete_no_signs")
    assert result.deciding is None


def test_a_payment_word_rule_is_high_and_makes_the_account_suspicious() -> None:
    rule = rule_json("r1", "Sort", {"moveToFolder": "AAMkRss", "markAsRead": True},
                     conditions={"subjectContains": ["payment", "betaling"]})
    findings, result = judge(make_evidence(rules=[rule], blocked=BULK_MAILING))
    assert ("rule_hides_mail", Severity.high) in [(f.code, f.severity) for f in findings]
    assert result.verdict == Verdict.suspicious
    assert result.deciding == Deciding(DecidingRule.high, ("rule_hides_mail",))


def test_a_remediated_risk_detection_is_context_not_a_live_sign() -> None:
    remediated = {**detection_json("anonymizedIPAddress"), "riskState": "remediated",
                  "riskDetail": "userPerformedSecuredPasswordReset"}
    findings, result = judge(make_evidence(detections=[remediated]))
    assert [(f.code, f.severity) for f in findings] == [("risk_remediated", Severity.low)]
    assert result.verdict == Verdict.no_signs


def test_a_risk_detection_closed_only_by_its_detail_is_context_too() -> None:
    dismissed = {**detection_json("unfamiliarFeatures"), "riskState": "atRisk",
                 "riskDetail": "adminDismissedAllRiskForUser"}
    assert [f.code for f in run_indicators(make_evidence(detections=[dismissed]))] == ["risk_remediated"]


def test_a_live_risk_detection_still_counts() -> None:
    findings, _ = judge(make_evidence(detections=[detection_json("leakedCredentials")]))
    assert [(f.code, f.severity) for f in findings] == [("risk_leaked_credentials", Severity.high)]


def test_a_new_mfa_method_is_found_from_the_audit_log() -> None:
    audit = {"id": "a1", "activityDisplayName": "Admin updated security info", "result": "success",
             "activityDateTime": "2024-10-21T10:00:00Z", "category": "UserManagement",
             "initiatedBy": {"user": {"id": "x", "userPrincipalName": "helpdesk@example.com"}},
             "targetResources": [{"id": "u"}]}
    assert [f.code for f in run_indicators(make_evidence(audits=[audit]))] == ["mfa_method_registered"]


# ------------------------------------------------------------------------------------ decisive combinations

@pytest.mark.parametrize("name", sorted(DECISIVE_COMBINATIONS))
def test_each_decisive_combination_is_compromised_from_one_family(name: str) -> None:
    groups = DECISIVE_COMBINATIONS[name]
    # Every group met from the same source: one family of evidence.
    findings = [finding(sorted(group)[0], Severity.medium, SourceName.inbox_rules) for group in groups]
    result = assess(make_evidence(), findings)
    assert (result.verdict, result.reason_code) == (Verdict.compromised, "decisive_combination")
    assert result.reason_params["combination"] == name
    assert result.deciding == Deciding(DecidingRule.combination, tuple(f.code for f in findings), name)


@pytest.mark.parametrize("name", sorted(DECISIVE_COMBINATIONS))
def test_a_combination_needs_every_group_at_medium_or_above(name: str) -> None:
    groups = DECISIVE_COMBINATIONS[name]
    findings = [finding(sorted(group)[0], Severity.medium, SourceName.inbox_rules) for group in groups]
    findings[-1] = finding(findings[-1].code, Severity.low, SourceName.inbox_rules)
    assert assess(make_evidence(), findings).reason_code != "decisive_combination"
    if len(groups) > 1:
        assert assess(make_evidence(), findings[:-1]).reason_code != "decisive_combination"


def test_outsider_delegate_with_a_housekeeping_rule_is_not_decisive() -> None:
    findings = [finding("delegate_outside", Severity.high, SourceName.delegation),
                finding("rule_hides_mail", Severity.low, SourceName.inbox_rules)]
    result = assess(make_evidence(), findings)
    assert (result.verdict, result.reason_code) == (Verdict.suspicious, "high_single_source")


def test_outsider_delegate_with_a_forwarding_rule_is_compromised() -> None:
    rule = rule_json("r1", "Sync", {"forwardTo": recipients("copy@mail-drop.example.net")})
    evidence = make_evidence(rules=[rule])
    findings = [*run_indicators(evidence), finding("delegate_outside", Severity.high, SourceName.delegation)]
    result = assess(evidence, findings)
    assert result.verdict == Verdict.compromised
    assert result.deciding == Deciding(DecidingRule.combination, ("delegate_outside", "rule_forwards_external"),
                                       "outsider_delegate_with_rule")


# ------------------------------------------------------------------------------------ the deciding line

def test_two_families_decide_with_their_highs() -> None:
    rule = rule_json("r1", ".", {"forwardTo": recipients("x@gmail.com")})
    home = [sign_in_json(24 * d + 4, "US", "198.51.100.1") for d in range(5)]
    evidence = make_evidence(rules=[rule], sign_ins=[*home, sign_in_json(30, "NG", "102.89.34.10")])
    _, result = judge(evidence)
    assert result.verdict == Verdict.compromised
    assert result.deciding == Deciding(DecidingRule.families, ("rule_forwards_external", "sign_in_new_country"))
    key, values = deciding_text(result.deciding, "en")
    assert key == "deciding.line"
    assert values["evidence"] == "forwarding rule + sign-in from a new country"


def test_the_deciding_line_is_on_the_card_near_the_verdict_in_both_languages() -> None:
    rule = rule_json("r1", ".", {"forwardTo": recipients("x@gmail.com")})
    evidence = make_evidence(rules=[rule], blocked=BULK_MAILING)
    findings, result = judge(evidence)
    investigation = Investigation(evidence=evidence, findings=findings, assessment=result, reason=None, seconds=0.1)
    english = texts(findings_card(investigation, case_id="c1", viewer_can_act=True, locale="en-US"))
    dutch = texts(findings_card(investigation, case_id="c1", viewer_can_act=True, locale="nl-NL"))
    # The template's words and the labels are separate runs (the labels are values, like tenant text).
    assert english[english.index("Decided by: ") + 1] == "forwarding rule"
    assert dutch[dutch.index("Doorslaggevend: ") + 1] == "doorstuurregel"
    # Near the verdict: right after the verdict's reason, before the findings.
    assert english.index("Suspicious") < english.index("Decided by: ") < english.index("What I found")


def test_the_restriction_context_line_names_the_restriction() -> None:
    key, values = deciding_text(Deciding(DecidingRule.restriction_context, ("send_volume_spike",)), "en")
    assert key == "deciding.restriction_context"
    assert values["evidence"] == "sending volume"


def test_a_combination_line_names_the_combination() -> None:
    deciding = Deciding(DecidingRule.combination, ("delegate_outside", "rule_hides_mail"),
                        "outsider_delegate_with_rule")
    key, values = deciding_text(deciding, "en")
    assert key == "deciding.combination"
    assert values["combination"] == "mailbox access for an outsider together with an inbox rule"


def test_reason_params_are_declared() -> None:
    for params in (REASON_PARAMS["decisive_combination"], REASON_PARAMS["restriction_only"]):
        assert params



def test_deciding_survives_the_case_snapshot() -> None:
    from investigation.snapshot import from_snapshot, to_snapshot

    evidence = make_evidence(blocked=BULK_MAILING)
    findings, result = judge(evidence)
    investigation = Investigation(evidence=evidence, findings=findings, assessment=result, reason=None, seconds=0.1)
    restored = from_snapshot(to_snapshot(investigation))
    assert restored is not None
    assert restored.assessment.deciding == Deciding(DecidingRule.restriction_context, ("send_volume_spike",))

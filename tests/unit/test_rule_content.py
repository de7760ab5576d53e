"""What a rule is about (`investigation.rules`): payment and security wording in its conditions, named senders, the
well-known identity of its target folder in any mailbox language, and how `rule_hiding` weighs them — including
Microsoft's own example rules (microsoft-graph-docs-contrib, tests/fixtures/microsoft/graph/)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from investigation.indicators import Severity, run_indicators
from investigation.rules import folder_identity, named_correspondents, sensitive_words
from m365.records import AuditChange, InboxRule, MailFolder
from tests.unit.test_indicators import make_evidence, recipients, rule_json

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "microsoft" / "graph"


def rule(conditions: dict[str, Any], actions: dict[str, Any] | None = None, name: str = "Sort") -> InboxRule:
    return InboxRule.from_graph(rule_json("r1", name, actions or {"delete": True}, conditions=conditions))


@pytest.mark.parametrize(("key", "word", "category"), [
    ("subjectContains", "Invoice", "payment"), ("bodyContains", "wire transfer", "payment"),
    ("bodyOrSubjectContains", "IBAN", "payment"), ("subjectContains", "new bank details", "payment"),
    ("subjectContains", "betaling", "payment"), ("subjectContains", "Factuur 2024-118", "payment"),
    ("bodyContains", "rekeningnummer", "payment"), ("subjectContains", "Überweisung", "payment"),
    ("subjectContains", "password", "security"), ("subjectContains", "Security warning", "security"),
    ("bodyOrSubjectContains", "hacked", "security"), ("bodyOrSubjectContains", "phishing", "security"),
    ("subjectContains", "compromised", "security"), ("subjectContains", "suspicious", "security"),
    ("subjectContains", "wachtwoord", "security"), ("subjectContains", "beveiliging", "security"),
    ("bodyContains", "gehackt", "security"), ("subjectContains", "verdacht", "security"),
    ("headerContains", "Passwort", "security"), ("senderContains", "security", "security"),
])
def test_condition_words_that_target_payment_or_security_mail(key: str, word: str, category: str) -> None:
    assert sensitive_words(rule({key: [word]})) == ((category, word),)


@pytest.mark.parametrize("word", ["enter to win", "newsletter", "Caribbean cruise", "ADELE", "weekly digest", "spam"])
def test_ordinary_words_are_not_sensitive(word: str) -> None:
    assert sensitive_words(rule({"subjectContains": [word]})) == ()


def test_non_text_conditions_are_not_read_for_words() -> None:
    # `fromAddresses` names senders, not words; a sender called "bank@…" is a named correspondent instead.
    r = rule({"fromAddresses": recipients("bank@partner.example"), "isAutomaticReply": True})
    assert sensitive_words(r) == ()
    assert named_correspondents(r) == ("bank@partner.example",)


def test_sender_contains_with_an_address_is_a_named_correspondent_but_a_word_is_not() -> None:
    assert named_correspondents(rule({"senderContains": ["cfo@contoso.example", "ADELE"]})) == ("cfo@contoso.example",)


@pytest.mark.parametrize(("name", "identity"), [
    ("RSS-feeds", "rssfeeds"), ("RSS-Feeds", "rssfeeds"), ("RSS Feeds", "rssfeeds"), ("Flux RSS", "rssfeeds"),
    ("RSS Subscriptions", "rsssubscriptions"), ("RSS-abonnementen", "rsssubscriptions"),
    ("Gespreksgeschiedenis", "conversationhistory"), ("Unterhaltungsverlauf", "conversationhistory"),
    ("Notities", "notes"), ("Notizen", "notes"), ("Archief", "archive"), ("Archiv", "archive"),
    ("Ongewenste e-mail", "junkemail"), ("Junk-E-Mail", "junkemail"), ("Verwijderde items", "deleteditems"),
    ("Gelöschte Elemente", "deleteditems"), ("Projekte", None),
])
def test_folder_display_names_map_to_their_well_known_identity(name: str, identity: str | None) -> None:
    assert folder_identity("F1", [MailFolder("F1", name)]) == (name, identity)


def test_the_well_known_name_graph_resolved_wins_over_the_display_name() -> None:
    # A user renamed Junk Email "Projects": Graph still resolves /mailFolders/junkemail to it.
    assert folder_identity("F1", [MailFolder("F1", "Projects", well_known_name="junkemail")]) == ("Projects",
                                                                                                   "junkemail")


def test_an_unresolved_target_may_be_a_well_known_name_itself() -> None:
    assert folder_identity("conversationhistory", []) == ("conversationhistory", "conversationhistory")
    assert folder_identity("AAMkUnknown", None) == ("AAMkUnknown", None)


@pytest.mark.parametrize(("folder_name", "severity"), [("RSS-feeds", Severity.medium), ("RSS-Feeds", Severity.medium),
                                                        ("Notizen", Severity.medium), ("Archief", Severity.low)])
def test_a_rule_moving_mail_into_a_localised_folder_is_recognised(folder_name: str, severity: Severity) -> None:
    folders = [{"id": "AAMkF", "displayName": folder_name, "parentFolderId": "root"}]
    evidence = make_evidence(rules=[rule_json("r1", "Feeds", {"moveToFolder": "AAMkF"})], folders=folders,
                             well_known={})
    [finding] = [f for f in run_indicators(evidence) if f.code == "rule_hides_mail"]
    assert finding.severity == severity
    assert finding.params["folder"] == folder_name


@pytest.mark.parametrize("conditions", [
    {"subjectContains": ["Payment confirmation"]}, {"bodyOrSubjectContains": ["factuur"]},
    {"subjectContains": ["Your password"]}, {"bodyContains": ["gehackt"]},
])
def test_a_payment_or_security_word_rule_that_hides_mail_is_high(conditions: dict[str, Any]) -> None:
    evidence = make_evidence(rules=[rule_json("r1", "Sort", {"moveToFolder": "AAMkArchief", "markAsRead": True},
                                              conditions=conditions)])
    [finding] = [f for f in run_indicators(evidence) if f.code == "rule_hides_mail"]
    assert finding.severity == Severity.high
    assert {"payment_words", "security_words"} & {v for k, v in finding.evidence if k == "marker"}


def test_a_payment_word_rule_filing_into_an_ordinary_folder_is_no_finding() -> None:
    # "Invoices → Invoices folder" is what accounts departments do all day.
    evidence = make_evidence(rules=[rule_json("r1", "Invoices", {"moveToFolder": "AAMkNews"},
                                              conditions={"subjectContains": ["invoice"]})])
    assert run_indicators(evidence) == ()


def test_hiding_replies_from_a_named_correspondent_is_high() -> None:
    evidence = make_evidence(rules=[rule_json("r1", "Partner", {"delete": True},
                                              conditions={"fromAddresses": recipients("ap@supplier.example")})])
    [finding] = run_indicators(evidence)
    assert (finding.code, finding.severity) == ("rule_hides_mail", Severity.high)
    assert ("marker", "named_correspondents") in finding.evidence


def test_a_rule_the_audit_log_shows_created_in_the_window_is_high() -> None:
    base = make_evidence(rules=[rule_json("r1", "Clean up", {"delete": True})])
    made = AuditChange(id="a1", operation="New-InboxRule", time=base.now.replace(hour=1), actor="x@example.com",
                       parameters=(("Name", "Clean up"), ("DeleteMessage", "True")))
    quiet = run_indicators(base)
    created = run_indicators(dataclasses.replace(base, mailbox_audit=(made,)))
    assert [f.severity for f in quiet] == [Severity.low]
    assert [f.severity for f in created] == [Severity.high]
    assert ("marker", "created_in_window") in created[0].evidence


def _fixture_rules(stem: str) -> list[dict[str, Any]]:
    body = json.loads((FIXTURES / f"{stem}.json").read_text(encoding="utf-8"))["response"]
    return list(body["value"]) if "value" in body else [body]


def test_microsofts_example_rules_are_housekeeping() -> None:
    # mailfolder-list-messagerules.md: "Remove spam" deletes mail whose subject contains "enter to win";
    # "From partner" (also messagerule-get.md) forwards ADELE's mail to a colleague in contoso.onmicrosoft.com.
    rules = _fixture_rules("mailfolder-list-messagerules") + _fixture_rules("messagerule-get")
    evidence = make_evidence(rules=rules)
    evidence = dataclasses.replace(evidence, verified_domains=("contoso.onmicrosoft.com",))
    findings = run_indicators(evidence)
    assert [(f.code, f.severity, f.params["rule"]) for f in findings] == [
        ("rule_hides_mail", Severity.low, "Remove spam")]

"""Changes from the unified audit log (investigation.changes): the parser on Microsoft's record shapes, and each rule
of the module docstring on evidence built here (not the seed)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from investigation.changes import grant_changes, mailbox_changes
from investigation.evidence import Evidence, SourceName, Unavailable, UnavailableReason
from investigation.indicators import FINDING_PARAMS, Severity, run_indicators
from investigation.sources import changes_about
from m365.records import AuditChange, SignIn, User

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
USER = User(id="2f6d4c93-1b5e-4d0a-83f4-7a8b9c0d1e03", user_principal_name="MeganB@example.com",
            display_name="Megan Bowen", mail="MeganB@example.com", mail_nickname="MeganB", usage_location="NL")
HOME_IP = "198.51.100.23"
ATTACKER_IP = "192.0.2.77"


def record(operation: str, hours_ago: float, *, user: str = "MeganB@example.com", ip: str = HOME_IP,
           object_id: str = "MeganB", parameters: list[tuple[str, str]] | None = None,
           properties: list[tuple[str, str]] | None = None, record_type: str = "ExchangeAdmin") -> AuditChange:
    """A Search-UnifiedAuditLog output object as Exchange returns it (AuditData a JSON string) → parsed."""
    when = (NOW - timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M:%S")
    data: dict[str, Any] = {
        "CreationTime": when, "Id": f"id-{operation}-{hours_ago}", "Operation": operation,
        "OrganizationId": "4f8c2b1e-6d3a-4e5b-9c7d-1a2b3c4d5e6f", "RecordType": 1, "ResultStatus": "True",
        "UserKey": user, "UserType": 0, "Version": 1, "Workload": "Exchange", "ClientIP": ip, "ObjectId": object_id,
        "UserId": user, "ExternalAccess": False,
    }
    if parameters is not None:
        data["Parameters"] = [{"Name": k, "Value": v} for k, v in parameters]
    if properties is not None:
        data["OperationProperties"] = [{"Name": k, "Value": v} for k, v in properties]
    return AuditChange.from_exchange({"RecordType": record_type, "CreationDate": when + "Z", "UserIds": user,
                                      "Operations": operation, "AuditData": json.dumps(data),
                                      "ResultIndex": 1, "ResultCount": 1, "Identity": data["Id"]})


def sign_in(ip: str, country: str, *, ok: bool = True) -> SignIn:
    return SignIn(id=ip, created=NOW - timedelta(days=2), user_id=USER.id, ip_address=ip, country=country,
                  error_code=0 if ok else 50126)


def evidence(*changes: AuditChange, sign_ins: tuple[SignIn, ...] | None = (), **extra: Any) -> Evidence:
    return Evidence(user=USER, now=NOW, verified_domains=("example.com",), mailbox_audit=tuple(changes),
                    sign_ins=sign_ins, **extra)


def codes(found: list[Any]) -> list[tuple[str, Severity]]:
    return [(f.code, f.severity) for f in found]


# ------------------------------------------------------------------------------------------------- parser


def test_parser_reads_the_management_activity_schema_and_strips_the_port() -> None:
    change = record("New-InboxRule", 3, ip="192.0.2.77:53214", object_id="MeganB\\.",
                    parameters=[("Name", "."), ("ForwardTo", "x@evil.example"), ("DeleteMessage", "True")])
    assert change.operation == "New-InboxRule" and change.actor == "MeganB@example.com"
    assert change.client_ip == "192.0.2.77"
    assert change.time == NOW - timedelta(hours=3)
    assert change.parameter("forwardto") == "x@evil.example" and change.has_parameter("DeleteMessage")
    assert change.record_type == "ExchangeAdmin"
    assert "meganb" in change.names()
    ipv6 = record("Set-Mailbox", 1, ip="[2001:db8::5]:443")
    assert ipv6.client_ip == "2001:db8::5"


def test_parser_tolerates_garbage() -> None:
    for raw in ({}, {"AuditData": "not json"}, {"AuditData": "[1, 2]"}, {"AuditData": None, "Operations": "X"}):
        change = AuditChange.from_exchange(raw)
        assert change.parameters == () and change.time is None


def test_changes_about_keeps_what_the_account_did_and_what_was_done_to_its_mailbox() -> None:
    own = record("New-InboxRule", 2, object_id="MeganB\\x")
    by_other_on_megan = record("Set-Mailbox", 2, user="GradyA@example.com", parameters=[("Identity", "MeganB")])
    megan_on_other = record("Add-MailboxPermission", 2, object_id="LeeG", parameters=[("Identity", "LeeG")])
    unrelated = record("Set-Mailbox", 2, user="AlexW@example.com", object_id="LeeG",
                       parameters=[("Identity", "LeeG")])
    kept = changes_about(USER, (own, by_other_on_megan, unrelated, megan_on_other.__class__(
        **{**megan_on_other.__dict__, "actor": "LeeG@example.com"})))
    assert kept == (own, by_other_on_megan)


# ------------------------------------------------------------------------------------------------- rule 1


def test_a_rule_created_and_removed_that_forwarded_out_is_high_with_who_when_and_ip() -> None:
    created = record("New-InboxRule", 10, ip=ATTACKER_IP, object_id="MeganB\\.",
                     parameters=[("Mailbox", "MeganB"), ("Name", "."), ("ForwardTo", "drop@evil.example")])
    removed = record("Remove-InboxRule", 6, ip=ATTACKER_IP, object_id="MeganB\\.",
                     parameters=[("Identity", "MeganB\\.")])
    found = mailbox_changes(evidence(created, removed))
    assert codes(found) == [("rule_created_and_removed", Severity.high)]
    finding = found[0]
    assert set(finding.params) == set(FINDING_PARAMS["rule_created_and_removed"])
    assert finding.params["targets"] == "drop@evil.example" and finding.params["ip"] == ATTACKER_IP
    assert ("initiated_by", "MeganB@example.com") in finding.evidence
    assert ("ip", ATTACKER_IP) in finding.evidence


def test_a_rule_that_only_lived_briefly_is_medium_and_one_still_present_is_no_change_finding() -> None:
    created = record("New-InboxRule", 10, parameters=[("Name", "Tidy"), ("SubjectContainsWords", "report")])
    removed = record("Remove-InboxRule", 6, object_id="MeganB\\Tidy", parameters=[("Identity", "MeganB\\Tidy")])
    assert codes(mailbox_changes(evidence(created, removed))) == [("rule_created_and_removed", Severity.medium)]
    assert mailbox_changes(evidence(created)) == []
    # Removed without a creation in the window: nothing to say.
    assert mailbox_changes(evidence(removed)) == []


def test_a_set_inbox_rule_that_made_it_delete_counts_and_outlooks_update_inbox_rules_too() -> None:
    created = record("New-InboxRule", 10, parameters=[("Name", "a")])
    changed = record("Set-InboxRule", 9, parameters=[("Identity", "MeganB\\a"), ("DeleteMessage", "True")])
    removed = record("Remove-InboxRule", 8, parameters=[("Identity", "MeganB\\a")])
    assert codes(mailbox_changes(evidence(created, changed, removed))) == [("rule_created_and_removed", Severity.high)]
    outlook = [record("UpdateInboxRules", 5, record_type="ExchangeItem", properties=[
        ("RuleName", "x"), ("RuleOperation", "AddMailboxRule"), ("RuleActions", "Redirect to a@evil.example")]),
        record("UpdateInboxRules", 4, record_type="ExchangeItem",
               properties=[("RuleName", "x"), ("RuleOperation", "RemoveMailboxRule")])]
    found = mailbox_changes(evidence(*outlook))
    assert codes(found) == [("rule_created_and_removed", Severity.high)]
    assert found[0].params["targets"] == "a@evil.example"


def test_changes_outside_the_window_are_not_judged() -> None:
    created = record("New-InboxRule", 24 * 9, parameters=[("Name", "."), ("ForwardTo", "d@evil.example")])
    removed = record("Remove-InboxRule", 24 * 8.5, parameters=[("Identity", "MeganB\\.")])
    assert mailbox_changes(evidence(created, removed)) == []


# ------------------------------------------------------------------------------------------------- rule 2


def test_forwarding_set_by_someone_else_is_high() -> None:
    change = record("Set-Mailbox", 5, user="GradyA@example.com", ip="192.0.2.201",
                    parameters=[("Identity", "MeganB"), ("ForwardingSmtpAddress", "smtp:out@evil.example")])
    found = mailbox_changes(evidence(change))
    assert codes(found) == [("forwarding_set_by_other", Severity.high)]
    assert found[0].params == {"target": "out@evil.example", "initiated_by": "GradyA@example.com",
                               "time": "2026-03-10T07:00:00Z", "ip": "192.0.2.201"}


def test_forwarding_by_the_user_from_home_is_fine_from_a_foreign_ip_it_is_high() -> None:
    homes = (sign_in(HOME_IP, "NL"), sign_in(ATTACKER_IP, "NG"))
    at_home = record("Set-Mailbox", 5,
                     parameters=[("Identity", "MeganB"), ("ForwardingSmtpAddress", "me@home.example")])
    assert mailbox_changes(evidence(at_home, sign_ins=homes)) == []
    foreign = record("Set-Mailbox", 5, ip=ATTACKER_IP,
                     parameters=[("Identity", "MeganB"), ("ForwardingSmtpAddress", "me@home.example")])
    # The attacker's IP signed in successfully, but only from outside the usage location: still foreign.
    assert codes(mailbox_changes(evidence(foreign, sign_ins=homes))) == [
        ("forwarding_set_from_foreign_ip", Severity.high)]
    # Without the sign-in log nothing tells home from foreign: no finding rather than a guess.
    unread = evidence(foreign, sign_ins=None,
                      unavailable=(Unavailable(SourceName.sign_ins, UnavailableReason.timeout),))
    assert mailbox_changes(unread) == []


def test_clearing_forwarding_and_other_set_mailbox_settings_are_no_sign() -> None:
    cleared = record("Set-Mailbox", 5, user="AlexW@example.com",
                     parameters=[("Identity", "MeganB"), ("ForwardingSmtpAddress", ""),
                                 ("DeliverToMailboxAndForward", "False")])
    quota = record("Set-Mailbox", 5, user="AlexW@example.com",
                   parameters=[("Identity", "MeganB"), ("ProhibitSendQuota", "49GB")])
    assert mailbox_changes(evidence(cleared, quota)) == []


# ------------------------------------------------------------------------------------------------- rule 3


def test_grants_to_others_are_medium_high_outside_and_dated_for_delegation() -> None:
    inside = record("Add-MailboxPermission", 20, user="AlexW@example.com",
                    parameters=[("Identity", "MeganB"), ("User", "LeeG@example.com"), ("AccessRights", "FullAccess")])
    outside = record("Add-RecipientPermission", 10, ip=ATTACKER_IP,
                     parameters=[("Identity", "MeganB"), ("Trustee", "helper@evil.example"),
                                 ("AccessRights", "SendAs")])
    folder = record("Add-MailboxFolderPermission", 8, object_id="MeganB:\\Inbox",
                    parameters=[("Identity", "MeganB:\\Inbox"), ("User", "LeeG@example.com"),
                                ("AccessRights", "Reviewer")])
    ev = evidence(inside, outside, folder)
    found = mailbox_changes(ev)
    assert codes(found) == [("permission_granted", Severity.medium), ("permission_granted", Severity.high),
                            ("permission_granted", Severity.medium)]
    assert found[1].params["trustee"] == "helper@evil.example" and found[1].params["ip"] == ATTACKER_IP
    dated = grant_changes(ev)
    assert dated[("meganb@example.com", "leeg@example.com", "fullaccess")] == NOW - timedelta(hours=20)
    assert dated[("meganb@example.com", "helper@evil.example", "sendas")] == NOW - timedelta(hours=10)
    assert dated[("meganb@example.com", "leeg@example.com", "folder")] == NOW - timedelta(hours=8)
    assert grant_changes(Evidence(user=USER, now=NOW)) == {}


def test_the_indicator_runs_only_when_the_audit_log_was_read_and_its_findings_are_declared() -> None:
    change = record("Set-Mailbox", 5, user="GradyA@example.com",
                    parameters=[("Identity", "MeganB"), ("ForwardingSmtpAddress", "out@evil.example")])
    found = [f for f in run_indicators(evidence(change)) if f.source == SourceName.mailbox_audit]
    assert [f.code for f in found] == ["forwarding_set_by_other"]
    for finding in found:
        assert set(finding.params) == set(FINDING_PARAMS[finding.code])
    not_read = Evidence(user=USER, now=NOW, mailbox_audit=None,
                        unavailable=(Unavailable(SourceName.mailbox_audit, UnavailableReason.permission,
                                                 "View-Only Audit Logs"),))
    assert not not_read.is_available(SourceName.mailbox_audit)
    assert [f for f in run_indicators(not_read) if f.source == SourceName.mailbox_audit] == []
    assert SourceName.mailbox_audit in not_read.missing_sources


# Positive cases for tests/unit/test_indicators.py's "every code fires with exactly its declared params".
CHANGES_CASES: Mapping[str, Callable[[], Evidence]] = {
    "rule_created_and_removed": lambda: evidence(
        record("New-InboxRule", 10, ip=ATTACKER_IP, parameters=[("Name", "."), ("ForwardTo", "d@evil.example")]),
        record("Remove-InboxRule", 6, ip=ATTACKER_IP, parameters=[("Identity", "MeganB\\.")])),
    "forwarding_set_by_other": lambda: evidence(record(
        "Set-Mailbox", 5, user="GradyA@example.com",
        parameters=[("Identity", "MeganB"), ("ForwardingSmtpAddress", "out@evil.example")])),
    "forwarding_set_from_foreign_ip": lambda: evidence(record(
        "Set-Mailbox", 5, ip=ATTACKER_IP,
        parameters=[("Identity", "MeganB"), ("ForwardingSmtpAddress", "o@e.example")]),
        sign_ins=(sign_in(HOME_IP, "NL"),)),
    "permission_granted": lambda: evidence(record(
        "Add-MailboxPermission", 5, user="AlexW@example.com",
        parameters=[("Identity", "MeganB"), ("User", "LeeG@example.com"), ("AccessRights", "FullAccess")])),
}

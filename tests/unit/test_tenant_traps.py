"""Tenant-wide traps (investigation.tenant_traps): mail flow rules that send mail out, and new apps with mail access,
on evidence built here; the records parsed from Microsoft's shapes (Get-TransportRule output, Entra directoryAudit)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from investigation.evidence import Evidence, SourceName
from investigation.indicators import FINDING_PARAMS, Severity, run_indicators
from investigation.tenant_traps import app_changes, tenant_traps, transport_rules
from m365.records import AuditChange, DirectoryAudit, TransportRule, User

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
MEGAN = User(id="2f6d4c93-1b5e-4d0a-83f4-7a8b9c0d1e03", user_principal_name="MeganB@example.com",
             display_name="Megan Bowen", mail="MeganB@example.com")
ADELE = User(id="4b8f6eb5-3d7a-4f2c-a5b6-9c0d1e2f3a05", user_principal_name="AdeleV@example.com",
             display_name="Adele Vance", mail="AdeleV@example.com")
APP_SP = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
GRAPH_SP = "c9e1f0a2-7b3c-4d5e-8f60-718293a4b5c6"


def iso(hours_ago: float) -> str:
    return (NOW - timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def transport_rule(name: str, hours_ago: float, *, state: str = "Enabled", mode: str = "Enforce",
                   **actions: Any) -> TransportRule:
    obj: dict[str, Any] = {"Name": name, "Identity": name, "Guid": "1f0e2d3c-4b5a-4968-8776-a5b4c3d2e1f0",
                           "Priority": 0, "State": state, "Mode": mode, "WhenChanged": iso(hours_ago),
                           "RedirectMessageTo": None, "BlindCopyTo": None, "AddToRecipients": None, "CopyTo": None,
                           "RouteMessageOutboundConnector": None, **actions}
    return TransportRule.from_exchange(obj)


def rule_audit(name: str, *, user: str = "MeganB@example.com", hours_ago: float = 5) -> AuditChange:
    data = {"CreationTime": iso(hours_ago).rstrip("Z"), "Id": "r1", "Operation": "New-TransportRule",
            "UserId": user, "ClientIP": "192.0.2.150", "ObjectId": name, "RecordType": 1, "ResultStatus": "True",
            "Parameters": [{"Name": "Name", "Value": name}, {"Name": "BlindCopyTo", "Value": "x@evil.example"}]}
    return AuditChange.from_exchange({"RecordType": "ExchangeAdmin", "AuditData": json.dumps(data)})


def audit(activity: str, hours_ago: float, targets: list[dict[str, Any]], *, by: User = MEGAN,
          ip: str = "192.0.2.150") -> DirectoryAudit:
    """A Graph directoryAudit as v1.0 returns it (the shape of the seed's and Microsoft's example)."""
    return DirectoryAudit.from_graph({
        "id": f"{activity}-{hours_ago}", "category": "ApplicationManagement", "result": "success",
        "activityDisplayName": activity, "activityDateTime": iso(hours_ago), "loggedByService": "Core Directory",
        "initiatedBy": {"app": None, "user": {"id": by.id, "userPrincipalName": by.user_principal_name,
                                              "ipAddress": ip}},
        "targetResources": targets, "additionalDetails": []})


def target(tid: str, name: str | None, type_: str, **props: str) -> dict[str, Any]:
    return {"id": tid, "displayName": name, "type": type_, "userPrincipalName": None,
            "modifiedProperties": [{"displayName": k.replace("_", "."), "oldValue": None, "newValue": f'"{v}"'}
                                   for k, v in props.items()]}


def evidence(user: User = MEGAN, **extra: Any) -> Evidence:
    return Evidence(user=user, now=NOW, verified_domains=("example.com",), **extra)


def codes(found: list[Any]) -> list[tuple[str, Severity]]:
    return [(f.code, f.severity) for f in found]


# ------------------------------------------------------------------------------------------- transport rules


def test_parser_reads_get_transport_rule_output() -> None:
    rule = TransportRule.from_exchange({"Name": "Copy", "State": "Enabled", "Mode": "Enforce", "Priority": 2,
                                        "WhenChanged": "2026-03-10T07:00:00Z",
                                        "BlindCopyTo": ["x@evil.example"], "RedirectMessageTo": None,
                                        "RouteMessageOutboundConnector": "Partner"})
    assert rule.enforced and rule.priority == 2 and rule.recipients == ("x@evil.example",)
    assert rule.outbound_connector == "Partner" and rule.when_changed == NOW - timedelta(hours=5)
    assert not TransportRule.from_exchange({"Name": "t", "State": "Enabled", "Mode": "AuditAndNotify"}).enforced
    assert TransportRule.from_exchange({}).name == ""


def test_a_new_bcc_rule_to_outside_is_high_on_its_makers_card_and_low_elsewhere() -> None:
    rule = transport_rule("Compliance copy", 5, BlindCopyTo=["archive@evil.example"])
    mine = transport_rules(evidence(transport_rules=(rule,), mailbox_audit=(rule_audit("Compliance copy"),)))
    assert codes(mine) == [("tenant_transport_rule_external", Severity.high)]
    assert mine[0].params["initiated_by"] == "MeganB@example.com"
    assert ("ip", "192.0.2.150") in mine[0].evidence
    assert set(mine[0].params) == set(FINDING_PARAMS["tenant_transport_rule_external"])
    # On another account's card the rule shows as context: this account's audit changes do not include it.
    elsewhere = transport_rules(evidence(ADELE, transport_rules=(rule,), mailbox_audit=()))
    assert codes(elsewhere) == [("tenant_transport_rule_external", Severity.low)]
    assert elsewhere[0].params["initiated_by"] == ""


def test_old_internal_disabled_and_test_mode_rules_are_no_finding() -> None:
    rules = (
        transport_rule("Company disclaimer", 24 * 300, SentToScope="NotInOrganization"),
        transport_rule("Old redirect", 24 * 30, RedirectMessageTo=["x@evil.example"]),
        transport_rule("To the helpdesk", 5, AddToRecipients=["helpdesk@example.com"]),
        transport_rule("Disabled", 5, state="Disabled", BlindCopyTo=["x@evil.example"]),
        transport_rule("Testing", 5, mode="Audit", BlindCopyTo=["x@evil.example"]),
    )
    assert transport_rules(evidence(transport_rules=rules)) == []


def test_a_redirect_or_an_outbound_connector_counts() -> None:
    rules = (transport_rule("r", 3, RedirectMessageTo=["x@evil.example"]),
             transport_rule("c", 3, RouteMessageOutboundConnector="Smart host"))
    found = transport_rules(evidence(transport_rules=rules))
    assert [f.params["actions"] for f in found] == ["RedirectMessageTo", "RouteMessageOutboundConnector"]


# ----------------------------------------------------------------------------------------------------- apps


def new_app_with_secret_and_mail_read(by: User = MEGAN) -> tuple[DirectoryAudit, ...]:
    return (
        audit("Add service principal", 6, [target(APP_SP, "Backup Connector", "ServicePrincipal")], by=by),
        audit("Update application \u2013 Certificates and secrets management ", 5.9,
              [target("0b1c2d3e-app-object", "Backup Connector", "Application", KeyDescription="[KeyType=Password]")],
              by=by),
        audit("Add app role assignment to service principal", 5.8,
              [target(GRAPH_SP, "Microsoft Graph", "ServicePrincipal", AppRole_Value="Mail.Read",
                      ServicePrincipal_ObjectID=APP_SP, ServicePrincipal_DisplayName="Backup Connector")], by=by),
        audit("Consent to application", 5.8, [target(APP_SP, "Backup Connector", "ServicePrincipal",
                                                      ConsentContext_IsAdminConsent="True")], by=by),
    )


def test_a_new_app_with_a_secret_and_mail_read_is_one_high_finding_for_its_maker() -> None:
    found = app_changes(evidence(app_changes=new_app_with_secret_and_mail_read()))
    assert codes(found) == [("tenant_app_mail_access", Severity.high)]
    assert found[0].params["app"] == "Backup Connector" and found[0].params["scopes"] == "Mail.Read"
    assert "Update application \u2013 Certificates and secrets management" in found[0].params["activities"]
    assert set(found[0].params) == set(FINDING_PARAMS["tenant_app_mail_access"])
    # Someone else's card: the same app, as context.
    assert codes(app_changes(evidence(ADELE, app_changes=new_app_with_secret_and_mail_read()))) == [
        ("tenant_app_mail_access", Severity.low)]


def test_a_credential_alone_and_a_bare_service_principal() -> None:
    secret = (audit("Add service principal credentials", 3,
                    [target(APP_SP, "Old App", "ServicePrincipal", KeyDescription="[KeyType=Password]")], by=ADELE),)
    assert codes(app_changes(evidence(app_changes=secret))) == [("tenant_app_credential", Severity.low)]
    assert codes(app_changes(evidence(ADELE, app_changes=secret))) == [("tenant_app_credential", Severity.high)]
    bare = (audit("Add service principal", 3, [target(APP_SP, "Zoom", "ServicePrincipal")], by=ADELE),)
    # A service principal appears whenever a user consents to any app: low on its maker's card, nothing elsewhere.
    assert codes(app_changes(evidence(ADELE, app_changes=bare))) == [("tenant_app_added", Severity.low)]
    assert app_changes(evidence(app_changes=bare)) == []


def test_a_users_own_delegated_consent_shows_only_on_their_card() -> None:
    audits = (
        audit("Add service principal", 3, [target(APP_SP, "Mail Sync Pro", "ServicePrincipal")], by=ADELE),
        audit("Add delegated permission grant", 2.9,
              [target(GRAPH_SP, None, "ServicePrincipal", DelegatedPermissionGrant_Scope="Mail.Read Mail.Send",
                      DelegatedPermissionGrant_ConsentType="Principal"),
               target(APP_SP, None, "ServicePrincipal")], by=ADELE),
    )
    found = app_changes(evidence(ADELE, app_changes=audits))
    assert codes(found) == [("tenant_app_mail_access", Severity.high)]
    assert found[0].params["app"] == "Mail Sync Pro" and found[0].params["scopes"] == "Mail.Read, Mail.Send"
    assert app_changes(evidence(app_changes=audits)) == []
    # An admin's grant for all principals is tenant-wide.
    for_all = (audit("Add delegated permission grant", 2.9,
                     [target(GRAPH_SP, None, "ServicePrincipal", DelegatedPermissionGrant_Scope="Mail.ReadWrite",
                             DelegatedPermissionGrant_ConsentType="AllPrincipals"),
                      target(APP_SP, None, "ServicePrincipal")], by=ADELE),)
    assert codes(app_changes(evidence(app_changes=for_all))) == [("tenant_app_mail_access", Severity.low)]


def test_app_changes_outside_the_window_or_without_mail_permissions_are_no_finding() -> None:
    old = tuple(a.__class__(**{**a.__dict__, "activity_time": NOW - timedelta(days=60)})
                for a in new_app_with_secret_and_mail_read())
    assert app_changes(evidence(app_changes=old)) == []
    calendar = (audit("Add app role assignment to service principal", 3,
                      [target(GRAPH_SP, "Microsoft Graph", "ServicePrincipal", AppRole_Value="Calendars.Read",
                              ServicePrincipal_ObjectID=APP_SP, ServicePrincipal_DisplayName="Room Finder")]),)
    assert app_changes(evidence(ADELE, app_changes=calendar)) == []


def test_registered_and_run_only_when_a_tenant_wide_source_was_read() -> None:
    ev = evidence(app_changes=new_app_with_secret_and_mail_read(),
                  transport_rules=(transport_rule("r", 3, RedirectMessageTo=["x@evil.example"]),))
    found = [f for f in run_indicators(ev) if f.source in (SourceName.app_changes, SourceName.transport_rules)]
    assert sorted(f.code for f in found) == ["tenant_app_mail_access", "tenant_transport_rule_external"]
    assert tenant_traps(evidence()) == []
    assert not evidence().is_available(SourceName.transport_rules)


# Positive cases for tests/unit/test_indicators.py's "every code fires with exactly its declared params".
TENANT_TRAPS_CASES: Mapping[str, Callable[[], Evidence]] = {
    "tenant_transport_rule_external": lambda: evidence(
        transport_rules=(transport_rule("Copy", 5, BlindCopyTo=["archive@evil.example"]),),
        mailbox_audit=(rule_audit("Copy"),)),
    "tenant_app_mail_access": lambda: evidence(app_changes=new_app_with_secret_and_mail_read()),
    "tenant_app_credential": lambda: evidence(app_changes=(audit(
        "Add service principal credentials", 3, [target(APP_SP, "Old App", "ServicePrincipal")]),)),
    "tenant_app_added": lambda: evidence(app_changes=(audit(
        "Add service principal", 3, [target(APP_SP, "Zoom", "ServicePrincipal")]),)),
}

"""Every object the demo seed serves as Graph is valid for its Microsoft Graph v1.0 type (metadata in demo_tenant/)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from demo_tenant.contract import Resolver

SEED = Path(__file__).resolve().parents[2] / "demo_tenant" / "seeds" / "contoso.json"

# Seed section -> the v1.0 type its objects have (sections keyed by user id hold lists of that type).
SECTION_TYPES = {
    "subscribedSkus": "microsoft.graph.subscribedSku",
    "organization": "microsoft.graph.organization",
    "domains": "microsoft.graph.domain",
    "users": "microsoft.graph.user",
    "groups": "microsoft.graph.group",
    "directoryRoles": "microsoft.graph.directoryRole",
    "memberOf": "microsoft.graph.directoryObject",
    "mailFolders": "microsoft.graph.mailFolder",
    "messageRules": "microsoft.graph.messageRule",
    "signIns": "microsoft.graph.signIn",
    "directoryAudits": "microsoft.graph.directoryAudit",
    "riskyUsers": "microsoft.graph.riskyUser",
    "riskDetections": "microsoft.graph.riskDetection",
    "authenticationMethods": "microsoft.graph.authenticationMethod",
    "userRegistrationDetails": "microsoft.graph.userRegistrationDetails",
    "oauth2PermissionGrants": "microsoft.graph.oAuth2PermissionGrant",
    "servicePrincipals": "microsoft.graph.servicePrincipal",
    "appRoleAssignments": "microsoft.graph.appRoleAssignment",
    "alerts_v2": "microsoft.graph.security.alert",
}


def _seed_graph() -> dict[str, Any]:
    graph = json.loads(SEED.read_text(encoding="utf-8"))["graph"]
    assert isinstance(graph, dict)
    return graph


def _objects(section: Any) -> list[Any]:
    if isinstance(section, dict):
        return [item for items in section.values() for item in items]
    return list(section)


def test_every_seed_section_is_mapped_to_a_v1_type() -> None:
    resolver = Resolver()
    assert set(_seed_graph()) <= set(SECTION_TYPES), "a new seed section needs its v1.0 type here"
    for type_name in SECTION_TYPES.values():
        assert resolver.meta.type(type_name) is not None, type_name


@pytest.mark.parametrize("section", sorted(SECTION_TYPES))
def test_seed_section_holds_only_v1_properties(section: str) -> None:
    graph = _seed_graph()
    if section not in graph:
        pytest.fail(f"seed has no graph section {section}")
    resolver = Resolver()
    problems = resolver.body_violations(SECTION_TYPES[section], _objects(graph[section]), section)
    assert problems == []


def test_body_check_finds_a_beta_property_nested_and_derived() -> None:
    resolver = Resolver()
    folder = {"id": "f1", "displayName": "Inbox", "wellKnownName": "inbox"}
    assert resolver.body_violations("microsoft.graph.mailFolder", [folder]) == [
        ".wellKnownName: not a property of microsoft.graph.mailFolder"]
    sign_in = {"id": "s1", "status": {"errorCode": 0, "reason": "x"}}
    assert resolver.body_violations("microsoft.graph.signIn", sign_in) == [
        ".status.reason: not a property of microsoft.graph.signInStatus"]
    # Inherited properties count: this metadata declares createdDateTime on the abstract authenticationMethod.
    phone = {"@odata.type": "#microsoft.graph.phoneAuthenticationMethod", "id": "m", "createdDateTime": "x",
             "phoneNumber": "+1 5555550100", "phoneType": "mobile"}
    assert resolver.body_violations("microsoft.graph.authenticationMethod", phone) == []
    fido = {"@odata.type": "#microsoft.graph.fido2AuthenticationMethod", "id": "m", "creationDateTime": "x"}
    assert resolver.body_violations("microsoft.graph.authenticationMethod", fido) == [
        ".creationDateTime: not a property of microsoft.graph.fido2AuthenticationMethod"]
    unknown = {"@odata.type": "#microsoft.graph.madeUpMethod", "id": "m"}
    assert resolver.body_violations("microsoft.graph.authenticationMethod", unknown) == [
        "@odata.type: unknown type 'microsoft.graph.madeUpMethod'"]
    # An open directory type takes directory extensions, nothing else undeclared.
    sp = {"id": "s", "publisherName": "x", "extension_0123456789abcdef0123456789abcdef_team": "y"}
    assert resolver.body_violations("microsoft.graph.servicePrincipal", sp) == [
        ".publisherName: not a property of microsoft.graph.servicePrincipal"]

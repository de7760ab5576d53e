"""Microsoft's own example responses (microsoft-graph-docs-contrib, v1.0 API reference) through our parsers.

Each fixture under tests/fixtures/microsoft/graph/ names the page and commit it was taken from; its body is
kept as the page shows it (any edit is listed in the fixture's "edits"). The tests assert what the parsers
make of them, so a parser that leans on a property Microsoft does not send shows here, not in a customer's
tenant. See also the indicator tests on these shapes.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest

from investigation.evidence import Evidence, SourceName
from investigation.indicators import run_indicators
from m365.exchange import ExchangeClient
from m365.graph import GraphClient
from m365.records import (
    AuthMethod,
    DirectoryAudit,
    DirectoryObject,
    InboxRule,
    MailFolder,
    OAuthGrant,
    RegistrationDetails,
    RiskDetection,
    RiskyUser,
    SecurityAlert,
    ServicePrincipal,
    SignIn,
    User,
)
from m365.tenant import M365Tenant

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "microsoft" / "graph"
Json = Mapping[str, Any]


def load(stem: str) -> dict[str, Any]:
    """The whole fixture (source, request, edits, response)."""
    data: dict[str, Any] = json.loads((FIXTURES / f"{stem}.json").read_text(encoding="utf-8"))
    return data


def items(stem: str) -> list[Json]:
    """The response's entities: a collection's `value`, or the single entity (some pages wrap it in
    `{"value": {...}}`, which real Graph does not do)."""
    body = load(stem)["response"]
    value = body.get("value")
    if isinstance(value, list):
        return value
    if isinstance(value, Mapping):
        return [value]
    return [body]


def one(stem: str) -> Json:
    [entity] = items(stem)
    return entity


# Every fixture and what reads it: a new fixture must be given a parser test here.
PARSED_BY: dict[str, Callable[[Json], object]] = {
    "signin-list": SignIn.from_graph,
    "directoryaudit-list": DirectoryAudit.from_graph,
    "directoryaudit-list-filter-initiatedby": DirectoryAudit.from_graph,
    "riskdetection-list": RiskDetection.from_graph,
    "riskdetection-get": RiskDetection.from_graph,
    "riskyuser-get": RiskyUser.from_graph,
    "riskyuser-list": RiskyUser.from_graph,
    "authentication-list-methods": AuthMethod.from_graph,
    "phoneauthenticationmethod-get": AuthMethod.from_graph,
    "emailauthenticationmethod-get": AuthMethod.from_graph,
    "microsoftauthenticatorauthenticationmethod-get": AuthMethod.from_graph,
    "fido2authenticationmethod-get": AuthMethod.from_graph,
    "softwareoathauthenticationmethod-get": AuthMethod.from_graph,
    "passwordauthenticationmethod-get": AuthMethod.from_graph,
    "windowshelloforbusinessauthenticationmethod-get": AuthMethod.from_graph,
    "userregistrationdetails-get": RegistrationDetails.from_graph,
    "authenticationmethodsroot-list-userregistrationdetails": RegistrationDetails.from_graph,
    "user-list-oauth2permissiongrants": OAuthGrant.from_graph,
    "user-list-transitivememberof": DirectoryObject.from_graph,
    "user-get": User.from_graph,
    "user-list": User.from_graph,
    "user-list-search-count": User.from_graph,
    "user-list-assignedlicenses": User.from_graph,
    "serviceprincipal-get": ServicePrincipal.from_graph,
    "serviceprincipal-list": ServicePrincipal.from_graph,
    "security-alert-get": SecurityAlert.from_graph,
    "security-list-alerts_v2": SecurityAlert.from_graph,
    "security-alert-mail-evidence": SecurityAlert.from_graph,
    "user-list-mailfolders": MailFolder.from_graph,
    "mailfolder-list-messagerules": InboxRule.from_graph,
}


def _stems() -> list[str]:
    return sorted(p.stem for p in FIXTURES.glob("*.json"))


def test_every_fixture_has_a_parser_test() -> None:
    """Parser tests of fixtures owned by this module (other parts may add their own fixtures and tests)."""
    assert set(PARSED_BY) <= set(_stems())


@pytest.mark.parametrize("stem", _stems())
def test_fixture_names_its_source(stem: str) -> None:
    data = load(stem)
    source = data["source"]
    assert source["repo"] == "microsoftgraph/microsoft-graph-docs-contrib"
    paths = [source["path"]] if "path" in source else list(source["paths"])
    commits = [source["commit"]] if "commit" in source else list(source["commits"].values())
    assert paths and all(p.startswith("api-reference/v1.0/") and p.endswith(".md") for p in paths)
    assert commits and all(re.fullmatch(r"[0-9a-f]{40}", c) for c in commits)
    assert data["request"].startswith("GET https://graph.microsoft.com/v1.0/")
    assert isinstance(data["response"], dict)
    assert all(isinstance(e, str) and e for e in data.get("edits", []))


@pytest.mark.parametrize("stem", sorted(PARSED_BY))
def test_every_entity_parses(stem: str) -> None:
    parse = PARSED_BY[stem]
    parsed = [parse(e) for e in items(stem)]
    assert parsed and all(getattr(p, "id", None) is not None for p in parsed)


# ---------------------------------------------------------------------------------------- sign-ins


def test_sign_in_example() -> None:
    s = SignIn.from_graph(one("signin-list"))
    assert (s.id, s.user_id, s.user_principal_name) == (
        "66ea54eb-6301-4ee5-be62-ff5a759b0100", "26be570a-ae82-4189-b4e2-a37c6808512d", "testaccount1@contoso.com")
    assert s.created == datetime(2020, 3, 13, 19, 15, 41, 619583, tzinfo=UTC)
    assert (s.app_display_name, s.client_app_used, s.ip_address) == ("Graph explorer", "Browser", "131.107.159.37")
    assert (s.city, s.country) == ("Redmond", "US")
    # `failureReason: null` on a success.
    assert s.succeeded and s.failure_reason == ""
    assert (s.risk_level_during_sign_in, s.risk_level_aggregated, s.risk_state, s.risk_detail) == (
        "none", "none", "none", "none")
    assert s.risk_event_types == ()
    assert s.conditional_access_status == "notApplied"
    assert s.is_interactive


# -------------------------------------------------------------------------------------- directory


def test_directory_audit_examples() -> None:
    a = DirectoryAudit.from_graph(one("directoryaudit-list"))
    assert (a.activity, a.category, a.result) == ("Add member to group", "UserManagement", "success")
    assert a.activity_time == datetime(2018, 1, 9, 21, 20, 2, 721537, tzinfo=UTC)
    assert (a.initiated_by_user_id, a.initiated_by_upn, a.initiated_by_ip) == (
        "728309ae-1a37-4937-9afe-e35d964db09b", "bob@wingtiptoysonline.com", "127.0.0.1")
    # `"app": null` beside the user.
    assert a.initiated_by_app == ""
    assert a.target_ids == ("ef7e527d-6c92-4234-8c6d-cf6fdfb57f95", "1f0e98f5-3161-4c6b-9b50-d488572f2bb7")
    assert a.target_names == ("Example.com", "bob@contoso.com")
    [prop] = a.modified_properties
    assert (prop.name, prop.old_value, prop.new_value) == ("Action Client Name", "", "DirectorySync")
    assert a.detail("additional detail name") == "Additional Detail Value"

    b = DirectoryAudit.from_graph(one("directoryaudit-list-filter-initiatedby"))
    # Nulls everywhere: userPrincipalName, displayName, the target's name.
    assert (b.initiated_by_upn, b.initiated_by_ip, b.target_names, b.details) == ("", "10.0.0.0", ("",), ())


def test_oauth_grant_example_scope_has_a_leading_space() -> None:
    g = OAuthGrant.from_graph(one("user-list-oauth2permissiongrants"))
    assert g.scopes == ("Contacts.ReadWrite", "openid", "profile")
    assert (g.consent_type, g.principal_id, g.client_id) == (
        "Principal", "7d54cb02-aaa3-4016-9f9c-a4b49422dd9b", "85477313-ea43-4c7d-b8a4-54fed35d0b60")


def test_membership_example_without_id_is_a_group() -> None:
    m = DirectoryObject.from_graph(one("user-list-transitivememberof"))
    assert (m.kind, m.display_name, m.is_role, m.role_template_id) == ("group", "All_Contoso_Licensing", False, None)


def test_user_example_default_properties() -> None:
    u = User.from_graph(one("user-get"))
    assert (u.id, u.user_principal_name, u.display_name) == (
        "87d349ed-44d7-43e1-9a83-5f2406dee5bd", "AdeleV@contoso.com", "Adele Vance")
    assert (u.job_title, u.preferred_language, u.smtp_address) == ("Retail Manager", "en-US", "AdeleV@contoso.com")
    # Not in the default set: the defaults of the record, not a guess.
    assert (u.user_type, u.account_enabled, u.assigned_licenses, u.is_guest) == ("Member", True, 0, False)


def test_service_principal_example() -> None:
    sp = ServicePrincipal.from_graph(one("serviceprincipal-get"))
    assert (sp.id, sp.display_name, sp.verified_publisher) == (
        "00af5dfb-85da-4b41-a677-0c6b86dd34f8", "My app instance in tenant", "publisher_contoso")
    assert sp.is_verified
    assert sp.app_owner_organization_id == "65415bb1-9267-4313-bbf5-ae259732ee12"


def test_user_list_example_default_properties() -> None:
    adams, admin = (User.from_graph(u) for u in items("user-list"))
    assert (adams.id, adams.user_principal_name, adams.display_name, adams.smtp_address) == (
        "6ea91a8d-e32e-41a1-b7bd-d2d185eed0e0", "Adams@contoso.com", "Conf Room Adams", "Adams@contoso.com")
    # `jobTitle` and `preferredLanguage` null: None, not "".
    assert (adams.job_title, adams.preferred_language) == (None, None)
    # `"mail": null`: the address falls back to the UPN.
    assert (admin.mail, admin.smtp_address, admin.preferred_language) == (None, "admin@contoso.com", "en-US")
    assert not admin.is_guest and admin.user_type == "Member"


def test_user_search_example_guest_known_by_its_upn_only() -> None:
    """The `$search` example sends no `userType` (nor id): the B2B guest is still known by its `#EXT#` UPN."""
    oscar, guest = (User.from_graph(u) for u in items("user-list-search-count"))
    assert (oscar.id, oscar.display_name, oscar.is_guest) == ("", "Oscar Ward", False)
    assert guest.user_principal_name == "contosoadmin1_fabrikam.com#EXT#@microsoft.onmicrosoft.com"
    assert (guest.user_type, guest.is_guest) == ("Member", True)
    assert guest.smtp_address == "'contosoadmin1@fabrikam.com"  # the page's stray apostrophe, kept as sent


def test_user_licence_example_counts_assigned_licenses() -> None:
    admin, debra = (User.from_graph(u) for u in items("user-list-assignedlicenses"))
    assert (admin.id, admin.assigned_licenses, admin.smtp_address) == (
        "cb4954e8-467f-4a6d-a8c8-28b9034fadbc", 1, "admin@contoso.com")
    assert (debra.mail, debra.assigned_licenses, debra.user_principal_name) == ("DebraB@contoso.com", 1, "")


def test_service_principal_list_example_publisher_name_is_not_verification() -> None:
    """The page shows the beta-only `publisherName` and no `verifiedPublisher`: the app is not verified."""
    sp = ServicePrincipal.from_graph(one("serviceprincipal-list"))
    assert (sp.id, sp.app_id, sp.display_name) == (
        "59e617e5-e447-4adc-8b88-00af644d7c92", "65415bb1-9267-4313-bbf5-ae259732ee12", "foo")
    assert (sp.verified_publisher, sp.verified_publisher_id, sp.is_verified) == (None, None, False)
    assert sp.app_owner_organization_id == "1bc1c026-2f7b-48a5-98da-afa2fd8bc7bc"
    assert sp.is_foreign is None
    assert dataclasses.replace(sp, read_in_tenant="84841066-274d-4ec0-a5c1-276be684bdd3").is_foreign is True
    assert dataclasses.replace(sp, read_in_tenant="1BC1C026-2F7B-48A5-98DA-AFA2FD8BC7BC").is_foreign is False


def _graph_answering(monkeypatch: pytest.MonkeyPatch, body: Json, asked: list[tuple[str, object]]) -> GraphClient:
    """A GraphClient whose `get` answers `body` (no session: the domain reader only calls `get`)."""
    graph = GraphClient.__new__(GraphClient)

    async def get(path: str, params: object = None, **_: object) -> Any:
        asked.append((path, params))
        return body

    monkeypatch.setattr(graph, "get", get)
    return graph


async def test_organization_example_verified_domains(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[tuple[str, object]] = []
    graph = _graph_answering(monkeypatch, load("organization-list")["response"], asked)
    assert await graph.get_organization_domains() == [("contoso.onmicrosoft.com", True)]
    assert asked == [("/organization", {"$select": "id,verifiedDomains"})]
    tenant = M365Tenant(graph, cast(ExchangeClient, None), tenant_id="84841066-274d-4ec0-a5c1-276be684bdd3")
    assert await tenant.list_verified_domains() == ("contoso.onmicrosoft.com",)
    assert await tenant.initial_domain() == "contoso.onmicrosoft.com"


async def test_domain_list_example_is_not_what_the_domain_reader_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """`/domains` names a domain by `id` (no `name`), and its example has no `isVerified`: the bot's verified
    domains come from `/organization`'s `verifiedDomains`, and a `/domains` body gives that reader nothing."""
    [domain] = items("domain-list")
    assert (domain["id"], domain["isInitial"], domain["isDefault"]) == ("contoso.com", True, True)
    assert "name" not in domain and "isVerified" not in domain
    graph = _graph_answering(monkeypatch, load("domain-list")["response"], [])
    assert await graph.get_organization_domains() == []


def test_mail_folder_example_has_no_well_known_name() -> None:
    """v1.0 mail folders carry no `wellKnownName` (beta only): the example's folders are named by displayName."""
    folders = [MailFolder.from_graph(f) for f in items("user-list-mailfolders")]
    assert [f.display_name for f in folders][:5] == [
        "Archive", "Conversation History", "Deleted Items", "Drafts", "Inbox"]
    assert all("wellKnownName" not in f for f in items("user-list-mailfolders"))
    assert folders[5].id == "AAMkADYRAAAZg1yTAAA="  # a mailSearchFolder in the same list


def test_message_rule_example() -> None:
    spam, partner = (InboxRule.from_graph(r) for r in items("mailfolder-list-messagerules"))
    assert (spam.display_name, spam.sequence, spam.delete, spam.stop_processing_rules) == ("Remove spam", 1, True, True)
    assert spam.conditions == {"subjectContains": ["enter to win"]}
    assert (partner.forward_to, partner.external_targets) == (
        ("AlexW@contoso.onmicrosoft.com",), ("AlexW@contoso.onmicrosoft.com",))
    assert not partner.delete and partner.is_enabled and not partner.has_error


# --------------------------------------------------------------------------------- Identity Protection


@pytest.mark.parametrize("stem", ["riskdetection-list", "riskdetection-get"])
def test_risk_detection_example(stem: str) -> None:
    d = RiskDetection.from_graph(one(stem))
    assert (d.risk_event_type, d.risk_level, d.risk_state) == ("unfamiliarFeatures", "medium", "remediated")
    assert (d.user_id, d.ip_address, d.city, d.country, d.activity) == (
        "abcdefab-af90-4edf-ac4c-742ff06735d0", "123.456.7.89", "Seattle", "US", "signin")
    assert d.detected == datetime(2018, 9, 5, 0, 11, 27, 773602, tzinfo=UTC)
    assert d.request_id == "6a5874ca-abcd-9d82-5ad39bd71600"


@pytest.mark.parametrize("stem", ["riskyuser-get", "riskyuser-list"])
def test_risky_user_example_with_type_placeholders(stem: str) -> None:
    """The pages show type names ("String (timestamp)") where values belong: nothing is invented from them."""
    r = RiskyUser.from_graph(one(stem))
    assert r.id == "d1d4a5d4-a5d4-d1d4-d4a5-d4d1d4a5d4d1"
    assert r.risk_last_updated is None
    assert (r.risk_level, r.risk_state) == ("String", "String")


# ------------------------------------------------------------------------------- authentication methods


def test_method_list_example_dates_fido2_by_creation_date_time() -> None:
    fido2, hello = (AuthMethod.from_graph(m) for m in items("authentication-list-methods"))
    assert (fido2.kind, fido2.display_name) == ("fido2AuthenticationMethod", "Red key")
    assert fido2.created == datetime(2020, 8, 10, 6, 44, 9, tzinfo=UTC)
    assert (hello.kind, hello.display_name) == ("windowsHelloForBusinessAuthenticationMethod", "Jordan's Surface Book")
    assert hello.created == datetime(2020, 11, 27, 23, 12, 49, tzinfo=UTC)


@pytest.mark.parametrize(("stem", "kind", "name"), [
    ("phoneauthenticationmethod-get", "phoneAuthenticationMethod", "+1 2065555555"),
    ("emailauthenticationmethod-get", "emailAuthenticationMethod", "Kim@contoso.com"),
    ("softwareoathauthenticationmethod-get", "softwareOathAuthenticationMethod", ""),
    ("passwordauthenticationmethod-get", "passwordAuthenticationMethod", ""),
])
def test_methods_microsoft_shows_without_a_date(stem: str, kind: str, name: str) -> None:
    """Phone, email, OATH and password methods come without a registration date (the password's is null)."""
    m = AuthMethod.from_graph(one(stem), kind=kind)
    assert (m.kind, m.display_name, m.created) == (kind, name, None)
    assert m.is_password == (kind == "passwordAuthenticationMethod")


@pytest.mark.parametrize(("stem", "kind", "created"), [
    ("microsoftauthenticatorauthenticationmethod-get", "microsoftAuthenticatorAuthenticationMethod",
     datetime(2020, 12, 3, 23, 16, 12, tzinfo=UTC)),
    ("windowshelloforbusinessauthenticationmethod-get", "windowsHelloForBusinessAuthenticationMethod",
     datetime(2020, 11, 27, 23, 12, 49, tzinfo=UTC)),
    ("fido2authenticationmethod-get", "fido2AuthenticationMethod", datetime(2020, 8, 10, 6, 44, 9, tzinfo=UTC)),
])
def test_methods_microsoft_dates(stem: str, kind: str, created: datetime) -> None:
    m = AuthMethod.from_graph(one(stem), kind=kind)
    assert (m.kind, m.created) == (kind, created)


def test_odata_type_wins_over_the_endpoint_kind() -> None:
    m = AuthMethod.from_graph(one("microsoftauthenticatorauthenticationmethod-get"), kind="phoneAuthenticationMethod")
    assert (m.kind, m.display_name) == ("microsoftAuthenticatorAuthenticationMethod", "Sandeep's iPhone")


@pytest.mark.parametrize("stem", [
    "userregistrationdetails-get", "authenticationmethodsroot-list-userregistrationdetails",
])
def test_registration_details_example(stem: str) -> None:
    alex = RegistrationDetails.from_graph(items(stem)[0])
    assert (alex.id, alex.is_mfa_registered, alex.is_mfa_capable, alex.is_admin) == (
        "86462606-fde0-4fc4-9e0c-a20eb73e54c6", True, True, False)
    assert alex.methods_registered == ("microsoftAuthenticatorPush", "softwareOneTimePasscode")


def test_registration_details_list_example_without_methods() -> None:
    allan = RegistrationDetails.from_graph(items("authenticationmethodsroot-list-userregistrationdetails")[1])
    assert (allan.is_mfa_registered, allan.methods_registered) == (False, ())


# ------------------------------------------------------------------------------------------- alerts


@pytest.mark.parametrize("stem", ["security-alert-get", "security-list-alerts_v2"])
def test_endpoint_alert_example_names_no_user(stem: str) -> None:
    """Device, file, process (SYSTEM, with null UPN and AAD id) and registry evidence: no user to attribute."""
    a = SecurityAlert.from_graph(one(stem))
    assert (a.title, a.severity, a.status, a.category) == (
        "Suspicious execution of hidden file", "low", "new", "DefenseEvasion")
    assert a.service_source == "microsoftDefenderForEndpoint"
    assert a.created == datetime(2021, 4, 27, 12, 19, 27, 721130, tzinfo=UTC)
    assert (a.user_upns, a.user_ids) == ((), ())


def test_mail_evidence_shapes_name_their_users() -> None:
    a = SecurityAlert.from_graph(one("security-alert-mail-evidence"))
    assert a.user_upns == (
        "recipient@contoso.com", "billing@mail.example.net",  # analyzedMessageEvidence recipient, p1/p2 sender
        "mailbox.upn@contoso.com", "mailbox@contoso.com",  # mailboxEvidence userAccount, primaryAddress, upn
        "owner@contoso.com",  # userEvidence
        "config.upn@contoso.com", "config@contoso.com",  # mailboxConfigurationEvidence upn, primary address
    )
    assert a.user_ids == ("11111111-2222-3333-4444-555555555555", "66666666-7777-8888-9999-000000000000",
                          "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee")


def test_mail_evidence_alert_is_attributed_to_the_mailbox_owner() -> None:
    """End to end: the example alert reaches the card of a user named only by the mailbox's primary address
    (its userAccount names another UPN) or only as the message's recipient."""
    alert = SecurityAlert.from_graph(one("security-alert-mail-evidence"))
    now = datetime(2024, 10, 22, 12, 0, tzinfo=UTC)
    owner = User.from_graph({"id": "00000000-0000-0000-0000-00000000000a", "userPrincipalName": "owner2@contoso.com",
                             "displayName": "Mailbox Owner", "mail": "mailbox@contoso.com"})
    recipient = User.from_graph({"id": "00000000-0000-0000-0000-00000000000b",
                                 "userPrincipalName": "recipient@contoso.com", "displayName": "Recipient"})
    stranger = User.from_graph({"id": "00000000-0000-0000-0000-000000000001", "userPrincipalName": "x@contoso.com",
                                "displayName": "X"})

    def findings(user: User) -> list[str]:
        evidence = Evidence(user=user, now=now, verified_domains=("contoso.com",), alerts=(alert,))
        return [f.code for f in run_indicators(evidence) if f.source == SourceName.alerts]

    assert findings(owner) == ["defender_alert"]
    assert findings(recipient) == ["defender_alert"]
    assert findings(stranger) == []

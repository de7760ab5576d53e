"""Indicators on Graph- and Exchange-shaped JSON: each fires on its positive case and stays silent on the
near-misses an honest account produces (internal forwarding, a rule moving to an ordinary folder, a
verified subdomain, a verified app, the usual country, a failed sign-in, the password method only)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from investigation.evidence import Evidence, SourceName, Unavailable, UnavailableReason
from investigation.indicators import (
    EVIDENCE_KEYS,
    FINDING_CODES,
    FINDING_PARAMS,
    INDICATORS,
    Finding,
    Severity,
    is_attacker_style_name,
    is_external,
    prevention_steps,
    run_indicators,
)
from m365.records import (
    AuthMethod,
    BlockedSender,
    CasMailbox,
    DirectoryAudit,
    DirectoryObject,
    InboxRule,
    Mailbox,
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
from tests.unit.test_burst import BURST_CASES
from tests.unit.test_changes import CHANGES_CASES
from tests.unit.test_delegation import DELEGATION_CASES
from tests.unit.test_tenant_traps import TENANT_TRAPS_CASES

Json = dict[str, Any]
NOW = datetime(2024, 10, 22, 12, 0, tzinfo=UTC)
USER_ID = "2f6d4c93-1b5e-4d0a-83f4-7a8b9c0d1e03"
UPN = "MeganB@example.com"
HELPDESK_ID = "1e5c3b82-0a4d-4c9f-b2e3-6f7a8b9c0d02"
DOMAINS = ("example.com", "example.onmicrosoft.com")
ATTACKER_IP = "102.89.34.10"


# ------------------------------------------------------------------ Graph / Exchange shaped builders


def at(hours_ago: float) -> str:
    """A Graph timestamp (7 fractional digits, as Graph sends them)."""
    return (NOW - timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def _iso_at(hours_ago: float) -> str:
    """The time a finding shows for `at(hours_ago)` (whole seconds, UTC)."""
    return (NOW - timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def user_json(**extra: Any) -> Json:
    return {
        "id": USER_ID, "userPrincipalName": UPN, "displayName": "Megan Bowen", "mail": UPN,
        "usageLocation": "US", "accountEnabled": True, "userType": "Member", "onPremisesSyncEnabled": None,
        "proxyAddresses": [f"SMTP:{UPN}"], "assignedLicenses": [{"skuId": "x"}], **extra,
    }


def recipients(*addresses: str) -> list[Json]:
    return [{"emailAddress": {"name": a.split("@")[0], "address": a}} for a in addresses]


def rule_json(rule_id: str, name: str, actions: Json, *, enabled: bool = True, conditions: Json | None = None) -> Json:
    return {
        "id": rule_id, "displayName": name, "sequence": 1, "isEnabled": enabled, "hasError": False,
        "isReadOnly": False, "conditions": conditions or {}, "actions": actions, "exceptions": {},
    }


FOLDERS: tuple[Json, ...] = (
    {"id": "AAMkInbox", "displayName": "Inbox", "parentFolderId": "root", "childFolderCount": 0},
    {"id": "AAMkRss", "displayName": "RSS Subscriptions", "parentFolderId": "root"},
    {"id": "AAMkArchief", "displayName": "Archief", "parentFolderId": "root"},
    {"id": "AAMkNews", "displayName": "Newsletters", "parentFolderId": "AAMkInbox"},
    {"id": "AAMkJunk", "displayName": "Whatever", "parentFolderId": "root"},
    {"id": "AAMkDot", "displayName": ".."},
)
# Which folder each well-known name (a path segment, `/mailFolders/junkemail`) resolved to: Graph v1.0 has no
# property for it, so the client records it on `MailFolder.well_known_name`.
WELL_KNOWN: Mapping[str, str] = {"AAMkJunk": "junkemail"}
# The tenant the evidence was read in (service principals owned by it are ours).
OUR_TENANT = "4f8c2b1e-6d3a-4e5b-9c7d-1a2b3c4d5e6f"


def sign_in_json(hours_ago: float, country: str, ip: str, *, city: str = "", client: str = "Browser",
                 error: int = 0, risk_level: str = "none", sid: str | None = None,
                 risk_types: Sequence[str] = (), risk_state: str = "none") -> Json:
    return {
        "id": sid or f"si-{hours_ago}-{country}-{ip}-{client}-{error}",
        "createdDateTime": at(hours_ago), "userId": USER_ID, "userPrincipalName": UPN,
        "appDisplayName": "Office 365 Exchange Online", "clientAppUsed": client, "ipAddress": ip,
        "location": {"city": city, "state": "", "countryOrRegion": country},
        "status": {"errorCode": error, "failureReason": "" if error == 0 else "Other.",
                   "additionalDetails": None},
        "riskLevelDuringSignIn": risk_level, "riskState": risk_state, "isInteractive": True,
        "riskLevelAggregated": risk_level, "riskDetail": "none", "riskEventTypes": [],
        "riskEventTypes_v2": list(risk_types), "conditionalAccessStatus": "notApplied",
    }


# `deviceDetail` of an Entra-joined, compliant laptop (v1.0 deviceDetail), and `location.geoCoordinates`.
LAPTOP: Json = {"deviceId": "3c1f2a9e-7d4b-4e8a-9f10-2b3c4d5e6f70", "displayName": "MEGANB-LT",
                "operatingSystem": "Windows 11", "browser": "Edge 131.0.0", "isCompliant": True, "isManaged": True,
                "trustType": "Azure AD joined"}


def placed(sign_in: Json, latitude: float, longitude: float) -> Json:
    location = {**sign_in["location"], "geoCoordinates": {"altitude": None, "latitude": latitude,
                                                          "longitude": longitude}}
    return {**sign_in, "location": location}


def home_sign_ins(days: int = 5, per_day: int = 2) -> list[Json]:
    """The user's ordinary sign-ins from the US, `per_day` a day on `days` days."""
    return [
        sign_in_json(24 * d + 3 + i, "US", f"198.51.100.{i + 1}", city="Seattle")
        for d in range(days) for i in range(per_day)
    ]


def risky_user_json(level: str, state: str = "atRisk") -> Json:
    return {"id": USER_ID, "userPrincipalName": UPN, "riskLevel": level, "riskState": state,
            "riskDetail": "none", "riskLastUpdatedDateTime": at(10), "isDeleted": False, "isProcessing": False}


def detection_json(event: str, hours_ago: float = 20, *, ip: str = ATTACKER_IP, country: str = "NG",
                   level: str = "high", state: str = "atRisk", did: str | None = None) -> Json:
    return {
        "id": did or f"rd-{event}-{ip}", "requestId": "req", "correlationId": "corr", "riskEventType": event,
        "riskState": state, "riskLevel": level, "riskDetail": "none", "source": "IdentityProtection",
        "detectionTimingType": "realtime", "activity": "signin", "ipAddress": ip,
        "activityDateTime": at(hours_ago), "detectedDateTime": at(hours_ago), "userId": USER_ID,
        "userPrincipalName": UPN, "location": {"city": "Lagos", "countryOrRegion": country},
    }


def method_json(kind: str, hours_ago: float | None, mid: str, **extra: Any) -> Json:
    body: Json = {"@odata.type": f"#microsoft.graph.{kind}", "id": mid, **extra}
    if hours_ago is not None:
        body["createdDateTime"] = at(hours_ago)
    return body


PASSWORD = method_json("passwordAuthenticationMethod", None, "28c10230-6103-485e-b985-444c60001490")
OLD_AUTHENTICATOR = method_json("microsoftAuthenticatorAuthenticationMethod", 24 * 300, "m-old",
                                displayName="Megan's iPhone")


def audit_json(activity: str, hours_ago: float, *, by_id: str = USER_ID, by_upn: str = UPN, ip: str = "",
               props: Sequence[tuple[str, str, str]] = (), target_names: Sequence[str] = (UPN,),
               result: str = "success", aid: str | None = None) -> Json:
    targets: list[Json] = [
        {"id": USER_ID, "displayName": None, "type": "User", "userPrincipalName": name,
         "modifiedProperties": [{"displayName": n, "oldValue": o, "newValue": v} for n, o, v in props]}
        for name in target_names
    ]
    return {
        "id": aid or f"Directory_{activity}_{hours_ago}", "category": "UserManagement", "result": result,
        "activityDisplayName": activity, "activityDateTime": at(hours_ago), "loggedByService": "Core Directory",
        "initiatedBy": {"user": {"id": by_id, "userPrincipalName": by_upn, "ipAddress": ip}, "app": None},
        "targetResources": targets,
    }


def grant_json(gid: str, client_id: str, scope: str) -> Json:
    return {"id": gid, "clientId": client_id, "consentType": "Principal", "principalId": USER_ID,
            "resourceId": "graph-sp", "scope": scope}


def sp_json(sp_id: str, name: str, *, verified: str | None = None, owner: str | None = "3c5a7f1e-tenant") -> Json:
    return {
        "id": sp_id, "appId": f"app-{sp_id}", "displayName": name,
        "appOwnerOrganizationId": owner,
        "verifiedPublisher": {"displayName": verified, "verifiedPublisherId": "123" if verified else None,
                              "addedDateTime": None},
    }


def role_json(name: str, template: str) -> Json:
    return {"@odata.type": "#microsoft.graph.directoryRole", "id": f"role-{template}", "displayName": name,
            "roleTemplateId": template}


def group_json(name: str) -> Json:
    return {"@odata.type": "#microsoft.graph.group", "id": f"group-{name}", "displayName": name}


def alert_json(title: str, severity: str, hours_ago: float = 12, *, upn: str = UPN, user_id: str = USER_ID) -> Json:
    return {
        "id": f"da-{title}", "title": title, "severity": severity, "status": "new", "category": "Exfiltration",
        "createdDateTime": at(hours_ago), "serviceSource": "microsoftDefenderForOffice365", "description": "",
        "evidence": [{"@odata.type": "#microsoft.graph.security.userEvidence",
                      "userAccount": {"userPrincipalName": upn, "azureAdUserId": user_id}}],
    }


def blocked_json(reason: str) -> Json:
    return {"SenderAddress": UPN, "Reason": reason, "BlockType": "Outbound",
            "CreatedDatetime": "/Date(1729571640000)/", "ChangedDatetime": "/Date(1729571640000)/",
            "TemporaryBlock": False, "InternalOnly": False, "ExpireDatetime": "/Date(1729658040000)/"}


def mailbox_json(**extra: Any) -> Json:
    return {"Identity": "MeganB", "Name": "MeganB", "UserPrincipalName": UPN, "PrimarySmtpAddress": UPN,
            "DisplayName": "Megan Bowen", "RecipientTypeDetails": "UserMailbox", "ForwardingSmtpAddress": None,
            "ForwardingAddress": None, "DeliverToMailboxAndForward": False, "ExternalDirectoryObjectId": USER_ID,
            "EmailAddresses": [f"SMTP:{UPN}"], **extra}


def cas_json(imap: bool = False, pop: bool = False, smtp_disabled: bool | None = True) -> Json:
    return {"Identity": "MeganB", "ImapEnabled": imap, "PopEnabled": pop, "ActiveSyncEnabled": True,
            "SmtpClientAuthenticationDisabled": smtp_disabled}


def make_evidence(
    *,
    user: Json | None = None,
    blocked: Json | None = None,
    restriction_checked: bool = True,
    mailbox: Json | None = None,
    cas: Json | None = None,
    rules: Sequence[Json] | None = (),
    folders: Sequence[Json] | None = FOLDERS,
    well_known: Mapping[str, str] = WELL_KNOWN,
    sign_ins: Sequence[Json] | None = (),
    risky_user: Json | None = None,
    detections: Sequence[Json] | None = (),
    methods: Sequence[Json] | None = (PASSWORD, OLD_AUTHENTICATOR),
    registration: Json | None = None,
    audits: Sequence[Json] | None = (),
    grants: Sequence[Json] | None = (),
    principals: Sequence[Json] | None = (),
    memberships: Sequence[Json] | None = (),
    alerts: Sequence[Json] | None = (),
    auto_reply: bool | None = False,
    unavailable: Sequence[Unavailable] = (),
) -> Evidence:
    """Evidence from JSON bodies; a `None` collection means "not checked". Defaults: a quiet account."""

    def each(items: Sequence[Json] | None, build: Callable[[Json], Any]) -> Any:
        return None if items is None else tuple(build(i) for i in items)

    restriction = BlockedSender.from_exchange(blocked) if blocked is not None else None
    return Evidence(
        user=User.from_graph(user or user_json()),
        now=NOW,
        verified_domains=DOMAINS,
        restriction=restriction,
        restricted=(restriction is not None) if restriction_checked else None,
        mailbox=Mailbox.from_exchange(mailbox if mailbox is not None else mailbox_json()),
        cas_mailbox=CasMailbox.from_exchange(cas if cas is not None else cas_json()),
        inbox_rules=each(rules, InboxRule.from_graph),
        mail_folders=each(folders, lambda f: MailFolder.from_graph(f, well_known_name=well_known.get(f["id"]))),
        sign_ins=each(sign_ins, SignIn.from_graph),
        risky_user=RiskyUser.from_graph(risky_user) if risky_user is not None else None,
        risk_detections=each(detections, RiskDetection.from_graph),
        auth_methods=each(methods, AuthMethod.from_graph),
        registration=RegistrationDetails.from_graph(registration) if registration is not None else None,
        directory_audits=each(audits, DirectoryAudit.from_graph),
        oauth_grants=each(grants, OAuthGrant.from_graph),
        service_principals=each(principals,
                                lambda s: replace(ServicePrincipal.from_graph(s), read_in_tenant=OUR_TENANT)),
        memberships=each(memberships, DirectoryObject.from_graph),
        alerts=each(alerts, SecurityAlert.from_graph),
        auto_reply_enabled=auto_reply,
        unavailable=tuple(unavailable),
    )


def found(evidence: Evidence, code: str) -> list[Finding]:
    return [f for f in run_indicators(evidence) if f.code == code]


def codes(evidence: Evidence) -> set[str]:
    return {f.code for f in run_indicators(evidence)}


def rows(finding: Finding, key: str) -> list[str]:
    return [v for k, v in finding.evidence if k == key]


# ------------------------------------------------------------------------------------ baseline


def test_quiet_account_has_no_findings() -> None:
    evidence = make_evidence(sign_ins=home_sign_ins(), rules=[
        rule_json("r-news", "Newsletters", {"moveToFolder": "AAMkNews", "stopProcessingRules": True}),
    ])
    assert run_indicators(evidence) == ()


# --------------------------------------------------------------------------------- inbox rules


def test_rule_forwarding_outside_the_tenant_is_high_with_rule_id_and_targets() -> None:
    rule = rule_json("AQAAAJ5dZqA=", "Invoices", {
        "forwardTo": recipients("collector@mail-drop.example.net", "colleague@example.com"),
        "redirectTo": recipients("x@other.example.org"),
    })
    [finding] = found(make_evidence(rules=[rule]), "rule_forwards_external")
    assert finding.severity == Severity.high
    assert finding.rule_id == "AQAAAJ5dZqA="
    assert finding.source == SourceName.inbox_rules
    assert rows(finding, "target") == ["collector@mail-drop.example.net", "x@other.example.org"]
    assert rows(finding, "action") == ["forward", "redirect"]
    assert finding.params["count"] == "2"


def test_forward_as_attachment_counts_as_forwarding() -> None:
    rule = rule_json("r1", "x", {"forwardAsAttachmentTo": recipients("a@gmail.com")})
    assert rows(found(make_evidence(rules=[rule]), "rule_forwards_external")[0], "action") == [
        "forward_as_attachment"
    ]


@pytest.mark.parametrize("address", [
    "colleague@example.com", "COLLEAGUE@EXAMPLE.COM", "team@sales.example.com", "x@example.onmicrosoft.com",
    "/o=ExchangeLabs/ou=Exchange Administrative Group/cn=Recipients/cn=megan",
])
def test_rule_forwarding_inside_the_tenant_is_silent(address: str) -> None:
    rule = rule_json("r1", "To my team", {"forwardTo": recipients(address)})
    assert found(make_evidence(rules=[rule]), "rule_forwards_external") == []


def test_lookalike_domain_is_outside() -> None:
    evidence = make_evidence()
    assert is_external("x@example.com.evil.net", evidence)
    assert is_external("x@notexample.com", evidence)
    assert not is_external("smtp:x@Mail.Example.com", evidence)


def test_disabled_rule_is_silent() -> None:
    rule = rule_json("r1", ".", {"forwardTo": recipients("a@gmail.com"), "delete": True}, enabled=False)
    assert codes(make_evidence(rules=[rule])) == set()


# Each hiding action, with and without a mark of an attacker's rule (`investigation.rules`): here, payment wording.
HIDING_ACTIONS: list[tuple[Json, list[str], Severity]] = [
    ({"delete": True}, ["delete"], Severity.low),
    ({"permanentDelete": True}, ["permanent_delete"], Severity.low),
    ({"moveToFolder": "AAMkRss"}, ["move_to_folder"], Severity.medium),  # nobody files mail into RSS
    ({"moveToFolder": "AAMkArchief"}, ["move_to_disposal"], Severity.low),  # Dutch display name
    ({"moveToFolder": "AAMkJunk"}, ["move_to_disposal"], Severity.low),  # well-known name
    ({"moveToFolder": "conversationhistory"}, ["move_to_folder"], Severity.medium),  # unresolved, a well-known name
    ({"moveToFolder": "AAMkDot"}, ["move_to_folder"], Severity.high),  # a throw-away folder name is a mark itself
]


@pytest.mark.parametrize(("actions", "expected", "_unmarked"), HIDING_ACTIONS)
def test_rule_hiding_mail_with_a_mark_is_high(actions: Json, expected: list[str], _unmarked: Severity) -> None:
    rule = rule_json("r1", "Clean up", actions, conditions={"subjectContains": ["Invoice"]})
    [finding] = found(make_evidence(rules=[rule]), "rule_hides_mail")
    assert finding.severity == Severity.high
    assert rows(finding, "action") == expected
    assert "payment_words" in rows(finding, "marker")
    assert finding.rule_id == "r1"


@pytest.mark.parametrize(("actions", "expected", "unmarked"), HIDING_ACTIONS)
def test_rule_hiding_mail_without_a_mark_is_housekeeping(actions: Json, expected: list[str],
                                                        unmarked: Severity) -> None:
    [finding] = found(make_evidence(rules=[rule_json("r1", "Clean up", actions)]), "rule_hides_mail")
    assert finding.severity == unmarked
    assert rows(finding, "action") == expected
    assert ("housekeeping" in rows(finding, "marker")) is (unmarked == Severity.low)


def test_rule_hiding_names_the_folder() -> None:
    [finding] = found(make_evidence(rules=[rule_json("r1", "x1", {"moveToFolder": "AAMkRss"})]), "rule_hides_mail")
    assert finding.params["folder"] == "RSS Subscriptions"


# A German mailbox: no display name is one we know, yet the well-known names resolved to these ids.
GERMAN_FOLDERS: tuple[Json, ...] = (
    {"id": "AAMkPosteingang", "displayName": "Posteingang", "parentFolderId": "root"},
    {"id": "AAMkGeloescht", "displayName": "Gelöschte Elemente", "parentFolderId": "root"},
    {"id": "AAMkJunkDe", "displayName": "Junk-E-Mail", "parentFolderId": "root"},
    {"id": "AAMkArchiv", "displayName": "Archiv", "parentFolderId": "root"},
    {"id": "AAMkVerlauf", "displayName": "Unterhaltungsverlauf", "parentFolderId": "root"},
    {"id": "AAMkProjekte", "displayName": "Projekte", "parentFolderId": "root"},
)
GERMAN_WELL_KNOWN = {"AAMkPosteingang": "inbox", "AAMkGeloescht": "deleteditems", "AAMkJunkDe": "junkemail",
                     "AAMkArchiv": "archive", "AAMkVerlauf": "conversationhistory"}


@pytest.mark.parametrize("folder_id", ["AAMkGeloescht", "AAMkJunkDe", "AAMkArchiv", "AAMkVerlauf"])
def test_rule_hiding_in_a_well_known_folder_is_found_in_any_language(folder_id: str) -> None:
    evidence = make_evidence(rules=[rule_json("r1", "Rechnungen", {"moveToFolder": folder_id})],
                             folders=GERMAN_FOLDERS, well_known=GERMAN_WELL_KNOWN)
    [finding] = found(evidence, "rule_hides_mail")
    # "Rechnungen" (invoices) is payment wording in the rule's own name? No: marks come from conditions only, and
    # this rule has none, so where the mail goes decides.
    assert finding.severity == (Severity.medium if folder_id == "AAMkVerlauf" else Severity.low)
    assert rows(finding, "action") == ["move_to_folder" if folder_id == "AAMkVerlauf" else "move_to_disposal"]
    assert finding.params["folder"] == next(f["displayName"] for f in GERMAN_FOLDERS if f["id"] == folder_id)


def test_a_renamed_folder_without_its_well_known_name_is_an_ordinary_folder() -> None:
    # Guards the test above: a folder neither resolved by well-known name nor carrying one of Outlook's default
    # names is an ordinary folder, whatever it is called.
    folders = [*GERMAN_FOLDERS[:-2], {"id": "AAMkVerlauf", "displayName": "Alter Verlauf", "parentFolderId": "root"}]
    evidence = make_evidence(rules=[rule_json("r1", "Rechnungen", {"moveToFolder": "AAMkVerlauf"})],
                             folders=folders, well_known={})
    assert found(evidence, "rule_hides_mail") == []


def test_rule_moving_to_a_german_ordinary_folder_or_the_inbox_is_silent() -> None:
    for target in ("AAMkProjekte", "AAMkPosteingang"):
        evidence = make_evidence(rules=[rule_json("r1", "Projekte", {"moveToFolder": target})],
                                 folders=GERMAN_FOLDERS, well_known=GERMAN_WELL_KNOWN)
        assert codes(evidence) == set(), target


@pytest.mark.parametrize(("folder_id", "name"), [
    ("AAMkNlRss", "RSS-abonnementen"), ("AAMkNlDeleted", "Verwijderde items"), ("AAMkNlJunk", "Ongewenste e-mail"),
    ("AAMkNlArchive", "Archief"), ("AAMkNlHistory", "Gespreksgeschiedenis"), ("AAMkNlFeeds", "RSS-feeds"),
    ("AAMkDeFeeds", "RSS-Feeds"), ("AAMkDeNotes", "Notizen"), ("AAMkNlNotes", "Notities"),
])
def test_dutch_display_names_are_recognised_without_well_known_names(folder_id: str, name: str) -> None:
    # RSS Subscriptions has no well-known name in Graph, so its display names (English, Dutch) still count.
    folders = [{"id": folder_id, "displayName": name, "parentFolderId": "root"}]
    evidence = make_evidence(rules=[rule_json("r1", "x", {"moveToFolder": folder_id})], folders=folders,
                             well_known={})
    [finding] = found(evidence, "rule_hides_mail")
    assert finding.params["folder"] == name


def test_rule_moving_to_an_ordinary_folder_is_silent() -> None:
    rule = rule_json("r1", "Newsletters", {"moveToFolder": "AAMkNews"})
    assert codes(make_evidence(rules=[rule])) == set()


def test_rule_moving_to_an_unresolvable_folder_is_silent_for_a_normal_name() -> None:
    rule = rule_json("r1", "Projects", {"moveToFolder": "AAMkUnknown"})
    assert codes(make_evidence(rules=[rule], folders=None)) == set()


def test_mark_as_read_alone_is_housekeeping_but_high_with_an_attacker_style_name() -> None:
    plain = found(make_evidence(rules=[rule_json("r1", "Newsletters read", {"markAsRead": True})]),
                  "rule_hides_mail")
    dotted = found(make_evidence(rules=[rule_json("r2", "..", {"markAsRead": True})]), "rule_hides_mail")
    assert [f.severity for f in plain] == [Severity.low]
    assert [f.severity for f in dotted] == [Severity.high]
    assert rows(dotted[0], "marker") == ["attacker_style_name"]
    assert rows(plain[0], "marker") == ["housekeeping"]


def test_attacker_rule_gets_one_finding_per_concern_with_marker_and_conditions() -> None:
    rule = rule_json("r1", ".", {
        "forwardTo": recipients("a@gmail.com"), "moveToFolder": "AAMkRss", "markAsRead": True, "delete": False,
    }, conditions={"bodyOrSubjectContains": ["hack", "phish", "spam"], "isAutomaticReply": True})
    found_codes = [f.code for f in run_indicators(make_evidence(rules=[rule]))]
    assert found_codes == ["rule_forwards_external", "rule_hides_mail"]
    hides = found(make_evidence(rules=[rule]), "rule_hides_mail")[0]
    assert rows(hides, "action") == ["move_to_folder", "mark_as_read"]
    assert rows(hides, "marker") == ["security_words", "attacker_style_name"]
    assert rows(hides, "condition") == ["bodyOrSubjectContains: hack, phish, spam", "isAutomaticReply"]


@pytest.mark.parametrize(("name", "attacker_style"), [
    (".", True), ("..", True), ("a", True), ("", True), ("   ", True), ("-_-", True),
    ("ab", False), ("Newsletters", False), ("x1", False),
])
def test_attacker_style_name(name: str, attacker_style: bool) -> None:
    assert is_attacker_style_name(name) is attacker_style


def test_attacker_controlled_text_is_clipped() -> None:
    rule = rule_json("r1", "R" * 5000, {"forwardTo": recipients("a@gmail.com")})
    [finding] = found(make_evidence(rules=[rule]), "rule_forwards_external")
    assert len(finding.params["rule"]) <= 200
    assert all(len(v) <= 200 for _, v in finding.evidence)


# ---------------------------------------------------------------------------- mailbox forwarding


def test_external_smtp_forwarding_is_high() -> None:
    mailbox = mailbox_json(ForwardingSmtpAddress="smtp:patti.f1987@gmail.com", DeliverToMailboxAndForward=True)
    [finding] = found(make_evidence(mailbox=mailbox), "mailbox_forwards_external")
    assert finding.severity == Severity.high
    assert dict(finding.params) == {"target": "patti.f1987@gmail.com", "keeps_copy": "true"}


@pytest.mark.parametrize("mailbox", [
    mailbox_json(ForwardingSmtpAddress="smtp:assistant@example.com"),
    mailbox_json(ForwardingSmtpAddress="smtp:desk@eu.example.com"),
    mailbox_json(ForwardingAddress="Alex Wilber"),
])
def test_internal_forwarding_is_low(mailbox: Json) -> None:
    evidence = make_evidence(mailbox=mailbox)
    assert codes(evidence) == {"mailbox_forwards_internal"}
    assert found(evidence, "mailbox_forwards_internal")[0].severity == Severity.low


# --------------------------------------------------------------------------- Identity Protection


@pytest.mark.parametrize(("level", "state", "code", "severity"), [
    ("high", "atRisk", "user_risk_high", Severity.high),
    ("high", "confirmedCompromised", "user_confirmed_compromised", Severity.high),
    ("none", "confirmedCompromised", "user_confirmed_compromised", Severity.high),
    ("medium", "atRisk", "user_risk_elevated", Severity.low),
    ("low", "atRisk", "user_risk_elevated", Severity.low),
])
def test_user_risk(level: str, state: str, code: str, severity: Severity) -> None:
    [finding] = run_indicators(make_evidence(risky_user=risky_user_json(level, state)))
    assert (finding.code, finding.severity) == (code, severity)


@pytest.mark.parametrize(("level", "state"), [
    ("high", "dismissed"), ("high", "remediated"), ("high", "confirmedSafe"), ("none", "none"),
])
def test_user_risk_silent_when_dealt_with_or_none(level: str, state: str) -> None:
    assert run_indicators(make_evidence(risky_user=risky_user_json(level, state))) == ()


@pytest.mark.parametrize(("event", "code", "severity"), [
    ("maliciousIPAddress", "risk_malicious_ip", Severity.high),
    ("unlikelyTravel", "risk_atypical_travel", Severity.high),
    ("impossibleTravel", "risk_atypical_travel", Severity.high),
    ("leakedCredentials", "risk_leaked_credentials", Severity.high),
    ("passwordSpray", "risk_password_spray", Severity.high),
    ("mcasSuspiciousInboxManipulationRules", "risk_inbox_manipulation", Severity.high),
    ("suspiciousInboxForwarding", "risk_inbox_manipulation", Severity.high),
    ("anomalousToken", "risk_token_theft", Severity.high),
    ("mfaFraud", "risk_mfa_fraud", Severity.high),
    ("investigationsThreatIntelligence", "risk_threat_intelligence", Severity.high),
    ("unfamiliarFeatures", "risk_unfamiliar_sign_in", Severity.medium),
    ("suspiciousSendingPatterns", "risk_suspicious_sending", Severity.medium),
    ("suspiciousAPITraffic", "risk_suspicious_api_traffic", Severity.medium),
    ("generic", "risk_generic", Severity.medium),
    ("someFutureDetection", "risk_other", Severity.medium),
])
def test_risk_detection_codes(event: str, code: str, severity: Severity) -> None:
    [finding] = run_indicators(make_evidence(detections=[detection_json(event)]))
    assert (finding.code, finding.severity) == (code, severity)
    assert finding.params["ip"] == ATTACKER_IP


def test_unknown_low_risk_detection_is_low() -> None:
    [finding] = run_indicators(make_evidence(detections=[detection_json("someFutureDetection", level="low")]))
    assert (finding.code, finding.severity) == ("risk_other", Severity.low)


def test_anonymized_ip_is_high_only_with_a_successful_sign_in_from_it() -> None:
    detection = detection_json("anonymizedIPAddress", ip="185.220.101.4")
    without = found(make_evidence(detections=[detection]), "risk_anonymous_ip")
    failed = found(make_evidence(detections=[detection],
                                 sign_ins=[sign_in_json(20, "DE", "185.220.101.4", error=50126)]),
                   "risk_anonymous_ip")
    succeeded = found(make_evidence(detections=[detection], sign_ins=[sign_in_json(20, "DE", "185.220.101.4")]),
                      "risk_anonymous_ip")
    assert [f.severity for f in without] == [Severity.medium]
    assert [f.severity for f in failed] == [Severity.medium]
    assert [f.severity for f in succeeded] == [Severity.high]
    assert rows(succeeded[0], "sign_in") == ["succeeded"]


@pytest.mark.parametrize("detection", [
    detection_json("leakedCredentials", state="dismissed"),
    detection_json("leakedCredentials", state="confirmedSafe"),
    detection_json("leakedCredentials", state="remediated"),
])
def test_risk_detection_closed_by_identity_protection_is_context(detection: Json) -> None:
    # Closed detections are context (low), not live signs: no leaked-credentials finding.
    findings = run_indicators(make_evidence(detections=[detection]))
    assert [(f.code, f.severity) for f in findings] == [("risk_remediated", Severity.low)]


def test_old_risk_detection_is_silent() -> None:
    assert run_indicators(make_evidence(detections=[detection_json("leakedCredentials", hours_ago=24 * 30)])) == ()


def test_duplicate_detections_merge() -> None:
    detections = [detection_json("unfamiliarFeatures", 20, did="a"), detection_json("unfamiliarFeatures", 19, did="b")]
    assert len(found(make_evidence(detections=detections), "risk_unfamiliar_sign_in")) == 1


def test_admin_confirmed_detection_not_repeated_when_risky_user_says_so() -> None:
    detection = detection_json("adminConfirmedUserCompromised")
    alone = found(make_evidence(detections=[detection]), "user_confirmed_compromised")
    both = found(make_evidence(detections=[detection], risky_user=risky_user_json("high", "confirmedCompromised")),
                 "user_confirmed_compromised")
    assert [f.source for f in alone] == [SourceName.risk_detections]
    assert [f.source for f in both] == [SourceName.risky_user]


# ------------------------------------------------------------------------------------- sign-ins


def test_new_country_sign_in_is_high_once_per_country() -> None:
    sign_ins = home_sign_ins() + [
        sign_in_json(30, "NG", ATTACKER_IP, city="Lagos", sid="first-ng"),
        sign_in_json(29, "NG", "102.89.34.11", city="Lagos"),
    ]
    [finding] = found(make_evidence(sign_ins=sign_ins), "sign_in_new_country")
    assert finding.severity == Severity.high
    assert finding.subject_id == "first-ng"
    assert finding.params["country"] == "NG"
    assert finding.params["ip"] == ATTACKER_IP
    assert finding.params["count"] == "2"
    assert finding.params["time"] == "2024-10-21T06:00:00Z"


def test_usual_country_is_silent() -> None:
    assert found(make_evidence(sign_ins=home_sign_ins()), "sign_in_new_country") == []


def test_country_seen_on_most_days_is_not_new() -> None:
    # A commuter: Belgium on four of five days is part of the pattern, not an intrusion.
    sign_ins = home_sign_ins(days=5, per_day=1) + [sign_in_json(24 * d + 5, "BE", "203.0.113.9") for d in range(4)]
    assert found(make_evidence(sign_ins=sign_ins), "sign_in_new_country") == []


def test_attacker_flood_does_not_become_the_home_country() -> None:
    # 200 IMAP sign-ins from NG in one afternoon against five days of US sign-ins, no usage location. (The
    # usual countries come from before the last 48 hours: investigation/signins.py, tests/unit/test_signins.py.)
    flood = [sign_in_json(20 + i / 100, "NG", ATTACKER_IP, client="IMAP4") for i in range(200)]
    user = user_json(usageLocation=None)
    [finding] = found(make_evidence(user=user, sign_ins=home_sign_ins(days=5) + flood), "sign_in_new_country")
    assert finding.params["country"] == "NG"


def test_usage_location_is_home_when_used() -> None:
    # The US is the usage location and used: a week in Canada is flagged only while it is the minority of days.
    sign_ins = home_sign_ins(days=3, per_day=1) + [sign_in_json(24 * 4 + 2, "CA", "192.0.2.7")]
    assert [f.params["country"] for f in found(make_evidence(sign_ins=sign_ins), "sign_in_new_country")] == ["CA"]


def test_failed_foreign_sign_in_is_low_not_high() -> None:
    sign_ins = home_sign_ins() + [sign_in_json(30, "NG", ATTACKER_IP, error=50126)]
    evidence = make_evidence(sign_ins=sign_ins)
    assert codes(evidence) == {"failed_sign_in_foreign"}
    [finding] = found(evidence, "failed_sign_in_foreign")
    assert finding.severity == Severity.low
    assert dict(finding.params) == {"country": "NG", "count": "1"}


def test_foreign_sign_in_stopped_after_the_password_is_medium() -> None:
    sign_ins = home_sign_ins() + [sign_in_json(30, "RU", "203.0.113.50", error=50074)]
    [finding] = found(make_evidence(sign_ins=sign_ins), "sign_in_password_ok_blocked")
    assert finding.severity == Severity.medium
    assert finding.params["country"] == "RU"


def test_failed_home_sign_in_is_silent() -> None:
    sign_ins = home_sign_ins() + [sign_in_json(30, "US", "198.51.100.1", error=50126)]
    assert codes(make_evidence(sign_ins=sign_ins)) == set()


@pytest.mark.parametrize("client", ["IMAP4", "POP3", "Authenticated SMTP", "Other clients", "Exchange ActiveSync"])
def test_legacy_protocol_sign_in_is_medium(client: str) -> None:
    sign_ins = home_sign_ins() + [sign_in_json(10, "US", "198.51.100.1", client=client)]
    [finding] = found(make_evidence(sign_ins=sign_ins), "legacy_protocol_sign_in")
    assert finding.severity == Severity.medium
    assert finding.params == {"protocols": client, "count": "1"}


def test_failed_legacy_sign_in_and_modern_clients_are_silent() -> None:
    sign_ins = home_sign_ins() + [
        sign_in_json(10, "US", "198.51.100.1", client="IMAP4", error=50126),
        sign_in_json(10, "US", "198.51.100.1", client="Mobile Apps and Desktop clients"),
    ]
    assert found(make_evidence(sign_ins=sign_ins), "legacy_protocol_sign_in") == []


def test_shared_mailbox_sign_in_is_medium() -> None:
    shared = mailbox_json(RecipientTypeDetails="SharedMailbox")
    assert codes(make_evidence(mailbox=shared, sign_ins=home_sign_ins(days=1, per_day=1))) == {
        "shared_mailbox_sign_in"
    }
    assert codes(make_evidence(mailbox=shared)) == set()


def test_sign_in_flagged_anonymized_ip_is_a_finding_without_risk_detections() -> None:
    """No Entra ID P2: the detections list is unavailable, but the sign-in carries Entra's own risk types."""
    flagged = sign_in_json(20, "NL", "185.220.101.4", risk_level="medium", sid="si-tor",
                           risk_types=["anonymizedIPAddress"])
    no_p2 = [Unavailable(SourceName.risk_detections, UnavailableReason.license, "Entra ID P2")]
    evidence = make_evidence(sign_ins=home_sign_ins() + [flagged], detections=None, unavailable=no_p2)
    [finding] = found(evidence, "risk_anonymous_ip")
    assert (finding.severity, finding.source, finding.subject_id) == (Severity.high, SourceName.sign_ins, "si-tor")
    assert finding.params == {"risk_type": "anonymizedIPAddress", "ip": "185.220.101.4", "country": "NL",
                              "time": _iso_at(20)}


def test_failed_risky_sign_in_is_at_most_medium() -> None:
    failed = sign_in_json(20, "NG", ATTACKER_IP, error=50126, risk_types=["maliciousIPAddress", "newFutureType"],
                          risk_level="high")
    findings = {f.code: f.severity for f in run_indicators(make_evidence(sign_ins=home_sign_ins() + [failed]))
                if f.source == SourceName.sign_ins and f.code.startswith("risk_")}
    assert findings == {"risk_malicious_ip": Severity.medium, "risk_other": Severity.medium}


def test_sign_in_risk_reported_by_a_detection_is_not_repeated() -> None:
    flagged = sign_in_json(20, "NG", ATTACKER_IP, risk_types=["unfamiliarFeatures", "anonymizedIPAddress"])
    evidence = make_evidence(sign_ins=home_sign_ins() + [flagged], detections=[detection_json("unfamiliarFeatures")])
    assert sorted((f.code, f.source) for f in run_indicators(evidence) if f.code.startswith("risk_")) == [
        ("risk_anonymous_ip", SourceName.sign_ins), ("risk_unfamiliar_sign_in", SourceName.risk_detections),
    ]


@pytest.mark.parametrize("state", ["dismissed", "confirmedSafe"])
def test_dismissed_sign_in_risk_is_silent(state: str) -> None:
    flagged = sign_in_json(20, "US", "198.51.100.1", risk_types=["anonymizedIPAddress"], risk_state=state)
    assert codes(make_evidence(sign_ins=home_sign_ins() + [flagged])) == set()


def test_sign_in_legacy_risk_event_types_are_read_too() -> None:
    body = sign_in_json(20, "US", "198.51.100.1")
    body["riskEventTypes"] = ["unlikelyTravel"]
    assert SignIn.from_graph(body).risk_event_types == ("unlikelyTravel",)
    assert "risk_atypical_travel" in codes(make_evidence(sign_ins=home_sign_ins() + [body]))


# ------------------------------------------------------------------------------------- directory


def test_mfa_method_added_in_window_is_medium() -> None:
    methods = [PASSWORD, OLD_AUTHENTICATOR, method_json("microsoftAuthenticatorAuthenticationMethod", 30, "m-new",
                                                       displayName="SM-A515F", phoneAppVersion="6.2411.7395")]
    [finding] = found(make_evidence(methods=methods), "mfa_method_registered")
    assert finding.severity == Severity.medium
    assert finding.subject_id == "m-new"
    assert finding.source == SourceName.auth_methods


def test_fido2_key_dated_by_creation_date_time_counts() -> None:
    """Microsoft's FIDO2 examples spell the registration date `creationDateTime`."""
    key = {"@odata.type": "#microsoft.graph.fido2AuthenticationMethod", "id": "k-new", "displayName": "Red key",
           "creationDateTime": at(30), "model": "NFC key", "attestationLevel": "attested"}
    [finding] = found(make_evidence(methods=[PASSWORD, OLD_AUTHENTICATOR, key]), "mfa_method_registered")
    assert finding.subject_id == "k-new"
    assert finding.params["time"] == _iso_at(30)


def test_undated_phone_method_is_not_new_without_an_audit() -> None:
    """Graph sends phone, email and OATH methods without a registration date: only the audit can date them."""
    phone = method_json("phoneAuthenticationMethod", None, "3179e48a-750b-4051-897c-87b9720928f7",
                        phoneNumber="+234 8012345678", phoneType="mobile", smsSignInState="notAllowedByPolicy")
    assert codes(make_evidence(methods=[PASSWORD, OLD_AUTHENTICATOR, phone])) == set()
    audit = audit_json("User registered security info", 30, ip="198.51.100.1")
    audit["additionalDetails"] = [{"key": "Method", "value": "Mobile Phone"}]
    [finding] = found(make_evidence(methods=[PASSWORD, OLD_AUTHENTICATOR, phone], audits=[audit],
                                    sign_ins=home_sign_ins()), "mfa_method_registered")
    assert finding.source == SourceName.directory_audits
    assert finding.params["method"] == "Mobile Phone"


def test_old_methods_and_new_password_are_silent() -> None:
    methods = [method_json("passwordAuthenticationMethod", 2, "pw"), OLD_AUTHENTICATOR]
    assert codes(make_evidence(methods=methods)) == set()


def test_mfa_registration_audit_from_an_attacker_ip_is_high() -> None:
    sign_ins = home_sign_ins() + [sign_in_json(31, "NG", ATTACKER_IP)]
    audit = audit_json("User registered security info", 30, ip=ATTACKER_IP)
    methods = [PASSWORD, OLD_AUTHENTICATOR, method_json("microsoftAuthenticatorAuthenticationMethod", 30.05, "m-new")]
    evidence = make_evidence(sign_ins=sign_ins, audits=[audit], methods=methods)
    [finding] = found(evidence, "mfa_registered_from_suspicious_ip")
    assert finding.severity == Severity.high
    assert finding.params["ip"] == ATTACKER_IP
    # The method the audit recorded is not reported twice.
    assert found(evidence, "mfa_method_registered") == []


def test_mfa_registration_audit_from_a_home_ip_is_medium() -> None:
    audit = audit_json("User registered all required security info", 30, ip="198.51.100.1")
    evidence = make_evidence(sign_ins=home_sign_ins(), audits=[audit])
    assert codes(evidence) == {"mfa_method_registered"}


def test_mfa_registration_from_a_risk_detection_ip_is_high_without_sign_ins() -> None:
    audit = audit_json("User registered security info", 30, ip=ATTACKER_IP)
    evidence = make_evidence(audits=[audit], sign_ins=None, detections=[detection_json("maliciousIPAddress")])
    assert "mfa_registered_from_suspicious_ip" in codes(evidence)


def test_mfa_via_update_user_strong_authentication_properties() -> None:
    audit = audit_json("Update user", 30, props=[("StrongAuthenticationPhoneAppDetail", "[]", '[{"x":1}]')])
    assert codes(make_evidence(audits=[audit])) == {"mfa_method_registered"}


def test_one_registration_logged_twice_is_one_finding_naming_the_method() -> None:
    """Entra logs a new authenticator twice: "User registered security info" (Authentication Methods, with the
    method in additionalDetails) and, seconds later, "Update user" of StrongAuthenticationPhoneAppDetail."""
    registered = audit_json("User registered security info", 30, ip=ATTACKER_IP)
    registered["additionalDetails"] = [{"key": "Method", "value": "Authenticator App with Notification and Code"},
                                       {"key": "Device Name", "value": "SM-A515F"}]
    directory = audit_json("Update user", 29.999, by_id="", by_upn="",
                           props=[("StrongAuthenticationPhoneAppDetail", "[]", '[{"DeviceName":"SM-A515F"}]')])
    sign_ins = home_sign_ins() + [sign_in_json(31, "NG", ATTACKER_IP)]
    evidence = make_evidence(sign_ins=sign_ins, audits=[directory, registered])
    [finding] = [f for f in run_indicators(evidence) if f.code.startswith("mfa_")]
    assert finding.code == "mfa_registered_from_suspicious_ip"
    assert finding.params["method"] == "Authenticator App with Notification and Code"
    # A directory change hours away from any registration is its own event.
    later = audit_json("Update user", 2, props=[("StrongAuthenticationPhoneAppDetail", "[]", '[{"x":1}]')])
    evidence = make_evidence(sign_ins=sign_ins, audits=[later, directory, registered])
    assert sorted(f.code for f in run_indicators(evidence) if f.code.startswith("mfa_")) == [
        "mfa_method_registered", "mfa_registered_from_suspicious_ip"]


def test_password_reset_by_someone_else_is_medium_but_not_by_the_user() -> None:
    by_admin = audit_json("Reset user password", 5, by_id=HELPDESK_ID, by_upn="IsaiahL@example.com")
    by_self = audit_json("Reset user password", 5)
    assert [f.params["initiated_by"] for f in found(make_evidence(audits=[by_admin]), "password_reset_by_other")] == [
        "IsaiahL@example.com"
    ]
    assert codes(make_evidence(audits=[by_self])) == set()


def test_failed_audit_is_ignored() -> None:
    audit = audit_json("Reset user password", 5, by_id=HELPDESK_ID, by_upn="x@example.com", result="failure")
    assert codes(make_evidence(audits=[audit])) == set()


def test_frequent_password_changes() -> None:
    audits = [audit_json("Change password (self-service)", h) for h in (5, 30, 60)]
    assert codes(make_evidence(audits=audits)) == {"password_changed_repeatedly"}
    assert codes(make_evidence(audits=audits[:2])) == set()


def test_display_name_change() -> None:
    audit = audit_json("Update user", 5, by_id=HELPDESK_ID, by_upn="x@example.com",
                       props=[("DisplayName", '["Megan Bowen"]', '["IT Helpdesk"]')])
    [finding] = found(make_evidence(audits=[audit]), "display_name_changed")
    assert finding.params["old"] == "Megan Bowen"
    assert finding.params["new"] == "IT Helpdesk"


def test_update_user_without_display_name_change_is_silent() -> None:
    audit = audit_json("Update user", 5, props=[("DisplayName", '["Megan"]', '["Megan"]'),
                                                ("JobTitle", '["A"]', '["B"]')])
    assert codes(make_evidence(audits=[audit])) == set()


def test_contact_info_change_is_low() -> None:
    audit = audit_json("Update user", 5, props=[("Mobile", "[]", '["+1 555 0100"]')])
    [finding] = found(make_evidence(audits=[audit]), "contact_info_changed")
    assert finding.severity == Severity.low


def test_added_to_a_role() -> None:
    audit = audit_json("Add member to role", 5, by_id=HELPDESK_ID, by_upn="x@example.com",
                       props=[("Role.DisplayName", "", '"Exchange Administrator"')])
    [finding] = found(make_evidence(audits=[audit]), "admin_role_added")
    assert finding.params["role"] == "Exchange Administrator"


def test_admin_roles_held_is_info() -> None:
    memberships = [group_json("Sales"), role_json("Global Administrator", "62e90394-69f5-4237-9190-012177145e10"),
                   role_json("Directory Readers", "88d8e3e3-8f55-4a1e-953a-9b9898b8876b")]
    [finding] = found(make_evidence(memberships=memberships), "admin_roles_held")
    assert finding.severity == Severity.info
    assert dict(finding.params) == {"roles": "Global Administrator", "count": "1"}


def test_groups_and_reader_roles_are_not_admin_roles() -> None:
    memberships = [group_json("Sales"), role_json("Directory Readers", "88d8e3e3-8f55-4a1e-953a-9b9898b8876b")]
    assert codes(make_evidence(memberships=memberships)) == set()


# --------------------------------------------------------------------------------------- consents


def test_unverified_app_with_mail_scope_is_high() -> None:
    evidence = make_evidence(grants=[grant_json("g1", "sp1", "openid profile Mail.ReadWrite offline_access")],
                             principals=[sp_json("sp1", "PDF Converter Pro")])
    [finding] = found(evidence, "consent_unverified_app")
    assert finding.severity == Severity.high
    assert finding.subject_id == "g1"
    assert finding.params["scopes"] == "Mail.ReadWrite, offline_access"


def test_unverified_foreign_app_is_marked_from_v1_fields() -> None:
    evidence = make_evidence(grants=[grant_json("g1", "sp1", "Mail.Read")],
                             principals=[sp_json("sp1", "Mail Sync Pro", owner="3e9f1a2b-5c7d-4e8f-a0b1-c2d3e4f5a6b7")])
    [finding] = found(evidence, "consent_unverified_app")
    # consentType "Principal" in words: the user consented for their own account (never the raw enum value).
    assert rows(finding, "marker") == ["no_verified_publisher", "foreign_owner", "consent_by_user"]
    assert rows(finding, "app") == ["Mail Sync Pro"] and rows(finding, "activity") == []


def test_unverified_app_of_our_own_tenant_is_not_marked_foreign() -> None:
    evidence = make_evidence(grants=[grant_json("g1", "sp1", "Mail.Read")],
                             principals=[sp_json("sp1", "Contoso Expenses", owner=OUR_TENANT.upper())])
    [finding] = found(evidence, "consent_unverified_app")
    assert rows(finding, "marker") == ["no_verified_publisher", "consent_by_user"]


def test_an_admins_consent_for_everyone_is_said_in_words() -> None:
    grant = {**grant_json("g1", "sp1", "Mail.Read"), "consentType": "AllPrincipals", "principalId": None}
    evidence = make_evidence(grants=[grant], principals=[sp_json("sp1", "Contoso Expenses", owner=OUR_TENANT)])
    [finding] = found(evidence, "consent_unverified_app")
    assert rows(finding, "marker") == ["no_verified_publisher", "consent_for_everyone"]


def test_unverified_app_with_offline_access_only_is_low() -> None:
    evidence = make_evidence(grants=[grant_json("g1", "sp1", "openid profile User.Read offline_access")],
                             principals=[sp_json("sp1", "Calendar Sync")])
    assert [f.severity for f in found(evidence, "consent_unverified_app")] == [Severity.low]


@pytest.mark.parametrize("principal", [
    sp_json("sp1", "Zoom", verified="Zoom Video Communications"),
    sp_json("sp1", "Microsoft Graph Explorer", owner="72f988bf-86f1-41af-91ab-2d7cd011db47"),
])
def test_verified_or_microsoft_app_is_silent(principal: Json) -> None:
    evidence = make_evidence(grants=[grant_json("g1", "sp1", "Mail.Read Files.Read.All")], principals=[principal])
    assert codes(evidence) == set()


def test_unverified_app_without_sensitive_scopes_is_silent() -> None:
    evidence = make_evidence(grants=[grant_json("g1", "sp1", "openid profile User.Read")],
                             principals=[sp_json("sp1", "Timesheet")])
    assert codes(evidence) == set()


# ---------------------------------------------------------------------------------------- Defender


def test_defender_alert_takes_its_severity() -> None:
    evidence = make_evidence(alerts=[alert_json("Unusual file download", "low"),
                                     alert_json("Activity from infrequent country", "high")])
    assert sorted((f.code, f.severity) for f in run_indicators(evidence)) == [
        ("defender_alert", Severity.high), ("defender_alert", Severity.low),
    ]


def test_rule_alert_is_inbox_rule_changed_at_least_medium() -> None:
    evidence = make_evidence(alerts=[alert_json("Suspicious inbox manipulation rule", "low")])
    [finding] = run_indicators(evidence)
    assert (finding.code, finding.severity) == ("inbox_rule_changed", Severity.medium)


@pytest.mark.parametrize("evidence_item", [
    {"@odata.type": "#microsoft.graph.security.analyzedMessageEvidence", "recipientEmailAddress": "x@fabrikam.example",
     "p1Sender": {"emailAddress": UPN.lower(), "domainName": "example.com"}, "antiSpamDirection": "outbound"},
    {"@odata.type": "#microsoft.graph.security.analyzedMessageEvidence", "recipientEmailAddress": UPN,
     "p1Sender": {"emailAddress": "billing@mail.example.net"}},
    {"@odata.type": "#microsoft.graph.security.mailboxEvidence", "primaryAddress": UPN, "displayName": "Megan"},
    {"@odata.type": "#microsoft.graph.security.mailboxEvidence", "upn": UPN},
    {"@odata.type": "#microsoft.graph.security.mailboxConfigurationEvidence", "configurationType": "userInboxRule",
     "externalDirectoryObjectId": USER_ID, "mailboxPrimaryAddress": "shared@example.com"},
    {"@odata.type": "#microsoft.graph.security.userEvidence", "userAccount": {"azureAdUserId": USER_ID}},
])
def test_alert_evidence_naming_the_user_in_any_shape_is_attributed(evidence_item: Json) -> None:
    alert = alert_json("Malicious URL clicked", "medium")
    alert["evidence"] = [evidence_item]
    [finding] = run_indicators(make_evidence(alerts=[alert]))
    assert (finding.code, finding.severity) == ("defender_alert", Severity.medium)


def test_alert_about_someone_else_in_mail_evidence_is_silent() -> None:
    alert = alert_json("Malicious URL clicked", "medium")
    alert["evidence"] = [{"@odata.type": "#microsoft.graph.security.analyzedMessageEvidence",
                          "recipientEmailAddress": "AlexW@example.com",
                          "p1Sender": {"emailAddress": "billing@mail.example.net"}}]
    assert run_indicators(make_evidence(alerts=[alert])) == ()


def test_restriction_alert_and_other_users_alerts_are_silent() -> None:
    evidence = make_evidence(alerts=[alert_json("User restricted from sending email", "high"),
                                     alert_json("Suspicious inbox manipulation rule", "high", upn="AlexW@example.com",
                                                user_id=HELPDESK_ID)])
    assert run_indicators(evidence) == ()


# ------------------------------------------------------------------------------------- restriction


def test_outbound_spam_reason_is_medium() -> None:
    reason = "OutboundSpamLast24Hours=242;OutboundMailLast24Hours=251;OutboundSpamPercent=96"
    [finding] = run_indicators(make_evidence(blocked=blocked_json(reason)))
    assert (finding.code, finding.severity) == ("outbound_spam_detected", Severity.medium)
    assert dict(finding.params) == {"spam_percent": "96", "spam_count": "242", "mail_count": "251"}


def test_recipient_limit_reason_is_low_volume_spike() -> None:
    reason = "ExternalRecipientLimitExceeded;InternalRecipientCount=12;ExternalRecipientCount=2750"
    [finding] = run_indicators(make_evidence(blocked=blocked_json(reason)))
    assert (finding.code, finding.severity) == ("send_volume_spike", Severity.low)
    assert finding.params["recipients"] == "2762"


def test_little_spam_is_silent() -> None:
    reason = "OutboundSpamLast24Hours=3;OutboundMailLast24Hours=40;OutboundSpamPercent=7"
    assert run_indicators(make_evidence(blocked=blocked_json(reason))) == ()


def test_compromised_reason() -> None:
    assert codes(make_evidence(blocked=blocked_json("Compromised"))) == {"restriction_reason_compromised"}


def test_auto_reply() -> None:
    assert codes(make_evidence(auto_reply=True)) == {"auto_reply_enabled"}
    assert codes(make_evidence(auto_reply=None)) == set()


# ---------------------------------------------------------------------------------------- running


def test_run_indicators_skips_an_unavailable_source() -> None:
    rule = rule_json("r1", ".", {"forwardTo": recipients("a@gmail.com")})
    blocked = Unavailable(SourceName.inbox_rules, UnavailableReason.timeout)
    assert codes(make_evidence(rules=[rule])) == {"rule_forwards_external"}
    # Records present but the source marked unavailable (a partial page, say): not trusted, not run.
    assert codes(make_evidence(rules=[rule], unavailable=[blocked])) == set()


def test_indicator_with_a_fallback_source_runs_on_either() -> None:
    new_method = method_json("fido2AuthenticationMethod", 30, "m-new")
    evidence = make_evidence(methods=[PASSWORD, new_method], audits=None)
    assert not evidence.is_available(SourceName.directory_audits)
    assert codes(evidence) == {"mfa_method_registered"}


def test_findings_sorted_by_severity_then_code() -> None:
    evidence = make_evidence(
        rules=[rule_json("r1", ".", {"forwardTo": recipients("a@gmail.com"), "delete": True})],
        memberships=[role_json("Exchange Administrator", "29232cdf-9323-42fd-ade2-1d097af3e4de")],
        auto_reply=True,
        blocked=blocked_json("OutboundSpamLast24Hours=242;OutboundMailLast24Hours=251;OutboundSpamPercent=96"),
    )
    assert [(f.severity.value, f.code) for f in run_indicators(evidence)] == [
        ("high", "rule_forwards_external"), ("high", "rule_hides_mail"), ("medium", "outbound_spam_detected"),
        ("low", "auto_reply_enabled"), ("info", "admin_roles_held"),
    ]


def test_every_indicator_declares_sources() -> None:
    assert INDICATORS
    assert all(indicator.sources for indicator in INDICATORS)
    assert len({i.name for i in INDICATORS}) == len(INDICATORS)


def test_findings_are_hashable_and_params_read_only() -> None:
    [finding] = found(make_evidence(auto_reply=True), "auto_reply_enabled")
    assert hash(finding) == hash(finding)
    with pytest.raises(TypeError):
        finding.params["x"] = "y"  # type: ignore[index]


# ---------------------------------------------------------------------- every code, declared params

_ALL_CODE_CASES: Mapping[str, Callable[[], Evidence]] = {
    "rule_forwards_external": lambda: make_evidence(rules=[rule_json("r", "x1", {"forwardTo": recipients("a@b.io")})]),
    "rule_hides_mail": lambda: make_evidence(rules=[rule_json("r", "x1", {"delete": True})]),
    # A hidden rule that forwards inside the tenant: neither forwarding out nor hiding mail, still an attacker's.
    "rule_hidden": lambda: replace(make_evidence(), inbox_rules=(replace(InboxRule.from_exchange(
        {"Name": "Sync", "RuleIdentity": "7", "Enabled": True, "StopProcessingRules": True,
         "ForwardTo": ['"Boss" [SMTP:boss@example.com]']}), hidden=True),)),
    "mailbox_forwards_external": lambda: make_evidence(mailbox=mailbox_json(ForwardingSmtpAddress="smtp:a@b.io")),
    "mailbox_forwards_internal": lambda: make_evidence(mailbox=mailbox_json(ForwardingAddress="Alex")),
    "auto_reply_enabled": lambda: make_evidence(auto_reply=True),
    "user_confirmed_compromised": lambda: make_evidence(risky_user=risky_user_json("high", "confirmedCompromised")),
    "user_risk_high": lambda: make_evidence(risky_user=risky_user_json("high")),
    "user_risk_elevated": lambda: make_evidence(risky_user=risky_user_json("medium")),
    "risk_anonymous_ip": lambda: make_evidence(detections=[detection_json("anonymizedIPAddress")]),
    "risk_malicious_ip": lambda: make_evidence(detections=[detection_json("maliciousIPAddress")]),
    "risk_atypical_travel": lambda: make_evidence(detections=[detection_json("unlikelyTravel")]),
    "risk_leaked_credentials": lambda: make_evidence(detections=[detection_json("leakedCredentials")]),
    "risk_password_spray": lambda: make_evidence(detections=[detection_json("passwordSpray")]),
    "risk_inbox_manipulation": lambda: make_evidence(detections=[detection_json("suspiciousInboxForwarding")]),
    "risk_token_theft": lambda: make_evidence(detections=[detection_json("tokenIssuerAnomaly")]),
    "risk_mfa_fraud": lambda: make_evidence(detections=[detection_json("userReportedSuspiciousActivity")]),
    "risk_threat_intelligence": lambda: make_evidence(detections=[detection_json("investigationsThreatIntelligence")]),
    "risk_unfamiliar_sign_in": lambda: make_evidence(detections=[detection_json("unfamiliarFeatures")]),
    "risk_suspicious_sending": lambda: make_evidence(detections=[detection_json("suspiciousSendingPatterns")]),
    "risk_suspicious_api_traffic": lambda: make_evidence(detections=[detection_json("suspiciousAPITraffic")]),
    "risk_generic": lambda: make_evidence(detections=[detection_json("generic")]),
    "risk_other": lambda: make_evidence(detections=[detection_json("someFutureDetection")]),
    "risk_remediated": lambda: make_evidence(detections=[detection_json("leakedCredentials", state="remediated")]),
    "sign_in_new_country": lambda: make_evidence(sign_ins=home_sign_ins() + [sign_in_json(5, "NG", ATTACKER_IP)]),
    "sign_in_password_ok_blocked": lambda: make_evidence(
        sign_ins=home_sign_ins() + [sign_in_json(5, "NG", ATTACKER_IP, error=500121)]),
    "failed_sign_in_foreign": lambda: make_evidence(
        sign_ins=home_sign_ins() + [sign_in_json(5, "NG", ATTACKER_IP, error=50126)]),
    "legacy_protocol_sign_in": lambda: make_evidence(sign_ins=[sign_in_json(5, "US", "198.51.100.1", client="POP3")]),
    "shared_mailbox_sign_in": lambda: make_evidence(mailbox=mailbox_json(RecipientTypeDetails="SharedMailbox"),
                                                    sign_ins=[sign_in_json(5, "US", "198.51.100.1")]),
    # The sign-in judgements of investigation/signins.py (their own cases: tests/unit/test_signins.py).
    "sign_in_travel_known_device": lambda: make_evidence(sign_ins=[
        {**s, "deviceDetail": LAPTOP} for s in home_sign_ins()] + [{**sign_in_json(2, "PT", "203.0.113.140"),
                                                                     "deviceDetail": LAPTOP}]),
    "sign_in_baseline_unknown": lambda: make_evidence(user=user_json(usageLocation=None),
                                                      sign_ins=[sign_in_json(5, "US", "198.51.100.1")]),
    "sign_in_impossible_travel": lambda: make_evidence(sign_ins=home_sign_ins() + [
        placed(sign_in_json(2, "US", "198.51.100.1", city="Seattle"), 47.6, -122.3),
        placed(sign_in_json(1, "NG", ATTACKER_IP, city="Lagos"), 6.5, 3.4)]),
    "sign_in_many_addresses": lambda: make_evidence(sign_ins=home_sign_ins() + [
        sign_in_json(1 + i / 60, "NG", f"102.89.34.{i}", client="Authenticated SMTP") for i in range(5)]),
    "mfa_fatigue_approved": lambda: make_evidence(sign_ins=home_sign_ins() + [
        sign_in_json(2 - i / 12, "NG", ATTACKER_IP, error=500121) for i in range(3)] + [
        sign_in_json(1.5, "NG", ATTACKER_IP)]),
    "mfa_prompts_denied": lambda: make_evidence(sign_ins=home_sign_ins() + [
        sign_in_json(2 - i / 12, "NG", ATTACKER_IP, error=500121) for i in range(3)]),
    "mfa_method_registered": lambda: make_evidence(audits=[audit_json("User registered security info", 5)]),
    "mfa_registered_from_suspicious_ip": lambda: make_evidence(
        audits=[audit_json("User registered security info", 5, ip=ATTACKER_IP)],
        detections=[detection_json("maliciousIPAddress")]),
    "password_reset_by_other": lambda: make_evidence(
        audits=[audit_json("Reset password (by admin)", 5, by_id=HELPDESK_ID, by_upn="x@example.com")]),
    "password_changed_repeatedly": lambda: make_evidence(
        audits=[audit_json("Reset password (self-service)", h) for h in (1, 2, 3)]),
    "display_name_changed": lambda: make_evidence(
        audits=[audit_json("Update user", 5, props=[("DisplayName", '["A"]', '["B"]')])]),
    "contact_info_changed": lambda: make_evidence(
        audits=[audit_json("Update user", 5, props=[("PostalCode", '["1"]', '["2"]')])]),
    "admin_role_added": lambda: make_evidence(audits=[audit_json("Add member to role", 5)]),
    "admin_roles_held": lambda: make_evidence(
        memberships=[role_json("Security Administrator", "194ae4cb-b126-40b2-bd5b-6091b380977d")]),
    "consent_unverified_app": lambda: make_evidence(grants=[grant_json("g", "sp", "Mail.Send")], principals=[]),
    "defender_alert": lambda: make_evidence(alerts=[alert_json("Malware detected", "medium")]),
    "inbox_rule_changed": lambda: make_evidence(alerts=[alert_json("New-InboxRule by suspicious IP", "medium")]),
    "outbound_spam_detected": lambda: make_evidence(
        blocked=blocked_json("OutboundSpamLast24Hours=50;OutboundSpamPercent=90")),
    "send_volume_spike": lambda: make_evidence(blocked=blocked_json("Limit=RecipientRateLimit")),
    "restriction_reason_compromised": lambda: make_evidence(blocked=blocked_json("Compromised")),
    # investigation.delegation, on evidence built in its own tests
    **DELEGATION_CASES,
    **BURST_CASES,
    **CHANGES_CASES,
    **TENANT_TRAPS_CASES,
}


def test_every_code_has_a_positive_case() -> None:
    assert set(_ALL_CODE_CASES) == set(FINDING_CODES)


@pytest.mark.parametrize("code", FINDING_CODES)
def test_each_code_fires_with_exactly_its_declared_params(code: str) -> None:
    findings = found(_ALL_CODE_CASES[code](), code)
    assert findings, code
    for finding in findings:
        assert set(finding.params) == set(FINDING_PARAMS[code])
        assert all(isinstance(v, str) for v in finding.params.values())
        assert {key for key, _ in finding.evidence} <= set(EVIDENCE_KEYS)
        assert all(value for _, value in finding.evidence)


def test_finding_codes_are_stable_snake_case() -> None:
    for code in FINDING_CODES:
        assert code == code.lower() and code.replace("_", "").isalnum()


# ------------------------------------------------------------------------------------- prevention


def test_no_mfa_with_password_only() -> None:
    steps = prevention_steps(make_evidence(methods=[PASSWORD]))
    assert [s.code for s in steps] == ["enable_mfa"]
    assert steps[0].url.startswith("https://learn.microsoft.com/")


def test_email_method_is_not_mfa() -> None:
    email = method_json("emailAuthenticationMethod", 24 * 100, "e1", emailAddress="megan@gmail.com")
    assert [s.code for s in prevention_steps(make_evidence(methods=[PASSWORD, email]))] == ["enable_mfa"]


def test_mfa_registered_gives_no_step() -> None:
    assert prevention_steps(make_evidence()) == ()


def test_registration_report_is_the_fallback() -> None:
    not_registered = {"id": USER_ID, "isMfaRegistered": False, "isMfaCapable": False, "methodsRegistered": []}
    registered = {**not_registered, "isMfaRegistered": True, "methodsRegistered": ["microsoftAuthenticatorPush"]}
    assert [s.code for s in prevention_steps(make_evidence(methods=None, registration=not_registered))] == [
        "enable_mfa"
    ]
    assert prevention_steps(make_evidence(methods=None, registration=registered)) == ()
    # Nothing known: no claim either way.
    assert prevention_steps(make_evidence(methods=None)) == ()


@pytest.mark.parametrize(("cas", "protocols"), [
    (cas_json(imap=True), "imap"),
    (cas_json(imap=True, pop=True, smtp_disabled=False), "imap, pop, smtp_auth"),
    (cas_json(smtp_disabled=False), "smtp_auth"),
])
def test_legacy_protocols_enabled(cas: Json, protocols: str) -> None:
    [step] = prevention_steps(make_evidence(cas=cas))
    assert step.code == "disable_legacy_protocols"
    assert step.params["protocols"] == protocols


def test_legacy_protocols_off_or_following_org_setting_gives_no_step() -> None:
    assert prevention_steps(make_evidence(cas=cas_json(smtp_disabled=None))) == ()
    assert prevention_steps(make_evidence(cas=cas_json(imap=True), unavailable=[
        Unavailable(SourceName.cas_mailbox, UnavailableReason.permission, "Exchange.ManageAsApp")])) == ()

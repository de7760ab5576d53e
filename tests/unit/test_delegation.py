"""Delegation: the parsers on Exchange's output shapes, the findings on evidence built here (not the seed), and the
source's single read (trustee lookup) on the recording fake."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from investigation.delegation import NEW_ACCOUNT_DAYS, granted_at, grants_of
from investigation.evidence import Evidence, SourceName, Unavailable, UnavailableReason
from investigation.indicators import EVIDENCE_KEYS, FINDING_PARAMS, Finding, Severity, run_indicators
from investigation.sources import BY_NAME, Scope
from m365.errors import NotFound, Throttled
from m365.records import AuditChange, GrantKind, Mailbox, MailboxGrant, User
from tests.fakes import FakeTenant

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
OWNER = User(id="2f6d4c93-1b5e-4d0a-83f4-7a8b9c0d1e03", user_principal_name="MeganB@example.com",
             display_name="Megan Bowen", mail="MeganB@example.com", mail_nickname="MeganB")
GUEST = User(id="d412ff4e-c06d-4cbf-9e3f-8f9a0b1c2d14",
             user_principal_name="jordan_partner.example#EXT#@example.onmicrosoft.com",
             display_name="Jordan Miller (Partner)", mail="jordan@partner.example", user_type="Guest",
             created=NOW - timedelta(days=900))
ASSISTANT = User(id="7ebc91e8-6a0d-4c5f-98e9-2f3a4b5c6d08", user_principal_name="MeganL@example.com",
                 display_name="Megan Lewis", mail="MeganL@example.com", mail_nickname="MeganL",
                 created=NOW - timedelta(days=1500))
NEWCOMER = User(id="0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9", user_principal_name="svc-archive@example.com",
                display_name="svc-archive", mail="svc-archive@example.com", mail_nickname="svc-archive",
                created=NOW - timedelta(days=2))

# Get-MailboxPermission / Get-RecipientPermission / Get-MailboxFolderPermission objects as the demo tenant's cmdlet
# table lists their properties (demo_tenant/cmdlets.py cites the reference pages).
SELF_FULL = {"Identity": "MeganB", "User": "NT AUTHORITY\\SELF", "AccessRights": ["FullAccess", "ReadPermission"],
             "IsInherited": False, "Deny": False, "InheritanceType": "All"}
INHERITED_ADMIN = {"Identity": "MeganB", "User": "EURPR03A001\\Organization Management",
                   "AccessRights": ["FullAccess"], "IsInherited": True, "Deny": True, "InheritanceType": "All"}
GUEST_FULL = {"Identity": "MeganB", "User": GUEST.user_principal_name, "AccessRights": ["FullAccess"],
              "IsInherited": False, "Deny": False, "InheritanceType": "All"}
SELF_SEND_AS = {"Identity": "MeganB", "Trustee": "NT AUTHORITY\\SELF", "AccessControlType": "Allow",
                "AccessRights": ["SendAs"], "IsInherited": False, "InheritanceType": "None"}
GUEST_SEND_AS = {**SELF_SEND_AS, "Trustee": GUEST.user_principal_name}
DEFAULT_NONE = {"Identity": "MeganB:\\Inbox", "FolderName": "Inbox", "User": "Default", "AccessRights": ["None"],
                "SharingPermissionFlags": None}
ANONYMOUS_NONE = {**DEFAULT_NONE, "User": "Anonymous"}
ASSISTANT_REVIEWER = {**DEFAULT_NONE, "User": "Megan Lewis", "AccessRights": ["Reviewer"]}


def evidence(grants: tuple[MailboxGrant, ...] | None = (), delegates: tuple[User, ...] = (),
             send_on_behalf: tuple[str, ...] = (), audit: tuple[AuditChange, ...] | None = None,
             unavailable: tuple[Unavailable, ...] = ()) -> Evidence:
    mailbox = Mailbox(identity="MeganB", user_principal_name=OWNER.user_principal_name,
                      primary_smtp_address=OWNER.user_principal_name, grant_send_on_behalf_to=send_on_behalf)
    return Evidence(user=OWNER, now=NOW, verified_domains=("example.com", "example.onmicrosoft.com"), mailbox=mailbox,
                    inbox_rules=(), sign_ins=(), mailbox_grants=grants, delegates=delegates, mailbox_audit=audit,
                    unavailable=unavailable)


def delegation_findings(ev: Evidence) -> list[Finding]:
    return [f for f in run_indicators(ev) if f.source == SourceName.delegation]


def full(trustee: str) -> MailboxGrant:
    grant = MailboxGrant.from_mailbox_permission({**GUEST_FULL, "User": trustee})
    assert grant is not None
    return grant


# ---------------------------------------------------------------------------------------------- parsers


def test_mailbox_permission_keeps_only_direct_allowed_full_access_of_others() -> None:
    assert MailboxGrant.from_mailbox_permission(SELF_FULL) is None
    assert MailboxGrant.from_mailbox_permission(INHERITED_ADMIN) is None
    assert MailboxGrant.from_mailbox_permission({**GUEST_FULL, "Deny": True}) is None
    assert MailboxGrant.from_mailbox_permission({**GUEST_FULL, "AccessRights": ["ReadPermission"]}) is None
    grant = MailboxGrant.from_mailbox_permission(GUEST_FULL)
    assert grant == MailboxGrant(GrantKind.full_access, GUEST.user_principal_name, ("FullAccess",))
    # PowerShell's joined form of the same list.
    joined = MailboxGrant.from_mailbox_permission({**GUEST_FULL, "AccessRights": "FullAccess, ReadPermission"})
    assert joined is not None and joined.rights == ("FullAccess", "ReadPermission")


def test_recipient_permission_keeps_only_direct_allowed_send_as_of_others() -> None:
    assert MailboxGrant.from_recipient_permission(SELF_SEND_AS) is None
    assert MailboxGrant.from_recipient_permission({**GUEST_SEND_AS, "AccessControlType": "Deny"}) is None
    assert MailboxGrant.from_recipient_permission({**GUEST_SEND_AS, "IsInherited": True}) is None
    grant = MailboxGrant.from_recipient_permission(GUEST_SEND_AS)
    assert grant is not None and grant.kind == GrantKind.send_as and grant.trustee == GUEST.user_principal_name


def test_folder_permission_ignores_default_and_anonymous_with_none() -> None:
    assert MailboxGrant.from_folder_permission(DEFAULT_NONE, "Inbox") is None
    assert MailboxGrant.from_folder_permission(ANONYMOUS_NONE, "Inbox") is None
    shared = MailboxGrant.from_folder_permission({**DEFAULT_NONE, "AccessRights": ["Reviewer"]}, "Inbox")
    assert shared is not None and shared.trustee == "Default"
    grant = MailboxGrant.from_folder_permission({**ASSISTANT_REVIEWER, "SharingPermissionFlags": "Delegate"}, "Inbox")
    assert grant == MailboxGrant(GrantKind.folder, "Megan Lewis", ("Reviewer",), "Inbox", ("Delegate",))
    assert grant.subject_id == "Folder:Megan Lewis:Inbox"


def test_get_mailbox_grant_send_on_behalf_to_is_parsed() -> None:
    mailbox = Mailbox.from_exchange({"Identity": "PattiF", "UserPrincipalName": "PattiF@example.com",
                                     "GrantSendOnBehalfTo": ["MeganL"]})
    assert mailbox.grant_send_on_behalf_to == ("MeganL",)
    assert MailboxGrant.send_on_behalf(mailbox) == (MailboxGrant(GrantKind.send_on_behalf, "MeganL",
                                                                 ("SendOnBehalf",)),)
    assert Mailbox.from_exchange({"Identity": "x", "GrantSendOnBehalfTo": []}).grant_send_on_behalf_to == ()


def test_user_created_date_time_is_read() -> None:
    user = User.from_graph({"id": "1", "userPrincipalName": "a@example.com", "createdDateTime": "2026-11-26T08:00:00Z"})
    assert user.created == datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    assert "createdDateTime" in User.SELECT.split(",")


# ---------------------------------------------------------------------------------------------- findings


def test_full_access_and_send_as_for_a_guest_are_high_each_with_its_grant_as_subject() -> None:
    send_as = MailboxGrant.from_recipient_permission(GUEST_SEND_AS)
    assert send_as is not None
    findings = delegation_findings(evidence((full(GUEST.user_principal_name), send_as), (GUEST,)))
    assert [(f.code, f.severity) for f in findings] == [("delegate_outside", Severity.high)] * 2
    assert {f.subject_id for f in findings} == {f"FullAccess:{GUEST.user_principal_name}",
                                                f"SendAs:{GUEST.user_principal_name}"}
    assert {f.params["access"] for f in findings} == {"FullAccess", "SendAs"}


def test_an_external_address_is_outside_without_any_lookup() -> None:
    [finding] = delegation_findings(evidence((full("mallory@evil.example"),)))
    assert finding.code == "delegate_outside" and finding.params["trustee"] == "mallory@evil.example"


def test_a_guest_named_by_display_name_is_outside_once_resolved() -> None:
    grant = MailboxGrant.from_folder_permission({**ASSISTANT_REVIEWER, "User": GUEST.display_name}, "Inbox")
    assert grant is not None
    # Unresolved, a display name says nothing about where the account lives.
    assert [f.code for f in delegation_findings(evidence((grant,)))] == ["delegates_listed"]
    [finding] = delegation_findings(evidence((grant,), (GUEST,)))
    assert finding.code == "delegate_outside" and finding.params["access"] == "Inbox: Reviewer"
    assert ("account", GUEST.user_principal_name) in finding.evidence


def test_a_verified_subdomain_is_inside() -> None:
    assert [f.code for f in delegation_findings(evidence((full("ops@eu.example.com"),)))] == ["delegates_listed"]


def test_an_account_created_days_ago_is_medium_with_its_creation_time() -> None:
    [finding] = delegation_findings(evidence((full(NEWCOMER.user_principal_name),), (NEWCOMER,)))
    assert (finding.code, finding.severity) == ("delegate_new_account", Severity.medium)
    assert finding.params["created"] == "2026-11-26T09:00:00Z"
    assert finding.subject_id == f"FullAccess:{NEWCOMER.user_principal_name}"


def test_an_account_older_than_the_new_account_limit_is_ordinary() -> None:
    old = User(id="x", user_principal_name="old@example.com", display_name="Old",
               created=NOW - timedelta(days=NEW_ACCOUNT_DAYS + 1))
    assert [f.code for f in delegation_findings(evidence((full(old.user_principal_name),), (old,)))] == [
        "delegates_listed"]


def test_an_assistant_with_send_on_behalf_for_years_is_listed_as_low_context() -> None:
    reviewer = MailboxGrant.from_folder_permission(ASSISTANT_REVIEWER, "Inbox")
    assert reviewer is not None
    [finding] = delegation_findings(evidence((reviewer,), (ASSISTANT,), send_on_behalf=("MeganL",)))
    assert (finding.code, finding.severity, finding.subject_id) == ("delegates_listed", Severity.low, None)
    assert finding.params == {"delegates": "Megan Lewis, MeganL", "count": "2"}
    assert ("access", "SendOnBehalf") in finding.evidence and ("access", "Inbox: Reviewer") in finding.evidence


def test_one_ordinary_grant_is_the_listing_subject() -> None:
    [finding] = delegation_findings(evidence(send_on_behalf=("MeganL",)))
    assert finding.subject_id == "SendOnBehalf:MeganL"


def test_send_on_behalf_is_read_from_the_mailbox_even_when_the_delegation_source_failed() -> None:
    failed = (Unavailable(SourceName.delegation, UnavailableReason.permission, "Mail Recipients"),)
    ev = evidence(None, send_on_behalf=("jordan_partner.example#EXT#",), unavailable=failed)
    assert not ev.is_available(SourceName.delegation)
    assert [f.code for f in delegation_findings(ev)] == ["delegate_outside"]


def test_no_grants_no_findings() -> None:
    assert delegation_findings(evidence()) == []


def _grant_record(operation: str, hours_ago: float, **parameters: str) -> AuditChange:
    return AuditChange(id=f"{operation}-{hours_ago}", operation=operation, time=NOW - timedelta(hours=hours_ago),
                       actor="admin@example.com", client_ip="102.89.34.10",
                       parameters=tuple(parameters.items()))


def test_the_audit_log_dates_a_grant_and_the_date_is_shown() -> None:
    grant = full(GUEST.user_principal_name)
    audit = (_grant_record("Add-MailboxPermission", 30, Identity="MeganB@example.com", User="Jordan Miller (Partner)",
                           AccessRights="FullAccess"),
             # The same trustee on another mailbox dates nothing here.
             _grant_record("Add-MailboxPermission", 20, Identity="PattiF@example.com", User=GUEST.user_principal_name,
                           AccessRights="FullAccess"))
    ev = evidence((grant,), (GUEST,), audit=audit)
    assert granted_at(grant, ev) == NOW - timedelta(hours=30)
    [finding] = delegation_findings(ev)
    assert ("time", "2026-11-27T03:00:00Z") in finding.evidence
    # Unknown without the audit log: never "long ago".
    assert granted_at(grant, evidence((grant,), (GUEST,))) is None


def test_send_on_behalf_is_dated_by_set_mailbox() -> None:
    audit = (_grant_record("Set-Mailbox", 5, Identity="MeganB", GrantSendOnBehalfTo='@{Add="MeganL"}'),)
    ev = evidence(send_on_behalf=("MeganL",), delegates=(ASSISTANT,), audit=audit)
    [grant] = grants_of(ev)
    assert granted_at(grant, ev) == NOW - timedelta(hours=5)


def test_every_finding_matches_its_declaration() -> None:
    reviewer = MailboxGrant.from_folder_permission(ASSISTANT_REVIEWER, "Inbox")
    assert reviewer is not None
    ev = evidence((full(GUEST.user_principal_name), full(NEWCOMER.user_principal_name), reviewer),
                  (GUEST, NEWCOMER, ASSISTANT), send_on_behalf=("MeganL",))
    findings = delegation_findings(ev)
    assert {f.code for f in findings} == {"delegate_outside", "delegate_new_account", "delegates_listed"}
    for finding in findings:
        assert set(finding.params) == set(FINDING_PARAMS[finding.code])
        assert {key for key, _ in finding.evidence} <= set(EVIDENCE_KEYS)


def test_tenant_text_is_clipped() -> None:
    [finding] = delegation_findings(evidence((full("x" * 500 + "@evil.example"),)))
    assert len(finding.params["trustee"]) <= 200


# Cases for tests/unit/test_indicators.py's "every code has a positive case".
DELEGATION_CASES: Mapping[str, Callable[[], Evidence]] = {
    "delegate_outside": lambda: evidence((full(GUEST.user_principal_name),), (GUEST,)),
    "delegate_new_account": lambda: evidence((full(NEWCOMER.user_principal_name),), (NEWCOMER,)),
    "delegates_listed": lambda: evidence(send_on_behalf=("MeganL",)),
}


# ---------------------------------------------------------------------------------------------- the source


SCOPE = Scope(since=NOW - timedelta(days=7), sign_in_limit=100)


async def read(tenant: FakeTenant) -> Any:
    return await BY_NAME[SourceName.delegation].single(tenant, OWNER, SCOPE)


async def test_the_source_reads_the_grants_and_looks_up_each_trustee_once() -> None:
    reviewer = MailboxGrant.from_folder_permission(ASSISTANT_REVIEWER, "Inbox")
    send_as = MailboxGrant.from_recipient_permission(GUEST_SEND_AS)
    assert reviewer is not None and send_as is not None
    tenant = FakeTenant(users=[OWNER, GUEST, ASSISTANT],
                        mailbox_grants={"meganb@example.com": [full(GUEST.user_principal_name), send_as, reviewer,
                                                               full("ghost@example.com")]})
    grants, delegates = await read(tenant)
    assert len(grants) == 4
    assert {u.id for u in delegates} == {GUEST.id, ASSISTANT.id}
    assert tenant.called("list_mailbox_grants") == [("MeganB@example.com",)]
    assert sorted(a[0] for a in tenant.called("get_user")) == ["ghost@example.com", GUEST.user_principal_name]
    assert tenant.called("find_users") == [("Megan Lewis",)]
    landed = BY_NAME[SourceName.delegation].land((grants, delegates))
    assert set(landed) == {"mailbox_grants", "delegates"}


async def test_a_failed_lookup_leaves_the_trustee_unresolved_not_the_source_unread() -> None:
    tenant = FakeTenant(users=[OWNER, GUEST], mailbox_grants={"meganb@example.com": [full(GUEST.user_principal_name)]},
                        failures={"get_user": Throttled("slow down")})
    grants, delegates = await read(tenant)
    assert len(grants) == 1 and delegates == ()


@pytest.mark.parametrize(("failure", "reason"), [(NotFound("no mailbox"), UnavailableReason.no_mailbox),
                                                 (Throttled("slow down"), UnavailableReason.throttled)])
async def test_a_failed_read_is_not_checked(failure: Exception, reason: UnavailableReason) -> None:
    tenant = FakeTenant(users=[OWNER], failures={"list_mailbox_grants": failure})
    with pytest.raises(type(failure)):
        await read(tenant)
    assert BY_NAME[SourceName.delegation].unavailable(failure) == (reason, "")


def test_the_grants_survive_the_case_snapshot() -> None:
    from investigation.collect import judge
    from investigation.snapshot import from_snapshot, to_snapshot

    ev = evidence((full(GUEST.user_principal_name), full(NEWCOMER.user_principal_name)), (GUEST, NEWCOMER),
                  send_on_behalf=("MeganL",))
    investigation = judge(ev, (), 0.1)
    back = from_snapshot(to_snapshot(investigation))
    assert back is not None and back.evidence == investigation.evidence and back.findings == investigation.findings

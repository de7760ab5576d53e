"""`m365.records`: Graph- and Exchange-shaped JSON → frozen records."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from m365.records import (
    BlockedSender,
    DirectoryAudit,
    DirectoryObject,
    InboxRule,
    Mailbox,
    SecurityAlert,
    SignIn,
    User,
    parse_datetime,
)


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-11-21T08:15:30Z", datetime(2026, 11, 21, 8, 15, 30, tzinfo=UTC)),
    ("2026-11-21T08:15:30.1234567Z", datetime(2026, 11, 21, 8, 15, 30, 123456, tzinfo=UTC)),
    ("2026-11-21T08:15:30.12Z", datetime(2026, 11, 21, 8, 15, 30, 120000, tzinfo=UTC)),
    ("2026-11-21T09:15:30.1234567+01:00", datetime(2026, 11, 21, 8, 15, 30, 123456, tzinfo=UTC)),
    ("2026-11-21T08:15:30", datetime(2026, 11, 21, 8, 15, 30, tzinfo=UTC)),
    ("/Date(1795248000000)/", datetime(2026, 11, 21, 8, 0, tzinfo=UTC)),
    ("/Date(1795248000000+0100)/", datetime(2026, 11, 21, 8, 0, tzinfo=UTC)),
    ("", None), ("yesterday", None), (None, None), (12, None),
])
def test_parse_datetime(text: object, expected: datetime | None) -> None:
    parsed = parse_datetime(text)
    assert parsed == expected
    if parsed is not None:
        assert parsed.utcoffset() is not None and parsed.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


def test_user_from_graph() -> None:
    user = User.from_graph({
        "id": "8fcda2f9-7b1e-4d6a-a9fa-3a4b5c6d7e09", "userPrincipalName": "miriam.o'brien@example.com",
        "displayName": "Miriam O'Brien", "mail": None, "accountEnabled": False, "onPremisesSyncEnabled": None,
        "proxyAddresses": ["smtp:mob@example.com", "SMTP:miriam.o'brien@example.com"], "assignedLicenses": [{}],
    })
    assert user.mail is None
    assert user.smtp_address == "miriam.o'brien@example.com"
    assert user.account_enabled is False
    assert user.on_premises_sync_enabled is False
    assert user.assigned_licenses == 1
    assert not user.is_guest
    guest = User.from_graph({"id": "g", "userPrincipalName": "jordan_partner.example#EXT#@example.onmicrosoft.com"})
    assert guest.is_guest


def test_sign_in_from_graph() -> None:
    sign_in = SignIn.from_graph({
        "id": "s1", "createdDateTime": "2026-11-20T23:59:59.9999999Z", "userId": "u", "ipAddress": "203.0.113.9",
        "location": {"city": "Lagos", "countryOrRegion": "NG"}, "status": {"errorCode": 50126, "failureReason": "x"},
        "clientAppUsed": "IMAP4", "isInteractive": False,
    })
    assert sign_in.created == datetime(2026, 11, 20, 23, 59, 59, 999999, tzinfo=UTC)
    assert (sign_in.city, sign_in.country, sign_in.succeeded) == ("Lagos", "NG", False)
    assert sign_in.risk_level_during_sign_in == "none"


def test_exchange_records() -> None:
    blocked = BlockedSender.from_exchange({"SenderAddress": "MeganB@example.com", "Reason": "OutboundSpamLastDay",
                                           "CreatedDatetime": "/Date(1795248000000)/", "TemporaryBlock": False})
    assert blocked.created == datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
    mailbox = Mailbox.from_exchange({"Identity": "MeganB", "UserPrincipalName": "MeganB@example.com",
                                     "PrimarySmtpAddress": "MeganB@example.com",
                                     "ForwardingSmtpAddress": "smtp:drop@evil.example",
                                     "DeliverToMailboxAndForward": True, "RecipientTypeDetails": "UserMailbox"})
    assert mailbox.forwarding_target == "drop@evil.example"
    assert not mailbox.is_shared


def test_inbox_rule_and_audit_and_alert() -> None:
    rule = InboxRule.from_graph({"id": "r", "displayName": ".", "isEnabled": True, "actions": {
        "forwardTo": [{"emailAddress": {"address": "a@evil.example"}}], "moveToFolder": "f", "delete": True}})
    assert rule.external_targets == ("a@evil.example",)
    assert rule.delete and rule.move_to_folder == "f"
    audit = DirectoryAudit.from_graph({"id": "a", "activityDisplayName": "Update user",
                                       "activityDateTime": "2026-11-20T10:00:00.1234567Z",
                                       "initiatedBy": {"app": {"displayName": "Graph Explorer"}},
                                       "targetResources": [{"id": "u1", "userPrincipalName": "x@example.com",
                                                            "modifiedProperties": [{"displayName": "StrongAuth",
                                                                                    "oldValue": "[]",
                                                                                    "newValue": None}]}]})
    assert audit.target_ids == ("u1",)
    assert audit.initiated_by_app == "Graph Explorer"
    assert audit.modified_properties[0].new_value == ""
    alert = SecurityAlert.from_graph({"id": "al", "title": "Suspicious inbox forwarding", "evidence": [
        {"@odata.type": "#microsoft.graph.security.userEvidence",
         "userAccount": {"userPrincipalName": "MeganB@example.com", "azureAdUserId": "u1"}},
        {"@odata.type": "#microsoft.graph.security.mailboxEvidence", "primaryAddress": "meganb@example.com"}]})
    assert alert.user_upns == ("MeganB@example.com", "meganb@example.com")
    role = DirectoryObject.from_graph({"@odata.type": "#microsoft.graph.directoryRole", "id": "r",
                                       "roleTemplateId": "194ae4cb-b126-40b2-bd5b-6091b380977d"})
    assert role.is_role

"""`investigation.verdict.assess` on whole stories built from Graph- and Exchange-shaped JSON (Megan: clearly
compromised; Patti: suspicious; Adele: a legitimate bulk mailing), the verdict rules one by one, and a
fuzz test that indicators and verdict never raise on arbitrary Graph-shaped input."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from investigation.evidence import Evidence, SourceName, Unavailable, UnavailableReason
from investigation.indicators import Finding, Severity, run_indicators
from investigation.verdict import (
    REASON_CODES,
    REASON_PARAMS,
    STEP_CODES,
    Assessment,
    StepPhase,
    Verdict,
    assess,
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

Json = dict[str, Any]
NOW = datetime(2024, 10, 22, 12, 0, tzinfo=UTC)
DOMAINS = ("example.com", "example.onmicrosoft.com")
GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"
ATTACKER_IP = "102.89.34.10"


def at(hours_ago: float) -> str:
    return (NOW - timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def sign_in(uid: str, hours_ago: float, country: str, ip: str, client: str = "Browser", error: int = 0) -> Json:
    return {"id": f"{uid}-{hours_ago}-{ip}-{client}", "createdDateTime": at(hours_ago), "userId": uid,
            "appDisplayName": "Office 365 Exchange Online", "clientAppUsed": client, "ipAddress": ip,
            "location": {"city": "", "countryOrRegion": country}, "status": {"errorCode": error},
            "riskLevelDuringSignIn": "none", "riskState": "none", "isInteractive": True}


def workweek(uid: str, days: int = 5) -> list[Json]:
    return [sign_in(uid, 24 * d + 4 + i, "US", f"198.51.100.{i + 1}") for d in range(days) for i in range(3)]


def recipients(*addresses: str) -> list[Json]:
    return [{"emailAddress": {"name": a, "address": a}} for a in addresses]


FOLDERS = [
    {"id": "AAMkInbox", "displayName": "Inbox"},
    {"id": "AAMkRss", "displayName": "RSS Subscriptions"},
    {"id": "AAMkNews", "displayName": "Newsletters"},
]
PASSWORD = {"@odata.type": "#microsoft.graph.passwordAuthenticationMethod",
            "id": "28c10230-6103-485e-b985-444c60001490"}
CAS_CLOSED = {"Identity": "x", "ImapEnabled": False, "PopEnabled": False, "SmtpClientAuthenticationDisabled": True}


def evidence_from(story: Json, *, unavailable: Sequence[Unavailable] = ()) -> Evidence:
    """Evidence from a story's JSON bodies; sources marked unavailable are left None, as the collector does."""
    missing = {u.source for u in unavailable}

    def many(source: SourceName, key: str, build: Any) -> Any:
        return None if source in missing else tuple(build(item) for item in story.get(key, []))

    def one(source: SourceName, key: str, build: Any) -> Any:
        body = story.get(key)
        return None if source in missing or body is None else build(body)

    blocked = one(SourceName.restriction, "blocked", BlockedSender.from_exchange)
    return Evidence(
        user=User.from_graph(story["user"]),
        now=NOW,
        verified_domains=DOMAINS,
        restriction=blocked,
        restricted=None if SourceName.restriction in missing else blocked is not None,
        mailbox=one(SourceName.mailbox, "mailbox", Mailbox.from_exchange),
        cas_mailbox=one(SourceName.cas_mailbox, "cas", CasMailbox.from_exchange),
        inbox_rules=many(SourceName.inbox_rules, "rules", InboxRule.from_graph),
        mail_folders=many(SourceName.mail_folders, "folders", MailFolder.from_graph),
        sign_ins=many(SourceName.sign_ins, "sign_ins", SignIn.from_graph),
        risky_user=one(SourceName.risky_user, "risky_user", RiskyUser.from_graph),
        risk_detections=many(SourceName.risk_detections, "detections", RiskDetection.from_graph),
        auth_methods=many(SourceName.auth_methods, "methods", AuthMethod.from_graph),
        registration=one(SourceName.registration, "registration", RegistrationDetails.from_graph),
        directory_audits=many(SourceName.directory_audits, "audits", DirectoryAudit.from_graph),
        oauth_grants=many(SourceName.oauth_grants, "grants", OAuthGrant.from_graph),
        service_principals=many(SourceName.service_principals, "principals", ServicePrincipal.from_graph),
        memberships=many(SourceName.memberships, "memberships", DirectoryObject.from_graph),
        alerts=many(SourceName.alerts, "alerts", SecurityAlert.from_graph),
        auto_reply_enabled=None if SourceName.auto_reply in missing else bool(story.get("auto_reply", False)),
        unavailable=tuple(unavailable),
    )


def judge(story: Json, *, unavailable: Sequence[Unavailable] = ()) -> tuple[tuple[Finding, ...], Assessment]:
    evidence = evidence_from(story, unavailable=unavailable)
    findings = run_indicators(evidence)
    return findings, assess(evidence, findings)


def step_codes(assessment: Assessment) -> list[str]:
    return [s.code for s in assessment.recommended_steps]


# ------------------------------------------------------------------------------------------- Megan

MEGAN = "2f6d4c93-1b5e-4d0a-83f4-7a8b9c0d1e03"


def megan(*, admin: bool = False) -> Json:
    """Phished: a "." rule forwarding out and hiding replies, a sign-in from Nigeria, an authenticator added
    from the same IP, Identity Protection at high risk, restricted for 96 % spam."""
    memberships = [{"@odata.type": "#microsoft.graph.group", "id": "g1", "displayName": "Sales"}]
    if admin:
        memberships.append({"@odata.type": "#microsoft.graph.directoryRole", "id": "r1",
                            "displayName": "Global Administrator", "roleTemplateId": GLOBAL_ADMIN})
    return {
        "user": {"id": MEGAN, "userPrincipalName": "MeganB@example.com", "displayName": "Megan Bowen",
                 "mail": "MeganB@example.com", "usageLocation": "US", "accountEnabled": True},
        "blocked": {"SenderAddress": "MeganB@example.com", "CreatedDatetime": "/Date(1729571640000)/",
                    "Reason": "OutboundSpamLast24Hours=242;OutboundMailLast24Hours=251;OutboundSpamPercent=96;"
                              "Last Spam Message MessagetraceId:2e24d2c8-0b5a-4f44-9d2f-08dcf1a2b3c4"},
        "mailbox": {"Identity": "MeganB", "UserPrincipalName": "MeganB@example.com",
                    "PrimarySmtpAddress": "MeganB@example.com", "ForwardingSmtpAddress": None},
        "cas": {"Identity": "MeganB", "ImapEnabled": True, "PopEnabled": False,
                "SmtpClientAuthenticationDisabled": None},
        "rules": [{"id": "AQAAAJ5dZqA=", "displayName": ".", "isEnabled": True, "sequence": 1,
                   "conditions": {"bodyOrSubjectContains": ["hack", "phish", "spam"]},
                   "actions": {"forwardTo": recipients("mb.archive2024@proton-drop.example.net"),
                               "moveToFolder": "AAMkRss", "markAsRead": True, "stopProcessingRules": True}}],
        "folders": FOLDERS,
        # Attacker sign-ins 36 h ago: recent, but not "in the last 24 hours".
        "sign_ins": workweek(MEGAN) + [sign_in(MEGAN, 36, "NG", ATTACKER_IP),
                                       sign_in(MEGAN, 35, "NG", ATTACKER_IP, client="IMAP4")],
        "risky_user": {"id": MEGAN, "riskLevel": "high", "riskState": "atRisk", "riskDetail": "none"},
        "detections": [{"id": "rd1", "userId": MEGAN, "riskEventType": "unfamiliarFeatures", "riskLevel": "medium",
                        "riskState": "atRisk", "detectedDateTime": at(36), "ipAddress": ATTACKER_IP,
                        "location": {"countryOrRegion": "NG", "city": "Lagos"}}],
        "methods": [PASSWORD,
                    {"@odata.type": "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod", "id": "m-old",
                     "displayName": "iPhone", "createdDateTime": "2023-01-10T09:00:00Z"},
                    # Graph gives a phone method no registration date: the audit below dates it.
                    {"@odata.type": "#microsoft.graph.phoneAuthenticationMethod", "id": "m-new",
                     "phoneNumber": "+234 8012345678", "phoneType": "mobile"}],
        "audits": [{"id": "a1", "activityDisplayName": "User registered security info", "result": "success",
                    "category": "UserManagement", "activityDateTime": at(35),
                    "initiatedBy": {"user": {"id": MEGAN, "userPrincipalName": "MeganB@example.com",
                                             "ipAddress": ATTACKER_IP}},
                    "targetResources": [{"id": MEGAN, "userPrincipalName": "MeganB@example.com"}]}],
        "memberships": memberships,
        "alerts": [{"id": "al1", "title": "User restricted from sending email", "severity": "high",
                    "createdDateTime": at(12),
                    "evidence": [{"userAccount": {"userPrincipalName": "MeganB@example.com",
                                                  "azureAdUserId": MEGAN}}]}],
    }


def test_megan_is_compromised() -> None:
    findings, result = judge(megan())
    assert result.verdict == Verdict.compromised
    assert result.reason_code == "multiple_high"
    assert not result.urgent
    assert result.key_sources_missing == ()
    assert {"rule_forwards_external", "rule_hides_mail", "sign_in_new_country", "user_risk_high",
            "mfa_registered_from_suspicious_ip"} <= {f.code for f in findings}


def test_megan_steps_follow_microsofts_order() -> None:
    _, result = judge(megan())
    assert step_codes(result) == [
        "force_password_change", "revoke_sessions", "disable_rule", "review_mfa_methods", "confirm_compromised",
        "unblock", "disable_legacy_protocols",
    ]
    disable = next(s for s in result.recommended_steps if s.code == "disable_rule")
    assert disable.target_id == "AQAAAJ5dZqA="
    assert disable.required
    assert [s.phase for s in result.recommended_steps] == sorted(
        (s.phase for s in result.recommended_steps), key=list(StepPhase).index
    )
    assert next(s for s in result.recommended_steps if s.code == "disable_legacy_protocols").params == {
        "protocols": "imap"
    }


def test_megan_with_an_admin_role_is_urgent_and_loses_her_roles() -> None:
    _, result = judge(megan(admin=True))
    assert result.verdict == Verdict.compromised
    assert result.urgent
    assert "remove_admin_roles" in step_codes(result)


def test_megan_without_sign_ins_is_still_compromised() -> None:
    missing = [Unavailable(SourceName.sign_ins, UnavailableReason.permission, "AuditLog.Read.All"),
               Unavailable(SourceName.directory_audits, UnavailableReason.permission, "AuditLog.Read.All")]
    findings, result = judge(megan(), unavailable=missing)
    assert not any(f.source == SourceName.sign_ins for f in findings)
    assert result.verdict == Verdict.compromised
    assert result.key_sources_missing == (SourceName.sign_ins,)
    # Active abuse cannot be ruled out without the sign-in log: blocking is offered.
    block = next(s for s in result.recommended_steps if s.code == "block_sign_in")
    assert block.params == {"active": "unknown"}


def test_megan_attacker_signing_in_right_now_is_urgent_and_blocked() -> None:
    story = megan()
    story["sign_ins"] = [*story["sign_ins"], sign_in(MEGAN, 2, "NG", ATTACKER_IP)]
    _, result = judge(story)
    assert result.urgent
    assert next(s for s in result.recommended_steps if s.code == "block_sign_in").params == {"active": "true"}


# ------------------------------------------------------------------------------------------- Patti

PATTI = "3a7e5da4-2c6f-4e1b-94a5-8b9c0d1e2f04"


def patti() -> Json:
    """External SMTP forwarding to a Gmail address, IMAP sign-ins from home, no MFA."""
    return {
        "user": {"id": PATTI, "userPrincipalName": "PattiF@example.com", "displayName": "Patti Fernandez",
                 "mail": "PattiF@example.com", "usageLocation": "US"},
        "blocked": {"SenderAddress": "PattiF@example.com",
                    "Reason": "OutboundSpamLast24Hours=120;OutboundMailLast24Hours=200;OutboundSpamPercent=60"},
        "mailbox": {"Identity": "PattiF", "PrimarySmtpAddress": "PattiF@example.com",
                    "ForwardingSmtpAddress": "smtp:patti.fernandez1987@gmail.com", "DeliverToMailboxAndForward": True},
        "cas": {"Identity": "PattiF", "ImapEnabled": True, "PopEnabled": True,
                "SmtpClientAuthenticationDisabled": False},
        "rules": [], "folders": FOLDERS,
        "sign_ins": workweek(PATTI) + [sign_in(PATTI, 10 + h, "US", "198.51.100.77", client="IMAP4") for h in range(6)],
        "methods": [PASSWORD],
        "registration": {"id": PATTI, "isMfaRegistered": False, "isMfaCapable": False, "methodsRegistered": []},
    }


def test_patti_is_suspicious() -> None:
    findings, result = judge(patti())
    assert result.verdict == Verdict.suspicious
    assert result.reason_code == "high_single_source"
    assert not result.urgent
    assert {f.code for f in findings if f.severity in (Severity.high, Severity.medium)} == {
        "mailbox_forwards_external", "legacy_protocol_sign_in", "outbound_spam_detected",
    }


def test_patti_steps() -> None:
    _, result = judge(patti())
    assert step_codes(result) == [
        "force_password_change", "revoke_sessions", "remove_forwarding", "unblock", "enable_mfa",
        "disable_legacy_protocols",
    ]
    forwarding = result.recommended_steps[2]
    assert forwarding.params == {"target": "patti.fernandez1987@gmail.com"}
    assert not any(s.required for s in result.recommended_steps)


def test_patti_with_a_foreign_imap_sign_in_becomes_compromised() -> None:
    story = patti()
    story["sign_ins"] = [*story["sign_ins"], sign_in(PATTI, 30, "VN", "203.0.113.8", client="IMAP4")]
    assert judge(story)[1].verdict == Verdict.compromised


# ------------------------------------------------------------------------------------------- Adele

ADELE = "4b8f6eb5-3d7a-4f2c-a5b6-9c0d1e2f3a05"


def adele() -> Json:
    """Restricted after a legitimate bulk mailing: nothing else."""
    return {
        "user": {"id": ADELE, "userPrincipalName": "AdeleV@example.com", "displayName": "Adele Vance",
                 "mail": "AdeleV@example.com", "usageLocation": "US"},
        "blocked": {"SenderAddress": "AdeleV@example.com",
                    # Microsoft's shape (tests/fixtures/microsoft/exchange/reason-recipient-limit-external.json).
                    "Reason": "EmailSendingLimitExceeded;InternalRecipientCountToday=12;"
                              "ExternalRecipientCountToday=2750;ExceedingLimitType=External;"
                              "Last MessagetraceId=9a3e5c71-2f4b-4d8e-b6a0-08dcf1d2e3f4;LastMessageRcptCount=250;"},
        "mailbox": {"Identity": "AdeleV", "PrimarySmtpAddress": "AdeleV@example.com"},
        "cas": CAS_CLOSED,
        "rules": [{"id": "r-news", "displayName": "Newsletters", "isEnabled": True,
                   "actions": {"moveToFolder": "AAMkNews"}}],
        "folders": FOLDERS,
        "sign_ins": workweek(ADELE),
        "risky_user": None,
        "methods": [PASSWORD, {"@odata.type": "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod",
                               "id": "m1", "createdDateTime": "2023-03-01T08:00:00Z"}],
        "alerts": [{"id": "al1", "title": "User restricted from sending email", "severity": "high",
                    "createdDateTime": at(3),
                    "evidence": [{"userAccount": {"userPrincipalName": "AdeleV@example.com"}}]}],
    }


def test_adele_has_no_signs() -> None:
    findings, result = judge(adele())
    assert [(f.code, f.severity) for f in findings] == [("send_volume_spike", Severity.low)]
    assert result.verdict == Verdict.no_signs
    # The bulk mailing is why we looked, not a sign: the verdict says so, and names the restriction's finding.
    assert result.reason_code == "restriction_only"
    assert result.deciding is not None and result.deciding.codes == ("send_volume_spike",)
    assert step_codes(result) == ["unblock"]
    assert not result.urgent


def test_adele_without_sign_ins_is_incomplete() -> None:
    missing = [Unavailable(SourceName.sign_ins, UnavailableReason.timeout)]
    _, result = judge(adele(), unavailable=missing)
    assert result.verdict == Verdict.incomplete
    assert result.reason_code == "incomplete_no_signs"
    assert result.reason_params == {"sources": "sign_ins"}
    assert result.key_sources_missing == (SourceName.sign_ins,)
    assert step_codes(result)[:2] == ["force_password_change", "revoke_sessions"]


def test_adele_without_identity_protection_licence_still_has_no_signs() -> None:
    missing = [Unavailable(SourceName.risky_user, UnavailableReason.license, "Entra ID P2"),
               Unavailable(SourceName.risk_detections, UnavailableReason.license, "Entra ID P2")]
    assert judge(adele(), unavailable=missing)[1].verdict == Verdict.no_signs


def test_adele_with_identity_protection_permission_missing_is_incomplete() -> None:
    missing = [Unavailable(SourceName.risky_user, UnavailableReason.permission, "IdentityRiskyUser.Read.All")]
    result = judge(adele(), unavailable=missing)[1]
    assert result.verdict == Verdict.incomplete
    assert result.key_sources_missing == (SourceName.risky_user,)


def test_no_mailbox_is_nothing_to_check_not_missing() -> None:
    story = adele()
    missing = [Unavailable(SourceName.mailbox, UnavailableReason.no_mailbox),
               Unavailable(SourceName.inbox_rules, UnavailableReason.no_mailbox),
               Unavailable(SourceName.cas_mailbox, UnavailableReason.no_mailbox)]
    assert judge(story, unavailable=missing)[1].verdict == Verdict.no_signs


def test_secondary_sources_missing_do_not_make_it_incomplete() -> None:
    missing = [Unavailable(source, UnavailableReason.permission) for source in (
        SourceName.directory_audits, SourceName.alerts, SourceName.oauth_grants, SourceName.memberships)]
    assert judge(adele(), unavailable=missing)[1].verdict == Verdict.no_signs


def test_unknown_restriction_gives_no_unblock_step() -> None:
    missing = [Unavailable(SourceName.restriction, UnavailableReason.throttled)]
    result = judge(adele(), unavailable=missing)[1]
    assert result.verdict == Verdict.no_signs
    assert "unblock" not in step_codes(result)


def test_suspicious_with_a_key_source_missing_is_incomplete_with_signs() -> None:
    missing = [Unavailable(SourceName.inbox_rules, UnavailableReason.permission, "MailboxSettings.Read")]
    result = judge(patti(), unavailable=missing)[1]
    assert result.verdict == Verdict.incomplete
    assert result.reason_code == "incomplete_with_signs"
    assert result.reason_params["sources"] == "inbox_rules"
    assert "remove_forwarding" in step_codes(result)


# ------------------------------------------------------------------------------- the rules, one by one


def quiet() -> Json:
    story = adele()
    story["blocked"] = None
    story["alerts"] = []
    return story


def with_alert(story: Json, title: str, severity: str) -> Json:
    story["alerts"] = [*story.get("alerts", []), {
        "id": f"al-{title}", "title": title, "severity": severity, "createdDateTime": at(5),
        "evidence": [{"userAccount": {"userPrincipalName": story["user"]["userPrincipalName"]}}]}]
    return story


def test_quiet_account_nothing_found() -> None:
    _, result = judge(quiet())
    assert (result.verdict, result.reason_code, result.recommended_steps) == (Verdict.no_signs, "nothing_found", ())


def test_two_highs_from_one_family_are_one_observation() -> None:
    story = quiet()
    story["mailbox"] = {**story["mailbox"], "ForwardingSmtpAddress": "smtp:x@gmail.com"}
    story["rules"] = [{"id": "r1", "displayName": "fw", "actions": {"forwardTo": recipients("y@gmail.com")}}]
    result = judge(story)[1]
    assert (result.verdict, result.reason_code) == (Verdict.suspicious, "high_single_source")


def test_high_with_corroborating_medium_from_another_family_is_compromised() -> None:
    story = quiet()
    story["rules"] = [{"id": "r1", "displayName": "fw", "actions": {"forwardTo": recipients("y@gmail.com")}}]
    story = with_alert(story, "Suspicious inbox manipulation rule", "medium")
    result = judge(story)[1]
    assert (result.verdict, result.reason_code) == (Verdict.compromised, "high_corroborated")


def test_high_with_non_corroborating_medium_stays_suspicious() -> None:
    story = quiet()
    story["rules"] = [{"id": "r1", "displayName": "fw", "actions": {"forwardTo": recipients("y@gmail.com")}}]
    story["audits"] = [{"id": "a1", "activityDisplayName": "Reset user password", "activityDateTime": at(3),
                        "initiatedBy": {"user": {"id": "helpdesk", "userPrincipalName": "IsaiahL@example.com"}},
                        "targetResources": [{"id": ADELE}]}]
    result = judge(story)[1]
    assert (result.verdict, result.reason_code) == (Verdict.suspicious, "high_single_source")


def test_confirmed_compromised_alone_is_decisive() -> None:
    story = quiet()
    story["risky_user"] = {"id": ADELE, "riskLevel": "high", "riskState": "confirmedCompromised"}
    result = judge(story)[1]
    assert (result.verdict, result.reason_code) == (Verdict.compromised, "confirmed_compromised")
    # Already confirmed: the step is not offered again.
    assert "confirm_compromised" not in step_codes(result)


def test_one_medium_is_suspicious() -> None:
    story = quiet()
    story["sign_ins"] = [*story["sign_ins"], sign_in(ADELE, 6, "US", "198.51.100.1", client="POP3")]
    result = judge(story)[1]
    assert (result.verdict, result.reason_code) == (Verdict.suspicious, "medium_only")


def test_low_and_info_findings_leave_no_signs() -> None:
    story = quiet()
    story["auto_reply"] = True
    story["memberships"] = [{"@odata.type": "#microsoft.graph.directoryRole", "id": "r", "displayName": "Exchange "
                             "Administrator", "roleTemplateId": "29232cdf-9323-42fd-ade2-1d097af3e4de"}]
    result = judge(story)[1]
    assert (result.verdict, result.reason_code) == (Verdict.no_signs, "only_low")
    assert not result.urgent  # an admin role raises urgency only when something is wrong


def test_admin_role_makes_a_suspicious_account_urgent() -> None:
    story = quiet()
    story["memberships"] = [{"@odata.type": "#microsoft.graph.directoryRole", "id": "r", "displayName": "Global "
                             "Administrator", "roleTemplateId": GLOBAL_ADMIN}]
    story["sign_ins"] = [*story["sign_ins"], sign_in(ADELE, 6, "US", "198.51.100.1", client="POP3")]
    result = judge(story)[1]
    assert result.verdict == Verdict.suspicious
    assert result.urgent
    assert "remove_admin_roles" not in step_codes(result)  # only for compromised accounts


def test_restriction_findings_never_corroborate() -> None:
    story = quiet()
    story["blocked"] = {"SenderAddress": "AdeleV@example.com", "Reason": "Compromised;OutboundSpamLast24Hours=90;"
                        "OutboundMailLast24Hours=100"}
    story["mailbox"] = {**story["mailbox"], "ForwardingSmtpAddress": "smtp:x@gmail.com"}
    findings, result = judge(story)
    assert {"restriction_reason_compromised", "outbound_spam_detected"} <= {f.code for f in findings}
    assert result.verdict == Verdict.suspicious


def test_synced_user_password_step_says_on_premises() -> None:
    story = quiet()
    story["user"] = {**story["user"], "onPremisesSyncEnabled": True}
    story["mailbox"] = {**story["mailbox"], "ForwardingSmtpAddress": "smtp:x@gmail.com"}
    result = judge(story)[1]
    assert result.recommended_steps[0].code == "force_password_change"
    assert result.recommended_steps[0].params == {"on_premises": "true"}


def test_medium_rule_can_be_disabled_but_is_not_required() -> None:
    story = quiet()
    # Filing mail into RSS Subscriptions with no other mark of an attacker: medium (nobody files mail there).
    story["rules"] = [{"id": "r-read", "displayName": "Feeds", "actions": {"moveToFolder": "AAMkRss"}},
                      {"id": "r-fw", "displayName": ".", "actions": {"forwardTo": recipients("y@gmail.com")}}]
    story = with_alert(story, "Suspicious inbox manipulation rule", "high")
    result = judge(story)[1]
    assert result.verdict == Verdict.compromised
    rules = [(s.target_id, s.required) for s in result.recommended_steps if s.code == "disable_rule"]
    assert rules == [("r-fw", True), ("r-read", False)]


def test_consent_step() -> None:
    story = quiet()
    story["grants"] = [{"id": "g1", "clientId": "sp1", "consentType": "Principal", "scope": "Mail.Read offline_access"}]
    story["principals"] = [{"id": "sp1", "displayName": "Mail Helper", "verifiedPublisher": {}}]
    result = judge(story)[1]
    assert result.verdict == Verdict.suspicious
    consent = next(s for s in result.recommended_steps if s.code == "review_consents")
    assert consent.params == {"apps": "Mail Helper"}


def test_codes_and_params_are_declared() -> None:
    for story in (megan(admin=True), patti(), adele(), quiet()):
        result = judge(story)[1]
        assert result.reason_code in REASON_CODES
        assert set(result.reason_params) == set(REASON_PARAMS[result.reason_code])
        assert {s.code for s in result.recommended_steps} <= set(STEP_CODES)
        assert all(s.url.startswith("https://learn.microsoft.com/") for s in result.recommended_steps)


# ------------------------------------------------------------------------------ never raises (fuzz)

_ANY = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.text(max_size=15),
                 st.lists(st.text(max_size=8), max_size=3), st.dictionaries(st.text(max_size=5), st.text(max_size=5),
                                                                             max_size=2))
_TIME = st.one_of(_ANY, st.integers(0, 24 * 10).map(lambda h: at(h)), st.just("/Date(1729571640000)/"))
_COUNTRY = st.one_of(_ANY, st.sampled_from(["US", "NG", "nl", "", " "]))
_IP = st.one_of(_ANY, st.sampled_from([ATTACKER_IP, "198.51.100.1", ""]))


def _obj(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[Json]:
    return st.fixed_dictionaries({}, optional=fields)


_RECIPIENTS = st.lists(
    st.one_of(_ANY, st.builds(lambda a: {"emailAddress": {"address": a}},
                              st.one_of(_ANY, st.sampled_from(["a@gmail.com", "b@example.com"])))),
    max_size=3,
)
_RULE_ACTIONS = _obj(
    forwardTo=_RECIPIENTS, redirectTo=_RECIPIENTS, forwardAsAttachmentTo=_RECIPIENTS, delete=_ANY,
    permanentDelete=_ANY, markAsRead=_ANY, moveToFolder=st.one_of(_ANY, st.just("AAMkRss")),
)
_RULE = _obj(id=_ANY, displayName=_ANY, isEnabled=_ANY, conditions=_ANY, actions=st.one_of(_ANY, _RULE_ACTIONS))
_SIGN_IN = _obj(
    id=_ANY, createdDateTime=_TIME, clientAppUsed=st.one_of(_ANY, st.just("IMAP4")), ipAddress=_IP,
    location=st.one_of(_ANY, _obj(countryOrRegion=_COUNTRY, city=_ANY)),
    status=st.one_of(_ANY, _obj(errorCode=st.one_of(_ANY, st.sampled_from([0, 50074])))),
    riskLevelDuringSignIn=_ANY, riskState=_ANY,
)
_DETECTION = _obj(
    id=_ANY, riskEventType=st.one_of(_ANY, st.sampled_from(
        ["anonymizedIPAddress", "adminConfirmedUserCompromised", "unfamiliarFeatures"])),
    riskLevel=_ANY, riskState=_ANY, detectedDateTime=_TIME, ipAddress=_IP,
)
_METHOD = _obj(**{"@odata.type": st.one_of(_ANY, st.just("#microsoft.graph.phoneAuthenticationMethod")),
                  "id": _ANY, "createdDateTime": _TIME})
_PROPERTY = _obj(displayName=st.one_of(_ANY, st.just("DisplayName")), oldValue=_ANY, newValue=_ANY)
_TARGET = _obj(id=_ANY, modifiedProperties=st.one_of(_ANY, st.lists(_PROPERTY, max_size=2)))
_AUDIT = _obj(
    id=_ANY, activityDateTime=_TIME, result=_ANY,
    activityDisplayName=st.one_of(_ANY, st.sampled_from(
        ["Update user", "User registered security info", "Reset user password", "Add member to role"])),
    initiatedBy=st.one_of(_ANY, _obj(user=st.one_of(_ANY, _obj(id=_ANY, userPrincipalName=_ANY, ipAddress=_IP)))),
    targetResources=st.one_of(_ANY, st.lists(_TARGET, max_size=2)),
)
_STORY = st.fixed_dictionaries({
    "user": _obj(id=st.one_of(_ANY, st.just(MEGAN)), userPrincipalName=_ANY, usageLocation=_COUNTRY, mail=_ANY,
                 accountEnabled=_ANY, onPremisesSyncEnabled=_ANY),
    "blocked": st.one_of(st.none(), _obj(SenderAddress=_ANY, Reason=_ANY, CreatedDatetime=_TIME)),
    "mailbox": st.one_of(st.none(), _obj(Identity=_ANY, ForwardingSmtpAddress=_ANY, ForwardingAddress=_ANY,
                                         RecipientTypeDetails=_ANY, DeliverToMailboxAndForward=_ANY)),
    "cas": st.one_of(st.none(), _obj(ImapEnabled=_ANY, PopEnabled=_ANY, SmtpClientAuthenticationDisabled=_ANY)),
    "rules": st.lists(_RULE, max_size=3),
    "folders": st.lists(_obj(id=st.one_of(_ANY, st.just("AAMkRss")), displayName=_ANY, wellKnownName=_ANY),
                        max_size=3),
    "sign_ins": st.lists(_SIGN_IN, max_size=8),
    "risky_user": st.one_of(st.none(), _obj(riskLevel=_ANY, riskState=_ANY, riskLastUpdatedDateTime=_TIME)),
    "detections": st.lists(_DETECTION, max_size=3),
    "methods": st.lists(_METHOD, max_size=3),
    "registration": st.one_of(st.none(), _obj(isMfaRegistered=_ANY, methodsRegistered=_ANY)),
    "audits": st.lists(_AUDIT, max_size=3),
    "grants": st.lists(_obj(id=_ANY, clientId=_ANY, scope=_ANY), max_size=2),
    "principals": st.lists(_obj(id=_ANY, displayName=_ANY, verifiedPublisher=_ANY), max_size=2),
    "memberships": st.lists(_obj(**{"@odata.type": _ANY, "displayName": _ANY, "roleTemplateId": _ANY}), max_size=2),
    "alerts": st.lists(_obj(title=_ANY, severity=_ANY, createdDateTime=_TIME, evidence=_ANY), max_size=2),
    "auto_reply": st.booleans(),
})
_MISSING = st.lists(st.builds(Unavailable, st.sampled_from(list(SourceName)), st.sampled_from(list(UnavailableReason))),
                    max_size=4)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_STORY, _MISSING)
def test_indicators_and_verdict_never_raise_on_graph_shaped_input(story: Json, missing: list[Unavailable]) -> None:
    findings, result = judge(story, unavailable=missing)
    assert list(findings) == sorted(findings, key=lambda f: (f.severity.rank, f.code))
    assert result.reason_code in REASON_CODES
    if result.verdict == Verdict.no_signs:
        assert not result.key_sources_missing
        assert all(f.severity in (Severity.low, Severity.info) for f in findings)
    if result.key_sources_missing:
        assert result.verdict in (Verdict.compromised, Verdict.incomplete)


"""Bad luck upstream: each evidence source failing on its own, driven by the demo tenant's fault switches.

The real `m365` stack (msal, aiohttp, Graph and Exchange clients) talks HTTPS to a real demo tenant; the
`Collector` runs with short timeouts. Whatever fails — a 403 for a permission not granted, a 429 storm with
`Retry-After`, a 500, a request that hangs — the investigation completes, the source is listed as not
checked with the right reason, the verdict is `incomplete` when the source mattered (Adele's case rests on
what is *not* there) and stays `compromised` when the rest proves it (Megan), and the findings card still
renders, validates against the Adaptive Card schema and names the source under "Not checked".
"""

from __future__ import annotations

import re

import pytest

from cards.findings import findings_card
from demo_tenant import FaultRule
from demo_tenant.faults import RequestRecord
from investigation.collect import CollectorConfig, Investigation
from investigation.evidence import SourceName, UnavailableReason
from investigation.resolve import resolve_account
from investigation.verdict import Verdict
from locales import t
from tests.cardschema import assert_valid_card, lines
from tests.demo_stack import DemoStack

ADELE = "AdeleV@example.com"
MEGAN = "MeganB@example.com"

# The demo tenant's request key ("METHOD /v1.0/path" or "InvokeCommand:<Cmdlet>") of each source's call.
SOURCE_CALLS: dict[SourceName, str] = {
    SourceName.restriction: r"^InvokeCommand:Get-BlockedSenderAddress$",
    SourceName.mailbox: r"^InvokeCommand:Get-Mailbox$",
    SourceName.cas_mailbox: r"^InvokeCommand:Get-CASMailbox$",
    SourceName.inbox_rules: r"^GET /v1\.0/users/[^/]+/mailFolders/inbox/messageRules",
    SourceName.hidden_inbox_rules: r"^InvokeCommand:Get-InboxRule$",
    SourceName.mail_folders: r"^GET /v1\.0/users/[^/]+/mailFolders$",
    SourceName.sign_ins: r"^GET /v1\.0/auditLogs/signIns",
    SourceName.directory_audits: r"^GET /v1\.0/auditLogs/directoryAudits",
    SourceName.registration: r"^GET /v1\.0/reports/authenticationMethods/userRegistrationDetails",
    SourceName.risky_user: r"^GET /v1\.0/identityProtection/riskyUsers",
    SourceName.risk_detections: r"^GET /v1\.0/identityProtection/riskDetections",
    SourceName.auth_methods: r"^GET /v1\.0/users/[^/]+/authentication/methods",
    SourceName.oauth_grants: r"^GET /v1\.0/users/[^/]+/oauth2PermissionGrants",
    SourceName.service_principals: r"^GET /v1\.0/servicePrincipals",
    SourceName.memberships: r"^GET /v1\.0/users/[^/]+/transitiveMemberOf",
    SourceName.alerts: r"^GET /v1\.0/security/alerts_v2",
    SourceName.domains: r"^GET /v1\.0/organization",
    SourceName.mailbox_audit: r"^InvokeCommand:Search-UnifiedAuditLog$",
    SourceName.transport_rules: r"^InvokeCommand:Get-TransportRule$",
    # The tenant-wide app changes read the same endpoint as the account's directory audits (investigation.tenant_traps).
    SourceName.app_changes: r"^GET /v1\.0/auditLogs/directoryAudits",
    # Graph's message trace and Get-MessageTraceV2, which stands in when Graph refuses (401/403): a fault on the
    # source is a fault on both (tests/integration/test_message_trace_demo.py has the fallback on its own).
    SourceName.message_trace: r"^(GET /v1\.0/admin/exchange/tracing/messageTraces|InvokeCommand:Get-MessageTraceV2$)",
    SourceName.delegation: r"^InvokeCommand:Get-(MailboxPermission|RecipientPermission|MailboxFolderPermission)$",
    SourceName.outbound_spam_policy: r"^InvokeCommand:Get-HostedOutboundSpamFilterPolicy$",
}
# The application permission each Graph call needs: the 403 names it (audit logs, reports) or the bot's table of
# DESIGN.md's permissions does (directory reads, whose 403 says only "Insufficient privileges"); the card repeats it.
GRAPH_PERMISSIONS: dict[SourceName, str] = {
    SourceName.inbox_rules: "MailboxSettings.Read",
    SourceName.mail_folders: "Mail.ReadBasic.All",
    SourceName.sign_ins: "AuditLog.Read.All",
    SourceName.directory_audits: "AuditLog.Read.All",
    SourceName.registration: "AuditLog.Read.All",
    SourceName.risky_user: "IdentityRiskyUser.Read.All",
    SourceName.risk_detections: "IdentityRiskEvent.Read.All",
    SourceName.auth_methods: "UserAuthenticationMethod.Read.All",
    SourceName.oauth_grants: "Directory.Read.All",
    SourceName.service_principals: "Directory.Read.All",
    SourceName.memberships: "GroupMember.Read.All",
    SourceName.alerts: "SecurityAlert.Read.All",
    SourceName.domains: "Organization.Read.All",
    SourceName.app_changes: "AuditLog.Read.All",
    SourceName.message_trace: "ExchangeMessageTrace.Read.All",
}
EXCHANGE_SOURCES = (SourceName.restriction, SourceName.mailbox, SourceName.cas_mailbox, SourceName.hidden_inbox_rules,
                    SourceName.mailbox_audit, SourceName.transport_rules, SourceName.delegation,
                    SourceName.outbound_spam_policy)
# Without these Adele's "no signs" cannot be told from "could not look" (investigation.verdict.KEY_SOURCES).
KEY_SOURCES = frozenset({SourceName.inbox_rules, SourceName.mailbox, SourceName.sign_ins, SourceName.risky_user,
                         SourceName.risk_detections})
# The consent grants and their apps are one source: a grant whose app cannot be read cannot be judged.
LISTED_WITH = {SourceName.service_principals: SourceName.oauth_grants,
               SourceName.oauth_grants: SourceName.service_principals,
               # One endpoint (auditLogs/directoryAudits): a fault on it is a fault on both.
               SourceName.directory_audits: SourceName.app_changes,
               SourceName.app_changes: SourceName.directory_audits}

ALL_SOURCES = list(SOURCE_CALLS)


async def investigate(stack: DemoStack, who: str, config: CollectorConfig | None = None) -> Investigation:
    resolution = await resolve_account(stack.tenant, who)
    collector = stack.collector(config) if config else stack.collector()
    return await collector.investigate(resolution.user)


_rendered: dict[int, tuple[Investigation, list[str]]] = {}


def card_of(investigation: Investigation) -> list[str]:
    """Render the findings card (a viewer who may act, so the buttons are there too), validate it against the
    Adaptive Card schema, return its lines. Once per investigation: validation is the slow part."""
    seen = _rendered.get(id(investigation))
    if seen is not None and seen[0] is investigation:
        return seen[1]
    card = findings_card(investigation, case_id="case-1", viewer_can_act=True, locale="en-US",
                         time_zone="Europe/Amsterdam")
    assert_valid_card(card)
    shown = lines(card)
    _rendered.clear()
    _rendered[id(investigation)] = (investigation, shown)
    return shown


def assert_not_checked(investigation: Investigation, source: SourceName, reason: UnavailableReason,
                       detail: str | None = None) -> None:
    """The source is unavailable for `reason`, and the card's "Not checked" list says so in words."""
    missing = investigation.evidence.unavailable_reason(source)
    assert missing is not None, f"{source} should be listed as unavailable"
    assert missing.reason_code == reason, missing
    if detail is not None:
        assert missing.detail == detail
    shown = card_of(investigation)
    assert t("en", "notchecked.title") in shown
    label = t("en", f"source.{source.value}")
    line = next((x for x in shown if x.startswith(label + ": ")), None)
    assert line is not None, f"no 'Not checked' line for {label!r} in {shown}"
    assert t("en", f"unavailable.{reason.value}") in line
    if missing.detail:
        assert f"({missing.detail})" in line


def assert_verdict(investigation: Investigation, expected: Verdict) -> None:
    assessment = investigation.assessment
    assert assessment.verdict == expected, (assessment.reason_code, dict(assessment.reason_params),
                                            investigation.evidence.unavailable)
    assert t("en", f"verdict.{expected.value}") in card_of(investigation)


def adele_verdict_without(*sources: SourceName) -> Verdict:
    return Verdict.incomplete if KEY_SOURCES & set(sources) else Verdict.no_signs


# -- every source on its own -----------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ALL_SOURCES, ids=[s.value for s in ALL_SOURCES])
async def test_permission_not_granted_then_server_error(stack: DemoStack, source: SourceName) -> None:
    """One source at a time: first a 403 for a permission not granted, then a 500."""
    if source in EXCHANGE_SOURCES:
        stack.server.state.faults.replace([FaultRule(match=SOURCE_CALLS[source], status=403)])
    else:
        stack.server.state.faults.replace([FaultRule(match=SOURCE_CALLS[source], permission=GRAPH_PERMISSIONS[source])])

    megan = await investigate(stack, MEGAN)
    assert_verdict(megan, Verdict.compromised)
    detail = GRAPH_PERMISSIONS.get(source)
    assert_not_checked(megan, source, UnavailableReason.permission, detail)
    if source in LISTED_WITH:
        assert_not_checked(megan, LISTED_WITH[source], UnavailableReason.permission, detail)
    if source in EXCHANGE_SOURCES:
        # Exchange answers with the management roles that would do; the card repeats them.
        missing = megan.evidence.unavailable_reason(source)
        assert missing is not None and "Administrator" in missing.detail
    others = {u.source for u in megan.evidence.unavailable} - {source, LISTED_WITH.get(source)}
    assert not others, f"a fault on {source} must not take down {others}"
    if source != SourceName.service_principals:  # Adele consented to nothing: no app is looked up
        adele = await investigate(stack, ADELE)
        assert_not_checked(adele, source, UnavailableReason.permission, detail)
        assert_verdict(adele, adele_verdict_without(source))

    stack.server.state.faults.replace([FaultRule(match=SOURCE_CALLS[source], status=500)])
    # The message trace remembers Graph's refusal for a while and reads Get-MessageTraceV2 straight away; when that
    # fails too, the card keeps naming the permission Graph wants, the one thing the admin can fix.
    expected = ((UnavailableReason.permission, detail) if source == SourceName.message_trace
                else (UnavailableReason.error, "HTTP 500"))
    megan = await investigate(stack, MEGAN)
    assert_verdict(megan, Verdict.compromised)
    assert_not_checked(megan, source, *expected)
    if source != SourceName.service_principals:
        adele = await investigate(stack, ADELE)
        assert_not_checked(adele, source, *expected)
        assert_verdict(adele, adele_verdict_without(source))


@pytest.mark.parametrize("source", [SourceName.sign_ins, SourceName.inbox_rules, SourceName.mailbox,
                                    SourceName.risky_user, SourceName.alerts], ids=lambda s: s.value)
async def test_429_storm_with_retry_after(stack: DemoStack, source: SourceName) -> None:
    """Every answer is 429 with Retry-After 1: the client waits as told, then reports "throttled", not a timeout."""
    stack.server.state.faults.add(FaultRule(match=SOURCE_CALLS[source], status=429, retry_after=1))

    adele = await investigate(stack, ADELE)
    assert_not_checked(adele, source, UnavailableReason.throttled)
    assert_verdict(adele, adele_verdict_without(source))
    calls = calls_of(stack, source)
    assert len(calls) >= 2, "Retry-After 1 s fits the source's 2 s: the call must have been retried"
    assert all(r.status == 429 for r in calls)


async def test_retry_after_beyond_the_source_timeout_ends_the_call_at_once(stack: DemoStack) -> None:
    """Retry-After 3 s fits the client's retry budget (5 s) but not the source's 2 s: no pointless wait into a
    timeout, the source is "throttled" at once (and the card comes sooner)."""
    stack.server.state.faults.add(FaultRule(match=SOURCE_CALLS[SourceName.sign_ins], status=429, retry_after=3))

    megan = await investigate(stack, MEGAN)
    assert_verdict(megan, Verdict.compromised)
    assert_not_checked(megan, SourceName.sign_ins, UnavailableReason.throttled)
    assert len(calls_of(stack, SourceName.sign_ins)) == 1
    timing = next(x for x in megan.timings if x.source == SourceName.sign_ins)
    assert timing.outcome == "Throttled"
    # Abuse cannot be ruled out without the sign-in log: blocking sign-in is offered, marked "unknown".
    block = [s for s in megan.assessment.recommended_steps if s.code == "block_sign_in"]
    assert block and block[0].params["active"] == "unknown"


async def test_a_short_429_burst_is_retried_and_the_source_is_checked(stack: DemoStack) -> None:
    stack.server.state.faults.add(FaultRule(match=SOURCE_CALLS[SourceName.sign_ins], status=429, retry_after=1,
                                            count=1))

    adele = await investigate(stack, ADELE)
    assert adele.evidence.unavailable == ()
    assert_verdict(adele, Verdict.no_signs)
    assert [r.status for r in calls_of(stack, SourceName.sign_ins)] == [429, 200]


@pytest.mark.parametrize("source", [SourceName.sign_ins, SourceName.mailbox, SourceName.risk_detections,
                                    SourceName.memberships], ids=lambda s: s.value)
async def test_a_source_that_hangs_times_out_alone(stack: DemoStack, source: SourceName) -> None:
    stack.server.state.faults.add(FaultRule(match=SOURCE_CALLS[source], timeout=True))
    config = CollectorConfig(source_timeout=1.0, total_deadline=6.0)

    adele = await investigate(stack, ADELE, config)
    assert_not_checked(adele, source, UnavailableReason.timeout)
    assert [u.source for u in adele.evidence.unavailable] == [source]
    assert_verdict(adele, adele_verdict_without(source))
    timing = next(x for x in adele.timings if x.source == source)
    assert timing.outcome == "TimeoutError"


async def test_when_everything_hangs_the_total_deadline_still_brings_a_card(stack: DemoStack) -> None:
    for pattern in SOURCE_CALLS.values():
        stack.server.state.faults.add(FaultRule(match=pattern, timeout=True))
    resolution = await resolve_account(stack.tenant, MEGAN)  # before the faults reach the directory lookup
    config = CollectorConfig(source_timeout=30.0, total_deadline=1.5)

    megan = await stack.collector(config).investigate(resolution.user)
    assert_verdict(megan, Verdict.incomplete)
    assert megan.findings == ()
    assert megan.evidence.restricted is None
    missing = {u.source for u in megan.evidence.unavailable}
    assert missing == set(SOURCE_CALLS)
    for source in (SourceName.sign_ins, SourceName.restriction, SourceName.inbox_rules):
        assert_not_checked(megan, source, UnavailableReason.timeout)


async def test_every_source_refused_at_once(stack: DemoStack) -> None:
    resolution = await resolve_account(stack.tenant, ADELE)
    for source, pattern in SOURCE_CALLS.items():
        rule = FaultRule(match=pattern, status=403) if source in EXCHANGE_SOURCES else FaultRule(
            match=pattern, permission=GRAPH_PERMISSIONS[source])
        stack.server.state.faults.add(rule)

    adele = await stack.collector().investigate(resolution.user)
    assert_verdict(adele, Verdict.incomplete)
    assert {u.source for u in adele.evidence.unavailable} == set(SOURCE_CALLS)
    assert all(u.reason_code == UnavailableReason.permission for u in adele.evidence.unavailable)
    assert_not_checked(adele, SourceName.sign_ins, UnavailableReason.permission, "AuditLog.Read.All")


def calls_of(stack: DemoStack, source: SourceName) -> list[RequestRecord]:
    """The requests the demo tenant answered for `source` (matched by the same key as its fault rules)."""
    pattern = re.compile(SOURCE_CALLS[source])
    return [r for r in stack.server.state.requests
            if pattern.search(f"InvokeCommand:{r.cmdlet}" if r.api == "exchange" else f"{r.method} {r.path}")]

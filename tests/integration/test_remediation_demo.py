"""Remediation against the real demo tenant over HTTPS (msal, Graph, Exchange), with the real handler and store.

What only the demo tenant can prove: two admins on two instances pressing Unblock at once make exactly one
`Remove-BlockedSenderAddress` (its request log); Microsoft's errors (403 naming the permission, 5xx after the
retries, the on-premises 400 for a synced user, the unblock limit) end as audited failures that the card
explains; and the checker sees the account leave Restricted entities after the unblock delay, also after a
restart.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot import Parts, build_handler
from config import Settings
from core.cases import CaseBook
from core.presses import RemediationConfig
from demo_tenant import DemoTenant, DemoTenantConfig
from demo_tenant.faults import FaultRule
from domain.people import Role, Speaker
from investigation.collect import CollectorConfig
from investigation.service import Investigations
from m365.http import RetryPolicy, create_session
from m365.tenant import M365Tenant, create_tenant
from remediation.checker import CheckerConfig, UnblockChecker
from remediation.views import CaseView
from store import CaseRecord, Store
from teams.handler import BlockedSenderBot
from tests.activities import ALEX, ISAIAH, LYNNE, Person
from tests.dialog_client import DialogClient
from tests.integration.test_remediation_policy import card_of, message_of, shown, verbs_on
from tests.report_fakes import RecordingOutbox

SEED = Path(__file__).resolve().parents[2] / "demo_tenant" / "seeds" / "contoso.json"
FAST_RETRY = RetryPolicy(max_attempts=3, budget_seconds=5.0, base_delay_seconds=0.05, max_delay_seconds=0.2)
FAST = RemediationConfig(claim_wait_seconds=10.0, claim_poll_seconds=0.05,
                         checker=CheckerConfig(base_interval=0.2, max_interval=0.5, scan_interval=0.2))
SECURITY_ADMINS = "7f2b3c4d-5e6f-4071-8283-94a5b6c7d8e9"
MEGAN_ID = "2f6d4c93-1b5e-4d0a-83f4-7a8b9c0d1e03"
ADELE_ID = "4b8f6eb5-3d7a-4f2c-a5b6-9c0d1e2f3a05"
GRADY_ID = "90debb0a-8c2f-4e7b-bafb-4b5c6d7e8f10"
UNBLOCK = "Remove-BlockedSenderAddress"


@dataclass
class Demo:
    """A demo tenant, the production client stack on it, and a store."""

    server: DemoTenant
    settings: Settings
    tenant: M365Tenant
    store: Store

    def unblock_requests(self) -> list[Any]:
        return self.server.state.requests.matching(cmdlet=UNBLOCK)

    def actions(self, kind: str) -> list[Any]:
        return [a for a in self.server.state.actions if a.kind == kind]

    def instance(self, config: RemediationConfig = FAST) -> tuple[BlockedSenderBot, Parts]:
        """What one bot instance has (its own claims wait, its own checker)."""
        return build_handler(self.settings, tenant=self.tenant, store=self.store, outbox=RecordingOutbox(),
                             remediation_config=config)

    def chat(self, person: Person, instance: tuple[BlockedSenderBot, Parts] | None = None,
             **kw: Any) -> DialogClient:
        """A personal chat with a bot instance (by default a fresh one, sharing the store and the tenant, as
        instances do)."""
        bot, _ = instance or self.instance()
        return DialogClient(bot, person, **kw)

    async def case_of(self, account: str) -> CaseRecord:
        """The account's case after a real investigation (what "investigate …" leaves behind)."""
        user = await self.tenant.get_user(account)
        assert user is not None
        investigations = Investigations(self.tenant, config=CollectorConfig(source_timeout=5.0, total_deadline=10.0))
        opener = Speaker(aad_object_id=ALEX.aad_object_id, name=ALEX.name, tenant_id=self.tenant.tenant_id.lower(),
                         role=Role.SECURITY_ADMIN)
        return await CaseBook(self.store).record(await investigations.investigate(user), opener)


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[Demo]:
    server = DemoTenant(DemoTenantConfig(seed_path=SEED, data_dir=tmp_path / "demo", host="127.0.0.1", port=0,
                                         unblock_delay_seconds=0.5))
    await server.start()
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    session: aiohttp.ClientSession | None = None
    tenant: M365Tenant | None = None
    try:
        settings = Settings.from_env(server.client_env(), dotenv_path=tmp_path / "absent.env")
        session = create_session(settings)
        tenant = await create_tenant(settings, session, retry=FAST_RETRY)
        yield Demo(server, settings, tenant, store)
    finally:
        if tenant is not None:
            await tenant.close()
        if session is not None:
            await session.close()
        await store.close()
        await server.stop()


async def outcomes(store: Store, case_id: str) -> list[tuple[str, str]]:
    return [(e.action, e.outcome) for e in await store.audit.list(case_id=case_id)]


async def test_two_admins_on_two_instances_unblock_once(demo: Demo) -> None:
    # Lynne becomes a second security admin for this test.
    demo.server.state.graph["memberOf"][LYNNE.aad_object_id].append(SECURITY_ADMINS)
    case = await demo.case_of("AdeleV@example.com")  # a bulk mailing: no gate
    # Exchange takes its time, so both presses are past every check and at the claim while the first runs.
    demo.server.state.faults.add(FaultRule(match=f"InvokeCommand:{UNBLOCK}", latency_ms=300))
    alex, lynne = demo.chat(ALEX), demo.chat(LYNNE)
    data = {"caseId": case.id, "confirm": "1"}
    first, second = await asyncio.gather(alex.press("unblock", data), lynne.press("unblock", data))
    assert len(demo.unblock_requests()) == 1
    assert len(demo.actions("unblock")) == 1
    cards = [shown(card_of(first)), shown(card_of(second))]
    assert all("within an hour, at most 24 hours" in card for card in cards)
    # The winner's card says what happened; the other admin's says it was already done, and by whom.
    assert sum("Already unblocked by" in card for card in cards) == 1
    assert (await outcomes(demo.store, case.id)).count(("unblock", "succeeded")) == 1
    assert len(await demo.store.audit.list(case_id=case.id)) == 2
    # A replay of the same press later is a stale card: no call either.
    card = card_of(await demo.chat(ALEX).press("unblock", data))
    assert "Already unblocked by" in shown(card)
    assert len(demo.unblock_requests()) == 1


async def test_megan_secured_then_unblocked_then_restored(demo: Demo) -> None:
    case = await demo.case_of("MeganB@example.com")
    assert case.verdict == "compromised"
    instance = demo.instance()
    checker = instance[1].checker
    alex = demo.chat(ALEX, instance)
    card = card_of(await alex.press("unblock", {"caseId": case.id, "confirm": "1"}))
    assert "held back" in shown(card) and demo.unblock_requests() == []
    card_of(await alex.press("force_password_change", {"caseId": case.id, "confirm": "1"}))
    card_of(await alex.press("revoke_sessions", {"caseId": case.id}))
    rule_ids = [a["data"]["ruleId"] for a in _all(card)
                if a.get("type") == "Action.Execute" and a["verb"] == "disable_rule"]
    # "." and ".." through Graph; the hidden "Mailbox Sync" (Exchange only) through Disable-InboxRule.
    assert len(rule_ids) == 3 and "exo:6093829450386063361" in rule_ids
    for rule_id in rule_ids:
        card_of(await alex.press("disable_rule", {"caseId": case.id, "ruleId": rule_id}))
    assert [a.detail["rule"] for a in demo.actions("patch_rule")] == [r for r in rule_ids if not r.startswith("exo:")]
    assert [a.detail["rule"] for a in demo.actions("disable_inbox_rule")] == ["6093829450386063361"]
    # The partner's guest account holds FullAccess and SendAs (the seed's intruder grant): both are required.
    grant_ids = [a["data"]["grantId"] for a in _all(card)
                 if a.get("type") == "Action.Execute" and a["verb"] == "remove_delegation"]
    assert len(grant_ids) == 2
    for grant_id in grant_ids:
        card = card_of(await alex.press("remove_delegation", {"caseId": case.id, "grantId": grant_id}))
    if "remove_forwarding" in verbs_on(card):
        card_of(await alex.press("remove_forwarding", {"caseId": case.id}))
    # The intruder's authenticator and the unverified mail app's consent are required too, one button each.
    card = card_of(await alex.press("unblock", {"caseId": case.id, "confirm": "1"}))
    assert "held back" in shown(card)
    assert "Remove the sign-in method “SM-A515F”, Revoke the consent to “Mail Sync Pro”" in shown(card)
    for verb, key in (("remove_mfa_method", "methodId"), ("revoke_consent", "grantId")):
        [item] = [a["data"][key] for a in _all(card) if a.get("type") == "Action.Execute" and a["verb"] == verb]
        card = card_of(await alex.press(verb, {"caseId": case.id, key: item, "confirm": "1"}))
    card = card_of(await alex.press("unblock", {"caseId": case.id, "confirm": "1"}))
    assert "Unblocked by Alex Wilber" in shown(card) and "within an hour, at most 24 hours" in shown(card)
    kinds = [a.kind for a in demo.server.state.actions]
    assert kinds[:2] == ["password_profile", "revoke_sessions"] and kinds[-1] == "unblock"
    # No password ever leaves the bot: only the flag.
    assert dict(demo.actions("password_profile")[0].detail) == {"forceChangePasswordNextSignIn": True}
    await checker.start()
    try:
        for _ in range(200):  # the demo tenant lifts the block 0.5 s after the unblock
            fresh = await demo.store.cases.get_case(case.id)
            if fresh is not None and fresh.status == "resolved":
                break
            await asyncio.sleep(0.05)
    finally:
        await checker.stop()
    fresh = await demo.store.cases.get_case(case.id)
    assert fresh is not None and fresh.status == "resolved" and fresh.resolved_at is not None
    card = card_of(await alex.press("show_case", {"caseId": case.id}))
    assert "Sending restored at" in shown(card) and "Sending restored, confirmed at" in shown(card)
    assert ("unblock_check", "succeeded") in await outcomes(demo.store, case.id)
    # Every action: started before, outcome after, one correlation id each.
    entries = await demo.store.audit.list(case_id=case.id)
    pairs: dict[str, list[str]] = {}
    for entry in entries:
        pairs.setdefault(entry.correlation_id, []).append(entry.outcome)
    started = [tuple(v) for v in pairs.values() if v[0] == "started"]
    # Every action made its tenant call (the consent's revoke two: the app role assignment, then the grant).
    assert started == [("started", "succeeded")] * (len(started)) and len(started) == len(kinds) - 1
    # The restored card's header no longer says the account is restricted.
    assert "Restricted from sending mail since" not in shown(card)


async def test_the_checker_survives_a_restart(demo: Demo) -> None:
    case = await demo.case_of("AdeleV@example.com")
    card_of(await demo.chat(ALEX).press("unblock", {"caseId": case.id, "confirm": "1"}))
    # The instance that unblocked is gone; a new one finds the pending case in the store.
    _, restarted = demo.instance()
    await asyncio.sleep(0.6)  # the demo tenant's unblock delay
    resolved = await restarted.checker.check_once()
    assert [c.id for c in resolved] == [case.id]
    assert await restarted.checker.check_once() == []  # resolved once only
    gets = demo.server.state.requests.matching(cmdlet="Get-BlockedSenderAddress")
    assert gets and gets[-1].parameters == {"SenderAddress": "AdeleV@example.com"}


async def _user_role(user_id: str) -> Role:
    return Role.USER


async def test_the_checker_backs_off_while_still_listed(demo: Demo) -> None:
    demo.server.state.unblock_delay_seconds = 60.0
    case = await demo.case_of("AdeleV@example.com")
    card_of(await demo.chat(ALEX).press("unblock", {"caseId": case.id, "confirm": "1"}))
    fresh = await demo.store.cases.get_case(case.id)
    assert fresh is not None
    unblocked_at = datetime.fromisoformat(fresh.steps["unblock:"]["at"])
    now = [unblocked_at]
    checker = UnblockChecker(tenant=demo.tenant, store=demo.store,
                             view=CaseView(demo.store, messenger=RecordingOutbox(), role_of=_user_role),
                             config=CheckerConfig(base_interval=10, max_interval=25), clock=lambda: now[0])

    def gets() -> int:
        return len(demo.server.state.requests.matching(cmdlet="Get-BlockedSenderAddress"))

    calls = []
    for offset in (0, 9, 10, 29, 30, 54, 55, 79, 80):  # due at +10, then +20, +25 (the cap), +25 later
        now[0] = unblocked_at + timedelta(seconds=offset)
        before = gets()
        assert await checker.check_once() == []
        calls.append(gets() - before)
    assert calls == [0, 0, 1, 0, 1, 0, 1, 0, 1]
    fresh = await demo.store.cases.get_case(case.id)
    assert fresh is not None and fresh.status == "unblock_pending"


async def test_still_listed_after_the_follow_up_period_reopens_the_unblock(demo: Demo) -> None:
    demo.server.state.unblock_delay_seconds = 3600.0
    case = await demo.case_of("AdeleV@example.com")
    instance = demo.instance(RemediationConfig(checker=CheckerConfig(base_interval=0.0, give_up_after=0.0)))
    card_of(await demo.chat(ALEX, instance).press("unblock", {"caseId": case.id, "confirm": "1"}))
    assert await instance[1].checker.check_once() == []
    fresh = await demo.store.cases.get_case(case.id)
    assert fresh is not None and fresh.status == "open" and "unblock:" not in fresh.steps
    card = card_of(await demo.chat(ALEX).press("show_case", {"caseId": case.id}))
    assert "Still on Restricted entities 24 hours after the unblock" in shown(card)
    assert "unblock" in verbs_on(card)
    assert ("unblock_check", "failed") in await outcomes(demo.store, case.id)


async def test_a_missing_graph_permission_is_named_and_audited(demo: Demo) -> None:
    case = await demo.case_of("MeganB@example.com")
    demo.server.state.faults.add(FaultRule(match=r"^PATCH /v1\.0/users/", permission="User.ReadWrite.All"))
    card = card_of(await demo.chat(ALEX).press("force_password_change", {"caseId": case.id, "confirm": "1"}))
    assert "lacks User.ReadWrite.All" in shown(card)
    assert "Require a new password by Alex Wilber failed" in shown(card)
    assert demo.actions("password_profile") == []
    entries = await demo.store.audit.list(case_id=case.id)
    assert [(e.outcome, (e.parameters.get("result") or {}).get("error")) for e in entries] == [
        ("started", None), ("failed", "permission")]
    assert entries[1].error is not None and entries[1].error.startswith("PermissionDenied")


async def test_a_missing_exchange_role_is_named_and_audited(demo: Demo) -> None:
    case = await demo.case_of("AdeleV@example.com")
    demo.server.state.faults.add(FaultRule(match=f"InvokeCommand:{UNBLOCK}", status=403))
    card = card_of(await demo.chat(ALEX).press("unblock", {"caseId": case.id, "confirm": "1"}))
    assert "the bot's app lacks" in shown(card)
    assert demo.actions("unblock") == []
    assert await outcomes(demo.store, case.id) == [("unblock", "started"), ("unblock", "failed")]
    fresh = await demo.store.cases.get_case(case.id)
    assert fresh is not None and fresh.status == "open"


async def test_a_5xx_storm_fails_after_bounded_retries_then_works(demo: Demo) -> None:
    case = await demo.case_of("MeganB@example.com")
    demo.server.state.faults.add(FaultRule(match=r"revokeSignInSessions", status=503, count=3))
    alex = demo.chat(ALEX)
    card = card_of(await alex.press("revoke_sessions", {"caseId": case.id}))
    assert "did not answer after several tries" in shown(card)
    tries = demo.server.state.requests.matching(path_contains="revokeSignInSessions")
    assert len(tries) == FAST_RETRY.max_attempts
    assert demo.actions("revoke_sessions") == []
    card = card_of(await alex.press("revoke_sessions", {"caseId": case.id}))  # the storm is over
    assert "Done: Sign out everywhere." in shown(card)
    assert len(demo.actions("revoke_sessions")) == 1
    assert await outcomes(demo.store, case.id) == [
        ("revoke_sessions", "started"), ("revoke_sessions", "failed"),
        ("revoke_sessions", "started"), ("revoke_sessions", "succeeded")]


async def test_an_unblock_that_may_have_run_is_not_repeated(demo: Demo) -> None:
    case = await demo.case_of("AdeleV@example.com")
    # A 504 may come after the work was done, and Microsoft counts unblocks: no automatic second try.
    demo.server.state.faults.add(FaultRule(match=f"InvokeCommand:{UNBLOCK}", status=504, count=1))
    alex = demo.chat(ALEX)
    card = card_of(await alex.press("unblock", {"caseId": case.id, "confirm": "1"}))
    assert "did not confirm it in time, so it may or may not have happened" in shown(card)
    assert len(demo.unblock_requests()) == 1
    fresh = await demo.store.cases.get_case(case.id)
    assert fresh is not None and fresh.status == "open"  # nothing claims success without Microsoft's word
    # Neither done nor failed in the audit: unknown. The address was read back (still listed), and the claim
    # is free again, so an admin who checked can press once more.
    assert await outcomes(demo.store, case.id) == [("unblock", "started"), ("unblock", "unknown")]
    card = card_of(await alex.press("unblock", {"caseId": case.id, "confirm": "1"}))
    assert "Unblocked by Alex Wilber" in shown(card) and len(demo.unblock_requests()) == 2


async def test_an_unblock_that_timed_out_but_happened_counts_as_done(demo: Demo) -> None:
    """A gateway error after Exchange did the work: the address is off the list when read back, so it is done."""
    case = await demo.case_of("AdeleV@example.com")
    demo.server.state.faults.add(FaultRule(match=f"InvokeCommand:{UNBLOCK}", status=504, count=1))
    demo.server.state.unblock_delay_seconds = 0.0
    demo.server.state.unblock("AdeleV@example.com")  # as if the request had got through before the gateway failed
    card = card_of(await demo.chat(ALEX).press("unblock", {"caseId": case.id, "confirm": "1"}))
    assert "Unblocked by Alex Wilber" in shown(card)
    assert await outcomes(demo.store, case.id) == [("unblock", "started"), ("unblock", "succeeded")]
    fresh = await demo.store.cases.get_case(case.id)
    assert fresh is not None and fresh.status in ("unblock_pending", "resolved")


async def test_a_synced_users_password_is_reset_on_premises(demo: Demo) -> None:
    case = await demo.case_of("GradyA@example.com")
    alex = demo.chat(ALEX)
    shown_first = card_of(await alex.press("show_case", {"caseId": case.id}))
    assert "force_password_change" not in verbs_on(shown_first)  # the card knows; a forged press is still safe
    card = card_of(await alex.press("force_password_change", {"caseId": case.id, "confirm": "1"}))
    text = shown(card)
    assert "synced from on-premises Active Directory" in text and "Reset the password" in text
    assert demo.actions("password_profile") == []
    entries = await demo.store.audit.list(case_id=case.id)
    assert [(e.outcome, (e.parameters.get("result") or {}).get("error")) for e in entries] == [
        ("started", None), ("failed", "on_premises")]


async def test_past_the_unblock_limit_only_microsoft_support_can_help(demo: Demo) -> None:
    demo.server.state.unblock_counts["adelev@example.com"] = demo.server.state.unblock_limit
    case = await demo.case_of("AdeleV@example.com")
    card = card_of(await demo.chat(ALEX).press("unblock", {"caseId": case.id, "confirm": "1"}))
    assert "Only Microsoft support can unblock this account now" in shown(card)
    links = [a["url"] for a in _all(card) if a.get("type") == "Action.OpenUrl"]
    assert "https://admin.microsoft.com/#/support" in links
    assert demo.actions("unblock") == []
    assert await outcomes(demo.store, case.id) == [("unblock", "started"), ("unblock", "failed")]
    # Everyone who looks at the case later sees it too.
    later = card_of(await demo.chat(ALEX).press("show_case", {"caseId": case.id}))
    assert "Only Microsoft support can unblock this account now" in shown(later)


async def test_it_staff_refresh_but_cannot_unblock(demo: Demo) -> None:
    case = await demo.case_of("AdeleV@example.com")
    isaiah = demo.chat(ISAIAH, locale="nl-NL")
    reply = message_of(await isaiah.press("unblock", {"caseId": case.id, "confirm": "1"}))
    assert "beveiligingsbeheerders" in reply
    assert demo.unblock_requests() == []
    card = card_of(await isaiah.press("refresh", {"caseId": case.id}))
    assert "Adele Vance" in shown(card) and "unblock" not in verbs_on(card)
    assert await demo.store.audit.list(case_id=case.id) == []


def _all(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        return [node] + [x for v in node.values() for x in _all(v)]
    if isinstance(node, list):
        return [x for item in node for x in _all(item)]
    return []

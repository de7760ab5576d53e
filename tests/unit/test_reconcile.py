"""The reconciler (remediation/reconcile.py) on the in-memory tenant and a real SQLite store.

An "interrupted press" is what `core.presses` leaves behind when the process dies after the audit's
`started` row: an `in_progress` claim and a `started` row with one correlation id, and no outcome. The
reconciler must read the result back from the tenant (never repeat the action), append the outcome row,
settle the claim, update the case and redraw the card copies.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from cards.findings import step_key
from domain.people import Role
from locales import t
from m365.errors import UpstreamUnavailable
from m365.records import AuthMethod, BlockedSender, DirectoryObject, InboxRule, Mailbox, OAuthGrant, User
from remediation.reconcile import REASON, Reconciler, ReconcilerConfig
from remediation.views import CaseView, current_steps, latest_notes
from store import Actor, CaseRecord, Store
from tests.fakes import TENANT_ID, FakeTenant

ALEX = Actor(id="0d4b2a71-9f3c-4b8e-a1d2-5e6f7a8b9c01", name="Alex Wilber", upn="AlexW@example.com")
ADELE_ID = "4b8f6eb5-3d7a-4f2c-a5b6-9c0d1e2f3a05"
ADELE_UPN = "AdeleV@example.com"
CHANNEL_REF = {"conversation": {"id": "19:it@thread.tacv2", "conversationType": "channel"}, "locale": "en-US"}
# Every tenant method that changes something: the reconciler must never call one.
WRITES = ("remove_blocked_sender", "revoke_sign_in_sessions", "force_password_change", "set_account_enabled",
          "set_inbox_rule_enabled", "remove_mailbox_forwarding", "confirm_compromised", "dismiss_risk",
          "disable_exchange_inbox_rule", "remove_exchange_inbox_rule")
# A rule hidden from Graph, as Exchange's Get-InboxRule -IncludeHidden returns it: addressed as `exo:<RuleIdentity>`.
_HIDDEN_ID = "exo:6093829450386063361"


def _hidden_rule(enabled: bool = True) -> dict[str, list[InboxRule]]:
    return {ADELE_UPN.lower(): [InboxRule("", "Mailbox Sync", is_enabled=enabled, rule_identity="6093829450386063361",
                                          source="exchange", hidden=True)]}



async def _user_role(user_id: str) -> Role:
    return Role.USER

class Copies:
    """A `CardUpdater` that records which posted copies were redrawn."""

    def __init__(self) -> None:
        self.updated: list[str] = []

    async def update_card(self, reference: Mapping[str, Any], activity_id: str, card: Mapping[str, Any]) -> None:
        self.updated.append(activity_id)


class Rig:
    def __init__(self, store: Store, tenant: FakeTenant, grace: float = 0.0) -> None:
        self.store = store
        self.tenant = tenant
        self.copies = Copies()
        self.woken = 0
        self.reconciler = self.make(grace)

    def make(self, grace: float) -> Reconciler:
        def wake() -> None:
            self.woken += 1

        view = CaseView(self.store, messenger=self.copies, role_of=_user_role)
        return Reconciler(tenant=self.tenant, store=self.store, view=view,
                          config=ReconcilerConfig(grace_seconds=grace, interval_seconds=3600),
                          on_unblock_pending=wake)

    async def case(self) -> CaseRecord:
        opened = await self.store.cases.open_or_get_case(TENANT_ID, ADELE_ID, ADELE_UPN, "Adele Vance", ALEX)
        await self.store.cases.save_card(opened.case.id, "19:it@thread.tacv2", "copy-1", CHANNEL_REF)
        return opened.case

    async def interrupted(self, case: CaseRecord, verb: str, step: str, *, claim_target: str = ADELE_ID,
                          **parameters: Any) -> str:
        """What a press leaves when its process dies during the tenant call."""
        correlation = f"corr-{verb}"
        claim = await self.store.claims.try_claim(case.id, step, claim_target, ALEX.id, correlation_id=correlation)
        assert claim.claimed
        await self.store.audit.start(actor=ALEX, action=verb, target=ADELE_UPN, tenant_id=TENANT_ID, case_id=case.id,
                                     parameters={"account_id": ADELE_ID, **parameters}, correlation_id=correlation)
        return correlation

    def writes(self) -> list[str]:
        return [name for name, _ in self.tenant.calls if name in WRITES]


def adele(enabled: bool = True) -> User:
    return User(id=ADELE_ID, user_principal_name=ADELE_UPN, display_name="Adele Vance", account_enabled=enabled)


async def test_an_unblock_that_reached_microsoft_is_completed_and_the_checker_follows(sqlite_store: Store) -> None:
    rig = Rig(sqlite_store, FakeTenant(users=[adele()]))  # Adele is no longer on Restricted entities
    case = await rig.case()
    correlation = await rig.interrupted(case, "unblock", "unblock", address=ADELE_UPN)

    await rig.reconciler.run_once()

    rows = await sqlite_store.audit.list(correlation_id=correlation)
    assert [r.outcome for r in rows] == ["started", "succeeded"]
    assert rows[1].actor_id == ALEX.id and rows[1].error is None
    assert rows[1].parameters["result"] == {"reconciled": REASON,
                                            "evidence": "the address is no longer on Restricted entities"}
    assert rig.tenant.called("get_blocked_sender") == [(ADELE_UPN,)]
    assert rig.writes() == []
    claim = await sqlite_store.claims.get(case.id, "unblock", ADELE_ID)
    assert claim is not None and claim.status == "done"
    fresh = await sqlite_store.cases.get_case(case.id)
    assert fresh is not None and fresh.status == "unblock_pending"
    step = fresh.steps[step_key("unblock", None)]
    assert (step["by"], step["by_id"], step["address"], step["correlation_id"]) == (
        "Alex Wilber", ALEX.id, ADELE_UPN, correlation)
    assert step["at"] == rows[0].at.isoformat()  # the checker counts from when the unblock was sent
    assert rig.woken == 1
    assert rig.copies.updated == ["copy-1"]

    # A second round (or another instance) finds nothing left to do.
    assert await rig.reconciler.run_once() == []
    assert len(await sqlite_store.audit.list(correlation_id=correlation)) == 2


async def test_a_still_listed_address_is_unknown_and_the_button_works_again(sqlite_store: Store) -> None:
    rig = Rig(sqlite_store, FakeTenant(users=[adele()], blocked={ADELE_UPN.lower(): BlockedSender(ADELE_UPN)}))
    case = await rig.case()
    correlation = await rig.interrupted(case, "unblock", "unblock", address=ADELE_UPN)

    await rig.reconciler.run_once()

    rows = await sqlite_store.audit.list(correlation_id=correlation)
    assert [r.outcome for r in rows] == ["started", "unknown"]
    assert rows[1].error is not None and rows[1].error.startswith(REASON)
    assert "still on Restricted entities" in rows[1].error
    assert await sqlite_store.claims.get(case.id, "unblock", ADELE_ID) is None  # released: pressable again
    fresh = await sqlite_store.cases.get_case(case.id)
    assert fresh is not None and fresh.status == "open" and fresh.steps == {}
    assert rig.woken == 0 and rig.writes() == []
    assert rig.copies.updated == ["copy-1"]
    # The card's latest actions say so, in both languages.
    notes = latest_notes(await sqlite_store.audit.list(case_id=case.id), "en")
    assert [n.text_key for n in notes] == ["note.unknown_action"]
    assert "whether it took effect is unknown" in t("en", "note.unknown_action", action="Unblock", actor="Alex",
                                                    time="10:00")
    assert "onbekend" in t("nl", "note.unknown_action", action="Deblokkeren", actor="Alex", time="10:00")


@pytest.mark.parametrize(("verb", "step", "tenant", "extra", "outcome"), [
    ("block_sign_in", "block_sign_in", FakeTenant(users=[adele(enabled=False)]), {}, "succeeded"),
    ("block_sign_in", "block_sign_in", FakeTenant(users=[adele(enabled=True)]), {}, "failed"),
    ("allow_sign_in", "allow_sign_in", FakeTenant(users=[adele(enabled=True)]), {}, "succeeded"),
    ("disable_rule", "disable_rule", FakeTenant(rules={ADELE_ID: [InboxRule("r1", "x", is_enabled=True)]}),
     {"ruleId": "r1"}, "failed"),
    ("disable_rule", "disable_rule", FakeTenant(rules={ADELE_ID: [InboxRule("r1", "x", is_enabled=False)]}),
     {"ruleId": "r1"}, "succeeded"),
    ("disable_rule", "disable_rule", FakeTenant(), {"ruleId": "r1"}, "unknown"),
    # A hidden rule (Exchange only) is read back from Get-InboxRule -IncludeHidden, by its RuleIdentity.
    ("disable_rule", "disable_rule", FakeTenant(exchange_rules=_hidden_rule(enabled=True)), {"ruleId": _HIDDEN_ID},
     "failed"),
    ("disable_rule", "disable_rule", FakeTenant(exchange_rules=_hidden_rule(enabled=False)), {"ruleId": _HIDDEN_ID},
     "succeeded"),
    ("disable_rule", "disable_rule", FakeTenant(exchange_rules={ADELE_UPN.lower(): []}), {"ruleId": _HIDDEN_ID},
     "unknown"),
    ("remove_forwarding", "remove_forwarding",
     FakeTenant(mailboxes={ADELE_UPN.lower(): Mailbox(ADELE_UPN, ADELE_UPN, ADELE_UPN)}), {}, "succeeded"),
    ("remove_forwarding", "remove_forwarding", FakeTenant(mailboxes={ADELE_UPN.lower(): Mailbox(
        ADELE_UPN, ADELE_UPN, ADELE_UPN, forwarding_smtp_address="smtp:x@evil.example")}), {}, "failed"),
    ("revoke_sessions", "revoke_sessions", FakeTenant(users=[adele()]), {}, "unknown"),
    ("force_password_change", "force_password_change", FakeTenant(users=[adele()]), {}, "unknown"),
    ("confirm_compromised", "confirm_compromised", FakeTenant(), {}, "failed"),
])
async def test_every_action_is_read_back_never_repeated(sqlite_store: Store, verb: str, step: str,
                                                        tenant: FakeTenant, extra: dict[str, Any],
                                                        outcome: str) -> None:
    rig = Rig(sqlite_store, tenant)
    case = await rig.case()
    claim_target = str(extra.get("ruleId") or ADELE_ID)
    correlation = await rig.interrupted(case, verb, step, claim_target=claim_target, **extra)

    await rig.reconciler.run_once()

    assert [r.outcome for r in await sqlite_store.audit.list(correlation_id=correlation)] == ["started", outcome]
    assert rig.writes() == []
    claim = await sqlite_store.claims.get(case.id, step, claim_target)
    fresh = await sqlite_store.cases.get_case(case.id)
    assert fresh is not None
    if outcome == "succeeded":
        assert claim is not None and claim.status == "done"
        assert step_key(step, extra.get("ruleId")) in fresh.steps
    else:
        assert claim is None
        assert fresh.steps == {}


_METHOD = "microsoftAuthenticatorAuthenticationMethod:m-app"


@pytest.mark.parametrize(("verb", "key", "item", "tenant", "outcome"), [
    # Issue #17: an MFA method and an app's consent are read back by GET; gone (404) is removed.
    ("remove_mfa_method", "methodId", _METHOD, FakeTenant(), "succeeded"),
    ("remove_mfa_method", "methodId", _METHOD,
     FakeTenant(methods={ADELE_ID: [AuthMethod("m-app", "microsoftAuthenticatorAuthenticationMethod")]}), "failed"),
    ("revoke_consent", "grantId", "g-1", FakeTenant(), "succeeded"),
    ("revoke_consent", "grantId", "g-1",
     FakeTenant(grants={ADELE_ID: [OAuthGrant("g-1", "sp", "Principal", ADELE_ID, "r", ("Mail.Read",))]}), "failed"),
    # A deleted inbox rule: absent from the mailbox's rules is deleted; still listed (even disabled) is not.
    ("delete_rule", "ruleId", "r1", FakeTenant(rules={ADELE_ID: [InboxRule("r2", "y")]}), "succeeded"),
    ("delete_rule", "ruleId", "r1", FakeTenant(rules={ADELE_ID: [InboxRule("r1", "x", is_enabled=False)]}), "failed"),
    # A hidden rule: gone from Exchange's Get-InboxRule -IncludeHidden is deleted (Graph never listed it).
    ("delete_rule", "ruleId", _HIDDEN_ID, FakeTenant(exchange_rules={ADELE_UPN.lower(): []}), "succeeded"),
    ("delete_rule", "ruleId", _HIDDEN_ID, FakeTenant(exchange_rules=_hidden_rule(enabled=False)), "failed"),
    # An admin role taken: the account's memberships no longer list the role (by its object id) = taken.
    ("remove_admin_role", "roleId", "role-1",
     FakeTenant(memberships={ADELE_ID: [DirectoryObject("g-1", "group", "Sales")]}), "succeeded"),
    ("remove_admin_role", "roleId", "role-1", FakeTenant(memberships={ADELE_ID: [
        DirectoryObject("role-1", "directoryRole", "Exchange Administrator", "29232cdf-9323-42fd-ade2-1d097af3e4de")]}),
     "failed"),
])
async def test_a_removal_is_read_back_per_item_never_repeated(sqlite_store: Store, verb: str, key: str, item: str,
                                                              tenant: FakeTenant, outcome: str) -> None:
    rig = Rig(sqlite_store, tenant)
    case = await rig.case()
    correlation = await rig.interrupted(case, verb, verb, claim_target=item, **{key: item})

    await rig.reconciler.run_once()

    assert [r.outcome for r in await sqlite_store.audit.list(correlation_id=correlation)] == ["started", outcome]
    assert [name for name, _ in tenant.calls
            if name in ("remove_auth_method", "revoke_consent", "delete_inbox_rule", "remove_role_member",
                        "remove_exchange_inbox_rule")] == []
    claim = await sqlite_store.claims.get(case.id, verb, item)
    fresh = await sqlite_store.cases.get_case(case.id)
    assert fresh is not None
    if outcome == "succeeded":
        assert claim is not None and claim.status == "done" and step_key(verb, item) in fresh.steps
        if verb == "delete_rule":
            # The rule it deleted needs no disabling: the gate reads the disable step as done too.
            assert step_key("disable_rule", item) in current_steps(fresh)
    else:
        assert claim is None and fresh.steps == {}


async def test_a_press_younger_than_the_grace_period_is_left_alone(sqlite_store: Store) -> None:
    rig = Rig(sqlite_store, FakeTenant(users=[adele()]), grace=600)
    case = await rig.case()
    correlation = await rig.interrupted(case, "unblock", "unblock", address=ADELE_UPN)

    assert await rig.reconciler.run_once() == []

    assert [r.outcome for r in await sqlite_store.audit.list(correlation_id=correlation)] == ["started"]
    claim = await sqlite_store.claims.get(case.id, "unblock", ADELE_ID)
    assert claim is not None and claim.status == "in_progress"
    assert rig.tenant.calls == []


async def test_an_unreachable_tenant_leaves_everything_for_the_next_round(sqlite_store: Store) -> None:
    tenant = FakeTenant(users=[adele()], failures={"get_blocked_sender": UpstreamUnavailable("down", status=503)})
    rig = Rig(sqlite_store, tenant)
    case = await rig.case()
    correlation = await rig.interrupted(case, "unblock", "unblock", address=ADELE_UPN)

    assert await rig.reconciler.run_once() == []
    assert [r.outcome for r in await sqlite_store.audit.list(correlation_id=correlation)] == ["started"]
    claim = await sqlite_store.claims.get(case.id, "unblock", ADELE_ID)
    assert claim is not None and claim.status == "in_progress"

    tenant.failures.clear()
    await rig.reconciler.run_once()
    assert [r.outcome for r in await sqlite_store.audit.list(correlation_id=correlation)] == ["started", "succeeded"]


async def test_a_claim_without_a_started_row_is_released(sqlite_store: Store) -> None:
    """The process died between the claim and the audit: nothing was sent, so the press may be made again."""
    rig = Rig(sqlite_store, FakeTenant(users=[adele()]))
    case = await rig.case()
    assert (await sqlite_store.claims.try_claim(case.id, "unblock", ADELE_ID, ALEX.id, correlation_id="c1")).claimed

    await rig.reconciler.run_once()

    assert await sqlite_store.claims.get(case.id, "unblock", ADELE_ID) is None
    assert await sqlite_store.audit.list(case_id=case.id) == []
    assert rig.tenant.calls == []


async def test_a_crash_after_the_outcome_row_still_gets_the_step_and_the_claim_settled(sqlite_store: Store) -> None:
    rig = Rig(sqlite_store, FakeTenant(users=[adele()]))
    case = await rig.case()
    correlation = await rig.interrupted(case, "revoke_sessions", "revoke_sessions")
    await sqlite_store.audit.finish(correlation, "succeeded")  # the press got this far, then died

    await rig.reconciler.run_once()

    claim = await sqlite_store.claims.get(case.id, "revoke_sessions", ADELE_ID)
    assert claim is not None and claim.status == "done"
    fresh = await sqlite_store.cases.get_case(case.id)
    assert fresh is not None and fresh.steps[step_key("revoke_sessions", None)]["by"] == "Alex Wilber"
    assert rig.tenant.calls == []  # the outcome was known: nothing to read back


async def test_two_instances_reconciling_at_once_write_one_outcome(sqlite_store: Store) -> None:
    rig = Rig(sqlite_store, FakeTenant(users=[adele()]))
    other = rig.make(0.0)
    case = await rig.case()
    correlation = await rig.interrupted(case, "unblock", "unblock", address=ADELE_UPN)

    await asyncio.gather(rig.reconciler.run_once(), other.run_once())

    assert [r.outcome for r in await sqlite_store.audit.list(correlation_id=correlation)] == ["started", "succeeded"]
    fresh = await sqlite_store.cases.get_case(case.id)
    assert fresh is not None and fresh.status == "unblock_pending"


async def test_the_loop_runs_at_start_and_stops(sqlite_store: Store) -> None:
    rig = Rig(sqlite_store, FakeTenant(users=[adele()]))
    case = await rig.case()
    correlation = await rig.interrupted(case, "unblock", "unblock", address=ADELE_UPN)
    rig.reconciler.start()
    try:
        for _ in range(200):
            if len(await sqlite_store.audit.list(correlation_id=correlation)) == 2:
                break
            await asyncio.sleep(0.02)
    finally:
        await rig.reconciler.stop()
    assert [r.outcome for r in await sqlite_store.audit.list(correlation_id=correlation)] == ["started", "succeeded"]

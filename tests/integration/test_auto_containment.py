"""Automatic containment (AUTO_CONTAIN) in the restriction watch, against the demo tenant (HTTPS, msal, Graph).

With the setting on, a round that alerts a newly restricted compromised account contains it in that round: the
tenant receives `revokeSignInSessions` and `PATCH accountEnabled=false`, the audit log has both actions under the
actor "automatic containment" with the verdict's deciding evidence, and the alert card says so with "Allow sign-in
again". The hourly bound stops it (and the card says "paused"); the tenant's last Global Administrator is never
blocked; with the setting off nothing is contained. And the person's "Block sign-in" button refuses the last Global
Administrator too.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot import build_handler
from cards.verbs import Verb
from config import Settings
from core.cases import CaseBook
from core.containment import ACTION_PAUSED, ACTION_REFUSED, CONTAINMENT_ACTOR, AutoContainment
from core.notices import Notices
from core.presses import Press, Presses, RemediationConfig
from core.watch import RestrictionWatch
from domain.people import Role, Speaker
from investigation.collect import Limits
from investigation.service import Investigations
from m365.errors import NotFound, PermissionDenied
from remediation.checker import UnblockChecker
from remediation.guards import GLOBAL_ADMIN_TEMPLATE_ID
from remediation.views import CaseView
from store import Store
from tests.cardschema import assert_valid_card, lines
from tests.demo_stack import FAST_COLLECTOR, DemoStack, demo_stack
from tests.fakes import FakeTenant
from tests.report_fakes import CHANNEL_ID, RecordingOutbox, set_channel

MEGAN_B = "2f6d4c93-1b5e-4d0a-83f4-7a8b9c0d1e03"
GA_ROLE_ID = "f1c2d3e4-a5b6-4c7d-8e9f-0a1b2c3d4e03"  # the seed's Global Administrator directoryRole
ADMIN_ID = "0d4b2a71-9f3c-4b8e-a1d2-5e6f7a8b9c01"  # Alex, a security admin in the seed


@pytest.fixture
async def demo(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[DemoStack]:
    async with demo_stack(tmp_path_factory.getbasetemp() / "containment-demo") as stack:
        yield stack


async def nobody_is_admin(user_id: str) -> Role:
    return Role.USER


@dataclass
class Rig:
    store: Store
    outbox: RecordingOutbox
    watch: RestrictionWatch
    presses: Presses


async def rig(tmp_path: Path, demo: DemoStack, *, max_per_hour: int | None) -> Rig:
    """The watch as `bot.py` wires it; `max_per_hour` None = AUTO_CONTAIN off."""
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    await set_channel(store)
    outbox = RecordingOutbox()
    tenant = demo.tenant
    investigations = Investigations(tenant, config=FAST_COLLECTOR, limits=Limits())
    cases = CaseBook(store)
    view = CaseView(store, messenger=outbox, role_of=nobody_is_admin)
    notices = Notices(tenant_id=tenant.tenant_id, store=store, investigations=investigations, cases=cases,
                      outbox=outbox, role_of=nobody_is_admin, view=view, notify_affected_user=False)
    checker = UnblockChecker(tenant=tenant, store=store, view=view, listeners=(notices.on_case_resolved,))
    presses = Presses(tenant=tenant, store=store, view=view, checker=checker, investigator=investigations,
                      recorder=cases, config=RemediationConfig(claim_wait_seconds=1.0))
    contain = (AutoContainment(presses=presses, store=store, tenant=tenant, max_per_hour=max_per_hour).contain
               if max_per_hour is not None else None)
    watch = RestrictionWatch(tenant=tenant, store=store, notices=notices, interval_seconds=60, holder="a",
                             initial_delay_seconds=0, contain=contain)
    return Rig(store, outbox, watch, presses)


def writes(demo: DemoStack) -> list[tuple[str, str, Any]]:
    """What the demo tenant carried out: (kind, target user id, detail)."""
    return [(a.kind, a.target, dict(a.detail)) for a in demo.server.state.actions
            if a.kind in ("revoke_sessions", "set_account_enabled")]


def card_text(card: Any) -> str:
    """The card as a person reads it (each block's runs joined), plus its JSON (verbs and data)."""
    return "\n".join(lines(card)) + "\n" + json.dumps(card, ensure_ascii=False)


async def compromised_ids(store: Store) -> set[str]:
    return {c.account_id for c in await store.cases.list_cases("open") if c.verdict == "compromised"}


def make_global_admin(demo: DemoStack, user_id: str) -> None:
    member_of = demo.server.state.graph["memberOf"]
    member_of.setdefault(user_id, []).append(GA_ROLE_ID)


async def test_a_newly_restricted_compromised_account_is_contained_in_the_round(demo: DemoStack,
                                                                               tmp_path: Path) -> None:
    r = await rig(tmp_path, demo, max_per_hour=10)
    try:
        result = await r.watch.run_once()
        assert result.alerted == 4
        compromised = await compromised_ids(r.store)
        assert MEGAN_B in compromised
        # Every compromised account: sessions revoked, then sign-in blocked — and nobody else touched.
        done = writes(demo)
        assert {(kind, target) for kind, target, _ in done} == (
            {("revoke_sessions", i) for i in compromised} | {("set_account_enabled", i) for i in compromised})
        assert all(detail.get("enabled") is False for kind, _, detail in done if kind == "set_account_enabled")
        assert demo.server.state.user(MEGAN_B)["accountEnabled"] is False  # type: ignore[index]
        assert len(demo.requests(path_contains=f"users/{MEGAN_B}/revokeSignInSessions")) == 1
        # Audited under the automatic-containment actor, with the deciding evidence; the steps are on the case.
        case = next(c for c in await r.store.cases.list_cases("open") if c.account_id == MEGAN_B)
        rows = await r.store.audit.list(case_id=case.id, actor_id=CONTAINMENT_ACTOR.id)
        assert [(e.action, e.outcome) for e in rows] == [
            ("revoke_sessions", "started"), ("revoke_sessions", "succeeded"),
            ("block_sign_in", "started"), ("block_sign_in", "succeeded")]
        started = rows[0].parameters
        assert started["automatic"] is True and started["verdict"] == "compromised"
        assert started["deciding_codes"] and started["deciding_rule"]
        assert {"revoke_sessions:", "block_sign_in:"} <= set(case.steps)
        # The alert card: contained, with "Allow sign-in again" for whoever may act.
        copy = (await r.store.cases.list_cards(case.id))[0]
        update = [u for u in r.outbox.of("update", CHANNEL_ID) if u.activity_id == copy.activity_id][-1]
        assert_valid_card(update.card or {})
        text = card_text(update.card)
        assert "Contained automatically at" in text and "sessions revoked, sign-in blocked" in text
        assert "Allow sign-in again" in text and Verb.ALLOW_SIGN_IN.value in text
        assert "automatic containment" in text  # who did the steps
        # A second round contains nothing again.
        before = len(writes(demo))
        await r.watch.run_once()
        assert len(writes(demo)) == before
    finally:
        await r.store.close()


async def test_the_hourly_bound_pauses_containment_and_says_so(demo: DemoStack, tmp_path: Path) -> None:
    r = await rig(tmp_path, demo, max_per_hour=1)
    try:
        await r.watch.run_once()
        compromised = await compromised_ids(r.store)
        assert len(compromised) >= 2, "the seed has at least two restricted compromised accounts"
        contained = {target for kind, target, _ in writes(demo) if kind == "set_account_enabled"}
        assert len(contained) == 1 and len({t for k, t, _ in writes(demo) if k == "revoke_sessions"}) == 1
        paused = [e for e in await r.store.audit.list(actor_id=CONTAINMENT_ACTOR.id) if e.action == ACTION_PAUSED]
        assert len(paused) == len(compromised) - 1
        assert paused[0].parameters["count"] == 1 and paused[0].parameters["limit"] == 1
        # The paused account's alert says so, and nothing more happened to it.
        case = next(c for c in await r.store.cases.list_cases("open") if c.id == paused[0].case_id)
        assert case.account_id not in contained and "block_sign_in:" not in case.steps
        copy = (await r.store.cases.list_cards(case.id))[0]
        update = [u for u in r.outbox.of("update", CHANNEL_ID) if u.activity_id == copy.activity_id][-1]
        assert "Automatic containment paused: 1 account in the last hour" in card_text(update.card)
    finally:
        await r.store.close()


async def test_the_last_global_administrator_is_never_contained(demo: DemoStack, tmp_path: Path) -> None:
    make_global_admin(demo, MEGAN_B)  # the tenant's only Global Administrator, and compromised
    r = await rig(tmp_path, demo, max_per_hour=10)
    try:
        await r.watch.run_once()
        assert MEGAN_B not in {target for _, target, _ in writes(demo)}
        assert demo.server.state.user(MEGAN_B)["accountEnabled"] is True  # type: ignore[index]
        # The guard asked Graph for the role's members by its template id (the alternate key).
        assert demo.requests(path_contains=f"directoryRoles/roleTemplateId={GLOBAL_ADMIN_TEMPLATE_ID}/members")
        case = next(c for c in await r.store.cases.list_cases("open") if c.account_id == MEGAN_B)
        rows = await r.store.audit.list(case_id=case.id, actor_id=CONTAINMENT_ACTOR.id)
        assert [(e.action, e.parameters.get("refused")) for e in rows] == [(ACTION_REFUSED, "last_global_admin")]
        copy = (await r.store.cases.list_cards(case.id))[0]
        update = [u for u in r.outbox.of("update", CHANNEL_ID) if u.activity_id == copy.activity_id][-1]
        assert "last Global Administrator" in card_text(update.card)

        # A person's "Block sign-in" on the same case is refused the same way, audited, with no write.
        admin = Speaker(aad_object_id=ADMIN_ID, name="Alex", tenant_id=demo.tenant.tenant_id,
                        role=Role.SECURITY_ADMIN, user_principal_name="AlexW@example.com")
        before = len(writes(demo))
        answer = await r.presses.press(Press(Verb.BLOCK_SIGN_IN, {"caseId": case.id, "confirm": "1"}, admin))
        assert "Add another Global Administrator first" in card_text(answer.value)
        assert len(writes(demo)) == before
        refused = [e for e in await r.store.audit.list(case_id=case.id, actor_id=ADMIN_ID)]
        assert [(e.action, e.outcome) for e in refused] == [("block_sign_in.refused", "failed")]

        # A second enabled Global Administrator: the person's block goes through.
        make_global_admin(demo, ADMIN_ID)
        await r.presses.press(Press(Verb.BLOCK_SIGN_IN, {"caseId": case.id, "confirm": "1"}, admin))
        assert demo.server.state.user(MEGAN_B)["accountEnabled"] is False  # type: ignore[index]
    finally:
        await r.store.close()


async def test_with_the_setting_off_nothing_is_contained(demo: DemoStack, tmp_path: Path) -> None:
    r = await rig(tmp_path, demo, max_per_hour=None)
    try:
        await r.watch.run_once()
        assert MEGAN_B in await compromised_ids(r.store)
        assert writes(demo) == []
        assert await r.store.audit.list(actor_id=CONTAINMENT_ACTOR.id) == []
    finally:
        await r.store.close()


async def test_the_role_reads_and_writes_answer_as_graph_does(demo: DemoStack) -> None:
    """The guard's read (`roleTemplateId` alternate key, `$select=id,accountEnabled`) through the real client, and
    the role removal's DELETE: an app without RoleManagement.ReadWrite.Directory (taken from the seed's grants before
    the first token) gets Graph's 403 naming it."""
    granted = demo.server.state.app["grantedPermissions"]
    demo.server.state.app["grantedPermissions"] = [p for p in granted if p != "RoleManagement.ReadWrite.Directory"]
    assert await demo.tenant.list_role_members(GLOBAL_ADMIN_TEMPLATE_ID) == ()
    make_global_admin(demo, MEGAN_B)
    [member] = await demo.tenant.list_role_members(GLOBAL_ADMIN_TEMPLATE_ID)
    assert (member.id, member.kind, member.account_enabled) == (MEGAN_B, "user", True)
    with pytest.raises(PermissionDenied) as denied:
        await demo.tenant.remove_role_member(GA_ROLE_ID, MEGAN_B)
    assert denied.value.permission == "RoleManagement.ReadWrite.Directory"
    assert [a for a in demo.server.state.actions if a.kind == "remove_role_member"] == []


async def test_a_granted_role_removal_takes_the_role_and_a_second_is_not_found(demo: DemoStack) -> None:
    """With RoleManagement.ReadWrite.Directory granted (the seed's app has it): 204 and the membership is gone;
    the same DELETE again is Graph's 404 (`NotFound`), which a removal reads as "already removed"."""
    assert "RoleManagement.ReadWrite.Directory" in demo.server.state.app["grantedPermissions"]
    make_global_admin(demo, MEGAN_B)
    await demo.tenant.remove_role_member(GA_ROLE_ID, MEGAN_B)
    assert GA_ROLE_ID not in {m.id for m in await demo.tenant.list_memberships(MEGAN_B)}
    assert [(a.kind, a.target) for a in demo.server.state.actions if a.kind == "remove_role_member"] == [
        ("remove_role_member", MEGAN_B)]
    with pytest.raises(NotFound):
        await demo.tenant.remove_role_member(GA_ROLE_ID, MEGAN_B)


@pytest.mark.parametrize("on", [False, True])
async def test_the_app_gives_the_watch_containment_only_when_the_setting_is_on(on: bool, tmp_path: Path) -> None:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    try:
        settings = Settings(auto_contain=on)
        _, parts = build_handler(settings, tenant=FakeTenant(), store=store, outbox=RecordingOutbox())
        assert parts.reporting.watch.contains is on
    finally:
        await store.close()

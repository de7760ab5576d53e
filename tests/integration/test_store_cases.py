"""Cases: one active case per account under concurrency, compare-and-set updates, cards, subscribers."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.exc import IntegrityError

from store import Actor, Database, InvalidCaseChange, StaleCase, Store
from store.cases import MAX_COPIES_PER_CONVERSATION
from store.models import CaseRow
from tests.store_fixtures import DbTarget

TENANT = "4f8c2b1e-6d3a-4e5b-9c7d-1a2b3c4d5e6f"
MEGAN = "2f6d4c93-1b5e-4d0a-83f4-7a8b9c0d1e03"
PATTI = "3a7e5da4-2c6f-4e1b-94a5-8b9c0d1e2f04"
ALEX = Actor(id="0d4b2a71-9f3c-4b8e-a1d2-5e6f7a8b9c01", name="Alex Wilber", upn="AlexW@example.com")
ISAIAH = Actor(id="1e5c3b82-0a4d-4c9f-b2e3-6f7a8b9c0d02", name="Isaiah Langer", upn="IsaiahL@example.com")


async def _open_megan(store: Store) -> str:
    opened = await store.cases.open_or_get_case(TENANT, MEGAN, "MeganB@example.com", "Megan Bowen", ALEX)
    return opened.case.id


async def test_open_then_get(store: Store) -> None:
    opened = await store.cases.open_or_get_case(
        TENANT, MEGAN, "MeganB@example.com", "Megan Bowen", ALEX, summary={"restricted": True}
    )
    assert opened.created
    case = opened.case
    assert (case.status, case.verdict, case.version, case.steps) == ("open", None, 1, {})
    assert (case.opened_by_id, case.opened_by_name, case.summary) == (ALEX.id, "Alex Wilber", {"restricted": True})
    assert case.created_at.tzinfo is not None and case.resolved_at is None
    assert await store.cases.get_case(case.id) == case
    assert await store.cases.get_open_case(TENANT, MEGAN) == case
    assert await store.cases.get_open_case(TENANT, PATTI) is None
    assert await store.cases.get_case("00000000-0000-0000-0000-000000000000") is None

    again = await store.cases.open_or_get_case(TENANT, MEGAN, "MeganB@example.com", "Megan Bowen", ISAIAH)
    assert not again.created and again.case == case


async def test_concurrent_opens_yield_one_case(db_target: DbTarget, store: Store) -> None:
    other = Store(await db_target.open())  # a second instance
    try:
        results = await asyncio.gather(
            *(
                s.cases.open_or_get_case(TENANT, MEGAN, "MeganB@example.com", "Megan Bowen", ALEX)
                for s in [store, other, store, other, store]
            )
        )
        assert len({r.case.id for r in results}) == 1
        assert sum(r.created for r in results) == 1
        assert len(await store.cases.list_cases(tenant_id=TENANT)) == 1
    finally:
        await other.close()


async def test_the_database_refuses_a_second_active_case(database: Database, store: Store) -> None:
    case_id = await _open_megan(store)
    case = await store.cases.get_case(case_id)
    assert case is not None
    with pytest.raises(IntegrityError):
        async with database.transaction() as session:
            session.add(
                CaseRow(
                    id="11111111-1111-1111-1111-111111111111", tenant_id=TENANT, account_id=MEGAN,
                    account_upn="x", display_name="x", status="unblock_pending", summary={}, steps={},
                    created_at=case.created_at, updated_at=case.created_at, version=1,
                )
            )


async def test_update_case_is_compare_and_set(store: Store) -> None:
    case_id = await _open_megan(store)
    updated = await store.cases.update_case(case_id, 1, verdict="compromised", summary={"findings": 3})
    assert updated is not None
    assert (updated.verdict, updated.summary, updated.version) == ("compromised", {"findings": 3}, 2)
    assert updated.updated_at >= updated.created_at

    with pytest.raises(StaleCase) as err:
        await store.cases.update_case(case_id, 1, verdict="no_signs")
    assert (err.value.expected_version, err.value.current_version) == (1, 2)
    assert (await store.cases.get_case(case_id)).verdict == "compromised"  # type: ignore[union-attr]

    assert await store.cases.update_case("00000000-0000-0000-0000-000000000000", 1, verdict="no_signs") is None
    with pytest.raises(InvalidCaseChange):
        await store.cases.update_case(case_id, 2, version=7)
    with pytest.raises(InvalidCaseChange):
        await store.cases.update_case(case_id, 2, verdict="pwned")
    with pytest.raises(InvalidCaseChange):
        await store.cases.update_case(case_id, 2, status="archived")


async def test_concurrent_updates_with_the_same_version_one_wins(db_target: DbTarget, store: Store) -> None:
    case_id = await _open_megan(store)
    other = Store(await db_target.open())
    try:
        results = await asyncio.gather(
            *(s.cases.update_case(case_id, 1, verdict=v) for s, v in
              [(store, "compromised"), (other, "suspicious"), (store, "no_signs"), (other, "incomplete")]),
            return_exceptions=True,
        )
        winners = [r for r in results if not isinstance(r, BaseException)]
        assert len(winners) == 1
        assert all(isinstance(r, StaleCase) for r in results if isinstance(r, BaseException))
        final = await store.cases.get_case(case_id)
        assert final is not None and final.version == 2 and final.verdict == winners[0].verdict  # type: ignore[union-attr]
    finally:
        await other.close()


async def test_status_lifecycle(store: Store) -> None:
    case_id = await _open_megan(store)
    pending = await store.cases.set_status(case_id, "unblock_pending")
    assert pending is not None and pending.status == "unblock_pending" and pending.is_active
    assert (await store.cases.get_open_case(TENANT, MEGAN)) == pending

    resolved = await store.cases.set_status(case_id, "resolved")
    assert resolved is not None and resolved.resolved_at is not None and not resolved.is_active
    assert await store.cases.get_open_case(TENANT, MEGAN) is None
    with pytest.raises(InvalidCaseChange):
        await store.cases.set_status(case_id, "open")
    closed = await store.cases.set_status(case_id, "closed", expected_version=resolved.version)
    assert closed is not None and closed.resolved_at == resolved.resolved_at

    # A new report after resolution opens a new case.
    fresh = await store.cases.open_or_get_case(TENANT, MEGAN, "MeganB@example.com", "Megan Bowen", ISAIAH)
    assert fresh.created and fresh.case.id != case_id
    assert [c.id for c in await store.cases.list_cases(status=["open", "unblock_pending"])] == [fresh.case.id]
    assert [c.id for c in await store.cases.list_cases(status="closed", tenant_id=TENANT)] == [case_id]
    assert await store.cases.list_cases(tenant_id="other-tenant") == []
    assert await store.cases.set_status("00000000-0000-0000-0000-000000000000", "closed") is None


async def test_record_step_merges_concurrent_steps(store: Store) -> None:
    case_id = await _open_megan(store)
    steps = ["reset_password", "revoke_sessions", "disable_rule:1", "remove_forwarding", "block_sign_in"]
    await asyncio.gather(*(store.cases.record_step(case_id, step, ALEX) for step in steps))
    case = await store.cases.get_case(case_id)
    assert case is not None
    assert set(case.steps) == set(steps)
    assert case.version == 1 + len(steps)
    entry = case.steps["reset_password"]
    assert (entry["by"], entry["by_id"]) == ("Alex Wilber", ALEX.id)
    assert entry["at"].endswith("+00:00")

    updated = await store.cases.record_step(case_id, "unblock", ISAIAH, details={"override": "approved by CISO"})
    assert updated is not None and updated.steps["unblock"]["override"] == "approved by CISO"


async def test_cards_and_subscribers(store: Store) -> None:
    case_id = await _open_megan(store)
    reference = {"conversation": {"id": "19:it@thread.tacv2"}, "serviceUrl": "https://smba.example/"}
    await store.cases.save_card(case_id, "19:it@thread.tacv2", "1700000000001", reference)
    await store.cases.save_card(case_id, "a:personal-chat", "42", {"conversation": {"id": "a:personal-chat"}})
    await store.cases.save_card(case_id, "19:it@thread.tacv2", "1700000000002", reference)  # a second message
    moved = {**reference, "serviceUrl": "https://smba-2.example/"}
    await store.cases.save_card(case_id, "19:it@thread.tacv2", "1700000000001", moved)  # saved again: refreshed
    cards = await store.cases.list_cards(case_id)
    assert sorted((c.conversation_id, c.activity_id) for c in cards) == [
        ("19:it@thread.tacv2", "1700000000001"), ("19:it@thread.tacv2", "1700000000002"), ("a:personal-chat", "42")]
    first = next(c for c in cards if c.activity_id == "1700000000001")
    assert first.conversation_reference == moved
    assert cards[-1].activity_id == "1700000000001"  # oldest update first: the refreshed copy comes last

    assert await store.cases.remove_card(case_id, "19:it@thread.tacv2", "1700000000002")
    assert not await store.cases.remove_card(case_id, "19:it@thread.tacv2", "1700000000002")
    assert await store.cases.remove_card(case_id, "a:personal-chat")
    assert not await store.cases.remove_card(case_id, "a:personal-chat")
    assert [(c.conversation_id, c.activity_id) for c in await store.cases.list_cards(case_id)] == [
        ("19:it@thread.tacv2", "1700000000001")]


async def test_a_conversation_keeps_its_newest_copies(store: Store) -> None:
    case_id = await _open_megan(store)
    reference = {"conversation": {"id": "a:personal-chat"}}
    posted = [f"msg-{n:02d}" for n in range(MAX_COPIES_PER_CONVERSATION + 3)]
    for activity_id in posted:
        await store.cases.save_card(case_id, "a:personal-chat", activity_id, reference)
    await store.cases.save_card(case_id, "19:it@thread.tacv2", "channel-1", reference)
    kept = {(c.conversation_id, c.activity_id) for c in await store.cases.list_cards(case_id)}
    assert kept == {("a:personal-chat", a) for a in posted[-MAX_COPIES_PER_CONVERSATION:]} | {
        ("19:it@thread.tacv2", "channel-1")}

    assert await store.cases.add_subscriber(case_id, MEGAN)
    assert not await store.cases.add_subscriber(case_id, MEGAN)
    assert await store.cases.add_subscriber(case_id, ISAIAH.id)
    assert await store.cases.list_subscribers(case_id) == [MEGAN, ISAIAH.id]


async def test_one_transaction_across_repositories(database: Database, store: Store) -> None:
    with pytest.raises(RuntimeError):
        async with database.transaction() as session:
            opened = await store.cases.open_or_get_case(
                TENANT, PATTI, "PattiF@example.com", "Patti Fernandez", ALEX, session=session
            )
            await store.cases.add_subscriber(opened.case.id, PATTI, session=session)
            raise RuntimeError("roll it all back")
    assert await store.cases.get_open_case(TENANT, PATTI) is None

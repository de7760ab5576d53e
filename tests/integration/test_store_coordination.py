"""Action claims, restriction dedupe, leases, runtime settings and conversation references."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from store import Actor, Database, Leases, Store
from tests.store_fixtures import DbTarget

TENANT = "4f8c2b1e-6d3a-4e5b-9c7d-1a2b3c4d5e6f"
MEGAN = "2f6d4c93-1b5e-4d0a-83f4-7a8b9c0d1e03"
ALEX = Actor(id="0d4b2a71-9f3c-4b8e-a1d2-5e6f7a8b9c01", name="Alex Wilber", upn="AlexW@example.com")
SINCE = datetime(2025, 11, 27, 22, 15, 3, 123456, tzinfo=UTC)


class Clock:
    """A settable clock."""

    def __init__(self) -> None:
        self.now = datetime(2025, 11, 28, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def _case_id(store: Store) -> str:
    return (await store.cases.open_or_get_case(TENANT, MEGAN, "MeganB@example.com", "Megan Bowen", ALEX)).case.id


# Action claims -------------------------------------------------------------------------------------------------


async def test_claim_exactly_once_under_concurrency(db_target: DbTarget, store: Store) -> None:
    case_id = await _case_id(store)
    other = Store(await db_target.open())
    try:
        results = await asyncio.gather(
            *(s.claims.try_claim(case_id, "unblock", "MeganB@example.com", f"instance-{n}")
              for n, s in enumerate([store, other] * 4))
        )
    finally:
        await other.close()
    winners = [r for r in results if r.claimed]
    assert len(winners) == 1
    holder = winners[0].claim.claimed_by
    assert all(r.claim.claimed_by == holder and r.claim.status == "in_progress" for r in results)


async def test_claim_release_complete(store: Store) -> None:
    case_id = await _case_id(store)
    first = await store.claims.try_claim(case_id, "reset_password", MEGAN, "a", correlation_id="c-1")
    assert first.claimed and first.claim.correlation_id == "c-1"
    assert not (await store.claims.try_claim(case_id, "reset_password", MEGAN, "b")).claimed
    # Only the claimer may release when it says who it is; a failure releases so a retry can claim again.
    assert not await store.claims.release(case_id, "reset_password", MEGAN, claimed_by="b")
    assert await store.claims.release(case_id, "reset_password", MEGAN, claimed_by="a")
    retry = await store.claims.try_claim(case_id, "reset_password", MEGAN, "b")
    assert retry.claimed
    assert await store.claims.complete(case_id, "reset_password", MEGAN, claimed_by="b")
    assert not await store.claims.complete(case_id, "reset_password", MEGAN)
    done = await store.claims.try_claim(case_id, "reset_password", MEGAN, "c")
    assert not done.claimed and done.claim.status == "done" and done.claim.claimed_by == "b"
    assert not await store.claims.release(case_id, "reset_password", MEGAN)
    assert [c.status for c in await store.claims.list(case_id=case_id)] == ["done"]
    assert await store.claims.release(case_id, "reset_password", MEGAN, even_if_done=True)
    assert await store.claims.get(case_id, "reset_password", MEGAN) is None


async def test_stale_in_progress_claims_are_listed(database: Database) -> None:
    clock = Clock()
    database.clock = clock
    store = Store(database)
    case_id = await _case_id(store)
    await store.claims.try_claim(case_id, "unblock", "MeganB@example.com", "crashed-instance")
    clock.now += timedelta(minutes=20)
    await store.claims.try_claim(case_id, "revoke_sessions", MEGAN, "live-instance")
    stale = await store.claims.list(status="in_progress", older_than=timedelta(minutes=10))
    assert [(c.action, c.claimed_by) for c in stale] == [("unblock", "crashed-instance")]


# Restriction watch ---------------------------------------------------------------------------------------------


async def test_restriction_seen_dedupes(db_target: DbTarget, store: Store) -> None:
    other = Store(await db_target.open())  # e.g. after a restart, or a second instance
    try:
        spellings = [(store, "MeganB@example.com"), (other, "meganb@example.com "), (store, "MEGANB@example.com")]
        results = await asyncio.gather(*(s.restrictions.mark_seen(TENANT, a, SINCE) for s, a in spellings))
        assert sorted(results) == [False, False, True]
        assert not await other.restrictions.mark_seen(TENANT, "MeganB@example.com", SINCE)
    finally:
        await other.close()
    # Restricted again later: a new restriction, a new alert.
    assert await store.restrictions.mark_seen(TENANT, "MeganB@example.com", SINCE + timedelta(days=3))

    assert [r.restricted_since for r in await store.restrictions.list(TENANT, unalerted_only=True)] == [
        SINCE, SINCE + timedelta(days=3)
    ]
    assert await store.restrictions.mark_alerted(TENANT, "MeganB@example.com", SINCE, case_id="case-1")
    assert not await store.restrictions.mark_alerted(TENANT, "nobody@example.com", SINCE)
    seen = await store.restrictions.get(TENANT, "MEGANB@example.com", SINCE)
    assert seen is not None and seen.alerted_at is not None and seen.case_id == "case-1"
    assert seen.sender_address == "meganb@example.com" and seen.restricted_since == SINCE
    assert len(await store.restrictions.list(TENANT, unalerted_only=True)) == 1
    assert len(await store.restrictions.list()) == 2


# Leases --------------------------------------------------------------------------------------------------------


async def test_lease_acquire_expiry_takeover(database: Database) -> None:
    clock = Clock()
    leases = Leases(database, clock=clock)
    ttl = timedelta(seconds=60)
    assert await leases.acquire("restriction-watch", "instance-a", ttl)
    assert not await leases.acquire("restriction-watch", "instance-b", ttl)
    clock.now += timedelta(seconds=30)
    assert await leases.acquire("restriction-watch", "instance-a", ttl)  # renewal by the holder
    assert await leases.renew("restriction-watch", "instance-a", ttl)
    lease = await leases.get("restriction-watch")
    assert lease is not None and lease.holder == "instance-a"
    assert lease.expires_at == clock.now + ttl and lease.acquired_at == clock.now - timedelta(seconds=30)

    clock.now += timedelta(seconds=59)
    assert not await leases.acquire("restriction-watch", "instance-b", ttl)
    clock.now += timedelta(seconds=2)  # instance-a stopped renewing: expired
    assert await leases.acquire("restriction-watch", "instance-b", ttl)
    assert not await leases.renew("restriction-watch", "instance-a", ttl)  # a learns it lost the lease
    taken = await leases.get("restriction-watch")
    assert taken is not None and taken.holder == "instance-b" and taken.acquired_at == clock.now

    assert not await leases.release("restriction-watch", "instance-a")
    assert await leases.release("restriction-watch", "instance-b")
    assert await leases.get("restriction-watch") is None
    assert await leases.acquire("restriction-watch", "instance-a", 5.0)


async def test_lease_concurrent_acquire_one_winner(db_target: DbTarget, database: Database) -> None:
    clock = Clock()
    other = await db_target.open()
    try:
        contenders = [Leases(database, clock=clock), Leases(other, clock=clock)]
        # Free lease, then an expired one: both times exactly one contender wins.
        for _ in range(2):
            results = await asyncio.gather(
                *(contenders[n % 2].acquire("watch", f"instance-{n}", timedelta(seconds=60)) for n in range(6))
            )
            assert sum(results) == 1
            clock.now += timedelta(minutes=5)
    finally:
        await other.close()


# Runtime settings and conversation references ------------------------------------------------------------------


async def test_app_settings(store: Store) -> None:
    assert await store.settings.get("it_alert_channel") is None
    assert await store.settings.get("it_alert_channel", "fallback") == "fallback"
    channel = {"conversation_id": "19:it@thread.tacv2", "reference": {"serviceUrl": "https://smba.example/"}}
    await store.settings.set("it_alert_channel", channel, updated_by=ALEX.id)
    assert await store.settings.get("it_alert_channel") == channel
    await store.settings.set("it_alert_channel", {"conversation_id": "19:other"}, updated_by="someone")
    record = await store.settings.get_record("it_alert_channel")
    assert record is not None and record.value == {"conversation_id": "19:other"} and record.updated_by == "someone"
    await store.settings.set("feature", None)
    assert await store.settings.get("feature", "default") is None  # a stored null is a value
    assert await store.settings.delete("it_alert_channel")
    assert not await store.settings.delete("it_alert_channel")
    assert await store.settings.get_record("it_alert_channel") is None


async def test_conversation_refs(store: Store) -> None:
    assert await store.conversations.get(TENANT, MEGAN) is None
    ref = {"conversation": {"id": "a:1"}, "serviceUrl": "https://smba.example/", "channelId": "msteams"}
    saved = await store.conversations.save(TENANT, MEGAN, ref, locale="nl-NL", time_zone="Europe/Amsterdam")
    assert (saved.reference, saved.locale, saved.time_zone) == (ref, "nl-NL", "Europe/Amsterdam")
    newer = {**ref, "conversation": {"id": "a:2"}}
    again = await store.conversations.save(TENANT, MEGAN, newer)  # no locale on this activity: keep Dutch
    assert (again.reference, again.locale, again.time_zone) == (newer, "nl-NL", "Europe/Amsterdam")
    english = await store.conversations.save(TENANT, MEGAN, newer, locale="en-US")
    assert english.locale == "en-US"
    assert await store.conversations.get(TENANT, MEGAN) == english
    assert await store.conversations.get("other-tenant", MEGAN) is None

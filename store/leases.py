"""Leases: named, expiring locks that make exactly one instance run a singleton job (the restriction watch).

The holder acquires the lease with a time-to-live and renews it well before it expires (e.g. TTL 60 s,
renew every 20 s); if the holder dies, another instance takes the lease over once it expired. Acquisition is
a conditional UPDATE ("mine already, or expired") followed, when no row exists, by an INSERT that does nothing
on conflict; both databases serialise the competing writers on the row, so exactly one wins.

Expiry uses the application clock of each instance (UTC). Keep the TTL far above any clock skew between
instances (seconds, with NTP) and make the job itself idempotent (the restriction watch dedupes through
`restriction_seen`), because a paused process can still believe it holds an expired lease.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import case, delete, literal, update
from sqlalchemy.ext.asyncio import AsyncSession

from store._sql import fresh, insert, transaction
from store.db import Clock, Database
from store.models import LeaseRow, UTCDateTime
from store.records import LeaseRecord

logger = logging.getLogger(__name__)


class Leases:
    """Acquire, renew and release named leases. `clock` defaults to the database's (tests inject one)."""

    def __init__(self, db: Database, *, clock: Clock | None = None) -> None:
        self._db = db
        self._clock = clock or db.clock

    async def acquire(
        self, name: str, holder: str, ttl: timedelta | float, *, session: AsyncSession | None = None
    ) -> bool:
        """Take or renew the lease for `ttl` (a timedelta or seconds). True if `holder` holds it now.

        Succeeds when the lease is free, expired, or already `holder`'s (then it is renewed).
        """
        ttl = ttl if isinstance(ttl, timedelta) else timedelta(seconds=ttl)
        if ttl <= timedelta(0):
            raise ValueError("lease ttl must be positive")
        now = self._clock()
        expires = now + ttl
        async with transaction(self._db, session) as s:
            taken = (
                update(LeaseRow)
                .where(LeaseRow.name == name, (LeaseRow.holder == holder) | (LeaseRow.expires_at <= now))
                .values(
                    holder=holder,
                    expires_at=expires,
                    acquired_at=case(
                        (LeaseRow.holder == holder, LeaseRow.acquired_at), else_=literal(now, UTCDateTime())
                    ),
                )
                .returning(LeaseRow.name)
                .execution_options(synchronize_session=False)
            )
            if (await s.execute(taken)).first() is not None:
                return True
            created = (
                insert(self._db, LeaseRow)
                .values(name=name, holder=holder, expires_at=expires, acquired_at=now)
                .on_conflict_do_nothing()
                .returning(LeaseRow.name)
            )
            won = (await s.execute(created)).first() is not None
        if won:
            logger.info("lease %s acquired by %s", name, holder)
        return won

    async def renew(
        self, name: str, holder: str, ttl: timedelta | float, *, session: AsyncSession | None = None
    ) -> bool:
        """Extend the lease if `holder` still holds it (even if it just expired and nobody took it over).

        False means the lease was lost: stop the singleton job.
        """
        ttl = ttl if isinstance(ttl, timedelta) else timedelta(seconds=ttl)
        stmt = (
            update(LeaseRow)
            .where(LeaseRow.name == name, LeaseRow.holder == holder)
            .values(expires_at=self._clock() + ttl)
            .returning(LeaseRow.name)
            .execution_options(synchronize_session=False)
        )
        async with transaction(self._db, session) as s:
            kept = (await s.execute(stmt)).first() is not None
        if not kept:
            logger.warning("lease %s lost by %s", name, holder)
        return kept

    async def release(self, name: str, holder: str, *, session: AsyncSession | None = None) -> bool:
        """Give the lease up (at shutdown) so another instance takes over at once. True if `holder` held it."""
        stmt = (
            delete(LeaseRow)
            .where(LeaseRow.name == name, LeaseRow.holder == holder)
            .returning(LeaseRow.name)
            .execution_options(synchronize_session=False)
        )
        async with transaction(self._db, session) as s:
            return (await s.execute(stmt)).first() is not None

    async def get(self, name: str, *, session: AsyncSession | None = None) -> LeaseRecord | None:
        """The lease row (holder and expiry, possibly in the past), or None if nobody ever took it or released."""
        async with transaction(self._db, session, readonly=True) as s:
            row = (await s.execute(fresh(LeaseRow).where(LeaseRow.name == name))).scalar_one_or_none()
            if row is None:
                return None
            return LeaseRecord(row.name, row.holder, row.expires_at, row.acquired_at)

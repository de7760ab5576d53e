"""Restrictions the watch has seen, so each one is alerted once, across restarts and instances.

A restriction is identified by (tenant, sender address, restricted since): the same account restricted again
later is a new restriction and alerts again. `mark_seen` inserts and reports whether the row is new; of two
concurrent callers exactly one gets True. The alert itself is recorded with `mark_alerted`, so a crash between
"seen" and "alert posted" is visible (`list(unalerted_only=True)`) and the alert can be retried.
"""

from __future__ import annotations

import builtins
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from store._sql import fresh, insert, transaction
from store.db import Database
from store.models import RestrictionSeenRow
from store.records import RestrictionSeenRecord


def normalize_address(address: str) -> str:
    """Mail addresses compare case-insensitively; store them trimmed and lower-case."""
    return address.strip().lower()


class RestrictionsSeen:
    """The restriction watch's memory. One short transaction per call unless given `session`."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def mark_seen(
        self,
        tenant_id: str,
        sender_address: str,
        restricted_since: datetime,
        *,
        case_id: str | None = None,
        session: AsyncSession | None = None,
    ) -> bool:
        """Record the restriction; True if it was not seen before (the caller should alert)."""
        async with transaction(self._db, session) as s:
            stmt = (
                insert(self._db, RestrictionSeenRow)
                .values(
                    tenant_id=tenant_id,
                    sender_address=normalize_address(sender_address),
                    restricted_since=restricted_since,
                    first_seen_at=self._db.clock(),
                    alerted_at=None,
                    case_id=case_id,
                )
                .on_conflict_do_nothing()
                .returning(RestrictionSeenRow.id)
            )
            return (await s.execute(stmt)).first() is not None

    async def mark_alerted(
        self,
        tenant_id: str,
        sender_address: str,
        restricted_since: datetime,
        *,
        case_id: str | None = None,
        at: datetime | None = None,
        session: AsyncSession | None = None,
    ) -> bool:
        """Record that the alert was posted (and the case opened for it, if any). True if the row exists."""
        values: dict[str, object] = {"alerted_at": at or self._db.clock()}
        if case_id is not None:
            values["case_id"] = case_id
        stmt = (
            update(RestrictionSeenRow)
            .where(
                RestrictionSeenRow.tenant_id == tenant_id,
                RestrictionSeenRow.sender_address == normalize_address(sender_address),
                RestrictionSeenRow.restricted_since == restricted_since,
            )
            .values(**values)
            .returning(RestrictionSeenRow.id)
            .execution_options(synchronize_session=False)
        )
        async with transaction(self._db, session) as s:
            return (await s.execute(stmt)).first() is not None

    async def get(
        self, tenant_id: str, sender_address: str, restricted_since: datetime, *, session: AsyncSession | None = None
    ) -> RestrictionSeenRecord | None:
        """The seen restriction, or None."""
        stmt = fresh(RestrictionSeenRow).where(
            RestrictionSeenRow.tenant_id == tenant_id,
            RestrictionSeenRow.sender_address == normalize_address(sender_address),
            RestrictionSeenRow.restricted_since == restricted_since,
        )
        async with transaction(self._db, session, readonly=True) as s:
            row = (await s.execute(stmt)).scalar_one_or_none()
            return _seen(row) if row is not None else None

    async def list(
        self,
        tenant_id: str | None = None,
        *,
        unalerted_only: bool = False,
        seen_since: datetime | None = None,
        session: AsyncSession | None = None,
    ) -> builtins.list[RestrictionSeenRecord]:
        """Seen restrictions, oldest first; `unalerted_only` for those whose alert was never recorded."""
        stmt = fresh(RestrictionSeenRow)
        if tenant_id is not None:
            stmt = stmt.where(RestrictionSeenRow.tenant_id == tenant_id)
        if unalerted_only:
            stmt = stmt.where(RestrictionSeenRow.alerted_at.is_(None))
        if seen_since is not None:
            stmt = stmt.where(RestrictionSeenRow.first_seen_at >= seen_since)
        stmt = stmt.order_by(RestrictionSeenRow.first_seen_at, RestrictionSeenRow.id)
        async with transaction(self._db, session, readonly=True) as s:
            return [_seen(row) for row in (await s.execute(stmt)).scalars()]


def _seen(row: RestrictionSeenRow) -> RestrictionSeenRecord:
    return RestrictionSeenRecord(
        tenant_id=row.tenant_id,
        sender_address=row.sender_address,
        restricted_since=row.restricted_since,
        first_seen_at=row.first_seen_at,
        alerted_at=row.alerted_at,
        case_id=row.case_id,
    )

"""Action claims: exactly one instance performs a given remediation action.

Before acting, remediation calls `try_claim(case_id, action, target, claimed_by)`. The claim is an INSERT
into a table whose primary key is (case_id, action, target): of several concurrent callers (two admins
clicking, two instances handling a retried invoke) exactly one inserts and wins; the others learn whether the
action is `in_progress` or already `done`. The winner then calls `complete()` after success, or `release()`
after a failure so the action can be tried again.

A claim left `in_progress` by a crashed process is not taken over automatically: whether the action ran is
only known by checking Microsoft 365. The reconciler finds them with `list(status="in_progress",
older_than=...)` (and the matching unfinished audit rows), checks, then completes or releases them.
"""

from __future__ import annotations

import builtins
import logging
from datetime import timedelta

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from store._sql import fresh, insert, transaction
from store.db import Database
from store.models import ActionClaimRow
from store.records import ActionClaimRecord, ClaimResult

logger = logging.getLogger(__name__)

_MAX_RETRIES = 10


class ActionClaims:
    """Claim, complete and release remediation actions. One short transaction per call unless given `session`."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def try_claim(
        self,
        case_id: str,
        action: str,
        target: str,
        claimed_by: str,
        *,
        correlation_id: str | None = None,
        session: AsyncSession | None = None,
    ) -> ClaimResult:
        """Claim the action for `claimed_by`. `ClaimResult.claimed` is True for exactly one concurrent caller.

        When not claimed, `ClaimResult.claim` is the existing claim (`in_progress`: someone is doing it; `done`:
        it was done).
        """
        for _ in range(_MAX_RETRIES):
            async with transaction(self._db, session) as s:
                now = self._db.clock()
                stmt = (
                    insert(self._db, ActionClaimRow)
                    .values(
                        case_id=case_id,
                        action=action,
                        target=target,
                        status="in_progress",
                        claimed_by=claimed_by,
                        correlation_id=correlation_id,
                        created_at=now,
                        updated_at=now,
                    )
                    .on_conflict_do_nothing()
                    .returning(ActionClaimRow.case_id)
                )
                won = (await s.execute(stmt)).first() is not None
                existing = await self._get(s, case_id, action, target)
                if existing is not None:
                    if won:
                        logger.info("claimed %s on %s (case %s) for %s", action, target, case_id, claimed_by)
                    return ClaimResult(claimed=won, claim=existing)
            # The claim we collided with was released before we could read it: try again.
        raise RuntimeError(f"could not claim {action} on {target} (case {case_id})")

    async def complete(
        self,
        case_id: str,
        action: str,
        target: str,
        *,
        claimed_by: str | None = None,
        session: AsyncSession | None = None,
    ) -> bool:
        """Mark an in-progress claim `done` (only the claimer's, when `claimed_by` is given). True if it was."""
        stmt = update(ActionClaimRow).where(
            ActionClaimRow.case_id == case_id,
            ActionClaimRow.action == action,
            ActionClaimRow.target == target,
            ActionClaimRow.status == "in_progress",
        )
        if claimed_by is not None:
            stmt = stmt.where(ActionClaimRow.claimed_by == claimed_by)
        stmt = stmt.values(status="done", updated_at=self._db.clock()).returning(ActionClaimRow.case_id)
        async with transaction(self._db, session) as s:
            done = (await s.execute(stmt.execution_options(synchronize_session=False))).first() is not None
        return done

    async def release(
        self,
        case_id: str,
        action: str,
        target: str,
        *,
        claimed_by: str | None = None,
        even_if_done: bool = False,
        session: AsyncSession | None = None,
    ) -> bool:
        """Drop a claim so the action can be claimed again (after a failure). True if there was one.

        Only in-progress claims are released unless `even_if_done` (an admin deliberately repeating a done
        action); with `claimed_by`, only that claimer's.
        """
        stmt = delete(ActionClaimRow).where(
            ActionClaimRow.case_id == case_id,
            ActionClaimRow.action == action,
            ActionClaimRow.target == target,
        )
        if not even_if_done:
            stmt = stmt.where(ActionClaimRow.status == "in_progress")
        if claimed_by is not None:
            stmt = stmt.where(ActionClaimRow.claimed_by == claimed_by)
        returning = stmt.returning(ActionClaimRow.case_id).execution_options(synchronize_session=False)
        async with transaction(self._db, session) as s:
            released = (await s.execute(returning)).first() is not None
        if released:
            logger.info("released claim %s on %s (case %s)", action, target, case_id)
        return released

    async def get(
        self, case_id: str, action: str, target: str, *, session: AsyncSession | None = None
    ) -> ActionClaimRecord | None:
        """The claim on this action, or None."""
        async with transaction(self._db, session, readonly=True) as s:
            return await self._get(s, case_id, action, target)

    async def list(
        self,
        *,
        case_id: str | None = None,
        status: str | None = None,
        older_than: timedelta | None = None,
        session: AsyncSession | None = None,
    ) -> builtins.list[ActionClaimRecord]:
        """Claims, oldest first, by case, status and minimum age (last change at least `older_than` ago)."""
        stmt = fresh(ActionClaimRow)
        if case_id is not None:
            stmt = stmt.where(ActionClaimRow.case_id == case_id)
        if status is not None:
            stmt = stmt.where(ActionClaimRow.status == status)
        if older_than is not None:
            stmt = stmt.where(ActionClaimRow.updated_at <= self._db.clock() - older_than)
        stmt = stmt.order_by(ActionClaimRow.created_at, ActionClaimRow.action, ActionClaimRow.target)
        async with transaction(self._db, session, readonly=True) as s:
            return [_claim(row) for row in (await s.execute(stmt)).scalars()]

    async def _get(self, s: AsyncSession, case_id: str, action: str, target: str) -> ActionClaimRecord | None:
        stmt = fresh(ActionClaimRow).where(
            ActionClaimRow.case_id == case_id, ActionClaimRow.action == action, ActionClaimRow.target == target
        )
        row = (await s.execute(stmt)).scalar_one_or_none()
        return _claim(row) if row is not None else None


def _claim(row: ActionClaimRow) -> ActionClaimRecord:
    return ActionClaimRecord(
        case_id=row.case_id,
        action=row.action,
        target=row.target,
        status=row.status,
        claimed_by=row.claimed_by,
        correlation_id=row.correlation_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )

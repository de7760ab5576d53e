"""Cases: one per blocked account at a time, with their posted cards and subscribers.

Concurrency rules:

* At most one active (`open` / `unblock_pending`) case per (tenant, account), enforced by a partial unique
  index. `open_or_get_case` inserts and, when the index refuses, returns the existing active case, so two
  people (or two instances) reporting the same account at once end up on the same case.
* Every change goes through `update_case(case_id, expected_version, ...)`, a compare-and-set on `version`:
  a writer that read an old version gets `StaleCase` instead of overwriting someone else's change.
  `set_status` and `record_step` re-read and retry on their own, because their change does not depend on
  what else changed.
* A case that is `resolved` or `closed` is not reopened: a new report opens a new case, which keeps the
  history of each episode intact.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store._sql import fresh, insert, new_id, transaction
from store.db import Database
from store.events import ACCOUNT_RESTORED, CASE_OPENED, CASE_VERDICT, EventOutbox, utc_iso
from store.models import (
    ACTIVE_CASE_STATUSES,
    CASE_STATUSES,
    VERDICTS,
    CaseCardRow,
    CaseRow,
    CaseSubscriberRow,
)
from store.records import Actor, CardRef, CaseRecord, InvalidCaseChange, OpenedCase, StaleCase

logger = logging.getLogger(__name__)

# Fields `update_case` may change; id, tenant, account, opener, timestamps and version are the store's.
UPDATABLE_FIELDS = frozenset({"account_upn", "display_name", "status", "verdict", "summary", "steps", "resolved_at"})
# How often a self-retrying change (set_status, record_step) re-reads after losing a race before giving up.
_MAX_RETRIES = 10
# Copies of one case kept per conversation (newest first); older messages there simply stop being redrawn.
MAX_COPIES_PER_CONVERSATION = 5


class CaseRepository:
    """Cases, their card copies and subscribers. Every method is one short transaction unless given `session`.

    With an enabled `events` outbox, opening a case, a new verdict and the case's resolution each write their
    event (`store.events`) in the transaction that records them.
    """

    def __init__(self, db: Database, *, events: EventOutbox | None = None) -> None:
        self._db = db
        self._events = events or EventOutbox(db)

    async def open_or_get_case(
        self,
        tenant_id: str,
        account_id: str,
        upn: str,
        name: str,
        opened_by: Actor | None = None,
        *,
        summary: Mapping[str, Any] | None = None,
        session: AsyncSession | None = None,
    ) -> OpenedCase:
        """Open a case for the account, or return its active case if it has one.

        Race-safe: concurrent calls for the same account return the same case, and exactly one of them reports
        `created=True` (the caller that should, say, notify IT).
        """
        for _ in range(_MAX_RETRIES):
            async with transaction(self._db, session) as s:
                now = self._db.clock()
                case_id = new_id()
                stmt = (
                    insert(self._db, CaseRow)
                    .values(
                        id=case_id,
                        tenant_id=tenant_id,
                        account_id=account_id,
                        account_upn=upn,
                        display_name=name,
                        status="open",
                        verdict=None,
                        summary=dict(summary or {}),
                        steps={},
                        opened_by_id=opened_by.id if opened_by else None,
                        opened_by_name=opened_by.name if opened_by else None,
                        created_at=now,
                        updated_at=now,
                        resolved_at=None,
                        version=1,
                    )
                    # No conflict target: the only unique rule a fresh uuid can hit is the one-active-case index.
                    .on_conflict_do_nothing()
                    .returning(CaseRow.id)
                )
                inserted = (await s.execute(stmt)).scalar_one_or_none()
                existing = await self._active(s, tenant_id, account_id)
                if existing is not None:
                    if inserted is not None:
                        logger.info("opened case %s for account %s (tenant %s)", inserted, account_id, tenant_id)
                        await self._events.add(
                            s, CASE_OPENED, tenant_id=tenant_id, case_id=existing.id, account_id=account_id,
                            account_upn=upn, data={"status": existing.status,
                                                   "openedBy": {"id": opened_by.id} if opened_by else None})
                    return OpenedCase(case=existing, created=inserted is not None)
            # The active case we collided with was resolved before we could read it: try again.
            logger.debug("active case of %s vanished while opening; retrying", account_id)
        raise RuntimeError(f"could not open or find an active case for account {account_id} (tenant {tenant_id})")

    async def get_case(self, case_id: str, *, session: AsyncSession | None = None) -> CaseRecord | None:
        """The case with this id, or None."""
        async with transaction(self._db, session, readonly=True) as s:
            row = (await s.execute(fresh(CaseRow).where(CaseRow.id == case_id))).scalar_one_or_none()
            return _case(row) if row is not None else None

    async def get_open_case(
        self, tenant_id: str, account_id: str, *, session: AsyncSession | None = None
    ) -> CaseRecord | None:
        """The account's active (`open` or `unblock_pending`) case, or None."""
        async with transaction(self._db, session, readonly=True) as s:
            return await self._active(s, tenant_id, account_id)

    async def list_cases(
        self,
        status: str | Iterable[str] | None = None,
        tenant_id: str | None = None,
        *,
        account_id: str | None = None,
        limit: int | None = 200,
        session: AsyncSession | None = None,
    ) -> list[CaseRecord]:
        """Cases, most recently updated first, filtered by status (one or several), tenant and account."""
        stmt = fresh(CaseRow)
        if status is not None:
            statuses = [status] if isinstance(status, str) else list(status)
            stmt = stmt.where(CaseRow.status.in_(statuses))
        if tenant_id is not None:
            stmt = stmt.where(CaseRow.tenant_id == tenant_id)
        if account_id is not None:
            stmt = stmt.where(CaseRow.account_id == account_id)
        stmt = stmt.order_by(CaseRow.updated_at.desc(), CaseRow.id)
        if limit is not None:
            stmt = stmt.limit(limit)
        async with transaction(self._db, session, readonly=True) as s:
            return [_case(row) for row in (await s.execute(stmt)).scalars()]

    async def update_case(
        self, case_id: str, expected_version: int, *, session: AsyncSession | None = None, **changes: Any
    ) -> CaseRecord | None:
        """Apply `changes` if the case is still at `expected_version`; return the updated case.

        Returns None when the case does not exist; raises `StaleCase` when its version moved on (re-read and
        decide again), `InvalidCaseChange` for an unknown field, a bad status/verdict or a reopening.
        Moving to `resolved`/`closed` sets `resolved_at` unless given or already set.
        """
        unknown = set(changes) - UPDATABLE_FIELDS
        if unknown:
            raise InvalidCaseChange(f"cannot change case field(s) {', '.join(sorted(unknown))}")
        async with transaction(self._db, session) as s:
            current = (await s.execute(fresh(CaseRow).where(CaseRow.id == case_id))).scalar_one_or_none()
            if current is None:
                return None
            if current.version != expected_version:
                raise StaleCase(case_id, expected_version, current.version)
            values = _validated(current, changes)
            # Read before the UPDATE: its RETURNING refreshes `current` (the same row in the session).
            previous_verdict, previous_status = current.verdict, current.status
            now = self._db.clock()
            if values.get("status") in ("resolved", "closed") and "resolved_at" not in values:
                if current.resolved_at is None:
                    values["resolved_at"] = now
            stmt = (
                update(CaseRow)
                .where(CaseRow.id == case_id, CaseRow.version == expected_version)
                .values(**values, updated_at=now, version=CaseRow.version + 1)
                .returning(CaseRow)
                .execution_options(synchronize_session=False, populate_existing=True)
            )
            row = (await s.execute(stmt)).scalar_one_or_none()
            if row is None:
                # Another transaction committed a change between our read and our write (PostgreSQL).
                latest = await s.scalar(select(CaseRow.version).where(CaseRow.id == case_id))
                if latest is None:
                    return None
                raise StaleCase(case_id, expected_version, latest)
            updated = _case(row)
            await self._case_events(s, updated, previous_verdict, previous_status, changes)
            return updated

    async def _case_events(self, s: AsyncSession, case: CaseRecord, previous_verdict: str | None,
                           previous_status: str, changes: Mapping[str, Any]) -> None:
        """The events of a case change, in its transaction: a verdict that differs from the last one (a
        re-investigation that agrees says nothing new), and the move to `resolved` (sending restored)."""
        if "verdict" in changes and case.verdict is not None and case.verdict != previous_verdict:
            summary = case.summary
            codes = summary.get("finding_codes")
            await self._events.add(
                s, CASE_VERDICT, tenant_id=case.tenant_id, case_id=case.id, account_id=case.account_id,
                account_upn=case.account_upn,
                data={"verdict": case.verdict, "previousVerdict": previous_verdict,
                      "findingCodes": [c for c in codes if isinstance(c, str)] if isinstance(codes, list) else [],
                      "urgent": bool(summary.get("urgent"))})
        if case.status == "resolved" and previous_status != "resolved":
            await self._events.add(
                s, ACCOUNT_RESTORED, tenant_id=case.tenant_id, case_id=case.id, account_id=case.account_id,
                account_upn=case.account_upn,
                data={"status": case.status,
                      "resolvedAt": utc_iso(case.resolved_at) if case.resolved_at else None})

    async def set_status(
        self,
        case_id: str,
        status: str,
        *,
        expected_version: int | None = None,
        session: AsyncSession | None = None,
    ) -> CaseRecord | None:
        """Set the case's status. With `expected_version`, a compare-and-set; without, retried until it lands."""
        if expected_version is not None:
            return await self.update_case(case_id, expected_version, status=status, session=session)
        for _ in range(_MAX_RETRIES):
            case = await self.get_case(case_id, session=session)
            if case is None:
                return None
            if case.status == status:
                return case
            try:
                return await self.update_case(case_id, case.version, status=status, session=session)
            except StaleCase:
                continue
        raise RuntimeError(f"case {case_id} kept changing; status {status!r} not set")

    async def record_step(
        self,
        case_id: str,
        step: str,
        actor: Actor,
        *,
        at: datetime | None = None,
        details: Mapping[str, Any] | None = None,
        session: AsyncSession | None = None,
    ) -> CaseRecord | None:
        """Record that `actor` did remediation step `step`: `steps[step] = {"by", "by_id", "at", **details}`.

        Merges into the current steps, retrying when someone else changed the case meanwhile, so two steps
        recorded at the same time both survive.
        """
        when = (at or self._db.clock()).isoformat()
        entry = {**dict(details or {}), "by": actor.name or actor.upn or actor.id, "by_id": actor.id, "at": when}
        for _ in range(_MAX_RETRIES):
            case = await self.get_case(case_id, session=session)
            if case is None:
                return None
            steps = {**case.steps, step: entry}
            try:
                return await self.update_case(case_id, case.version, steps=steps, session=session)
            except StaleCase:
                continue
        raise RuntimeError(f"case {case_id} kept changing; step {step!r} not recorded")

    # Card copies -------------------------------------------------------------------------------------------

    async def save_card(
        self,
        case_id: str,
        conversation_id: str,
        activity_id: str,
        reference: Mapping[str, Any],
        *,
        session: AsyncSession | None = None,
    ) -> CardRef:
        """Remember the case's card posted as `activity_id` in `conversation_id` (again: refresh its reference).

        `reference` is the JSON form of the Bot Framework conversation reference (`ConversationReference
        .serialize()`), needed to update the card proactively. A conversation keeps at most
        `MAX_COPIES_PER_CONVERSATION` copies of one case, the newest, so repeated investigations in one chat
        do not make every later change redraw an ever longer list of old messages.
        """
        async with transaction(self._db, session) as s:
            now = self._db.clock()
            stmt = insert(self._db, CaseCardRow).values(
                case_id=case_id,
                conversation_id=conversation_id,
                activity_id=activity_id,
                conversation_reference=dict(reference),
                updated_at=now,
            )
            stmt = stmt.on_conflict_do_update(
                index_elements=[CaseCardRow.case_id, CaseCardRow.conversation_id, CaseCardRow.activity_id],
                set_={
                    "conversation_reference": stmt.excluded.conversation_reference,
                    "updated_at": stmt.excluded.updated_at,
                },
            )
            await s.execute(stmt)
            kept = (
                select(CaseCardRow.activity_id)
                .where(CaseCardRow.case_id == case_id, CaseCardRow.conversation_id == conversation_id)
                .order_by(CaseCardRow.updated_at.desc(), CaseCardRow.activity_id.desc())
                .limit(MAX_COPIES_PER_CONVERSATION)
                .scalar_subquery()
            )
            await s.execute(
                delete(CaseCardRow)
                .where(CaseCardRow.case_id == case_id, CaseCardRow.conversation_id == conversation_id,
                       CaseCardRow.activity_id.not_in(kept))
                .execution_options(synchronize_session=False)
            )
            return CardRef(case_id, conversation_id, activity_id, dict(reference), now)

    async def list_cards(self, case_id: str, *, session: AsyncSession | None = None) -> list[CardRef]:
        """Every posted copy of the case's card, oldest update first."""
        stmt = (
            fresh(CaseCardRow)
            .where(CaseCardRow.case_id == case_id)
            .order_by(CaseCardRow.updated_at, CaseCardRow.conversation_id, CaseCardRow.activity_id)
        )
        async with transaction(self._db, session, readonly=True) as s:
            return [
                CardRef(r.case_id, r.conversation_id, r.activity_id, dict(r.conversation_reference), r.updated_at)
                for r in (await s.execute(stmt)).scalars()
            ]

    async def remove_card(self, case_id: str, conversation_id: str, activity_id: str | None = None, *,
                          session: AsyncSession | None = None) -> bool:
        """Forget the copy `activity_id` in a conversation, or all of the case's copies there when it is None
        (e.g. the message was deleted). True if there was one."""
        async with transaction(self._db, session) as s:
            where = [CaseCardRow.case_id == case_id, CaseCardRow.conversation_id == conversation_id]
            if activity_id is not None:
                where.append(CaseCardRow.activity_id == activity_id)
            stmt = (
                delete(CaseCardRow)
                .where(*where)
                .returning(CaseCardRow.case_id)
                .execution_options(synchronize_session=False)
            )
            return (await s.execute(stmt)).first() is not None

    # Subscribers --------------------------------------------------------------------------------------------

    async def add_subscriber(self, case_id: str, user_aad_id: str, *, session: AsyncSession | None = None) -> bool:
        """Subscribe a user to the case's resolution. True if newly added, False if already subscribed."""
        async with transaction(self._db, session) as s:
            stmt = (
                insert(self._db, CaseSubscriberRow)
                .values(case_id=case_id, user_aad_id=user_aad_id, created_at=self._db.clock())
                .on_conflict_do_nothing()
                .returning(CaseSubscriberRow.user_aad_id)
            )
            return (await s.execute(stmt)).first() is not None

    async def list_subscribers(self, case_id: str, *, session: AsyncSession | None = None) -> list[str]:
        """The Entra object ids of the case's subscribers, in subscription order."""
        stmt = (
            select(CaseSubscriberRow.user_aad_id)
            .where(CaseSubscriberRow.case_id == case_id)
            .order_by(CaseSubscriberRow.created_at, CaseSubscriberRow.user_aad_id)
        )
        async with transaction(self._db, session, readonly=True) as s:
            return list((await s.execute(stmt)).scalars())

    # Internals ----------------------------------------------------------------------------------------------

    async def _active(self, s: AsyncSession, tenant_id: str, account_id: str) -> CaseRecord | None:
        stmt = fresh(CaseRow).where(
            CaseRow.tenant_id == tenant_id,
            CaseRow.account_id == account_id,
            CaseRow.status.in_(ACTIVE_CASE_STATUSES),
        )
        row = (await s.execute(stmt)).scalar_one_or_none()
        return _case(row) if row is not None else None


def _validated(current: CaseRow, changes: Mapping[str, Any]) -> dict[str, Any]:
    values = dict(changes)
    status = values.get("status")
    if status is not None:
        if status not in CASE_STATUSES:
            raise InvalidCaseChange(f"unknown case status {status!r}; one of {', '.join(CASE_STATUSES)}")
        if status in ACTIVE_CASE_STATUSES and current.status not in ACTIVE_CASE_STATUSES:
            raise InvalidCaseChange(f"case {current.id} is {current.status}; open a new case instead of reopening")
    elif "status" in values:
        raise InvalidCaseChange("case status cannot be None")
    verdict = values.get("verdict")
    if verdict is not None and verdict not in VERDICTS:
        raise InvalidCaseChange(f"unknown verdict {verdict!r}; one of {', '.join(VERDICTS)}")
    for key in ("summary", "steps"):
        if key in values:
            if not isinstance(values[key], Mapping):
                raise InvalidCaseChange(f"case {key} must be a JSON object")
            values[key] = dict(values[key])
    for key in ("account_upn", "display_name"):
        if key in values and not isinstance(values[key], str):
            raise InvalidCaseChange(f"case {key} must be a string")
    return values


def _case(row: CaseRow) -> CaseRecord:
    return CaseRecord(
        id=row.id,
        tenant_id=row.tenant_id,
        account_id=row.account_id,
        account_upn=row.account_upn,
        display_name=row.display_name,
        status=row.status,
        verdict=row.verdict,
        summary=dict(row.summary or {}),
        steps=dict(row.steps or {}),
        opened_by_id=row.opened_by_id,
        opened_by_name=row.opened_by_name,
        created_at=row.created_at,
        updated_at=row.updated_at,
        resolved_at=row.resolved_at,
        version=row.version,
    )

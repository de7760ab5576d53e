"""The events' outbox: what happened to a case, kept until the webhook receiver has it.

Five facts become events, each written by the repository that records the fact, in the same transaction, so a
crash cannot keep the fact and lose its event (or send an event for a fact that was rolled back):

| type | written by | when |
|---|---|---|
| `case.opened` | `CaseRepository.open_or_get_case` | a new case was inserted (not when the open one is joined) |
| `case.verdict` | `CaseRepository.update_case` | a stored verdict differs from the case's last one |
| `action.taken` | `AuditLog.finish` | an action's outcome (`succeeded`, `failed`, `unknown`) with its verb |
| `account.unblocked` | `AuditLog.finish` | the `unblock` action succeeded (Microsoft 365 removed the restriction) |
| `account.restored` | `CaseRepository.update_case` | the case became `resolved`: off Restricted entities |

The event is a JSON document, written once and sent as written (every retry signs the same bytes)::

    {"id": uuid, "type": "...", "occurredAt": "2026-12-10T09:30:00.123456Z", "tenantId": ..., "caseId": ...,
     "account": {"id": ..., "upn": ...}, "data": {...}}

Ids and facts only: no message bodies, no notes, no override reasons, no tokens, no Microsoft error text (the
error *code*, e.g. `permission`, is given).

Without a webhook (`EventOutbox(enabled=False)`, the default) nothing is written: events nobody will fetch would
only grow the database. Delivery (`core.events.EventDeliverer`) reads `due()` oldest first and marks each event
`delivered`, `retry_later` (attempt count and next attempt time) or `give_up` (refused for good); delivered and
given-up events are purged after `purge()`'s retention.
"""

from __future__ import annotations

import builtins
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store._sql import fresh, new_id, transaction
from store.db import Database
from store.models import EventRow

logger = logging.getLogger(__name__)

CASE_OPENED = "case.opened"
CASE_VERDICT = "case.verdict"
ACTION_TAKEN = "action.taken"
ACCOUNT_UNBLOCKED = "account.unblocked"
ACCOUNT_RESTORED = "account.restored"
EVENT_TYPES = (CASE_OPENED, CASE_VERDICT, ACTION_TAKEN, ACCOUNT_UNBLOCKED, ACCOUNT_RESTORED)
_MAX_ERROR_CHARS = 500


@dataclass(frozen=True)
class EventRecord:
    """One event of the outbox: its id, type, the JSON body as sent, and where its delivery stands."""

    seq: int
    id: str
    type: str
    occurred_at: datetime
    tenant_id: str | None
    case_id: str | None
    body: str
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None
    failed_at: datetime | None
    last_error: str | None


def utc_iso(at: datetime) -> str:
    """An aware datetime as ISO 8601 in UTC with a `Z` (what the event's `occurredAt` looks like)."""
    return at.isoformat().replace("+00:00", "Z")


class EventOutbox:
    """Writes events inside the caller's transaction (`add`) and tracks their delivery."""

    def __init__(self, db: Database, *, enabled: bool = False) -> None:
        self._db = db
        self.enabled = enabled

    async def add(self, session: AsyncSession, event_type: str, *, tenant_id: str | None, case_id: str | None,
                  account_id: str | None, account_upn: str | None, data: Mapping[str, Any]) -> str | None:
        """Write an event in `session`'s transaction (the one that records the fact); its id, or None when the
        outbox is disabled (no webhook configured)."""
        if not self.enabled:
            return None
        if event_type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {event_type!r}")
        event_id = new_id()
        now = self._db.clock()
        document = {
            "id": event_id,
            "type": event_type,
            "occurredAt": utc_iso(now),
            "tenantId": tenant_id,
            "caseId": case_id,
            "account": {"id": account_id, "upn": account_upn},
            "data": dict(data),
        }
        session.add(EventRow(
            id=event_id, type=event_type, occurred_at=now, tenant_id=tenant_id, case_id=case_id,
            body=json.dumps(document, ensure_ascii=False, separators=(",", ":")), attempts=0, next_attempt_at=now,
            delivered_at=None, failed_at=None, last_error=None,
        ))
        await session.flush()
        logger.debug("event %s (%s) for case %s written", event_id, event_type, case_id)
        return event_id

    async def due(self, limit: int = 50, *, session: AsyncSession | None = None) -> builtins.list[EventRecord]:
        """Events not yet delivered nor given up, oldest first (whether or not their next attempt is due: delivery
        keeps the order, so the oldest one's `next_attempt_at` decides when the queue moves)."""
        stmt = (fresh(EventRow).where(EventRow.delivered_at.is_(None), EventRow.failed_at.is_(None))
                .order_by(EventRow.seq).limit(limit))
        async with transaction(self._db, session, readonly=True) as s:
            return [_record(row) for row in (await s.execute(stmt)).scalars()]

    async def pending_count(self, *, session: AsyncSession | None = None) -> int:
        """How many events wait for delivery."""
        stmt = select(func.count()).select_from(EventRow).where(EventRow.delivered_at.is_(None),
                                                                EventRow.failed_at.is_(None))
        async with transaction(self._db, session, readonly=True) as s:
            return int(await s.scalar(stmt) or 0)

    async def list(self, *, case_id: str | None = None, session: AsyncSession | None = None
                   ) -> builtins.list[EventRecord]:
        """Every event kept (delivered or not), oldest first; of one case when `case_id` is given."""
        stmt = fresh(EventRow).order_by(EventRow.seq)
        if case_id is not None:
            stmt = stmt.where(EventRow.case_id == case_id)
        async with transaction(self._db, session, readonly=True) as s:
            return [_record(row) for row in (await s.execute(stmt)).scalars()]

    async def delivered(self, event_id: str, *, session: AsyncSession | None = None) -> None:
        """The receiver answered 2xx: the event is done (its attempt counted)."""
        await self._set(event_id, session, attempts=EventRow.attempts + 1, delivered_at=self._db.clock(),
                        last_error=None)

    async def retry_later(self, event_id: str, error: str, next_attempt_at: datetime, *,
                          session: AsyncSession | None = None) -> None:
        """An attempt failed in a way worth retrying: count it, say why, and when to try again."""
        await self._set(event_id, session, attempts=EventRow.attempts + 1, next_attempt_at=next_attempt_at,
                        last_error=error[:_MAX_ERROR_CHARS])

    async def give_up(self, event_id: str, error: str, *, session: AsyncSession | None = None) -> None:
        """The receiver refused the event for good: count the attempt and stop sending it."""
        await self._set(event_id, session, attempts=EventRow.attempts + 1, failed_at=self._db.clock(),
                        last_error=error[:_MAX_ERROR_CHARS])

    async def purge(self, older_than: datetime, *, session: AsyncSession | None = None) -> int:
        """Delete delivered and given-up events settled before `older_than`; how many went."""
        stmt = (delete(EventRow)
                .where(((EventRow.delivered_at.is_not(None)) & (EventRow.delivered_at < older_than))
                       | ((EventRow.failed_at.is_not(None)) & (EventRow.failed_at < older_than)))
                .execution_options(synchronize_session=False))
        async with transaction(self._db, session) as s:
            result = await s.execute(stmt)
            return int(getattr(result, "rowcount", 0) or 0)

    async def _set(self, event_id: str, session: AsyncSession | None, **values: Any) -> None:
        stmt = update(EventRow).where(EventRow.id == event_id).values(**values).execution_options(
            synchronize_session=False)
        async with transaction(self._db, session) as s:
            await s.execute(stmt)


def _record(row: EventRow) -> EventRecord:
    return EventRecord(
        seq=row.seq, id=row.id, type=row.type, occurred_at=row.occurred_at, tenant_id=row.tenant_id,
        case_id=row.case_id, body=row.body, attempts=row.attempts, next_attempt_at=row.next_attempt_at,
        delivered_at=row.delivered_at, failed_at=row.failed_at, last_error=row.last_error,
    )

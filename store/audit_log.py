"""The append-only audit log.

Every action writes two rows with one correlation id: `start()` before it runs (outcome `started`) and
`finish()` after (`succeeded` or `failed`, with the error). Rows are only ever inserted. A `started` row
without a partner means the process died mid-action: `unfinished()` lists those for the reconciler
(`remediation.reconcile`), which checks Microsoft 365 and writes the outcome (`unknown` where the result
cannot be read back). Unique indexes allow one `started` and one outcome row per
correlation id, so two reconcilers cannot record contradicting outcomes.

Parameters must not contain secrets; as a second line of defence, values under keys that look like secrets
(password, secret, token, ...) are replaced by "[redacted]" before they are written.

`python -m tools.audit` (tools/audit.py over store/audit.py) prints the log.
"""

from __future__ import annotations

import builtins
import logging
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from store._sql import fresh, insert, new_id, transaction
from store.db import Database
from store.events import ACCOUNT_UNBLOCKED, ACTION_TAKEN, EventOutbox
from store.models import AuditRow
from store.records import Actor, AuditEntry, StoreError

logger = logging.getLogger(__name__)

OUTCOMES_AFTER = ("succeeded", "failed", "unknown")
REDACTED = "[redacted]"
_SECRET_KEY = re.compile(
    r"passw(or)?d|passphrase|pwd|secret|token|credential|authorization|cookie|private.?key|api.?key", re.I
)
_MAX_ERROR_CHARS = 8000


class AuditError(StoreError):
    """`finish()` for an unknown correlation id, or one that already has an outcome."""


class AuditLog:
    """Insert-and-query access to the audit log. There is deliberately no update or delete.

    With an enabled `events` outbox, every action's outcome (`finish`) writes an `action.taken` event, and a
    succeeded unblock an `account.unblocked` one, in the outcome row's transaction (`store.events`).
    """

    def __init__(self, db: Database, *, events: EventOutbox | None = None) -> None:
        self._db = db
        self._events = events or EventOutbox(db)

    async def start(
        self,
        *,
        actor: Actor,
        action: str,
        target: str | None,
        tenant_id: str | None = None,
        case_id: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        correlation_id: str | None = None,
        session: AsyncSession | None = None,
    ) -> str:
        """Write the `started` row of an action and return its correlation id (new unless given)."""
        correlation_id = correlation_id or new_id()
        await self._insert(
            session,
            actor_id=actor.id,
            actor_upn=actor.upn or None,
            actor_name=actor.name or None,
            tenant_id=tenant_id,
            action=action,
            target=target,
            case_id=case_id,
            parameters=redact(parameters or {}),
            outcome="started",
            error=None,
            correlation_id=correlation_id,
        )
        return correlation_id

    async def finish(
        self,
        correlation_id: str,
        outcome: str,
        error: str | None = None,
        *,
        result: Mapping[str, Any] | None = None,
        session: AsyncSession | None = None,
    ) -> AuditEntry:
        """Write the outcome row of a started action, copying its actor, tenant, action, target and case.

        `result` (optional) adds details of the outcome to the copied parameters under "result".
        Raises `AuditError` when there is no such started action or it already has an outcome.
        """
        if outcome not in OUTCOMES_AFTER:
            raise ValueError(f"audit outcome must be one of {', '.join(OUTCOMES_AFTER)}, not {outcome!r}")
        async with transaction(self._db, session) as s:
            stmt = fresh(AuditRow).where(AuditRow.correlation_id == correlation_id, AuditRow.outcome == "started")
            started = (await s.execute(stmt)).scalar_one_or_none()
            if started is None:
                raise AuditError(f"no started action with correlation id {correlation_id}")
            parameters = dict(started.parameters or {})
            if result:
                parameters["result"] = redact(result)
            entry = await self._insert(
                s,
                actor_id=started.actor_id,
                actor_upn=started.actor_upn,
                actor_name=started.actor_name,
                tenant_id=started.tenant_id,
                action=started.action,
                target=started.target,
                case_id=started.case_id,
                parameters=parameters,
                outcome=outcome,
                error=_truncate(error),
                correlation_id=correlation_id,
            )
            if entry is None:
                raise AuditError(f"action {correlation_id} already has an outcome")
            await self._action_events(s, entry)
            return entry

    async def _action_events(self, s: AsyncSession, entry: AuditEntry) -> None:
        """The events of an action's outcome: ids, the verb, the outcome and the error *code* (never Microsoft's
        message, the override reason or other free text)."""
        params = entry.parameters
        result = params.get("result")
        error_code = result.get("error") if isinstance(result, Mapping) else None
        account_id = params.get("account_id")
        actor = {"id": entry.actor_id, "upn": entry.actor_upn}
        data: dict[str, Any] = {
            "verb": entry.action, "outcome": entry.outcome, "correlationId": entry.correlation_id, "actor": actor,
            "error": error_code if isinstance(error_code, str) else None,
            "acknowledged": params.get("acknowledged") is True, "override": params.get("override") is True,
        }
        if isinstance(params.get("ruleId"), str):
            data["ruleId"] = params["ruleId"]
        common: dict[str, Any] = {
            "tenant_id": entry.tenant_id, "case_id": entry.case_id,
            "account_id": account_id if isinstance(account_id, str) else None, "account_upn": entry.target,
        }
        await self._events.add(s, ACTION_TAKEN, data=data, **common)
        if entry.action == "unblock" and entry.outcome == "succeeded":
            address = params.get("address")
            await self._events.add(s, ACCOUNT_UNBLOCKED, **common, data={
                "correlationId": entry.correlation_id, "actor": actor,
                "address": address if isinstance(address, str) else None})

    async def record(
        self,
        *,
        actor: Actor,
        action: str,
        target: str | None,
        outcome: str = "succeeded",
        tenant_id: str | None = None,
        case_id: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        error: str | None = None,
        session: AsyncSession | None = None,
    ) -> AuditEntry:
        """Write a one-row event that has no separate start (e.g. "case opened", "setting changed")."""
        if outcome not in OUTCOMES_AFTER:
            raise ValueError(f"audit outcome must be one of {', '.join(OUTCOMES_AFTER)}, not {outcome!r}")
        entry = await self._insert(
            session,
            actor_id=actor.id,
            actor_upn=actor.upn or None,
            actor_name=actor.name or None,
            tenant_id=tenant_id,
            action=action,
            target=target,
            case_id=case_id,
            parameters=redact(parameters or {}),
            outcome=outcome,
            error=_truncate(error),
            correlation_id=new_id(),
        )
        assert entry is not None  # a fresh correlation id cannot collide
        return entry

    async def list(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        case_id: str | None = None,
        correlation_id: str | None = None,
        actor_id: str | None = None,
        limit: int | None = None,
        session: AsyncSession | None = None,
    ) -> builtins.list[AuditEntry]:
        """Audit rows, oldest first, filtered by time window (`since` inclusive, `until` exclusive) and ids."""
        stmt = fresh(AuditRow)
        if since is not None:
            stmt = stmt.where(AuditRow.at >= since)
        if until is not None:
            stmt = stmt.where(AuditRow.at < until)
        if case_id is not None:
            stmt = stmt.where(AuditRow.case_id == case_id)
        if correlation_id is not None:
            stmt = stmt.where(AuditRow.correlation_id == correlation_id)
        if actor_id is not None:
            stmt = stmt.where(AuditRow.actor_id == actor_id)
        stmt = stmt.order_by(AuditRow.at, AuditRow.id)
        if limit is not None:
            stmt = stmt.limit(limit)
        async with transaction(self._db, session, readonly=True) as s:
            return [_entry(row) for row in (await s.execute(stmt)).scalars()]

    async def unfinished(
        self, *, older_than: timedelta = timedelta(0), session: AsyncSession | None = None
    ) -> builtins.list[AuditEntry]:
        """`started` rows at least `older_than` old that have no outcome row: actions whose result is unknown."""
        outcome_row = aliased(AuditRow)
        has_outcome = exists().where(
            and_(outcome_row.correlation_id == AuditRow.correlation_id, outcome_row.outcome != "started")
        )
        stmt = (
            fresh(AuditRow)
            .where(AuditRow.outcome == "started", AuditRow.at <= self._db.clock() - older_than, ~has_outcome)
            .order_by(AuditRow.at, AuditRow.id)
        )
        async with transaction(self._db, session, readonly=True) as s:
            return [_entry(row) for row in (await s.execute(stmt)).scalars()]

    async def _insert(self, session: AsyncSession | None, **values: Any) -> AuditEntry | None:
        async with transaction(self._db, session) as s:
            stmt = (
                insert(self._db, AuditRow)
                .values(at=self._db.clock(), **values)
                # A second outcome for the same correlation id is refused by a partial unique index.
                .on_conflict_do_nothing()
                .returning(AuditRow)
                .execution_options(populate_existing=True)
            )
            row = (await s.execute(stmt)).scalar_one_or_none()
            return _entry(row) if row is not None else None


def redact(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `parameters` with string values under secret-looking keys replaced, at any depth.

    Only strings are redacted: a flag such as `forceChangePasswordNextSignIn: true` is not a secret and the
    audit should show it.
    """
    return {
        key: REDACTED if _SECRET_KEY.search(str(key)) and isinstance(value, str | bytes) else _redact_value(value)
        for key, value in parameters.items()
    }


def _redact_value(value: Any) -> Any:
    if isinstance(value, Mapping):
        return redact(value)
    if isinstance(value, list | tuple):
        return [_redact_value(item) for item in value]
    return value


def _truncate(error: str | None) -> str | None:
    if error is None or len(error) <= _MAX_ERROR_CHARS:
        return error
    return error[:_MAX_ERROR_CHARS] + "… [truncated]"


def _entry(row: AuditRow) -> AuditEntry:
    return AuditEntry(
        id=row.id,
        at=row.at,
        actor_id=row.actor_id,
        actor_upn=row.actor_upn,
        actor_name=row.actor_name,
        tenant_id=row.tenant_id,
        action=row.action,
        target=row.target,
        case_id=row.case_id,
        parameters=dict(row.parameters or {}),
        outcome=row.outcome,
        error=row.error,
        correlation_id=row.correlation_id,
    )


def entry_to_json(entry: AuditEntry) -> dict[str, Any]:
    """The JSON form of an audit row (ISO 8601 UTC timestamps)."""
    return {
        "id": entry.id,
        "at": entry.at.isoformat(),
        "actor_id": entry.actor_id,
        "actor_upn": entry.actor_upn,
        "actor_name": entry.actor_name,
        "tenant_id": entry.tenant_id,
        "action": entry.action,
        "target": entry.target,
        "case_id": entry.case_id,
        "parameters": entry.parameters,
        "outcome": entry.outcome,
        "error": entry.error,
        "correlation_id": entry.correlation_id,
    }

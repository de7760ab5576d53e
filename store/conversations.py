"""Users' conversation references, to message them proactively (e.g. "you can send mail again").

The reference is stored as JSON, the form `ConversationReference.serialize()` produces; the Teams edge rebuilds
it (`teams.proactive.reference_from`). The store keeps plain JSON and imports no bot SDK.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from datetime import UTC
from typing import Any

from sqlalchemy import bindparam, delete, func
from sqlalchemy.ext.asyncio import AsyncSession

from store._sql import fresh, insert, transaction
from store.db import Database
from store.models import ConversationRefRow
from store.records import ConversationRefRecord


class ConversationRefs:
    """Save and get conversation references by (tenant, user). One short transaction per call unless given one."""

    def __init__(self, db: Database) -> None:
        self._db = db
        columns = ("tenant_id", "user_aad_id", "reference", "locale", "time_zone", "updated_at")
        stmt = insert(db, ConversationRefRow).values({name: bindparam(name) for name in columns})
        # Built once: `Database.execute_once` keeps its compiled form.
        self._upsert = stmt.on_conflict_do_update(
            index_elements=[ConversationRefRow.tenant_id, ConversationRefRow.user_aad_id],
            set_={
                "reference": stmt.excluded.reference,
                "locale": func.coalesce(stmt.excluded.locale, ConversationRefRow.locale),
                "time_zone": func.coalesce(stmt.excluded.time_zone, ConversationRefRow.time_zone),
                "updated_at": stmt.excluded.updated_at,
            },
        )

    async def save(
        self,
        tenant_id: str,
        user_aad_id: str,
        reference: Mapping[str, Any],
        *,
        locale: str | None = None,
        time_zone: str | None = None,
        session: AsyncSession | None = None,
    ) -> ConversationRefRecord:
        """Store the user's latest reference. A None locale or time zone keeps the one stored before.

        (Not every activity carries them, and a message without a locale should not erase the user's language.)
        """
        now = self._db.clock()
        params = {"tenant_id": tenant_id, "user_aad_id": user_aad_id, "reference": dict(reference),
                  "locale": locale, "time_zone": time_zone, "updated_at": now}
        if session is not None:
            returning = self._upsert.returning(ConversationRefRow).execution_options(populate_existing=True)
            return _ref((await session.execute(returning, params)).scalar_one())
        # The bot saves the reference on a user's first turn (`teams.notify.ConversationKeeper`): one statement,
        # committed on its own, so on SQLite it never holds the write lock across an await (see
        # `Database.execute_once`). Hence no RETURNING: the record is what was written, read back only when a
        # None locale or time zone kept a stored one.
        await self._db.execute_once(self._upsert, params)
        if locale is None or time_zone is None:
            stored = await self.get(tenant_id, user_aad_id)
            if stored is not None:
                return stored
        return ConversationRefRecord(tenant_id=tenant_id, user_aad_id=user_aad_id, reference=dict(reference),
                                     locale=locale, time_zone=time_zone, updated_at=now.astimezone(UTC))

    async def get(
        self, tenant_id: str, user_aad_id: str, *, session: AsyncSession | None = None
    ) -> ConversationRefRecord | None:
        """The user's latest reference, or None if the bot never talked with them."""
        stmt = fresh(ConversationRefRow).where(
            ConversationRefRow.tenant_id == tenant_id, ConversationRefRow.user_aad_id == user_aad_id
        )
        async with transaction(self._db, session, readonly=True) as s:
            row = (await s.execute(stmt)).scalar_one_or_none()
            return _ref(row) if row is not None else None

    async def list(
        self, tenant_id: str, *, limit: int | None = 1000, session: AsyncSession | None = None
    ) -> builtins.list[ConversationRefRecord]:
        """The tenant's references, most recently updated first (who has the bot installed, for alert DMs)."""
        stmt = (
            fresh(ConversationRefRow)
            .where(ConversationRefRow.tenant_id == tenant_id)
            .order_by(ConversationRefRow.updated_at.desc(), ConversationRefRow.user_aad_id)
        )
        if limit is not None:
            stmt = stmt.limit(limit)
        async with transaction(self._db, session, readonly=True) as s:
            return [_ref(row) for row in (await s.execute(stmt)).scalars()]

    async def forget(self, tenant_id: str, user_aad_id: str, conversation_id: str, *,
                     session: AsyncSession | None = None) -> bool:
        """Delete the user's reference if it still points at `conversation_id` (the connector said that
        conversation is gone; a newer reference saved meanwhile is kept). True if one was deleted."""
        async with transaction(self._db, session) as s:
            stmt = fresh(ConversationRefRow).where(
                ConversationRefRow.tenant_id == tenant_id, ConversationRefRow.user_aad_id == user_aad_id)
            row = (await s.execute(stmt)).scalar_one_or_none()
            if row is None or conversation_of(row.reference) != conversation_id:
                return False
            result = await s.execute(
                delete(ConversationRefRow)
                .where(ConversationRefRow.tenant_id == tenant_id, ConversationRefRow.user_aad_id == user_aad_id,
                       ConversationRefRow.updated_at == row.updated_at)
                .returning(ConversationRefRow.user_aad_id)
                .execution_options(synchronize_session=False))
            return result.first() is not None

    async def holder(self, tenant_id: str, conversation_id: str, *,
                     session: AsyncSession | None = None) -> str | None:
        """The user whose reference to `conversation_id` is the newest, or None.

        A personal conversation belongs to one user. Teams never reuses its id for another user, but the Agents
        Playground gives every user of every run the same personal chat: an older reference of another user to it
        is stale, and a message sent with it would appear in someone else's chat."""
        stmt = (
            fresh(ConversationRefRow)
            .where(ConversationRefRow.tenant_id == tenant_id,
                   ConversationRefRow.reference[("conversation", "id")].as_string() == conversation_id)
            .order_by(ConversationRefRow.updated_at.desc(), ConversationRefRow.user_aad_id)
            .limit(1)
        )
        async with transaction(self._db, session, readonly=True) as s:
            row = (await s.execute(stmt)).scalar_one_or_none()
            return row.user_aad_id if row is not None else None


def conversation_of(reference: Mapping[str, Any]) -> str:
    """The conversation id of a stored reference ("" when it has none)."""
    conversation = reference.get("conversation")
    return str(conversation.get("id") or "") if isinstance(conversation, Mapping) else ""


def _ref(row: ConversationRefRow) -> ConversationRefRecord:
    return ConversationRefRecord(
        tenant_id=row.tenant_id,
        user_aad_id=row.user_aad_id,
        reference=dict(row.reference),
        locale=row.locale,
        time_zone=row.time_zone,
        updated_at=row.updated_at,
    )

"""Users' conversation references, to message them proactively (e.g. "you can send mail again").

The reference is stored as JSON, the form `ConversationReference.serialize()` produces; the Teams edge rebuilds
it (`teams.proactive.reference_from`). The store keeps plain JSON and imports no bot SDK.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from datetime import UTC
from typing import Any

from sqlalchemy import bindparam, func
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


def _ref(row: ConversationRefRow) -> ConversationRefRecord:
    return ConversationRefRecord(
        tenant_id=row.tenant_id,
        user_aad_id=row.user_aad_id,
        reference=dict(row.reference),
        locale=row.locale,
        time_zone=row.time_zone,
        updated_at=row.updated_at,
    )

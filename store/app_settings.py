"""Runtime settings changed from Teams (key → JSON value), e.g. the IT alert channel.

Distinct from `config.Settings`, which is the process configuration read once at start: these are values
an admin sets while the bot runs, so every instance must see them, hence the database.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from store._sql import fresh, insert, transaction
from store.db import Database
from store.models import AppSettingRow
from store.records import SettingRecord

# Well-known keys, so producers and consumers agree on the spelling.
IT_ALERT_CHANNEL = "it_alert_channel"


class AppSettings:
    """Get, set and delete runtime settings. One short transaction per call unless given `session`."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, key: str, default: Any = None, *, session: AsyncSession | None = None) -> Any:
        """The setting's value, or `default` when it is not set."""
        async with transaction(self._db, session, readonly=True) as s:
            row = (await s.execute(select(AppSettingRow.value).where(AppSettingRow.key == key))).first()
            return default if row is None else row[0]

    async def get_record(self, key: str, *, session: AsyncSession | None = None) -> SettingRecord | None:
        """The setting with who changed it and when, or None."""
        async with transaction(self._db, session, readonly=True) as s:
            row = (await s.execute(fresh(AppSettingRow).where(AppSettingRow.key == key))).scalar_one_or_none()
            return None if row is None else SettingRecord(row.key, row.value, row.updated_at, row.updated_by)

    async def set(
        self, key: str, value: Any, *, updated_by: str | None = None, session: AsyncSession | None = None
    ) -> SettingRecord:
        """Create or replace a setting. `value` must be JSON-serialisable."""
        now = self._db.clock()
        async with transaction(self._db, session) as s:
            stmt = insert(self._db, AppSettingRow).values(key=key, value=value, updated_at=now, updated_by=updated_by)
            stmt = stmt.on_conflict_do_update(
                index_elements=[AppSettingRow.key],
                set_={
                    "value": stmt.excluded.value,
                    "updated_at": stmt.excluded.updated_at,
                    "updated_by": stmt.excluded.updated_by,
                },
            )
            await s.execute(stmt)
        return SettingRecord(key, value, now, updated_by)

    async def delete(self, key: str, *, session: AsyncSession | None = None) -> bool:
        """Remove a setting. True if it existed."""
        stmt = (
            delete(AppSettingRow)
            .where(AppSettingRow.key == key)
            .returning(AppSettingRow.key)
            .execution_options(synchronize_session=False)
        )
        async with transaction(self._db, session) as s:
            return (await s.execute(stmt)).first() is not None

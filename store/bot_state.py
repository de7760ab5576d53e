"""`BotStates`: the documents of the bot's conversation, user and dialog state, with e-tags, in SQL.

The rows behind the Teams edge's Agents SDK `Storage` (`teams.storage.SqlStorage`, which turns state objects
into JSON documents and back); this module knows only keys, JSON documents and e-tags, no bot SDK.

* Every successful write stores a fresh e-tag. Writing with an expected e-tag that differs from the stored one
  raises `EtagConflict` (a `KeyError`, like botbuilder's `MemoryStorage`'s "Etag conflict"); no expected e-tag
  (None or `"*"`) overwrites; an expected e-tag on a key that does not exist creates it.
* The check is a conditional `UPDATE ... WHERE etag = :expected` in the database, so it holds across processes and
  instances, not just inside one. All changes of one `write_many()` commit together or not at all.

Keys are hashed (SHA-256) for the primary key; the full key is stored next to it (see `BotStateRow`).

A database outage (locked past the busy timeout, read-only, unreachable) raises `store.StoreUnavailable` from every
method, reads included, and is not logged here: a turn's state is read on every turn, and the Teams edge says once
per outage that the store is down (`teams.outage`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store._sql import insert
from store.db import Database, unavailable_on_outage
from store.models import BotStateRow

logger = logging.getLogger(__name__)

WILDCARD = "*"
# The read statement, built once (SQLAlchemy caches its compiled form); an expanding IN takes any number of keys.
_CORE_READ = select(BotStateRow.key, BotStateRow.document, BotStateRow.etag).where(
    BotStateRow.key_hash.in_(bindparam("hashes", expanding=True))
)
# The same on SQLite's driver connection. The document column is JSON text there (SQLAlchemy's JSON type).
_SQLITE_READ = f"SELECT key, document, etag FROM {BotStateRow.__tablename__} WHERE key_hash IN ({{params}})"

StateWrite = tuple[str, str | None, Any]
"""One change: the key, the e-tag the writer expects (None or `"*"`: any) and the JSON document."""


class EtagConflict(KeyError):
    """The stored item changed since it was read (its e-tag is not the one the writer had)."""

    def __init__(self, key: str, expected: str, current: str | None) -> None:
        super().__init__(f"Etag conflict.\nOriginal: {expected}\r\nCurrent: {current}")
        self.key = key
        self.expected = expected
        self.current = current

    def __str__(self) -> str:
        return str(self.args[0])


def key_hash(key: str) -> str:
    """The primary key of a storage key: its SHA-256, hex (fixed length, whatever the key's length)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class BotStates:
    """State documents by key, with e-tags checked in the database (SQLite or PostgreSQL)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        columns = ("key_hash", "key", "document", "etag", "updated_at")
        stmt = insert(db, BotStateRow).values({name: bindparam(name) for name in columns})
        replace = {"document": stmt.excluded.document, "etag": stmt.excluded.etag,
                   "updated_at": stmt.excluded.updated_at}
        # Built once: `Database.execute_once` keeps their compiled form.
        self._upsert = stmt.on_conflict_do_update(index_elements=[BotStateRow.key_hash], set_=replace)
        self._upsert_if_unchanged = stmt.on_conflict_do_update(
            index_elements=[BotStateRow.key_hash], set_=replace, where=BotStateRow.etag == bindparam("expected")
        ).returning(BotStateRow.key_hash)

    async def read(self, keys: Iterable[str]) -> list[tuple[str, Any, str]]:
        """The stored `(key, document, etag)` of `keys`; missing keys are absent."""
        hashes = list({key_hash(key) for key in keys})
        if not hashes:
            return []
        async with unavailable_on_outage(log=False):
            return await (self._read_sqlite(hashes) if self._db.is_sqlite else self._read_core(hashes))

    async def _read_sqlite(self, hashes: list[str]) -> list[tuple[str, Any, str]]:
        # Every turn reads its state, so this is the store's hottest query. An ORM session costs a BEGIN, the
        # SELECT, a COMMIT and a few more hops through aiosqlite's thread (about 3 ms of CPU per read, a third of
        # a `help` turn: docs/PERFORMANCE.md); one statement on the pooled driver connection costs about 0.5 ms.
        # The connection is in autocommit mode (see store.db), so the SELECT is its own consistent snapshot.
        sql = _SQLITE_READ.format(params=",".join("?" * len(hashes)))
        async with self._db.read_engine.connect() as conn:
            raw = await conn.get_raw_connection()
            driver: Any = raw.driver_connection  # aiosqlite's Connection
            rows = await driver.execute_fetchall(sql, hashes)
        return [(key, json.loads(document) if isinstance(document, str) else document, etag)
                for key, document, etag in rows]

    async def _read_core(self, hashes: list[str]) -> list[tuple[str, Any, str]]:
        async with self._db.read_engine.connect() as conn:
            result = await conn.execute(_CORE_READ, {"hashes": hashes})
            return [(key, document, etag) for key, document, etag in result]

    async def write(self, changes: Sequence[StateWrite]) -> None:
        """Store `changes`, checking e-tags; raises `EtagConflict` and writes nothing of them on a conflict."""
        if not changes:
            return
        if len(changes) == 1:  # what a turn writes: one key per state
            await self._write_alone(*changes[0])
            return
        async with self._db.transaction() as session:
            for key, etag, document in changes:
                await self._write_one(session, key, etag, document)

    async def delete(self, keys: Iterable[str]) -> None:
        """Remove the documents of `keys`; unknown keys are ignored."""
        hashes = [key_hash(key) for key in keys]
        if not hashes:
            return
        async with self._db.transaction() as session:
            await session.execute(
                delete(BotStateRow)
                .where(BotStateRow.key_hash.in_(hashes))
                .execution_options(synchronize_session=False)
            )

    async def _write_alone(self, key: str, etag: str | None, document: Any) -> None:
        # One statement that checks the e-tag itself, committed on its own: on SQLite it never holds the write
        # lock across an await (`Database.execute_once`). A new key is inserted; a stored one is updated only
        # when its e-tag is the expected one, and only then does RETURNING give a row.
        params = {"key_hash": key_hash(key), "key": key, "document": document, "etag": uuid.uuid4().hex,
                  "updated_at": self._db.clock()}
        if etag is None or etag == WILDCARD:
            await self._db.execute_once(self._upsert, params)
            return
        if await self._db.execute_once(self._upsert_if_unchanged, {**params, "expected": etag}):
            return
        async with unavailable_on_outage(log=False), self._db.read_engine.connect() as conn:
            current = await conn.scalar(select(BotStateRow.etag).where(BotStateRow.key_hash == params["key_hash"]))
        logger.info("storage e-tag conflict on %r: expected %s, stored %s", key, etag, current)
        raise EtagConflict(key, etag, current)

    async def _write_one(self, session: AsyncSession, key: str, etag: str | None, document: Any) -> None:
        h = key_hash(key)
        new_etag = uuid.uuid4().hex
        now = self._db.clock()
        if etag is None or etag == WILDCARD:
            stmt = insert(self._db, BotStateRow).values(
                key_hash=h, key=key, document=document, etag=new_etag, updated_at=now
            )
            stmt = stmt.on_conflict_do_update(
                index_elements=[BotStateRow.key_hash],
                set_={"document": stmt.excluded.document, "etag": stmt.excluded.etag,
                      "updated_at": stmt.excluded.updated_at},
            )
            await session.execute(stmt)
            return
        updated = (
            update(BotStateRow)
            .where(BotStateRow.key_hash == h, BotStateRow.etag == etag)
            .values(document=document, etag=new_etag, updated_at=now)
            .returning(BotStateRow.key_hash)
            .execution_options(synchronize_session=False)
        )
        if (await session.execute(updated)).first() is not None:
            return
        # Not updated: either the key is new (an e-tag on a new key creates it, as in MemoryStorage) or the
        # stored e-tag differs. The INSERT tells the two apart without a race.
        created = (
            insert(self._db, BotStateRow)
            .values(key_hash=h, key=key, document=document, etag=new_etag, updated_at=now)
            .on_conflict_do_nothing()
            .returning(BotStateRow.key_hash)
        )
        if (await session.execute(created)).first() is not None:
            return
        current = await session.scalar(select(BotStateRow.etag).where(BotStateRow.key_hash == h))
        logger.info("storage e-tag conflict on %r: expected %s, stored %s", key, etag, current)
        raise EtagConflict(key, etag, current)

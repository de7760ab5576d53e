"""`SqlStorage`: Bot Framework `Storage` (conversation, user and dialog state) in the store's database.

Semantics follow botbuilder's `MemoryStorage` and the Azure storages (`CosmosDbPartitionedStorage`,
`BlobStorage`), so `ConversationState`, `UserState` and dialogs behave exactly as with them:

* Items are plain dicts or objects (`StoreItem` or any class). They are serialised with jsonpickle's
  `Pickler().flatten()` and restored with `Unpickler().restore()`, as the Azure storages do, which is what lets
  `DialogState` / `DialogInstance` objects (and whatever a dialog keeps in its state) survive a restart.
* E-tags: every successful write stores a fresh e-tag, and `read()` returns items with it in `e_tag` (dict key
  or attribute). Writing an item whose `e_tag` differs from the stored one raises `EtagConflict` (a `KeyError`,
  like MemoryStorage's "Etag conflict"); an item without `e_tag`, or with `"*"`, overwrites (last write wins);
  an empty `e_tag` is refused. Writing with an e-tag to a key that does not exist creates it.
* The e-tag check is a conditional `UPDATE ... WHERE etag = :expected` in the database, so it holds across
  processes and instances, not just inside one. All changes of one `write()` commit together or not at all.
* Like the Azure storages, `write()` does not change the caller's objects: a second save of the same state
  object within a turn conflicts with the first; `BotState.save_changes` saves once per turn.

Keys are hashed (SHA-256) for the primary key; the full key is stored next to it (see `BotStateRow`).
Restoring runs jsonpickle on documents this bot wrote itself; the database is trusted like the code.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from botbuilder.core import Storage
from jsonpickle.pickler import Pickler  # type: ignore[import-untyped]
from jsonpickle.unpickler import Unpickler  # type: ignore[import-untyped]
from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store._sql import insert
from store.db import Database
from store.models import BotStateRow

logger = logging.getLogger(__name__)

_ETAG_FIELDS = ("e_tag", "eTag")
WILDCARD = "*"
# The read statement, built once (SQLAlchemy caches its compiled form); an expanding IN takes any number of keys.
_CORE_READ = select(BotStateRow.key, BotStateRow.document, BotStateRow.etag).where(
    BotStateRow.key_hash.in_(bindparam("hashes", expanding=True))
)
# The same on SQLite's driver connection. The document column is JSON text there (SQLAlchemy's JSON type).
_SQLITE_READ = f"SELECT key, document, etag FROM {BotStateRow.__tablename__} WHERE key_hash IN ({{params}})"


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


class SqlStorage(Storage):  # type: ignore[misc]  # botbuilder ships no type information
    """Bot Framework storage in SQL (SQLite or PostgreSQL), safe across processes."""

    def __init__(self, db: Database) -> None:
        super().__init__()
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

    async def read(self, keys: Iterable[str] | None) -> dict[str, Any]:
        """The stored items for `keys` (missing keys are absent from the result), each with its `e_tag`."""
        if not keys:
            return {}
        hashes = list({key_hash(key) for key in keys})
        rows = await (self._read_sqlite(hashes) if self._db.is_sqlite else self._read_core(hashes))
        return {key: _restore(document, etag) for key, document, etag in rows}

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

    async def write(self, changes: Mapping[str, Any] | None) -> None:
        """Store `changes` (key → item), checking e-tags; raises `EtagConflict` and writes nothing on conflict."""
        if changes is None:
            raise ValueError("Changes are required when writing")
        if not changes:
            return
        prepared = []
        for key, item in changes.items():
            etag = _etag_of(item)
            if etag == "":
                raise ValueError(f"SqlStorage.write(): etag missing for key {key!r}")
            prepared.append((key, etag, _flatten(item)))
        if len(prepared) == 1:  # what `BotState.save_changes` writes: one key per state
            await self._write_alone(*prepared[0])
            return
        async with self._db.transaction() as session:
            for key, etag, document in prepared:
                await self._write_one(session, key, etag, document)

    async def delete(self, keys: Iterable[str] | None) -> None:
        """Remove the items for `keys`; unknown keys are ignored."""
        if not keys:
            return
        hashes = [key_hash(key) for key in keys]
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
        async with self._db.read_engine.connect() as conn:
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


def _etag_of(item: Any) -> str | None:
    for name in _ETAG_FIELDS:
        value = item.get(name) if isinstance(item, Mapping) else getattr(item, name, None)
        if value is not None:
            return str(value)
    return None


def _flatten(item: Any) -> Any:
    document = Pickler().flatten(item)
    if isinstance(document, dict):
        # The e-tag lives in its own column; a stale copy inside the document would come back on read.
        for name in _ETAG_FIELDS:
            document.pop(name, None)
    return document


def _restore(document: Any, etag: str) -> Any:
    if isinstance(document, dict):
        document = {**document, "e_tag": etag}
    return Unpickler(safe=True).restore(document)

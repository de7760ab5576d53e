"""`SqlStorage`: Bot Framework `Storage` (conversation, user and dialog state) on the store's `BotStates`.

Semantics follow botbuilder's `MemoryStorage` and the Azure storages (`CosmosDbPartitionedStorage`,
`BlobStorage`), so `ConversationState`, `UserState` and dialogs behave exactly as with them:

* Items are plain dicts or objects (`StoreItem` or any class). They are serialised with jsonpickle's
  `Pickler().flatten()` and restored with `Unpickler().restore()`, as the Azure storages do, which is what lets
  `DialogState` / `DialogInstance` objects (and whatever a dialog keeps in its state) survive a restart.
* E-tags: every successful write stores a fresh e-tag, and `read()` returns items with it in `e_tag` (dict key
  or attribute). Writing an item whose `e_tag` differs from the stored one raises `store.EtagConflict` (a
  `KeyError`, like MemoryStorage's "Etag conflict"); an item without `e_tag`, or with `"*"`, overwrites (last write
  wins); an empty `e_tag` is refused. Writing with an e-tag to a key that does not exist creates it.
* The e-tag check is the database's (`store.bot_state`), so it holds across processes and instances, not just
  inside one. All changes of one `write()` commit together or not at all.
* Like the Azure storages, `write()` does not change the caller's objects: a second save of the same state
  object within a turn conflicts with the first; `BotState.save_changes` saves once per turn.

The SDK's side (the `Storage` base class, the objects and their pickling) lives here, at the Teams edge; the store
keeps JSON documents and e-tags only. Restoring runs jsonpickle on documents this bot wrote itself; the database
is trusted like the code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from botbuilder.core import Storage
from jsonpickle.pickler import Pickler  # type: ignore[import-untyped]
from jsonpickle.unpickler import Unpickler  # type: ignore[import-untyped]

from store.bot_state import BotStates, StateWrite
from store.db import Database

_ETAG_FIELDS = ("e_tag", "eTag")


class SqlStorage(Storage):
    """Bot Framework storage in SQL (SQLite or PostgreSQL), safe across processes."""

    def __init__(self, db: Database) -> None:
        super().__init__()
        self._states = BotStates(db)

    async def read(self, keys: Iterable[str] | None) -> dict[str, Any]:
        """The stored items for `keys` (missing keys are absent from the result), each with its `e_tag`."""
        if not keys:
            return {}
        return {key: _restore(document, etag) for key, document, etag in await self._states.read(keys)}

    async def write(self, changes: Mapping[str, Any] | None) -> None:
        """Store `changes` (key → item), checking e-tags; raises `EtagConflict` and writes nothing on conflict."""
        if changes is None:
            raise ValueError("Changes are required when writing")
        prepared: list[StateWrite] = []
        for key, item in changes.items():
            etag = _etag_of(item)
            if etag == "":
                raise ValueError(f"SqlStorage.write(): etag missing for key {key!r}")
            prepared.append((key, etag, _flatten(item)))
        await self._states.write(prepared)

    async def delete(self, keys: Iterable[str] | None) -> None:
        """Remove the items for `keys`; unknown keys are ignored."""
        if not keys:
            return
        await self._states.delete(keys)


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

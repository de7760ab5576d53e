"""`SqlStorage`: the Agents SDK's `Storage` (conversation, user and dialog state) on the store's `BotStates`.

The SDK's states (`ConversationState`, `UserState`, the `TurnState` of `AgentApplication`) read one item per key
with `read(keys, target_cls=CachedAgentState)` and write it back with `write({key: item})`; the item gives its
JSON with `store_item_to_json()`. That JSON is not plain JSON for conversation state: the dialogs keep
`DialogState` / `DialogInstance` dataclasses there, and a waiting prompt keeps `PromptOptions` holding `Activity`
(pydantic) models and `Choice` dataclasses. The codec below (`encode` / `decode`) turns those into tagged JSON
objects (`{"$type": "DialogState", ...}`) and back, for a fixed list of SDK types only (never an import named by
the database), so a dialog continues across turns, processes and instances.

E-tags (optimistic concurrency; the SDK 1.9.0 has none of its own):

* Every successful write stores a fresh e-tag, and `read()` hands it back inside the item's JSON as `e_tag` (for
  `CachedAgentState`, a key of the state dict, as botbuilder's storages did), or as an `e_tag` attribute when the
  item's class drops unknown keys. Writing an item whose `e_tag` differs from the stored one raises
  `store.EtagConflict` (a `KeyError`, like botbuilder's "Etag conflict"); an item without `e_tag`, or with `"*"`,
  overwrites (last write wins); an empty `e_tag` is refused. Writing with an e-tag to a new key creates it.
* The check is the database's (`store.bot_state`), so it holds across processes and instances. All changes of one
  `write()` commit together or not at all.
* `write()` does not change the caller's objects (as the Azure storages): a second save of the same state within a
  turn conflicts with the first. The SDK's `AgentState.save` writes only when the state's hash changed.

A conversation state that was never stored and holds only an empty dialog stack (a `help`, any one-turn answer) is
not written at all (`nothing_to_store`): reading the missing item yields the same empty stack.

Documents written by the botbuilder version (jsonpickle, `"py/object"` keys) cannot be restored into the SDK's
types: such a property is dropped on read (the conversation starts over), the rest of the item is kept.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any, TypeVar, overload

from microsoft_agents.hosting.core import Storage, StoreItem
from pydantic import BaseModel

from store.bot_state import BotStates, StateWrite
from store.db import Database

log = logging.getLogger(__name__)

T = TypeVar("T", bound=StoreItem)

DIALOG_STATE_PROPERTY = "DialogState"
"""The conversation-state property that holds the dialog stack (`DialogSet`'s accessor)."""

_ETAG_FIELDS = ("e_tag", "eTag")
_TYPE = "$type"
_VALUE = "$value"


class JsonItem(dict[str, Any], StoreItem):
    """A plain JSON object as a `StoreItem`: what `read()` returns when no `target_cls` is given."""

    def store_item_to_json(self) -> dict[str, Any]:
        """The object itself (a copy)."""
        return dict(self)

    @staticmethod
    def from_json_to_store_item(json_data: Any) -> JsonItem:
        """A `JsonItem` holding `json_data` (an object)."""
        return JsonItem(json_data)


class SqlStorage(Storage):
    """Agents SDK storage in SQL (SQLite or PostgreSQL), with e-tags, safe across processes."""

    def __init__(self, db: Database) -> None:
        super().__init__()
        self._states = BotStates(db)

    @overload
    async def read(self, keys: Iterable[str] | None, *, target_cls: type[T], **kwargs: Any) -> dict[str, T]: ...

    @overload
    async def read(self, keys: Iterable[str] | None, **kwargs: Any) -> dict[str, JsonItem]: ...

    async def read(self, keys: Iterable[str] | None, *, target_cls: type[StoreItem] = JsonItem,
                   **kwargs: Any) -> Mapping[str, StoreItem]:
        """The stored items for `keys` as `target_cls` (missing keys are absent), each carrying its `e_tag`."""
        if not keys:
            return {}
        return {key: _restore(key, document, etag, target_cls)
                for key, document, etag in await self._states.read(keys)}

    async def write(self, changes: Mapping[str, StoreItem | Mapping[str, Any]] | None) -> None:
        """Store `changes` (key → item), checking e-tags; raises `EtagConflict` and writes nothing on conflict."""
        if changes is None:
            raise ValueError("Changes are required when writing")
        prepared: list[StateWrite] = []
        for key, item in changes.items():
            document = item.store_item_to_json() if isinstance(item, StoreItem) else item
            etag = _etag_of(item, document)
            if etag == "":
                raise ValueError(f"SqlStorage.write(): etag missing for key {key!r}")
            if etag is None and isinstance(document, Mapping) and nothing_to_store(document):
                continue
            prepared.append((key, etag, _flatten(document)))
        await self._states.write(prepared)

    async def delete(self, keys: Iterable[str] | None) -> None:
        """Remove the items for `keys`; unknown keys are ignored."""
        if not keys:
            return
        await self._states.delete(keys)


def nothing_to_store(state: Mapping[str, Any] | None) -> bool:
    """True for a conversation state that was never stored and holds only an empty dialog stack.

    Writing it would store what reading a missing item already yields; anything else (a stored item, even one
    whose dialog just ended, or any other property) is written.
    """
    if not state or any(marker in state for marker in _ETAG_FIELDS) or set(state) != {DIALOG_STATE_PROPERTY}:
        return False
    from microsoft_agents.hosting.dialogs import DialogState  # heavy; already loaded once a dialog ran

    dialog_state = state[DIALOG_STATE_PROPERTY]
    return isinstance(dialog_state, DialogState) and not dialog_state.dialog_stack


def _etag_of(item: Any, document: Any) -> str | None:
    # The JSON first: for `CachedAgentState` that is the state dict the turn saw (and may have set to "*").
    for source in (document, item):
        for name in _ETAG_FIELDS:
            value = source.get(name) if isinstance(source, Mapping) else getattr(source, name, None)
            if value is not None:
                return str(value)
    return None


def _flatten(document: Any) -> Any:
    if isinstance(document, Mapping):
        # The e-tag lives in its own column; a stale copy inside the document would come back on read.
        return {str(name): encode(value) for name, value in document.items() if name not in _ETAG_FIELDS}
    return encode(document)


def _restore(key: str, document: Any, etag: str, target_cls: type[StoreItem]) -> StoreItem:
    if isinstance(document, dict):
        restored: dict[str, Any] = {}
        for name, value in document.items():
            try:
                restored[name] = decode(value)
            except LegacyDocument:
                log.info("bot state %r: dropped property %r stored by the botbuilder version", key, name)
        restored["e_tag"] = etag
        item = target_cls.from_json_to_store_item(restored)
    else:
        item = target_cls.from_json_to_store_item(decode(document))
    if not _carries_etag(item):
        try:
            item.e_tag = etag  # type: ignore[attr-defined]
        except AttributeError:  # a class with __slots__: the write overwrites (no e-tag)
            pass
    return item


def _carries_etag(item: StoreItem) -> bool:
    if getattr(item, "e_tag", None) is not None:
        return True
    state = item.store_item_to_json()
    return isinstance(state, Mapping) and state.get("e_tag") is not None


# The codec ------------------------------------------------------------------------------------------------------


class LegacyDocument(ValueError):
    """A value pickled by the botbuilder version (jsonpickle): it names botbuilder classes that no longer exist."""


@dataclasses.dataclass(frozen=True)
class _Codec:
    """How one non-JSON type is stored: its tag, the type, and the two conversions."""

    tag: str
    cls: type
    dump: Callable[[Any], Any]
    load: Callable[[Any], Any]
    # Inline: the dump is an object of Python field names, stored next to "$type". Otherwise (pydantic models,
    # whose camelCase fields could be named anything, and scalars) it is stored under "$value".
    inline: bool = False


def _dataclass_codec(cls: type) -> _Codec:
    names = [f.name for f in dataclasses.fields(cls) if f.init]

    def dump(value: Any) -> dict[str, Any]:
        # Field by field (not dataclasses.asdict, which would turn nested dataclasses into untagged dicts).
        return {name: encode(getattr(value, name)) for name in names}

    def load(data: Any) -> Any:
        return cls(**{name: decode(data[name]) for name in names if name in data})

    return _Codec(cls.__name__, cls, dump, load, inline=True)


def _model_codec(cls: type[BaseModel]) -> _Codec:
    return _Codec(cls.__name__, cls, lambda value: value.model_dump(mode="json", by_alias=True, exclude_none=True),
                  cls.model_validate)


def _enum_codec(cls: type[enum.Enum]) -> _Codec:
    return _Codec(cls.__name__, cls, lambda value: value.value, cls)


@functools.cache
def _codecs() -> dict[str, _Codec]:
    """The types dialog state may hold, by tag. Imported on first use: the dialogs package is heavy to import."""
    from microsoft_agents import activity
    from microsoft_agents.hosting.dialogs import DialogInstance, DialogState
    from microsoft_agents.hosting.dialogs.choices import Choice, ChoiceFactoryOptions, FoundChoice, ListStyle
    from microsoft_agents.hosting.dialogs.choices.models.found_value import FoundValue
    from microsoft_agents.hosting.dialogs.prompts import PromptOptions

    prompt_fields = ("prompt", "retry_prompt", "choices", "style", "validations", "number_of_attempts")
    codecs = [
        *(_dataclass_codec(cls) for cls in (DialogState, DialogInstance, Choice, ChoiceFactoryOptions, FoundChoice,
                                            FoundValue)),
        _enum_codec(ListStyle),
        _Codec("PromptOptions", PromptOptions,
               lambda value: {name: encode(getattr(value, name)) for name in prompt_fields
                              if getattr(value, name, None) is not None},
               lambda data: PromptOptions(**{name: decode(item) for name, item in data.items()
                                             if name in prompt_fields}), inline=True),
        _Codec("datetime", datetime, datetime.isoformat, datetime.fromisoformat),
        _Codec("date", date, date.isoformat, date.fromisoformat),
        _Codec("timedelta", timedelta, timedelta.total_seconds, lambda seconds: timedelta(seconds=seconds)),
    ]
    # The protocol models (Activity, CardAction, Attachment, ...): pydantic, validated again when read.
    models = (getattr(activity, name) for name in getattr(activity, "__all__", dir(activity)))
    codecs += [_model_codec(cls) for cls in models if isinstance(cls, type) and issubclass(cls, BaseModel)]
    by_tag = {codec.tag: codec for codec in codecs}
    if len(by_tag) != len(codecs):  # a tag naming two types would restore the wrong one
        raise RuntimeError("two state types share a tag")
    return by_tag


@functools.cache
def _codec_by_type() -> dict[type, _Codec]:
    return {codec.cls: codec for codec in _codecs().values()}


def encode(value: Any) -> Any:
    """`value` as JSON: SDK state types become `{"$type": tag, ...}` objects; raises TypeError for other types."""
    if value is None or isinstance(value, bool | float) or type(value) in (str, int):
        return value
    codec = _codec_by_type().get(type(value))
    if codec is not None:
        dumped = codec.dump(value)
        return {_TYPE: codec.tag, **dumped} if codec.inline else {_TYPE: codec.tag, _VALUE: dumped}
    if isinstance(value, enum.Enum):  # a str / int enum of ours (an intent): its value is what code compares
        return encode(value.value)
    if isinstance(value, str | int):
        return str(value) if isinstance(value, str) else int(value)
    if isinstance(value, Mapping):
        encoded = {str(name): encode(item) for name, item in value.items()}
        return {_TYPE: "dict", _VALUE: encoded} if _TYPE in encoded else encoded
    if isinstance(value, list | tuple):
        return [encode(item) for item in value]
    if isinstance(value, StoreItem):
        return encode(value.store_item_to_json())
    raise TypeError(f"bot state cannot hold a {type(value).__module__}.{type(value).__qualname__}")


def decode(data: Any) -> Any:
    """The value `encode` turned into `data`; raises `LegacyDocument` for what the botbuilder version pickled."""
    if isinstance(data, list):
        return [decode(item) for item in data]
    if not isinstance(data, dict):
        return data
    tag = data.get(_TYPE)
    if tag is None:
        if any(isinstance(name, str) and name.startswith("py/") for name in data):
            raise LegacyDocument(str(data.get("py/object", "jsonpickle")))
        return {name: decode(item) for name, item in data.items()}
    if tag == "dict":
        return {name: decode(item) for name, item in data[_VALUE].items()}
    codec = _codecs().get(tag)
    if codec is None:
        raise ValueError(f"bot state holds an unknown type {tag!r}")
    return codec.load({k: v for k, v in data.items() if k != _TYPE} if codec.inline else data[_VALUE])

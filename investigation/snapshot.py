"""Storing an `Investigation` as JSON and reading it back, so a card can be re-drawn without asking Microsoft 365.

The codec is driven by the dataclasses' type hints (frozen records, tuples, optionals, enums, datetimes,
mappings), so a new field needs no code here. Unknown keys are ignored and missing ones take their
defaults, which keeps old snapshots readable after a field is added. Fields with `metadata={"transient": True}` are
not stored (bulk evidence the findings already summarise).
"""

from __future__ import annotations

import collections.abc as cabc
import dataclasses
import types
import typing
from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from functools import cache
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

from investigation.collect import Investigation

SNAPSHOT_VERSION = 1
T = TypeVar("T")


def dump(value: Any) -> Any:
    """A JSON-compatible rendering of dataclasses, enums, datetimes, tuples and mappings."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        # A field marked `transient` (the message trace's thousands of rows: judged once, drawn from the findings)
        # is left out and comes back as its default.
        return {f.name: dump(getattr(value, f.name)) for f in dataclasses.fields(value)
                if not f.metadata.get("transient")}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): dump(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [dump(v) for v in value]
    return value


@cache
def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def load(cls: type[T], data: Any) -> T:
    """Rebuild an instance of `cls` (a type hint) from `dump`'s output."""
    return typing.cast(T, _load(cls, data))


def _load(hint: Any, data: Any) -> Any:
    if data is None:
        return None
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        options = [a for a in get_args(hint) if a is not type(None)]
        if len(options) == 1:
            return _load(options[0], data)
        for option in options:
            try:
                return _load(option, data)
            except (TypeError, ValueError, KeyError):
                continue
        return data
    if origin is tuple:
        args = get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_load(args[0], item) for item in data)
        return tuple(_load(a, item) for a, item in zip(args, data, strict=False))
    if origin in (list, cabc.Sequence):
        (arg,) = get_args(hint) or (Any,)
        return tuple(_load(arg, item) for item in data)
    if origin in (dict, cabc.Mapping):
        args = get_args(hint)
        value_hint = args[1] if len(args) == 2 else Any
        return {k: _load(value_hint, v) for k, v in dict(data).items()}
    if hint is Any or hint is object:
        return data
    if isinstance(hint, type):
        if dataclasses.is_dataclass(hint):
            hints = _hints(hint)
            kwargs = {}
            for f in dataclasses.fields(hint):
                if f.name in data and f.init:
                    kwargs[f.name] = _load(hints[f.name], data[f.name])
            return hint(**kwargs)
        if issubclass(hint, Enum):
            return hint(data)
        if issubclass(hint, datetime):
            return datetime.fromisoformat(data)
        if hint in (str, int, float, bool):
            if not isinstance(data, hint):
                raise TypeError(f"expected {hint.__name__}")
            return data
    return data


def to_snapshot(investigation: Investigation) -> dict[str, Any]:
    """The investigation as a JSON-compatible dict with a version marker."""
    return {"version": SNAPSHOT_VERSION, "investigation": dump(investigation)}


def from_snapshot(data: Mapping[str, Any]) -> Investigation | None:
    """The investigation stored by `to_snapshot`, or None when the snapshot is missing or unreadable."""
    if not data or data.get("version") != SNAPSHOT_VERSION:
        return None
    try:
        return load(Investigation, data["investigation"])
    except (TypeError, ValueError, KeyError):
        return None

"""ISO 8601 date-times as Graph and Exchange write them: parsing, formatting, and shifting seed data in time."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

# A date with a time: what the seed loader shifts. Dates without a time (birthdays, licence dates) stay.
_ISO = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})T(?P<hm>\d{2}:\d{2})(?P<sec>:\d{2})?(?:\.(?P<frac>\d{1,7}))?"
    r"(?P<tz>Z|[+-]\d{2}:?\d{2})?$"
)
_TICKS_PER_SECOND = 10_000_000  # .NET ticks (100 ns): Graph writes up to 7 fractional digits
_EPOCH = datetime(1970, 1, 1)


def is_iso_datetime(text: str) -> bool:
    """True when `text` is an ISO 8601 date with a time."""
    return _ISO.match(text) is not None


def parse_iso(text: str) -> datetime | None:
    """Parse an ISO 8601 date-time (up to 7 fractional digits, `Z` or an offset) to an aware UTC datetime."""
    match = _ISO.match(text.strip())
    if not match:
        return None
    frac = (match["frac"] or "")[:6]
    tz = match["tz"] or "Z"
    tz = "+00:00" if tz == "Z" else (tz if ":" in tz else f"{tz[:3]}:{tz[3:]}")
    try:
        parsed = datetime.fromisoformat(
            f"{match['date']}T{match['hm']}{match['sec'] or ':00'}{'.' + frac.ljust(6, '0') if frac else ''}{tz}"
        )
    except ValueError:
        return None
    return parsed.astimezone(UTC)


def format_graph(moment: datetime) -> str:
    """Graph's usual form: UTC, seconds, `Z` (e.g. `2026-11-28T09:00:00Z`)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_precise(moment: datetime) -> str:
    """Graph's 7-digit form used by audit logs (e.g. `2026-11-28T09:00:00.1234560Z`)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def shift_iso(text: str, delta: timedelta) -> str | None:
    """`text` moved by `delta`, written in the same form (precision, seconds, offset), or None if not a date-time.

    The offset text is kept as it was: a shift is the same instant-difference in every zone.
    """
    match = _ISO.match(text)
    if not match:
        return None
    try:
        base = datetime.fromisoformat(f"{match['date']}T{match['hm']}{match['sec'] or ':00'}")
    except ValueError:
        return None
    frac = match["frac"] or ""
    digits = len(frac)
    # Round the shift to the precision the value is written in, so the text keeps its shape.
    resolution = _TICKS_PER_SECOND // 10**digits if match["sec"] else _TICKS_PER_SECOND * 60
    delta_ticks = round(delta / timedelta(microseconds=1)) * 10
    delta_ticks = round(delta_ticks / resolution) * resolution
    ticks = (
        int((base - _EPOCH).total_seconds()) * _TICKS_PER_SECOND
        + (int(frac.ljust(7, "0")) if frac else 0)
        + delta_ticks
    )
    seconds, rest = divmod(ticks, _TICKS_PER_SECOND)
    moved = _EPOCH + timedelta(seconds=seconds)
    out = moved.strftime("%Y-%m-%dT%H:%M")
    if match["sec"]:
        out += moved.strftime(":%S")
    if digits:
        out += "." + str(rest).rjust(7, "0")[:digits]
    return out + (match["tz"] or "")


def shift_tree(value: Any, delta: timedelta) -> Any:
    """A deep copy of a JSON value with every ISO date-time string moved by `delta`."""
    if isinstance(value, str):
        shifted = shift_iso(value, delta)
        return value if shifted is None else shifted
    if isinstance(value, list):
        return [shift_tree(item, delta) for item in value]
    if isinstance(value, dict):
        return {key: shift_tree(item, delta) for key, item in value.items()}
    return value


def utcnow() -> datetime:
    """The current time, aware UTC."""
    return datetime.now(UTC)

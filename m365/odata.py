"""OData query building for Microsoft Graph: string literals, datetimes, filters, `$search` terms.

Every value that reaches a `$filter` or `$search` goes through here, because tenant data (UPNs such as
`miriam.o'brien@example.com`, display names) is attacker-writable text and must never change the
shape of a query.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from urllib.parse import quote as _percent_quote

# Characters left readable in query values. Everything else (space, `&`, `#`, `+`, `=`, `"`, `%` …)
# is percent-encoded so a value can never end the parameter or be read as a form-encoded space.
_QUERY_SAFE = "$'(),:/@*!"


def quote(value: str) -> str:
    """An OData string literal: `o'brien` → `'o''brien'` (a quote inside is doubled)."""
    return "'" + value.replace("'", "''") + "'"


def datetime_literal(dt: datetime) -> str:
    """A UTC OData datetime literal, `2026-11-21T00:00:00Z`. A naive datetime is taken as UTC."""
    aware = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    return aware.strftime("%Y-%m-%dT%H:%M:%SZ")


def eq(prop: str, value: str) -> str:
    """`prop eq 'value'`."""
    return f"{prop} eq {quote(value)}"


def ge(prop: str, when: datetime) -> str:
    """`prop ge 2026-11-21T00:00:00Z`."""
    return f"{prop} ge {datetime_literal(when)}"


def any_eq(collection: str, value: str, *, member: str | None = None, var: str = "x") -> str:
    """A lambda test on a collection: `proxyAddresses/any(x:x eq 'v')` or `targetResources/any(x:x/id eq 'v')`."""
    target = f"{var}/{member}" if member else var
    return f"{collection}/any({var}:{target} eq {quote(value)})"


def or_(clauses: Sequence[str]) -> str:
    """Clauses joined by `or`, parenthesized when there is more than one (so `and` can follow safely)."""
    if not clauses:
        raise ValueError("or_ needs at least one clause")
    return clauses[0] if len(clauses) == 1 else "(" + " or ".join(clauses) + ")"


def and_(clauses: Sequence[str]) -> str:
    """Clauses joined by `and`; each `or` group must already be parenthesized (see `or_`)."""
    return " and ".join(c for c in clauses if c)


def search_phrase(prop: str, text: str) -> str:
    """A Graph `$search` value `"prop:text"`; `"` and `\\` in the text are backslash-escaped."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{prop}:{escaped}"'


def encode_value(value: str) -> str:
    """Percent-encode one query value (spaces as `%20`, never `+`)."""
    return _percent_quote(value, safe=_QUERY_SAFE)


def encode_query(params: Iterable[tuple[str, str]]) -> str:
    """A query string from (name, value) pairs; names such as `$filter` keep their `$`."""
    return "&".join(f"{_percent_quote(k, safe='$')}={encode_value(v)}" for k, v in params)


def chunk_filters(
    values: Sequence[str],
    render: Callable[[Sequence[str]], str],
    *,
    max_encoded_length: int,
) -> list[list[str]]:
    """Split `values` into groups whose rendered, URL-encoded filter stays within `max_encoded_length`.

    Graph rejects long URLs (and some front ends cut them near 2,048 characters), so a filter over many
    ids is sent as several requests. A single value that alone exceeds the limit still gets its own group.
    """
    groups: list[list[str]] = []
    current: list[str] = []
    for value in values:
        candidate = [*current, value]
        if current and len(encode_value(render(candidate))) > max_encoded_length:
            groups.append(current)
            current = [value]
        else:
            current = candidate
    if current:
        groups.append(current)
    return groups

"""The demo tenant's message trace: rows generated from short per-account stories, and the API's rules.

A burst is hundreds to thousands of rows (one per message and recipient), too many to write into the seed by hand.
The seed holds a story per sender instead (`exchange["messageTrace"]`, keyed by address, its times shifted with the
rest of the seed); `TraceStore` expands a sender's story into rows when first asked (`generate`), deterministically
(a `random.Random` seeded by the address),
each row in the shape of Graph v1.0 `exchangeMessageTrace` (microsoft-graph-docs-contrib
api-reference/v1.0/resources/exchangemessagetrace.md @c145a677525d3e4856656d5d5e4fb1b272bbcb86, and the example
responses of api/messagetracingroot-list-messagetraces.md @6fb5de8bd274c972524e926934894a5713af4bc4: id,
senderAddress, recipientAddress, messageId, receivedDateTime, subject, size, fromIP, toIP (blank for mail to the
organisation), status). The outbreak seed copies a story along with its account (it is keyed by the address).

A story: `{"usual": {...}, "burst": {...}}`, each part with `start`/`end` (ISO), `messages`, `recipientsPerMessage`,
`fromIPs`, `subjects`, `domains` (recipient domains, weighted by order: the first is the most frequent) and
optionally `tailDomains` (how many more generated `*.example` domains receive the rest), `statuses` and
`internalShare`. `usual` is the ordinary mail of the days before (the baseline of usual correspondents).

`Get-MessageTraceV2` (office-docs-powershell exchange/exchange-ps/ExchangePowerShell/Get-MessageTraceV2.md
@daf4424225970147dc8892af410cc006972e8026) serves the same rows as Exchange objects. The reference lists no output
table; the properties are those its parameters filter on and its description names (SenderAddress,
RecipientAddress, FromIP, ToIP, MessageId, MessageTraceId, Status, Subject, "Received Time", i.e. Received) plus
Size, Graph's counterpart of each.

The API's rules the handlers enforce (from the same pages): a period is given by both `receivedDateTime` bounds, at
most 10 days long, starting at most 90 days back; without one, the last 48 hours.
"""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from demo_tenant.timeutil import format_graph, parse_iso

Json = dict[str, Any]

_NAMESPACE = uuid.UUID("5d1f0c8e-2b7a-4c3e-9f61-7a0b3c2d1e4f")
# Outbound mail leaves through Exchange Online Protection toward the recipient's MX; these are the MX addresses the
# demo pretends the outside domains resolve to (documentation ranges).
_MX_IPS = ("198.51.100.25", "203.0.113.44", "192.0.2.14", "198.51.100.61")
_FIRST = ("anna", "ben", "carla", "david", "eva", "frank", "grace", "hugo", "iris", "jan", "kate", "liam", "maria",
          "nick", "olga", "paul", "rosa", "sam", "tina", "victor")
_LAST = ("smith", "jones", "martin", "bakker", "garcia", "muller", "rossi", "novak", "silva", "kowalski")
MAX_SPAN = timedelta(days=10)
MAX_AGE = timedelta(days=90)
DEFAULT_SPAN = timedelta(hours=48)


class TraceStore:
    """The rows of each sender's story, generated when first asked for and kept (an outbreak seed holds hundreds of
    stories and thousands of rows each; most are never read)."""

    def __init__(self, stories: Mapping[str, Any], internal_domain: str) -> None:
        self._stories = {str(k).lower(): (str(k), v) for k, v in stories.items() if isinstance(v, Mapping)}
        self._domain = internal_domain
        self._rows: dict[str, list[Json]] = {}

    def rows(self, sender: str | None = None) -> list[Json]:
        """One sender's rows (any case), or every sender's; oldest first."""
        if sender is None:
            return sorted((r for key in self._stories for r in self.rows(key)),
                          key=lambda r: str(r["receivedDateTime"]))
        key = sender.lower()
        if key not in self._rows:
            name, story = self._stories.get(key, (sender, {}))
            self._rows[key] = generate({name: story}, self._domain) if story else []
        return self._rows[key]


def generate(stories: Mapping[str, Any], internal_domain: str) -> list[Json]:
    """Every story's rows, oldest first (see the module docstring)."""
    rows: list[Json] = []
    for sender, story in stories.items():
        if not isinstance(story, Mapping):
            continue
        for part in ("usual", "burst"):
            spec = story.get(part)
            if isinstance(spec, Mapping):
                rows.extend(_rows(str(sender), part, spec, internal_domain))
    rows.sort(key=lambda r: str(r["receivedDateTime"]))
    return rows


def _rows(sender: str, part: str, spec: Mapping[str, Any], internal_domain: str) -> list[Json]:
    start = parse_iso(str(spec.get("start")))
    end = parse_iso(str(spec.get("end")))
    if start is None or end is None or end <= start:
        return []
    rng = random.Random(f"{sender.lower()}:{part}")
    messages = int(spec.get("messages") or 0)
    per_message = max(1, int(spec.get("recipientsPerMessage") or 1))
    ips = _strings(spec.get("fromIPs")) or ("",)
    subjects = _strings(spec.get("subjects")) or ("",)
    domains = list(_strings(spec.get("domains")))
    tail = int(spec.get("tailDomains") or 0)
    domains += [f"{rng.choice(('shop', 'mail', 'office', 'trade', 'post'))}{n}.example" for n in range(tail)]
    statuses = _strings(spec.get("statuses")) or ("delivered",)
    internal_share = float(spec.get("internalShare") or 0.0)
    weights = [1.0 / (n + 1) for n in range(len(domains))]
    span = (end - start).total_seconds()
    out: list[Json] = []
    for m in range(messages):
        received = start + timedelta(seconds=span * (m + rng.random()) / max(messages, 1))
        trace_id = str(uuid.uuid5(_NAMESPACE, f"{sender.lower()}:{part}:{m}"))
        message_id = f"<{uuid.uuid5(_NAMESPACE, f'mid:{sender.lower()}:{part}:{m}')}@{sender.rpartition('@')[2]}>"
        subject = subjects[m % len(subjects)] if part == "burst" else rng.choice(subjects)
        ip = ips[0] if len(ips) == 1 else rng.choices(ips, weights=[1.0 / (n + 1) for n in range(len(ips))])[0]
        size = rng.randint(9_000, 60_000)
        status = rng.choice(statuses)
        for _ in range(per_message):
            inside = not domains or rng.random() < internal_share
            domain = internal_domain if inside else rng.choices(domains, weights=weights)[0]
            local = f"{rng.choice(_FIRST)}.{rng.choice(_LAST)}{rng.randint(1, 999) if not inside else ''}"
            out.append({
                "id": trace_id,
                "senderAddress": sender,
                "recipientAddress": f"{local}@{domain}",
                "messageId": message_id,
                "receivedDateTime": format_graph(received),
                "subject": subject,
                "size": size,
                "fromIP": ip,
                # Graph leaves toIP blank for mail to the organisation; outgoing mail names the recipient's MX.
                "toIP": "" if inside else _mx(domain),
                "status": status if not inside else "delivered",
            })
    return out


def _mx(domain: str) -> str:
    return _MX_IPS[sum(domain.encode()) % len(_MX_IPS)]


def _strings(value: object) -> tuple[str, ...]:
    if isinstance(value, Sequence) and not isinstance(value, str):
        return tuple(str(v) for v in value if isinstance(v, str))
    return ()


_SENDER = re.compile(r"senderAddress\s+eq\s+'((?:[^']|'')*)'", re.IGNORECASE)


def filter_sender(filter_: str) -> str | None:
    """The address of a `senderAddress eq '…'` clause, or None."""
    match = _SENDER.search(filter_ or "")
    return match.group(1).replace("''", "'") if match else None


_BOUND = re.compile(r"receivedDateTime\s+(ge|le)\s+([0-9T:.\-+Z]+)", re.IGNORECASE)


def filter_bounds(filter_: str) -> tuple[datetime | None, datetime | None]:
    """The `receivedDateTime ge …` and `le …` bounds of a Graph `$filter` (None where absent)."""
    found = {op.lower(): parse_iso(value) for op, value in _BOUND.findall(filter_ or "")}
    return found.get("ge"), found.get("le")


def in_period(rows: Sequence[Json], start: datetime, end: datetime) -> list[Json]:
    """The rows received in [start, end]."""
    out = []
    for row in rows:
        when = parse_iso(str(row.get("receivedDateTime") or ""))
        if when is not None and start <= when <= end:
            out.append(row)
    return out


def period(received_bounds: tuple[datetime | None, datetime | None], now: datetime) -> tuple[datetime, datetime]:
    """The period a query covers, or `ValueError` with Graph's complaint: both bounds or none (then 48 h)."""
    start, end = received_bounds
    if start is None and end is None:
        return now - DEFAULT_SPAN, now
    if start is None or end is None:
        raise ValueError("Both the start and end of receivedDateTime must be specified.")
    if end - start > MAX_SPAN:
        raise ValueError("The time range between start and end date must not exceed 10 days.")
    if start < now - MAX_AGE:
        raise ValueError("The start date must not be more than 90 days before the current date.")
    return start, end


def as_exchange(row: Mapping[str, Any]) -> Json:
    """One row as `Get-MessageTraceV2` writes it (PascalCase; Status as the cmdlet's -Status values: `Delivered`)."""
    status = str(row.get("status") or "")
    return {
        "Received": row.get("receivedDateTime"),
        "SenderAddress": row.get("senderAddress"),
        "RecipientAddress": row.get("recipientAddress"),
        "Subject": row.get("subject"),
        "Status": status[:1].upper() + status[1:],
        "ToIP": row.get("toIP"),
        "FromIP": row.get("fromIP"),
        "Size": row.get("size"),
        "MessageId": row.get("messageId"),
        "MessageTraceId": row.get("id"),
    }

"""The audit log's command line: print it as a table, a JSON array or JSON lines (`python -m tools.audit`).

`main()` is given the database URL by its caller (`tools/audit.py` reads it from `config.Settings`): the store
reads nothing from the environment itself::

    python -m tools.audit --since 7d                    # table, oldest first
    python -m tools.audit --since 12h --format json     # JSON array (`--json` is the same)
    python -m tools.audit --since 7d --format jsonl     # one JSON object per line, for a SIEM
    python -m tools.audit --case CASE_ID --since 30d

`python -m store.audit` runs the same without `config` (a SIEM collector's host need not carry the bot's
settings): the URL comes from `--database-url`, else the `DATABASE_URL` variable, read in `__main__` below only.

The log itself lives in `store.audit_log`; this module is only the command line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path

from store.audit_log import AuditError, AuditLog, entry_to_json
from store.db import normalize_url, open_database
from store.records import AuditEntry

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$", re.I)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
# Control characters (including ANSI escapes) in tenant-supplied text must not reach the terminal raw.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def parse_duration(text: str) -> timedelta:
    """Parse `30m`, `12h`, `7d` (also `s` and `w`) into a timedelta; ValueError otherwise."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"invalid duration {text!r}: use a number and a unit, e.g. 30m, 12h or 7d")
    return timedelta(**{_UNITS[match.group(2).lower()]: int(match.group(1))})


def _duration_arg(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def format_table(entries: Sequence[AuditEntry]) -> str:
    """A plain-text table of audit rows, one line each, with control characters escaped."""
    headers = ("AT (UTC)", "OUTCOME", "ACTION", "TARGET", "ACTOR", "CASE", "CORRELATION", "ERROR")
    rows = [
        (
            e.at.strftime("%Y-%m-%d %H:%M:%S"),
            e.outcome,
            e.action,
            e.target or "",
            e.actor_upn or e.actor_name or e.actor_id or "",
            (e.case_id or "")[:8],
            e.correlation_id[:8],
            (e.error or "").splitlines()[0] if e.error else "",
        )
        for e in entries
    ]
    limits = (19, 9, 32, 48, 40, 8, 11, 80)
    cells = [tuple(_cell(value, limit) for value, limit in zip(row, limits, strict=True)) for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.append(f"({len(entries)} row{'s' if len(entries) != 1 else ''})")
    return "\n".join(lines)


def _cell(value: str, limit: int) -> str:
    value = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", value)
    return value if len(value) <= limit else value[: limit - 1] + "…"


async def _read(url: str, since: timedelta, case_id: str | None, limit: int | None) -> list[AuditEntry]:
    db = await open_database(url, migrate=False)
    try:
        if await db.current_revision() is None:
            raise AuditError("the database has no schema yet (start the bot once, or run the Alembic migrations)")
        return await AuditLog(db).list(since=db.clock() - since, case_id=case_id, limit=limit)
    finally:
        await db.close()


FORMATS = ("table", "json", "jsonl")
STANDALONE_PROG = "python -m store.audit"


def format_jsonl(entries: Sequence[AuditEntry]) -> str:
    """One JSON object per line (`entry_to_json`), oldest first: what a SIEM's file or pipe input reads."""
    return "\n".join(json.dumps(entry_to_json(e), ensure_ascii=False, separators=(",", ":")) for e in entries)


def _parser(prog: str, *, standalone: bool = False) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Print the bot's audit log.")
    if standalone:
        parser.add_argument("--database-url", help="the bot's database (default: the DATABASE_URL variable)")
    parser.add_argument("--since", type=_duration_arg, default=timedelta(days=7),
                        help="how far back, e.g. 30m, 12h, 7d (default 7d)")
    parser.add_argument("--case", dest="case_id", help="only rows of this case id")
    parser.add_argument("--format", choices=FORMATS, default=None,
                        help="table (default), json (one array) or jsonl (one object per line, for a SIEM)")
    parser.add_argument("--json", action="store_true", help="the same as --format json")
    parser.add_argument("--limit", type=int, default=None, help="at most this many rows (oldest first)")
    return parser


def main(argv: Sequence[str] | None = None, *, database_url: str, prog: str = "python -m tools.audit") -> int:
    """The audit log of the database at `database_url`, printed as `argv` asks; returns the exit status."""
    parser = _parser(prog, standalone=prog == STANDALONE_PROG)
    args = parser.parse_args(argv)
    if args.json and args.format not in (None, "json"):
        parser.error(f"--json and --format {args.format} contradict each other")
    output = "json" if args.json else (args.format or "table")
    try:
        parsed = normalize_url(database_url)
    except Exception as exc:  # noqa: BLE001 - a CLI reports a bad URL in one line
        print(f"error: not a database URL this store can open: {exc}", file=sys.stderr)
        return 1
    if parsed.get_backend_name() == "sqlite" and parsed.database and not Path(parsed.database).exists():
        print(f"error: no database at {parsed.database}", file=sys.stderr)
        return 1
    try:
        entries = asyncio.run(_read(database_url, args.since, args.case_id, args.limit))
    except AuditError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # a CLI reports failures in one line rather than a traceback
        print(f"error: cannot read the audit log from {parsed.render_as_string(hide_password=True)}: "
              f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if output == "json":
        print(json.dumps([entry_to_json(e) for e in entries], indent=2, ensure_ascii=False))
    elif output == "jsonl":
        if entries:
            print(format_jsonl(entries))
    else:
        print(format_table(entries))
    return 0


def _standalone(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """`python -m store.audit`: the URL from `--database-url`, else `DATABASE_URL`; the other options as above."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--database-url", default=None)
    args = list(sys.argv[1:] if argv is None else argv)
    known, _ = pre.parse_known_args(args)
    url = known.database_url or (os.environ if environ is None else environ).get("DATABASE_URL", "").strip()
    if not url and not {"-h", "--help"} & set(args):
        print("error: give the database with --database-url URL or DATABASE_URL (sqlite:///path or "
              "postgresql://user@host/db)", file=sys.stderr)
        return 2
    return main(args, database_url=url, prog=STANDALONE_PROG)


if __name__ == "__main__":
    sys.exit(_standalone())


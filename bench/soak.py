"""Chaos soak: steady traffic of users and admins while Microsoft 365 misbehaves on about 10% of its calls.

Three processes, as in production: the demo tenant (`python -m demo_tenant --print-env`: HTTPS with its own CA on a
free port, the Contoso seed with the unblock limit raised), the bot (`python bot.py` in demo mode joining that
tenant through `DEMO_TENANT_ENV`: anonymous Bot Framework auth, SQLite under a temp dir or `--database-url`; in
its own process, so its RSS is the bot's alone) and this process (a collecting Bot Framework connector, the people,
and the demo tenant's admin API as the chaos monkey). For `--minutes` (default and maximum 10):

- users (Megan Bowen, Patti, Adele, Grady, Lynne, Diego, Megan Lewis, Miriam, Johanna) report bounces in their
  own words or by pasting the bounce, in English and Dutch, ask for their status and for help;
- Isaiah (IT staff, Dutch) investigates accounts (by address, by name, an ambiguous "megan" answered from the
  choice list), presses Refresh and Show case on the findings card and tries Unblock (refused to IT staff);
- Alex (security admin) restricts an account again through `POST /_demo/restrict` (Diego, Megan Lewis, Miriam,
  Lynne in turn), investigates it, presses Refresh, Unblock and its Confirm, so the unblock repeats;
- the restriction watch runs every minute and the unblock checker polls, under the same faults;
- the demo tenant answers 429 (with `Retry-After`), 500/502/503/504 and timeouts (a delay just over the bot's
  per-request timeout, `HTTP_TIMEOUT_SECONDS`) on about 10% of Graph and Exchange calls (`FAULTS`).

Two outages, planned inside the run by `plan_outages` (for 4 minutes: the token endpoint from 0:48 to 1:33, the
database from 2:36 for 20 s; neither overlaps the RSS windows):

- **token endpoint**: the demo tenant's Entra token endpoint answers 503 to every request (a fault rule on its
  request key `token`, demo_tenant/faults.py). A cached token would hide the outage, so the soak's demo tenant
  issues tokens that live `TOKEN_LIFETIME_SECONDS` (`python -m demo_tenant --token-lifetime`): msal's cache and
  the bot's `TokenProvider` both treat a token as expired 300 s before its end, so the bot asks the token
  endpoint again every ~15 s and every token is gone early in the outage. Meanwhile help and status must answer
  as usual and turns that need Microsoft 365 answer "I can't reach Microsoft 365 right now";
- **database**: the bot runs on a PostgreSQL cluster the soak starts itself (bench/pgcluster.py: initdb and
  pg_ctl in a temp dir on a free loopback port; as root, as the `postgres` OS user through `runuser`), which is
  stopped with `pg_ctl stop -m immediate` for `DB_OUTAGE_SECONDS` and started again (crash recovery). `/readyz`
  must fail while it is down and answer 200 again after, and the bot must go on making cases. Without PostgreSQL
  binaries (or a non-root user to run them) the soak says why and runs on SQLite without this phase, which CI
  (`CI` set) counts as a failure; `--database-url` (a database the soak does not own) skips it too.

Checks (exit code 1 when any fails, so CI can run it):

- the chaos was real: 5–15% of the Graph and Exchange calls the demo tenant answered carried a fault;
- no unhandled exception: no traceback, ERROR or asyncio/resource warning in the bot's log, no "something went
  wrong" reply, the process alive to the end;
- no lost case: every case id a card showed is in the store (read through `store` after the bot stopped), for
  the account it showed; every account investigated to a findings card, and every user told "restricted",
  has a case; no audit record `started` without its outcome;
- no lost audit row: every action the bot logged as started (`<verb> on case … (correlation …)`, logged once
  its `started` row is written) has that row and its outcome in the database, and every unblock the demo tenant
  carried out has an audit `started` row for its address (never a write without its audit row);
- every activity answered: each message got HTTP 201 and a reply at the connector within `REPLY_TIMEOUT` (a
  neutral "can't reach Microsoft 365" or "could not record" answer during an outage counts as an answer);
- every invoke (`Action.Execute`) got HTTP 200 with an invoke response of status 200;
- each outage happened and was handled as described above (`token_outage_check`, `database_outage_check`);
- RSS (VmRSS, sampled every 2 s) grew less than 10% from minute 2 to the end (medians of 30 s windows).

    python -m bench.soak                 # 10 minutes -> bench/results/soak.json and docs/PERFORMANCE.md
    python -m bench.soak --minutes 4     # what CI runs (RSS growth is measured from minute 2)
    python -m bench.soak --minutes 1 --no-write   # a quick look; too short for the RSS check

The bot runs with `RECONCILE_GRACE_SECONDS=45`, so an action the database outage cut off between its `started`
row and its outcome is settled by the reconciler within the run rather than 10 minutes later.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import random
import re
import signal
import ssl
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bench.common import (
    DEMO_SEED,
    ROOT,
    LocalConnector,
    ServerProcess,
    demo_tenant_id,
    figure,
    fmt,
    free_port,
    median,
    message_activity,
    percentile,
    read_results,
    write_result,
)
from bench.pgcluster import ClusterError, PgCluster, find_cluster
from bench.turns import clean_env
from config import IDENTITY_ENV_NAMES

MAX_MINUTES = 10.0
REPLY_TIMEOUT = 60.0  # seconds from a message's POST to its first reply at the connector
FINDINGS_TIMEOUT = 60.0  # from "yes" to the findings card replacing the progress card
HTTP_TIMEOUT = 90.0  # a POST to /api/messages returns after the whole turn
BOT_HTTP_TIMEOUT_SECONDS = 5.0  # the bot's per-request timeout to Microsoft 365 (HTTP_TIMEOUT_SECONDS)
RSS_FROM_SECONDS = 120.0
RSS_WINDOW_SECONDS = 30.0
RSS_SAMPLE_SECONDS = 2.0
RSS_MAX_GROWTH_PCT = 10.0
REQUEST_LOG_POLL_SECONDS = 15.0
SOAK_UNBLOCK_LIMIT = 1000  # Microsoft's is 3 per sender (and the seed's); see `soak_seed`
MAX_KEPT_UPDATES = 500  # first card updates kept for a later `expect_update` (the driver's memory, not the bot's)
TOKEN_LIFETIME_SECONDS = 315  # msal and TokenProvider renew 300 s before the end: a fresh token every ~15 s
TOKEN_RENEW_SECONDS = TOKEN_LIFETIME_SECONDS - 300
# The demo tenant's token endpoint (key `token` in demo_tenant/faults.py): 503 with Entra's AADSTS90033 body.
TOKEN_FAULT: dict[str, Any] = {"match": "^token$", "status": 503, "retry_after": 1}
DB_OUTAGE_SECONDS = 20.0
READYZ_POLL_SECONDS = 1.0
READYZ_RECOVERY_SECONDS = 60.0  # /readyz must answer 200 again within this after the restart
RECONCILE_GRACE_SECONDS = 45  # the bot's RECONCILE_GRACE_SECONDS (default 600) so the run sees reconciled rows
PERFORMANCE_DOC = ROOT / "docs" / "PERFORMANCE.md"

# Graph (`METHOD /v1.0/...`) and Exchange (`InvokeCommand:...`) calls; the token endpoint is left alone.
M365_CALLS = r"^(?:GET|POST|PATCH|PUT|DELETE) /v1\.0/|^InvokeCommand:"
# Fault rules (demo_tenant/faults.py): the failing ones exclude each other per request, the timeout (a delay just
# over the bot's per-request timeout) is drawn on its own. Together about 10% of Graph and Exchange calls.
FAULTS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("429 Retry-After 1 s", {"status": 429, "retry_after": 1, "probability": 0.025}),
    ("429 Retry-After 2 s", {"status": 429, "retry_after": 2, "probability": 0.01}),
    ("500", {"status": 500, "probability": 0.01}),
    ("502", {"status": 502, "probability": 0.01}),
    ("503", {"status": 503, "probability": 0.015}),
    ("504", {"status": 504, "probability": 0.01}),
    ("timeout", {"latency_ms": int((BOT_HTTP_TIMEOUT_SECONDS + 0.5) * 1000), "probability": 0.02}),
)

# Log lines that mean something went unhandled (besides tracebacks and ERROR/CRITICAL records).
_LOG_LEVEL = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (?P<level>[A-Z]+) (?P<logger>\S+): (?P<message>.*)$")
_STRAY = re.compile(r"Task exception was never retrieved|Task was destroyed but it is pending|was never awaited|"
                    r"Unclosed client session|Unclosed connector|ResourceWarning|RuntimeWarning|DeprecationWarning")
# ERROR records that are deliberate handling of an injected fault, not a bug. The bot handles upstream failures at
# WARNING; the one ERROR it means is the store's self-watch raising the alarm when the database goes away (logged
# once per change of state, store/db.py `Database.health`), which the database outage provokes on purpose.
# Anything else logged at ERROR is a failure path worth reading.
EXPECTED_ERRORS: tuple[re.Pattern[str], ...] = (re.compile(r" ERROR store\.db: database unreachable: "),)


# --- the evaluation (pure; tests/unit/test_soak_eval.py) --------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One pass/fail check of the soak; `passed` is None when the run was too short to measure it."""

    name: str
    passed: bool | None
    detail: str


@dataclass(frozen=True)
class Exchange:
    """One message posted to the bot: when, the HTTP status of the POST, and when its first reply arrived."""

    actor: str
    label: str
    sent_at: float
    status: int | None  # None: the POST itself failed (connection error, timeout)
    replied_at: float | None
    reply_kind: str = ""
    reply_text: str = ""  # the start of a text reply, to tell "other" replies apart on the console


@dataclass(frozen=True)
class InvokeRecord:
    """One `Action.Execute` press: HTTP status, and the invoke response's own status and type."""

    actor: str
    verb: str
    status: int | None
    body_status: int | None
    body_type: str
    seconds: float


def answered_check(exchanges: Sequence[Exchange], timeout: float = REPLY_TIMEOUT, *,
                   missing_findings: int = 0) -> Check:
    """Every message got HTTP 201 (or 200) and a first reply within `timeout` seconds of its POST, and no
    progress card waited in vain for the findings card that replaces it (`missing_findings`)."""
    failures: list[str] = []
    if missing_findings:
        failures.append(f"{missing_findings} investigations showed progress but never their findings card")
    for item in exchanges:
        if item.status not in (200, 201):
            failures.append(f"{item.actor} {item.label!r}: HTTP {item.status}")
        elif item.replied_at is None:
            failures.append(f"{item.actor} {item.label!r}: no reply")
        elif item.replied_at - item.sent_at > timeout:
            failures.append(f"{item.actor} {item.label!r}: reply after {item.replied_at - item.sent_at:.1f} s")
    if not exchanges:
        return Check("every message answered", False, "no message was sent")
    if failures:
        return Check("every message answered", False,
                     f"{len(failures)} failures in {len(exchanges)} messages (timeout {timeout:g} s): "
                     + "; ".join(failures[:10]))
    return Check("every message answered", True, f"{len(exchanges)} of {len(exchanges)} answered within {timeout:g} s")


def invoke_check(invokes: Sequence[InvokeRecord]) -> Check:
    """Every invoke got HTTP 200 and an invoke response whose own status is 200."""
    bad = [i for i in invokes if i.status != 200 or i.body_status != 200]
    if not invokes:
        return Check("every invoke HTTP 200", False, "no invoke was sent")
    if bad:
        return Check("every invoke HTTP 200", False,
                     f"{len(bad)} of {len(invokes)} failed: "
                     + "; ".join(f"{i.actor} {i.verb}: HTTP {i.status}, body {i.body_status} {i.body_type}"
                                 for i in bad[:10]))
    return Check("every invoke HTTP 200", True, f"{len(invokes)} of {len(invokes)}")


@dataclass(frozen=True)
class RssGrowth:
    """RSS at minute 2 and at the end (medians of windows), and the growth between them in percent."""

    start_mb: float
    end_mb: float
    growth_pct: float
    samples: int


def rss_growth(samples: Sequence[tuple[float, float]], *, start: float = RSS_FROM_SECONDS,
               window: float = RSS_WINDOW_SECONDS) -> RssGrowth | None:
    """Growth from the median of the samples in [start, start + window) to the median of the last `window` seconds.

    `samples` are (seconds since the traffic started, MiB). None when the run is too short for the two windows
    not to overlap (or a window is empty). Medians, so one sample taken mid-garbage-collection decides nothing.
    """
    values = [(t, mb) for t, mb in samples if not math.isnan(mb)]
    if not values:
        return None
    last = max(t for t, _ in values)
    end_from = last - window
    if end_from < start + window:
        return None
    first = [mb for t, mb in values if start <= t < start + window]
    final = [mb for t, mb in values if t > end_from]
    if not first or not final:
        return None
    start_mb, end_mb = median(first), median(final)
    return RssGrowth(start_mb, end_mb, (end_mb - start_mb) / start_mb * 100.0, len(values))


def rss_check(growth: RssGrowth | None, limit_pct: float = RSS_MAX_GROWTH_PCT) -> Check:
    """RSS growth from minute 2 to the end under `limit_pct`."""
    name = f"RSS growth minute 2 → end < {limit_pct:g}%"
    if growth is None:
        return Check(name, None, "run too short to measure (needs more than 3 minutes)")
    detail = f"{growth.start_mb:.1f} MB → {growth.end_mb:.1f} MB ({growth.growth_pct:+.1f}%)"
    return Check(name, growth.growth_pct < limit_pct, detail)


@dataclass(frozen=True)
class LogScan:
    """What the bot's log says went wrong: tracebacks (their last line), ERROR records, stray warnings."""

    tracebacks: tuple[str, ...]
    errors: tuple[str, ...]
    stray: tuple[str, ...]
    warnings: int
    warnings_by_logger: Mapping[str, int]

    @property
    def problems(self) -> int:
        """Everything that counts as unhandled."""
        return len(self.tracebacks) + len(self.errors) + len(self.stray)


def scan_log(lines: Iterable[str], expected: Sequence[re.Pattern[str]] = EXPECTED_ERRORS) -> LogScan:
    """Tracebacks, ERROR/CRITICAL records not matched by `expected`, and asyncio/resource warnings in a log.

    A traceback is reported by its exception line (the first unindented line after it), so one failure logged
    with `exc_info` counts once as a traceback and once as the ERROR record that carried it.
    """
    tracebacks: list[str] = []
    errors: list[str] = []
    stray: list[str] = []
    warnings: Counter[str] = Counter()
    in_traceback = False
    for raw in lines:
        line = raw.rstrip("\n")
        if in_traceback:
            if line.startswith((" ", "\t")) or not line.strip():
                continue
            if line.startswith(("During handling", "The above exception")):
                continue
            if line.startswith("Traceback (most recent call last)"):
                continue
            tracebacks.append(line[:300])
            in_traceback = False
            continue
        if line.startswith("Traceback (most recent call last)"):
            in_traceback = True
            continue
        match = _LOG_LEVEL.match(line)
        if match:
            level = match["level"]
            if level in ("ERROR", "CRITICAL"):
                if not any(p.search(line) for p in expected):
                    errors.append(line[:300])
            elif level == "WARNING":
                warnings[match["logger"]] += 1
            if _STRAY.search(match["message"]) and level not in ("ERROR", "CRITICAL"):
                stray.append(line[:300])
            continue
        if _STRAY.search(line):
            stray.append(line[:300])
    if in_traceback:
        tracebacks.append("(traceback without an exception line at the end of the log)")
    return LogScan(tuple(tracebacks), tuple(errors), tuple(stray), sum(warnings.values()), dict(warnings))


def chaos_check(faulted: int, calls: int, low: float = 5.0, high: float = 15.0) -> Check:
    """The soak really ran under chaos: between `low` and `high` percent of Graph/Exchange calls got a fault."""
    name = "faults injected on ~10% of Graph/Exchange calls"
    if not calls:
        return Check(name, False, "the demo tenant saw no Graph or Exchange call")
    share = faulted / calls * 100.0
    return Check(name, low <= share <= high, f"{faulted} of {calls} calls ({share:.1f}%)")


def unhandled_check(scan: LogScan, error_replies: int, alive: bool) -> Check:
    """No traceback, no unexpected ERROR, no stray warning, no "something went wrong" reply, no crash."""
    parts: list[str] = []
    if scan.tracebacks:
        parts.append(f"{len(scan.tracebacks)} tracebacks ({'; '.join(sorted(set(scan.tracebacks))[:5])})")
    if scan.errors:
        parts.append(f"{len(scan.errors)} ERROR records (first: {scan.errors[0]})")
    if scan.stray:
        parts.append(f"{len(scan.stray)} stray warnings (first: {scan.stray[0]})")
    if error_replies:
        parts.append(f"{error_replies} 'something went wrong' replies")
    if not alive:
        parts.append("the bot process died during the soak")
    if parts:
        return Check("no unhandled exception", False, "; ".join(parts))
    return Check("no unhandled exception", True,
                 f"0 tracebacks, 0 ERROR records, 0 error replies; {scan.warnings} WARNING records (by logger in "
                 "the notes)")


def lost_case_check(shown: Mapping[str, str | None], stored: Mapping[str, str], accounts: Iterable[str],
                    accounts_with_cases: Iterable[str], unfinished_audit: int) -> Check:
    """Every case id shown on a card is stored (for the account it was shown for, when known); every account
    investigated or reported as restricted has a case; no audit `started` row lacks its outcome.

    `shown`: case id -> account id the card was for (None when the flow did not say, e.g. a choice list);
    `stored`: case id -> account id, from the store.
    """
    problems: list[str] = []
    for case_id, account in shown.items():
        if case_id not in stored:
            problems.append(f"case {case_id} shown on a card is not in the store")
        elif account is not None and stored[case_id].lower() != account.lower():
            problems.append(f"case {case_id} is stored for account {stored[case_id]}, shown for {account}")
    having = {a.lower() for a in accounts_with_cases}
    expected = sorted({a.lower() for a in accounts})
    for account in expected:
        if account not in having:
            problems.append(f"account {account} was investigated or reported but has no case")
    if unfinished_audit:
        problems.append(f"{unfinished_audit} audit records 'started' without an outcome")
    if problems:
        return Check("no lost case", False, "; ".join(problems[:10]))
    return Check("no lost case", True, f"{len(shown)} case ids shown on cards, all stored; {len(expected)} accounts "
                                       "investigated or reported, each with its case; every audited action has "
                                       "its outcome")


# The bot's log line once an action's audit `started` row is written (core/presses.py): what it acknowledged.
_ACTION_STARTED = re.compile(r" core\.presses: (?P<verb>[a-z_]+) on case (?P<case>\S+) by \S+ "
                             r"\(correlation (?P<correlation>[0-9a-f]+)\)")


def acknowledged_actions(lines: Iterable[str]) -> dict[str, str]:
    """Correlation id -> verb of every action the bot logged as started (its audit `started` row written)."""
    found: dict[str, str] = {}
    for line in lines:
        match = _ACTION_STARTED.search(line)
        if match:
            found[match["correlation"]] = match["verb"]
    return found


def lost_audit_check(acknowledged: Mapping[str, str], outcomes: Mapping[str, Iterable[str]],
                     tenant_unblocks: Mapping[str, int], audited_unblocks: Mapping[str, int]) -> Check:
    """Nothing the bot acknowledged is missing from the audit, and the tenant made no write without its row.

    `acknowledged`: correlation id -> verb, from the bot's log (`acknowledged_actions`); `outcomes`: correlation
    id -> the outcomes of its rows in the database (`started`, `succeeded`, ...); `tenant_unblocks`: address ->
    unblocks the demo tenant carried out; `audited_unblocks`: address -> audit `unblock` rows `started`.
    """
    problems = audit_losses(acknowledged, outcomes, tenant_unblocks, audited_unblocks)
    if problems:
        return Check("no lost audit row", False, f"{len(problems)} problems: " + "; ".join(problems[:10]))
    return Check("no lost audit row", True,
                 f"{len(acknowledged)} actions logged as started, each with its 'started' and outcome rows in the "
                 f"database; {sum(tenant_unblocks.values())} unblocks carried out by the demo tenant, each with "
                 "its audit row")


def audit_losses(acknowledged: Mapping[str, str], outcomes: Mapping[str, Iterable[str]],
                 tenant_unblocks: Mapping[str, int], audited_unblocks: Mapping[str, int]) -> list[str]:
    """What `lost_audit_check` fails on, one line per lost row (see there for the arguments)."""
    problems: list[str] = []
    for correlation, verb in acknowledged.items():
        stored = set(outcomes.get(correlation, ()))
        if "started" not in stored:
            problems.append(f"{verb} {correlation}: logged as started, no 'started' row in the database")
        elif not stored - {"started"}:
            problems.append(f"{verb} {correlation}: no outcome row")
    audited = {address.lower(): count for address, count in audited_unblocks.items()}
    for address, count in sorted(tenant_unblocks.items()):
        rows = audited.get(address.lower(), 0)
        if rows < count:
            problems.extend([f"{address}: unblocked {count} times by the tenant, {rows} audit 'started' rows"]
                            * (count - rows))
    return problems


# --- the outages ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutagePlan:
    """When each outage starts and how long it lasts, in seconds since the traffic started."""

    token_start: float
    token_seconds: float
    db_start: float
    db_seconds: float

    @property
    def token_end(self) -> float:
        """When the token endpoint answers again."""
        return self.token_start + self.token_seconds


def plan_outages(seconds: float) -> OutagePlan:
    """Both outages inside a run of `seconds`.

    The token endpoint's comes early and ends before minute 2 in runs of 4 minutes or more (the first RSS
    window); the database's starts at two thirds of the run or later, leaving about a third to recover.
    """
    token_start = min(50.0, 0.2 * seconds)
    token_seconds = min(45.0, max(0.25 * seconds, TOKEN_RENEW_SECONDS + 10.0))  # outlive every cached token
    db_start = max(token_start + token_seconds + 0.1 * seconds, 0.65 * seconds)
    return OutagePlan(token_start, token_seconds, db_start, min(DB_OUTAGE_SECONDS, 0.15 * seconds))


@dataclass
class Outage:
    """One outage as it happened (`time.perf_counter()` times; `began`/`ended` None when it did not)."""

    name: str
    began: float | None = None
    ended: float | None = None  # the fault removed, or the database accepting connections again
    skipped: str = ""  # why it was not run
    error: str = ""  # what went wrong running it
    readyz: list[tuple[float, int | None]] = field(default_factory=list)  # (when, HTTP status or None)
    restart_seconds: float = math.nan  # pg_ctl start after the crash, WAL replay included

    @property
    def seconds(self) -> float:
        """How long it lasted."""
        return self.ended - self.began if self.began is not None and self.ended is not None else math.nan


# Turns that need no Microsoft 365 and what they answer; turns that start with a Microsoft 365 call.
# `status` asks Microsoft 365 for the speaker's own restriction now (dialogs/report.py), so during the token
# outage "can't reach Microsoft 365" (with the stored report's card, if any) is its usual answer too, and a token
# still valid for a few seconds of the outage gives the live answer ("restricted" for a blocked user without a report).
LOCAL_TURNS: Mapping[str, frozenset[str]] = {
    "help": frozenset({"help", "rate_limited"}),
    "status": frozenset({"status", "no_report", "can_send", "blocked", "restricted", "unreachable", "rate_limited"}),
}
M365_TURNS = ("report", "investigate")


def token_outage_check(outage: Outage, exchanges: Sequence[Exchange], token_failures: int) -> Check:
    """The token endpoint failed for a while and the bot stayed useful.

    Passes when the token endpoint answered a 5xx (`token_failures`, from the demo tenant's request log), every
    help and status turn sent during the outage got its usual answer, at least one turn needing Microsoft 365
    sent after the last cached token expired (`TOKEN_RENEW_SECONDS` into the outage) answered "I can't reach
    Microsoft 365", and no turn during the outage got the generic error or no answer.
    """
    name = "token-endpoint outage: help/status answer, Microsoft 365 turns say 'can't reach'"
    if outage.began is None or outage.ended is None:
        return Check(name, False, f"the outage did not run{': ' + outage.error if outage.error else ''}")
    during = [e for e in exchanges if outage.began <= e.sent_at < outage.ended]
    local = [e for e in during if e.label in LOCAL_TURNS]
    remote = [e for e in during if e.label in M365_TURNS and e.sent_at >= outage.began + TOKEN_RENEW_SECONDS]
    remote_kinds = Counter(e.reply_kind for e in remote)
    problems: list[str] = []
    if token_failures == 0:
        problems.append("the token endpoint answered no 5xx")
    wrong = [e for e in local if e.reply_kind not in LOCAL_TURNS[e.label]]
    if wrong:
        problems.append(f"{len(wrong)} of {len(local)} help/status turns answered otherwise: "
                        + ", ".join(f"{e.actor} {e.label} -> {e.reply_kind}" for e in wrong[:5]))
    if not local:
        problems.append("nobody asked for help or status during the outage")
    if not remote_kinds["unreachable"]:
        problems.append(f"no turn needing Microsoft 365 answered 'can't reach Microsoft 365' (kinds: "
                        f"{dict(sorted(remote_kinds.items()))})")
    broken = [e for e in during if e.reply_kind in ("error", "none")]
    if broken:
        problems.append(f"{len(broken)} turns got the generic error or no answer")
    detail = (f"{outage.seconds:.0f} s of 503s, {token_failures} token requests refused; {len(local)} help/status "
              f"turns answered as usual; turns needing Microsoft 365 after the tokens expired: "
              f"{dict(sorted(remote_kinds.items()))}")
    if problems:
        return Check(name, False, "; ".join(problems) + f" ({detail})")
    return Check(name, True, detail)


def database_outage_check(outage: Outage, exchanges: Sequence[Exchange], findings_after: int, *,
                          required: bool) -> Check:
    """PostgreSQL went down and came back, and the bot noticed and recovered.

    Passes when `/readyz` answered something other than 200 while the database was down, 200 again within
    `READYZ_RECOVERY_SECONDS` of the restart, and at least one investigation reached its findings card (a new
    case written) after the restart (`findings_after`). A skipped outage is "not measured", or a failure when
    `required` (CI).
    """
    name = f"database outage ({DB_OUTAGE_SECONDS:g} s, PostgreSQL stopped -m immediate): /readyz and recovery"
    if outage.skipped:
        return Check(name, False if required else None, f"not run: {outage.skipped}")
    if outage.began is None or outage.ended is None:
        return Check(name, False, f"the outage did not run{': ' + outage.error if outage.error else ''}")
    down = [status for at, status in outage.readyz if outage.began <= at < outage.ended]
    back = next((at - outage.ended for at, status in outage.readyz if at >= outage.ended and status == 200), None)
    during = Counter(e.reply_kind for e in exchanges if outage.began <= e.sent_at < outage.ended)
    problems: list[str] = []
    if not down:
        problems.append("/readyz was not polled while the database was down")
    elif all(status == 200 for status in down):
        problems.append("/readyz answered 200 all the while the database was down")
    if back is None or back > READYZ_RECOVERY_SECONDS:
        problems.append(f"/readyz not 200 within {READYZ_RECOVERY_SECONDS:g} s of the restart")
    if not findings_after:
        problems.append("no investigation reached its findings card after the restart")
    statuses = Counter("none" if status is None else str(status) for status in down)
    detail = (f"down {outage.seconds:.1f} s (restart with crash recovery {outage.restart_seconds:.1f} s); /readyz "
              f"while down: {dict(sorted(statuses.items()))}, 200 again "
              f"{'never' if back is None else f'{back:.1f} s'} after the restart; replies while down: "
              f"{dict(sorted(during.items()))}; {findings_after} findings cards after the restart")
    if problems:
        return Check(name, False, "; ".join(problems) + f" ({detail})")
    return Check(name, True, detail)


# --- what people say ------------------------------------------------------------------------------------------

REPORTS = {
    "en": ("my mail bounces", "My emails keep bouncing back", "I can't send email to customers anymore",
           "Undeliverable: Quarterly numbers\nYour message couldn't be delivered because you weren't recognized as "
           "a valid sender. The most common reason for this is that your email address is suspected of sending "
           "spam and it's no longer allowed to send messages outside of your organization.\n"
           "Remote Server returned '550 5.1.8 Access denied, bad outbound sender'"),
    "nl": ("mijn mail komt terug", "ik kan niet mailen", "Mijn mails worden geweigerd",
           "Onbestelbaar: Offerte\nUw bericht kan niet worden bezorgd omdat u niet bent herkend als een geldige "
           "afzender.\nDe externe server heeft '550 5.1.8 Access denied, bad outbound sender' geretourneerd"),
}
STATUS = {
    "en": ("status", "what's the status of my case", "any news"),
    "nl": ("mijn status", "hoe staat het met mijn melding", "nog nieuws"),
}
HELP = {"en": ("help", "what can you do"), "nl": ("hulp", "wat kun je doen")}
YES = {"en": "yes", "nl": "ja"}


@dataclass(frozen=True)
class Person:
    """A demo-seed person as Teams presents them, with the language their Teams speaks."""

    key: str
    name: str
    aad_id: str
    upn: str
    locale: str

    @property
    def language(self) -> str:
        """`en` or `nl`."""
        return self.locale.split("-", 1)[0]


ALEX = Person("alex", "Alex Wilber", "0d4b2a71-9f3c-4b8e-a1d2-5e6f7a8b9c01", "AlexW@example.com", "en-US")
ISAIAH = Person("isaiah", "Isaiah Langer", "1e5c3b82-0a4d-4c9f-b2e3-6f7a8b9c0d02", "IsaiahL@example.com", "nl-NL")
MEGAN = Person("megan", "Megan Bowen", "2f6d4c93-1b5e-4d0a-83f4-7a8b9c0d1e03", "MeganB@example.com", "en-US")
PATTI = Person("patti", "Patti Fernandez", "3a7e5da4-2c6f-4e1b-94a5-8b9c0d1e2f04", "PattiF@example.com", "en-US")
ADELE = Person("adele", "Adele Vance", "4b8f6eb5-3d7a-4f2c-a5b6-9c0d1e2f3a05", "AdeleV@example.com", "en-US")
LYNNE = Person("lynne", "Lynne Robbins", "5c9a7fc6-4e8b-4a3d-b6c7-0d1e2f3a4b06", "LynneR@example.com", "nl-NL")
DIEGO = Person("diego", "Diego Siciliani", "6dab80d7-5f9c-4b4e-87d8-1e2f3a4b5c07", "DiegoS@example.com", "en-US")
MEGAN_L = Person("meganl", "Megan Lewis", "7ebc91e8-6a0d-4c5f-98e9-2f3a4b5c6d08", "MeganL@example.com", "en-US")
MIRIAM = Person("miriam", "Miriam O'Brien", "8fcda2f9-7b1e-4d6a-a9fa-3a4b5c6d7e09", "miriam.o'brien@example.com",
                "en-GB")
GRADY = Person("grady", "Grady Archie", "90debb0a-8c2f-4e7b-bafb-4b5c6d7e8f10", "GradyA@example.com", "nl-NL")
JOHANNA = Person("johanna", "Johanna Lorenz", "b2f0dd2c-ae4b-4a9d-9c1d-6d7e8f9a0b12", "JohannaL@example.com", "en-US")

USERS = (MEGAN, PATTI, ADELE, GRADY, LYNNE, DIEGO, MEGAN_L, MIRIAM, JOHANNA)
# Accounts Alex restricts again (through the demo tenant's admin API) and unblocks, in turn.
CYCLE = (DIEGO, MEGAN_L, MIRIAM, LYNNE)
# Isaiah's queries (Dutch): (text, account id when the query names exactly one account).
ISAIAH_QUERIES: tuple[tuple[str, str | None], ...] = (
    ("onderzoek MeganB@example.com", MEGAN.aad_id),
    ("onderzoek PattiF@example.com", PATTI.aad_id),
    ("onderzoek megan", None),  # Megan Bowen and Megan Lewis: the choice list
    ("controleer AdeleV@example.com", ADELE.aad_id),
    ("GradyA@example.com is geblokkeerd", GRADY.aad_id),
    ("onderzoek miriam.o'brien@example.com", MIRIAM.aad_id),
    ("onderzoek DiegoS@example.com", DIEGO.aad_id),
)

# Reply kinds, told apart by the fixed start of their catalog message (before the first placeholder).
REPLY_KINDS: tuple[tuple[str, str], ...] = (
    ("confirm", "investigate.confirm"),
    ("choice", "investigate.choose"),
    ("progress", "progress.title"),
    ("error", "error.generic"),
    ("unreachable", "error.tenant_unreachable"),
    ("not_allowed", "investigate.not_allowed"),
    ("not_recorded", "remediation.store.not_recorded"),  # the database is down: nothing was done
    ("store_unavailable", "error.store_unavailable"),  # the database is down: a message answered without state
    ("rate_limited", "ratelimit.wait"),
    ("restricted", "report.restricted.title"),
    ("not_restricted", "report.ok.title"),
    ("no_mailbox", "report.no_mailbox"),
    ("status", "report.status.title"),
    ("can_send", "report.status.can_send"),
    ("blocked", "report.status.blocked"),
    ("no_report", "report.status.none"),
    ("help", "help.title"),
)


def _template_pattern(template: str) -> re.Pattern[str]:
    """A catalog message as a pattern: its literal parts in order, anything in place of a placeholder (a card
    splits a template line into several runs, so JSON may sit between the parts too)."""
    parts = [part for part in re.split(r"\{[a-z_]+\}", template) if part.strip()]
    return re.compile(".*?".join(re.escape(part) for part in parts), re.DOTALL)


def reply_kind(body: Mapping[str, Any], locale: str | None) -> str:
    """What a reply is (`confirm`, `progress`, `restricted`, ...; `other`), from its text or card."""
    from locales import t

    text = body.get("text")
    haystack = text if isinstance(text, str) and text else json.dumps(body.get("attachments") or [],
                                                                        ensure_ascii=False)
    for kind, key in REPLY_KINDS:
        if _template_pattern(t(locale, key)).search(haystack):
            return kind
    return "other"


def card_actions(card: Any) -> list[dict[str, Any]]:
    """The `data` of every `Action.Execute` in a card (nested containers and show-cards included)."""
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "Action.Execute" and isinstance(node.get("data"), dict):
                found.append(node["data"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(card)
    return found


def case_ids(card: Any) -> set[str]:
    """Every `caseId` a card's buttons carry."""
    return {str(d["caseId"]) for d in card_actions(card) if isinstance(d.get("caseId"), str) and d["caseId"]}


# --- the connector ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Posted:
    """A message the bot posted: the id the connector gave it, when it arrived, its body."""

    id: str
    at: float
    body: dict[str, Any]


class SoakConnector(LocalConnector):
    """Collects replies (by the activity they answer), card updates (by activity id) and proactive posts."""

    def __init__(self) -> None:
        super().__init__()
        self._reply_waiters: dict[str, asyncio.Future[Posted]] = {}
        self._update_waiters: dict[str, asyncio.Future[Posted]] = {}
        self.updates: dict[str, Posted] = {}
        self.proactive = 0
        self.updated = 0
        self.extra_replies = 0

    async def start(self, host: str = "127.0.0.1") -> str:
        """Serve on a free port (creating conversations too); returns the service URL."""
        app = web.Application()
        app.router.add_post("/v3/conversations/{conversation}/activities/{activity}", self._reply)
        app.router.add_post("/v3/conversations/{conversation}/activities", self._reply)
        app.router.add_put("/v3/conversations/{conversation}/activities/{activity}", self._update)
        app.router.add_post("/v3/conversations", self._create)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        port = free_port()
        await web.TCPSite(self._runner, host, port).start()
        self.service_url = f"http://{host}:{port}/"
        return self.service_url

    def expect_reply(self, activity_id: str) -> asyncio.Future[Posted]:
        """Resolved with the first non-typing reply to `activity_id`."""
        future: asyncio.Future[Posted] = asyncio.get_running_loop().create_future()
        self._reply_waiters[activity_id] = future
        return future

    def expect_update(self, activity_id: str) -> asyncio.Future[Posted]:
        """Resolved with the first update (PUT) of `activity_id`, at once if it already came.

        The findings card replaces the progress card within the "yes" turn, so it usually arrives before the
        POST of "yes" returns: the first update of every reply is kept until someone asks for it.
        """
        future: asyncio.Future[Posted] = asyncio.get_running_loop().create_future()
        earlier = self.updates.pop(activity_id, None)
        if earlier is not None:
            future.set_result(earlier)
        else:
            self._update_waiters[activity_id] = future
        return future

    def drop(self, activity_id: str) -> None:
        """Forget the waiters of an activity."""
        self._reply_waiters.pop(activity_id, None)
        self._update_waiters.pop(activity_id, None)

    async def _reply(self, request: web.Request) -> web.Response:
        arrived = time.perf_counter()
        body = json.loads(await request.read())
        self._counter += 1
        new_id = f"reply-{self._counter}"
        if body.get("type") != "typing":
            reply_to = request.match_info.get("activity") or body.get("replyToId") or ""
            waiter = self._reply_waiters.pop(reply_to, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(Posted(new_id, arrived, body))
                self.replies += 1
            elif reply_to:
                self.extra_replies += 1
            else:
                self.proactive += 1
        return web.json_response({"id": new_id})

    async def _update(self, request: web.Request) -> web.Response:
        arrived = time.perf_counter()
        body = json.loads(await request.read())
        activity_id = request.match_info["activity"]
        posted = Posted(activity_id, arrived, body)
        self.updated += 1
        waiter = self._update_waiters.pop(activity_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(posted)
        elif activity_id.startswith("reply-") and activity_id not in self.updates:
            # Only the first update of a reply of this run is waited for; later copies' updates are counted.
            self.updates[activity_id] = posted
            while len(self.updates) > MAX_KEPT_UPDATES:
                self.updates.pop(next(iter(self.updates)))
        return web.json_response({"id": activity_id})

    async def _create(self, request: web.Request) -> web.Response:
        await request.read()
        self._counter += 1
        return web.json_response({"id": f"a:soak-created-{self._counter}", "activityId": None})


# --- the demo tenant's admin API ---------------------------------------------------------------------------------


class DemoAdmin:
    """`/_demo/*` of the soak's demo tenant, over HTTPS trusting the demo CA."""

    def __init__(self, base_url: str, ca_file: Path) -> None:
        context = ssl.create_default_context(cafile=str(ca_file))
        self._session = aiohttp.ClientSession(base_url=base_url, connector=aiohttp.TCPConnector(ssl=context),
                                              timeout=aiohttp.ClientTimeout(total=30))

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        """One admin call; the JSON answer (None for 204)."""
        async with self._session.request(method, path, json=body) as response:
            response.raise_for_status()
            return await response.json() if response.status != 204 else None

    async def close(self) -> None:
        """Close the session."""
        await self._session.close()


# --- the soak -------------------------------------------------------------------------------------------------


@dataclass
class Flow:
    """An investigation from the query to the findings card (or where it stopped)."""

    actor: str
    query: str
    outcome: str = ""
    seconds: float = math.nan
    started_at: float = field(default_factory=time.perf_counter)


@dataclass
class Tally:
    """Everything the people saw."""

    exchanges: list[Exchange] = field(default_factory=list)
    invokes: list[InvokeRecord] = field(default_factory=list)
    flows: list[Flow] = field(default_factory=list)
    shown_cases: dict[str, str | None] = field(default_factory=dict)
    investigated: set[str] = field(default_factory=set)  # account ids with a findings card
    reported: set[str] = field(default_factory=set)  # account ids told "restricted"
    restricts: int = 0
    fault_counts: Counter[str] = field(default_factory=Counter)
    m365_calls: int = 0
    token_requests: int = 0
    token_failures: int = 0  # token requests the demo tenant answered with a 5xx
    rss: list[tuple[float, float]] = field(default_factory=list)

    def show(self, card: Any, account: str | None) -> None:
        """Remember the case ids a card carried."""
        for case_id in case_ids(card):
            if self.shown_cases.get(case_id) is None:
                self.shown_cases[case_id] = account


class Soak:
    """The people, the chaos and the sampling against one running bot."""

    def __init__(self, bot: ServerProcess, connector: SoakConnector, admin: DemoAdmin, http: aiohttp.ClientSession,
                 *, tenant_id: str, seconds: float, seed: int, cluster: PgCluster | None = None,
                 no_cluster: str = "") -> None:
        self.bot = bot
        self.cluster = cluster
        self.plan = plan_outages(seconds)
        self.token_outage = Outage("token endpoint")
        self.db_outage = Outage("database", skipped="" if cluster is not None else no_cluster or "no cluster")
        self.connector = connector
        self.admin = admin
        self.http = http
        self.tenant_id = tenant_id
        self.seconds = seconds
        self.tally = Tally()
        self.rng = random.Random(seed)
        self._ids = itertools.count(1)
        self._started = 0.0
        self._end = 0.0
        self.rule_kinds: dict[str, str] = {}

    # -- talking to the bot ---------------------------------------------------------------------------------

    def _activity(self, person: Person, text: str, activity_id: str) -> dict[str, Any]:
        body = message_activity(text, activity_id=activity_id, service_url=self.connector.service_url,
                                conversation_id=f"a:soak-{person.key}", user_id=person.aad_id,
                                tenant_id=self.tenant_id, locale=person.locale)
        body["from"]["name"] = person.name
        return body

    async def say(self, person: Person, text: str, label: str) -> tuple[Posted | None, str]:
        """Post a message; wait for its first reply. Returns the reply (or None) and its kind."""
        activity_id = f"soak-{next(self._ids)}"
        reply = self.connector.expect_reply(activity_id)
        sent = time.perf_counter()
        status: int | None = None
        try:
            async with self.http.post(f"{self.bot.base_url}/api/messages",
                                      json=self._activity(person, text, activity_id)) as response:
                await response.read()
                status = response.status
            remaining = max(0.1, REPLY_TIMEOUT - (time.perf_counter() - sent))
            posted: Posted | None = await asyncio.wait_for(reply, remaining) if status in (200, 201) else None
        except (aiohttp.ClientError, TimeoutError):
            posted = None
        self.connector.drop(activity_id)
        kind = reply_kind(posted.body, person.locale) if posted is not None else "none"
        text = str(posted.body.get("text") or "")[:60] if posted is not None else ""
        self.tally.exchanges.append(Exchange(person.key, label, sent, status,
                                             posted.at if posted is not None else None, kind, text))
        return posted, kind

    async def press(self, person: Person, verb: str, data: Mapping[str, Any],
                    reply_to: str | None) -> dict[str, Any] | None:
        """Send an `Action.Execute` invoke; returns the invoke response body."""
        activity_id = f"soak-{next(self._ids)}"
        body = self._activity(person, "", activity_id)
        for key in ("text", "textFormat"):
            body.pop(key, None)
        body.update(type="invoke", name="adaptiveCard/action",
                    value={"action": {"type": "Action.Execute", "verb": verb, "data": {"verb": verb, **data}},
                           "trigger": "manual"})
        if reply_to:
            body["replyToId"] = reply_to
        started = time.perf_counter()
        status: int | None = None
        answer: dict[str, Any] | None = None
        try:
            async with self.http.post(f"{self.bot.base_url}/api/messages", json=body) as response:
                status = response.status
                raw = await response.read()
            parsed = json.loads(raw) if raw else None
            answer = parsed if isinstance(parsed, dict) else None
        except (aiohttp.ClientError, TimeoutError, ValueError):
            answer = None
        body_status = answer.get("statusCode") if answer else None
        self.tally.invokes.append(InvokeRecord(person.key, verb, status,
                                               body_status if isinstance(body_status, int) else None,
                                               str(answer.get("type", "")) if answer else "",
                                               time.perf_counter() - started))
        if answer and isinstance(answer.get("value"), dict):
            self.tally.show(answer["value"], None)
        return answer

    async def investigate(self, person: Person, query: str, account: str | None) -> tuple[str | None, str | None]:
        """Investigate to the findings card: (case id, the findings card's activity id), or (None, None)."""
        flow = Flow(person.key, query)
        self.tally.flows.append(flow)
        # An exact match (an address) and a pick from the list start at once; a partial name asks to confirm
        # first (dialogs/investigate.py). `yes_at`: the turn that started the investigation.
        yes_at = time.perf_counter()
        reply, kind = await self.say(person, query, "investigate")
        if kind == "choice":
            yes_at = time.perf_counter()
            reply, kind = await self.say(person, "1", "choice")
            account = None
        if kind == "confirm":
            yes_at = time.perf_counter()
            reply, kind = await self.say(person, YES[person.language], "yes")
            if kind != "progress" or reply is None:
                flow.outcome = f"stopped after yes at {kind}"
                return None, None
        if kind != "progress" or reply is None:
            flow.outcome = f"stopped at {kind}"
            return None, None
        try:
            final = await asyncio.wait_for(self.connector.expect_update(reply.id), FINDINGS_TIMEOUT)
        except TimeoutError:
            self.connector.drop(reply.id)
            flow.outcome = "no findings card"
            return None, None
        flow.outcome = "findings"
        flow.seconds = final.at - yes_at
        cards = [a.get("content") for a in final.body.get("attachments") or []]
        self.tally.show(cards, account)
        ids = case_ids(cards)
        if account is not None:
            self.tally.investigated.add(account)
        return (next(iter(ids)) if ids else None), reply.id

    # -- the people --------------------------------------------------------------------------------------------

    def running(self) -> bool:
        """True until the soak's time is up."""
        return time.perf_counter() < self._end

    async def pause(self, low: float, high: float) -> None:
        """Think time, cut short at the end of the soak."""
        await asyncio.sleep(min(self.rng.uniform(low, high), max(0.0, self._end - time.perf_counter())))

    async def user(self, person: Person) -> None:
        """Reports bounces, asks for status and help, in the person's language."""
        await self.pause(0, 4)
        lang = person.language
        while self.running():
            roll = self.rng.random()
            if roll < 0.5:
                _, kind = await self.say(person, self.rng.choice(REPORTS[lang]), "report")
                if kind == "restricted":
                    self.tally.reported.add(person.aad_id)
            elif roll < 0.85:
                await self.say(person, self.rng.choice(STATUS[lang]), "status")
            else:
                await self.say(person, self.rng.choice(HELP[lang]), "help")
            await self.pause(4, 10)

    async def it_staff(self, person: Person) -> None:
        """Investigates accounts, presses Refresh, Show case and (refused) Unblock."""
        await self.pause(2, 6)
        while self.running():
            query, account = self.rng.choice(ISAIAH_QUERIES)
            case_id, card_id = await self.investigate(person, query, account)
            if case_id is not None:
                await self.pause(1, 3)
                await self.press(person, "refresh", {"caseId": case_id}, card_id)
                await self.press(person, "show_case", {"caseId": case_id}, card_id)
                await self.press(person, "unblock", {"caseId": case_id, "confirm": "1"}, card_id)
            await self.pause(4, 9)

    async def admin_cycle(self, person: Person) -> None:
        """Restricts an account again, investigates it, refreshes, unblocks (and confirms); in turn."""
        await self.pause(3, 6)
        for target in itertools.cycle(CYCLE):
            if not self.running():
                return
            try:
                await self.admin.call("POST", "/_demo/restrict", {"address": target.upn})
                self.tally.restricts += 1
            except aiohttp.ClientError as exc:
                print(f"  restrict {target.upn} failed: {exc}", file=sys.stderr)
            case_id, card_id = await self.investigate(person, f"investigate {target.upn}", target.aad_id)
            if case_id is not None:
                await self.pause(1, 3)
                answer = await self.press(person, "refresh", {"caseId": case_id}, card_id)
                fresh = case_ids(answer.get("value")) if answer else set()
                case_id = next(iter(fresh), case_id)
                await self.pause(1, 2)
                await self.press(person, "unblock", {"caseId": case_id}, card_id)
                await self.pause(0.5, 2)
                # Confirm; "anyway" with a reason in case the verdict gates the unblock.
                await self.press(person, "unblock", {"caseId": case_id, "confirm": "1", "override": "1",
                                                     "overrideReason": "chaos soak: restricted by the bench"},
                                 card_id)
            if self.rng.random() < 0.3:
                await self.say(person, "help", "help")
            await self.pause(4, 8)

    # -- chaos and sampling ------------------------------------------------------------------------------------

    async def install_faults(self) -> None:
        """Put `FAULTS` on Graph and Exchange calls."""
        rules = [{"match": M365_CALLS, **fields} for _, fields in FAULTS]
        installed = await self.admin.call("PUT", "/_demo/faults", rules)
        self.rule_kinds = {rule["id"]: kind for rule, (kind, _) in zip(installed, FAULTS, strict=True)}

    async def count_requests(self) -> None:
        """Count the faults in the demo tenant's request log and empty it (it keeps the last 10,000 records only:
        read before it wraps)."""
        records = await self.admin.call("GET", "/_demo/requests")
        await self.admin.call("DELETE", "/_demo/requests")
        for record in records:
            if record.get("api") == "identity" and str(record.get("path", "")).endswith("/oauth2/v2.0/token"):
                self.tally.token_requests += 1
                if int(record.get("status") or 0) >= 500:
                    self.tally.token_failures += 1
            if record.get("api") not in ("graph", "exchange"):
                continue
            self.tally.m365_calls += 1
            kinds = {self.rule_kinds.get(rule_id, "other") for rule_id in record.get("faults") or []}
            for kind in kinds:
                self.tally.fault_counts[kind] += 1
            if kinds:
                self.tally.fault_counts["any"] += 1

    @property
    def started_at(self) -> float:
        """`time.perf_counter()` when the traffic started."""
        return self._started

    async def until(self, offset: float) -> None:
        """Sleep until `offset` seconds after the traffic started."""
        await asyncio.sleep(max(0.0, self._started + offset - time.perf_counter()))

    async def break_token_endpoint(self) -> None:
        """The token endpoint answers 503 from `plan.token_start` for `plan.token_seconds`."""
        outage = self.token_outage
        await self.until(self.plan.token_start)
        try:
            rule = await self.admin.call("POST", "/_demo/faults", TOKEN_FAULT)
            outage.began = time.perf_counter()
            print(f"  {(outage.began - self._started) / 60:4.1f} min: token endpoint down (503)", flush=True)
            self.rule_kinds[rule["id"]] = "token 503"
            await self.until(self.plan.token_end)
        except aiohttp.ClientError as exc:
            outage.error = f"{type(exc).__name__}: {exc}"
            return
        finally:
            # Whatever happened, the token endpoint answers again: the rest of the run needs it.
            removed = await self._clear_token_fault()
            if outage.began is not None and removed:
                outage.ended = time.perf_counter()
                print(f"  {(outage.ended - self._started) / 60:4.1f} min: token endpoint back", flush=True)

    async def _clear_token_fault(self) -> bool:
        try:
            for rule in await self.admin.call("GET", "/_demo/faults"):
                if rule.get("match") == TOKEN_FAULT["match"]:
                    await self.admin.call("DELETE", f"/_demo/faults/{rule['id']}")
        except aiohttp.ClientError as exc:
            self.token_outage.error = f"could not remove the token fault: {exc}"
            return False
        return True

    async def poll_readyz(self, stop: asyncio.Event, back: asyncio.Event) -> None:
        """`/readyz` every `READYZ_POLL_SECONDS` into the database outage's record, until `stop`; `back` is set
        at the first 200 after the database came back."""
        while not stop.is_set():
            status: int | None = None
            try:
                async with self.http.get(f"{self.bot.base_url}/readyz",
                                         timeout=aiohttp.ClientTimeout(total=10)) as response:
                    await response.read()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError):
                status = None
            self.db_outage.readyz.append((time.perf_counter(), status))
            if status == 200 and self.db_outage.ended is not None:
                back.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), READYZ_POLL_SECONDS)

    async def break_database(self) -> None:
        """PostgreSQL stopped (`-m immediate`) at `plan.db_start` for `plan.db_seconds`, then started again;
        `/readyz` polled from just before the crash until it answers 200 after the restart (or 60 s)."""
        outage, cluster = self.db_outage, self.cluster
        if cluster is None:
            return
        await self.until(self.plan.db_start - 2 * READYZ_POLL_SECONDS)
        stop, back = asyncio.Event(), asyncio.Event()
        poller = asyncio.create_task(self.poll_readyz(stop, back), name="readyz")
        try:
            await self.until(self.plan.db_start)
            await cluster.crash()
            outage.began = time.perf_counter()
            print(f"  {(outage.began - self._started) / 60:4.1f} min: PostgreSQL stopped (-m immediate)", flush=True)
            await asyncio.sleep(self.plan.db_seconds)
            outage.restart_seconds = await cluster.start()
            outage.ended = time.perf_counter()
            print(f"  {(outage.ended - self._started) / 60:4.1f} min: PostgreSQL started again "
                  f"({outage.restart_seconds:.1f} s)", flush=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(back.wait(), READYZ_RECOVERY_SECONDS)
        except ClusterError as exc:
            outage.error = str(exc)
            print(f"  database outage failed: {exc}", file=sys.stderr, flush=True)
        finally:
            stop.set()
            await poller

    async def sample(self) -> None:
        """RSS every `RSS_SAMPLE_SECONDS`, the request log every `REQUEST_LOG_POLL_SECONDS`."""
        next_poll = time.perf_counter() + REQUEST_LOG_POLL_SECONDS
        while self.running():
            self.tally.rss.append((time.perf_counter() - self._started, self.bot.rss_mb()))
            if time.perf_counter() >= next_poll:
                next_poll += REQUEST_LOG_POLL_SECONDS
                try:
                    await self.count_requests()
                except aiohttp.ClientError as exc:
                    print(f"  request log poll failed: {exc}", file=sys.stderr)
            await asyncio.sleep(RSS_SAMPLE_SECONDS)

    async def progress(self) -> None:
        """One console line a minute."""
        while self.running():
            await asyncio.sleep(min(60.0, max(0.0, self._end - time.perf_counter())))
            elapsed = time.perf_counter() - self._started
            done = len(self.tally.exchanges)
            rss = self.tally.rss[-1][1] if self.tally.rss else math.nan
            findings = sum(1 for f in self.tally.flows if f.outcome == "findings")
            print(f"  {elapsed / 60:4.1f} min: {done} messages, {len(self.tally.invokes)} invokes, {findings} "
                  f"findings cards, {self.tally.fault_counts['any']} faults injected, RSS {fmt(rss, 'MB')}",
                  flush=True)

    async def run(self) -> None:
        """The whole soak: faults on, people and samplers for `seconds`, then drain and faults off."""
        await self.install_faults()
        self._started = time.perf_counter()
        self._end = self._started + self.seconds
        people = [asyncio.create_task(self.user(p), name=f"user-{p.key}") for p in USERS]
        people.append(asyncio.create_task(self.it_staff(ISAIAH), name="isaiah"))
        people.append(asyncio.create_task(self.admin_cycle(ALEX), name="alex"))
        helpers = [asyncio.create_task(self.sample(), name="sample"),
                   asyncio.create_task(self.progress(), name="progress")]
        outages = [asyncio.create_task(self.break_token_endpoint(), name="token-outage"),
                   asyncio.create_task(self.break_database(), name="database-outage")]
        # Everyone finishes what they started (each wait is bounded), then the chaos stops.
        done, pending = await asyncio.wait(people, timeout=self.seconds + 4 * HTTP_TIMEOUT)
        for task in pending:
            task.cancel()
        failed = [error for task in done if (error := task.exception()) is not None]
        if failed:
            raise failed[0]
        if pending:
            # Every wait of a person is bounded, so this is a hang in the bench or a turn that never ended.
            raise RuntimeError(f"{', '.join(t.get_name() for t in pending)} still waiting "
                               f"{4 * HTTP_TIMEOUT:g} s after the end of the soak")
        await asyncio.gather(*helpers, return_exceptions=True)
        for result in await asyncio.gather(*outages, return_exceptions=True):
            if isinstance(result, BaseException):
                raise result
        await self.count_requests()
        await self.admin.call("DELETE", "/_demo/faults")


# --- after the run ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoreFacts:
    """What the store holds after the run."""

    cases: dict[str, str]  # case id -> account id
    accounts_with_cases: set[str]
    unfinished_audit: int
    audit: Counter[str]  # "action outcome" -> count
    outcomes: dict[str, set[str]] = field(default_factory=dict)  # correlation id -> outcomes of its rows
    audited_unblocks: Counter[str] = field(default_factory=Counter)  # address -> audit `unblock` rows `started`


async def read_store(url: str) -> StoreFacts:
    """Cases and audit rows, through the store's own repositories."""
    from store import Store

    store = await Store.open(url, migrate=False)
    try:
        cases = await store.cases.list_cases(limit=None)
        unfinished = await store.audit.unfinished()
        entries = await store.audit.list()
        audit = Counter(f"{e.action} {e.outcome}" for e in entries)
        audit.update(f"{e.action} failed: {(e.error or '?').split(':', 1)[0]}" for e in entries
                     if e.outcome == "failed")
    finally:
        await store.close()
    outcomes: dict[str, set[str]] = {}
    for entry in entries:
        outcomes.setdefault(entry.correlation_id, set()).add(entry.outcome)
    audited_unblocks = Counter(str(e.parameters.get("address") or e.target or "").lower() for e in entries
                               if e.action == "unblock" and e.outcome == "started")
    return StoreFacts({c.id: c.account_id for c in cases}, {c.account_id for c in cases}, len(unfinished), audit,
                      outcomes, audited_unblocks)


async def wait_audit_settled(url: str, within: float) -> int:
    """Wait up to `within` seconds for the bot's reconciler to give every audit `started` row its outcome (an
    action the database outage cut off is settled `RECONCILE_GRACE_SECONDS` after it began); returns how many
    are still open. Read while the bot runs, through the store's own repository."""
    from store import Store

    store = await Store.open(url, migrate=False)
    try:
        deadline = time.perf_counter() + within
        while True:
            open_rows = len(await store.audit.unfinished())
            if not open_rows or time.perf_counter() >= deadline:
                return open_rows
            await asyncio.sleep(2)
    finally:
        await store.close()


def _pct(part: int, whole: int) -> float:
    return part / whole * 100.0 if whole else math.nan


def summarize(tally: Tally, checks: Sequence[Check], growth: RssGrowth | None, facts: StoreFacts, scan: LogScan,
              actions: Counter[str], minutes: float, database: str, connector: SoakConnector, runner: Soak,
              lost_audit: int) -> tuple[list[dict[str, Any]], str]:
    """The result figures and notes (bench/common.py's format)."""
    by_name = {c.name: c for c in checks}
    token_check = next(c for c in checks if c.name.startswith("token-endpoint outage"))
    db_check = next(c for c in checks if c.name.startswith("database outage"))
    token, db = runner.token_outage, runner.db_outage
    unreachable = sum(1 for e in tally.exchanges if e.reply_kind == "unreachable" and token.began is not None
                      and token.ended is not None and token.began <= e.sent_at < token.ended)
    readyz_back = next((at - db.ended for at, status in db.readyz if db.ended is not None and at >= db.ended
                        and status == 200), math.nan)
    latencies = [(e.replied_at - e.sent_at) * 1000 for e in tally.exchanges if e.replied_at is not None]
    answered = sum(1 for e in tally.exchanges if e.replied_at is not None and e.status in (200, 201)
                   and e.replied_at - e.sent_at <= REPLY_TIMEOUT)
    ok_invokes = sum(1 for i in tally.invokes if i.status == 200 and i.body_status == 200)
    findings = [f for f in tally.flows if f.outcome == "findings"]
    rss_name = next(n for n in by_name if n.startswith("RSS"))
    figures = [
        figure("messages answered within 60 s", _pct(answered, len(tally.exchanges)), "%",
               target="100%", met=by_name["every message answered"].passed),
        figure("invokes answered HTTP 200", _pct(ok_invokes, len(tally.invokes)), "%", target="100%",
               met=by_name["every invoke HTTP 200"].passed),
        figure("unhandled exceptions (tracebacks, ERROR records, error replies)", float(
            scan.problems + sum(1 for e in tally.exchanges if e.reply_kind == "error")), "count", target="0",
            met=by_name["no unhandled exception"].passed),
        figure("lost cases (shown but not stored, or no case) + audit rows without outcome", float(
            len([c for c in tally.shown_cases if c not in facts.cases])
            + len({a.lower() for a in tally.investigated | tally.reported}
                  - {a.lower() for a in facts.accounts_with_cases})
            + facts.unfinished_audit), "count", target="0", met=by_name["no lost case"].passed),
        figure("lost audit rows (logged as started but not stored, or a tenant write without its row)",
               float(lost_audit), "count", target="0", met=by_name["no lost audit row"].passed),
        figure("token-endpoint outage (every token request answered 503)", token.seconds, "s", met=token_check.passed),
        figure("turns answered 'can't reach Microsoft 365' during the token-endpoint outage", float(unreachable),
               "count", target="> 0, help/status as usual", met=token_check.passed),
        figure("database outage (PostgreSQL stopped -m immediate)", db.seconds, "s", met=db_check.passed),
        figure("/readyz 200 again after the database restart", readyz_back, "s",
               target=f"<= {READYZ_RECOVERY_SECONDS:g} s, not 200 while down", met=db_check.passed),
        figure("RSS growth, minute 2 → end", growth.growth_pct if growth else math.nan, "%",
               target=f"< {RSS_MAX_GROWTH_PCT:g}%", met=by_name[rss_name].passed),
        figure("RSS at the end", growth.end_mb if growth else math.nan, "MB",
               baseline=("RSS at minute 2", growth.start_mb) if growth else None),
        figure("Graph/Exchange calls with an injected fault", _pct(tally.fault_counts["any"], tally.m365_calls), "%",
               target="5–15% (10% configured)", met=by_name["faults injected on ~10% of Graph/Exchange calls"].passed),
        figure("reply latency p50", percentile(latencies, 50), "ms"),
        figure("reply latency p99", percentile(latencies, 99), "ms", target="<= 60000 ms",
               met=by_name["every message answered"].passed),
        figure("investigations: yes → findings card (median)", median([f.seconds * 1000 for f in findings]), "ms"),
    ]
    kinds = Counter(e.reply_kind for e in tally.exchanges)
    flows = Counter(f.outcome for f in tally.flows)
    verbs = Counter(f"{i.verb} {i.body_type.rsplit('.', 1)[-1] or 'none'}" for i in tally.invokes)
    faults = ", ".join(f"{kind} {tally.fault_counts[kind]}" for kind, _ in FAULTS)
    notes = (
        f"{minutes:g} minutes; bot = `python bot.py` in demo mode (anonymous, joined through DEMO_TENANT_ENV to "
        f"the demo tenant in its own process over HTTPS, "
        f"{database}, HTTP_TIMEOUT_SECONDS={BOT_HTTP_TIMEOUT_SECONDS:g}, WATCH_INTERVAL_MINUTES=1, default rate "
        f"limit; the seed's unblock limit raised to {SOAK_UNBLOCK_LIMIT} so unblocks repeat). "
        f"{len(USERS)} users (EN and NL) reporting bounces, asking status and help; Isaiah (IT staff, NL) "
        f"investigating and pressing refresh/show_case/unblock; Alex (security admin) restricting {len(CYCLE)} "
        f"accounts in turn via /_demo/restrict ({tally.restricts} times), investigating, refreshing and unblocking "
        f"them. Faults on {tally.m365_calls} Graph/Exchange calls: {tally.fault_counts['any']} "
        f"({_pct(tally.fault_counts['any'], tally.m365_calls):.1f}%): {faults}. "
        f"{len(tally.exchanges)} messages, replies by kind: {dict(sorted(kinds.items()))}; "
        f"{len(tally.invokes)} invokes: {dict(sorted(verbs.items()))}; investigations: {dict(sorted(flows.items()))}; "
        f"proactive posts {connector.proactive}, card updates {connector.updated}. "
        f"Outages: {outage_notes(runner)}. "
        f"Store after the run: {len(facts.cases)} cases; audit {dict(sorted(facts.audit.items()))}; demo tenant "
        f"writes {dict(sorted(actions.items()))}. Bot log: {scan.warnings} WARNING records "
        f"({', '.join(f'{k} {v}' for k, v in sorted(scan.warnings_by_logger.items()))}). "
        f"RSS sampled every {RSS_SAMPLE_SECONDS:g} s ({len(tally.rss)} samples), growth = median of the last "
        f"{RSS_WINDOW_SECONDS:g} s over the median of [{RSS_FROM_SECONDS:g}, "
        f"{RSS_FROM_SECONDS + RSS_WINDOW_SECONDS:g}) s. Checks: "
        + "; ".join(f"{c.name}: {'pass' if c.passed else 'n/a' if c.passed is None else 'FAIL'} ({c.detail})"
                    for c in checks)
    )
    return figures, notes


def outage_notes(runner: Soak) -> str:
    """The outages in words, for the notes."""
    plan, token, db, started = runner.plan, runner.token_outage, runner.db_outage, runner.started_at

    def at(moment: float | None) -> str:
        if moment is None:
            return "never"
        seconds = moment - started
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"

    text = (f"token endpoint answering 503 from {at(token.began)} to {at(token.ended)} (planned "
            f"{plan.token_seconds:g} s; demo tenant tokens live {TOKEN_LIFETIME_SECONDS} s, so msal and the bot "
            f"renew them every ~{TOKEN_RENEW_SECONDS} s; {runner.tally.token_failures} of "
            f"{runner.tally.token_requests} token requests refused)")
    if db.skipped:
        return text + f"; no database outage ({db.skipped})"
    return text + (f"; PostgreSQL (initdb + pg_ctl by the soak) stopped -m immediate at {at(db.began)}, started "
                   f"again at {at(db.ended)} after {plan.db_seconds:g} s (crash recovery "
                   f"{db.restart_seconds:.1f} s), bot with RECONCILE_GRACE_SECONDS={RECONCILE_GRACE_SECONDS}"
                   + (f"; error: {db.error}" if db.error else ""))


def outage_summary(runner: Soak) -> dict[str, Any]:
    """The outages as JSON, for bench/results/soak.json (seconds since the traffic started)."""

    def rel(moment: float | None) -> float | None:
        return None if moment is None else round(moment - runner.started_at, 1)

    token, db = runner.token_outage, runner.db_outage
    return {
        "token_endpoint": {"began": rel(token.began), "ended": rel(token.ended), "status": TOKEN_FAULT["status"],
                           "token_lifetime_seconds": TOKEN_LIFETIME_SECONDS,
                           "token_requests": runner.tally.token_requests,
                           "token_requests_refused": runner.tally.token_failures, "error": token.error or None},
        "database": {"began": rel(db.began), "ended": rel(db.ended), "skipped": db.skipped or None,
                     "restart_seconds": None if math.isnan(db.restart_seconds) else round(db.restart_seconds, 2),
                     "readyz": [[rel(at), status] for at, status in db.readyz], "error": db.error or None},
    }


def render_section(result: Mapping[str, Any]) -> str:
    """The Markdown between the soak markers of docs/PERFORMANCE.md (bench/report.py renders it, from the JSON
    result with its `checks` and `outages`, so `python -m bench.report` redraws the same section)."""
    from bench.report import render_soak

    return render_soak(dict(result))


def splice_section(document: str, section: str) -> str:
    """`document` with the soak section replaced (appended under a heading when the markers are missing)."""
    from bench.report import splice_soak

    return splice_soak(document, section)


# --- main ---------------------------------------------------------------------------------------------------------


def soak_seed(directory: Path) -> Path:
    """The demo seed with Microsoft's unblock limit (3 per sender) raised, so that Alex's unblocks keep repeating
    for ten minutes instead of ending in "unblocked the maximum number of times" after the first dozen."""
    seed = json.loads(DEMO_SEED.read_text(encoding="utf-8"))
    seed["exchange"]["unblockLimit"] = SOAK_UNBLOCK_LIMIT
    path = directory / "soak-seed.json"
    path.write_text(json.dumps(seed), encoding="utf-8")
    return path


def bot_env(data_dir: Path, tenant_env: Path, database_url: str) -> dict[str, str]:
    """`python bot.py` in demo mode: anonymous, joining the soak's demo tenant, short upstream timeouts."""
    env = clean_env(data_dir)
    # Real environment variables win over a developer's `.env`: empty ones keep the bot anonymous and on the demo.
    for name in (*IDENTITY_ENV_NAMES, "M365_TENANT_ID", "M365_CLIENT_ID",
                 "M365_CLIENT_SECRET", "M365_CLIENT_CERTIFICATE_PATH", "M365_CA_FILE", "IT_STAFF_GROUP_ID",
                 "SECURITY_ADMIN_GROUP_ID", "PUBLIC_HOSTNAME", "DEMO_TENANT_SEED"):
        env[name] = ""
    env.update({
        "DEMO_TENANT_ENV": str(tenant_env),
        "DATABASE_URL": database_url,
        "LOG_LEVEL": "INFO",
        "HTTP_TIMEOUT_SECONDS": f"{BOT_HTTP_TIMEOUT_SECONDS:g}",
        "WATCH_INTERVAL_MINUTES": "1",
        "RECONCILE_GRACE_SECONDS": str(RECONCILE_GRACE_SECONDS),
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    return env


async def start_demo_tenant(python: str, work: Path, seed: Path) -> tuple[ServerProcess, dict[str, str], Path]:
    """`python -m demo_tenant --print-env` in its own process (so the bot's RSS is the bot's alone); returns the
    process, its client environment and the file the bot joins it through (`DEMO_TENANT_ENV`)."""
    port = free_port()
    log_path = work / "demo-tenant.log"
    server = ServerProcess("demo tenant", [python, "-m", "demo_tenant", "--port", str(port), "--data-dir",
                                           str(work / "demo_tenant"), "--seed", str(seed), "--print-env",
                                           "--token-lifetime", str(TOKEN_LIFETIME_SECONDS), "--log-level",
                                           "WARNING"],
                           port=port, env={"PYTHONDONTWRITEBYTECODE": "1"}, log_path=log_path)
    server.start()
    wanted = ("M365_TENANT_ID", "M365_CLIENT_ID", "M365_CLIENT_SECRET", "M365_GRAPH_URL", "M365_CA_FILE")
    deadline = time.perf_counter() + 60
    env: dict[str, str] = {}
    while not all(key in env for key in wanted):
        if server.proc is None or server.proc.poll() is not None or time.perf_counter() > deadline:
            server.stop()
            raise RuntimeError(f"the demo tenant did not print its environment; log: {log_path}")
        await asyncio.sleep(0.2)
        for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            key, sep, value = line.partition("=")
            if sep and re.fullmatch(r"[A-Z0-9_]+", key):
                env[key] = value
    env_file = work / "demo-tenant.env"
    env_file.write_text("".join(f"{key}={value}\n" for key, value in env.items()), encoding="utf-8")
    env_file.chmod(0o600)  # it holds the demo app's client secret
    return server, env, env_file


async def start_database(database_url: str) -> tuple[str, PgCluster | None, str]:
    """The bot's DATABASE_URL, the PostgreSQL cluster the soak owns (None when it owns none) and, then, why not."""
    if database_url:
        return database_url, None, "--database-url names a database the soak does not own, so it is not stopped"
    cluster, reason = find_cluster()
    if cluster is None:
        return "", None, reason
    try:
        await cluster.create()
    except (ClusterError, OSError) as exc:
        await cluster.destroy()
        return "", None, f"the PostgreSQL cluster could not be made: {exc}"
    return cluster.url, cluster, ""


async def soak(minutes: float, python: str, database_url: str, seed: int,
               work: Path) -> tuple[list[Check], list[dict[str, Any]], str, dict[str, Any]]:
    """Start everything, run the soak, stop, evaluate."""
    data_dir = work / "bot"
    data_dir.mkdir()
    database_url, cluster, no_cluster = await start_database(database_url)
    if no_cluster:
        print(f"soak: no database outage phase: {no_cluster}"
              f"{'; running on SQLite' if not database_url else ''}", flush=True)
    store_url = database_url or f"sqlite:///{data_dir / 'bot.db'}"
    # SQLAlchemy wants its own driver names; the bot's Settings maps them the same way.
    from config import async_database_url

    # The bot's log outlives the run (the data directory does not): it is what to read when a check fails.
    log_path = Path(tempfile.mkdtemp(prefix="bench-soak-log-")) / "bot.log"
    try:
        tenant, tenant_env, env_file = await start_demo_tenant(python, work, soak_seed(work))
    except BaseException:
        if cluster is not None:
            await cluster.destroy()
        raise
    bot = ServerProcess("bot", [python, "bot.py"], port=free_port(), env=bot_env(data_dir, env_file, database_url),
                        log_path=log_path)
    connector = SoakConnector()
    admin = DemoAdmin(tenant_env["M365_GRAPH_URL"], Path(tenant_env["M365_CA_FILE"]))
    alive = finished = False
    try:
        await connector.start()
        bot.start()
        await bot.wait_ready(within=120)
        # /readyz pings the tenant: a bot that started a tenant of its own would leave this log empty.
        if not await admin.call("GET", "/_demo/requests"):
            raise RuntimeError("the bot did not join the soak's demo tenant (DEMO_TENANT_ENV)")
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT)) as http:
            runner = Soak(bot, connector, admin, http, tenant_id=tenant_env["M365_TENANT_ID"] or demo_tenant_id(),
                          seconds=minutes * 60, seed=seed, cluster=cluster, no_cluster=no_cluster)
            print(f"soak: {minutes:g} min against {bot.base_url} on "
                  f"{'PostgreSQL' if store_url.startswith('postgres') else 'SQLite'} (log {log_path})", flush=True)
            await runner.run()
        # An action the database outage cut off gets its outcome from the reconciler: let it finish its round.
        still_open = await wait_audit_settled(async_database_url(store_url), 2.5 * RECONCILE_GRACE_SECONDS)
        if still_open:
            print(f"  {still_open} audit rows still without an outcome", flush=True)
        actions: list[dict[str, Any]] = await admin.call("GET", "/_demo/actions")
        alive = bot.proc is not None and bot.proc.poll() is None
        finished = True
    finally:
        await admin.close()
        bot.stop(timeout=20)
        await connector.close()
        tenant.stop()
        if cluster is not None and not finished:  # unwinding: nobody reads this store
            await cluster.destroy()
    try:
        facts = await read_store(async_database_url(store_url))
    finally:
        if cluster is not None:
            await cluster.destroy()
    tally = runner.tally
    log_lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    scan = scan_log(log_lines)
    growth = rss_growth(tally.rss)
    error_replies = sum(1 for e in tally.exchanges if e.reply_kind == "error")
    tenant_unblocks = Counter(str(a.get("target") or "").lower() for a in actions if a.get("kind") == "unblock")
    acknowledged = acknowledged_actions(log_lines)
    findings_after = sum(1 for f in tally.flows if f.outcome == "findings" and runner.db_outage.ended is not None
                         and f.started_at >= runner.db_outage.ended)
    checks = [
        chaos_check(tally.fault_counts["any"], tally.m365_calls),
        unhandled_check(scan, error_replies, alive),
        lost_case_check(tally.shown_cases, facts.cases, tally.investigated | tally.reported,
                        facts.accounts_with_cases, facts.unfinished_audit),
        lost_audit_check(acknowledged, facts.outcomes, tenant_unblocks, facts.audited_unblocks),
        answered_check(tally.exchanges,
                       missing_findings=sum(1 for f in tally.flows if f.outcome == "no findings card")),
        invoke_check(tally.invokes),
        token_outage_check(runner.token_outage, tally.exchanges, tally.token_failures),
        database_outage_check(runner.db_outage, tally.exchanges, findings_after,
                              required=bool(os.environ.get("CI"))),
        rss_check(growth),
    ]
    database = "PostgreSQL (a cluster of its own)" if cluster else (
        "PostgreSQL" if database_url.startswith("postgres") else "SQLite")
    figures, notes = summarize(tally, checks, growth, facts, scan, Counter(str(a.get("kind")) for a in actions),
                               minutes, database, connector, runner,
                               len(audit_losses(acknowledged, facts.outcomes, tenant_unblocks, facts.audited_unblocks)))
    for line in (scan.tracebacks + scan.errors + scan.stray)[:20]:
        print(f"  log: {line}")
    others = Counter(e.reply_text for e in tally.exchanges if e.reply_kind == "other")
    for text, count in others.most_common(8):
        print(f"  other reply x{count}: {text!r}")
    print(f"  bot log: {log_path}")
    return checks, figures, notes, outage_summary(runner)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; exit code 1 when a check fails."""
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=float(os.environ.get("SOAK_MINUTES") or MAX_MINUTES),
                        help=f"duration of the traffic (default and maximum {MAX_MINUTES:g})")
    parser.add_argument("--database-url", default="", help="the bot's DATABASE_URL (default: SQLite in a temp dir)")
    parser.add_argument("--seed", type=int, default=8, help="random seed of the people's choices")
    parser.add_argument("--python", default=sys.executable, help="interpreter for the bot (project venv)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/results and docs alone")
    args = parser.parse_args(argv)
    # SIGTERM (CI cancelling the job) unwinds like Ctrl-C, so the bot process is stopped too.
    signal.signal(signal.SIGTERM, _interrupt)
    if not 0 < args.minutes <= MAX_MINUTES:
        parser.error(f"--minutes must be more than 0 and at most {MAX_MINUTES:g}")
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as work:
        checks, figures, notes, outages = asyncio.run(soak(args.minutes, args.python, args.database_url, args.seed,
                                                  Path(work)))
        print()
        for check in checks:
            mark = {True: "PASS", False: "FAIL", None: "n/a "}[check.passed]
            print(f"  {mark}  {check.name}: {check.detail}")
        for entry in figures:
            print(f"  {entry['metric']}: {fmt(entry['value'], entry['unit'])}")
        print(f"\n{notes}")
        if not args.no_write:
            path = write_result("soak", figures, notes)
            result = json.loads(path.read_text(encoding="utf-8"))
            # The checks and the outages' timeline beside the figures, so the section can be read from the JSON.
            result["checks"] = [{"name": c.name, "passed": c.passed, "detail": c.detail} for c in checks]
            result["outages"] = outages
            path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            from bench.report import render, splice

            doc = splice_section(PERFORMANCE_DOC.read_text(encoding="utf-8"), render_section(result))
            # The summary table (bench/report.py) lists every result file, this one too: keep it in step.
            PERFORMANCE_DOC.write_text(splice(doc, render(read_results())), encoding="utf-8")
            print(f"\nwrote {path.relative_to(ROOT)}, the soak section and the summary table of docs/PERFORMANCE.md")
    return 1 if any(c.passed is False for c in checks) else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Investigating many restricted accounts at once (a phishing outbreak) within Microsoft's throttles.

One investigation reads about fifteen sources for one account; a few of them sit behind hard throttles
(sign-in and directory audit logs about 5 requests per 10 s per app, Identity Protection about 1 per
second). Investigating 200 accounts one by one therefore waits on those throttles for the better part of
an hour. `BulkInvestigator` reads each source for all accounts together instead:

- throttled logs (sign-ins, directory audits, risk detections, risky users, the MFA registration report)
  with one `$filter` over many user ids per request, chunked to the URL limit (`m365.protocol.BulkTenant`),
  paced by an `m365.graph.Governor` that keeps every family inside its window and holds a family after a
  429 until its `Retry-After` has passed;
- per-user Graph reads (inbox rules, folders, authentication methods, consents, memberships, the account)
  through `$batch`, 20 per call;
- tenant-wide reads once (verified domains, the Restricted entities list, Defender alerts), and the
  service principals of every consent in one batched lookup;
- sources without a read over many accounts (Exchange's mailbox cmdlets, automatic replies) per account, many at
  a time.

What each source's bulk read is comes from its row in `investigation.sources.SOURCES`. Each account's `Evidence` is
then built by the same code as a single investigation (`collect.build_evidence`) and judged by the same indicators
and verdict, so an account's verdict is what `Collector.investigate` would give. A source that
fails is recorded as not checked for the accounts it covered; `investigate_many` never raises for an
upstream failure. A tenant without the bulk reads is investigated one `Collector` per account.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from investigation.collect import (
    Collector,
    CollectorConfig,
    Investigation,
    Limits,
    SourceTiming,
    build_evidence,
    judge,
)
from investigation.sources import SOURCES, Scope, SourceName, SourceSpec
from m365.errors import M365Error
from m365.graph import Governor, governed
from m365.http import deadline
from m365.protocol import BulkTenant, Tenant
from m365.records import User

log = logging.getLogger(__name__)

Progress = Callable[[int, int], Awaitable[None]]

# Per-account reads (no read over many accounts, e.g. Exchange's `Get-Mailbox`) in flight at once.
PER_ACCOUNT_CONCURRENCY = 32
# Accounts investigated at once when the tenant has no bulk reads.
FALLBACK_CONCURRENCY = 8
# The whole bulk read may take this long per 20 accounts (the throttles grow with the count), at most `_MAX_DEADLINE`.
_DEADLINE_PER_20 = 20.0
_MAX_DEADLINE = 900.0


class BulkInvestigator:
    """Investigates many restricted accounts at once within Microsoft's throttles."""

    def __init__(
        self,
        tenant: Tenant,
        *,
        config: CollectorConfig,
        limits: Limits,
        governor: Governor,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._tenant = tenant
        self._config = config
        self._clock = clock
        # The process's one pacer (`Investigations` owns it), so a triage and the watch share Microsoft's windows.
        self._governor = governor
        self._one = Collector(tenant, config=config, limits=limits, governor=governor, clock=clock)

    async def investigate_many(
        self, users: Sequence[User], *, on_progress: Progress | None = None
    ) -> dict[str, Investigation]:
        """Every user's Investigation keyed by user id; a failing source shows as not checked, never an exception."""
        unique = list({u.id: u for u in users if u.id}.values())
        if not unique:
            return {}
        if not isinstance(self._tenant, BulkTenant):
            return await self._one_by_one(unique, on_progress)
        started = time.perf_counter()
        now = self._clock()
        bulk = _BulkRead(self._tenant, self._config, now)
        budget = min(_MAX_DEADLINE, max(self._config.total_deadline,
                                        _DEADLINE_PER_20 * math.ceil(len(unique) / 20)))
        if on_progress is not None:
            await _report(on_progress, 0, len(unique))
        with governed(self._governor), deadline(budget):
            await bulk.run(unique, budget)
        out: dict[str, Investigation] = {}
        seconds = time.perf_counter() - started
        for user in unique:
            results, failures = bulk.for_user(user)
            # The same evidence builder, indicators and verdict as `Collector.investigate`: verdicts must not
            # depend on whether an account was investigated alone or in an outbreak.
            evidence = build_evidence(bulk.fresh.get(user.id) or user, now, self._config.window_days, results,
                                      failures)
            out[user.id] = judge(evidence, bulk.timings(), seconds)
            if on_progress is not None:
                await _report(on_progress, len(out), len(unique))
        verdicts: dict[str, int] = {}
        for item in out.values():
            verdicts[item.assessment.verdict.value] = verdicts.get(item.assessment.verdict.value, 0) + 1
        log.info("investigated %d accounts in bulk in %.2fs: %s", len(out), seconds,
                 ", ".join(f"{k} {v}" for k, v in sorted(verdicts.items())))
        return out

    async def _one_by_one(self, users: list[User], on_progress: Progress | None) -> dict[str, Investigation]:
        gate = asyncio.Semaphore(FALLBACK_CONCURRENCY)
        out: dict[str, Investigation] = {}

        async def one(user: User) -> None:
            async with gate:
                out[user.id] = await self._one.investigate(user)
            if on_progress is not None:
                await _report(on_progress, len(out), len(users))

        await asyncio.gather(*(one(u) for u in users))
        return out


async def _report(on_progress: Progress, done: int, total: int) -> None:
    try:
        await on_progress(done, total)
    except Exception:  # noqa: BLE001 - a progress card that cannot be drawn must not lose the investigations
        log.exception("progress callback failed")


class _BulkRead:
    """The reads of one `investigate_many`: every source for every account, kept per source and account."""

    def __init__(self, tenant: BulkTenant, config: CollectorConfig, now: datetime) -> None:
        self.tenant = tenant
        self.config = config
        self.scope = Scope(since=now - timedelta(days=config.window_days), sign_in_limit=config.sign_in_limit)
        # source → user id → value, or the failure of that source for that user
        self.values: dict[SourceName, dict[str, Any]] = {spec.name: {} for spec in SOURCES}
        self.errors: dict[SourceName, dict[str, BaseException]] = {spec.name: {} for spec in SOURCES}
        self.fresh: dict[str, User] = {}
        self._timings: dict[SourceName, SourceTiming] = {}

    def timings(self) -> tuple[SourceTiming, ...]:
        """How long each bulk source took (the same for every account it covered)."""
        return tuple(self._timings[spec.name] for spec in SOURCES if spec.name in self._timings)

    def for_user(self, user: User) -> tuple[dict[SourceName, Any], dict[SourceName, BaseException]]:
        """The results and failures of one account, shaped as `Collector.collect` keeps them."""
        results: dict[SourceName, Any] = {}
        failures: dict[SourceName, BaseException] = {}
        for spec in SOURCES:
            if user.id in self.errors[spec.name]:
                failures[spec.name] = self.errors[spec.name][user.id]
            elif user.id in self.values[spec.name]:
                results[spec.name] = self.values[spec.name][user.id]
            else:  # the read never answered for this account (deadline)
                failures[spec.name] = TimeoutError()
        return results, failures

    async def run(self, users: list[User], budget: float) -> None:
        """Read every source for `users`, all families at once, within `budget` seconds."""
        gate = asyncio.Semaphore(PER_ACCOUNT_CONCURRENCY)
        jobs: list[Awaitable[None]] = [
            self._many(spec, users) if spec.bulk is not None else self._each(spec, users, gate) for spec in SOURCES
        ]
        if self.config.refresh_user:
            jobs.append(self._refresh([u.id for u in users]))
        tasks = [asyncio.ensure_future(job) for job in jobs]
        try:
            _, pending = await asyncio.wait(tasks, timeout=budget)
        finally:
            # Also when the caller is cancelled: no read may outlive the investigation.
            for task in tasks:
                task.cancel()
        if pending:
            log.warning("bulk investigation: %d reads still running after %.0f s; those sources are not checked",
                        len(pending), budget)
            await asyncio.gather(*pending, return_exceptions=True)

    async def _many(self, spec: SourceSpec, users: list[User]) -> None:
        """One read for every account (`spec.bulk`); a failure of the whole read is every account's failure."""
        assert spec.bulk is not None
        started = time.perf_counter()
        outcome = "ok"
        try:
            answers = await spec.bulk(self.tenant, users, self.scope)
            for user_id, value in answers.items():
                if isinstance(value, BaseException):
                    self.errors[spec.name][user_id] = value
                else:
                    self.values[spec.name][user_id] = value
        except (M365Error, TimeoutError) as exc:
            outcome = type(exc).__name__
            self._fail(spec.name, users, exc)
        except Exception as exc:  # noqa: BLE001 - a bug in one source must not lose the others
            log.exception("bulk source %s failed unexpectedly", spec.name.value)
            outcome = "bug"
            self._fail(spec.name, users, exc)
        finally:
            self._timings[spec.name] = SourceTiming(spec.name, time.perf_counter() - started, outcome)

    async def _each(self, spec: SourceSpec, users: list[User], gate: asyncio.Semaphore) -> None:
        """The single read per account (no filter over many), many at once under the shared `gate`."""
        started = time.perf_counter()

        async def one(user: User) -> None:
            try:
                async with gate:
                    self.values[spec.name][user.id] = await spec.single(self.tenant, user, self.scope)
            except (M365Error, TimeoutError) as exc:
                self.errors[spec.name][user.id] = exc
            except Exception as exc:  # noqa: BLE001 - a bug in one read must not lose the others
                log.exception("bulk source %s failed unexpectedly", spec.name.value)
                self.errors[spec.name][user.id] = exc

        try:
            await asyncio.gather(*(one(user) for user in users))
        finally:
            self._timings[spec.name] = SourceTiming(spec.name, time.perf_counter() - started, "ok")

    def _fail(self, source: SourceName, users: Sequence[User], exc: BaseException) -> None:
        for user in users:
            self.errors[source].setdefault(user.id, exc)

    async def _refresh(self, ids: list[str]) -> None:
        """Re-read the accounts alongside the evidence; a failure keeps the record at hand (as a single run)."""
        try:
            answers = await self.tenant.users_by_id(ids)
        except Exception as exc:  # noqa: BLE001 - the records at hand will do
            log.info("could not re-read %d accounts (%s); using the records at hand", len(ids), type(exc).__name__)
            return
        for user_id, value in answers.items():
            if isinstance(value, User) and value.id == user_id:
                self.fresh[user_id] = value

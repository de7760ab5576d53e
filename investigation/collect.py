"""Gathering the evidence about one account: every source at once, each with its own timeout.

The sources are the rows of `investigation.sources.SOURCES`. A source yields its records or an `Unavailable` with
the reason (missing permission, licence, throttling, timeout, no mailbox); it never raises into the caller.
Concurrency is bounded per upstream family by `Limits` and the throttled Graph families are paced by a `Governor`;
both are the process's own (`investigation.service.Investigations` holds them), so a burst of investigations stays
inside Microsoft's throttles instead of multiplying them. `build_evidence` turns the answers into `Evidence`, for a
single investigation and for a bulk one alike.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from investigation.evidence import Evidence, SourceName, Unavailable
from investigation.indicators import Finding, run_indicators
from investigation.reason import RestrictionReason, parse_reason
from investigation.rules import merge_rules
from investigation.sources import SOURCES, Family, Scope, SourceSpec
from investigation.verdict import Assessment, assess
from m365.errors import M365Error
from m365.graph import Governor, governed
from m365.http import deadline
from m365.protocol import Tenant
from m365.records import User

log = logging.getLogger(__name__)


DEFAULT_CONCURRENCY: dict[Family, int] = {
    Family.audit_logs: 4,
    Family.identity_protection: 2,
    Family.outlook: 4,
    Family.exchange: 6,
    Family.directory: 10,
    Family.security: 2,
}


@dataclass(frozen=True)
class CollectorConfig:
    """Timeouts and the look-back window."""

    source_timeout: float = 8.0
    total_deadline: float = 20.0
    window_days: int = 7
    sign_in_limit: int = 500
    # Re-read the account from the directory alongside the evidence: the caller's record may be minutes old
    # (taken when the investigation was confirmed), and it costs the critical path nothing.
    refresh_user: bool = True


@dataclass
class Limits:
    """Process-wide concurrency bounds per upstream family, shared by all investigations."""

    concurrency: dict[Family, int] = field(default_factory=lambda: dict(DEFAULT_CONCURRENCY))
    _semaphores: dict[Family, asyncio.Semaphore] = field(default_factory=dict)

    def semaphore(self, family: Family) -> asyncio.Semaphore:
        """The semaphore of `family` (created on first use, inside the running loop)."""
        sem = self._semaphores.get(family)
        if sem is None:
            sem = self._semaphores[family] = asyncio.Semaphore(self.concurrency.get(family, 4))
        return sem


@dataclass(frozen=True)
class SourceTiming:
    """How long one source took and how it ended (for the benchmark and the log)."""

    source: SourceName
    seconds: float
    outcome: str


@dataclass(frozen=True)
class Investigation:
    """The result of one investigation: evidence, findings, the verdict and the parsed restriction reason."""

    evidence: Evidence
    findings: tuple[Finding, ...]
    assessment: Assessment
    reason: RestrictionReason | None
    timings: tuple[SourceTiming, ...] = ()
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    seconds: float = 0.0


def judge(evidence: Evidence, timings: tuple[SourceTiming, ...], seconds: float) -> Investigation:
    """Run the indicators and the verdict over `evidence`: the same for a single and a bulk investigation."""
    findings = run_indicators(evidence)
    assessment = assess(evidence, findings)
    reason = parse_reason(evidence.restriction.reason) if evidence.restriction else None
    return Investigation(evidence, findings, assessment, reason, timings, evidence.now, seconds)


def build_evidence(user: User, now: datetime, window_days: int, results: Mapping[SourceName, Any],
                   failures: Mapping[SourceName, BaseException]) -> Evidence:
    """`Evidence` from each source's answer (`results`) or failure (`failures`), keyed by `SOURCES` rows."""
    fields: dict[str, Any] = {}
    unavailable: list[Unavailable] = []
    for spec in SOURCES:
        if spec.name in results:
            fields.update(spec.land(results[spec.name]))
        elif spec.name in failures:
            missing = spec.unavailable(failures[spec.name])
            if missing is not None:
                unavailable += [Unavailable(name, *missing) for name in (spec.name, *spec.also)]
    # Graph's rules are the ones the card can act on (disable); Exchange's add the hidden ones. Without Graph's,
    # rules stay "not checked": which of Exchange's are hidden, and how to disable them, is then unknown.
    if fields.get("inbox_rules") is not None:
        fields["inbox_rules"] = merge_rules(fields["inbox_rules"], results.get(SourceName.hidden_inbox_rules))
    fields.setdefault("verified_domains", _fallback_domains(user))
    return Evidence(user=user, now=now, window_days=window_days, unavailable=tuple(unavailable), **fields)


class Collector:
    """Collects the evidence about an account from a `Tenant` and judges it (one `SOURCES` row per task)."""

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
        self._limits = limits
        self._governor = governor
        self._clock = clock

    async def investigate(self, user: User) -> Investigation:
        """Collect, run the indicators and assess. Never raises for an upstream failure."""
        started = time.perf_counter()
        evidence, timings = await self.collect(user)
        investigation = judge(evidence, timings, time.perf_counter() - started)
        log.info(
            "investigated %s in %.2fs: %s, %d findings, %d sources unavailable",
            user.id, investigation.seconds, investigation.assessment.verdict.value, len(investigation.findings),
            len(evidence.unavailable),
        )
        return investigation

    async def collect(self, user: User) -> tuple[Evidence, tuple[SourceTiming, ...]]:
        """Read every source concurrently under the total deadline, paced by the process's governor."""
        with governed(self._governor):
            return await self._collect(user)

    async def _collect(self, user: User) -> tuple[Evidence, tuple[SourceTiming, ...]]:
        now = self._clock()
        scope = Scope(since=now - timedelta(days=self._config.window_days), sign_in_limit=self._config.sign_in_limit)
        tenant = self._tenant
        results: dict[SourceName, Any] = {}
        failures: dict[SourceName, BaseException] = {}
        timings: dict[SourceName, SourceTiming] = {}

        ends = time.monotonic() + self._config.total_deadline

        async def run(spec: SourceSpec) -> None:
            started = time.perf_counter()
            outcome = "ok"
            budget = max(0.0, min(self._config.source_timeout, ends - time.monotonic()))
            try:
                # `deadline` makes the transport give up a retry (429 Retry-After, 503) that would outlast the
                # budget, so the source is reported as throttled/failed rather than as a timeout.
                with deadline(budget):
                    async with asyncio.timeout(budget):
                        async with self._limits.semaphore(spec.family):
                            results[spec.name] = await spec.single(tenant, user, scope)
            except (M365Error, TimeoutError) as exc:
                failures[spec.name] = exc
                outcome = type(exc).__name__
            except Exception as exc:  # noqa: BLE001 - a bug in one source must not lose the others
                log.exception("source %s failed unexpectedly", spec.name.value)
                failures[spec.name] = exc
                outcome = "bug"
            finally:
                timings[spec.name] = SourceTiming(spec.name, time.perf_counter() - started, outcome)

        fresh: list[User] = []

        async def refresh() -> None:
            budget = max(0.0, min(self._config.source_timeout, ends - time.monotonic()))
            try:
                with deadline(budget):
                    async with asyncio.timeout(budget):
                        async with self._limits.semaphore(Family.directory):
                            found = await tenant.get_user(user.id)
            except Exception as exc:  # noqa: BLE001 - the record at hand will do; the sources tell the rest
                log.info("could not re-read account %s (%s); using the record at hand", user.id, type(exc).__name__)
                return
            if found is not None and found.id == user.id:
                fresh.append(found)

        tasks = {asyncio.create_task(run(spec), name=f"source:{spec.name.value}"): spec.name for spec in SOURCES}
        waiting: set[asyncio.Task[None]] = set(tasks)
        if self._config.refresh_user:
            waiting.add(asyncio.create_task(refresh(), name="source:user"))
        done, pending = await asyncio.wait(waiting, timeout=self._config.total_deadline)
        for task in pending:
            task.cancel()
            if task in tasks:
                failures.setdefault(tasks[task], TimeoutError())
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        evidence = build_evidence(fresh[0] if fresh else user, now, self._config.window_days, results, failures)
        return evidence, tuple(timings[spec.name] for spec in SOURCES if spec.name in timings)


def _fallback_domains(user: User) -> tuple[str, ...]:
    """Without the domain list, the user's own domain is the best guess at "inside the tenant"."""
    _, _, domain = user.user_principal_name.rpartition("@")
    return (domain.lower(),) if domain else ()

"""Gathering the evidence about one account: every source at once, each with its own timeout.

A source yields its records or an `Unavailable` with the reason (missing permission, licence, throttling,
timeout, no mailbox); it never raises into the caller. Concurrency is bounded per upstream family and
the bounds are shared by every investigation of the process (`Limits`), so a burst of investigations
stays inside Microsoft's throttles instead of multiplying them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from investigation.evidence import Evidence, SourceName, Unavailable, UnavailableReason
from investigation.indicators import Finding, run_indicators
from investigation.reason import RestrictionReason, parse_reason
from investigation.rules import merge_rules
from investigation.verdict import Assessment, assess
from m365.errors import (
    LicenseRequired,
    M365Error,
    NotFound,
    PermissionDenied,
    Throttled,
    UpstreamTimeout,
)
from m365.http import deadline
from m365.protocol import Tenant
from m365.records import User

log = logging.getLogger(__name__)


class Family(StrEnum):
    """Upstream families with their own Microsoft throttles."""

    audit_logs = "audit_logs"  # sign-ins, directory audits, reports: ~5 requests / 10 s per app
    identity_protection = "identity_protection"  # ~1 request / s
    outlook = "outlook"  # 4 concurrent requests per mailbox
    exchange = "exchange"  # InvokeCommand
    directory = "directory"  # ordinary Graph directory reads
    security = "security"  # Defender alerts


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


# Sources read from the mailbox: a user without one has nothing to check there.
_MAILBOX_SOURCES = frozenset({SourceName.inbox_rules, SourceName.mail_folders, SourceName.mailbox,
                              SourceName.cas_mailbox, SourceName.hidden_inbox_rules})


def unavailable_for(source: SourceName, exc: BaseException) -> Unavailable | None:
    """How a failure of `source` is recorded; None when the failure just means "there is none"."""
    if isinstance(exc, PermissionDenied):
        return Unavailable(source, UnavailableReason.permission, exc.permission or "")
    if isinstance(exc, LicenseRequired):
        return Unavailable(source, UnavailableReason.license, exc.license)
    if isinstance(exc, Throttled):
        return Unavailable(source, UnavailableReason.throttled)
    if isinstance(exc, UpstreamTimeout | asyncio.TimeoutError | TimeoutError):
        return Unavailable(source, UnavailableReason.timeout)
    if isinstance(exc, NotFound):
        if source == SourceName.risky_user:
            return None
        if source in _MAILBOX_SOURCES:
            return Unavailable(source, UnavailableReason.no_mailbox)
        return Unavailable(source, UnavailableReason.not_found)
    if isinstance(exc, M365Error) and exc.status:
        # What the admin can look up (and Microsoft's status page speaks of), not our exception class.
        return Unavailable(source, UnavailableReason.error, f"HTTP {exc.status}")
    return Unavailable(source, UnavailableReason.error, type(exc).__name__)


class Collector:
    """Collects the evidence about an account from a `Tenant` and judges it."""

    def __init__(
        self,
        tenant: Tenant,
        *,
        config: CollectorConfig | None = None,
        limits: Limits | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._tenant = tenant
        self._config = config or CollectorConfig()
        self._limits = limits or Limits()
        self._clock = clock

    async def investigate(self, user: User) -> Investigation:
        """Collect, run the indicators and assess. Never raises for an upstream failure."""
        started = time.perf_counter()
        evidence, timings = await self.collect(user)
        findings = run_indicators(evidence)
        assessment = assess(evidence, findings)
        reason = parse_reason(evidence.restriction.reason) if evidence.restriction else None
        seconds = time.perf_counter() - started
        log.info(
            "investigated %s in %.2fs: %s, %d findings, %d sources unavailable",
            user.id, seconds, assessment.verdict.value, len(findings), len(evidence.unavailable),
        )
        return Investigation(evidence, findings, assessment, reason, timings, evidence.now, seconds)

    async def collect(self, user: User) -> tuple[Evidence, tuple[SourceTiming, ...]]:
        """Read every source concurrently under the total deadline."""
        now = self._clock()
        since = now - timedelta(days=self._config.window_days)
        tenant = self._tenant
        address = user.smtp_address
        upn = user.user_principal_name

        async def grants_and_principals() -> tuple[Any, Any]:
            grants = await tenant.list_oauth_grants(user.id)
            ids = sorted({g.client_id for g in grants if g.client_id})
            principals = await tenant.get_service_principals(ids) if ids else ()
            return grants, principals

        jobs: dict[SourceName, tuple[Family, Callable[[], Awaitable[Any]]]] = {
            SourceName.domains: (Family.directory, tenant.list_verified_domains),
            SourceName.restriction: (Family.exchange, lambda: tenant.get_blocked_sender(address)),
            SourceName.mailbox: (Family.exchange, lambda: tenant.get_mailbox(upn)),
            SourceName.cas_mailbox: (Family.exchange, lambda: tenant.get_cas_mailbox(upn)),
            SourceName.inbox_rules: (Family.outlook, lambda: tenant.list_inbox_rules(user.id)),
            # Read alongside Graph's rules and merged with them: Graph does not return hidden rules.
            SourceName.hidden_inbox_rules: (Family.exchange, lambda: tenant.get_inbox_rules(upn)),
            SourceName.mail_folders: (Family.outlook, lambda: tenant.list_mail_folders(user.id)),
            SourceName.sign_ins: (
                Family.audit_logs, lambda: tenant.list_sign_ins(user.id, since, limit=self._config.sign_in_limit)
            ),
            SourceName.directory_audits: (Family.audit_logs, lambda: tenant.list_directory_audits(user.id, since)),
            SourceName.registration: (Family.audit_logs, lambda: tenant.get_registration_details(user.id)),
            SourceName.risky_user: (Family.identity_protection, lambda: tenant.get_risky_user(user.id)),
            SourceName.risk_detections: (
                Family.identity_protection, lambda: tenant.list_risk_detections(user.id, since)
            ),
            SourceName.auth_methods: (Family.directory, lambda: tenant.list_auth_methods(user.id)),
            SourceName.oauth_grants: (Family.directory, grants_and_principals),
            SourceName.memberships: (Family.directory, lambda: tenant.list_memberships(user.id)),
            SourceName.alerts: (Family.security, lambda: tenant.list_alerts(since, user_upn=upn)),
        }
        results: dict[SourceName, Any] = {}
        failures: dict[SourceName, BaseException] = {}
        timings: list[SourceTiming] = []

        ends = time.monotonic() + self._config.total_deadline

        async def run(source: SourceName, family: Family, call: Callable[[], Awaitable[Any]]) -> None:
            started = time.perf_counter()
            outcome = "ok"
            budget = max(0.0, min(self._config.source_timeout, ends - time.monotonic()))
            try:
                # `deadline` makes the transport give up a retry (429 Retry-After, 503) that would outlast the
                # budget, so the source is reported as throttled/failed rather than as a timeout.
                with deadline(budget):
                    async with asyncio.timeout(budget):
                        async with self._limits.semaphore(family):
                            results[source] = await call()
            except (M365Error, TimeoutError) as exc:
                failures[source] = exc
                outcome = type(exc).__name__
            except Exception as exc:  # noqa: BLE001 - a bug in one source must not lose the others
                log.exception("source %s failed unexpectedly", source.value)
                failures[source] = exc
                outcome = "bug"
            finally:
                timings.append(SourceTiming(source, time.perf_counter() - started, outcome))

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

        tasks = {asyncio.create_task(run(s, f, c), name=f"source:{s.value}"): s for s, (f, c) in jobs.items()}
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
        return self._evidence(fresh[0] if fresh else user, now, results, failures), tuple(timings)

    def _evidence(self, user: User, now: datetime, results: dict[SourceName, Any],
                  failures: dict[SourceName, BaseException]) -> Evidence:
        unavailable: list[Unavailable] = []
        graph_rules = results.get(SourceName.inbox_rules)
        # Graph's rules are the ones the card can act on (disable); Exchange's add the hidden ones. Without Graph's,
        # rules stay "not checked": which of Exchange's are hidden, and how to disable them, is then unknown.
        inbox_rules = merge_rules(graph_rules, results.get(SourceName.hidden_inbox_rules)) if graph_rules is not None \
            else None
        for source, exc in failures.items():
            entry = unavailable_for(source, exc)
            if entry is None:
                continue
            if source == SourceName.oauth_grants:
                unavailable.append(entry)
                unavailable.append(Unavailable(SourceName.service_principals, entry.reason_code, entry.detail))
            else:
                unavailable.append(entry)
        grants, principals = results.get(SourceName.oauth_grants, (None, None))
        restriction_known = SourceName.restriction in results
        restriction = results.get(SourceName.restriction)
        domains = results.get(SourceName.domains)
        return Evidence(
            user=user,
            now=now,
            window_days=self._config.window_days,
            verified_domains=tuple(d.lower() for d in domains) if domains else _fallback_domains(user),
            restriction=restriction,
            restricted=(restriction is not None) if restriction_known else None,
            mailbox=results.get(SourceName.mailbox),
            cas_mailbox=results.get(SourceName.cas_mailbox),
            inbox_rules=inbox_rules,
            mail_folders=results.get(SourceName.mail_folders),
            sign_ins=results.get(SourceName.sign_ins),
            risky_user=results.get(SourceName.risky_user),
            risk_detections=results.get(SourceName.risk_detections),
            auth_methods=results.get(SourceName.auth_methods),
            registration=results.get(SourceName.registration),
            directory_audits=results.get(SourceName.directory_audits),
            oauth_grants=grants,
            service_principals=principals,
            memberships=results.get(SourceName.memberships),
            alerts=results.get(SourceName.alerts),
            unavailable=tuple(unavailable),
        )


def _fallback_domains(user: User) -> tuple[str, ...]:
    """Without the domain list, the user's own domain is the best guess at "inside the tenant"."""
    _, _, domain = user.user_principal_name.rpartition("@")
    return (domain.lower(),) if domain else ()

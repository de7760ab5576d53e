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
- Exchange mailbox settings per user (no bulk cmdlet filter), many at a time.

Each account's `Evidence` is then built by the same code as a single investigation and judged by the same
indicators and verdict, so an account's verdict is what `Collector.investigate` would give. A source that
fails is recorded as not checked for the accounts it covered; `investigate_many` never raises for an
upstream failure. A tenant without the bulk reads is investigated one `Collector` per account.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from investigation.collect import Collector, CollectorConfig, Investigation, Limits, SourceTiming
from investigation.evidence import SourceName
from investigation.indicators import run_indicators
from investigation.reason import parse_reason
from investigation.verdict import assess
from m365.errors import M365Error
from m365.graph import Governor, governed
from m365.http import deadline
from m365.protocol import BulkTenant, Tenant
from m365.records import User

log = logging.getLogger(__name__)

Progress = Callable[[int, int], Awaitable[None]]

# Exchange mailbox reads (`Get-Mailbox`, `Get-CASMailbox`, `Get-InboxRule`) in flight at once: no bulk filter.
EXCHANGE_CONCURRENCY = 32
# Accounts investigated at once when the tenant has no bulk reads.
FALLBACK_CONCURRENCY = 8
# The whole bulk read may take this long per 20 accounts (the throttles grow with the count), at most `_MAX_DEADLINE`.
_DEADLINE_PER_20 = 20.0
_MAX_DEADLINE = 900.0

# The order sources are listed in `Evidence.unavailable`: the single collector's job order.
_ORDER = (SourceName.domains, SourceName.restriction, SourceName.mailbox, SourceName.cas_mailbox,
          SourceName.inbox_rules, SourceName.mail_folders, SourceName.sign_ins, SourceName.directory_audits,
          SourceName.registration, SourceName.risky_user, SourceName.risk_detections, SourceName.auth_methods,
          SourceName.oauth_grants, SourceName.memberships, SourceName.alerts, SourceName.hidden_inbox_rules)


def _exchange_reads(tenant: Tenant) -> tuple[tuple[SourceName, Callable[[str], Awaitable[Any]]], ...]:
    """The per-account Exchange reads, the same ones `Collector.collect` makes (by UPN)."""
    return ((SourceName.mailbox, tenant.get_mailbox),
            (SourceName.cas_mailbox, tenant.get_cas_mailbox),
            (SourceName.hidden_inbox_rules, tenant.get_inbox_rules))


class BulkInvestigator:
    """Investigates many restricted accounts at once within Microsoft's throttles."""

    def __init__(
        self,
        tenant: Tenant,
        *,
        config: CollectorConfig | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        governor: Governor | None = None,
    ) -> None:
        self._tenant = tenant
        self._config = config or CollectorConfig()
        self._clock = clock
        # One pacer per investigator (the app has one), so two triages at once share Microsoft's windows.
        self._governor = governor or Governor()

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
        collector = Collector(self._tenant, config=self._config, clock=lambda: now)
        out: dict[str, Investigation] = {}
        seconds = time.perf_counter() - started
        for user in unique:
            out[user.id] = _judge(collector, bulk, user, now, seconds)
            if on_progress is not None:
                await _report(on_progress, len(out), len(unique))
        verdicts: dict[str, int] = {}
        for item in out.values():
            verdicts[item.assessment.verdict.value] = verdicts.get(item.assessment.verdict.value, 0) + 1
        log.info("investigated %d accounts in bulk in %.2fs: %s", len(out), seconds,
                 ", ".join(f"{k} {v}" for k, v in sorted(verdicts.items())))
        return out

    async def _one_by_one(self, users: list[User], on_progress: Progress | None) -> dict[str, Investigation]:
        collector = Collector(self._tenant, config=self._config, limits=Limits(), clock=self._clock)
        gate = asyncio.Semaphore(FALLBACK_CONCURRENCY)
        out: dict[str, Investigation] = {}

        async def one(user: User) -> None:
            async with gate:
                out[user.id] = await collector.investigate(user)
            if on_progress is not None:
                await _report(on_progress, len(out), len(users))

        await asyncio.gather(*(one(u) for u in users))
        return out


async def _report(on_progress: Progress, done: int, total: int) -> None:
    try:
        await on_progress(done, total)
    except Exception:  # noqa: BLE001 - a progress card that cannot be drawn must not lose the investigations
        log.exception("progress callback failed")


def _judge(collector: Collector, bulk: _BulkRead, user: User, now: datetime, seconds: float) -> Investigation:
    results, failures = bulk.for_user(user)
    fresh = bulk.fresh.get(user.id)
    # The same evidence builder, indicators and verdict as `Collector.investigate`: verdicts must not depend on
    # whether an account was investigated alone or in an outbreak.
    evidence = collector._evidence(fresh or user, now, results, failures)  # noqa: SLF001
    findings = run_indicators(evidence)
    assessment = assess(evidence, findings)
    reason = parse_reason(evidence.restriction.reason) if evidence.restriction else None
    return Investigation(evidence, findings, assessment, reason, bulk.timings(), now, seconds)


class _BulkRead:
    """The reads of one `investigate_many`: every source for every account, kept per source and account."""

    def __init__(self, tenant: BulkTenant, config: CollectorConfig, now: datetime) -> None:
        self.tenant = tenant
        self.config = config
        self.now = now
        self.since = now - timedelta(days=config.window_days)
        # source → user id → value, or the failure of that source for that user
        self.values: dict[SourceName, dict[str, Any]] = {s: {} for s in _ORDER}
        self.errors: dict[SourceName, dict[str, BaseException]] = {s: {} for s in _ORDER}
        self.fresh: dict[str, User] = {}
        self._timings: dict[SourceName, SourceTiming] = {}

    def timings(self) -> tuple[SourceTiming, ...]:
        """How long each bulk source took (the same for every account it covered)."""
        return tuple(self._timings[s] for s in _ORDER if s in self._timings)

    def for_user(self, user: User) -> tuple[dict[SourceName, Any], dict[SourceName, BaseException]]:
        """The results and failures of one account, shaped as `Collector.collect` keeps them."""
        results: dict[SourceName, Any] = {}
        failures: dict[SourceName, BaseException] = {}
        for source in _ORDER:
            if user.id in self.errors[source]:
                failures[source] = self.errors[source][user.id]
            elif user.id in self.values[source]:
                results[source] = self.values[source][user.id]
            else:  # the read never answered for this account (deadline)
                failures[source] = TimeoutError()
        return results, failures

    async def run(self, users: list[User], budget: float) -> None:
        """Read every source for `users`, all families at once, within `budget` seconds."""
        ids = [u.id for u in users]
        tenant = self.tenant
        since = self.since
        per_user: dict[SourceName, Callable[[], Awaitable[Mapping[str, Any]]]] = {
            SourceName.sign_ins: lambda: tenant.sign_ins_by_user(ids, since, limit_per_user=self.config.sign_in_limit),
            SourceName.directory_audits: lambda: tenant.directory_audits_by_user(ids, since),
            SourceName.registration: lambda: tenant.registration_by_user(ids),
            SourceName.risky_user: lambda: tenant.risky_users_by_user(ids),
            SourceName.risk_detections: lambda: tenant.risk_detections_by_user(ids, since),
            SourceName.inbox_rules: lambda: tenant.inbox_rules_by_user(ids),
            SourceName.mail_folders: lambda: tenant.mail_folders_by_user(ids),
            SourceName.auth_methods: lambda: tenant.auth_methods_by_user(ids),
            SourceName.memberships: lambda: tenant.memberships_by_user(ids),
        }
        jobs: list[Awaitable[None]] = [self._per_user(source, ids, call) for source, call in per_user.items()]
        jobs += [
            self._grants(ids),
            self._timed(SourceName.domains, ids, lambda: self._domains(ids)),
            self._timed(SourceName.restriction, ids, lambda: self._restrictions(users)),
            self._timed(SourceName.alerts, ids, lambda: self._alerts(users)),
            self._exchange(users),
        ]
        if self.config.refresh_user:
            jobs.append(self._refresh(ids))
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

    def _fail(self, source: SourceName, ids: Sequence[str], exc: BaseException) -> None:
        for user_id in ids:
            self.errors[source].setdefault(user_id, exc)

    def _store(self, source: SourceName, answers: Mapping[str, Any]) -> None:
        for user_id, value in answers.items():
            if isinstance(value, BaseException):
                self.errors[source][user_id] = value
            else:
                self.values[source][user_id] = value

    async def _timed(self, source: SourceName, ids: Sequence[str], call: Callable[[], Awaitable[None]]) -> None:
        started = time.perf_counter()
        outcome = "ok"
        try:
            await call()
        except (M365Error, TimeoutError) as exc:
            outcome = type(exc).__name__
            self._fail(source, ids, exc)
        except Exception as exc:  # noqa: BLE001 - a bug in one source must not lose the others
            log.exception("bulk source %s failed unexpectedly", source.value)
            outcome = "bug"
            self._fail(source, ids, exc)
        finally:
            self._timings[source] = SourceTiming(source, time.perf_counter() - started, outcome)

    async def _per_user(self, source: SourceName, ids: list[str],
                        call: Callable[[], Awaitable[Mapping[str, Any]]]) -> None:
        async def read() -> None:
            self._store(source, await call())

        await self._timed(source, ids, read)

    async def _domains(self, ids: list[str]) -> None:
        domains = await self.tenant.list_verified_domains()
        self._store(SourceName.domains, {i: domains for i in ids})

    async def _restrictions(self, users: list[User]) -> None:
        entries = await self.tenant.list_blocked_senders()
        by_address: dict[str, Any] = {}
        for entry in entries:
            by_address.setdefault(entry.sender_address.lower(), entry)
        self._store(SourceName.restriction, {u.id: by_address.get(u.smtp_address.lower()) for u in users})

    async def _alerts(self, users: list[User]) -> None:
        alerts = await self.tenant.list_alerts(self.since)
        out: dict[str, Any] = {}
        for user in users:
            wanted = user.user_principal_name.lower()
            out[user.id] = tuple(a for a in alerts if any(u.lower() == wanted for u in a.user_upns))
        self._store(SourceName.alerts, out)

    async def _grants(self, ids: list[str]) -> None:
        """Consents per user, then the service principals they name in one batched lookup (as one source)."""

        async def read() -> None:
            grants = await self.tenant.oauth_grants_by_user(ids)
            wanted: dict[str, list[str]] = {}
            for user_id, value in grants.items():
                if isinstance(value, BaseException):
                    self.errors[SourceName.oauth_grants][user_id] = value
                else:
                    wanted[user_id] = sorted({g.client_id for g in value if g.client_id})
            every = sorted({i for client_ids in wanted.values() for i in client_ids})
            principals: dict[str, Any] = {}
            failure: BaseException | None = None
            if every:
                try:
                    principals = {p.id: p for p in await self.tenant.get_service_principals(every)}
                except M365Error as exc:
                    failure = exc
            for user_id, client_ids in wanted.items():
                value = grants[user_id]
                if not client_ids:
                    self.values[SourceName.oauth_grants][user_id] = (value, ())
                elif failure is not None:
                    self.errors[SourceName.oauth_grants][user_id] = failure
                else:
                    found = tuple(principals[i] for i in client_ids if i in principals)
                    self.values[SourceName.oauth_grants][user_id] = (value, found)

        await self._timed(SourceName.oauth_grants, ids, read)

    async def _exchange(self, users: list[User]) -> None:
        """`Get-Mailbox`, `Get-CASMailbox` and `Get-InboxRule -IncludeHidden` per account (Exchange has no filter
        over many), many at once; the rules are merged with Graph's by the collector's evidence builder."""
        gate = asyncio.Semaphore(EXCHANGE_CONCURRENCY)
        started = time.perf_counter()

        async def one(source: SourceName, user: User, call: Callable[[str], Awaitable[Any]]) -> None:
            try:
                async with gate:
                    self.values[source][user.id] = await call(user.user_principal_name)
            except (M365Error, TimeoutError) as exc:
                self.errors[source][user.id] = exc
            except Exception as exc:  # noqa: BLE001 - a bug in one read must not lose the others
                log.exception("bulk source %s failed unexpectedly", source.value)
                self.errors[source][user.id] = exc

        try:
            await asyncio.gather(*(
                one(source, user, call)
                for user in users
                for source, call in _exchange_reads(self.tenant)
            ))
        finally:
            seconds = time.perf_counter() - started
            for source, _ in _exchange_reads(self.tenant):
                self._timings[source] = SourceTiming(source, seconds, "ok")

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


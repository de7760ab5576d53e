"""The unblock follow-through: watch `unblock_pending` cases until Microsoft 365 lets the account send again.

After `Remove-BlockedSenderAddress` succeeds the account stays on Restricted entities for a while (Microsoft:
usually within an hour, at most 24 hours). The checker polls `Get-BlockedSenderAddress` for every pending
case: the first time `base_interval` after the unblock, then doubling up to `max_interval`. When the address is
off the list, the case becomes `resolved` (a compare-and-set on the case's version, so of several instances
exactly one resolves it), the audit records it, every copy of the card says "sending restored at T", and the
listeners given at construction are called once — the user-report feature tells the user from there.

If the account is still listed `give_up_after` (24 h) after the unblock, the case goes back to `open`, the
unblock step and its claim are dropped (so it can be tried again or taken to Microsoft support), and the card
says so.

It survives restarts: all it needs is in the store (the pending cases, the unblock's time and address in
`case.steps`). On start it finds every pending case and checks those whose first check is due at once. Only
the instance holding the `unblock-checker` lease polls.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cards.findings import step_key
from domain.tasks import PendingWrites, cancel_and_wait
from m365.errors import M365Error
from m365.protocol import Tenant
from remediation.views import CHECK_ACTION, CaseView, step_records
from store import Actor, CaseRecord, StaleCase, Store, StoreUnavailable
from store.outage import Backoff, OutageLog

log = logging.getLogger(__name__)

SYSTEM_ACTOR = Actor(id="system:unblock-checker", name="Blocked Sender Assistant")
LEASE_NAME = "unblock-checker"
ResolvedListener = Callable[[CaseRecord], Awaitable[None]]


@dataclass(frozen=True)
class CheckerConfig:
    """When to poll (seconds). Tests and the demo use small values; production keeps the defaults."""

    base_interval: float = 60.0  # first check this long after the unblock; doubles after each "still listed"
    max_interval: float = 1800.0
    give_up_after: float = 24 * 3600.0
    scan_interval: float = 60.0  # how often the store is searched for pending cases (restarts, other instances)
    lease_ttl: float = 180.0
    # After a failed round (the store down): wait this long, doubling up to `retry_max`, instead of the schedule,
    # whose past-due cases would retry at once.
    retry_first: float = 1.0
    retry_max: float = 30.0


@dataclass
class _Due:
    at: datetime
    interval: float


class UnblockChecker:
    """Polls the Restricted entities list for pending cases; see the module docstring."""

    def __init__(self, *, tenant: Tenant, store: Store, view: CaseView, config: CheckerConfig | None = None,
                 listeners: Sequence[ResolvedListener] = (), clock: Callable[[], datetime] | None = None) -> None:
        self._tenant = tenant
        self._store = store
        # The store's clock: unblock times in `case.steps` are written with it.
        self._clock = clock or store.db.clock
        self._view = view
        self._config = config or CheckerConfig()
        # Called once per resolved case, one after the other on the instance that resolved it; one that raises
        # is logged and does not stop the others.
        self._listeners: list[ResolvedListener] = list(listeners)
        self._schedule: dict[str, _Due] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lease_writes = PendingWrites()
        self._holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._retry = Backoff(self._config.retry_first, self._config.retry_max)
        self._outage = OutageLog(log, "unblock checker")

    def wake(self) -> None:
        """Look at the store now (an unblock just happened); the first check still waits `base_interval`."""
        self._wake.set()

    @property
    def running(self) -> bool:
        """True while the polling task runs."""
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Start polling in the background (idempotent)."""
        if self.running:
            return
        self._task = asyncio.create_task(self._run(), name="unblock-checker")

    async def stop(self) -> None:
        """Stop polling and give the lease up so another instance takes over at once."""
        task, self._task = self._task, None
        await cancel_and_wait([task])
        await self._lease_writes.settle()  # an interrupted acquire must not land after the release below
        try:
            await self._store.leases.release(LEASE_NAME, self._holder)
        except Exception as exc:  # noqa: BLE001 - at shutdown the database may be gone; the lease expires anyway
            log.info("could not release the %s lease (%s)", LEASE_NAME, type(exc).__name__)

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            retry: float | None = None
            try:
                await self.check_once()
            except StoreUnavailable as exc:
                # An outage, not a bug: one WARNING per outage, no traceback; the pending cases stay pending.
                self._outage.failed(exc, then="unblock checks back off and retry")
                retry = self._retry.next()
            except Exception:  # noqa: BLE001 - a store or network hiccup: log it and try again next round
                log.exception("unblock check failed; retrying")
                retry = self._retry.next()
            else:
                self._outage.succeeded()
                self._retry.reset()
            await self._wait(self._next_delay() if retry is None else retry)

    async def _wait(self, seconds: float) -> None:
        """Until `seconds` pass or `wake()` is called."""
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except TimeoutError:
            pass

    def _next_delay(self) -> float:
        delay = self._config.scan_interval
        if self._schedule:
            now = self._clock()
            soonest = min(due.at for due in self._schedule.values())
            delay = min(delay, (soonest - now).total_seconds())
        return max(delay, 0.05)

    async def check_once(self) -> list[CaseRecord]:
        """One round: check every pending case that is due; returns the cases resolved in this round."""
        if not await self._lease_writes.run(
                self._store.leases.acquire(LEASE_NAME, self._holder, self._config.lease_ttl)):
            self._schedule.clear()
            return []
        tenant_id = self._tenant.tenant_id.lower()
        cases = [c for c in await self._store.cases.list_cases("unblock_pending", limit=None)
                 if c.tenant_id.lower() == tenant_id]
        resolved: list[CaseRecord] = []
        for case in cases:
            done = await self._check(case)
            if done is not None:
                resolved.append(done)
        pending = {c.id for c in cases}
        for case_id in [k for k in self._schedule if k not in pending]:
            del self._schedule[case_id]
        return resolved

    async def _check(self, case: CaseRecord) -> CaseRecord | None:
        config = self._config
        now = self._clock()
        unblock = step_records(case).get(step_key("unblock", None))
        unblocked_at = unblock.at if unblock is not None else case.updated_at
        raw_address = unblock.details.get("address") if unblock is not None else None
        address = raw_address if isinstance(raw_address, str) and raw_address else case.account_upn
        due = self._schedule.get(case.id)
        if due is None:
            due = self._schedule[case.id] = _Due(
                max(now, unblocked_at + timedelta(seconds=config.base_interval)), config.base_interval)
        if due.at > now:
            return None
        try:
            listed = await self._tenant.get_blocked_sender(address)
        except M365Error as exc:
            log.warning("could not check the restriction of case %s (%s); trying again later", case.id,
                        type(exc).__name__)
            self._back_off(due, now)
            return None
        if listed is None:
            return await self._resolve(case, address, unblocked_at)
        if (now - unblocked_at).total_seconds() >= config.give_up_after:
            await self._expire(case, address, unblocked_at)
            return None
        self._back_off(due, now)
        return None

    def _back_off(self, due: _Due, now: datetime) -> None:
        due.interval = min(due.interval * 2, self._config.max_interval)
        due.at = now + timedelta(seconds=due.interval)

    async def _resolve(self, case: CaseRecord, address: str, unblocked_at: datetime) -> CaseRecord | None:
        """Mark the case resolved (exactly once across instances), audit it, redraw the cards, tell listeners."""
        try:
            resolved = await self._store.cases.update_case(case.id, case.version, status="resolved")
        except StaleCase:
            fresh = await self._store.cases.get_case(case.id)
            if fresh is None or fresh.status != "unblock_pending":
                return None  # someone else resolved (or closed) it
            try:
                resolved = await self._store.cases.update_case(fresh.id, fresh.version, status="resolved")
            except StaleCase:
                return None  # still changing: the next round looks again
        self._schedule.pop(case.id, None)
        if resolved is None:
            return None
        log.info("case %s resolved: %s is off Restricted entities", case.id, case.account_id)
        await self._store.audit.record(
            actor=SYSTEM_ACTOR, action=CHECK_ACTION, target=case.account_upn, tenant_id=case.tenant_id,
            case_id=case.id, parameters={"address": address, "unblocked_at": unblocked_at.isoformat()},
        )
        await self._view.update_copies(resolved)
        for listener in self._listeners:
            try:
                await listener(resolved)
            except Exception:  # noqa: BLE001 - one failing listener must not keep the others from hearing it
                log.exception("a resolution listener failed for case %s", case.id)
        return resolved

    async def _expire(self, case: CaseRecord, address: str, unblocked_at: datetime) -> None:
        """Still listed a day after the unblock: reopen the unblock step and say so on the card."""
        steps = {k: v for k, v in case.steps.items() if k != step_key("unblock", None)}
        try:
            reopened = await self._store.cases.update_case(case.id, case.version, status="open", steps=steps)
        except StaleCase:
            return  # changed meanwhile: the next round decides again
        self._schedule.pop(case.id, None)
        if reopened is None:
            return
        await self._store.claims.release(case.id, "unblock", case.account_id, even_if_done=True)
        log.warning("case %s: %s still restricted %s after the unblock", case.id, case.account_id,
                    timedelta(seconds=self._config.give_up_after))
        await self._store.audit.record(
            actor=SYSTEM_ACTOR, action=CHECK_ACTION, target=case.account_upn, tenant_id=case.tenant_id,
            case_id=case.id, outcome="failed", error="still on Restricted entities after the follow-up period",
            parameters={"address": address, "unblocked_at": unblocked_at.isoformat()},
        )
        await self._view.update_copies(reopened)

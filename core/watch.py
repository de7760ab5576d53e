"""The restriction watch: every minute (`WATCH_INTERVAL_MINUTES`), find accounts Microsoft 365 newly restricted
and alert IT.

Each round runs on one instance only: the one holding the `restriction-watch` lease. The lease lives half an
interval and the holder renews it every sixth of an interval (a heartbeat, also while a round investigates);
the other instances try to take it every half interval, so when the holder dies the watch moves to another
instance within one interval, and that instance runs a round at once. A round:

1. lists Restricted entities (`Get-BlockedSenderAddress`, `Tenant.list_blocked_senders`);
2. where the app may read them, adds the accounts named by Defender alerts "… restricted from sending email"
   of the last day that the list did not show, each confirmed with `Get-BlockedSenderAddress -SenderAddress`
   (the alert can outlive the restriction; a confirmed "no longer restricted" is believed for
   `RECONFIRM_AFTER`, so an alert left over from an unblock does not cost a request every round);
3. for each restriction not yet alerted (`store.restrictions`, keyed by address and "restricted since", so a
   restart or another instance never alerts twice and a later restriction of the same account alerts again):
   finds the account, opens its case (or joins the open one) and hands it to `Notices.alert_restriction`,
   which posts the alert card, investigates and replaces the card with the findings.

What it costs Microsoft 365: a round with nothing new is two requests (`Get-BlockedSenderAddress` through
Exchange's `InvokeCommand`, and one Defender alerts read of Graph's 150 a minute); at the default interval of one
minute that is 120 an hour, plus one investigation (~30 requests) per new restriction. Measured on the demo tenant
by `bench/watch_cost.py` (docs/PERFORMANCE.md, "Restriction watch").

An unreachable tenant skips the round (logged) and the next round tries again; an unavailable store
(`StoreUnavailable`) is logged once per outage, without a traceback, and the round is retried after 1 s, 2 s, ...
up to 30 s (at most an interval); any other failure is logged with its traceback and never ends the loop.
`stop()` cancels the loop and gives the lease back.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.notices import SYSTEM_ACTOR, AlertOrigin, AlertOutcome, Contain, FollowUp, Notices, restricted_since
from domain.tasks import PendingWrites, cancel_and_wait, sleep_until_woken
from investigation.resolve import account_sending_as
from m365.errors import LicenseRequired, M365Error, PermissionDenied
from m365.protocol import Tenant
from m365.records import BlockedSender, User
from store import Store, StoreUnavailable
from store.outage import Backoff, OutageLog

log = logging.getLogger(__name__)

LEASE_NAME = "restriction-watch"
ALERT_TITLE_MARK = "restricted from sending email"
ALERT_LOOKBACK = timedelta(days=1)
# The first round waits this long at most (the app settles first; a rolling restart does not stampede).
MAX_INITIAL_DELAY_SECONDS = 30.0
# How long a Defender alert's account confirmed as no longer restricted is not asked about again.
RECONFIRM_AFTER = timedelta(minutes=15)


@dataclass(frozen=True)
class RoundResult:
    """What one round did: `skipped` says why it did nothing ("lease", "unreachable"), else the counts."""

    skipped: str | None = None
    restricted: int = 0
    alerted: int = 0
    pending: int = 0
    failed: int = 0


def default_holder() -> str:
    """This process's name on the lease: host, pid and a random part (two processes never share it)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class RestrictionWatch:
    """Finds new restrictions on a timer and alerts IT through `Notices`."""

    def __init__(self, *, tenant: Tenant, store: Store, notices: Notices, interval_seconds: float,
                 holder: str | None = None, initial_delay_seconds: float | None = None,
                 contain: Contain | None = None) -> None:
        if interval_seconds <= 0:
            raise ValueError("the watch interval must be positive")
        self._tenant = tenant
        self._store = store
        self._notices = notices
        # Automatic containment (AUTO_CONTAIN), None when off: run on each new alert's recorded case.
        self._contain = contain
        self._tenant_id = tenant.tenant_id.lower()
        self.interval = interval_seconds
        self.holder = holder or default_holder()
        self._initial_delay = (min(interval_seconds, MAX_INITIAL_DELAY_SECONDS) if initial_delay_seconds is None
                               else initial_delay_seconds)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._lease_writes = PendingWrites()
        self._holding = False
        self._alerts_unavailable_logged = False
        # (alert id, lower-case address) -> when Exchange said the account is not restricted (see RECONFIRM_AFTER).
        self._cleared: dict[tuple[str, str], datetime] = {}
        # The store down: one WARNING per outage, and rounds retried sooner than `interval` (from 1 s, doubling).
        self._outage = OutageLog(log, "restriction watch")
        self._retry = Backoff(1.0, 30.0)

    @property
    def contains(self) -> bool:
        """Whether automatic containment (AUTO_CONTAIN) runs on this watch's new alerts."""
        return self._contain is not None

    @property
    def lease_ttl(self) -> float:
        """Seconds the lease lasts: half an interval. The holder renews it every third of that; a standby polls
        every `lease_ttl`, so a dead holder's watch is taken over within one interval (expiry + one poll)."""
        return self.interval / 2

    # ------------------------------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Run the loop in the background (once)."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="restriction-watch")
            self._heartbeat_task = asyncio.create_task(self._heartbeat(), name="restriction-watch-lease")

    def wake(self) -> None:
        """Run the next round now (e.g. right after an admin chose the alert channel)."""
        self._wake.set()

    @property
    def wake_pending(self) -> bool:
        """True when a round was asked for (`wake`) and the loop has not started it yet."""
        return self._wake.is_set()

    async def stop(self) -> None:
        """Cancel the loop, wait for it, and give the lease back so another instance takes over at once."""
        await cancel_and_wait([self._task, self._heartbeat_task])
        # A lease write the cancel interrupted still reaches the database (it runs on the driver's thread): let
        # it land first, or it would take the lease again after the release below.
        await self._lease_writes.settle()
        self._task = self._heartbeat_task = None
        self._holding = False
        try:
            await self._store.leases.release(LEASE_NAME, self.holder)
        except Exception:  # noqa: BLE001 - at shutdown the lease simply expires
            log.info("restriction watch: could not release the lease", exc_info=True)

    async def _loop(self) -> None:
        delay = self._initial_delay
        while True:
            await self._sleep(delay)
            delay = self.interval
            try:
                result = await self.run_once()
            except StoreUnavailable as exc:  # an outage, not a bug: no traceback
                self._outage.failed(exc, then="watch rounds back off and retry")
                delay = min(self._retry.next(), self.interval)
                continue
            except Exception:  # noqa: BLE001 - the watch must outlive any one bad round
                log.error("restriction watch round failed; next round in %.0f s", self.interval, exc_info=True)
                continue
            self._outage.succeeded()
            self._retry.reset()
            if result.skipped == "lease":
                delay = self.lease_ttl  # a standby looks again soon: the holder may have died
                continue
            if result.skipped is None:
                log.info("restriction watch: %d restricted, %d alerted, %d pending, %d failed",
                         result.restricted, result.alerted, result.pending, result.failed)
            if result.pending:
                log.warning("restriction watch: %d alert(s) had nowhere to go (no IT channel set, no security admin "
                            "reachable); retrying next round", result.pending)

    async def _heartbeat(self) -> None:
        """Keep the lease while this instance holds it, between rounds and during long ones."""
        while True:
            await asyncio.sleep(self.lease_ttl / 3)
            if not self._holding:
                continue
            try:
                self._holding = await self._lease_writes.run(
                    self._store.leases.renew(LEASE_NAME, self.holder, self.lease_ttl))
            except StoreUnavailable as exc:  # the next beat (or round) tries again
                self._outage.failed(exc, then="watch rounds back off and retry")
            except Exception:  # noqa: BLE001 - a database hiccup: the next beat (or round) tries again
                log.warning("restriction watch: could not renew the lease", exc_info=True)

    async def _sleep(self, seconds: float) -> None:
        await sleep_until_woken(self._wake, seconds)

    # ------------------------------------------------------------------------------------------ one round

    async def run_once(self) -> RoundResult:
        """One round: take the lease, list the restrictions, alert the new ones."""
        if not await self._lease_writes.run(
                self._store.leases.acquire(LEASE_NAME, self.holder, self.lease_ttl)):
            self._holding = False
            log.debug("restriction watch: another instance holds the lease")
            return RoundResult(skipped="lease")
        self._holding = True
        try:
            listed = await self._tenant.list_blocked_senders()
        except M365Error as exc:
            log.warning("restriction watch: Microsoft 365 unreachable (%s, status %s); retrying next round",
                        type(exc).__name__, exc.status)
            return RoundResult(skipped="unreachable")
        restrictions = {r.sender_address.lower(): r for r in listed if r.sender_address}
        for extra in await self._from_defender(restrictions):
            restrictions.setdefault(extra.sender_address.lower(), extra)
        alerted = pending = failed = 0
        follow_ups: list[FollowUp] = []  # the round's new alerts, investigated together after the loop
        for restriction in restrictions.values():
            if not await self._lease_writes.run(
                    self._store.leases.renew(LEASE_NAME, self.holder, self.lease_ttl)):
                self._holding = False
                break  # another instance took over; it carries on from the store
            try:
                outcome = await self._handle(restriction, follow_ups)
            except M365Error as exc:
                # Microsoft 365 throttled, failed or timed out on this account (the chaos soak sees it on ~10% of
                # calls): expected, and the next round tries again; no traceback, and no address in the log.
                log.warning("restriction watch: alerting one restriction failed (%s, status %s); retrying next round",
                            type(exc).__name__, exc.status)
                failed += 1
                continue
            except StoreUnavailable:
                raise  # the store is down for every account: the round ends and is retried (`_loop`)
            except Exception:  # noqa: BLE001 - one account's failure must not hide the others
                log.error("restriction watch: alerting %s failed; retrying next round", restriction.sender_address,
                          exc_info=True)
                failed += 1
                continue
            if outcome == AlertOutcome.POSTED:
                alerted += 1
            elif outcome == AlertOutcome.PENDING:
                pending += 1
        await self._notices.follow_up_many(follow_ups, contain=self._contain)
        return RoundResult(restricted=len(restrictions), alerted=alerted, pending=pending, failed=failed)

    async def _from_defender(self, known: dict[str, BlockedSender]) -> list[BlockedSender]:
        """Restrictions named by recent Defender alerts that the list missed, confirmed with Exchange."""
        since = self._store.db.clock() - ALERT_LOOKBACK
        try:
            alerts = await self._tenant.list_alerts(since)
        except (PermissionDenied, LicenseRequired) as exc:
            if not self._alerts_unavailable_logged:
                log.info("restriction watch: Defender alerts not readable (%s); using Restricted entities only",
                         type(exc).__name__)
                self._alerts_unavailable_logged = True
            return []
        except M365Error as exc:
            log.info("restriction watch: Defender alerts unavailable this round (%s)", type(exc).__name__)
            return []
        found: list[BlockedSender] = []
        checked: set[str] = set(known)
        now = self._store.db.clock()
        self._cleared = {k: at for k, at in self._cleared.items() if now - at < RECONFIRM_AFTER}
        for alert in alerts:
            if ALERT_TITLE_MARK not in alert.title.lower():
                continue
            for address in alert.user_upns:
                key = address.lower()
                if key in checked or (alert.id, key) in self._cleared:
                    continue
                checked.add(key)
                try:
                    confirmed = await self._tenant.get_blocked_sender(address)
                except M365Error as exc:
                    log.info("restriction watch: could not confirm a Defender alert (%s)", type(exc).__name__)
                    continue
                if confirmed is not None:
                    found.append(confirmed)
                else:
                    self._cleared[(alert.id, key)] = now
        return found

    async def _handle(self, restriction: BlockedSender, follow_ups: list[FollowUp]) -> AlertOutcome:
        address = restriction.sender_address
        seen = await self._store.restrictions.get(self._tenant_id, address, restricted_since(restriction))
        if seen is not None and seen.alerted_at is not None:
            return AlertOutcome.ALREADY
        user = await self._account(address)
        if user is None:
            # Nothing to open a case for (a deleted account): remember it so it is not looked up every round.
            if await self._store.restrictions.mark_seen(self._tenant_id, address, restricted_since(restriction)):
                # No address in the log (docs/SECURITY.md); the restriction is in the store and on Restricted entities.
                log.warning("restriction watch: a restricted sender matches no account; not looked up again")
            return AlertOutcome.ALREADY
        opened = await self._store.cases.open_or_get_case(self._tenant_id, user.id, user.user_principal_name,
                                                          user.display_name, SYSTEM_ACTOR)
        return await self._notices.alert_restriction(user, restriction, opened.case, origin=AlertOrigin.WATCH,
                                                     background=False, follow_ups=follow_ups)

    async def _account(self, address: str) -> User | None:
        """The directory account that sends as `address` (exact UPN, mail or proxy address)."""
        return await account_sending_as(self._tenant, address)

"""Events out: the webhook deliverer, which POSTs the outbox's events (`store.events`) to `WEBHOOK_URL`, signed.

Each event is one POST of its JSON body with::

    Content-Type: application/json
    X-BSA-Event: case.opened                  (the event's type)
    X-BSA-Delivery: <event id>                (the same on every retry: the receiver's de-duplication key)
    X-BSA-Timestamp: <unix seconds>           (this attempt's time)
    X-BSA-Signature: sha256=<hex HMAC-SHA256(WEBHOOK_SECRET, timestamp + "." + body)>

The timestamp is signed with the body so a receiver that refuses old timestamps (five minutes) cannot be fed a
recorded delivery again later (replay); each retry is signed afresh.

What an answer means:

- 2xx: delivered (`delivered_at`); the next event goes.
- 5xx, 408, 429, a timeout or no connection: the receiver is away; the event stays first in line and is tried
  again after `first_retry_seconds`, doubling up to `max_retry_seconds`, with jitter (half the wait fixed, half
  random, so several bots do not retry in step); `Retry-After` is honoured up to the cap. It is retried for as
  long as it takes: an outage of the receiver loses nothing.
- any other answer (4xx, 3xx: redirects are not followed, they would take the signed body elsewhere): the
  receiver refuses this event. It is tried `max_refused_attempts` times (a receiver being redeployed may answer
  404 for a moment), then given up (`failed_at`, logged with its id) so one bad event does not hold every later one.

Order: oldest first, one at a time; a failing event holds the ones after it (they are facts in order: "unblocked"
before "restored"). Delivery is at least once: a crash between the receiver's 2xx and `delivered_at` sends it
again, with the same `X-BSA-Delivery`.

Only the holder of the `event-deliverer` lease (`store.leases`) delivers, so several instances never send one event
twice at the same time. Receiver failures are logged as one WARNING when they begin (with how many events wait)
and one INFO when deliveries resume; the store's outages likewise (`store.outage.OutageLog`). `/readyz` does not
turn "not ready" for a receiver outage: the bot itself works, and events wait in the store.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import aiohttp

from core.watch import default_holder
from domain.tasks import PendingWrites, cancel_and_wait, sleep_until_woken
from store import EventRecord, Store, StoreUnavailable
from store.outage import OutageLog

log = logging.getLogger(__name__)

LEASE_NAME = "event-deliverer"
SIGNATURE_PREFIX = "sha256="
USER_AGENT = "BlockedSenderAssistant-Webhook/1"
# Answers that mean "not now" rather than "not this": retried for as long as it takes.
RETRY_STATUSES = frozenset({408, 429})


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The `X-BSA-Signature` value: `sha256=` + hex HMAC-SHA256 of `<timestamp>.<body>` under `secret`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return SIGNATURE_PREFIX + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str, *, now: float | None = None,
           tolerance_seconds: float = 300.0) -> bool:
    """What a receiver checks (docs/DEPLOY.md has the same in a few lines): a fresh timestamp and a matching
    signature, compared in constant time."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - sent) > tolerance_seconds:
        return False
    return hmac.compare_digest(sign(secret, sent, body), signature)


@dataclass(frozen=True)
class WebhookConfig:
    """Where and how events are delivered (from `Settings`; tests shorten the waits)."""

    url: str = field(repr=False)
    secret: str = field(repr=False)
    timeout_seconds: float = 10.0
    first_retry_seconds: float = 2.0
    max_retry_seconds: float = 300.0
    max_refused_attempts: int = 5
    # When nothing is pending, how often the outbox is looked at (an event written by another instance).
    idle_seconds: float = 2.0
    batch: int = 50
    # Delivered and given-up events are deleted this long after they settled.
    keep_days: int = 7

    def __post_init__(self) -> None:
        if not self.url or not self.secret:
            raise ValueError("a webhook needs a URL and a secret")
        if not 0 < self.first_retry_seconds <= self.max_retry_seconds:
            raise ValueError("the webhook back-off needs 0 < first_retry_seconds <= max_retry_seconds")

    @property
    def lease_ttl(self) -> float:
        """The lease outlives a few deliveries that time out: a dead holder's work moves within this long."""
        return max(30.0, 3 * self.timeout_seconds)


@dataclass(frozen=True)
class Attempt:
    """One POST's result: `delivered`, `retry` (with an optional Retry-After) or `refused`, and why."""

    result: str
    reason: str
    retry_after: float | None = None


@dataclass(frozen=True)
class RoundResult:
    """What one round did: `skipped` ("lease") or the counts."""

    skipped: str | None = None
    delivered: int = 0
    given_up: int = 0
    waiting: bool = False  # the oldest event waits for its next attempt


class EventDeliverer:
    """Sends the outbox's events to the webhook, oldest first, while this instance holds the lease."""

    def __init__(self, *, store: Store, config: WebhookConfig, holder: str | None = None,
                 jitter: Callable[[], float] = random.random) -> None:
        self._store = store
        self._config = config
        self.holder = holder or default_holder()
        self._jitter = jitter
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._lease_writes = PendingWrites()
        self._store_outage = OutageLog(log, "webhook deliverer")
        self._failing_since: float | None = None
        self._failed_tries = 0
        self._last_purge = 0.0
        self._stopping = False

    @property
    def failing(self) -> bool:
        """True while deliveries fail (from the first failure to the next success)."""
        return self._failing_since is not None

    # ------------------------------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Run the delivery loop in the background (once)."""
        if self._task is None:
            self._session = aiohttp.ClientSession(headers={"User-Agent": USER_AGENT})
            self._task = asyncio.create_task(self._loop(), name="event-deliverer")

    def wake(self) -> None:
        """Look at the outbox now (tests; a fact was just recorded)."""
        self._wake.set()

    async def stop(self) -> None:
        """End the loop, close its connections and give the lease back.

        The loop is asked to end between two steps (a POST in flight finishes, its outcome is written) and is
        cancelled only when it does not within the timeout: a cancel in the middle of a database call can leave
        the driver's connection behind."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout=self._config.timeout_seconds + 5)
            except TimeoutError:
                await cancel_and_wait([self._task])
            except Exception:  # noqa: BLE001 - the loop's own failure was logged by it; shutting down anyway
                log.debug("webhook deliverer ended with an error", exc_info=True)
        await self._lease_writes.settle()
        self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        try:
            await self._store.leases.release(LEASE_NAME, self.holder)
        except Exception:  # noqa: BLE001 - at shutdown the lease simply expires
            log.info("webhook deliverer: could not release the lease", exc_info=True)

    async def _loop(self) -> None:
        while not self._stopping:
            try:
                result = await self.run_once()
            except StoreUnavailable as exc:
                self._store_outage.failed(exc, then="events wait in the store; retrying")
                await self._sleep(min(self._config.max_retry_seconds, 5.0))
                continue
            except Exception:  # noqa: BLE001 - the deliverer must outlive any one bad round
                log.error("webhook deliverer round failed", exc_info=True)
                await self._sleep(self._config.idle_seconds)
                continue
            self._store_outage.succeeded()
            if result.skipped == "lease":
                await self._sleep(self._config.lease_ttl / 2)
            elif result.delivered or result.given_up:
                continue  # more may be waiting
            else:
                await self._sleep(await self._wait_for_next())

    async def _wait_for_next(self) -> float:
        """Seconds until the oldest pending event is due (at most the idle poll)."""
        due = await self._store.events.due(1)
        if not due:
            return self._config.idle_seconds
        wait = (due[0].next_attempt_at - self._store.db.clock()).total_seconds()
        return min(max(wait, 0.0), self._config.idle_seconds)

    async def _sleep(self, seconds: float) -> None:
        await sleep_until_woken(self._wake, seconds)

    # ------------------------------------------------------------------------------------------ one round

    async def run_once(self) -> RoundResult:
        """Take (or keep) the lease and deliver the due events in order, stopping at the first that fails."""
        ttl = self._config.lease_ttl
        if not await self._lease_writes.run(self._store.leases.acquire(LEASE_NAME, self.holder, ttl)):
            return RoundResult(skipped="lease")
        renewed = time.monotonic()
        delivered = given_up = 0
        await self._purge()
        for event in await self._store.events.due(self._config.batch):
            if self._stopping:
                break
            if event.next_attempt_at > self._store.db.clock():
                return RoundResult(delivered=delivered, given_up=given_up, waiting=True)
            if time.monotonic() - renewed > ttl / 3:
                if not await self._lease_writes.run(self._store.leases.renew(LEASE_NAME, self.holder, ttl)):
                    return RoundResult(skipped="lease", delivered=delivered, given_up=given_up)
                renewed = time.monotonic()
            attempt = await self.post(event)
            if attempt.result == "delivered":
                await self._store.events.delivered(event.id)
                self._recovered()
                delivered += 1
                continue
            if attempt.result == "refused" and event.attempts + 1 >= self._config.max_refused_attempts:
                await self._store.events.give_up(event.id, attempt.reason)
                log.warning("webhook: event %s (%s) refused %d times (%s); given up, the next one goes",
                            event.id, event.type, event.attempts + 1, attempt.reason)
                given_up += 1
                continue
            await self._store.events.retry_later(event.id, attempt.reason, self._next_attempt(event, attempt))
            await self._failed(attempt)
            return RoundResult(delivered=delivered, given_up=given_up, waiting=True)
        return RoundResult(delivered=delivered, given_up=given_up)

    async def post(self, event: EventRecord) -> Attempt:
        """POST one event, signed for this attempt; what the answer means (nothing of the answer's body is kept)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(headers={"User-Agent": USER_AGENT})
        body = event.body.encode()
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "X-BSA-Event": event.type,
            "X-BSA-Delivery": event.id,
            "X-BSA-Timestamp": str(timestamp),
            "X-BSA-Signature": sign(self._config.secret, timestamp, body),
        }
        try:
            async with self._session.post(self._config.url, data=body, headers=headers, allow_redirects=False,
                                          timeout=aiohttp.ClientTimeout(total=self._config.timeout_seconds)) as resp:
                await resp.read()
                status = resp.status
                retry_after = _seconds(resp.headers.get("Retry-After"))
        except TimeoutError:
            return Attempt("retry", "timeout")
        except aiohttp.ClientError as exc:
            return Attempt("retry", type(exc).__name__)
        if 200 <= status < 300:
            return Attempt("delivered", f"HTTP {status}")
        if status >= 500 or status in RETRY_STATUSES:
            return Attempt("retry", f"HTTP {status}", retry_after)
        return Attempt("refused", f"HTTP {status}")

    def _next_attempt(self, event: EventRecord, attempt: Attempt) -> datetime:
        """Exponential back-off from the event's attempt count (so it survives a restart), with jitter."""
        config = self._config
        wait = min(config.first_retry_seconds * 2 ** min(event.attempts, 30), config.max_retry_seconds)
        wait = wait / 2 + self._jitter() * wait / 2
        if attempt.retry_after is not None:
            wait = max(wait, min(attempt.retry_after, config.max_retry_seconds))
        return self._store.db.clock() + timedelta(seconds=wait)

    async def _failed(self, attempt: Attempt) -> None:
        self._failed_tries += 1
        if self._failing_since is not None:
            log.debug("webhook: delivery still failing (%s)", attempt.reason)
            return
        self._failing_since = time.monotonic()
        waiting = await self._store.events.pending_count()
        log.warning("webhook: deliveries failing (%s); %d event(s) wait in the store and are retried with back-off",
                    attempt.reason, waiting)

    def _recovered(self) -> None:
        if self._failing_since is None:
            return
        log.info("webhook: deliveries resumed after %.1f s (%d failed tries)", time.monotonic() - self._failing_since,
                 self._failed_tries)
        self._failing_since = None
        self._failed_tries = 0

    async def _purge(self) -> None:
        """At most hourly: delete events settled more than `keep_days` ago (the store stays small)."""
        if time.monotonic() - self._last_purge < 3600 and self._last_purge:
            return
        self._last_purge = time.monotonic()
        gone = await self._store.events.purge(self._store.db.clock() - timedelta(days=self._config.keep_days))
        if gone:
            log.info("webhook: %d settled event(s) older than %d days deleted", gone, self._config.keep_days)


def _seconds(value: str | None) -> float | None:
    """A Retry-After given in seconds (the HTTP-date form is ignored: the back-off applies)."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None

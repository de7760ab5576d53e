"""The unblock checker while the store is down (issue 18): it backs off instead of spinning, and says so once.

Before: a failed round left the past-due cases in the schedule, so `_next_delay()` answered its 0.05 s floor and the
checker retried 20 times a second, each with an ERROR and a traceback (299 in 23 s in the chaos soak). Here the
store fails a given number of rounds and the checker's waits are recorded instead of slept (deterministic).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from remediation.checker import CheckerConfig, UnblockChecker, _Due
from remediation.views import CaseView
from store import Store, StoreUnavailable
from store.outage import Backoff, OutageLog
from tests.fakes import FakeTenant

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


class FlakyLeases:
    """`acquire` raises `StoreUnavailable` while `down` is positive (counting down), else grants the lease."""

    def __init__(self) -> None:
        self.down = 0
        self.tries = 0

    async def acquire(self, name: str, holder: str, ttl: float) -> bool:
        del name, holder, ttl
        self.tries += 1
        if self.down > 0:
            self.down -= 1
            raise StoreUnavailable("unreachable", "ConnectionRefusedError")
        return True

    async def release(self, name: str, holder: str) -> None:
        del name, holder


class FakeCases:
    async def list_cases(self, status: str, *, limit: int | None) -> list[Any]:
        del status, limit
        return []


class FakeStore:
    def __init__(self) -> None:
        self.leases = FlakyLeases()
        self.cases = FakeCases()


class Stop(Exception):
    """Ends the checker's loop after the rounds a test wants."""


def checker_with(store: FakeStore, waits: list[float], rounds: int) -> UnblockChecker:
    checker = UnblockChecker(tenant=FakeTenant(), store=cast(Store, store), view=cast(CaseView, None),
                             config=CheckerConfig(scan_interval=60.0), clock=lambda: NOW)

    async def wait(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) >= rounds:
            raise Stop

    checker._wait = wait  # type: ignore[method-assign]
    return checker


async def run(checker: UnblockChecker) -> None:
    with pytest.raises(Stop):
        await checker._run()


async def test_failed_rounds_back_off_from_1_s_to_30_s_even_with_past_due_cases(
        caplog: pytest.LogCaptureFixture) -> None:
    store, waits = FakeStore(), []
    store.leases.down = 8
    checker = checker_with(store, waits, rounds=8)
    # A case whose check is long overdue: the schedule alone would say "now" (the old 0.05 s floor).
    checker._schedule["case-1"] = _Due(NOW - timedelta(minutes=5), 60.0)
    assert checker._next_delay() == 0.05
    caplog.set_level(logging.DEBUG, logger="remediation.checker")
    await run(checker)
    assert waits == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert store.leases.tries == 8
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and warnings[0].exc_info is None, "one WARNING per outage, no traceback"
    assert "unavailable (unreachable)" in warnings[0].getMessage()


async def test_a_good_round_ends_the_outage_and_resets_the_back_off(caplog: pytest.LogCaptureFixture) -> None:
    store, waits = FakeStore(), []
    checker = checker_with(store, waits, rounds=7)
    caplog.set_level(logging.INFO, logger="remediation.checker")
    store.leases.down = 3
    # Rounds: fail, fail, fail, succeed (the scan interval), then a second outage starts from 1 s again.
    calls = 0
    original = store.leases.acquire

    async def acquire(name: str, holder: str, ttl: float) -> bool:
        nonlocal calls
        calls += 1
        if calls == 5:
            store.leases.down = 2
        return await original(name, holder, ttl)

    store.leases.acquire = acquire  # type: ignore[method-assign]
    await run(checker)
    assert waits == [1.0, 2.0, 4.0, 60.0, 1.0, 2.0, 60.0]
    messages = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert [level for level, _ in messages] == ["WARNING", "INFO", "WARNING", "INFO"], messages
    assert "available again" in messages[1][1] and "3 failed tries" in messages[1][1]


async def test_wake_still_cuts_a_back_off_short() -> None:
    store = FakeStore()
    store.leases.down = 100
    checker = UnblockChecker(tenant=FakeTenant(), store=cast(Store, store), view=cast(CaseView, None),
                             config=CheckerConfig(retry_first=30.0, retry_max=30.0), clock=lambda: NOW)
    await checker.start()
    try:
        for _ in range(100):
            if store.leases.tries:
                break
            await asyncio.sleep(0.01)
        assert store.leases.tries == 1
        checker.wake()  # an unblock just happened: look now, not in 30 s
        for _ in range(100):
            if store.leases.tries == 2:
                break
            await asyncio.sleep(0.01)
        assert store.leases.tries == 2
    finally:
        await checker.stop()


def test_backoff_doubles_to_its_limit_and_resets() -> None:
    backoff = Backoff(1.0, 30.0)
    assert [backoff.next() for _ in range(7)] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    backoff.reset()
    assert backoff.next() == 1.0
    with pytest.raises(ValueError):
        Backoff(0.0, 1.0)


def test_outage_log_warns_once_per_outage(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("tests.outage")
    clock = iter([100.0, 112.5, 200.0])
    outage = OutageLog(logger, "thing", clock=lambda: next(clock))
    caplog.set_level(logging.DEBUG, logger="tests.outage")
    error = StoreUnavailable("locked")
    assert outage.failed(error) is True
    assert outage.failed(error) is False and outage.in_outage
    outage.succeeded()
    outage.succeeded()  # no outage: nothing to say
    assert outage.failed(error) is True
    levels = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert [level for level, _ in levels] == ["WARNING", "DEBUG", "INFO", "WARNING"]
    assert "after 12.5 s (2 failed tries)" in levels[2][1]

"""Living through a database outage: say it once, and wait longer between tries.

A database that is down fails every turn and every background round until it is back. Logging each failure (with
its traceback) buries the one line an operator needs, and retrying a round at once turns a loop into a hot spin.
`OutageLog` says WARNING once when an outage begins (no traceback: `StoreUnavailable` already names the reason)
and INFO once when the store answers again, with how long it was gone and how many tries failed meanwhile;
`Backoff` gives the waits between tries of a background loop (exponential, capped, back to the start on success).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from store.db import StoreUnavailable

__all__ = ["Backoff", "OutageLog"]


class OutageLog:
    """One WARNING per outage of the store for one component (`what`: "turns", "unblock checker", ...)."""

    def __init__(self, logger: logging.Logger, what: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._log = logger
        self._what = what
        self._clock = clock
        self._since: float | None = None
        self._failures = 0

    @property
    def in_outage(self) -> bool:
        """True between the first failure of an outage and the next success."""
        return self._since is not None

    def failed(self, exc: StoreUnavailable, *, then: str = "") -> bool:
        """Count a failure; True (and a WARNING) when it is the first of an outage, else a DEBUG line."""
        self._failures += 1
        if self._since is not None:
            self._log.debug("%s: the store is still unavailable (%s)", self._what, exc.reason)
            return False
        self._since = self._clock()
        self._log.warning("%s: the store is unavailable (%s)%s", self._what, exc.reason,
                          f"; {then}" if then else "")
        return True

    def succeeded(self) -> None:
        """The store answered: end the outage (an INFO line when there was one)."""
        if self._since is None:
            return
        self._log.info("%s: the store is available again after %.1f s (%d failed tries)", self._what,
                       self._clock() - self._since, self._failures)
        self._since = None
        self._failures = 0


class Backoff:
    """Waits between the tries of a failing background round: `first`, doubling up to `limit` seconds."""

    def __init__(self, first: float = 1.0, limit: float = 30.0) -> None:
        if first <= 0 or limit < first:
            raise ValueError("the back-off needs 0 < first <= limit")
        self.first = first
        self.limit = limit
        self._next = first

    def next(self) -> float:
        """The wait before the next try (and double the one after it)."""
        delay = self._next
        self._next = min(self._next * 2, self.limit)
        return delay

    def reset(self) -> None:
        """A round succeeded: the next failure waits `first` again."""
        self._next = self.first

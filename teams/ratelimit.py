"""A per-person limit on the expensive or powerful things: starting investigations and pressing card buttons.

Every investigation fans out into a dozen Graph and Exchange calls whose throttles are shared by the whole
tenant, and every button press may write to the tenant. A script driving a stolen Teams session, or a
person holding Enter, must not be able to exhaust those throttles for everyone or hammer the tenant with
writes. `RateLimiter` is a sliding window per Entra object id: at most `limit` events in any `window`
seconds. Past it the caller answers politely and does nothing.

The window lives in process memory: with N instances a person gets at most N × limit per minute, which is
still a hard bound; the limit protects capacity, it is not an authorisation control (roles and the
remediation policy are).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_WINDOW_SECONDS = 60.0
# Keys kept at most; the least recently used are forgotten first (a forgotten person starts a fresh window,
# which only ever errs on the side of answering).
MAX_TRACKED = 10_000


@dataclass(frozen=True)
class Decision:
    """Whether the event may go ahead and, when not, how many seconds until it may."""

    allowed: bool
    retry_after: float = 0.0

    @property
    def retry_after_seconds(self) -> int:
        """`retry_after` rounded up to whole seconds (at least 1), for a message."""
        return max(1, math.ceil(self.retry_after))


class RateLimiter:
    """At most `limit` events per key in any `window` seconds; `limit=0` disables the limit."""

    def __init__(self, limit: int, *, window: float = DEFAULT_WINDOW_SECONDS,
                 clock: Callable[[], float] = time.monotonic, max_tracked: int = MAX_TRACKED) -> None:
        if limit < 0:
            raise ValueError("limit must be 0 (no limit) or more")
        if window <= 0:
            raise ValueError("window must be positive")
        self.limit = limit
        self.window = window
        self._clock = clock
        self._max_tracked = max_tracked
        self._events: OrderedDict[str, deque[float]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        """False when the limit is 0 (every event is allowed and nothing is tracked)."""
        return self.limit > 0

    def check(self, key: str) -> Decision:
        """Count one event for `key` if it fits in the window; refused events are not counted.

        Not counting refusals means a person who keeps pressing while limited is back in as soon as their
        oldest event leaves the window, rather than locked out for as long as they keep trying.
        """
        if not self.enabled:
            return Decision(True)
        now = self._clock()
        events = self._events.get(key)
        if events is None:
            events = deque()
            self._events[key] = events
            if len(self._events) > self._max_tracked:
                self._events.popitem(last=False)
        else:
            self._events.move_to_end(key)
        horizon = now - self.window
        while events and events[0] <= horizon:
            events.popleft()
        if len(events) >= self.limit:
            return Decision(False, retry_after=events[0] + self.window - now)
        events.append(now)
        return Decision(True)

    def reset(self, key: str | None = None) -> None:
        """Forget `key`'s events (or everyone's): for tests and an operator's console."""
        if key is None:
            self._events.clear()
        else:
            self._events.pop(key, None)

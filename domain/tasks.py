"""Stopping background tasks: the loops (watch, checker, reconciler) and work that outlives a turn."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from typing import Any, TypeVar

T = TypeVar("T")


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any] | None]) -> None:
    """Cancel every task and wait until each has finished, whatever it raised: at shutdown nobody is left to
    act on its outcome, and an instance must not stop while a task still holds a database connection."""
    pending = [task for task in tasks if task is not None]
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


class PendingWrites:
    """Database writes that finish even when the task awaiting them is cancelled.

    A cancelled `await` does not stop a statement already handed to the driver's thread: a lease taken that way
    after `stop()` released it would keep another instance from taking over for a whole TTL. Loops run their
    lease writes through `run` and `settle` them before releasing.
    """

    def __init__(self) -> None:
        self._writes: set[asyncio.Future[Any]] = set()

    async def run(self, write: Awaitable[T]) -> T:
        """Await `write`; if the caller is cancelled, the write still runs to its end."""
        task = asyncio.ensure_future(write)
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)
        return await asyncio.shield(task)

    async def settle(self) -> None:
        """Wait until every write started through `run` has finished (whatever it raised)."""
        await asyncio.gather(*list(self._writes), return_exceptions=True)


async def sleep_until_woken(wake: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, or less when `wake` is set (a background loop told to run its next round now); the event is
    cleared for the next sleep either way."""
    try:
        await asyncio.wait_for(wake.wait(), timeout=seconds)
    except TimeoutError:
        pass
    wake.clear()

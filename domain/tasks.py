"""Stopping background tasks: the loops (watch, checker, reconciler) and work that outlives a turn."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any] | None]) -> None:
    """Cancel every task and wait until each has finished, whatever it raised: at shutdown nobody is left to
    act on its outcome, and an instance must not stop while a task still holds a database connection."""
    pending = [task for task in tasks if task is not None]
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)

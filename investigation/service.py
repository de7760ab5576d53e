"""The one investigation service of the process: single and bulk investigations on one set of limits.

Microsoft throttles per app, not per caller: the dialog, the restriction watch, triage and the checker's refresh
all spend the same windows. `Investigations` therefore owns the process's one `Limits` (concurrency per upstream
family) and its one `Governor` (pacing of the throttled Graph families, holds after a 429), and every single and
bulk investigation runs under both. Build it once (in `bot.py`) and pass it to whoever investigates.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from investigation.collect import Collector, CollectorConfig, Investigation, Limits
from investigation.outbreak import BulkInvestigator
from m365.graph import Governor
from m365.protocol import Tenant
from m365.records import User

Progress = Callable[[int, int], Awaitable[None]]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Investigations:
    """The one investigation service of the process: single and bulk, one Limits and one Governor shared."""

    def __init__(
        self,
        tenant: Tenant,
        *,
        config: CollectorConfig | None = None,
        limits: Limits | None = None,
        governor: Governor | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.config = config or CollectorConfig()
        self.limits = limits or Limits()
        self.governor = governor or Governor()
        self._collector = Collector(tenant, config=self.config, limits=self.limits, governor=self.governor,
                                    clock=clock)
        self._bulk = BulkInvestigator(tenant, config=self.config, limits=self.limits, governor=self.governor,
                                      clock=clock)

    async def investigate(self, user: User) -> Investigation:
        """Collect every source about `user`, run the indicators and assess. Never raises for an upstream failure."""
        return await self._collector.investigate(user)

    async def investigate_many(
        self, users: Sequence[User], *, on_progress: Progress | None = None
    ) -> dict[str, Investigation]:
        """Every user's investigation keyed by user id (duplicates and blank ids dropped); never raises for an
        upstream failure. `on_progress(done, total)` is awaited as accounts are judged."""
        return await self._bulk.investigate_many(users, on_progress=on_progress)

"""The production Microsoft 365 stack (msal, aiohttp, `M365Tenant`) on a real demo tenant, for integration tests.

`demo_stack(data_dir)` starts a `DemoTenant` on a free loopback port, builds `Settings` from its `client_env()`
(no `.env` is read), the shared `aiohttp` session and `create_tenant(...)` on top, and closes all of it on exit.
Share one `data_dir` between the tests of a module: the CA and keys are made once and reused, and every stack
still gets a fresh state (seed, faults, request log).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from config import Settings
from demo_tenant import DemoTenant, DemoTenantConfig
from demo_tenant.faults import RequestRecord
from investigation.collect import CollectorConfig, Investigation
from investigation.resolve import Outcome, resolve_account
from investigation.service import Investigations
from m365.graph import Governor
from m365.http import RetryPolicy, create_session
from m365.tenant import M365Tenant, create_tenant

SEED = Path(__file__).resolve().parents[1] / "demo_tenant" / "seeds" / "contoso.json"
# Retries that keep tests quick: a 429 or 503 storm ends in well under a second unless Retry-After says more.
FAST_RETRY = RetryPolicy(max_attempts=3, budget_seconds=5.0, base_delay_seconds=0.05, max_delay_seconds=0.2)
# Small enough that a source hanging on a `timeout` fault costs a test little, large enough for a noisy machine.
FAST_COLLECTOR = CollectorConfig(source_timeout=2.0, total_deadline=6.0)


@dataclass
class DemoStack:
    """A running demo tenant and the production client stack pointed at it."""

    server: DemoTenant
    settings: Settings
    session: aiohttp.ClientSession
    tenant: M365Tenant

    def requests(self, *, api: str | None = None, path_contains: str | None = None,
                 cmdlet: str | None = None) -> list[RequestRecord]:
        """The demo tenant's request log (oldest first), filtered."""
        return self.server.state.requests.matching(api=api, path_contains=path_contains, cmdlet=cmdlet)

    def collector(self, config: CollectorConfig = FAST_COLLECTOR) -> Investigations:
        """An investigation service on this tenant with its own (fresh) limits and governor.

        The governor paces only when this demo tenant enforces Microsoft's throttles: these tests' sources time out
        in a second or two, shorter than Identity Protection's one-request-a-second pacing of a retry, so without
        throttles pacing would turn the fault a test injects into "throttled". Pacing itself is tested with throttles
        on (tests/integration/test_outbreak_demo.py, tests/unit/test_outbreak.py)."""
        governor = None if self.server.state.throttle.enabled else Governor({})
        return Investigations(self.tenant, config=config, governor=governor)


@asynccontextmanager
async def demo_stack(data_dir: Path, *, retry: RetryPolicy = FAST_RETRY, **config: Any) -> AsyncIterator[DemoStack]:
    """Start a demo tenant in `data_dir` (extra `DemoTenantConfig` fields as keywords) with the real clients."""
    server = DemoTenant(DemoTenantConfig(seed_path=SEED, data_dir=data_dir, host="127.0.0.1", port=0, **config))
    await server.start()
    try:
        settings = Settings.from_env(server.client_env(), dotenv_path=data_dir / "absent.env")
        session = create_session(settings)
        try:
            tenant = await create_tenant(settings, session, retry=retry)
            try:
                yield DemoStack(server, settings, session, tenant)
            finally:
                await tenant.close()
        finally:
            await session.close()
    finally:
        await server.stop()


async def investigate_account(stack: DemoStack, text: str) -> Investigation:
    """Resolve `text` (UPN, address or name) in the demo tenant and investigate the one account it names."""
    resolution = await resolve_account(stack.tenant, text)
    assert resolution.outcome == Outcome.found and resolution.user is not None, resolution
    return await stack.collector().investigate(resolution.user)

"""An embedded stand-in for Microsoft 365: Entra token endpoint, Microsoft Graph v1.0 and the Exchange admin API.

The bot's real msal and aiohttp clients talk to it over HTTPS on loopback, unchanged: only the base URLs and
the CA differ from production. Start it with::

    tenant = DemoTenant(DemoTenantConfig(data_dir=Path("data/demo_tenant")))
    await tenant.start()
    env = tenant.client_env()   # M365_TENANT_ID, M365_CLIENT_ID, M365_CLIENT_SECRET, URLs, M365_CA_FILE
    ...
    await tenant.stop()

or run it on its own with `python -m demo_tenant`. See demo_tenant/README.md.
"""

from demo_tenant.faults import FaultRule, LatencyRule, RequestRecord, ThrottleLimits
from demo_tenant.server import DemoTenant, DemoTenantConfig
from demo_tenant.state import Action, DemoState, SeedError

__all__ = [
    "Action",
    "DemoState",
    "DemoTenant",
    "DemoTenantConfig",
    "FaultRule",
    "LatencyRule",
    "RequestRecord",
    "SeedError",
    "ThrottleLimits",
]

"""Opening the Microsoft 365 tenant from `Settings`: the configured one, or the embedded demo tenant.

Shared by the composition root (`bot.py`) and the command-line tools (`python -m investigation`,
`tools/check_tenant.py`), which need the same tenant the bot would use but must not import the bot: the
arrows point from `bot` down, never back up to it.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
from contextlib import AsyncExitStack
from pathlib import Path

from config import Settings, SettingsError, read_demo_tenant_env
from m365.http import create_session
from m365.protocol import Tenant
from m365.tenant import create_tenant

log = logging.getLogger(__name__)


def cli_settings() -> Settings | None:
    """The settings a command-line tool runs with (logging set up for it), or None after printing why they are bad."""
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return None
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return settings


def demo_settings(settings: Settings, env: dict[str, str]) -> Settings:
    """`settings` pointed at the embedded demo tenant (its `client_env()`), group ids from the demo seed."""
    return dataclasses.replace(
        settings,
        m365_tenant_id=env["M365_TENANT_ID"],
        m365_client_id=env["M365_CLIENT_ID"],
        m365_client_secret=env["M365_CLIENT_SECRET"],
        m365_authority_host=env["M365_AUTHORITY_HOST"],
        m365_graph_url=env["M365_GRAPH_URL"],
        m365_exchange_url=env["M365_EXCHANGE_URL"],
        m365_ca_file=env["M365_CA_FILE"],
        it_staff_group_id=settings.it_staff_group_id or env.get("IT_STAFF_GROUP_ID", ""),
        security_admin_group_id=settings.security_admin_group_id or env.get("SECURITY_ADMIN_GROUP_ID", ""),
    )


async def open_tenant(settings: Settings, stack: AsyncExitStack) -> tuple[Tenant, Settings]:
    """The configured tenant, or the embedded demo tenant started for it; closed by `stack`.

    Returns the settings the clients really use (in demo mode: pointed at the demo tenant).
    """
    m365_settings = settings
    if settings.demo_mode and settings.demo_tenant_env:
        # Several instances on one demo tenant: join the running one instead of starting another.
        m365_settings = demo_settings(settings, read_demo_tenant_env(settings.demo_tenant_env))
        log.info("joined the demo tenant at %s", m365_settings.m365_graph_url)
    elif settings.demo_mode:
        from demo_tenant import DemoTenant, DemoTenantConfig  # only demo mode starts it

        demo_config = DemoTenantConfig(data_dir=settings.data_dir / "demo_tenant", port=settings.demo_tenant_port)
        if settings.demo_tenant_seed:
            demo_config = dataclasses.replace(demo_config, seed_path=Path(settings.demo_tenant_seed))
        demo = DemoTenant(demo_config)
        await demo.start()
        stack.push_async_callback(demo.stop)
        m365_settings = demo_settings(settings, demo.client_env())
        log.info("demo tenant running at %s", demo.base_url)
    session = create_session(m365_settings)
    stack.push_async_callback(session.close)
    tenant = await create_tenant(m365_settings, session)
    stack.push_async_callback(tenant.close)
    return tenant, m365_settings

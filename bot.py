"""Composition root: `create_app(settings)` builds every part and wires it; `main()` serves it.

Nothing is built at import time. With no Microsoft 365 credentials configured, the embedded demo
tenant is started and the real clients are pointed at it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import sys
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from aiohttp import web
from botbuilder.core import ConversationState, InvokeResponse, UserState
from botbuilder.core.serializer_helper import serializer_helper
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botbuilder.schema import Activity
from msrest.serialization import Model

from config import Settings, SettingsError
from dialogs.casework import CaseDesk
from dialogs.investigate import InvestigateDialog
from dialogs.main import MainDialog
from investigation.collect import Collector
from m365.http import create_session
from m365.protocol import Tenant
from m365.tenant import create_tenant
from store import Store
from teams.handler import BlockedSenderBot, on_turn_error
from teams.identity import RoleResolver

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 512 * 1024
READY_CACHE_SECONDS = 10.0


@dataclass
class Components:
    """Everything a request handler needs, built once per application in `cleanup_ctx`."""

    settings: Settings
    store: Store
    tenant: Tenant
    adapter: CloudAdapter
    bot: BlockedSenderBot
    roles: RoleResolver
    ready_at: float = 0.0


COMPONENTS = web.AppKey("components", Components)


class _BotFrameworkConfig:
    """The attribute names `ConfigurationBotFrameworkAuthentication` reads, filled from `Settings`."""

    def __init__(self, settings: Settings) -> None:
        self.APP_ID = settings.app_id
        self.APP_PASSWORD = settings.app_password
        self.APP_TYPE = settings.app_type
        self.APP_TENANTID = settings.app_tenant_id


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


def create_app(settings: Settings, *, tenant: Tenant | None = None, store: Store | None = None) -> web.Application:
    """Build the aiohttp application. `tenant` and `store` replace the configured ones (tests, tools)."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)

    async def lifespan(app: web.Application) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            app[COMPONENTS] = await _build(settings, stack, tenant=tenant, store=store)
            log.info(
                "bot ready: tenant %s, %s mode, bot auth %s",
                app[COMPONENTS].tenant.tenant_id,
                "demo" if settings.demo_mode else "production",
                "on" if settings.bot_auth_enabled else "off (anonymous)",
            )
            yield

    app.cleanup_ctx.append(lifespan)
    app.router.add_post("/api/messages", messages)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


async def _build(settings: Settings, stack: AsyncExitStack, *, tenant: Tenant | None,
                 store: Store | None) -> Components:
    if store is None:
        store = await Store.open(settings.effective_database_url)
        stack.push_async_callback(store.close)
    m365_settings = settings
    if tenant is None:
        tenant, m365_settings = await open_tenant(settings, stack)
    bot, roles = build_handler(m365_settings, tenant=tenant, store=store)
    adapter = CloudAdapter(ConfigurationBotFrameworkAuthentication(_BotFrameworkConfig(settings)))
    adapter.on_turn_error = on_turn_error
    return Components(settings=settings, store=store, tenant=tenant, adapter=adapter, bot=bot, roles=roles)


async def open_tenant(settings: Settings, stack: AsyncExitStack) -> tuple[Tenant, Settings]:
    """The configured tenant, or the embedded demo tenant started for it; closed by `stack`.

    Returns the settings the clients really use (in demo mode: pointed at the demo tenant).
    """
    m365_settings = settings
    if settings.demo_mode:
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


def build_handler(settings: Settings, *, tenant: Tenant, store: Store) -> tuple[BlockedSenderBot, RoleResolver]:
    """The activity handler and everything behind it (dialogs, investigation, state), for one tenant."""
    conversation_state = ConversationState(store.bot_storage)
    user_state = UserState(store.bot_storage)
    desk = CaseDesk(collector=Collector(tenant), store=store)
    roles = RoleResolver(
        tenant,
        it_staff_group_id=settings.it_staff_group_id,
        security_admin_group_id=settings.security_admin_group_id,
    )
    bot = BlockedSenderBot(
        tenant_id=tenant.tenant_id,
        conversation_state=conversation_state,
        user_state=user_state,
        main_dialog=MainDialog(investigate=InvestigateDialog(tenant=tenant, desk=desk)),
        roles=roles,
    )
    return bot, roles


def _invoke_body(response: InvokeResponse) -> Any:
    """The JSON body of an invoke response, serialised exactly once.

    botbuilder 4.17.1 stores an already-serialised dict in `InvokeResponse.body` and `CloudAdapter.process`
    serialises it again, which turns every card returned from `Action.Execute` into an HTTP 500.
    """
    body = response.body
    if isinstance(body, Model):
        return serializer_helper(body)
    return body


async def messages(request: web.Request) -> web.StreamResponse:
    """POST /api/messages: one Bot Framework activity in, an invoke response (or 201) out."""
    components = request.app[COMPONENTS]
    if "application/json" not in request.headers.get("Content-Type", ""):
        return web.json_response({"error": "expected application/json"}, status=415)
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return web.json_response({"error": "malformed JSON"}, status=400)
    if not isinstance(body, dict):
        return web.json_response({"error": "expected an activity object"}, status=400)
    try:
        activity = Activity().deserialize(body)
    except Exception:  # noqa: BLE001 - msrest raises a variety of errors for malformed activities
        log.info("malformed activity rejected")
        return web.json_response({"error": "malformed activity"}, status=400)
    if not activity.type:
        return web.json_response({"error": "activity has no type"}, status=400)
    auth_header = request.headers.get("Authorization", "")
    try:
        response = await components.adapter.process_activity(auth_header, activity, components.bot.on_turn)
    except (PermissionError, jwt.PyJWTError) as exc:
        # botframework-connector raises PermissionError for a rejected token but lets PyJWT's errors for
        # a malformed one escape; both mean the same to the caller.
        log.info("rejected activity: %s", type(exc).__name__)
        return web.json_response({"error": "unauthorized"}, status=401)
    if response is not None:
        return web.json_response(_invoke_body(response), status=response.status or 200)
    return web.Response(status=201)


async def healthz(request: web.Request) -> web.Response:
    """GET /healthz: the process is up."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """GET /readyz: the store answers and the tenant is reachable (cached briefly: probes are frequent)."""
    components = request.app[COMPONENTS]
    if time.monotonic() - components.ready_at < READY_CACHE_SECONDS:
        return web.json_response({"status": "ready", "store": "ok", "tenant": "ok"})
    store_ok = await components.store.ping()
    try:
        await asyncio.wait_for(components.tenant.ping(), timeout=5)
        tenant_ok = True
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"; the type goes to the log
        log.warning("readiness: tenant unreachable (%s)", type(exc).__name__)
        tenant_ok = False
    if store_ok and tenant_ok:
        components.ready_at = time.monotonic()
        return web.json_response({"status": "ready", "store": "ok", "tenant": "ok"})
    return web.json_response(
        {"status": "not ready", "store": "ok" if store_ok else "unavailable", "tenant": "ok" if tenant_ok
         else "unreachable"},
        status=503,
    )


def configure_logging(level: str) -> None:
    """Plain, greppable log lines on stderr."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # aiohttp's access log would record query strings; the bot's own log says what matters.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    """Serve the bot on `HOST:PORT`."""
    del argv
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    web.run_app(create_app(settings), host=settings.host, port=settings.port, print=None,
                access_log=None, handler_cancellation=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())


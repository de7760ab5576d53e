"""Composition root: `create_app(settings)` builds every part and wires it; `main()` serves it.

Nothing is built at import time. With no Microsoft 365 credentials configured, the embedded demo
tenant is started and the real clients are pointed at it.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web
from microsoft_agents.hosting.aiohttp import CloudAdapter
from microsoft_agents.hosting.core import Connections

from config import Settings, SettingsError
from core.cases import CaseBook
from core.containment import AutoContainment
from core.events import EventDeliverer, WebhookConfig
from core.ports import Outbox
from core.preflight import Report, for_tenant
from core.presses import Presses, RemediationConfig
from core.triage import TriageActions, TriageBoard, TriageConfig
from dialogs.casework import CaseDesk
from dialogs.diagnose import DiagnoseDesk
from dialogs.intents import Intent
from dialogs.investigate import InvestigateDialog
from dialogs.main import MainDialog
from dialogs.triage import TriageDesk
from domain.net import is_loopback_url
from investigation.service import Investigations
from m365.errors import TokenRefused, TokenUnavailable
from m365.protocol import Tenant
from remediation.checker import CheckerConfig, UnblockChecker
from remediation.reconcile import Reconciler, ReconcilerConfig
from remediation.views import CaseView
from store import Store
from teams.app import anonymous_connections, new_adapter
from teams.auth import BotAuthenticator, Unauthorized, connection_manager
from teams.edge import BadActivity, read_activity
from teams.files import AttachmentPoster, ReportExports
from teams.handler import BlockedSenderBot
from teams.identity import RoleResolver
from teams.proactive import Messenger
from teams.ratelimit import RateLimiter
from teams.reporting import Reporting
from teams.routes import build_routes
from teams.storage import SqlStorage
from tenancy import open_tenant

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 512 * 1024
# Deeper JSON than any real activity (Teams nests cards a dozen levels) is refused before pydantic sees it.
MAX_JSON_DEPTH = 64
READY_CACHE_SECONDS = 10.0


@dataclass
class Components:
    """Everything a request handler needs, built once per application in `cleanup_ctx`."""

    settings: Settings
    store: Store
    tenant: Tenant
    adapter: CloudAdapter
    authenticator: BotAuthenticator
    bot: BlockedSenderBot
    roles: RoleResolver
    presses: Presses
    # Users' reports, IT alerts and the watch; `reporting.notices.notify_resolved(case)` tells a case's users.
    reporting: Reporting
    ready_at: float = 0.0


# The demo tenant lifts an unblock after 30 s: check soon, so the Playground shows "restored" within a minute.
# The demo shows "restored" soon after the demo tenant lifts the block (30 s): poll every 5–10 s, not 1–30 min.
# Its lease lives three scans, so after a `kill -9` a restarted instance resumes checking within 15 s.
DEFAULT_REMEDIATION = RemediationConfig()
DEMO_REMEDIATION = RemediationConfig(checker=CheckerConfig(base_interval=5.0, max_interval=10.0, scan_interval=5.0,
                                                           lease_ttl=15.0))


COMPONENTS = web.AppKey("components", Components)


def create_app(settings: Settings, *, tenant: Tenant | None = None, store: Store | None = None,
               remediation_config: RemediationConfig | None = None) -> web.Application:
    """Build the aiohttp application. `tenant` and `store` replace the configured ones (tests, tools);
    `remediation_config` the timing of remediation and its unblock checker (tests use short intervals).

    Raises `SettingsError` for settings that must not be served (a real tenant without bot authentication).
    """
    settings.check_can_serve()
    quiet_sdk(anonymous=not settings.bot_auth_enabled)
    app = web.Application(client_max_size=MAX_BODY_BYTES)

    async def lifespan(app: web.Application) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            app[COMPONENTS] = await _build(settings, stack, tenant=tenant, store=store,
                                           remediation_config=remediation_config)
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
                 store: Store | None, remediation_config: RemediationConfig | None = None) -> Components:
    if store is None:
        # Events are written only when a webhook will fetch them (store.events).
        store = await Store.open(settings.effective_database_url, events=bool(settings.webhook_url))
        stack.push_async_callback(store.close)
    m365_settings = settings
    if tenant is None:
        tenant, m365_settings = await open_tenant(settings, stack)
    config = remediation_config or (DEMO_REMEDIATION if settings.demo_mode else DEFAULT_REMEDIATION)
    # The adapter does not need the bot, so it comes first: everything that posts gets its outbox when built.
    connections = connection_manager(settings)
    adapter, clients = new_adapter(connections)
    stack.push_async_callback(clients.close)  # registered first: closed after everything that still posts
    bot, parts = build_handler(m365_settings, tenant=tenant, store=store, outbox=Messenger(adapter, settings.app_id),
                               remediation_config=config, connections=connections)
    presses, checker, reporting = parts.presses, parts.checker, parts.reporting
    await checker.start()
    stack.push_async_callback(checker.stop)
    stack.push_async_callback(presses.close)
    stack.push_async_callback(reporting.notices.aclose)  # before the adapter closes: follow-ups still post
    reporting.watch.start()
    stack.push_async_callback(reporting.watch.stop)
    # Actions a crash interrupted (audit `started`, no outcome): checked at start-up and then periodically.
    grace = float(settings.reconcile_grace_seconds)
    every = min(max(grace / 2, 1.0), 300.0)
    reconciler = Reconciler(tenant=tenant, store=store, view=parts.view,
                            config=ReconcilerConfig(grace_seconds=grace, interval_seconds=every),
                            on_unblock_pending=checker.wake)
    reconciler.start()
    stack.push_async_callback(reconciler.stop)
    _start_webhook(settings, store, stack)
    return Components(settings=settings, store=store, tenant=tenant, adapter=adapter,
                      authenticator=BotAuthenticator(settings), bot=bot, roles=parts.roles, presses=presses,
                      reporting=reporting)


def _start_webhook(settings: Settings, store: Store, stack: AsyncExitStack) -> None:
    """Deliver the store's events to WEBHOOK_URL (core/events.py), when one is configured."""
    if not settings.webhook_url:
        return
    if not store.events.enabled:
        log.warning("WEBHOOK_URL is set but the store given to create_app writes no events (Store(events=True))")
    deliverer = EventDeliverer(store=store, config=WebhookConfig(
        url=settings.webhook_url, secret=settings.webhook_secret, timeout_seconds=settings.webhook_timeout_seconds))
    deliverer.start()
    stack.push_async_callback(deliverer.stop)
    # The host only: the rest of the URL may carry the receiver's key.
    log.info("webhook: events go to %s", urlsplit(settings.webhook_url).hostname)


def _preflight(tenant: Tenant) -> Callable[[], Awaitable[Report]] | None:
    """The `diagnose` command's pre-flight over the tenant's own clients; None for a tenant that has none."""
    preflight = for_tenant(tenant)
    return preflight.run if preflight is not None else None


@dataclass(frozen=True)
class Parts:
    """Everything behind the activity handler, built once by `build_handler`."""

    roles: RoleResolver
    investigations: Investigations
    cases: CaseBook
    view: CaseView
    checker: UnblockChecker
    presses: Presses
    reporting: Reporting


def build_handler(settings: Settings, *, tenant: Tenant, store: Store, outbox: Outbox,
                  remediation_config: RemediationConfig = DEFAULT_REMEDIATION,
                  connections: Connections | None = None) -> tuple[BlockedSenderBot, Parts]:
    """The activity handler and everything behind it (dialogs, investigation, remediation, reports), for one tenant.

    Built once, in one order, each part given what it needs: roles, the one investigation service, cases,
    remediation, the report feature, the dialogs, the handler. `outbox` posts and updates cards outside a turn
    (`teams.proactive.Messenger` on the adapter; tests pass a recording one). Nothing here starts a background task:
    `_build` starts the checker and the watch. `connections` is the SDK's connection manager (anonymous when
    not given: tests and tools that drive the handler in memory).
    """
    # Dialog, conversation and user state in the store's database (e-tags checked there: safe across instances).
    storage = SqlStorage(store.db)
    roles = RoleResolver(
        tenant,
        it_staff_group_id=settings.it_staff_group_id,
        security_admin_group_id=settings.security_admin_group_id,
    )
    # The process's one investigation service: one Limits and one Governor for the dialog, watch, triage, checker.
    investigations = Investigations(tenant)
    cases = CaseBook(store)
    # A case's card, drawn from the store, and kept current in every chat it was posted to.
    view = CaseView(store, messenger=outbox, role_of=roles.role_of)
    notices = Reporting.notices_for(tenant=tenant, store=store, investigations=investigations, cases=cases,
                                    outbox=outbox, role_of=roles.role_of, view=view,
                                    notify_affected_user=settings.notify_affected_user)
    # A resolved case tells its users "you can send mail again".
    checker = UnblockChecker(tenant=tenant, store=store, view=view, config=remediation_config.checker,
                             listeners=(notices.on_case_resolved,))
    presses = Presses(tenant=tenant, store=store, view=view, checker=checker, investigator=investigations,
                      recorder=cases, config=remediation_config)
    # AUTO_CONTAIN: the watch contains a newly restricted compromised account through the same presses.
    containment = (AutoContainment(presses=presses, store=store, tenant=tenant,
                                   max_per_hour=settings.auto_contain_max_per_hour) if settings.auto_contain else None)
    reporting = Reporting.build(tenant=tenant, store=store, cases=cases, notices=notices,
                                watch_interval_seconds=settings.watch_interval,
                                contain=containment.contain if containment is not None else None)
    desk = CaseDesk(investigations=investigations, cases=cases, store=store, view=view)
    # Triage: every restricted account, investigated in bulk and recorded on its case like a single one.
    triage = TriageActions(TriageBoard(tenant=tenant, store=store, presses=presses, investigator=investigations,
                                       recorder=cases, config=TriageConfig()), outbox)
    # "Export report": the incident report (incident/) through Teams' file consent; the Messenger posts the card.
    exports = ReportExports(store=store, tenant_id=tenant.tenant_id,
                            poster=outbox if isinstance(outbox, AttachmentPoster) else None,
                            anonymous=not settings.bot_auth_enabled)
    bot = BlockedSenderBot(
        tenant_id=tenant.tenant_id,
        storage=storage,
        connections=connections or anonymous_connections(),
        main_dialog=MainDialog(investigate=InvestigateDialog(tenant=tenant, desk=desk),
                               routes={**reporting.routes(), Intent.TRIAGE: TriageDesk(triage, presses, outbox).show,
                                       Intent.DIAGNOSE: DiagnoseDesk(_preflight(tenant)).show}),
        roles=roles,
        # Where every button goes: the one table (teams/routes.py).
        routes=build_routes(presses=presses, triage=triage, send_note=reporting.send_note(),
                            export_report=exports.press),
        rate_limiter=RateLimiter(settings.rate_limit_per_minute),
        remember=reporting.keeper.remember,
        file_consent=exports.on_consent,
    )
    return bot, Parts(roles=roles, investigations=investigations, cases=cases, view=view, checker=checker,
                      presses=presses, reporting=reporting)


async def messages(request: web.Request) -> web.StreamResponse:
    """POST /api/messages: one Bot Framework activity in, an invoke response (or 201) out.

    The body is read and validated first (size, JSON depth, the SDK's pydantic `Activity`: a 400, never a 500),
    then the token is checked (401), then the SDK's adapter runs the turn with `bot.on_turn`; the invoke response
    the turn left is written here, once.
    """
    components = request.app[COMPONENTS]
    try:
        activity = await read_activity(request, max_bytes=MAX_BODY_BYTES, max_depth=MAX_JSON_DEPTH)
    except BadActivity as exc:
        return web.json_response({"error": exc.message}, status=exc.status)
    try:
        claims = await components.authenticator.authenticate(request.headers.get("Authorization"), activity)
    except Unauthorized as exc:
        log.info("rejected activity: %s", exc)
        return web.json_response({"error": "unauthorized"}, status=401)
    if components.authenticator.anonymous and not is_loopback_url(activity.service_url):
        # Without a token nothing vouches for the serviceUrl: an anonymous bot would post its replies (case cards,
        # names) wherever a caller points it. Authenticated, the token's `serviceurl` claim must match instead.
        log.warning("rejected activity: anonymous mode replies to loopback service URLs only")
        return web.json_response({"error": "anonymous mode replies to loopback service URLs only"}, status=400)
    response = await components.adapter.process_activity(claims, activity, components.bot.on_turn)
    if response is not None:
        if response.body is None:
            return web.Response(status=response.status or 200)
        return web.json_response(response.body, status=response.status or 200)
    return web.Response(status=201)




async def healthz(request: web.Request) -> web.Response:
    """GET /healthz: the process is up."""
    return web.json_response({"status": "ok"})


_READY = {"store": "ok", "tenant": "ok", "token": "ok"}


async def readyz(request: web.Request) -> web.Response:
    """GET /readyz: every check by name, 200 when all are "ok", else 503 (a ready answer is cached briefly).

    - `store`: the database answers and (SQLite) its file is still the writable one opened: "gone", "replaced",
      "read-only" or "unreachable" otherwise (`store.db.Database.health`).
    - `token`: the app can get a token from the Entra token endpoint (the cached one while it is valid):
      "unavailable" (5xx, timeout, unreachable) or "refused" (wrong secret, unknown app).
    - `tenant`: a cheap Graph call answers: "unreachable" otherwise, "unknown" when there is no token to ask with.
    """
    components = request.app[COMPONENTS]
    if time.monotonic() - components.ready_at < READY_CACHE_SECONDS:
        return _ready_response(_READY)
    checks = {"store": await components.store.db.health(), **await _tenant_checks(components.tenant)}
    if all(value == "ok" for value in checks.values()):
        components.ready_at = time.monotonic()
    return _ready_response(checks)


async def _tenant_checks(tenant: Tenant) -> dict[str, str]:
    """The `token` and `tenant` checks of `/readyz`, from one cheap authenticated call."""
    try:
        await asyncio.wait_for(tenant.ping(), timeout=5)
    except TokenUnavailable:
        return {"token": "unavailable", "tenant": "unknown"}  # logged once by the token provider
    except TokenRefused:
        return {"token": "refused", "tenant": "unknown"}
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"; the type goes to the log
        log.warning("readiness: tenant unreachable (%s)", type(exc).__name__)
        return {"token": "ok", "tenant": "unreachable"}
    return {"token": "ok", "tenant": "ok"}


def _ready_response(checks: dict[str, str]) -> web.Response:
    ready = all(value == "ok" for value in checks.values())
    # The checks by name, and the same keys at the top level as before (probes and dashboards read those).
    return web.json_response({"status": "ready" if ready else "not ready", "checks": checks, **checks},
                             status=200 if ready else 503)


# Libraries that log requests, responses or SQL with their parameters. They stay at WARNING even at LOG_LEVEL=DEBUG:
# their DEBUG and INFO lines are where tokens, secrets and what people typed would appear. The bot's own loggers
# log ids, codes and counts (tests/security/test_secrets_in_logs.py runs a whole investigation at DEBUG).
THIRD_PARTY_LOG_CAPS: dict[str, int] = {
    "aiohttp.access": logging.WARNING,  # request lines with query strings
    "aiohttp.client": logging.WARNING,
    "aiosqlite": logging.WARNING,  # every statement with its parameters: dialog state, cases, audit reasons, notes
    "sqlalchemy.engine": logging.WARNING,  # statements and parameters
    "sqlalchemy.pool": logging.WARNING,
    "msal": logging.WARNING,  # token requests and token cache events
    "urllib3": logging.WARNING,  # request lines of msal, query strings included
    "requests": logging.WARNING,
    "azure": logging.WARNING,  # azure-identity (managed identity): request headers
    # The Agents SDK: its DEBUG and INFO lines name activities, routes, turn state and connector calls.
    "microsoft_agents": logging.WARNING,
}


class SdkErrorEcho(logging.Filter):
    """Drops the Agents SDK's own line for a failed turn ("An error occurred in the AgentApplication: <error>"):
    it carries the exception text; our handler (`teams.handler.on_turn_error`) logs the failure with the activity
    id and the traceback instead."""

    PREFIX = "An error occurred in the AgentApplication"

    def filter(self, record: logging.LogRecord) -> bool:
        """False for the SDK's duplicate error line."""
        return not (isinstance(record.msg, str) and record.msg.startswith(self.PREFIX))


def quiet_sdk(*, anonymous: bool) -> None:
    """Silence the Agents SDK's per-turn noise: its duplicate error line always, and in anonymous mode the
    "App ID is not provided" warning its user-token client logs on every turn."""
    app_logger = logging.getLogger("microsoft_agents.hosting.core.app.agent_application")
    if not any(isinstance(f, SdkErrorEcho) for f in app_logger.filters):
        app_logger.addFilter(SdkErrorEcho())
    if anonymous:
        logging.getLogger("microsoft_agents.hosting.core.connector.client.user_token_client").setLevel(logging.ERROR)


def configure_logging(level: str) -> None:
    """Plain, greppable log lines on stderr; third-party loggers that print requests are capped at WARNING."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(level)
    for name, cap in THIRD_PARTY_LOG_CAPS.items():
        logging.getLogger(name).setLevel(max(cap, logging.getLevelName(level)))


def main(argv: list[str] | None = None) -> int:
    """Serve the bot on `HOST:PORT`."""
    del argv
    try:
        settings = Settings.from_env()
        settings.check_can_serve()
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    if settings.deprecation_notice():  # MicrosoftApp* names: one line, so an upgrade needs no edit on day one
        log.warning("%s", settings.deprecation_notice())
    if settings.exposure_warning():  # HOST set beyond loopback for an anonymous bot: allowed, never quietly
        log.warning("%s", settings.exposure_warning())
    web.run_app(create_app(settings), host=settings.host, port=settings.port, print=None,
                access_log=None, handler_cancellation=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())


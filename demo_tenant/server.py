"""`DemoTenant`: the HTTPS server that puts identity, Graph, Exchange and the `/_demo/` API together.

The bot's real msal and aiohttp clients talk to it unchanged; only the base URLs and the CA differ from
Microsoft 365. All state belongs to the instance: two tenants in one process do not share anything.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import ssl
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote

from aiohttp import web
from multidict import CIMultiDict

from demo_tenant.admin import AdminApi, loopback_only
from demo_tenant.apitypes import ODATA_JSON, ApiError, ApiRequest, ApiResponse, graph_error_body
from demo_tenant.contract import resolver
from demo_tenant.exchange import ExchangeApi, exchange_error_body
from demo_tenant.faults import REALISTIC_LATENCY, TIMEOUT_SECONDS, RequestRecord
from demo_tenant.graph import GraphApi, split_path
from demo_tenant.identity import (
    EXCHANGE_AUDIENCES,
    GRAPH_APP_ID,
    GRAPH_AUDIENCES,
    AadError,
    Identity,
    TokenError,
    aad_error_body,
)
from demo_tenant.pki import Pki, ensure_pki
from demo_tenant.state import DemoState

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SEED = REPO_ROOT / "demo_tenant" / "seeds" / "contoso.json"
DEFAULT_DATA_DIR = REPO_ROOT / "data" / "demo_tenant"
MAX_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class DemoTenantConfig:
    """How to run a demo tenant. The caller maps environment variables (e.g. DEMO_TENANT_SEED) onto this."""

    seed_path: Path = DEFAULT_SEED
    data_dir: Path = DEFAULT_DATA_DIR
    host: str = "127.0.0.1"
    port: int = 0  # 0 = pick a free port
    unblock_delay_seconds: float = 30.0  # how long an unblocked sender stays listed after Remove-BlockedSenderAddress
    token_lifetime_seconds: int = 3600
    page_size: int = 100  # Graph page size when there is no $top; Exchange page size
    throttle: bool = False  # enforce Microsoft's throttles from the start
    realistic_latency: bool = False  # start with REALISTIC_LATENCY rules (Graph 150 ms, sign-ins 1.2 s, Exchange 0.8 s)


class DemoTenant:
    """An embedded stand-in for Microsoft 365 (Entra token endpoint, Graph v1.0, Exchange admin API) on HTTPS."""

    def __init__(self, config: DemoTenantConfig = DemoTenantConfig()) -> None:  # noqa: B008 - frozen dataclass
        self.config = config
        self.state = DemoState(unblock_delay_seconds=config.unblock_delay_seconds, page_size=config.page_size)
        self.state.throttle.enabled = config.throttle
        if config.realistic_latency:
            self.state.latency.replace(REALISTIC_LATENCY)
        self._stopping = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._pki: Pki | None = None
        self._identity: Identity | None = None
        self._metadata: asyncio.Task[object] | None = None
        self.graph = GraphApi(self.state, base_url=lambda: self.base_url, sleep=self._sleep)
        self.exchange = ExchangeApi(self.state, base_url=lambda: self.base_url, sleep=self._sleep)

    # --- lifecycle -------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Create (or reuse) the CA and certificates in data_dir, load the seed, and bind HTTPS."""
        if self._runner is not None:
            raise RuntimeError("the demo tenant is already started")
        self._stopping = asyncio.Event()
        pki = await asyncio.to_thread(ensure_pki, self.config.data_dir)
        await asyncio.to_thread(self.state.load_file, self.config.seed_path)
        # Graph v1.0 metadata is parsed off the event loop while the server binds (the first parse, before its cache
        # exists, takes over a second); Graph requests wait for it in `_graph`.
        self._metadata = asyncio.create_task(asyncio.to_thread(resolver))
        self._pki = pki
        self._identity = Identity(self.state, pki, data_dir=self.config.data_dir, client_secret=pki.client_secret,
                                  token_lifetime_seconds=self.config.token_lifetime_seconds)
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.minimum_version = ssl.TLSVersion.TLSv1_2
        ssl_context.load_cert_chain(pki.server_cert_file, pki.server_key_file)
        app = web.Application(middlewares=[loopback_only, self._errors], client_max_size=MAX_BODY_BYTES)
        app.add_routes(AdminApi(self.state, self.reset).routes())
        app.add_routes([
            web.get("/common/discovery/instance", self._instance_discovery),
            web.get("/organizations/discovery/instance", self._instance_discovery),
            web.get("/{tenant}/v2.0/.well-known/openid-configuration", self._openid_configuration),
            web.get("/{tenant}/.well-known/openid-configuration", self._openid_configuration),
            web.get("/{tenant}/discovery/v2.0/keys", self._jwks),
            web.get("/{tenant}/discovery/keys", self._jwks),
            web.post("/{tenant}/oauth2/v2.0/token", self._token),
            web.route("*", "/v1.0/{tail:.*}", self._graph),
            web.post("/adminapi/beta/{tenant}/InvokeCommand", self._exchange),
        ])
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=5.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.config.host, self.config.port, ssl_context=ssl_context)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        host, port = runner.addresses[0][:2]
        shown = f"[{host}]" if ":" in str(host) else str(host)
        self._base_url = f"https://{shown}:{port}"
        log.info("demo tenant %s serving on %s", self.state.tenant_id, self._base_url)

    async def stop(self) -> None:
        """Stop serving; requests hanging on a latency or timeout fault return at once."""
        self._stopping.set()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
            log.info("demo tenant stopped")
        metadata, self._metadata = self._metadata, None
        if metadata is not None:
            # A thread cannot be cancelled: let a parse still running finish rather than leave it unawaited.
            await asyncio.gather(metadata, return_exceptions=True)

    async def reset(self) -> None:
        """Reload the seed (the data only; faults, latency, throttle setting and request log stay)."""
        await asyncio.to_thread(self.state.reset)

    async def __aenter__(self) -> DemoTenant:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    async def _sleep(self, seconds: float) -> None:
        if seconds <= 0 or self._stopping.is_set():
            return
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except TimeoutError:
            pass

    # --- public attributes ----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """`https://127.0.0.1:PORT` (after start)."""
        if self._base_url is None:
            raise RuntimeError("the demo tenant is not started")
        return self._base_url

    @property
    def ca_file(self) -> Path:
        """PEM of the CA that signed the server certificate (`data_dir/ca.pem`)."""
        return self.config.data_dir / "ca.pem"

    @property
    def tenant_id(self) -> str:
        """The tenant GUID from the seed (after start)."""
        self._require_started()
        return self.state.tenant_id

    @property
    def client_id(self) -> str:
        """The demo app's client id from the seed (after start)."""
        self._require_started()
        return self.state.client_id

    @property
    def client_secret(self) -> str:
        """The app's client secret: random, made on first start and kept in data_dir/client_secret."""
        return self._require_identity().client_secret

    def client_env(self) -> dict[str, str]:
        """The environment the bot needs to use this tenant as its Microsoft 365."""
        return {
            "M365_TENANT_ID": self.tenant_id,
            "M365_CLIENT_ID": self.client_id,
            "M365_CLIENT_SECRET": self.client_secret,
            "M365_AUTHORITY_HOST": self.base_url,
            "M365_GRAPH_URL": self.base_url,
            "M365_EXCHANGE_URL": self.base_url,
            "M365_CA_FILE": str(self.ca_file),
            # The groups the seed's company uses for the bot's roles, so demo mode has working roles.
            **{name: value for name, value in (
                ("IT_STAFF_GROUP_ID", self._role_group("itStaff")),
                ("SECURITY_ADMIN_GROUP_ID", self._role_group("securityAdmins")),
            ) if value},
        }

    def _role_group(self, key: str) -> str:
        groups = self.state.tenant.get("botRoleGroups")
        value = groups.get(key) if isinstance(groups, dict) else None
        return value if isinstance(value, str) else ""

    def issue_access_token(self, resource: str, **kwargs: Any) -> str:
        """Sign a token as the token endpoint would (tests pass lifetime_seconds, roles, audience, tenant_id)."""
        return self._require_identity().issue_access_token(resource, **kwargs)

    def _require_started(self) -> None:
        if self._identity is None:
            raise RuntimeError("the demo tenant is not started")

    def _require_identity(self) -> Identity:
        if self._identity is None:
            raise RuntimeError("the demo tenant is not started")
        return self._identity

    # --- HTTP plumbing -------------------------------------------------------------------------------

    @web.middleware
    async def _errors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            response: web.StreamResponse = await handler(request)
            return response
        except web.HTTPException:
            raise
        except Exception:
            log.exception("demo tenant failed on %s %s", request.method, request.path)
            rid = str(uuid.uuid4())
            return _json(ApiResponse(500, graph_error_body("generalException", "General exception while processing.",
                                                           rid, request.headers.get("client-request-id", rid))))

    async def _instance_discovery(self, request: web.Request) -> web.Response:
        endpoint = request.query.get("authorization_endpoint")
        return web.json_response(Identity.instance_discovery(self.base_url, endpoint))

    async def _openid_configuration(self, request: web.Request) -> web.Response:
        identity = self._require_identity()
        tenant = request.match_info["tenant"]
        if tenant.lower() not in ("common", "organizations") and not identity.known_tenant(tenant):
            err = AadError(400, "invalid_tenant", 90002,
                           f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are "
                           "signing into the correct cloud. Check with your subscription administrator, this may "
                           "happen if there are no active subscriptions for the tenant.")
            return web.json_response(aad_error_body(err, base_url=self.base_url), status=400)
        return web.json_response(identity.openid_configuration(self.base_url, tenant))

    async def _jwks(self, request: web.Request) -> web.Response:
        return web.json_response(self._require_identity().jwks())

    async def _token(self, request: web.Request) -> web.Response:
        identity = self._require_identity()
        tenant = request.match_info["tenant"]
        started = asyncio.get_running_loop().time()
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        basic = request.headers.get("Authorization", "")
        if basic.lower().startswith("basic "):
            # client_secret_basic: the id and secret come in the Authorization header instead of the form.
            try:
                user, _, password = base64.b64decode(basic[6:].strip()).decode().partition(":")
                form.setdefault("client_id", unquote(user))
                form.setdefault("client_secret", unquote(password))
            except (ValueError, UnicodeDecodeError):
                pass
        if request.headers.get("client-request-id"):
            form.setdefault("client-request-id", request.headers["client-request-id"])
        outcome = self.state.faults.evaluate("token")
        latency = self.state.latency.latency_ms("token") + outcome.latency_ms
        if latency:
            await self._sleep(latency / 1000)
        status: int
        body: dict[str, Any]
        headers: dict[str, str] = {}
        rule = outcome.failing
        if rule is not None and rule.timeout:
            await self._sleep(TIMEOUT_SECONDS)
        if rule is not None and (rule.status or rule.timeout):
            status = 504 if rule.timeout else int(rule.status or 500)
            if rule.retry_after is not None:
                headers["Retry-After"] = str(int(rule.retry_after))
            err = AadError(status, "temporarily_unavailable", 90033 if status >= 500 else 50196,
                           "A transient error has occurred. Please try again." if status >= 500 else
                           "The server terminated an operation because it encountered a client request loop.")
            body = aad_error_body(err, base_url=self.base_url, correlation_id=form.get("client-request-id"))
        else:
            status, body = identity.token_endpoint(tenant, form, self.base_url)
        headers["Cache-Control"] = "no-store, no-cache"
        self.state.requests.append(RequestRecord(
            time=self.state.now(), api="identity", method="POST", path=request.path, query={}, status=status,
            duration_ms=round((asyncio.get_running_loop().time() - started) * 1000, 1), faults=outcome.fired,
        ))
        return web.json_response(body, status=status, headers=headers)

    async def _read_json(self, request: web.Request) -> tuple[Any, bool]:
        """The JSON body (None when empty) and whether it parsed."""
        raw = await request.read()
        if not raw.strip():
            return None, True
        try:
            return json.loads(raw), True
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None, False

    async def _graph(self, request: web.Request) -> web.Response:
        identity = self._require_identity()
        if self._metadata is not None and not self._metadata.done():
            await asyncio.shield(self._metadata)
        started = time.monotonic()
        raw_path = request.rel_url.raw_path
        segments = split_path(raw_path[len("/v1.0"):])
        req = ApiRequest(
            method=request.method.upper(),
            path="/v1.0" + "".join("/" + s for s in segments),
            segments=segments,
            query=parse_qsl(request.rel_url.raw_query_string, keep_blank_values=True),
            headers=request.headers,
            body=None,
            claims={},
        )
        try:
            req.claims = identity.validate(request.headers.get("Authorization"), GRAPH_AUDIENCES)
        except TokenError as err:
            response = self.graph.error_response(req, ApiError(401, "InvalidAuthenticationToken", err.message))
            response.headers["WWW-Authenticate"] = (
                f'Bearer realm="", authorization_uri="{self.base_url}/common/oauth2/authorize", '
                f'client_id="{GRAPH_APP_ID}"'
            )
            return self._log_graph(req, response, started)
        body, ok = await self._read_json(request)
        if not ok:
            response = self.graph.error_response(req, ApiError(
                400, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type header is set and "
                                   "payload is of valid JSON format."))
            return self._log_graph(req, response, started)
        req.body = body
        if [s.lower() for s in segments] == ["$batch"]:
            if req.method != "POST":
                response = self.graph.error_response(req, ApiError(
                    405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target."))
                return self._log_graph(req, response, started)
            try:
                response = await self.graph.batch(req)
            except ApiError as err:
                response = self.graph.error_response(req, err)
            return self._log_graph(req, response, started)
        return _json(await self.graph.handle(req))

    def _log_graph(self, req: ApiRequest, response: ApiResponse, started: float) -> web.Response:
        """Log a request answered before routing (bad token, bad JSON) or the outer $batch request."""
        response.headers.setdefault("request-id", req.request_id)
        response.headers.setdefault("client-request-id", req.client_request_id)
        self.state.requests.append(RequestRecord(
            time=self.state.now(), api="graph", method=req.method, path=req.path, query=dict(req.query),
            status=response.status, duration_ms=round((time.monotonic() - started) * 1000, 1),
            request_id=req.request_id,
        ))
        return _json(response)

    async def _exchange(self, request: web.Request) -> web.Response:
        identity = self._require_identity()
        tenant = request.match_info["tenant"]
        request_id = str(uuid.uuid4())
        body, ok = await self._read_json(request)
        try:
            claims = identity.validate(request.headers.get("Authorization"), EXCHANGE_AUDIENCES)
        except TokenError as err:
            self.exchange.log_rejected(tenant, 401, request_id, body)
            return _json(ApiResponse(401, exchange_error_body("InvalidAuthenticationToken", err.message), {
                "WWW-Authenticate": (
                    'Bearer client_id="00000002-0000-0ff1-ce00-000000000000", '
                    f'trusted_issuers="00000001-0000-0000-c000-000000000000@{self.state.tenant_id}", '
                    'token_types="app_asserted_user_v1 service_asserted_app_v1", '
                    f'authorization_uri="{self.base_url}/common/oauth2/authorize", error="invalid_token"'
                ),
                "request-id": request_id,
            }))
        if not identity.known_tenant(tenant):
            self.exchange.log_rejected(tenant, 404, request_id, body)
            return _json(ApiResponse(404, exchange_error_body(
                "NotFound", f"|Microsoft.Exchange.Admin.OData.Core.ODataServiceException|Tenant '{tenant}' was not "
                            "found."), {"request-id": request_id}))
        if not request.headers.get("X-AnchorMailbox", "").strip():
            self.exchange.log_rejected(tenant, 400, request_id, body)
            return _json(ApiResponse(400, exchange_error_body(
                "BadRequest", "|Microsoft.Exchange.Admin.OData.Core.ODataServiceException|The X-AnchorMailbox header "
                              "is required. Send X-AnchorMailbox: APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-"
                              f"d53741dc928c}}@{self.state.initial_domain}."), {"request-id": request_id}))
        if not ok:
            self.exchange.log_rejected(tenant, 400, request_id, None)
            return _json(ApiResponse(400, exchange_error_body(
                "BadRequest", "|Microsoft.Exchange.Admin.OData.Core.ODataServiceException|The request body is not "
                              "valid JSON."), {"request-id": request_id}))
        skiptoken = next((v for k, v in parse_qsl(request.rel_url.raw_query_string) if k.lower() == "$skiptoken"), None)
        response = await self.exchange.invoke(tenant, body, claims, skiptoken, request_id)
        return _json(response)


def _json(response: ApiResponse) -> web.Response:
    headers = CIMultiDict(response.headers)
    if response.body is None:
        return web.Response(status=response.status, headers=headers)
    headers["Content-Type"] = ODATA_JSON
    return web.Response(status=response.status, body=json.dumps(response.body).encode(), headers=headers)

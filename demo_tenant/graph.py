"""Microsoft Graph v1.0 stand-in: routing, query options, paging, `$batch`, permissions, faults and throttles.

`GraphApi.handle` answers one request (an HTTP request or an inner `$batch` request alike), so faults,
throttles, permission checks and the request log apply per inner request, as in Graph.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import logging
import math
import re
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from multidict import CIMultiDict

from demo_tenant import message_traces
from demo_tenant.apitypes import ApiError, ApiRequest, ApiResponse, Sleeper, graph_error_body
from demo_tenant.contract import ContractError, Target, contract_log_dir, resolver
from demo_tenant.contract import record as record_contract
from demo_tenant.faults import TIMEOUT_SECONDS, FaultRule, RequestRecord
from demo_tenant.odata import ODataError, parse_filter, parse_search
from demo_tenant.permissions import (
    ENABLE_PERMISSIONS,
    GRAPH_ROUTES,
    LICENSE_SERVICE_PLANS,
    PASSWORD_ADMIN_ROLES,
    PASSWORD_PROFILE_PERMISSIONS,
    RouteSpec,
)
from demo_tenant.state import DemoState, Json
from demo_tenant.timeutil import format_precise, parse_iso

log = logging.getLogger(__name__)

BATCH_LIMIT = 20
USERS_MAX_TOP = 999
# What Graph v1.0 returns for a user when the request has no $select.
USER_DEFAULT_SELECT = (
    "businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone", "officeLocation",
    "preferredLanguage", "surname", "userPrincipalName", "id",
)
# Graph's well-known folder names: path segments valid in every mailbox language (microsoftgraph/
# microsoft-graph-docs-contrib api-reference/v1.0/resources/mailfolder.md @4e38ed8c6596121d0121ac8ad1cb2930bc8f7434).
# Which seeded folder each one is comes from the seed's `exchange.wellKnownFolders` (folder id → name), never from
# a folder's display name or a property Graph v1.0 does not have.
_WELL_KNOWN_FOLDERS = frozenset({
    "archive", "clutter", "conflicts", "conversationhistory", "deleteditems", "drafts", "inbox", "junkemail",
    "localfailures", "msgfolderroot", "outbox", "recoverableitemsdeletions", "scheduled", "searchfolders",
    "sentitems", "serverfailures", "syncissues",
})
_KEY_IN_PARENS = re.compile(r"^(?P<name>[A-Za-z_][\w.]*)\('(?P<key>(?:[^']|'')*)'\)$")
# An alternate key: `directoryRoles(roleTemplateId='…')` (directoryrole-list-members.md); split as the entity set and
# the key `roleTemplateId=…`, which the handler resolves.
_ALTERNATE_KEY = re.compile(r"^(?P<name>[A-Za-z_][\w.]*)\((?P<alias>[A-Za-z_]\w*)='(?P<key>(?:[^']|'')*)'\)$")
# Characters a nextLink leaves readable in query values (Graph writes `$filter=userId eq 'x'` much like this).
_QUERY_SAFE = "$'(),:@"
_RULE_FIELDS = {"displayName", "sequence", "isEnabled", "conditions", "actions", "exceptions"}
_FAULT_BODIES = {
    429: ("TooManyRequests", "Too many requests."),
    500: ("generalException", "General exception while processing."),
    502: ("BadGateway", "Bad gateway."),
    503: ("serviceNotAvailable", "The service is temporarily unavailable. Please retry after some time."),
    504: ("GatewayTimeout", "The gateway did not receive a response within the specified time period."),
}


# The typed collections of a user's `authentication` (v1.0 CSDL) → the type each holds; `methods` holds them all.
_METHOD_TYPES: dict[str, str] = {
    "methods": "",
    "microsoftAuthenticatorMethods": "microsoftAuthenticatorAuthenticationMethod",
    "phoneMethods": "phoneAuthenticationMethod",
    "emailMethods": "emailAuthenticationMethod",
    "fido2Methods": "fido2AuthenticationMethod",
    "softwareOathMethods": "softwareOathAuthenticationMethod",
    "temporaryAccessPassMethods": "temporaryAccessPassAuthenticationMethod",
    "windowsHelloForBusinessMethods": "windowsHelloForBusinessAuthenticationMethod",
    "platformCredentialMethods": "platformCredentialAuthenticationMethod",
    "passwordMethods": "passwordAuthenticationMethod",
}


def _not_found(key: str) -> ApiError:
    return ApiError(404, "Request_ResourceNotFound",
                    f"Resource '{key}' does not exist or one of its queried reference-property objects are not "
                    "present.")


def _ci(a: object, b: str) -> bool:
    return isinstance(a, str) and a.casefold() == b.casefold()


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def split_path(raw_path: str) -> list[str]:
    """Decode path segments one by one (so an encoded `/` stays inside its segment) and split key syntax.

    `users('miriam.o''brien@example.com')` becomes `["users", "miriam.o'brien@example.com"]`.
    """
    segments: list[str] = []
    for raw in raw_path.strip("/").split("/"):
        if not raw:
            continue
        segment = unquote(raw)
        match = _KEY_IN_PARENS.match(segment)
        alternate = _ALTERNATE_KEY.match(segment) if not match else None
        if match:
            segments.extend([match["name"], match["key"].replace("''", "'")])
        elif alternate:
            key = alternate["key"].replace("''", "'")
            segments.extend([alternate["name"], f"{alternate['alias']}={key}"])
        else:
            segments.append(segment)
    return segments


# The v1.0 type the request being handled resolved to (per task, so inner $batch requests keep their own).
_TARGET: ContextVar[Target | None] = ContextVar("graph_target", default=None)


def _declares(obj: Mapping[str, Any], name: str) -> bool:
    """Whether the object's v1.0 type (its @odata.type, else the request's) declares `name`."""
    odata_type = obj.get("@odata.type")
    target = _TARGET.get()
    type_name = odata_type[1:] if isinstance(odata_type, str) else target.type if target is not None else None
    if type_name is None:
        return True
    return resolver().meta.prop(type_name, name) is not None


def _copy(value: Any) -> Any:
    """A copy of a JSON value (dicts, lists and immutable scalars): `copy.deepcopy` without its memo, several times
    faster on the thousands of message-trace rows a page carries, which would otherwise hold the event loop."""
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


def _select(obj: Mapping[str, Any], fields: list[str] | None) -> Json:
    if fields is None:
        return {key: _copy(item) for key, item in obj.items()}
    out: Json = {}
    if "@odata.type" in obj:
        out["@odata.type"] = obj["@odata.type"]
    lowered = {k.lower(): k for k in obj}
    for name in fields:
        key = lowered.get(name.lower())
        if key:
            out[key] = _copy(obj[key])
        elif _declares(obj, name):
            out[name] = None  # a declared property without a value is null, as in Graph
        # else: a name the type does not declare (a group's roleTemplateId, an open type's undeclared name): Graph
        # leaves it out, so does the demo tenant.
    return out


def _skiptoken(offset: int) -> str:
    return base64.urlsafe_b64encode(f"demo-skip:{offset}".encode()).decode().rstrip("=")


def _read_skiptoken(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        prefix, _, offset = text.partition(":")
        if prefix != "demo-skip":
            raise ValueError(token)
        return max(0, int(offset))
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "Directory_ExpiredPageToken",
                       "The specified page token value has expired and can no longer be included in your "
                       "request.") from None


class GraphApi:
    """Answers Graph requests from a `DemoState`."""

    def __init__(self, state: DemoState, *, base_url: Callable[[], str], sleep: Sleeper) -> None:
        self.state = state
        self._base_url = base_url
        self._sleep = sleep

    @property
    def base(self) -> str:
        """`https://127.0.0.1:PORT`."""
        return self._base_url()

    # --- dispatch --------------------------------------------------------------------------------------

    def route(self, req: ApiRequest) -> tuple[RouteSpec, dict[str, str]]:
        """The route for a request, or ApiError 400 (unknown segment) / 405 (known path, other method)."""
        best_depth = 0
        path_matched = False
        segments = req.segments
        if not segments:
            raise ApiError(400, "BadRequest", "Invalid request.")
        for spec in GRAPH_ROUTES:
            params = self._match(spec.segments, segments)
            depth = self._depth(spec.segments, segments)
            best_depth = max(best_depth, depth)
            if params is None:
                continue
            if spec.method == req.method:
                return spec, params
            path_matched = True
        if path_matched:
            raise ApiError(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")
        bad = segments[min(best_depth, len(segments) - 1)]
        raise ApiError(400, "BadRequest", f"Resource not found for the segment '{bad}'.")

    @staticmethod
    def _match(pattern: tuple[str, ...], segments: list[str]) -> dict[str, str] | None:
        if len(pattern) != len(segments):
            return None
        params: dict[str, str] = {}
        for want, got in zip(pattern, segments, strict=True):
            if want.startswith("{"):
                params[want[1:-1]] = got
            elif want.lower() != got.lower():
                return None
        # A literal segment such as "confirmCompromised" must not be read as a riskyUser id.
        return params

    @staticmethod
    def _depth(pattern: tuple[str, ...], segments: list[str]) -> int:
        depth = 0
        for want, got in zip(pattern, segments, strict=False):
            if want.startswith("{") or want.lower() == got.lower():
                depth += 1
            else:
                break
        return depth

    async def handle(self, req: ApiRequest) -> ApiResponse:
        """Answer one request: route, faults, throttles, permissions, licence, handler; log it."""
        started = time.monotonic()
        response: ApiResponse
        fired: tuple[str, ...] = ()
        mailbox_slot: str | None = None
        target: Target | None = None
        try:
            # Microsoft's metadata first: what real Graph refuses by its contract never reaches a handler.
            target = self._resolve_contract(req)
            spec, params = self.route(req)
            outcome = self.state.faults.evaluate(req.key)
            fired = outcome.fired
            latency_ms = self.state.latency.latency_ms(req.key) + outcome.latency_ms
            throttled = self._throttle(spec, params, req)
            if throttled is not None:
                response = self.error_response(req, throttled)
                response.throttled = True
            else:
                if spec.family == "mail" and self.state.throttle.enabled:
                    mailbox_slot = f"{req.app_id}:mailbox:{params.get('user', '').lower()}"
                    if not self.state.throttle.enter(mailbox_slot, self.state.throttle.limits.mailbox_concurrency):
                        mailbox_slot = None
                        response = self.error_response(req, ApiError(
                            429, "ApplicationThrottled", "Application is over its MailboxConcurrency limit.",
                            {"Retry-After": "1"}))
                        response.throttled = True
                        return self._finish(req, response, started, fired, target)
                if latency_ms:
                    await self._sleep(latency_ms / 1000)
                if outcome.failing is not None:
                    await self._apply_fault(outcome.failing, spec)
                self._authorize(spec, req)
                handler: Callable[[ApiRequest, dict[str, str]], ApiResponse] = getattr(self, spec.handler)
                token = _TARGET.set(target)
                try:
                    response = handler(req, params)
                finally:
                    _TARGET.reset(token)
        except ApiError as err:
            response = self.error_response(req, err)
        except ODataError as err:
            response = self.error_response(req, ApiError(400, err.code, err.message))
        finally:
            if mailbox_slot is not None:
                self.state.throttle.leave(mailbox_slot)
        return self._finish(req, response, started, fired, target)

    @staticmethod
    def _resolve_contract(req: ApiRequest) -> Target | None:
        """Resolve the request against Graph v1.0 metadata; Graph's 400 when it names what v1.0 does not declare."""
        try:
            return resolver().resolve(req.segments, req.query)
        except ContractError as err:
            raise ApiError(err.status, err.code, err.message) from None
        except ODataError:
            return None  # a malformed $filter: the handler answers it as it always has

    def _finish(self, req: ApiRequest, response: ApiResponse, started: float, fired: tuple[str, ...],
                target: Target | None = None) -> ApiResponse:
        response.fault_ids = fired
        response.headers.setdefault("request-id", req.request_id)
        response.headers.setdefault("client-request-id", req.client_request_id)
        self.state.requests.append(RequestRecord(
            time=datetime.now(UTC), api="graph", method=req.method, path=req.path, query=dict(req.query),
            status=response.status, duration_ms=round((time.monotonic() - started) * 1000, 1),
            in_batch=req.in_batch, faults=fired, throttled=response.throttled, request_id=req.request_id,
            retry_after=_seconds(response.headers.get("Retry-After")),
        ))
        log.debug("graph %s %s -> %s", req.method, req.path, response.status)
        if contract_log_dir() is not None:
            problems: list[str] = []
            if target is not None and target.structured and response.status < 300 and isinstance(response.body, dict):
                body = response.body
                served = body["value"] if target.collection and isinstance(body.get("value"), list) else body
                problems = resolver().body_violations(target.type, served)
                if problems:
                    log.error("graph %s %s served properties v1.0 does not declare: %s", req.method, req.path,
                              "; ".join(problems[:5]))
            record_contract(req.method, req.segments, req.query, problems)
        return response

    def error_response(self, req: ApiRequest, err: ApiError) -> ApiResponse:
        """Graph's error body for an ApiError."""
        return ApiResponse(err.status, graph_error_body(err.code, err.message, req.request_id, req.client_request_id),
                           dict(err.headers))

    def _throttle(self, spec: RouteSpec, params: dict[str, str], req: ApiRequest) -> ApiError | None:
        throttle = self.state.throttle
        if not throttle.enabled:
            return None
        limits = throttle.limits
        now = time.monotonic()
        retry: int | None = None
        if spec.family == "auditLogs":
            retry = throttle.take(f"{req.app_id}:auditLogs", limits.audit_requests, limits.audit_window_seconds, now)
        elif spec.family == "identityProtection":
            retry = throttle.take(f"{req.app_id}:identityProtection", limits.identity_protection_requests,
                                  limits.identity_protection_window_seconds, now)
        if retry is None:
            return None
        return ApiError(429, "TooManyRequests", "Too many requests.", {"Retry-After": str(retry)})

    async def _apply_fault(self, rule: FaultRule, spec: RouteSpec) -> None:
        headers = {"Retry-After": str(math.ceil(rule.retry_after))} if rule.retry_after is not None else {}
        if rule.timeout:
            await self._sleep(TIMEOUT_SECONDS)
            raise ApiError(504, "GatewayTimeout", "The gateway did not receive a response within the specified time "
                                                  "period.", headers)
        if rule.permission is not None:
            raise self._denied(spec, rule.permission, headers)
        if rule.status == 403:
            raise self._denied(spec, spec.permissions[0] if spec.permissions else "", headers)
        if rule.status is not None:
            if rule.status == 429 and not headers:
                headers = {"Retry-After": "1"}
            code, message = _FAULT_BODIES[rule.status]
            raise ApiError(rule.status, code, message, headers)

    def _denied(self, spec: RouteSpec, permission: str, headers: Mapping[str, str] | None = None) -> ApiError:
        if spec.family == "auditLogs" or spec.family == "reports":
            return ApiError(403, "Authorization_RequestDenied",
                            f"Calling principal does not have required MSGraph permissions {permission}", headers)
        if spec.family == "mail":
            return ApiError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.", headers)
        return ApiError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.",
                        headers)

    def _authorize(self, spec: RouteSpec, req: ApiRequest) -> None:
        if spec.permissions and not (req.roles & set(spec.permissions)):
            raise self._denied(spec, spec.permissions[0])
        if spec.license and not self.state.licensed(spec.license):
            if spec.license == "entraIdP2":
                raise ApiError(403, "Forbidden",
                               "Your tenant is not licensed for this feature. Identity Protection APIs require a "
                               "Microsoft Entra ID P2 license.")
            raise ApiError(403, "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
                           "Neither tenant is B2C or tenant doesn't have premium license")

    # --- query options and paging ---------------------------------------------------------------------

    @staticmethod
    def _options(req: ApiRequest) -> dict[str, str]:
        options: dict[str, str] = {}
        for name, value in req.query:
            key = name.lower()
            if not key.startswith("$"):
                continue
            if key in options:
                raise ApiError(400, "BadRequest", f"Query option '{name}' was specified more than once, but it must "
                                                  "be specified at most once.")
            options[key] = value
        if "$skip" in options:
            raise ApiError(400, "BadRequest", "The query specified in the URI is not valid. Query option 'Skip' is not "
                                              "allowed. To allow it, set the 'AllowedQueryOptions' property on "
                                              "EnableQueryAttribute or QueryValidationSettings.")
        return options

    @staticmethod
    def _select_fields(options: Mapping[str, str]) -> list[str] | None:
        raw = options.get("$select")
        if raw is None:
            return None
        fields = [f.strip() for f in raw.split(",") if f.strip()]
        return fields or None

    def _context(self, name: str, fields: list[str] | None, *, entity: bool = False) -> str:
        selected = f"({','.join(fields)})" if fields else ""
        return f"{self.base}/v1.0/$metadata#{name}{selected}{'/$entity' if entity else ''}"

    def _eventual(self, req: ApiRequest) -> bool:
        return (req.headers.get("ConsistencyLevel") or "").strip().lower() == "eventual"

    def collection(
        self,
        req: ApiRequest,
        items: list[Json],
        context: str,
        *,
        max_top: int = 999,
        default_select: tuple[str, ...] | None = None,
        search: bool = False,
        advanced_resource: str | None = None,
        order_by: str | None = None,
        transform: Callable[[Json], Json] | None = None,
    ) -> ApiResponse:
        """A Graph collection answer with $filter, $search, $count, $orderby, $top, $skiptoken, $select, nextLink."""
        options = self._options(req)
        count = options.get("$count", "").lower()
        if count not in ("", "true", "false"):
            raise ApiError(400, "BadRequest", f"Invalid value '{options['$count']}' for $count query option found. "
                                              "Valid values are 'true' and 'false'.")
        want_count = count == "true"
        if want_count and not self._eventual(req):
            raise ApiError(400, "Request_BadRequest",
                           "Request with $count query parameter only works through MSGraph with a special request "
                           "header: 'ConsistencyLevel: eventual'")
        selected = items
        if "$search" in options:
            if not search:
                raise ApiError(400, "Request_UnsupportedQuery", "Request with $search query parameter is not "
                                                                "supported on this resource.")
            if not self._eventual(req):
                raise ApiError(400, "Request_BadRequest",
                               "Request with $search query parameter only works through MSGraph with a special "
                               "request header: 'ConsistencyLevel: eventual'")
            parsed_search = parse_search(options["$search"])
            selected = [item for item in selected if parsed_search.matches(item)]
        if "$filter" in options:
            parsed = parse_filter(options["$filter"])
            advanced = parsed.features & {"ne", "not", "endswith"}
            if advanced_resource and advanced and not (want_count and self._eventual(req)):
                prop = sorted(parsed.properties)[0] if parsed.properties else "id"
                raise ApiError(400, "Request_UnsupportedQuery",
                               f"Unsupported or invalid query filter clause specified for property '{prop}' of "
                               f"resource '{advanced_resource}'.")
            selected = [item for item in selected if parsed.matches(item)]
        selected = self._order(selected, options.get("$orderby") or order_by)
        top_text = options.get("$top")
        page_size = min(self.state.page_size, max_top)
        if top_text is not None:
            try:
                page_size = int(top_text)
            except ValueError:
                raise ApiError(400, "BadRequest", f"Invalid page size specified: '{top_text}'. Must be between 1 and "
                                                  f"{max_top} inclusive.") from None
            if not 1 <= page_size <= max_top:
                raise ApiError(400, "BadRequest", f"Invalid page size specified: '{top_text}'. Must be between 1 and "
                                                  f"{max_top} inclusive.")
        offset = _read_skiptoken(options["$skiptoken"]) if "$skiptoken" in options else 0
        page = selected[offset:offset + page_size]
        fields = self._select_fields(options)
        project = fields if fields is not None else (list(default_select) if default_select else None)
        values = [_select(transform(item) if transform else item, project) for item in page]
        body: Json = {"@odata.context": self._context(context, fields)}
        if want_count:
            body["@odata.count"] = len(selected)
        if offset + page_size < len(selected):
            body["@odata.nextLink"] = self._next_link(req, offset + page_size)
        body["value"] = values
        return ApiResponse(200, body)

    def _next_link(self, req: ApiRequest, offset: int) -> str:
        pairs = [(k, v) for k, v in req.query if k.lower() != "$skiptoken"]
        pairs.append(("$skiptoken", _skiptoken(offset)))
        query = "&".join(f"{quote(k, safe='$')}={quote(v, safe=_QUERY_SAFE)}" for k, v in pairs)
        path = "/".join(quote(s, safe="@'") for s in req.path.strip("/").split("/"))
        return f"{self.base}/{path}?{query}"

    @staticmethod
    def _order(items: list[Json], order_by: str | None) -> list[Json]:
        if not order_by:
            return list(items)
        result = list(items)
        for clause in reversed([c.strip() for c in order_by.split(",") if c.strip()]):
            parts = clause.split()
            prop = parts[0]
            descending = len(parts) > 1 and parts[1].lower() == "desc"
            if len(parts) > 2 or (len(parts) == 2 and parts[1].lower() not in ("asc", "desc")):
                raise ApiError(400, "BadRequest", f"Invalid $orderby clause '{clause}'.")

            def sort_key(item: Json, prop: str = prop) -> tuple[int, Any]:
                value: Any = item
                for segment in prop.split("/"):
                    value = value.get(segment) if isinstance(value, dict) else None
                if isinstance(value, str):
                    moment = parse_iso(value) if prop.endswith("DateTime") else None
                    return (1, moment.timestamp() if moment else value.casefold())
                if isinstance(value, bool | int | float):
                    return (1, value)
                return (0, "")

            result.sort(key=sort_key, reverse=descending)
        return result

    def _entity(self, req: ApiRequest, obj: Json, context: str, default_select: tuple[str, ...] | None = None
                ) -> ApiResponse:
        options = self._options(req)
        fields = self._select_fields(options)
        project = fields if fields is not None else (list(default_select) if default_select else None)
        body = {"@odata.context": self._context(context, fields, entity=True), **_select(obj, project)}
        return ApiResponse(200, body)

    # --- lookups ---------------------------------------------------------------------------------------

    def _user(self, key: str) -> Json:
        user = self.state.user(key)
        if user is None:
            raise _not_found(key)
        return user

    def _mail_user(self, key: str) -> tuple[Json, Json]:
        user = self.state.user(key)
        if user is None:
            raise ApiError(404, "ErrorInvalidUser", f"The requested user '{key}' is invalid.")
        mailbox = self.state.mailbox_of_user(user)
        if mailbox is None:
            raise ApiError(404, "MailboxNotEnabledForRESTAPI",
                           "The mailbox is either inactive, soft-deleted, or is hosted on-premise.")
        return user, mailbox

    def _well_known_name(self, folder: Json) -> str | None:
        """The well-known name of a seeded folder (the seed's `exchange.wellKnownFolders`), or None."""
        names = self.state.exchange.get("wellKnownFolders")
        name = names.get(str(folder.get("id"))) if isinstance(names, Mapping) else None
        return name.lower() if isinstance(name, str) else None

    def _folder(self, user: Json, key: str) -> Json:
        folders = list(self.state.iter_user_map("mailFolders", str(user["id"])))
        well_known = key.lower() if key.lower() in _WELL_KNOWN_FOLDERS else None
        for folder in folders:
            if _ci(folder.get("id"), key) or (well_known and self._well_known_name(folder) == well_known):
                return folder
        raise ApiError(404, "ErrorItemNotFound", "The specified object was not found in the store.")

    def _rules(self, user: Json, folder: Json) -> list[Json]:
        if self._well_known_name(folder) != "inbox":
            raise ApiError(400, "ErrorInvalidRequest", "Message rules are only supported on the Inbox folder.")
        rules: Mapping[str, Any] = self.state.graph["messageRules"]
        for key, items in rules.items():
            if _ci(key, str(user["id"])):
                return list(items)
        return []

    # --- handlers: directory ----------------------------------------------------------------------------

    def me(self, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
        """`/me` does not exist for app-only tokens."""
        raise ApiError(400, "BadRequest", "/me request is only valid with delegated authentication flow.")

    def list_users(self, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
        """GET /users."""
        return self.collection(req, self.state.users(), "users", max_top=USERS_MAX_TOP,
                               default_select=USER_DEFAULT_SELECT, search=True, advanced_resource="User")

    def get_user(self, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
        """GET /users/{id | userPrincipalName}."""
        return self._entity(req, self._user(p["user"]), "users", USER_DEFAULT_SELECT)

    def patch_user(self, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
        """PATCH /users/{id}: accountEnabled and passwordProfile.forceChangePasswordNextSignIn only."""
        user = self._user(p["user"])
        body = req.body
        if not isinstance(body, dict) or not body:
            raise ApiError(400, "Request_BadRequest", "The request body is empty or not a JSON object.")
        unknown = set(body) - {"accountEnabled", "passwordProfile"}
        if unknown:
            raise ApiError(400, "Request_BadRequest", f"The demo tenant does not update {', '.join(sorted(unknown))}; "
                                                      "only accountEnabled and passwordProfile.")
        if "accountEnabled" in body:
            if not isinstance(body["accountEnabled"], bool):
                raise ApiError(400, "Request_BadRequest", "Invalid value specified for property 'accountEnabled' of "
                                                          "resource 'User'.")
            if not (req.roles & set(ENABLE_PERMISSIONS)):
                raise self._denied(_DIRECTORY_SPEC, ENABLE_PERMISSIONS[0])
        profile = body.get("passwordProfile")
        if "passwordProfile" in body:
            if not isinstance(profile, dict):
                raise ApiError(400, "Request_BadRequest", "Invalid value specified for property 'passwordProfile' of "
                                                          "resource 'User'.")
            if "password" in profile:
                # Never accept, let alone store, a password: the bot must not handle one.
                raise ApiError(400, "Request_BadRequest", "The demo tenant never accepts a password value.")
            extra = set(profile) - {"forceChangePasswordNextSignIn", "forceChangePasswordNextSignInWithMfa"}
            if extra or not all(isinstance(v, bool) for v in profile.values()):
                raise ApiError(400, "Request_BadRequest", "Invalid value specified for property 'passwordProfile' of "
                                                          "resource 'User'.")
            if not (req.roles & set(PASSWORD_PROFILE_PERMISSIONS)) or not (
                set(self.state.directory_roles()) & set(PASSWORD_ADMIN_ROLES)
            ):
                raise self._denied(_DIRECTORY_SPEC, PASSWORD_PROFILE_PERMISSIONS[0])
        if user.get("onPremisesSyncEnabled") is True:
            raise ApiError(400, "Request_BadRequest",
                           "Unable to update the specified properties for on-premises mastered Directory Sync objects "
                           "or objects currently undergoing migration.")
        if "accountEnabled" in body:
            user["accountEnabled"] = body["accountEnabled"]
            self.state.record_action("set_account_enabled", str(user["id"]), enabled=body["accountEnabled"])
        if isinstance(profile, dict):
            current = user.get("passwordProfile") if isinstance(user.get("passwordProfile"), dict) else {}
            user["passwordProfile"] = {**(current or {}), **profile, "password": None}
            self.state.record_action("password_profile", str(user["id"]), **profile)
        return ApiResponse(204)

    def revoke_sessions(self, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
        """POST /users/{id}/revokeSignInSessions."""
        user = self._user(p["user"])
        user["signInSessionsValidFromDateTime"] = self.state.now_graph()
        self.state.record_action("revoke_sessions", str(user["id"]))
        return ApiResponse(200, {"@odata.context": f"{self.base}/v1.0/$metadata#Edm.Boolean", "value": True})

    def member_of(self, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
        """GET /users/{id}/transitiveMemberOf[/microsoft.graph.group | /microsoft.graph.directoryRole]."""
        user = self._user(p["user"])
        items = self.state.transitive_member_of(str(user["id"]))
        context = "directoryObjects"
        cast = p.get("cast")
        if cast is not None:
            kinds = {"microsoft.graph.group": "#microsoft.graph.group",
                     "microsoft.graph.directoryrole": "#microsoft.graph.directoryRole"}
            odata = kinds.get(cast.lower())
            if odata is None:
                raise ApiError(400, "BadRequest", f"Resource not found for the segment '{cast}'.")
            items = [i for i in items if i.get("@odata.type") == odata]
            context = "groups" if odata.endswith("group") else "directoryRoles"
        return self.collection(req, items, context)

    def _role(self, key: str) -> Json:
        """A directory role by object id or by `roleTemplateId=…` (the alternate key); Graph's 404 otherwise (a role
        whose template was never activated in the tenant has no directoryRole object either)."""
        alias, _, template = key.partition("=")
        for role in self.state.glist("directoryRoles"):
            if (template and alias.lower() == "roletemplateid" and _ci(role.get("roleTemplateId"), template)) or (
                    not template and _ci(role.get("id"), key)):
                return role
        raise _not_found(key)

    def _role_member_ids(self, role: Json) -> list[str]:
        """The direct members of a role (the seed's `memberOf` lists each member's parents)."""
        member_of: Mapping[str, Any] = self.state.graph["memberOf"]
        return [member for member, parents in member_of.items()
                if any(_ci(parent, str(role["id"])) for parent in parents or [])]

    def role_members(self, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
        """GET /directoryRoles/{id | roleTemplateId='…'}/members (directoryrole-list-members.md, Graph v1.0)."""
        role = self._role(p["role"])
        items: list[Json] = []
        for member in self._role_member_ids(role):
            user = self.state.user(member)
            if user is not None:
                items.append({"@odata.type": "#microsoft.graph.user", **user})
            else:
                found = self.state.directory_object(member)
                if found is not None:
                    items.append(found)
        return self.collection(req, items, "directoryObjects")

    def remove_role_member(self, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
        """DELETE /directoryRoles/{id}/members/{id}/$ref (directoryrole-delete-member.md, Graph v1.0): 204; a
        principal that does not hold the role is Graph's 404 Request_ResourceNotFound."""
        role = self._role(p["role"])
        member_of: dict[str, Any] = self.state.graph["memberOf"]
        for member, parents in member_of.items():
            if not _ci(member, p["member"]):
                continue
            kept = [parent for parent in parents or [] if not _ci(parent, str(role["id"]))]
            if len(kept) != len(parents or []):
                member_of[member] = kept
                self.state.record_action("remove_role_member", member, role=str(role["id"]))
                return ApiResponse(204)
        raise _not_found(p["member"])

    def auth_methods(self, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
        """GET /users/{id}/authentication/methods."""
        user = self._user(p["user"])
        items = list(self.state.iter_user_map("authenticationMethods", str(user["id"])))
        return self.collection(req, items, f"users('{user['id']}')/authentication/methods")

    def _auth_method(self, p: dict[str, str]) -> tuple[list[Json], Json]:
        """The user's method list and the method `p["method"]` of the typed collection `p["collection"]`: each
        collection holds only its own type (the v1.0 `authentication` entity), `methods` any; Graph's 404 else."""
        user = self._user(p["user"])
        kind = _METHOD_TYPES.get(p["collection"])
        methods: dict[str, list[Json]] = self.state.graph["authenticationMethods"]
        owned = next((items for key, items in methods.items() if _ci(key, str(user["id"]))), [])
        for method in owned:
            if _ci(method.get("id"), p["method"]) and (
                    p["collection"] == "methods" or method.get("@odata.type") == f"#microsoft.graph.{kind}"):
                return owned, method
        raise _not_found(p["method"])

    def get_auth_method(self, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
        """GET /users/{id}/authentication/{collection}/{id} (e.g. microsoftauthenticatorauthenticationmethod-get.md)."""
        _, method = self._auth_method(p)
        return self._entity(req, method, f"users('{p['user']}')/authentication/{p['collection']}")

    def delete_auth_method(self, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
        """DELETE /users/{id}/authentication/{collection}/{id} (the `*authenticationmethod-delete.md` pages, Graph
        v1.0): 204; a method that is not there is Graph's 404 Request_ResourceNotFound. `methods` and
        `passwordMethods` declare no delete."""
        if p["collection"] not in _METHOD_TYPES or p["collection"] == "methods":
            raise ApiError(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")
        owned, method = self._auth_method(p)
        owned.remove(method)
        self.state.record_action("remove_auth_method", p["user"], collection=p["collection"], method=p["method"])
        return ApiResponse(204)

    def _grant(self, key: str) -> Json:
        for grant in self.state.glist("oauth2PermissionGrants"):
            if _ci(grant.get("id"), key):
                return grant
        raise _not_found(key)

    def get_grant(self, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
        """GET /oauth2PermissionGrants/{id} (oauth2permissiongrant-get.md, Graph v1.0)."""
        return self._entity(req, self._grant(p["grant"]), "oauth2PermissionGrants")

    def delete_grant(self, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
        """DELETE /oauth2PermissionGrants/{id} (oauth2permissiongrant-delete.md, Graph v1.0): 204, or 404."""
        grant = self._grant(p["grant"])
        self.state.glist("oauth2PermissionGrants").remove(grant)
        self.state.record_action("delete_grant", p["grant"], principal=grant.get("principalId"))
        return ApiResponse(204)

    def _app_roles(self) -> list[Json]:
        # Optional in a seed: most users hold none (appRoleAssignment, Graph v1.0 resource).
        roles: list[Json] = self.state.graph.setdefault("appRoleAssignments", [])
        return roles

    def user_app_roles(self, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
        """GET /users/{id}/appRoleAssignments (user-list-approleassignments.md, Graph v1.0)."""
        user = self._user(p["user"])
        items = [a for a in self._app_roles() if _ci(a.get("principalId"), str(user["id"]))]
        return self.collection(req, items, f"users('{user['id']}')/appRoleAssignments")

    def delete_user_app_role(self, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
        """DELETE /users/{id}/appRoleAssignments/{id} (user-delete-approleassignments.md, Graph v1.0): 204, or 404."""
        user = self._user(p["user"])
        for assignment in self._app_roles():
            if _ci(assignment.get("id"), p["assignment"]) and _ci(assignment.get("principalId"), str(user["id"])):
                self._app_roles().remove(assignment)
                self.state.record_action("delete_app_role_assignment", str(user["id"]), id=p["assignment"])
                return ApiResponse(204)
        raise _not_found(p["assignment"])

    def user_grants(self, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
        """GET /users/{id}/oauth2PermissionGrants: the delegated grants this user consented to."""
        user = self._user(p["user"])
        items = [g for g in self.state.glist("oauth2PermissionGrants") if _ci(g.get("principalId"), str(user["id"]))]
        return self.collection(req, items, "oauth2PermissionGrants")

    def list_grants(self, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
        """GET /oauth2PermissionGrants."""
        return self.collection(req, self.state.glist("oauth2PermissionGrants"), "oauth2PermissionGrants")

    def list_service_principals(self, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
        """GET /servicePrincipals ($filter=id in (...) / appId eq ...)."""
        return self.collection(req, self.state.glist("servicePrincipals"), "servicePrincipals",
                               advanced_resource="ServicePrincipal")

    def get_service_principal(self, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
        """GET /servicePrincipals/{id}."""
        for sp in self.state.glist("servicePrincipals"):
            if _ci(sp.get("id"), p["sp"]):
                return self._entity(req, sp, "servicePrincipals")
        raise _not_found(p["sp"])

    def list_organization(self, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
        """GET /organization."""
        return self.collection(req, self.state.glist("organization"), "organization")

    def list_domains(self, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
        """GET /domains."""
        return self.collection(req, self.state.glist("domains"), "domains")

    # --- handlers: mail -------------------------------------------------------------------------------

    def list_folders(self, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
        """GET /users/{id}/mailFolders (top-level folders)."""
        user, _ = self._mail_user(p["user"])
        items = list(self.state.iter_user_map("mailFolders", str(user["id"])))
        return self.collection(req, items, f"users('{user['id']}')/mailFolders")

    def get_folder(self, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
        """GET /users/{id}/mailFolders/{id | well-known name}."""
        user, _ = self._mail_user(p["user"])
        return self._entity(req, self._folder(user, p["folder"]), f"users('{user['id']}')/mailFolders")

    def list_rules(self, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
        """GET /users/{id}/mailFolders/inbox/messageRules."""
        user, _ = self._mail_user(p["user"])
        rules = self._rules(user, self._folder(user, p["folder"]))
        return self.collection(req, rules, f"users('{user['id']}')/mailFolders('inbox')/messageRules")

    def auto_replies(self, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
        """GET /users/{id}/mailboxSettings/automaticRepliesSetting (the seed's `mailboxSettings`, else disabled)."""
        user, _ = self._mail_user(p["user"])
        settings = user.get("mailboxSettings") or {}
        setting = settings.get("automaticRepliesSetting") or {"status": "disabled"}
        context = f"users('{user['id']}')/mailboxSettings/automaticRepliesSetting"
        return ApiResponse(200, {"@odata.context": self._context(context, None), **setting})

    def _rule(self, user: Json, p: dict[str, str]) -> Json:
        for rule in self._rules(user, self._folder(user, p["folder"])):
            if rule.get("id") == p["rule"]:
                return rule
        raise ApiError(404, "ErrorItemNotFound", "The specified object was not found in the store.")

    def get_rule(self, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
        """GET /users/{id}/mailFolders/inbox/messageRules/{ruleId}."""
        user, _ = self._mail_user(p["user"])
        return self._entity(req, self._rule(user, p),
                            f"users('{user['id']}')/mailFolders('inbox')/messageRules")

    def patch_rule(self, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
        """PATCH a message rule; `isEnabled` (and the other writable properties) persist."""
        user, mailbox = self._mail_user(p["user"])
        rule = self._rule(user, p)
        body = req.body
        if not isinstance(body, dict):
            raise ApiError(400, "RequestBodyRead", "The request body must be a JSON object.")
        for name, value in body.items():
            if name not in _RULE_FIELDS:
                raise ApiError(400, "RequestBodyRead",
                               f"The property '{name}' does not exist on type 'microsoft.graph.messageRule'. Make sure "
                               "to only use property names that are defined by the type or mark the type as open type.")
            if name == "isEnabled" and not isinstance(value, bool):
                raise ApiError(400, "RequestBodyRead", f"Cannot convert the literal '{value}' to the expected type "
                                                       "'Edm.Boolean'.")
        old_name = rule.get("displayName")
        rule.update(copy.deepcopy(body))
        # Keep Exchange's view (Get-InboxRule) of the same rule in step with Graph's.
        for inbox_rule in self.state.inbox_rules(mailbox):
            if _ci(inbox_rule.get("Name"), str(old_name)):
                if "isEnabled" in body:
                    inbox_rule["Enabled"] = body["isEnabled"]
                if "displayName" in body:
                    inbox_rule["Name"] = body["displayName"]
        self.state.record_action("patch_rule", str(user["id"]), rule=rule.get("id"), changes=body)
        return self._entity(req, rule, f"users('{user['id']}')/mailFolders('inbox')/messageRules")

    def delete_rule(self, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
        """DELETE /users/{id}/mailFolders/inbox/messageRules/{id} (messagerule-delete.md, Graph v1.0): 204 and no
        body; a rule that is not there is the mailbox store's 404 (as `_rule`)."""
        user, mailbox = self._mail_user(p["user"])
        rule = self._rule(user, p)
        rules: dict[str, list[Json]] = self.state.graph["messageRules"]
        for key, items in rules.items():
            if _ci(key, str(user["id"])):
                rules[key] = [item for item in items if item is not rule]
        # Exchange's view (Get-InboxRule, the seed keyed by UPN or primary address) of the same rule goes with it.
        exchange_rules: dict[str, list[Json]] = self.state.exchange["Get-InboxRule"]
        for key, items in exchange_rules.items():
            if _ci(mailbox.get("UserPrincipalName"), key) or _ci(mailbox.get("PrimarySmtpAddress"), key):
                exchange_rules[key] = [r for r in items if not _ci(r.get("Name"), str(rule.get("displayName")))]
        self.state.record_action("delete_rule", str(user["id"]), rule=rule.get("id"))
        return ApiResponse(204)

    # --- handlers: logs, risk, reports, alerts -------------------------------------------------------------

    def list_sign_ins(self, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
        """GET /auditLogs/signIns, newest first."""
        return self.collection(req, self.state.glist("signIns"), "auditLogs/signIns", max_top=1000,
                               order_by="createdDateTime desc")

    def get_sign_in(self, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
        """GET /auditLogs/signIns/{id}."""
        return self._by_id(req, "signIns", p["id"], "auditLogs/signIns")

    def list_audits(self, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
        """GET /auditLogs/directoryAudits, newest first."""
        return self.collection(req, self.state.glist("directoryAudits"), "auditLogs/directoryAudits", max_top=1000,
                               order_by="activityDateTime desc")

    def get_audit(self, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
        """GET /auditLogs/directoryAudits/{id}."""
        return self._by_id(req, "directoryAudits", p["id"], "auditLogs/directoryAudits")

    def list_risky_users(self, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
        """GET /identityProtection/riskyUsers."""
        return self.collection(req, self.state.glist("riskyUsers"), "identityProtection/riskyUsers", max_top=500,
                               order_by="riskLastUpdatedDateTime desc")

    def get_risky_user(self, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
        """GET /identityProtection/riskyUsers/{id}: 404 when Identity Protection has no record of the user."""
        return self._by_id(req, "riskyUsers", p["id"], "identityProtection/riskyUsers")

    def _user_ids(self, req: ApiRequest) -> list[str]:
        body = req.body
        ids = body.get("userIds") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            raise ApiError(400, "BadRequest", "The request body must contain 'userIds', a non-empty list of user ids.")
        if len(ids) > 60:
            raise ApiError(400, "BadRequest", "A maximum of 60 user ids can be submitted per request.")
        return [str(i) for i in ids]

    def confirm_compromised(self, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
        """POST /identityProtection/riskyUsers/confirmCompromised: risk high, confirmedCompromised."""
        for user_id in self._user_ids(req):
            record = self._risky_record(user_id, create=True)
            if record is not None:
                record.update(riskLevel="high", riskState="confirmedCompromised",
                              riskDetail="adminConfirmedUserCompromised",
                              riskLastUpdatedDateTime=format_precise(self.state.now()))
                self.state.record_action("confirm_compromised", user_id)
        return ApiResponse(204)

    def dismiss_risk(self, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
        """POST /identityProtection/riskyUsers/dismiss: risk none, dismissed."""
        for user_id in self._user_ids(req):
            record = self._risky_record(user_id, create=False)
            if record is not None:
                record.update(riskLevel="none", riskState="dismissed", riskDetail="adminDismissedAllRiskForUser",
                              riskLastUpdatedDateTime=format_precise(self.state.now()))
                self.state.record_action("dismiss_risk", user_id)
        return ApiResponse(204)

    def _risky_record(self, user_id: str, *, create: bool) -> Json | None:
        for record in self.state.glist("riskyUsers"):
            if _ci(record.get("id"), user_id):
                return record
        user = self.state.user(user_id)
        if not create or user is None:
            return None
        record = {
            "id": user["id"], "isDeleted": False, "isProcessing": False, "riskLastUpdatedDateTime": None,
            "riskLevel": "none", "riskState": "none", "riskDetail": "none",
            "userDisplayName": user.get("displayName"), "userPrincipalName": user.get("userPrincipalName"),
        }
        self.state.glist("riskyUsers").append(record)
        return record

    def list_risk_detections(self, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
        """GET /identityProtection/riskDetections, newest first."""
        return self.collection(req, self.state.glist("riskDetections"), "identityProtection/riskDetections",
                               max_top=500, order_by="detectedDateTime desc")

    def list_registrations(self, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
        """GET /reports/authenticationMethods/userRegistrationDetails."""
        return self.collection(req, self.state.glist("userRegistrationDetails"),
                               "reports/authenticationMethods/userRegistrationDetails")

    def get_registration(self, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
        """GET /reports/authenticationMethods/userRegistrationDetails/{id}."""
        return self._by_id(req, "userRegistrationDetails", p["id"],
                           "reports/authenticationMethods/userRegistrationDetails")

    def list_alerts(self, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
        """GET /security/alerts_v2, newest first."""
        return self.collection(req, self.state.glist("alerts_v2"), "security/alerts_v2", max_top=2000,
                               order_by="createdDateTime desc")

    def get_alert(self, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
        """GET /security/alerts_v2/{id}."""
        return self._by_id(req, "alerts_v2", p["id"], "security/alerts_v2")

    # --- handlers: licences and message trace (the tenant pre-flight reads them) ----------------------

    def list_subscribed_skus(self, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
        """GET /subscribedSkus: the seed's SKUs, less the service plans of licences switched off (`/_demo/licenses`)."""
        off = {plan for name, plans in LICENSE_SERVICE_PLANS.items() if not self.state.licensed(name) for plan in plans}
        skus = [
            {**sku, "servicePlans": [plan for plan in sku.get("servicePlans") or []
                                     if str(plan.get("servicePlanName")) not in off]}
            for sku in self.state.graph.get("subscribedSkus") or [] if isinstance(sku, dict)
        ]
        return self.collection(req, skus, "subscribedSkus")

    def list_message_traces(self, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
        """GET /admin/exchange/tracing/messageTraces: the generated traces (`demo_tenant.message_traces`) of the
        period the filter names (both receivedDateTime bounds, ≤ 10 days) or of the last 48 h; 401 until the
        message-trace principal is provisioned."""
        if not self.state.tenant.get("messageTraceProvisioned", True):
            raise ApiError(401, "Unauthorized", "The Message Trace service principal is not provisioned in this "
                                                "tenant.")
        filter_ = self._options(req).get("$filter", "")
        try:
            start, end = message_traces.period(message_traces.filter_bounds(filter_), datetime.now(UTC))
        except ValueError as exc:
            raise ApiError(400, "BadRequest", str(exc)) from None
        # The sender's rows only (the filter is applied in full below): an outbreak seed holds a great many.
        rows = message_traces.in_period(self.state.traces.rows(message_traces.filter_sender(filter_)), start, end)
        return self.collection(req, rows, "admin/exchange/tracing/messageTraces", max_top=5000)

    def _by_id(self, req: ApiRequest, section: str, key: str, context: str) -> ApiResponse:
        for item in self.state.glist(section):
            if _ci(item.get("id"), key):
                return self._entity(req, item, context)
        raise _not_found(key)

    # --- $batch ---------------------------------------------------------------------------------------

    async def batch(self, outer: ApiRequest) -> ApiResponse:
        """POST /v1.0/$batch: run each inner request through `handle` (concurrently, honouring dependsOn)."""
        body = outer.body
        requests = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(requests, list) or not requests:
            raise ApiError(400, "BadRequest", "Invalid batch payload format.")
        if len(requests) > BATCH_LIMIT:
            raise ApiError(400, "BadRequest", f"Number of batch requests exceeds the maximum of {BATCH_LIMIT}.")
        inner: list[tuple[str, ApiRequest, list[str]]] = []
        seen: set[str] = set()
        for item in requests:
            if not isinstance(item, dict):
                raise ApiError(400, "BadRequest", "Invalid batch payload format.")
            rid, method, url = item.get("id"), item.get("method"), item.get("url")
            if not isinstance(rid, str) or not rid or not isinstance(method, str) or not isinstance(url, str):
                raise ApiError(400, "BadRequest",
                               "Invalid batch payload format: each request needs id, method and url.")
            if rid in seen:
                raise ApiError(400, "BadRequest", f"Batch request contains duplicate ids: '{rid}'.")
            seen.add(rid)
            if urlsplit(url).scheme:
                raise ApiError(400, "BadRequest", f"Invalid request URI '{url}'. Use a URI relative to the version.")
            headers_in = item.get("headers") or {}
            if not isinstance(headers_in, dict):
                raise ApiError(400, "BadRequest", "Invalid batch payload format: headers must be an object.")
            headers: CIMultiDict[str] = CIMultiDict({str(k): str(v) for k, v in headers_in.items()})
            inner_body = item.get("body")
            if inner_body is not None and "Content-Type" not in headers:
                raise ApiError(400, "BadRequest", f"Write request id : {rid} does not contain Content-Type header or "
                                                  "body.")
            if isinstance(inner_body, str) and "json" in headers.get("Content-Type", ""):
                try:
                    inner_body = json.loads(inner_body)
                except json.JSONDecodeError:
                    raise ApiError(400, "BadRequest", f"Request id {rid}: the body is not valid JSON.") from None
            parts = urlsplit(url)
            path = "/" + parts.path.lstrip("/")
            segments = split_path(parts.path)
            depends = item.get("dependsOn") or []
            if not isinstance(depends, list) or not all(isinstance(d, str) for d in depends):
                raise ApiError(400, "BadRequest", "Invalid batch payload format: dependsOn must be a list of ids.")
            inner.append((rid, ApiRequest(
                method=method.upper(),
                path="/v1.0" + "/".join([""] + segments) if segments else "/v1.0" + path,
                segments=segments,
                query=parse_qsl(parts.query, keep_blank_values=True),
                headers=headers,
                body=inner_body,
                claims=outer.claims,
                in_batch=True,
            ), [str(d) for d in depends]))
        earlier: set[str] = set()
        for rid, _, depends in inner:
            # Only earlier requests may be depended on: that rules out cycles, which would wait forever.
            missing = [d for d in depends if d not in earlier]
            if missing:
                raise ApiError(400, "BadRequest", f"Request id {rid} depends on id(s) not listed before it: "
                                                  f"{', '.join(missing)}.")
            earlier.add(rid)
        done: dict[str, asyncio.Future[ApiResponse]] = {
            rid: asyncio.get_running_loop().create_future() for rid, _, _ in inner
        }

        async def run(rid: str, request: ApiRequest, depends: list[str]) -> None:
            general = ApiResponse(500, graph_error_body("generalException", "General exception while processing.",
                                                        request.request_id, request.client_request_id))
            try:
                failed = False
                for dep in depends:
                    if (await done[dep]).status >= 400:
                        failed = True
                if failed:
                    result = self.error_response(request, ApiError(424, "FailedDependency",
                                                                   "Dependent request failed."))
                else:
                    result = await self.handle(request)
            except Exception:
                # One broken inner request must not sink the batch: Graph answers it with a 500 of its own.
                log.exception("inner batch request %s failed", rid)
                result = general
            except BaseException:
                done[rid].set_result(general)  # let dependants finish while the batch is being cancelled
                raise
            done[rid].set_result(result)

        await asyncio.gather(*(run(rid, request, depends) for rid, request, depends in inner))
        responses: list[Json] = []
        for rid, _, _ in inner:
            result = done[rid].result()
            headers_out = {k: v for k, v in result.headers.items() if k.lower() not in ("request-id",
                                                                                       "client-request-id")}
            entry: Json = {"id": rid, "status": result.status, "headers": headers_out}
            if result.body is not None:
                entry["headers"].setdefault("Content-Type", "application/json")
                entry["body"] = result.body
            responses.append(entry)
        return ApiResponse(200, {"responses": responses})


# The family used for 403 wording from handlers that check permissions themselves (PATCH /users).
_DIRECTORY_SPEC = RouteSpec("PATCH", "users/{user}", "patch_user", (), "directory")

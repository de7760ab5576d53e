"""`/_demo/*`: the test and demo control API (faults, latency, throttles, request log, restrict, reset).

No authentication, so it answers loopback callers only (403 for anyone else, even when the server is bound
to another interface). Bodies and answers are plain JSON.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from demo_tenant.cmdlets import CMDLETS
from demo_tenant.faults import REALISTIC_LATENCY, FaultRule, LatencyRule, RuleError
from demo_tenant.state import DemoState, SeedError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_LICENSES = ("entraIdP1", "entraIdP2", "defenderForOffice365")
_DIRECTORY_ROLES = ("User Administrator", "Privileged Authentication Administrator")
# Every role some cmdlet of the one table accepts: a name in it is an Exchange role, not a Graph permission.
_EXCHANGE_ROLES = frozenset(role for entry in CMDLETS.values() for role in entry.roles)


def _is_loopback(remote: str | None) -> bool:
    if not remote:
        return False
    try:
        return ipaddress.ip_address(remote.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


@web.middleware
async def loopback_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse `/_demo/*` to callers that are not on this machine."""
    if request.path.startswith("/_demo/") and not _is_loopback(request.remote):
        return web.json_response({"error": "the /_demo/ API answers loopback callers only"}, status=403)
    return await handler(request)


async def _json(request: web.Request) -> Any:
    try:
        return await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text=json.dumps({"error": "the body must be JSON"}),
                                 content_type="application/json") from None


def _bad(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)


class AdminApi:
    """The `/_demo/` routes over one `DemoState`."""

    def __init__(self, state: DemoState, reset: Callable[[], Awaitable[None]]) -> None:
        self.state = state
        self._reset = reset

    def routes(self) -> list[web.RouteDef]:
        """Every admin route."""
        return [
            web.get("/_demo/health", self.health),
            web.get("/_demo/faults", self.get_faults),
            web.put("/_demo/faults", self.put_faults),
            web.post("/_demo/faults", self.post_fault),
            web.delete("/_demo/faults", self.delete_faults),
            web.delete("/_demo/faults/{id}", self.delete_fault),
            web.get("/_demo/latency", self.get_latency),
            web.put("/_demo/latency", self.put_latency),
            web.delete("/_demo/latency", self.delete_latency),
            web.get("/_demo/throttle", self.get_throttle),
            web.put("/_demo/throttle", self.put_throttle),
            web.get("/_demo/requests", self.get_requests),
            web.delete("/_demo/requests", self.delete_requests),
            web.get("/_demo/actions", self.get_actions),
            web.get("/_demo/blocked", self.get_blocked),
            web.post("/_demo/restrict", self.restrict),
            web.post("/_demo/reset", self.reset),
            web.get("/_demo/licenses", self.get_licenses),
            web.put("/_demo/licenses", self.put_licenses),
            web.get("/_demo/permissions", self.get_permissions),
            web.put("/_demo/permissions", self.put_permissions),
        ]

    async def health(self, request: web.Request) -> web.Response:
        """Liveness plus what is loaded."""
        return web.json_response({
            "status": "ok",
            "tenantId": self.state.tenant_id,
            "users": len(self.state.users()),
            "seedTime": self.state.seed_time.isoformat() if self.state.seed_time else None,
            "loadedAt": self.state.loaded_at.isoformat(),
            "shiftSeconds": round(self.state.shift.total_seconds()),
            "throttle": self.state.throttle.enabled,
            "faults": len(self.state.faults),
        })

    # faults
    async def get_faults(self, request: web.Request) -> web.Response:
        """The active fault rules."""
        return web.json_response([rule.to_json() for rule in self.state.faults])

    async def put_faults(self, request: web.Request) -> web.Response:
        """Replace the fault rules with a JSON list."""
        body = await _json(request)
        if not isinstance(body, list):
            return _bad("PUT /_demo/faults takes a JSON list of rules")
        try:
            rules = [FaultRule.from_json(item) for item in body]
        except RuleError as exc:
            return _bad(str(exc))
        self.state.faults.replace(rules)
        return web.json_response([rule.to_json() for rule in rules])

    async def post_fault(self, request: web.Request) -> web.Response:
        """Append one fault rule."""
        try:
            rule = FaultRule.from_json(await _json(request))
        except RuleError as exc:
            return _bad(str(exc))
        self.state.faults.add(rule)
        return web.json_response(rule.to_json(), status=201)

    async def delete_faults(self, request: web.Request) -> web.Response:
        """Remove every fault rule."""
        self.state.faults.clear()
        return web.Response(status=204)

    async def delete_fault(self, request: web.Request) -> web.Response:
        """Remove one fault rule by id."""
        if not self.state.faults.remove(request.match_info["id"]):
            return web.json_response({"error": "no such fault rule"}, status=404)
        return web.Response(status=204)

    # latency
    async def get_latency(self, request: web.Request) -> web.Response:
        """The default-latency rules."""
        return web.json_response([rule.to_json() for rule in self.state.latency])

    async def put_latency(self, request: web.Request) -> web.Response:
        """Replace the latency rules: a JSON list, or {"preset": "realistic"}."""
        body = await _json(request)
        if isinstance(body, dict) and body.get("preset") == "realistic":
            rules = list(REALISTIC_LATENCY)
        elif isinstance(body, list):
            try:
                rules = [LatencyRule.from_json(item) for item in body]
            except RuleError as exc:
                return _bad(str(exc))
        else:
            return _bad('PUT /_demo/latency takes a JSON list of rules or {"preset": "realistic"}')
        self.state.latency.replace(rules)
        return web.json_response([rule.to_json() for rule in rules])

    async def delete_latency(self, request: web.Request) -> web.Response:
        """Remove every latency rule."""
        self.state.latency.clear()
        return web.Response(status=204)

    # throttle
    async def get_throttle(self, request: web.Request) -> web.Response:
        """Whether throttles are enforced, and the limits."""
        limits = self.state.throttle.limits
        return web.json_response({"enabled": self.state.throttle.enabled, "limits": limits.__dict__})

    async def put_throttle(self, request: web.Request) -> web.Response:
        """{"enabled": true|false}; turning it on or off starts every window afresh."""
        body = await _json(request)
        if not isinstance(body, dict) or not isinstance(body.get("enabled"), bool):
            return _bad('PUT /_demo/throttle takes {"enabled": true|false}')
        self.state.throttle.enabled = body["enabled"]
        self.state.throttle.reset()
        return await self.get_throttle(request)

    # request log
    async def get_requests(self, request: web.Request) -> web.Response:
        """The request log, oldest first; ?api=graph|exchange|identity&path=...&cmdlet=...&limit=N."""
        q = request.query
        records = self.state.requests.matching(q.get("api"), q.get("path"), q.get("cmdlet"))
        if "limit" in q:
            try:
                records = records[-max(0, int(q["limit"])):]
            except ValueError:
                return _bad("limit must be an integer")
        return web.json_response([record.to_json() for record in records])

    async def delete_requests(self, request: web.Request) -> web.Response:
        """Empty the request log."""
        self.state.requests.clear()
        return web.Response(status=204)

    async def get_actions(self, request: web.Request) -> web.Response:
        """The writes performed (unblock, set mailbox, patch rule, revoke, risk changes...)."""
        return web.json_response([action.to_json() for action in self.state.actions])

    async def get_blocked(self, request: web.Request) -> web.Response:
        """Restricted entities now, pending removals and unblock counts."""
        return web.json_response({
            "blocked": self.state.blocked_senders(),
            "pendingRemoval": self.state.pending_unblocks(),
            "unblockCounts": self.state.unblock_counts,
            "unblockLimit": self.state.unblock_limit,
        })

    async def restrict(self, request: web.Request) -> web.Response:
        """{"address": ..., "reason"?: ...}: put a sender on Restricted entities now."""
        body = await _json(request)
        address = body.get("address") if isinstance(body, dict) else None
        reason = body.get("reason") if isinstance(body, dict) else None
        if not isinstance(address, str) or "@" not in address:
            return _bad('POST /_demo/restrict takes {"address": "user@domain", "reason": "..."}')
        if reason is not None and not isinstance(reason, str):
            return _bad("reason must be a string")
        return web.json_response(self.state.restrict(address, reason), status=201)

    # licences and the app's grants (the tenant pre-flight's "what if it were missing"; kept until reset)
    async def get_licenses(self, request: web.Request) -> web.Response:
        """The licence switches and whether message trace is provisioned."""
        licenses = dict(self.state.tenant.get("licenses") or {})
        return web.json_response({"licenses": licenses,
                                  "messageTraceProvisioned": bool(self.state.tenant.get("messageTraceProvisioned",
                                                                                        True))})

    async def put_licenses(self, request: web.Request) -> web.Response:
        """{"entraIdP2": false, "messageTraceProvisioned": false, ...}: switch licences (and provisioning) on or off."""
        body = await _json(request)
        if not isinstance(body, dict) or not body or not all(isinstance(v, bool) for v in body.values()):
            return _bad('PUT /_demo/licenses takes {"entraIdP1"|"entraIdP2"|"defenderForOffice365"|'
                        '"messageTraceProvisioned": true|false, ...}')
        unknown = set(body) - {*_LICENSES, "messageTraceProvisioned"}
        if unknown:
            return _bad(f"unknown licence: {', '.join(sorted(unknown))}")
        licenses = self.state.tenant.setdefault("licenses", {})
        for name, value in body.items():
            if name == "messageTraceProvisioned":
                self.state.tenant["messageTraceProvisioned"] = value
            else:
                licenses[name] = value
        return await self.get_licenses(request)

    async def get_permissions(self, request: web.Request) -> web.Response:
        """The app's granted application permissions and roles (what new tokens carry)."""
        return web.json_response({"grantedPermissions": self.state.granted_permissions(),
                                  "exchangeRoles": self.state.exchange_roles(),
                                  "directoryRoles": self.state.directory_roles()})

    async def put_permissions(self, request: web.Request) -> web.Response:
        """{"AuditLog.Read.All": false, "Security Administrator": false, ...}: grant or revoke permissions and roles.

        A name in `exchangeRoles`/`directoryRoles` (or a known role) is a role; anything else an application
        permission. Tokens already issued keep their claims until they expire, as in Entra.
        """
        body = await _json(request)
        if not isinstance(body, dict) or not body or not all(isinstance(v, bool) for v in body.values()):
            return _bad('PUT /_demo/permissions takes {"<permission or role>": true|false, ...}')
        app = self.state.app
        for name, granted in body.items():
            key = ("directoryRoles" if name in _DIRECTORY_ROLES or name in (app.get("directoryRoles") or [])
                   else "exchangeRoles" if name in _EXCHANGE_ROLES or name in (app.get("exchangeRoles") or [])
                   else "grantedPermissions")
            names = [str(n) for n in app.get(key) or [] if n != name]
            app[key] = [*names, name] if granted else names
        return await self.get_permissions(request)

    async def reset(self, request: web.Request) -> web.Response:
        """Reload the seed (faults, latency, throttle setting and the request log are kept)."""
        try:
            await self._reset()
        except SeedError as exc:
            return web.json_response({"error": str(exc)}, status=500)
        return await self.health(request)

"""Graph and Exchange clients against a small local aiohttp server: paging, $batch, retries, errors, headers."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from m365.errors import (
    AuthenticationFailed,
    BadRequest,
    M365Error,
    NotFound,
    PermissionDenied,
    Throttled,
    UnblockLimitReached,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from m365.exchange import ExchangeClient
from m365.graph import BatchRequest, GraphClient
from m365.http import RetryPolicy, deadline
from m365.tenant import M365Tenant

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ServerFactory = Callable[..., Awaitable[TestServer]]
TENANT = "4f8c2b1e-6d3a-4e5b-9c7d-1a2b3c4d5e6f"


class FakeTokens:
    """Hands out `tok-N`; `invalidate` moves to the next N (like a real refresh)."""

    def __init__(self) -> None:
        self.generation = 1
        self.invalidated: list[tuple[str, str]] = []
        self.scopes: list[str] = []

    async def token(self, scope: str) -> str:
        self.scopes.append(scope)
        return f"tok-{self.generation}"

    def invalidate(self, scope: str, token: str) -> None:
        self.invalidated.append((scope, token))
        self.generation += 1


class Sleeps:
    """A fake `asyncio.sleep` that records the waits instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


class Recorder:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    async def record(self, request: web.Request) -> dict[str, Any]:
        body = await request.read()
        entry = {"method": request.method, "path": request.path, "raw_path": request.raw_path,
                 "query": dict(request.query), "headers": dict(request.headers),
                 "json": json.loads(body) if body else None}
        self.requests.append(entry)
        return entry


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def policy() -> RetryPolicy:
    return RetryPolicy(max_attempts=4, budget_seconds=10.0, base_delay_seconds=0.05, max_delay_seconds=0.4)


async def serve(aiohttp_server: ServerFactory, routes: list[web.RouteDef]) -> TestServer:
    app = web.Application()
    app.add_routes(routes)
    server: TestServer = await aiohttp_server(app)
    return server


def graph_client(server: TestServer, session: aiohttp.ClientSession, policy: RetryPolicy,
                 tokens: FakeTokens | None = None, sleeps: Sleeps | None = None, **kwargs: Any) -> GraphClient:
    return GraphClient(session, tokens or FakeTokens(), base_url=str(server.make_url("/v1.0")), retry=policy,
                       sleep=sleeps or Sleeps(), **kwargs)


def graph_error(status: int, code: str, message: str, **headers: str) -> web.Response:
    body = {"error": {"code": code, "message": message, "innerError": {"request-id": "rid"}}}
    return web.json_response(body, status=status, headers=headers)


# -- paging -------------------------------------------------------------------------------------------


async def test_paging_follows_next_link_until_the_page_cap(aiohttp_server: ServerFactory,
                                                           session: aiohttp.ClientSession, policy: RetryPolicy) -> None:
    rec = Recorder()

    async def users(request: web.Request) -> web.Response:
        await rec.record(request)
        page = int(request.query.get("$skiptoken", "0"))
        body: dict[str, Any] = {"value": [{"id": f"u{page}-{i}"} for i in range(2)]}
        if page < 9:
            body["@odata.nextLink"] = str(request.url.with_query({"$skiptoken": str(page + 1)}))
        return web.json_response(body)

    server = await serve(aiohttp_server, [web.get("/v1.0/users", users)])
    graph = graph_client(server, session, policy)
    items = await graph.get_paged("/users", {"$top": 2}, max_pages=3)
    assert [i["id"] for i in items] == ["u0-0", "u0-1", "u1-0", "u1-1", "u2-0", "u2-1"]
    assert len(rec.requests) == 3
    rec.requests.clear()
    assert len(await graph.get_paged("/users", {"$top": 2}, max_items=3)) == 3
    assert len(rec.requests) == 2
    rec.requests.clear()
    assert len(await graph.get_paged("/users")) == 20
    assert len(rec.requests) == 10


async def test_next_link_to_another_host_is_not_followed(aiohttp_server: ServerFactory,
                                                         session: aiohttp.ClientSession, policy: RetryPolicy) -> None:
    async def users(request: web.Request) -> web.Response:
        return web.json_response({"value": [{"id": "a"}], "@odata.nextLink": "https://evil.example/v1.0/users?p=2"})

    server = await serve(aiohttp_server, [web.get("/v1.0/users", users)])
    with pytest.raises(M365Error, match="another host"):
        await graph_client(server, session, policy).get_paged("/users")


# -- $batch -------------------------------------------------------------------------------------------


async def test_batch_is_split_into_twenties(aiohttp_server: ServerFactory, session: aiohttp.ClientSession,
                                            policy: RetryPolicy) -> None:
    rec = Recorder()

    async def batch(request: web.Request) -> web.Response:
        entry = await rec.record(request)
        responses = [{"id": r["id"], "status": 404 if r["id"] == "7" else 200,
                      "body": {"id": r["url"].split("/")[-1]}} for r in entry["json"]["requests"]]
        return web.json_response({"responses": list(reversed(responses))})  # Graph answers in any order

    server = await serve(aiohttp_server, [web.post("/v1.0/$batch", batch)])
    graph = graph_client(server, session, policy)
    answers = await graph.batch([BatchRequest(str(n), "GET", f"/servicePrincipals/sp{n}") for n in range(45)])
    assert [len(r["json"]["requests"]) for r in rec.requests] == [20, 20, 5]
    assert [a.id for a in answers] == [str(n) for n in range(45)]
    assert answers[3].body == {"id": "sp3"} and answers[3].ok
    assert answers[7].status == 404
    with pytest.raises(ValueError):
        await graph.batch([BatchRequest("1", "GET", "/a"), BatchRequest("1", "GET", "/b")])


async def test_batch_retries_inner_429_after_its_retry_after(aiohttp_server: ServerFactory,
                                                             session: aiohttp.ClientSession,
                                                             policy: RetryPolicy) -> None:
    rec = Recorder()

    async def batch(request: web.Request) -> web.Response:
        entry = await rec.record(request)
        out = []
        for r in entry["json"]["requests"]:
            if r["id"] == "b" and len(rec.requests) == 1:
                out.append({"id": "b", "status": 429, "headers": {"Retry-After": "3"},
                            "body": {"error": {"code": "TooManyRequests", "message": "slow down"}}})
            else:
                sp_id = r["url"].split("?")[0].rsplit("/", 1)[-1]
                out.append({"id": r["id"], "status": 200, "body": {"id": sp_id, "appId": "x", "displayName": "n"}})
        return web.json_response({"responses": out})

    server = await serve(aiohttp_server, [web.post("/v1.0/$batch", batch)])
    sleeps = Sleeps()
    graph = graph_client(server, session, policy, sleeps=sleeps)
    answers = await graph.batch([BatchRequest(i, "GET", f"/servicePrincipals/{i}") for i in "abc"])
    assert [a.status for a in answers] == [200, 200, 200]
    assert sleeps.waits == [3.0]
    assert [[r["id"] for r in e["json"]["requests"]] for e in rec.requests] == [["a", "b", "c"], ["b"]]
    sps = await graph.get_service_principals(["a", "b", "a", ""])
    assert [sp.id for sp in sps] == ["a", "b"]


# -- retries and errors ------------------------------------------------------------------------------


async def test_429_with_retry_after_then_success(aiohttp_server: ServerFactory, session: aiohttp.ClientSession,
                                                 policy: RetryPolicy) -> None:
    calls = 0

    async def org(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            return graph_error(429, "TooManyRequests", "Too many requests", **{"Retry-After": "7"})
        return web.json_response({"value": [{"id": TENANT}]})

    server = await serve(aiohttp_server, [web.get("/v1.0/organization", org)])
    sleeps = Sleeps()
    body = await graph_client(server, session, policy, sleeps=sleeps).get("/organization")
    assert body == {"value": [{"id": TENANT}]}
    assert sleeps.waits == [7.0]
    assert calls == 2


async def test_retry_after_beyond_budget_raises_throttled_at_once(aiohttp_server: ServerFactory,
                                                                  session: aiohttp.ClientSession) -> None:
    calls = 0

    async def org(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        return graph_error(429, "TooManyRequests", "Too many requests", **{"Retry-After": "120"})

    server = await serve(aiohttp_server, [web.get("/v1.0/organization", org)])
    sleeps = Sleeps()
    graph = graph_client(server, session, RetryPolicy(budget_seconds=30), sleeps=sleeps)
    with pytest.raises(Throttled) as info:
        await graph.get("/organization")
    assert info.value.retry_after == 120.0
    assert calls == 1 and sleeps.waits == []


async def test_a_callers_deadline_ends_retries_that_would_outlast_it(aiohttp_server: ServerFactory,
                                                                       session: aiohttp.ClientSession,
                                                                       policy: RetryPolicy) -> None:
    """Retry-After 7 s fits the policy (10 s) but not the caller's 2 s: Throttled at once, no sleep into a timeout.
    Outside the `deadline` block the same call waits as told."""
    calls = 0

    async def org(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        if calls % 2:
            return graph_error(429, "TooManyRequests", "Too many requests", **{"Retry-After": "7"})
        return web.json_response({"value": []})

    server = await serve(aiohttp_server, [web.get("/v1.0/organization", org)])
    sleeps = Sleeps()
    graph = graph_client(server, session, policy, sleeps=sleeps)
    with deadline(2.0), pytest.raises(Throttled):
        await graph.get("/organization")
    assert calls == 1 and sleeps.waits == []
    calls = 0
    with deadline(60.0):
        assert await graph.get("/organization") == {"value": []}
    assert calls == 2 and sleeps.waits == [7.0]


async def test_503_until_attempts_run_out(aiohttp_server: ServerFactory, session: aiohttp.ClientSession,
                                          policy: RetryPolicy) -> None:
    calls = 0

    async def org(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        return graph_error(503, "ServiceUnavailable", "Service unavailable")

    server = await serve(aiohttp_server, [web.get("/v1.0/organization", org)])
    sleeps = Sleeps()
    with pytest.raises(UpstreamUnavailable) as info:
        await graph_client(server, session, policy, sleeps=sleeps).get("/organization")
    assert calls == policy.max_attempts
    assert info.value.status == 503
    # Exponential backoff with jitter: each wait within [ceiling/2, ceiling], ceilings 0.05, 0.1, 0.2.
    assert len(sleeps.waits) == policy.max_attempts - 1
    for n, wait in enumerate(sleeps.waits):
        ceiling = 0.05 * 2**n
        assert ceiling / 2 <= wait <= ceiling


async def test_budget_bounds_total_retry_time(aiohttp_server: ServerFactory, session: aiohttp.ClientSession) -> None:
    calls = 0

    async def org(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        return web.Response(status=504, text="gateway timeout")

    server = await serve(aiohttp_server, [web.get("/v1.0/organization", org)])
    graph = graph_client(server, session, RetryPolicy(max_attempts=10, budget_seconds=0.15, base_delay_seconds=0.1,
                                                      max_delay_seconds=0.1), sleeps=None)
    # Real sleeps here: the budget is measured on the clock.
    graph._transport._sleep = asyncio.sleep
    with pytest.raises(UpstreamUnavailable, match="gateway timeout"):
        await graph.get("/organization")
    assert 2 <= calls <= 3


async def test_timeout_raises_upstream_timeout(aiohttp_server: ServerFactory, session: aiohttp.ClientSession,
                                               policy: RetryPolicy) -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(0.3)
        return web.json_response({})

    server = await serve(aiohttp_server, [web.get("/v1.0/organization", slow)])
    graph = graph_client(server, session, policy, timeout_seconds=0.05)
    with pytest.raises(UpstreamTimeout):
        await graph.get("/organization")


async def test_connection_refused_is_retried_then_unavailable(session: aiohttp.ClientSession,
                                                              policy: RetryPolicy) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleeps = Sleeps()
    graph = GraphClient(session, FakeTokens(), base_url=f"http://127.0.0.1:{port}/v1.0", retry=policy, sleep=sleeps)
    with pytest.raises(UpstreamUnavailable, match="unreachable"):
        await graph.get("/organization")
    assert len(sleeps.waits) == policy.max_attempts - 1


async def test_401_refreshes_the_token_once(aiohttp_server: ServerFactory, session: aiohttp.ClientSession,
                                            policy: RetryPolicy) -> None:
    seen: list[str] = []
    reject = {"Bearer tok-1"}

    async def org(request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        seen.append(auth)
        if auth in reject:
            return graph_error(401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.")
        return web.json_response({"value": []})

    server = await serve(aiohttp_server, [web.get("/v1.0/organization", org)])
    tokens = FakeTokens()
    graph = graph_client(server, session, policy, tokens=tokens)
    assert await graph.get("/organization") == {"value": []}
    assert seen == ["Bearer tok-1", "Bearer tok-2"]
    assert tokens.invalidated == [("https://graph.microsoft.com/.default", "tok-1")]
    # A token that is refused again after the refresh is an authentication failure, not a loop.
    reject.update({"Bearer tok-2", "Bearer tok-3"})
    seen.clear()
    with pytest.raises(AuthenticationFailed):
        await graph.get("/organization")
    assert seen == ["Bearer tok-2", "Bearer tok-3"]


async def test_403_maps_to_permission_denied(aiohttp_server: ServerFactory, session: aiohttp.ClientSession,
                                             policy: RetryPolicy) -> None:
    async def sign_ins(request: web.Request) -> web.Response:
        return graph_error(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")

    server = await serve(aiohttp_server, [web.get("/v1.0/auditLogs/signIns", sign_ins)])
    graph = graph_client(server, session, policy)
    with pytest.raises(PermissionDenied) as info:
        await graph.list_sign_ins("userId eq 'x'", limit=10)
    assert info.value.permission == "AuditLog.Read.All"


async def test_consistency_level_only_with_search_or_count(aiohttp_server: ServerFactory,
                                                           session: aiohttp.ClientSession,
                                                           policy: RetryPolicy) -> None:
    rec = Recorder()

    async def users(request: web.Request) -> web.Response:
        await rec.record(request)
        return web.json_response({"value": []})

    server = await serve(aiohttp_server, [web.get("/v1.0/users", users)])
    graph = graph_client(server, session, policy)
    await graph.list_users(search='"displayName:Megan"')
    await graph.list_users("mailNickname eq 'megan'")
    first, second = rec.requests
    assert first["headers"].get("ConsistencyLevel") == "eventual"
    assert first["query"]["$search"] == '"displayName:Megan"'
    assert first["query"]["$count"] == "true"
    assert "ConsistencyLevel" not in second["headers"]
    assert "Authorization" in first["headers"] and "client-request-id" in first["headers"]


# -- M365Tenant over the fake server ------------------------------------------------------------------


async def test_find_users_and_get_user_escape_the_upn(aiohttp_server: ServerFactory, session: aiohttp.ClientSession,
                                                      policy: RetryPolicy) -> None:
    rec = Recorder()
    miriam = {"id": "8fcda2f9-7b1e-4d6a-a9fa-3a4b5c6d7e09", "userPrincipalName": "miriam.o'brien@example.com",
              "displayName": "Miriam O'Brien"}

    async def users(request: web.Request) -> web.Response:
        await rec.record(request)
        return web.json_response({"value": [miriam, miriam]})

    async def user(request: web.Request) -> web.Response:
        await rec.record(request)
        if request.match_info["key"] == "miriam.o'brien@example.com":
            return web.json_response(miriam)
        return graph_error(404, "Request_ResourceNotFound", "Resource does not exist.")

    server = await serve(aiohttp_server, [web.get("/v1.0/users", users), web.get("/v1.0/users/{key}", user)])
    tenant = M365Tenant(graph_client(server, session, policy), _exchange(server, session, policy), tenant_id=TENANT)
    found = await tenant.find_users("miriam.o'brien@example.com")
    assert [u.id for u in found] == [miriam["id"]]
    assert rec.requests[0]["query"]["$filter"] == (
        "(userPrincipalName eq 'miriam.o''brien@example.com' or mail eq 'miriam.o''brien@example.com' "
        "or proxyAddresses/any(x:x eq 'smtp:miriam.o''brien@example.com'))")
    rec.requests.clear()
    user_found = await tenant.get_user("miriam.o'brien@example.com")
    assert user_found is not None and user_found.display_name == "Miriam O'Brien"
    assert rec.requests[0]["raw_path"].startswith("/v1.0/users/miriam.o%27brien@example.com?")
    assert await tenant.get_user("nobody@example.com") is None
    rec.requests.clear()
    await tenant.find_users('Mi"riam')
    queries = sorted(r["query"].get("$search") or r["query"].get("$filter") for r in rec.requests)
    # `$search` matches words and tokenizes on punctuation: quotes are left out rather than trusted to an escape.
    assert queries == ['"displayName:Mi riam"', "mailNickname eq 'Mi\"riam'"]


async def test_find_users_raises_the_m365_error_itself(aiohttp_server: ServerFactory, session: aiohttp.ClientSession,
                                                       policy: RetryPolicy) -> None:
    """The lookups run in a TaskGroup; a refusal must reach the caller as the `M365Error` it handles, not wrapped
    in an ExceptionGroup (which no dialog catches)."""
    async def users(request: web.Request) -> web.Response:
        if "$search" in request.query:
            return graph_error(400, "Request_UnsupportedQuery", "Syntax error")
        return web.json_response({"value": []})

    server = await serve(aiohttp_server, [web.get("/v1.0/users", users)])
    tenant = M365Tenant(graph_client(server, session, policy), _exchange(server, session, policy), tenant_id=TENANT)
    with pytest.raises(BadRequest):
        await tenant.find_users("Megan")


async def test_sign_ins_for_many_users_are_chunked(aiohttp_server: ServerFactory, session: aiohttp.ClientSession,
                                                   policy: RetryPolicy) -> None:
    rec = Recorder()
    ids = [f"{n:08d}-1111-2222-3333-444444444444" for n in range(60)]

    async def sign_ins(request: web.Request) -> web.Response:
        await rec.record(request)
        wanted = [i for i in ids if f"userId eq '{i}'" in request.query["$filter"]]
        return web.json_response({"value": [{"id": f"s-{i}", "userId": i, "createdDateTime": "2026-11-20T10:00:00Z"}
                                            for i in wanted]})

    server = await serve(aiohttp_server, [web.get("/v1.0/auditLogs/signIns", sign_ins)])
    tenant = M365Tenant(graph_client(server, session, policy), _exchange(server, session, policy), tenant_id=TENANT)
    result = await tenant.list_sign_ins_for_users(ids, datetime(2026, 11, 1, tzinfo=UTC))
    assert len(rec.requests) > 1
    assert all(len(r["raw_path"]) < 2000 for r in rec.requests)
    assert all(r["query"]["$filter"].endswith(" and createdDateTime ge 2026-11-01T00:00:00Z") for r in rec.requests)
    assert set(result) == set(ids)
    assert all(len(v) == 1 and v[0].user_id == k for k, v in result.items())


# -- Exchange -----------------------------------------------------------------------------------------


def _exchange(server: TestServer, session: aiohttp.ClientSession, policy: RetryPolicy, **kwargs: Any) -> ExchangeClient:
    kwargs.setdefault("anchor_domain", "example.onmicrosoft.com")
    return ExchangeClient(session, FakeTokens(), tenant_id=TENANT, base_url=str(server.make_url("")), retry=policy,
                          sleep=Sleeps(), **kwargs)


async def test_exchange_anchor_falls_back_while_discovery_fails(aiohttp_server: ServerFactory,
                                                                 session: aiohttp.ClientSession,
                                                                 policy: RetryPolicy) -> None:
    """A Graph failure while discovering the initial domain anchors that call on the fallback (the tenant id),
    and discovery is asked again next time, so a passing blip does not pin the fallback."""
    anchors: list[str] = []

    async def invoke(request: web.Request) -> web.Response:
        anchors.append(request.headers["X-AnchorMailbox"])
        return web.json_response({"value": []})

    server = await serve(aiohttp_server, [web.post(f"/adminapi/beta/{TENANT}/InvokeCommand", invoke)])
    answers: list[str | Exception] = [PermissionDenied("no Organization.Read.All", status=403),
                                      "example.onmicrosoft.com"]

    async def discover() -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    exchange = _exchange(server, session, policy, anchor_domain=None, anchor_domain_source=discover,
                         anchor_fallback=TENANT)
    await exchange.invoke("Get-BlockedSenderAddress")
    await exchange.invoke("Get-BlockedSenderAddress")
    await exchange.invoke("Get-BlockedSenderAddress")
    mailbox = "APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@"
    assert anchors == [mailbox + TENANT, mailbox + "example.onmicrosoft.com", mailbox + "example.onmicrosoft.com"]
    assert answers == []


def exchange_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": {"code": "BadRequest", "message": message}}, status=status)


async def test_exchange_invoke_shape_paging_and_errors(aiohttp_server: ServerFactory, session: aiohttp.ClientSession,
                                                       policy: RetryPolicy) -> None:
    rec = Recorder()

    async def invoke(request: web.Request) -> web.Response:
        entry = await rec.record(request)
        cmdlet = entry["json"]["CmdletInput"]["CmdletName"]
        params = entry["json"]["CmdletInput"]["Parameters"]
        if cmdlet == "Get-BlockedSenderAddress":
            page = int(request.query.get("page", "0"))
            body: dict[str, Any] = {"value": [{"SenderAddress": f"s{page}@example.com", "Reason": "OutboundSpam"}]}
            if page < 2:
                body["@odata.nextLink"] = str(request.url.with_query({"page": str(page + 1)}))
            return web.json_response(body)
        if cmdlet == "Get-Mailbox" and params["Identity"] == "JohannaL@example.com":
            return exchange_error(404, "|Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException|"
                                       "The operation couldn't be performed because object 'JohannaL@example.com' "
                                       "couldn't be found on 'DC1'.")
        if cmdlet == "Remove-BlockedSenderAddress":
            return exchange_error(400, "|Microsoft.Exchange.Management.Tasks.ValidationException|The sender has been "
                                       "unblocked the maximum number of times allowed. To unblock this sender, "
                                       "contact Microsoft support.")
        if cmdlet == "Set-Mailbox":
            return web.json_response({"value": []})
        return web.json_response({"error": {"code": "Forbidden", "message": "denied"}}, status=403)

    server = await serve(aiohttp_server, [web.post(f"/adminapi/beta/{TENANT}/InvokeCommand", invoke)])
    anchors: list[str] = []

    async def discover() -> str:
        anchors.append("asked")
        return "example.onmicrosoft.com"

    exchange = _exchange(server, session, policy, anchor_domain=None, anchor_domain_source=discover)
    tenant = M365Tenant(graph_client(server, session, policy), exchange, tenant_id=TENANT)

    senders = await tenant.list_blocked_senders()
    assert [s.sender_address for s in senders] == ["s0@example.com", "s1@example.com", "s2@example.com"]
    assert len(rec.requests) == 3
    assert all(r["json"] == {"CmdletInput": {"CmdletName": "Get-BlockedSenderAddress", "Parameters": {}}}
               for r in rec.requests)
    assert rec.requests[0]["headers"]["X-AnchorMailbox"] == (
        "APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@example.onmicrosoft.com")
    assert await exchange.invoke("Get-BlockedSenderAddress", max_pages=2) is not None
    assert anchors == ["asked"]  # discovered once

    assert await tenant.get_mailbox("JohannaL@example.com") is None
    with pytest.raises(UnblockLimitReached) as info:
        await tenant.remove_blocked_sender("MeganB@example.com")
    assert "|" not in str(info.value)
    with pytest.raises(PermissionDenied) as denied:
        await tenant.get_cas_mailbox("MeganB@example.com")
    assert denied.value.permission is not None and "View-Only Recipients" in denied.value.permission

    rec.requests.clear()
    await tenant.remove_mailbox_forwarding("MeganB@example.com")
    assert rec.requests[0]["json"]["CmdletInput"] == {"CmdletName": "Set-Mailbox", "Parameters": {
        "Identity": "MeganB@example.com", "ForwardingSmtpAddress": None, "ForwardingAddress": None,
        "DeliverToMailboxAndForward": False}}


async def test_get_mailbox_not_found_propagates_from_client(aiohttp_server: ServerFactory,
                                                            session: aiohttp.ClientSession,
                                                            policy: RetryPolicy) -> None:
    async def invoke(request: web.Request) -> web.Response:
        return web.json_response({"value": []})

    server = await serve(aiohttp_server, [web.post(f"/adminapi/beta/{TENANT}/InvokeCommand", invoke)])
    exchange = _exchange(server, session, policy)
    with pytest.raises(NotFound):
        await exchange.get_mailbox("nobody")
    tenant = M365Tenant(graph_client(server, session, policy), exchange, tenant_id=TENANT)
    assert await tenant.get_mailbox("nobody") is None
    assert await tenant.get_blocked_sender("x@example.com") is None


async def test_unblock_is_not_repeated_when_it_may_have_happened(aiohttp_server: ServerFactory,
                                                                 session: aiohttp.ClientSession,
                                                                 policy: RetryPolicy) -> None:
    statuses = [504, 503, 200]
    seen: list[str] = []

    async def invoke(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        seen.append(body["CmdletInput"]["CmdletName"])
        status = statuses.pop(0) if statuses else 200
        if status == 0:  # drop the connection without an answer
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        if status != 200:
            return web.json_response({"error": {"code": "x", "message": "busy"}}, status=status)
        return web.json_response({"value": []})

    server = await serve(aiohttp_server, [web.post(f"/adminapi/beta/{TENANT}/InvokeCommand", invoke)])
    exchange = _exchange(server, session, policy)
    # 504 may come after the work was done: an unblock (counted by Microsoft) is not sent again.
    with pytest.raises(UpstreamUnavailable):
        await exchange.remove_blocked_sender("MeganB@example.com")
    assert seen == ["Remove-BlockedSenderAddress"]
    # 503 means it was not done: sent again.
    await exchange.remove_blocked_sender("MeganB@example.com")
    assert seen == ["Remove-BlockedSenderAddress"] * 3
    # A dropped connection: reads are repeated, the unblock is not.
    seen.clear()
    statuses[:] = [0, 200]
    assert await exchange.invoke("Get-BlockedSenderAddress") == []
    assert len(seen) == 2
    statuses[:] = [0, 200]
    seen.clear()
    with pytest.raises(UpstreamUnavailable):
        await exchange.remove_blocked_sender("MeganB@example.com")
    assert len(seen) == 1

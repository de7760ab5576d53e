"""A request that waits for its connection checks again before it is written: a 429 that arrived in between holds it."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any, cast

from aiohttp import web
from aiohttp.test_utils import TestServer

from m365.auth import M365Settings
from m365.graph import Governor, RateLimit
from m365.http import before_send, create_session

HOLD = 0.4


async def test_a_request_queued_for_a_connection_waits_out_a_hold_that_began_meanwhile() -> None:
    arrivals: dict[str, float] = {}

    async def handler(request: web.Request) -> web.Response:
        arrivals[request.match_info["name"]] = time.monotonic()
        if request.match_info["name"] == "first":
            await asyncio.sleep(0.2)  # keeps the only connection while the second request queues for it
        return web.json_response({})

    app = web.Application()
    app.router.add_get("/{name}", handler)
    server = TestServer(app)
    await server.start_server()
    settings = cast(M365Settings, SimpleNamespace(m365_ca_file=None, http_timeout_seconds=10.0))
    session = create_session(settings, connection_limit=1)
    governor = Governor({"auditLogs": RateLimit(5, 10.0)})
    try:
        async def first() -> None:
            async with session.get(server.make_url("/first")) as response:
                await response.read()
            # Its answer was a 429 (as far as the governor knows): the family is held from now.
            governor.hold("auditLogs", HOLD)

        async def second() -> float:
            await governor.acquire("auditLogs")  # a place in the window now, before the hold exists
            with before_send(lambda: governor.wait_out_hold("auditLogs")):
                async with session.get(server.make_url("/second")) as response:
                    await response.read()
            return time.monotonic()

        started = time.monotonic()
        task = asyncio.ensure_future(first())
        await asyncio.sleep(0.05)
        await asyncio.gather(task, second())
        held_from = arrivals["first"] + 0.2
        assert arrivals["second"] >= held_from + HOLD - 0.05, (arrivals, started)
    finally:
        await session.close()
        await server.close()


async def test_without_a_hook_the_queued_request_goes_out_as_soon_as_the_connection_is_free() -> None:
    arrivals: list[float] = []

    async def handler(request: web.Request) -> web.Response:
        arrivals.append(time.monotonic())
        return web.json_response({})

    app = web.Application()
    app.router.add_get("/", handler)
    server = TestServer(app)
    await server.start_server()
    settings = cast(M365Settings, SimpleNamespace(m365_ca_file=None, http_timeout_seconds=10.0))
    session = create_session(settings)
    governor = Governor({"auditLogs": RateLimit(5, 10.0)})
    calls: list[Any] = []

    async def hook() -> None:
        calls.append(1)
        await governor.wait_out_hold("auditLogs")

    try:
        for _ in range(2):  # a new connection, then a reused one: the hook runs for both
            with before_send(hook):
                async with session.get(server.make_url("/")) as response:
                    await response.read()
        async with session.get(server.make_url("/")) as response:  # outside the block: no hook
            await response.read()
        assert len(calls) == 2 and len(arrivals) == 3
    finally:
        await session.close()
        await server.close()

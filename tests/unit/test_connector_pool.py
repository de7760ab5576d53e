"""teams.app.PooledClientFactory: every turn's connector client shares one keep-alive pool, and throttled or failed
idempotent connector calls are retried (429 for every method; 5xx only for a PUT, never for a reply's POST)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from microsoft_agents.activity import Activity, ActivityTypes, ChannelAccount, ChannelId, ConversationAccount
from microsoft_agents.hosting.core import ClaimsIdentity, TurnContext

import teams.app
from teams.app import PooledClientFactory, anonymous_connections


class Connector:
    def __init__(self) -> None:
        self.answers: list[int] = []
        self.calls: list[tuple[str, str]] = []
        self.peers: set[Any] = set()

    async def handle(self, request: web.Request) -> web.Response:
        self.calls.append((request.method, request.path))
        self.peers.add(request.transport.get_extra_info("peername") if request.transport else None)
        status = self.answers.pop(0) if self.answers else 200
        return web.json_response({"id": "x"}, status=status, headers={"Retry-After": "0"} if status == 429 else None)


@pytest.fixture
async def connector(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Connector, str]]:
    monkeypatch.setattr(teams.app, "BACKOFF_SECONDS", 0.0)
    recorder = Connector()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", recorder.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield recorder, str(server.make_url("/"))
    await server.close()


def context(service_url: str) -> TurnContext:
    activity = Activity(type=ActivityTypes.message, channel_id=ChannelId("msteams"), service_url=service_url,
                        conversation=ConversationAccount(id="c1"), recipient=ChannelAccount(id="bot"),
                        from_property=ChannelAccount(id="user"))
    return TurnContext(object(), activity)


async def send(factory: PooledClientFactory, service_url: str, method: str) -> int:
    client = await factory.create_connector_client(context(service_url), ClaimsIdentity(), service_url,
                                                   "https://api.botframework.com", use_anonymous=True)
    try:
        session = client.client  # type: ignore[attr-defined]
        async with session.request(method, "v3/conversations/c1/activities/a1", json={}) as response:
            return int(response.status)
    finally:
        await client.close()


async def test_turns_share_one_pool_and_a_throttled_call_is_retried(connector: tuple[Connector, str]) -> None:
    recorder, url = connector
    factory = PooledClientFactory(anonymous_connections())
    try:
        recorder.answers = [429]
        assert await send(factory, url, "POST") == 200
        assert await send(factory, url, "POST") == 200
        assert len(recorder.calls) == 3
        assert len(recorder.peers) == 1  # one keep-alive connection across both turns' clients
    finally:
        await factory.close()


async def test_a_5xx_is_retried_for_an_update_but_never_for_a_reply(connector: tuple[Connector, str]) -> None:
    recorder, url = connector
    factory = PooledClientFactory(anonymous_connections())
    try:
        recorder.answers = [503]
        assert await send(factory, url, "PUT") == 200
        recorder.answers = [503]
        assert await send(factory, url, "POST") == 503
        assert [m for m, _ in recorder.calls] == ["PUT", "PUT", "POST"]
    finally:
        await factory.close()

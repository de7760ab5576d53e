"""A local stand-in for the Bot Framework connector: records every activity the bot sends or updates."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer


@dataclass
class Sent:
    """One call the bot made to the connector."""

    method: str
    conversation_id: str
    activity_id: str | None
    body: dict[str, Any]


def _nulls(value: Any, path: str = "") -> list[str]:
    """The paths of JSON nulls in `value`."""
    if value is None:
        return [path or "(body)"]
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in _nulls(item, f"{path}.{key}" if path else str(key))]
    if isinstance(value, list):
        return [p for index, item in enumerate(value) for p in _nulls(item, f"{path}[{index}]")]
    return []


@dataclass
class RecordingConnector:
    """Collects activities posted to `/v3/conversations/...`; `wait_for(n)` waits until n have arrived.

    Like the Agents Playground's connector (docs/E2E.md), it refuses a body with a JSON null anywhere: 400
    `BadArgument` "Invalid input", recorded in `refused`."""

    sent: list[Sent] = field(default_factory=list)
    refused: list[tuple[str, list[str]]] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    server: TestServer | None = None

    def app(self) -> web.Application:
        """The aiohttp application serving the connector routes."""
        app = web.Application()
        app.router.add_post("/v3/conversations/{conversation}/activities", self._post)
        app.router.add_post("/v3/conversations/{conversation}/activities/{activity}", self._post)
        app.router.add_put("/v3/conversations/{conversation}/activities/{activity}", self._put)
        app.router.add_post("/v3/conversations", self._create)
        return app

    async def start(self) -> str:
        """Start on a free loopback port; returns the service URL."""
        self.server = TestServer(self.app(), host="127.0.0.1")
        await self.server.start_server()
        return str(self.server.make_url("/")).rstrip("/") + "/"

    async def close(self) -> None:
        """Stop the server."""
        if self.server is not None:
            await self.server.close()

    def _invalid(self, request: web.Request, body: Any) -> web.Response | None:
        nulls = _nulls(body)
        if not nulls:
            return None
        self.refused.append((request.path, nulls))
        return web.json_response({"error": {"code": "BadArgument", "message": "Invalid input"}}, status=400)

    async def _post(self, request: web.Request) -> web.Response:
        body = await request.json()
        if (refused := self._invalid(request, body)) is not None:
            return refused
        activity_id = f"sent-{next(self._ids)}"
        self.sent.append(Sent("POST", request.match_info["conversation"], activity_id, body))
        self._changed.set()
        return web.json_response({"id": activity_id})

    async def _put(self, request: web.Request) -> web.Response:
        body = await request.json()
        if (refused := self._invalid(request, body)) is not None:
            return refused
        self.sent.append(Sent("PUT", request.match_info["conversation"], request.match_info["activity"], body))
        self._changed.set()
        return web.json_response({"id": request.match_info["activity"]})

    async def _create(self, request: web.Request) -> web.Response:
        body = await request.json()
        if (refused := self._invalid(request, body)) is not None:
            return refused
        conversation_id = f"conv-{next(self._ids)}"
        self.sent.append(Sent("CREATE", conversation_id, None, body))
        self._changed.set()
        return web.json_response({"id": conversation_id, "activityId": None})

    async def wait_for(self, count: int, within: float = 10.0) -> list[Sent]:
        """Wait until at least `count` calls were recorded (typing indicators excluded)."""
        async def wait() -> None:
            while len(self.messages()) < count:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(wait(), within)
        return self.messages()

    def messages(self) -> list[Sent]:
        """Recorded calls other than typing indicators."""
        return [s for s in self.sent if s.body.get("type") != "typing"]

    def cards(self) -> list[dict[str, Any]]:
        """The Adaptive Card contents of every recorded message, in order."""
        out: list[dict[str, Any]] = []
        for sent in self.messages():
            for attachment in sent.body.get("attachments") or []:
                if attachment.get("contentType") == "application/vnd.microsoft.card.adaptive":
                    out.append(attachment["content"])
        return out

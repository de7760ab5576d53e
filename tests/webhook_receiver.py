"""A webhook receiver on loopback for the event tests: records every POST, answers what it is told, and can be
stopped and started again on the same port (the receiver's outage)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web


@dataclass(frozen=True)
class Received:
    """One POST as the receiver saw it."""

    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """`answer(n)` gives the status (and headers) of the n-th POST (0-based); 204 by default."""

    answer: Callable[[int], tuple[int, dict[str, str]]] = lambda n: (204, {})
    received: list[Received] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/bsa"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        status, headers = self.answer(len(self.received))
        self.received.append(Received(dict(request.headers), body))
        if 300 <= status < 400:
            headers = {"Location": "https://elsewhere.example/hook", **headers}
        return web.Response(status=status, headers=headers)

    async def start(self) -> None:
        """Listen (on the same port as before, after a `stop`)."""
        app = web.Application()
        app.router.add_post("/hooks/bsa", self._handle)
        app.router.add_post("/elsewhere", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        if not self.port:
            server = site._server
            assert server is not None
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        """Go away: connections are refused until `start` again."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

"""A tiny reverse proxy between the Agents Playground and a bot that rewrites the activity locale.

The Playground (0.2.28) hard-codes `locale: "en-US"` in every activity it sends, so a Dutch journey cannot be
typed in its UI as is. This proxy sits in front of the bot: it forwards every request to `TARGET` (the bot's base
URL) unchanged, except that a JSON activity posted to it gets `locale` (and the `clientInfo` entity's locale) set
to `LOCALE`. Responses come back verbatim.

Run: `python -m tests.e2e.locale_proxy` with `PORT`, `TARGET`, `LOCALE` (and optionally `HOST`).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import ClientSession, ClientTimeout, web

SESSION = web.AppKey("session", ClientSession)
TARGET = web.AppKey("target", str)
LOCALE = web.AppKey("locale", str)
HOP_BY_HOP = {"host", "content-length", "connection", "transfer-encoding", "keep-alive"}


def with_locale(activity: Any, locale: str) -> Any:
    """`activity` with its locale and the locale of its `clientInfo` entities set to `locale`."""
    if not isinstance(activity, dict) or "type" not in activity:
        return activity
    rewritten = {**activity, "locale": locale}
    entities = activity.get("entities")
    if isinstance(entities, list):
        rewritten["entities"] = [
            {**entity, "locale": locale} if isinstance(entity, dict) and entity.get("type") == "clientInfo" else entity
            for entity in entities
        ]
    return rewritten


async def forward(request: web.Request) -> web.Response:
    """Forward one request to the target, rewriting a JSON activity body."""
    target = request.app[TARGET]
    body = await request.read()
    if body and request.content_type == "application/json":
        try:
            body = json.dumps(with_locale(json.loads(body), request.app[LOCALE])).encode()
        except ValueError:
            pass  # not JSON after all: forward as is, the bot answers it
    headers = {name: value for name, value in request.headers.items() if name.lower() not in HOP_BY_HOP}
    async with request.app[SESSION].request(request.method, target + request.path_qs, data=body or None,
                                            headers=headers) as response:
        payload = await response.read()
        return web.Response(status=response.status, body=payload,
                            content_type=response.content_type if payload else None)


async def _lifespan(app: web.Application) -> AsyncIterator[None]:
    app[SESSION] = ClientSession(timeout=ClientTimeout(total=120))
    yield
    await app[SESSION].close()


def create_app(target: str, locale: str) -> web.Application:
    """The proxy application forwarding to `target` (a base URL without a trailing slash)."""
    app = web.Application(client_max_size=4 * 1024 * 1024)
    app[TARGET] = target.rstrip("/")
    app[LOCALE] = locale
    app.cleanup_ctx.append(_lifespan)
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


def main() -> int:
    """Serve on HOST:PORT."""
    app = create_app(os.environ["TARGET"], os.environ["LOCALE"])
    web.run_app(app, host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ["PORT"]), print=None,
                access_log=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())

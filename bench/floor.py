"""Baseline: the floor. A bare aiohttp handler that answers each activity with one outbound POST.

No botbuilder: parse the activity, POST one reply to `{serviceUrl}/v3/conversations/{id}/activities/{replyTo}`
on one shared `aiohttp.ClientSession`, answer 201. Whatever a bot does beyond this is its overhead.

    PORT=3980 python -m bench.floor
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator

from aiohttp import ClientSession, TCPConnector, web

SESSION = web.AppKey("session", ClientSession)


def create_app() -> web.Application:
    """The floor app: /api/messages and /readyz."""
    app = web.Application()

    async def session_ctx(app: web.Application) -> AsyncIterator[None]:
        async with ClientSession(connector=TCPConnector(limit=0)) as session:
            app[SESSION] = session
            yield

    async def messages(request: web.Request) -> web.Response:
        activity = json.loads(await request.read())
        reply = {
            "type": "message",
            "text": f"Echo: {activity.get('text', '')}",
            "from": activity.get("recipient"),
            "recipient": activity.get("from"),
            "conversation": activity.get("conversation"),
            "replyToId": activity.get("id"),
        }
        url = (f"{activity['serviceUrl'].rstrip('/')}/v3/conversations/{activity['conversation']['id']}"
               f"/activities/{activity['id']}")
        async with request.app[SESSION].post(url, json=reply) as response:
            await response.read()
        return web.Response(status=201)

    async def readyz(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ready"})

    app.cleanup_ctx.append(session_ctx)
    app.router.add_post("/api/messages", messages)
    app.router.add_get("/readyz", readyz)
    return app


if __name__ == "__main__":
    web.run_app(create_app(), host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "3978")),
                print=None, access_log=None)

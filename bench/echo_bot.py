"""Baseline: a stock echo bot, as Microsoft's Python sample (02.echo-bot) builds it, on the same stack as ours.

botbuilder 4.17.1 `CloudAdapter(ConfigurationBotFrameworkAuthentication(config))`, aiohttp, `adapter.process`.
No caching, no state: whatever a turn costs here is botbuilder's own per-turn cost.

    PORT=3979 python -m bench.echo_bot            # stock
    PORT=3979 python -m bench.echo_bot --cached   # the same bot on teams.adapter.create_adapter (our caching)

`GET /readyz` answers 200 so the benches can wait for it exactly as for our bot.
"""

from __future__ import annotations

import os
import sys

from aiohttp import web
from botbuilder.core import ActivityHandler, MessageFactory, TurnContext
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication


class DefaultConfig:
    """The sample's config.py: empty app id and password = anonymous local mode."""

    PORT = int(os.environ.get("PORT", "3978"))
    APP_ID = os.environ.get("MicrosoftAppId", "")
    APP_PASSWORD = os.environ.get("MicrosoftAppPassword", "")
    APP_TYPE = os.environ.get("MicrosoftAppType", "MultiTenant")
    APP_TENANTID = os.environ.get("MicrosoftAppTenantId", "")


class EchoBot(ActivityHandler):  # type: ignore[misc]  # botbuilder ships no types
    """The sample's bot: echoes the text back."""

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        await turn_context.send_activity(MessageFactory.text(f"Echo: {turn_context.activity.text}"))


def create_app(cached: bool = False) -> web.Application:
    """The sample's app; `cached` swaps in our adapter factory (bench comparison only)."""
    config = DefaultConfig()
    app = web.Application()
    if cached:
        from config import Settings
        from teams.adapter import create_adapter

        cached_adapter = create_adapter(Settings(app_id=config.APP_ID, app_password=config.APP_PASSWORD,
                                          app_type=config.APP_TYPE, app_tenant_id=config.APP_TENANTID))

        async def close_adapter(_app: web.Application) -> None:
            await cached_adapter.close()

        app.on_cleanup.append(close_adapter)
        adapter: CloudAdapter = cached_adapter
    else:
        adapter = CloudAdapter(ConfigurationBotFrameworkAuthentication(config))
    bot = EchoBot()

    async def messages(req: web.Request) -> web.Response:
        response = await adapter.process(req, bot)
        return response if response is not None else web.Response(status=201)

    async def readyz(_req: web.Request) -> web.Response:
        return web.json_response({"status": "ready"})

    app.router.add_post("/api/messages", messages)
    app.router.add_get("/readyz", readyz)
    return app


def main() -> None:
    """Serve on HOST:PORT."""
    web.run_app(create_app(cached="--cached" in sys.argv[1:]), host=os.environ.get("HOST", "127.0.0.1"),
                port=DefaultConfig.PORT, print=None, access_log=None)


if __name__ == "__main__":
    main()

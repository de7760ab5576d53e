"""Before/after: our bot exactly as `python bot.py` runs it, but on botbuilder's stock `CloudAdapter`.

For the comparison in bench/turns.py only. It swaps `bot.create_adapter` (our own composition root's factory,
not an installed package) for one returning the stock adapter, in this process, then runs `bot.main()`.

    PORT=3981 python -m bench.stock_bot
"""

from __future__ import annotations

import sys
from typing import Any

from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication

import bot
from config import Settings


class StockAdapter(CloudAdapter):  # type: ignore[misc]
    """botbuilder's CloudAdapter as `bot.py` built it before teams/adapter.py; `close()` has nothing to do."""

    async def close(self) -> None:
        """Nothing cached, nothing to close."""


def stock_adapter(settings: Settings, *, configuration: Any = None, **_: Any) -> StockAdapter:
    """What `bot._build` used to do: `CloudAdapter(ConfigurationBotFrameworkAuthentication(config))`."""
    return StockAdapter(ConfigurationBotFrameworkAuthentication(configuration))


if __name__ == "__main__":
    if not hasattr(bot, "create_adapter"):
        raise SystemExit("bot.py no longer builds its adapter with create_adapter: update bench/stock_bot.py")
    bot.create_adapter = stock_adapter
    sys.exit(bot.main())

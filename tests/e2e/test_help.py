"""First journey: "help" in the personal chat brings the help card of the speaker's role, in their language."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.harness import (
    PLAYGROUND_CONFIGS,
    PlaygroundPage,
    Service,
    open_playground,
    start_playground,
)

pytestmark = pytest.mark.e2e

HELP_TITLE = {"en": "What I can do for you", "nl": "Wat ik voor je kan doen"}


async def test_help_in_personal_chat_shows_the_help_card(ui: PlaygroundPage) -> None:
    """Alex types "help" in the personal chat and gets the help card of a security admin."""
    await ui.open_personal_chat()
    await ui.send("help")
    card = await ui.wait_for_card(HELP_TITLE["en"])
    texts = await ui.card_texts(card)
    assert HELP_TITLE["en"] in texts
    assert any("(security admin)" in t for t in texts)
    await ui.screenshot("help-personal-chat")


async def test_help_in_dutch(bot: Service, tmp_path: Path) -> None:
    """Megan asks for help with a Dutch Teams client (locale nl-NL) and gets the Dutch help card."""
    with start_playground(bot.url, PLAYGROUND_CONFIGS["megan"], work_dir=tmp_path / "pg", locale="nl-NL",
                          personal_chat_id="personal-chat-megan") as playground:
        async with open_playground(playground.url, tmp_path / "chromium") as ui:
            await ui.open_personal_chat()
            await ui.send("help")
            card = await ui.wait_for_card(HELP_TITLE["nl"])
            assert HELP_TITLE["nl"] in await ui.card_texts(card)
            await ui.screenshot("help-personal-chat-nl")

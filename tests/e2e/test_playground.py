"""What the Agents Playground (0.2.28) does, pinned down against the echo bot, so the harness stays honest.

These run against `echo_bot` whatever `E2E_BOT` says: they check the Playground and the harness, not the bot.
If a Playground upgrade changes one of these facts, the test names the fact (see docs/E2E.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import (
    PLAYGROUND_CONFIGS,
    PlaygroundPage,
    Service,
    open_playground,
    start_bot,
    start_playground,
)

pytestmark = pytest.mark.e2e

TENANT = "4f8c2b1e-6d3a-4e5b-9c7d-1a2b3c4d5e6f"
BOT_ID = "00000000-0000-0000-0000-00000000b5a1"
ALEX = {"id": "user-alex", "aadObjectId": "0d4b2a71-9f3c-4b8e-a1d2-5e6f7a8b9c01"}
MEGAN = {"id": "user-megan", "aadObjectId": "2f6d4c93-1b5e-4d0a-83f4-7a8b9c0d1e03"}


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The echo bot, whatever E2E_BOT says (overrides conftest's `bot`)."""
    service = start_bot(tmp_path_factory.mktemp("echo"), kind="echo")
    try:
        yield service
    finally:
        service.stop()


def messages_with(bot: Service, text: str) -> list[dict[str, Any]]:
    """Message activities the echo bot received whose text contains `text`."""
    return [a for a in bot.received_activities() if a["type"] == "message" and text in (a.get("text") or "")]


async def test_page_load_installs_the_app_in_the_personal_chat(ui: PlaygroundPage, bot: Service) -> None:
    """Every page load sends installationUpdate (add) and conversationUpdate (user and bot added) to the bot."""
    await ui.open_personal_chat()
    await ui.send("ping load")
    await ui.wait_for_text("echo: ping load")
    kinds = [(a["type"], a["conversation"]["id"]) for a in bot.received_activities()]
    assert ("installationUpdate", "personal-chat-id") in kinds
    assert ("conversationUpdate", "personal-chat-id") in kinds
    update = next(a for a in bot.received_activities() if a["type"] == "conversationUpdate")
    assert [m["id"] for m in update["membersAdded"]] == ["user-alex", BOT_ID]
    assert "locale" not in update, "conversationUpdate carries no locale"


async def test_personal_message_activity_shape(ui: PlaygroundPage, bot: Service) -> None:
    """A typed message arrives as Teams would send it: tenant in channelData, aadObjectId, locale en-US."""
    await ui.open_personal_chat()
    await ui.send("shape please")
    await ui.wait_for_text("echo: shape please")
    activity = messages_with(bot, "shape please")[-1]
    assert activity["channelId"] == "msteams"
    assert activity["serviceUrl"] == f"{ui.url}/_connector"
    assert activity["conversation"] == {"id": "personal-chat-id", "conversationType": "personal", "tenantId": TENANT}
    assert activity["channelData"]["tenant"] == {"id": TENANT}
    assert activity["from"] == {**ALEX, "name": "Alex Wilber"}
    assert activity["recipient"] == {"id": BOT_ID, "name": "Blocked Sender Assistant"}
    assert activity["locale"] == "en-US"
    assert activity["textFormat"] == "plain"


async def test_group_chat_reaches_the_bot_only_with_a_mention(ui: PlaygroundPage, bot: Service) -> None:
    """In a group chat an unmentioned message stays among people; a mention delivers it with `<at>` text."""
    await ui.open_group_chat()
    await ui.send("not for the bot", mention_bot=False)
    await ui.send("group hello")
    await ui.wait_for_text("echo: group hello")
    assert not messages_with(bot, "not for the bot")
    activity = messages_with(bot, "group hello")[-1]
    assert activity["text"] == "<at>Blocked Sender Assistant</at> group hello"
    assert activity["conversation"] == {"id": "group-chat-id", "conversationType": "groupChat", "isGroup": True,
                                        "tenantId": TENANT}
    mention = next(e for e in activity["entities"] if e["type"] == "mention")
    assert mention["mentioned"]["id"] == BOT_ID
    await ui.screenshot("playground-group-chat")


async def test_channel_post_is_its_own_conversation(ui: PlaygroundPage, bot: Service) -> None:
    """A channel post starts a thread `<channel id>;messageid=<id>`; the reply and a card work inside it."""
    await ui.open_channel("My Team", "Security")
    await ui.send("card")
    card = await ui.wait_for_card("Echo card")
    activity = messages_with(bot, "card")[-1]
    assert activity["conversation"]["id"].startswith("channel-security-id;messageid=")
    assert activity["conversation"]["conversationType"] == "channel"
    assert activity["channelData"]["channel"] == {"id": "channel-security-id"}
    assert activity["channelData"]["team"] == {"id": "team-id"}
    result = await ui.click_card_button(card, "Press me")
    assert result.is_card
    assert (await ui.card_texts(card))[0] == "Card pressed 1 times"
    await ui.screenshot("playground-channel")


async def test_proactive_message_and_update_show_in_the_chat(ui: PlaygroundPage) -> None:
    """A message the bot posts later, outside the turn, appears; an updated message (PUT) changes in place."""
    await ui.open_personal_chat()
    await ui.send("proactive")
    await ui.wait_for_text("proactive hello")
    await ui.send("update")
    await ui.wait_for_text("after update")
    assert await ui.pane.get_by_text("before update").count() == 0


async def test_new_channel_thread_from_the_bot_shows_up(ui: PlaygroundPage) -> None:
    """`POST /v3/conversations` into a channel (the IT alert) makes a new post there, seen when one looks."""
    await ui.open_personal_chat()
    await ui.send("alert channel-security-id")
    await ui.wait_for_text("alert scheduled")
    await ui.page.wait_for_timeout(1500)  # the bot posts one second later, while the personal chat is open
    await ui.open_channel("My Team", "Security")
    post = await ui.wait_for_text("alert for channel-security-id")
    assert await post.is_visible()


async def test_card_button_error_is_shown_under_the_card(ui: PlaygroundPage) -> None:
    """An error invoke response keeps the card and shows the error's message under it."""
    await ui.open_personal_chat()
    await ui.send("card")
    card = await ui.wait_for_card("Echo card")
    result = await ui.click_card_button(card, "Fail")
    assert not result.is_card
    assert result.value == {"code": "BadRequest", "message": "echo bot refuses"}
    assert await ui.card_notice(card) == "echo bot refuses"
    assert (await ui.card_texts(card))[0] == "Echo card"
    result = await ui.click_card_button(card, "Press me")  # a second press on the same card still works
    assert await ui.card_notice(card) == "Your response was sent to the app"


async def test_custom_activity_speaks_for_another_user_and_locale(ui: PlaygroundPage, bot: Service) -> None:
    """`Mock an Activity > Custom activity` reaches the bot verbatim; the reply shows in the open chat."""
    await ui.open_personal_chat()
    megan = {"id": "user-megan", "name": "Megan Bowen", "aadObjectId": MEGAN["aadObjectId"]}
    await ui.send_custom_activity(ui.personal_message("whoami", locale="nl-NL", user=megan))
    await ui.wait_for_text(f"from: user-megan {MEGAN['aadObjectId']}")
    activity = messages_with(bot, "whoami")[-1]
    assert activity["locale"] == "nl-NL"


async def test_locale_proxy_makes_typed_messages_dutch(bot: Service, tmp_path: Path) -> None:
    """The Playground always says en-US; `start_playground(locale="nl-NL")` puts the rewriting proxy in between."""
    with start_playground(bot.url, PLAYGROUND_CONFIGS["alex"], work_dir=tmp_path / "pg", locale="nl-NL") as pg:
        async with open_playground(pg.url, tmp_path / "chromium") as ui:
            await ui.open_personal_chat()
            await ui.send("locale")
            await ui.wait_for_text("locale: nl-NL")


async def test_another_current_user_needs_its_own_playground(bot: Service, tmp_path: Path) -> None:
    """The current user is fixed by the configuration: Megan is a second Playground (here with her own chat id)."""
    with start_playground(bot.url, PLAYGROUND_CONFIGS["megan"], work_dir=tmp_path / "pg",
                          personal_chat_id="personal-chat-megan") as pg:
        async with open_playground(pg.url, tmp_path / "chromium") as ui:
            assert ui.current_user["id"] == "user-megan"
            await ui.open_personal_chat()
            await ui.send("whoami")
            await ui.wait_for_text(f"from: user-megan {MEGAN['aadObjectId']}")
    activity = messages_with(bot, "whoami")[-1]
    assert activity["conversation"]["id"] == "personal-chat-megan"


async def test_card_button_replaces_the_card(ui: PlaygroundPage, bot: Service) -> None:
    """Pressing an Action.Execute button sends adaptiveCard/action and the answer card replaces the card in place."""
    await ui.open_personal_chat()
    await ui.send("card")
    card = await ui.wait_for_card("Echo card")
    assert await ui.card_texts(card) == ["Echo card", "Pressed 0 times", "Presses", "0", "Note", "Press me", "Fail"]

    await ui.fill_card_input(card, "Note", "looks phished")
    result = await ui.click_card_button(card, "Press me")

    assert result.is_card
    assert await ui.card_notice(card) == "Your response was sent to the app"
    assert (await ui.card_texts(card))[:2] == ["Card pressed 1 times", "Pressed 1 times"]
    assert await ui.cards().count() == 1, "the card is replaced, not added"
    invoke = [a for a in bot.received_activities() if a["type"] == "invoke"][-1]
    assert invoke["name"] == "adaptiveCard/action"
    assert invoke["value"]["action"]["verb"] == "press"
    assert invoke["value"]["action"]["data"] == {"presses": 0, "note": "looks phished"}
    assert invoke["from"]["aadObjectId"] == ui.current_user["aadObjectId"]
    await ui.screenshot("card-replaced")

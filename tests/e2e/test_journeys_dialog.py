"""Journeys of issue 16's forgiving dialog and truthful status, in the Agents Playground against the real bot in
demo mode (one bot for the module, the default Playground: Alex Wilber, security admin):

1. Alex asks "is MeganB@example.com compromised?" and reaches the findings card (no confirmation question: the
   address is exact);
2. Alex types "check Megan", gets the list of the two Megans, and picks Megan Bowen by typing her name (the
   Playground cannot press the list's imBack buttons; in Teams a press sends the same line);
3. Alex types "investigate Grady" (a first name: the bot asks "Investigate Grady Archie …?") and then "help": the
   question is dropped, the bot says so, and the help card comes; "yes" afterwards answers nothing;
4. Lynne Robbins, whose account is not restricted, asks "status" in her own Playground and is told she can send.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.harness import ROOT, PlaygroundPage, Service, open_playground, start_playground

pytestmark = pytest.mark.e2e

SLOW = 45.0  # seconds: an investigation on a loaded machine
LYNNE_CONFIG = ROOT / "playground" / "lynne.m365agentsplayground.yml"
DROPPED = "(I dropped the earlier question.)"


async def test_is_x_compromised_reaches_the_findings(ui: PlaygroundPage) -> None:
    await ui.open_personal_chat()
    await ui.send("is MeganB@example.com compromised?")
    card = await ui.wait_for_card("Megan Bowen", timeout=SLOW)
    await card.filter(has_text="Compromised").wait_for(state="visible", timeout=SLOW * 1000)
    shown = " ".join(await ui.card_texts(card))
    assert "MeganB@example.com" in shown
    # No yes/no question came before it.
    assert await ui.messages().filter(has_text="Investigate Megan Bowen").count() == 0
    await card.evaluate("card => card.scrollIntoView({block: 'start'})")
    await ui.screenshot("dialog-is-compromised")


async def test_a_typed_name_picks_from_the_list(ui: PlaygroundPage) -> None:
    await ui.open_personal_chat()
    await ui.send("check Megan")
    offered = ui.messages().filter(has_text="Megan Lewis (MeganL@example.com)").last
    await offered.wait_for(state="visible", timeout=SLOW * 1000)
    assert "Megan Bowen (MeganB@example.com)" in await offered.inner_text()
    await ui.screenshot("dialog-list-of-matches")
    await ui.send("Megan Bowen")
    card = await ui.wait_for_card("Megan Bowen", timeout=SLOW)
    await card.filter(has_text="Compromised").wait_for(state="visible", timeout=SLOW * 1000)
    assert await ui.messages().filter(has_text="Please pick one of the accounts").count() == 0
    await ui.screenshot("dialog-typed-name-picks")


async def test_help_interrupts_a_pending_question(ui: PlaygroundPage) -> None:
    await ui.open_personal_chat()
    await ui.send("investigate Grady")
    await ui.wait_for_text("Investigate Grady Archie", timeout=SLOW)
    await ui.send("help")
    await ui.wait_for_text(DROPPED, timeout=SLOW)
    await ui.wait_for_card("What I can do for you", timeout=SLOW)
    assert await ui.messages().filter(has_text="Please answer yes or no").count() == 0
    await ui.screenshot("dialog-help-interrupts")


async def test_lynne_who_is_not_restricted_is_told_she_can_send(bot: Service, tmp_path: Path,
                                                                screenshots: Path) -> None:
    with start_playground(bot.url, LYNNE_CONFIG, work_dir=tmp_path / "pg-lynne",
                          personal_chat_id="personal-chat-lynne") as playground:
        async with open_playground(playground.url, tmp_path / "chromium-lynne", screenshots=screenshots) as ui:
            await ui.open_personal_chat()
            await ui.send("status")
            await ui.wait_for_text("You can send mail.", timeout=SLOW)
            assert await ui.messages().filter(has_text="IT is working on it").count() == 0
            assert await ui.messages().filter(has_text="LynneR@example.com").count() >= 1
            await ui.screenshot("lynne-status")

"""Journey of issue 16's triage per row, in the Agents Playground against the real bot in demo mode (the default
Playground user: Alex Wilber, security admin).

Alex types "triage"; every row has "Open", and Adele's (no signs of compromise) also "Unblock", Megan's
(compromised) does not. "Open" on Megan's row shows her findings card in place of the list.
"""

from __future__ import annotations

import re

import pytest

from tests.e2e.harness import PlaygroundPage

pytestmark = pytest.mark.e2e

SLOW = 45.0  # seconds: a triage investigates every restricted account


async def test_triage_opening_a_row(ui: PlaygroundPage) -> None:
    await ui.open_personal_chat()
    await ui.send("triage")
    card = await ui.pin(await ui.wait_for_card("Restricted accounts (", timeout=SLOW * 2))
    await card.get_by_role("button", name="Open", exact=True).first.wait_for(state="visible", timeout=SLOW * 1000)
    shown = " ".join(await ui.card_texts(card))
    names = [n for n in ("Patti Fernandez", "Megan Bowen", "Grady Archie", "Adele Vance") if n in shown]
    order = sorted(names, key=shown.index)
    opens = card.get_by_role("button", name="Open", exact=True)
    assert await opens.count() == len(order)  # one "Open" per row (each account has its case after triage)
    assert await card.get_by_role("button", name="Unblock", exact=True).count() == 1  # Adele's row only
    assert re.search(r"The block lifts by itself on", shown), shown
    await card.evaluate("card => card.scrollIntoView({block: 'start'})")
    await ui.screenshot("triage-rows")

    result = await ui.click_card_button(card, "Open", timeout=SLOW, index=order.index("Megan Bowen"))
    assert result.type == "application/vnd.microsoft.card.adaptive", result
    await card.filter(has_text="MeganB@example.com").wait_for(state="visible", timeout=SLOW * 1000)
    opened = " ".join(await ui.card_texts(card))
    assert "Restricted accounts (" not in opened and "Megan Bowen" in opened
    await card.evaluate("card => card.scrollIntoView({block: 'start'})")
    await ui.screenshot("triage-opening-a-row")

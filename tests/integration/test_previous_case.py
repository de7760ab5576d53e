"""After a restore, a new investigation is a new incident, not an empty page (issue 16): over HTTP, the whole app,
the demo tenant over HTTPS and SQLite.

Alex signs Megan out and unblocks her; the checker sees sending restored and resolves her case. "Investigate Megan" then
opens a NEW case (a finished case is never reopened: each episode keeps its own record), and its card says
"Previous case: resolved at … (unblocked by Alex Wilber)" with "Open previous case", which draws the old case's
card with its whole record. An account's first case has no such line.
"""

from __future__ import annotations

import asyncio
from typing import Any

from store import CaseRecord
from tests.activities import MEGAN, TENANT_ID
from tests.cardschema import lines
from tests.integration.test_card_record import card_in, elements, everything, megan_case
from tests.integration.test_remediation_http import (  # noqa: F401 - `app` is the fixture
    App,
    app,
)

PREVIOUS = "Previous case: resolved at"


def previous_buttons(card: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for a in elements(card) if a.get("type") == "Action.Execute" and a.get("title") == "Open previous case"]


async def restored(bot: App, case: CaseRecord) -> None:
    """Sign Megan out, unblock her anyway (with a reason: whichever steps stay open does not matter here) and wait
    for the checker to resolve her case."""
    card_in((await bot.press("revoke_sessions", {"caseId": case.id}))[1])
    reason = "Megan confirmed by phone; rules checked with her"
    _, body = await bot.press("unblock", {"caseId": case.id, "override": "1", "overrideReason": reason,
                                          "confirm": "1"})
    assert "Unblocked anyway by Alex Wilber" in everything(card_in(body))
    for _ in range(300):
        fresh = await bot.store.cases.get_case(case.id)
        if fresh is not None and fresh.status == "resolved":
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the case was not resolved")


async def new_case_after(bot: App, old: CaseRecord) -> CaseRecord:
    """Alex investigates Megan again; the new case once its snapshot and card are stored."""
    await bot.say("investigate MeganB@example.com")
    for _ in range(400):
        case = await bot.store.cases.get_open_case(TENANT_ID, MEGAN.aad_object_id)
        if (case is not None and case.id != old.id and case.summary.get("snapshot")
                and await bot.store.cases.list_cards(case.id)):
            return case
        await asyncio.sleep(0.05)
    raise AssertionError("no new case was recorded")


async def test_a_new_investigation_after_a_restore_links_the_previous_case(app: App) -> None:  # noqa: F811
    old = await megan_case(app)
    first = card_in((await app.press("show_case", {"caseId": old.id}))[1])
    assert PREVIOUS not in everything(first) and previous_buttons(first) == []  # her first case: no history yet
    await restored(app, old)

    new = await new_case_after(app, old)
    assert new.id != old.id and new.steps == {}
    # The findings card sent in the chat for the new investigation (it replaced its progress card).
    cards = [s.body["attachments"][0]["content"] for s in app.puts("personal-alex") if s.body.get("attachments")]
    posted = [card for card in cards if any(PREVIOUS in line for line in lines(card))]
    assert posted, "the new investigation's card does not mention the previous case"
    line = next(x for x in lines(posted[-1]) if x.startswith(PREVIOUS))
    assert line.endswith("(unblocked by Alex Wilber).")
    [button] = previous_buttons(posted[-1])
    assert button["verb"] == "show_case" and button["data"] == {"verb": "show_case", "caseId": old.id}
    assert button.get("associatedInputs") == "none"

    # Pressing it draws the old case with its record: the restore, who unblocked, the done steps.
    _, body = await app.press(button["verb"], button["data"])
    previous = everything(card_in(body))
    assert "Sending restored at" in previous and "Unblocked anyway by Alex Wilber" in previous
    assert "done by Alex Wilber at" in previous  # the sign-out, with who and when
    # The old case is untouched by the new investigation: still resolved, its steps kept.
    kept = await app.store.cases.get_case(old.id)
    assert kept is not None and kept.status == "resolved" and "unblock:" in kept.steps
    # Every redraw of the new case keeps pointing at it (Refresh included).
    _, body = await app.press("refresh", {"caseId": new.id})
    assert [b["data"]["caseId"] for b in previous_buttons(card_in(body))] == [old.id]

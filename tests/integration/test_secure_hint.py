""""secure X" points at the card above and names exactly what it requires (issue 16): over HTTP, the whole app, the
demo tenant over HTTPS and SQLite.

Megan (compromised in the demo tenant) has several required steps; the hint after "secure MeganB@example.com" names
every one the gate would hold an unblock for, the same list as the card's "Still to do", never only the password
and the sign-out. Once a step is done, the next "secure" no longer names it.
"""

from __future__ import annotations

import asyncio

from tests.cardschema import lines
from tests.integration.test_card_record import card_in, megan_case
from tests.integration.test_remediation_http import (  # noqa: F401 - `app` is the fixture
    App,
    app,
)

HINT = "To secure the account, do the "
STILL_TO_DO = "Still to do: "


async def hint_after(bot: App, text: str) -> str:
    """The hint the bot sends after the findings card for `text`."""
    before = len(bot.recorder.messages())
    await bot.say(text)
    for _ in range(400):
        said = [str(s.body.get("text") or "") for s in bot.recorder.messages()[before:]]
        hints = [line for line in said if line.startswith(HINT)]
        if hints:
            return hints[-1]
        await asyncio.sleep(0.05)
    raise AssertionError("no hint after " + text)


def still_to_do(card: dict[str, object]) -> str:
    return next(line for line in lines(card) if line.startswith(STILL_TO_DO))[len(STILL_TO_DO):].rstrip(".")


async def test_the_secure_hint_names_every_open_required_step_as_the_card_does(app: App) -> None:  # noqa: F811
    case = await megan_case(app)
    hint = (await hint_after(app, "secure MeganB@example.com")).replace("\\", "")  # Markdown escapes
    card = card_in((await app.press("show_case", {"caseId": case.id}))[1])
    listed = still_to_do(card)
    names = listed.split(", ")
    assert len(names) >= 3  # more than the password and the sign-out
    assert hint.endswith(f"{len(names)} steps the card above marks as required before unblocking: {listed}.")
    assert "Sign out everywhere" in names

    # The sign-out done: the next hint names one step fewer, and not that one.
    card_in((await app.press("revoke_sessions", {"caseId": case.id}))[1])
    again = (await hint_after(app, "secure MeganB@example.com")).replace("\\", "")
    rest = [name for name in names if name != "Sign out everywhere"]
    assert again.endswith(f"{len(rest)} steps the card above marks as required before unblocking: "
                          f"{', '.join(rest)}.")

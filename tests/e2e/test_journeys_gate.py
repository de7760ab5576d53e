"""Journeys of issue 16's one truth for the gate and the card as a record, in the Agents Playground against the real
bot in demo mode (one bot and one page for the module: Alex Wilber, security admin). They run in file order:

1. Alex investigates Megan, requires a new password and signs her out: the card still holds the unblock back and
   names every required step that is open (the two hidden rules, the MFA and app consent reviews); "Unblock anyway"
   with a too-short reason is answered right above that button. Alex disables the rules and presses "Done, I
   checked" on both reviews: the gate is gone and the plain Unblock goes through.
2. Once the demo tenant lifts the block (30 s) the card says "Sending restored" without the old "Restricted since"
   header; Refresh keeps the record: the done steps with who and when, and the latest actions.

Button titles and lines are read from the catalogs, so a wording change does not break the journey.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from locales import t
from tests.e2e.harness import PlaygroundPage, Service, open_playground, screenshots_dir

pytestmark = pytest.mark.e2e

SLOW = 45.0  # seconds: an investigation or a card press on a loaded machine
RESTORE_TIMEOUT = 150.0  # the demo tenant's 30 s unblock delay, the 5 s checker, slack for a loaded machine
REVIEWS = ("review_mfa_methods", "review_consents")


def en(key: str, **params: Any) -> str:
    return t("en", key, **params)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def ui(playground: Service, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[PlaygroundPage]:
    """Alex's page, one for the module: the restored card of journey 2 is the card journey 1 pressed (the
    Playground drops its stream when told to update a message it never saw)."""
    work = tmp_path_factory.mktemp("alex-gate")
    async with open_playground(playground.url, work / "chromium",
                               screenshots=screenshots_dir(tmp_path_factory.getbasetemp() / "screenshots")) as page:
        yield page


async def text_of(card: Any) -> str:
    """A card's visible text as one line (inline runs joined as the reader sees them)."""
    return " ".join((await card.inner_text()).split())


async def to_view(card: Any, text: str) -> None:
    """Scroll the card's element that shows `text` to the middle of the screen (the part the screenshot is about)."""
    await card.get_by_text(text, exact=False).first.evaluate(
        "node => node.scrollIntoView({block: 'center'})")


@pytest.mark.asyncio(loop_scope="module")
async def test_the_gate_names_every_open_required_step(ui: PlaygroundPage) -> None:
    await ui.open_personal_chat()
    await ui.send("investigate MeganB@example.com")
    card = await ui.wait_for_card("Megan Bowen", timeout=SLOW)
    await card.filter(has_text="Compromised").wait_for(state="visible", timeout=SLOW * 1000)

    await ui.click_card_button(card, en("button.force_password_change"), timeout=SLOW)
    await ui.click_card_button(card, en("confirm.button.force_password_change"), timeout=SLOW)
    await ui.click_card_button(card, en("button.revoke_sessions"), timeout=SLOW)
    shown = await text_of(card)
    # Password and sign-out are done; the card still calls four steps required, and the gate names each of them.
    still = en("gate.missing", steps=", ".join([
        en("gate.step.disable_rule", rule="."), en("gate.step.disable_rule", rule=".."),
        en("remediation.action.review_mfa_methods"), en("remediation.action.review_consents")]))
    assert still in shown, shown
    assert en("button.unblock") not in await ui.card_texts(card)

    # "Unblock anyway" with a reason that says nothing: the answer is right above the button.
    await ui.fill_card_input(card, en("gate.label"), "ok")
    await ui.click_card_button(card, en("gate.button"), timeout=SLOW)
    texts = await ui.card_texts(card)
    answers = [i for i, x in enumerate(texts) if x.startswith("The reason is too short")]
    assert answers, " | ".join(texts)
    answer = answers[0]
    button = texts.index(en("gate.button"))
    # Between the reason's input and the button: only the answer (its sentence is drawn as a few runs).
    assert texts.index(en("gate.label")) < answer < button, texts[answer - 2:button + 1]
    assert texts[button - 1].endswith("audit log."), texts[answer:button + 1]
    assert still in await text_of(card)
    await to_view(card, "The reason is too short")
    await ui.screenshot("gate-names-open-steps")

    # The reviews are done in Microsoft's portals: "Done, I checked" ticks them off (audited, no tenant call).
    for rule in (".", ".."):
        await ui.click_card_button(card, en("button.disable_rule", rule=rule), timeout=SLOW)
    for review in REVIEWS:
        await ui.click_card_button(card, en(f"button.{review}"), timeout=SLOW, index=0)
    shown = await text_of(card)
    assert "MFA methods checked by Alex Wilber" in shown and "App consents checked by Alex Wilber" in shown
    assert en("gate.button") not in await ui.card_texts(card) and "required before unblocking" not in shown
    await to_view(card, en("remediation.action.review_mfa_methods").split(" ")[0])
    await ui.screenshot("gate-acknowledged")

    await ui.click_card_button(card, en("button.unblock"), timeout=SLOW)
    await ui.click_card_button(card, en("confirm.button.unblock"), timeout=SLOW)
    assert "Unblocked by Alex Wilber" in await text_of(card)


@pytest.mark.asyncio(loop_scope="module")
async def test_refresh_after_the_restore_keeps_the_record(ui: PlaygroundPage) -> None:
    restored = await ui.wait_for_card("Sending restored at", timeout=RESTORE_TIMEOUT)
    shown = await text_of(restored)
    assert "Restricted from sending mail since" not in shown, shown

    await ui.click_card_button(restored, en("button.refresh"), timeout=SLOW)
    await restored.filter(has_text=en("latest.title")).wait_for(state="visible", timeout=SLOW * 1000)
    shown = await text_of(restored)
    assert "Sending restored at" in shown and "Restricted from sending mail since" not in shown, shown
    # The record: done steps with who and when, and the latest actions.
    assert shown.count("done by Alex Wilber") >= 4, shown
    assert "required before unblocking" not in shown
    assert "Unblocked by Alex Wilber" in shown and "Sending restored, confirmed" in shown
    await restored.evaluate("card => card.scrollIntoView({block: 'start'})")
    await ui.screenshot("refresh-after-restore")
    await to_view(restored, en("latest.title"))
    await ui.screenshot("refresh-after-restore-record")

"""Journeys of issue 16's one truth for the gate and the card as a record, in the Agents Playground against the real
bot in demo mode (one bot and one page for the module: Alex Wilber, security admin). They run in file order:

1. Alex investigates Megan, requires a new password and signs her out (each the card's "Next step"): the card
   still holds the unblock back, and its gate, in the step list behind "Show all steps (N)", names every required
   step that is open (the three rules, one hidden from Graph, the outsider's two mailbox grants, the sign-in method
   the intruder registered, the unverified app's consent); "Unblock anyway" with a too-short reason is answered right
   above that button. Alex presses each next step (the removals ask first) until the gate is gone; the plain Unblock
   goes through.
2. Once the demo tenant lifts the block (30 s) the card says "Sending restored" without the old "Restricted since"
   header; Refresh keeps the record: the done steps with who and when (the step list folds again after a
   Refresh), and the latest actions.

Button titles and lines are read from the catalogs (or from the card the bot answered), so a wording change does not
break the journey.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from tests.e2e.harness import PlaygroundPage, Service, open_playground, screenshots_dir
from tests.e2e.steps import en, finish_required_steps, gated, press, show_all_steps

pytestmark = pytest.mark.e2e

SLOW = 45.0  # seconds: an investigation or a card press on a loaded machine
RESTORE_TIMEOUT = 150.0  # the demo tenant's 30 s unblock delay, the 5 s checker, slack for a loaded machine
JORDAN = "jordan_partner.example#EXT#@example.onmicrosoft.com"  # the outsider of the seed with access to the mailbox
# Megan's required steps once the password and the sign-out are done, as the gate names them (card order), and the
# verbs that do them (demo_tenant/seeds/contoso.json: the rules "." and "..", "Mailbox Sync" hidden from Outlook and
# Graph (disabled through Exchange), the outsider's two grants, the method registered from the intruder's address, the
# unverified app's consent).
STILL_REQUIRED = (
    en("gate.step.disable_rule", rule="."), en("gate.step.disable_rule", rule="Mailbox Sync"),
    en("gate.step.disable_rule", rule=".."),
    en("gate.step.remove_delegation", delegate=f"{JORDAN} ({en('access.fullaccess')})"),
    en("gate.step.remove_delegation", delegate=f"{JORDAN} ({en('access.sendas')})"),
    en("gate.step.remove_mfa_method", method="SM-A515F"),
    en("gate.step.revoke_consent", app="Mail Sync Pro"),
)
STILL_REQUIRED_VERBS = ("disable_rule", "disable_rule", "disable_rule", "remove_delegation", "remove_delegation",
                        "remove_mfa_method", "revoke_consent")


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

    # The first screen offers the next required step only; the others are folded.
    assert en("steps.next") in await ui.card_texts(card)
    await press(ui, card, en("button.force_password_change"), SLOW)
    answer = await press(ui, card, en("button.revoke_sessions"), SLOW)
    # Password and sign-out are done; the card still calls the other steps required, and the gate (in the step
    # list, opened here) names each of them.
    await show_all_steps(ui, card)
    shown = await text_of(card)
    still = en("gate.missing", steps=", ".join(STILL_REQUIRED))
    assert still in shown, shown
    assert gated(answer.value)
    assert en("button.unblock") not in await ui.card_texts(card)

    # "Unblock anyway" with a reason that says nothing: the answer is right above the button (the step list is
    # drawn open for it).
    await ui.fill_card_input(card, en("gate.label"), "ok")
    refused = await ui.click_card_button(card, en("gate.button"), timeout=SLOW)
    texts = await ui.card_texts(card)
    answers = [i for i, x in enumerate(texts) if x.startswith("The reason is too short")]
    assert answers, " | ".join(texts)
    answer_at = answers[0]
    button = texts.index(en("gate.button"))
    # Between the reason's input and the button: only the answer (its sentence is drawn as a few runs).
    assert texts.index(en("gate.label")) < answer_at < button, texts[answer_at - 2:button + 1]
    assert texts[button - 1].endswith("audit log."), texts[answer_at:button + 1]
    assert still in await text_of(card)
    await to_view(card, "The reason is too short")
    await ui.screenshot("gate-names-open-steps")

    # The rest of the required steps, each from the card's "Next step" (removals ask first): the rules, the
    # outsider's mailbox access, the intruder's sign-in method, the app's consent. Then the gate is gone.
    pressed, answer = await finish_required_steps(ui, card, refused, SLOW)
    assert sorted(pressed) == sorted(STILL_REQUIRED_VERBS), pressed
    await show_all_steps(ui, card)
    shown = await text_of(card)
    assert en("gate.button") not in await ui.card_texts(card) and en("step.required").strip(" —") not in shown
    assert shown.count("done by Alex Wilber") >= len(pressed) + 2, shown  # and the password and the sign-out
    await to_view(card, "Mail Sync Pro")
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
    # The record: done steps with who and when (in the step list, folded after a Refresh), and the latest actions.
    # A Refresh investigates again: what was removed (the grants, the method, the consent) is no step any more, so
    # it is listed under "Done earlier" with who and when, and its removal is among the latest actions.
    assert "done by Alex Wilber" not in shown, shown
    await show_all_steps(ui, restored)
    shown = await text_of(restored)
    assert en("steps.done_earlier") in shown, shown
    # Every step Alex did, once: the new password, the sign-out and each of the required steps he pressed.
    assert shown.count("done by Alex Wilber") >= len(STILL_REQUIRED_VERBS) + 2, shown
    assert en("step.required").strip(" —") not in shown
    assert "Unblocked by Alex Wilber" in shown and "Sending restored, confirmed" in shown
    for removed in (en("note.consent_revoked", app="Mail Sync Pro", actor="Alex Wilber", time=""),
                    en("note.mfa_method_removed", method="SM-A515F", actor="Alex Wilber", time=""),
                    en("note.delegation_removed", actor="Alex Wilber", time="")):
        assert removed.removesuffix(" at ") in shown, (removed, shown)
    await restored.evaluate("card => card.scrollIntoView({block: 'start'})")
    await ui.screenshot("refresh-after-restore")
    await to_view(restored, en("latest.title"))
    await ui.screenshot("refresh-after-restore-record")

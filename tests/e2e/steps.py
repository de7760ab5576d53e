"""Walking a findings card's required steps in the Playground, as an admin does: press the "Next step" button,
confirm when the bot asks, and again, until nothing holds the unblock back.

The findings card is compact (cards/findings.py): its first screen offers only the next required step's button,
and the other steps sit in the folded "Show all steps (N)" part. What to press next is read from the card JSON the
bot answered the last press with (`InvokeResult.value`): the buttons under the "Next step" heading, and on a
confirmation card the button that carries `confirm: "1"`. The titles come from the bot, so a new required step
(another rule, another app) is walked too; the journeys assert which verbs were pressed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from locales import t
from tests.e2e.harness import InvokeResult, PlaygroundPage, catalog_title

MAX_STEPS = 20  # more presses than a card has required steps means the card no longer advances


def en(key: str, **params: Any) -> str:
    """The English catalog's text for `key` (the Playground always sends en-US)."""
    return t("en", key, **params)


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def executes(card: Any) -> list[dict[str, Any]]:
    """Every `Action.Execute` of a card JSON, in card order."""
    return [node for node in _walk(card) if node.get("type") == "Action.Execute"]


def verb_of(action: dict[str, Any]) -> str:
    """The verb a button sends (the bot routes by it)."""
    return str(action.get("verb") or (action.get("data") or {}).get("verb") or "")


def next_step_actions(card: Any) -> list[dict[str, Any]]:
    """The buttons of the card's "Next step" section (the step's own button first), or [] when there is none."""
    for node in _walk(card):
        items = node.get("items") if node.get("type") != "ActionSet" else None
        body = items if isinstance(items, list) else node.get("body") if isinstance(node.get("body"), list) else None
        if body is None:
            continue
        for index, element in enumerate(body):
            if element.get("type") == "TextBlock" and element.get("text") == en("steps.next"):
                for later in body[index + 1:]:
                    if later.get("type") == "ActionSet":
                        return [a for a in later.get("actions", []) if a.get("type") == "Action.Execute"]
                return []
    return []


def gated(card: Any) -> bool:
    """The card still holds the unblock back: it offers "Unblock anyway" (required steps are open)."""
    return any(action.get("title") == en("gate.button") for action in executes(card))


def confirm_action(card: Any) -> dict[str, Any] | None:
    """A confirmation card's "Yes, …" button (its data says `confirm: "1"`), else None."""
    return next((a for a in executes(card) if (a.get("data") or {}).get("confirm") == "1"), None)


async def press(ui: PlaygroundPage, card: Any, title: str, timeout: float) -> InvokeResult:  # noqa: ASYNC109
    """Press the first button titled `title` (the next step's, which comes before the folded list's) and, when the
    bot asks first, its confirmation; returns the last answer (a card)."""
    result = await ui.click_card_button(card, title, timeout=timeout, index=0)
    assert result.is_card, result
    confirm = confirm_action(result.value)
    if confirm is not None:
        assert en("confirm.title") in await ui.card_texts(card)
        result = await ui.click_card_button(card, str(confirm["title"]), timeout=timeout)
        assert result.is_card, result
    return result


async def finish_required_steps(ui: PlaygroundPage, card: Any, answer: InvokeResult,
                                timeout: float) -> tuple[list[str], InvokeResult]:  # noqa: ASYNC109
    """Press each next required step (confirming when asked) until the card no longer holds the unblock back.

    `answer` is the bot's last answer for `card` (its JSON says what comes next). Returns the verbs pressed, in
    order, and the last answer.
    """
    pressed: list[str] = []
    while gated(answer.value):
        assert len(pressed) < MAX_STEPS, f"still gated after {pressed}"
        actions = next_step_actions(answer.value)
        assert actions, f"gated, but no next step on the card after {pressed}"
        step = actions[0]
        answer = await press(ui, card, str(step["title"]), timeout)
        pressed.append(verb_of(step))
    return pressed, answer


async def show_all_steps(ui: PlaygroundPage, card: Any) -> None:
    """Open the card's folded step list ("Show all steps (N)"); nothing happens when it is open already."""
    await ui.expand(card, catalog_title("toggle.steps"))

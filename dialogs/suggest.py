""""Did you mean …?": directory accounts whose name is a few typing mistakes away from what was typed.

Nothing leaves the tenant: the candidates are the tenant's own user search results (`Tenant.find_users`, the same
directory search the investigate dialog already makes), for the first two letters of each of the first two words
typed. Graph's `$search` on `displayName` matches word prefixes, so "Megn Bowen" is compared with everyone whose
first or last name starts with "Me" or "Bo". A typo in the first two letters of every word is not found; that is
the price of a bounded cost: at most `MAX_PROBES` searches of at most `PROBE_TOP` accounts each, and every
comparison is on strings capped at `MAX_COMPARED` characters.

The distance is the optimal string alignment distance (Levenshtein plus swapping two neighbours, the commonest
typing mistake), on lower-cased display names, their words, and the local part of the user principal name.
"""

from __future__ import annotations

import asyncio
import logging
import re
import unicodedata

from m365.errors import M365Error
from m365.protocol import Tenant
from m365.records import User

log = logging.getLogger(__name__)

MAX_PROBES = 2
PROBE_TOP = 25
MAX_SUGGESTIONS = 3
MAX_COMPARED = 64
_WORD = re.compile(r"[^\W\d_]+")


def distance(a: str, b: str, *, limit: int = 3) -> int:
    """Optimal string alignment distance of `a` and `b`; `limit + 1` as soon as it must exceed `limit`."""
    a, b = a[:MAX_COMPARED], b[:MAX_COMPARED]
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i] + [0] * len(b)
        for j, char_b in enumerate(b, start=1):
            cost = 0 if char_a == char_b else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and char_a == b[j - 2] and a[i - 2] == char_b:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return min(previous[-1], limit + 1)


def allowed_mistakes(text: str) -> int:
    """How many typing mistakes a typed name of this length may have and still be suggested."""
    if len(text) <= 4:
        return 1
    return 2 if len(text) <= 10 else 3


def _fold(text: str) -> str:
    """Lower case without accents ("Siciliani" matches "siciliàni"), whitespace collapsed."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return " ".join("".join(ch for ch in decomposed if not unicodedata.combining(ch)).split())


def mistakes(query: str, user: User) -> int:
    """The fewest typing mistakes between `query` and the account's display name, a word of it or its alias."""
    typed = _fold(query)
    local = typed.split("@", 1)[0]
    name = _fold(user.display_name)
    alias = _fold(user.user_principal_name.split("@", 1)[0])
    nickname = _fold(user.mail_nickname or "")
    limit = allowed_mistakes(local)
    targets = {name, alias, nickname} - {""}
    if " " not in local:
        # One word typed: a first or last name, or an alias.
        targets |= set(name.split())
    return min((distance(local, target, limit=limit) for target in targets), default=limit + 1)


def probes(query: str) -> list[str]:
    """The directory searches that find the candidates: two-letter prefixes of the first words typed."""
    local = query.split("@", 1)[0]
    found: list[str] = []
    for word in _WORD.findall(local):
        prefix = word[:2]
        if len(prefix) == 2 and prefix.casefold() not in (p.casefold() for p in found):
            found.append(prefix)
        if len(found) == MAX_PROBES:
            break
    return found


async def near_misses(tenant: Tenant, query: str) -> tuple[User, ...]:
    """Accounts whose name is within a few typing mistakes of `query`, closest first (at most three).

    A directory failure gives no suggestions (the caller already says the account was not found)."""
    searches = probes(query)
    if not searches:
        return ()
    try:
        results = await asyncio.gather(*(tenant.find_users(probe, top=PROBE_TOP) for probe in searches))
    except M365Error as exc:
        log.info("no suggestions: directory search failed (%s)", type(exc).__name__)
        return ()
    seen: dict[str, tuple[int, User]] = {}
    for users in results:
        for user in users:
            if not user.id or user.id in seen:
                continue
            score = mistakes(query, user)
            if score <= allowed_mistakes(_fold(query).split("@", 1)[0]):
                seen[user.id] = (score, user)
    ranked = sorted(seen.values(), key=lambda pair: (pair[0], _fold(pair[1].display_name)))
    return tuple(user for _, user in ranked[:MAX_SUGGESTIONS])

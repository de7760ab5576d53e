"""Settling which account someone means: a UPN, a mail address, an alias or (part of) a display name."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from m365.protocol import Tenant
from m365.records import User

MAX_QUERY = 256
MAX_CHOICES = 10
# Deliberately loose: Exchange allows apostrophes, plus signs and more in the local part. Anything with
# an "@" that fails this is reported as malformed rather than searched for.
_ADDRESS = re.compile(r"^[^\s@<>()\[\],;:\"]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)+$")
_MAILTO = re.compile(r"^<?(?:mailto:)?([^<>]+?)>?$", re.IGNORECASE)


class Outcome(StrEnum):
    """How a lookup ended."""

    found = "found"
    many = "many"
    none = "none"
    invalid = "invalid"


@dataclass(frozen=True)
class Resolution:
    """The result of resolving free text to accounts; `problem` names why the text was refused."""

    outcome: Outcome
    query: str
    users: tuple[User, ...] = ()
    problem: str = ""

    @property
    def user(self) -> User:
        """The one account found (only for `Outcome.found`)."""
        if self.outcome != Outcome.found:
            raise ValueError("no single account was found")
        return self.users[0]


def normalise_query(text: str) -> str:
    """Strip mailto:, angle brackets, quotes, invisible characters and surrounding punctuation."""
    value = unicodedata.normalize("NFKC", text)
    value = "".join(ch for ch in value if unicodedata.category(ch) not in ("Cf", "Cc"))
    value = value.strip().strip("\"'`“”‘’").strip().rstrip("?!.,;")
    match = _MAILTO.match(value)
    if match:
        value = match.group(1).strip()
    # Trimming punctuation can uncover whitespace ("> ." → "> "): strip once more at the end.
    return re.sub(r"\s+", " ", value).strip()


def check_query(query: str) -> str:
    """Why `query` cannot be looked up (`empty`, `too_long`, `malformed_address`), or "" when it can."""
    if not query:
        return "empty"
    if len(query) > MAX_QUERY:
        return "too_long"
    if "@" in query and not _ADDRESS.match(query):
        return "malformed_address"
    return ""


async def resolve_account(tenant: Tenant, text: str) -> Resolution:
    """Look `text` up in the tenant: exact address/alias matches win over display-name matches."""
    query = normalise_query(text)
    problem = check_query(query)
    if problem:
        return Resolution(Outcome.invalid, query, problem=problem)
    users = await tenant.find_users(query, top=MAX_CHOICES + 1)
    exact = tuple(u for u in users if _exact(u, query))
    if len(exact) == 1:
        return Resolution(Outcome.found, query, exact)
    if not users:
        return Resolution(Outcome.none, query)
    if len(users) == 1:
        return Resolution(Outcome.found, query, users)
    return Resolution(Outcome.many, query, tuple(users[:MAX_CHOICES]))


async def account_sending_as(tenant: Tenant, address: str) -> User | None:
    """The directory account that sends as `address` (its UPN, mail or a proxy address), or None: how a
    restriction (which names only the address) finds its account."""
    wanted = address.lower()
    for user in await tenant.find_users(address, top=5):
        addresses = {user.user_principal_name.lower(), (user.mail or "").lower()}
        addresses |= {p.split(":", 1)[1].lower() for p in user.proxy_addresses if ":" in p}
        if wanted in addresses:
            return user
    return None


def _exact(user: User, query: str) -> bool:
    key = query.lower()
    candidates = {user.user_principal_name.lower(), (user.mail or "").lower(), (user.mail_nickname or "").lower(),
                  user.display_name.lower()}
    candidates.update(p.split(":", 1)[-1].lower() for p in user.proxy_addresses)
    return key in candidates

"""Which non-delivery report (NDR) a pasted bounce is: its enhanced status code and what it means.

Exchange Online's NDR codes and texts come from Microsoft's NDR reference ("Email non-delivery reports and SMTP
errors in Exchange Online"), the Restricted entities page and "Troubleshoot outbound sending limits"; every
shape read here is a fixture under `tests/fixtures/microsoft/ndr/` that names its source. The SMTP response
in an NDR stays English in every language (the NDR reference says so); only the user part is translated, so
the Dutch texts below are Microsoft's Dutch documentation of those parts.

A code in the text decides (`550 5.1.8 …`); without one, the wording does. `read_ndr` never raises and is
linear in the length of the text (20,000 characters at most, like `dialogs.intents`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

MAX_TEXT = 20_000


class NdrKind(StrEnum):
    """What stopped the message, as far as the sender's own account goes."""

    # 5.1.8: the account is on Restricted entities (outbound spam or a limit); an admin can unblock it.
    restricted_sender = "restricted_sender"
    # 5.1.90: the mailbox's recipient rate limit; lifts itself when the 24-hour count drops.
    recipient_rate_limit = "recipient_rate_limit"
    # 5.2.2 / 5.2.0 submission quota: the recipient or message rate limit.
    submission_quota = "submission_quota"
    # 5.7.501: banned for spam abuse; only Microsoft support restores it.
    spam_abuse = "spam_abuse"
    # 5.7.502, 5.7.503: banned sender; only Microsoft support restores it.
    banned_sender = "banned_sender"
    # 5.7.705: the whole tenant sent too much spam.
    tenant_threshold = "tenant_threshold"
    # 5.7.708: traffic from the tenant's sending IP is not accepted.
    ip_not_accepted = "ip_not_accepted"
    # 5.7.750: too much mail from domains the tenant has not registered.
    unregistered_domain = "unregistered_domain"
    # 5.7.232 (trial) / 5.7.233: the tenant's external recipient rate limit (TERRL), tenant-wide.
    tenant_external_limit = "tenant_external_limit"


@dataclass(frozen=True)
class NdrReading:
    """The code of a bounce and its kind.

    `stated` is True when the code was in the text; otherwise it is the one code Microsoft's NDR reference gives
    that wording, or None when the wording belongs to several codes ("Access denied, banned sender").
    """

    code: str | None
    kind: NdrKind
    stated: bool = True


_CODES: dict[str, NdrKind] = {
    "5.1.8": NdrKind.restricted_sender,
    "5.1.90": NdrKind.recipient_rate_limit,
    "5.2.2": NdrKind.submission_quota,
    "5.7.501": NdrKind.spam_abuse,
    "5.7.502": NdrKind.banned_sender,
    "5.7.503": NdrKind.banned_sender,
    "5.7.705": NdrKind.tenant_threshold,
    "5.7.708": NdrKind.ip_not_accepted,
    "5.7.750": NdrKind.unregistered_domain,
    "5.7.232": NdrKind.tenant_external_limit,
    "5.7.233": NdrKind.tenant_external_limit,
}
# The code each wording belongs to, where only one code carries it.
_WORDING_CODES: dict[NdrKind, str] = {
    NdrKind.restricted_sender: "5.1.8",
    NdrKind.recipient_rate_limit: "5.1.90",
    NdrKind.spam_abuse: "5.7.501",
    NdrKind.tenant_threshold: "5.7.705",
    NdrKind.ip_not_accepted: "5.7.708",
    NdrKind.unregistered_domain: "5.7.750",
}
_TRIAL = re.compile(r"\btrial\s+tenant\b", re.IGNORECASE)
# 5.2.0 is a generic submission failure; it names the submission quota only together with its words.
_QUOTA_ONLY_CODES = frozenset({"5.2.0"})
# An enhanced status code on its own: not part of a longer number or version ("15.1.8", "5.1.80").
_CODE = re.compile(r"(?:\b(?P<reply>5\d\d)[\s-]+)?(?<![\d.])(?P<code>5\.\d{1,3}\.\d{1,3})(?![\d]|\.\d)")
# Codes that look like version numbers count only after the SMTP reply code ("550 5.2.2").
_NEEDS_REPLY = frozenset({"5.2.2"})

# The wording, English and Dutch, most specific first. Each phrase is Microsoft's (see the fixtures).
_WORDS: tuple[tuple[re.Pattern[str], NdrKind], ...] = tuple((re.compile(p, re.IGNORECASE), k) for p, k in (
    (r"tenant\s+external\s+recipient\s+rate\s+limit"
     r"|tenant\s+(?:has\s+)?exceeded\s+its\s+daily\s+limit\s+for\s+sending\s+email\s+to\s+external",
     NdrKind.tenant_external_limit),
    (r"tenant\s+has\s+exceeded\s+threshold", NdrKind.tenant_threshold),
    (r"traffic\s+not\s+accepted\s+from\s+this\s+ip", NdrKind.ip_not_accepted),
    (r"sending\s+from\s+unregistered\s+domain", NdrKind.unregistered_domain),
    (r"spam\s+abuse\s+detected", NdrKind.spam_abuse),
    (r"submission\s*quota(?:\s+was)?\s*exceeded", NdrKind.submission_quota),
    (r"reached\s+your\s+daily\s+limit\s+for\s+message\s+recipients"
     r"|dagelijkse\s+limiet\s+voor\s+geadresseerden", NdrKind.recipient_rate_limit),
    (r"bad\s+outbound\s+sender"
     r"|(?:weren't|were\s+not)\s+recognized\s+as\s+a\s+valid\s+sender"
     r"|(?:slechte|ongeldige)\s+uitgaande\s+afzender"
     r"|niet\s+als\s+(?:een\s+)?geldige\s+afzender\s+(?:bent\s+)?herkend"
     r"|niet\s+bent\s+herkend\s+als\s+(?:een\s+)?geldige\s+afzender", NdrKind.restricted_sender),
    (r"access\s+denied,\s+banned\s+sender", NdrKind.banned_sender),
))


def read_ndr(text: str | None) -> NdrReading | None:
    """The first known Exchange Online code in `text`, else the kind its wording names; None when neither."""
    if not text:
        return None
    value = text[:MAX_TEXT]
    quota_code: str | None = None
    for match in _CODE.finditer(value):
        code = match.group("code")
        if code in _QUOTA_ONLY_CODES:
            # Only ever read together with the quota's own words, so no reply code is needed.
            quota_code = quota_code or code
            continue
        if code in _NEEDS_REPLY and match.group("reply") is None:
            continue
        kind = _CODES.get(code)
        if kind is not None:
            return NdrReading(code, kind)
    for pattern, kind in _WORDS:
        if not pattern.search(value):
            continue
        if kind == NdrKind.submission_quota and quota_code is not None:
            return NdrReading(quota_code, kind)
        if kind == NdrKind.tenant_external_limit:
            return NdrReading("5.7.232" if _TRIAL.search(value) else "5.7.233", kind, stated=False)
        return NdrReading(_WORDING_CODES.get(kind), kind, stated=False)
    return None

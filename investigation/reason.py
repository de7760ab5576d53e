"""Parse the `Reason` text of a Restricted entities entry (`Get-BlockedSenderAddress`).

Microsoft's cmdlet reference does not describe the text; the shapes below are the ones Microsoft's support
documentation and well-known admin tooling show, each kept as a fixture with its source under
`tests/fixtures/microsoft/exchange/`:

- ``OutboundSpamLast24Hours=242;OutboundMailLast24Hours=251;OutboundSpamPercent=96;Last Spam Message
  MessagetraceId:2e24d2c8-0b5a-4f44-9d2f-08dcf1a2b3c4`` — the outbound spam filter restricted the sender.
- ``EmailSendingLimitExceeded;InternalRecipientCountToday=12;ExternalRecipientCountToday=1250;
  ExceedingLimitType=External;Last MessagetraceId=…;LastMessageRcptCount=50;`` — a recipient limit (the
  service's recipient rate limit or an outbound spam policy's limits); `ExceedingLimitType` says which one was
  crossed (Microsoft documents `Internal` and `External`).
- ``Compromised`` — a bare flag.

The tenant-wide external recipient limit (TERRL) puts nobody on Restricted entities: it bounces every external
message of the tenant with NDR 5.7.233 (see `dialogs.ndr`), so no `Reason` shape of its own exists for it.

So the parser reads `;`- (or `|`/newline-) separated tokens, each ``Key=Value``, ``Key:Value`` or a bare flag,
matches keys case- and punctuation-insensitively, and ignores what it does not know. Older shapes of our own
(``ExternalRecipientCount=…;Limit=RecipientRateLimit``) still parse. It never raises: the text comes from
outside and the card must render whatever it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

# Enough for any real reason; bounds the work on pathological input.
MAX_REASON_CHARS = 4096
# Counts beyond 12 digits are garbage, and int() refuses very long digit strings anyway.
_NUMBER = re.compile(r"(?<![\d.])(\d{1,3}(?:,\d{3}){1,4}|\d{1,12})(?![\d,])")
_TRACE_ID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
_SEPARATORS = re.compile(r"[;|\r\n]+")
_KEY_CHARS = re.compile(r"[^a-z0-9]")


class LimitType(StrEnum):
    """What tripped the restriction."""

    outbound_spam = "outbound_spam"
    external_recipient_limit = "external_recipient_limit"
    internal_recipient_limit = "internal_recipient_limit"
    recipient_rate_limit = "recipient_rate_limit"
    compromised = "compromised"
    unknown = "unknown"


class ExceedingLimit(StrEnum):
    """`ExceedingLimitType` of an `EmailSendingLimitExceeded` reason: which recipient count crossed its limit."""

    internal = "internal"
    external = "external"
    # A value Microsoft has not documented; the card still shows the counts.
    other = "other"


@dataclass(frozen=True)
class RestrictionReason:
    """The numbers and the kind of limit in a restriction's `Reason`; None where the text does not say."""

    limit_type: LimitType
    internal_recipients: int | None = None
    external_recipients: int | None = None
    spam_last_24h: int | None = None
    mail_last_24h: int | None = None
    spam_percent: int | None = None
    message_trace_id: str | None = None
    raw: str = ""
    # True when the text calls the sender compromised, whatever limit it also names.
    compromised_flag: bool = False
    exceeding_limit: ExceedingLimit | None = None
    # Recipients of the last message before the block (`LastMessageRcptCount`).
    last_message_recipients: int | None = None

    @property
    def effective_spam_percent(self) -> int | None:
        """`spam_percent`, else computed from the two 24-hour counts when both are known."""
        if self.spam_percent is not None:
            return self.spam_percent
        if self.spam_last_24h is not None and self.mail_last_24h:
            return min(100, round(100 * self.spam_last_24h / self.mail_last_24h))
        return None

    @property
    def recipients(self) -> int | None:
        """Internal plus external recipients when either is known."""
        if self.internal_recipients is None and self.external_recipients is None:
            return None
        return (self.internal_recipients or 0) + (self.external_recipients or 0)


def _key(text: str) -> str:
    return _KEY_CHARS.sub("", text.lower())


def _number(text: str) -> int | None:
    match = _NUMBER.search(text)
    if match is None:
        return None
    return int(match.group(1).replace(",", ""))


# Bare flags and `Limit=` values, normalized by `_key`, checked by substring. Order matters: specific first.
_FLAG_TYPES: tuple[tuple[str, LimitType], ...] = (
    ("externalrecipient", LimitType.external_recipient_limit),
    ("internalrecipient", LimitType.internal_recipient_limit),
    ("recipientrate", LimitType.recipient_rate_limit),
    ("recipientlimit", LimitType.recipient_rate_limit),
    ("messagerate", LimitType.recipient_rate_limit),
    ("emailsendinglimit", LimitType.recipient_rate_limit),
    ("sendinglimit", LimitType.recipient_rate_limit),
    ("outboundspam", LimitType.outbound_spam),
    ("compromised", LimitType.compromised),
)
_INTERNAL_KEYS = frozenset({"internalrecipientcounttoday", "internalrecipientcount", "internalrecipients"})
_EXTERNAL_KEYS = frozenset({"externalrecipientcounttoday", "externalrecipientcount", "externalrecipients"})
_LAST_RCPT_KEYS = frozenset({"lastmessagercptcount", "lastmessagerecipientcount"})
_EXCEEDING: dict[str, tuple[ExceedingLimit, LimitType]] = {
    "internal": (ExceedingLimit.internal, LimitType.internal_recipient_limit),
    "external": (ExceedingLimit.external, LimitType.external_recipient_limit),
}


def _flag_type(key: str) -> LimitType | None:
    for needle, limit in _FLAG_TYPES:
        if needle in key:
            return limit
    return None


def parse_reason(reason: object) -> RestrictionReason:
    """Parse a `BlockedSender.reason`. Unknown, empty or garbage text gives `LimitType.unknown`; never raises."""
    text = reason[:MAX_REASON_CHARS] if isinstance(reason, str) else ""
    internal: int | None = None
    external: int | None = None
    spam: int | None = None
    mail: int | None = None
    percent: int | None = None
    trace_id: str | None = None
    last_rcpt: int | None = None
    exceeding: ExceedingLimit | None = None
    exceeding_limit_type: LimitType | None = None
    flag_limit: LimitType | None = None
    value_limit: LimitType | None = None
    compromised = False
    # The spam filter's keys name the limit even when their values are unreadable.
    spam_keys = False

    for token in _SEPARATORS.split(text):
        token = token.strip()
        if not token:
            continue
        # `Key=Value` wins over `Key:Value`: a value may itself contain a colon, a key never has `=`.
        sep = "=" if "=" in token else (":" if ":" in token else "")
        if not sep:
            flag = _flag_type(_key(token))
            compromised = compromised or flag == LimitType.compromised
            if flag != LimitType.compromised:
                flag_limit = flag_limit or flag
            continue
        raw_key, _, value = token.partition(sep)
        key = _key(raw_key)
        if "messagetraceid" in key or "networkmessageid" in key:
            match = _TRACE_ID.search(value)
            trace_id = trace_id or (match.group(0).lower() if match else None)
        elif key == "outboundspamlast24hours":
            spam, spam_keys = _number(value), True
        elif key == "outboundmaillast24hours":
            mail, spam_keys = _number(value), True
        elif key == "outboundspampercent":
            percent, spam_keys = _number(value), True
            percent = min(percent, 100) if percent is not None else None
        elif key in _INTERNAL_KEYS:
            internal = _number(value)
        elif key in _EXTERNAL_KEYS:
            external = _number(value)
        elif key in _LAST_RCPT_KEYS:
            last_rcpt = _number(value)
        elif key == "exceedinglimittype":
            known = _EXCEEDING.get(_key(value))
            if known is not None:
                exceeding, exceeding_limit_type = known
            elif _key(value):
                exceeding = exceeding or ExceedingLimit.other
        elif key in ("limit", "limittype", "reason", "blockreason"):
            flag = _flag_type(_key(value))
            compromised = compromised or flag == LimitType.compromised
            if flag != LimitType.compromised:
                value_limit = value_limit or flag
        # Other keys (unknown counters, dates) say nothing about the limit: a key that merely contains
        # "internalrecipient" must not decide the limit type.

    # The most specific statement of the limit wins; "Compromised" names no limit, only a conclusion.
    limit: LimitType
    if exceeding_limit_type is not None:
        limit = exceeding_limit_type
    elif flag_limit is not None:
        limit = flag_limit
    elif value_limit is not None:
        limit = value_limit
    elif spam_keys:
        limit = LimitType.outbound_spam
    elif compromised:
        limit = LimitType.compromised
    elif internal is not None or external is not None or exceeding is not None:
        limit = LimitType.recipient_rate_limit
    else:
        limit = LimitType.unknown

    return RestrictionReason(
        limit_type=limit,
        internal_recipients=internal,
        external_recipients=external,
        spam_last_24h=spam,
        mail_last_24h=mail,
        spam_percent=percent,
        message_trace_id=trace_id,
        raw=text,
        compromised_flag=compromised,
        exceeding_limit=exceeding,
        last_message_recipients=last_rcpt,
    )

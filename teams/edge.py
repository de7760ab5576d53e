"""The HTTP edge's input checks: one request body in, one SDK `Activity` out, or a 4xx with a neutral message.

Everything here runs before authentication and before the SDK sees the activity, so it has to be cheap and must
never fail with anything but `BadActivity`: the size is capped while reading, the JSON nesting is measured
without recursion (a body nested 50,000 deep is a 400, not a `RecursionError` in `json.loads`), and the
Agents SDK's pydantic validation (an empty-string `locale`, a malformed `timestamp`, an empty `channelId`),
which its own `process_activity` would turn into a 500 with a traceback, becomes a 400.

Before the SDK sees it, the activity must fit `ACTIVITY_SCHEMA` (`schema_error`): the activity types the bot routes
(`ACTIVITY_TYPES`), the fields every handler relies on (a channel, a serviceUrl, a conversation, a sender and a
recipient, each with an id), the value shape of each routed invoke (`adaptiveCard/action`: `value.action` with a
`verb` and, if any, an object of `data`; `INVOKE_SCHEMAS`), entity shapes (a mention names its `mentioned`
account), account lists, and timestamps that parse and lie in a plausible range (`TIMESTAMP_RANGE`). Fields the
schema does not name are left to the SDK's own validation (Bot Framework adds fields over time). A failure is a
400 whose message names the schema path, never a value.

The log says which check failed and at most which fields: never the body, which is what someone typed.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import accumulate
from types import MappingProxyType
from typing import Any, Literal

from aiohttp import web
from microsoft_agents.activity import Activity
from pydantic import ValidationError

log = logging.getLogger(__name__)

# Suggested limits for `read_activity`: a Teams activity is a few KB; an Action.Execute press carries the card's
# data, which our cards keep flat. 64 levels is far beyond any real activity and far below Python's recursion limit.
DEFAULT_MAX_BYTES = 512 * 1024
DEFAULT_MAX_DEPTH = 64

# A JSON string literal (escapes included), matched without backtracking: removed before counting brackets, so a
# bracket inside text never counts. Linear in the body's size.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}

# The SDK logs every failed `Activity` validation at ERROR with a traceback and the offending input values
# (which may be message text). At the edge that failure is an ordinary 400 that we log ourselves, without values.
_SDK_VALIDATION_LOGGER = "microsoft_agents.activity.activity"


class BadActivity(Exception):
    """The request cannot be an activity. `status` is the HTTP status to answer with, `message` a neutral reason
    that is safe to send back and to log (it never contains the body)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _DropSdkValidationErrors(logging.Filter):
    """Drops the SDK's "Validation error for Activity" ERROR records (with their traceback and input values)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """False for the SDK's validation-failure record."""
        return not (isinstance(record.msg, str) and record.msg.startswith("Validation error for Activity"))


_SDK_FILTER = _DropSdkValidationErrors()


def json_depth(body: bytes) -> int:
    """The deepest nesting of arrays and objects in `body`, counted iteratively (no recursion at any depth).

    Exact for valid JSON; for invalid JSON the number may be anything, but `json.loads` refuses such a body anyway.
    """
    skeleton = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    return max(accumulate(_STEP[b] for b in skeleton), default=0)


async def read_activity(request: web.Request, *, max_bytes: int = DEFAULT_MAX_BYTES,
                        max_depth: int = DEFAULT_MAX_DEPTH) -> Activity:
    """The request's activity, validated; `BadActivity` (413, 415 or 400) for anything else."""
    if "application/json" not in request.headers.get("Content-Type", "").lower():
        raise _reject(415, "expected application/json")
    if request.content_length is not None and request.content_length > max_bytes:
        raise _reject(413, "activity too large")
    body = await _read_body(request, max_bytes)
    if json_depth(body) > max_depth:
        raise _reject(400, "JSON nested too deeply")
    try:
        data = json.loads(body, parse_constant=_no_constants)
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError, huge integers; recursion: belt
        raise _reject(400, "malformed JSON") from None
    if not isinstance(data, dict):
        raise _reject(400, "expected an activity object")
    return parse_activity(data)


def parse_activity(data: dict[str, Any]) -> Activity:
    """`data` as the SDK's `Activity`, fitting `ACTIVITY_SCHEMA`; `BadActivity(400)` otherwise."""
    problem = schema_error(data)
    if problem:
        raise _reject(400, problem)
    sdk_log = logging.getLogger(_SDK_VALIDATION_LOGGER)
    sdk_log.addFilter(_SDK_FILTER)  # idempotent: a logger holds a filter once
    try:
        activity = Activity.model_validate(data)
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in error["loc"])[:60] for error in exc.errors()})[:5]
        raise _reject(400, "malformed activity", detail=", ".join(fields)) from None
    except Exception:  # noqa: BLE001 - the SDK's validators also raise TypeError (an empty channelId) and a bare
        # Exception (a channel/productInfo conflict): each is still a malformed activity, and nothing is echoed.
        raise _reject(400, "malformed activity") from None
    for entity in activity.entities or []:
        if entity.type == "mention":
            mentioned = getattr(entity, "mentioned", None)
            if mentioned is None or not getattr(mentioned, "id", None):
                raise _reject(400, "malformed mention")
    return activity


async def _read_body(request: web.Request, max_bytes: int) -> bytes:
    """The body, read in chunks and refused as soon as it passes `max_bytes` (a chunked body has no length)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > max_bytes:
            raise _reject(413, "activity too large")
        chunks.append(chunk)
    return b"".join(chunks)


def _no_constants(name: str) -> Any:
    raise ValueError(f"JSON constant {name} is not allowed")


def _reject(status: int, message: str, *, detail: str = "") -> BadActivity:
    log.info("activity rejected (%d): %s%s", status, message, f" [{detail}]" if detail else "")
    return BadActivity(status, message)


# -- the schema of what the bot accepts ----------------------------------------------------------------------------

Kind = Literal["string", "object", "array", "boolean", "timestamp", "any"]


@dataclass(frozen=True)
class Shape:
    """The expected shape of one JSON value: its `kind`; for strings whether they may be empty, a length cap and
    the allowed `choices`, and whether it must be a safe URL segment; for objects the `fields` the bot relies on
    (others are let through); for arrays the shape of their `items` and a count cap. `required` applies to the
    field holding the value."""

    kind: Kind
    required: bool = False
    non_empty: bool = False
    max_length: int | None = None
    choices: frozenset[str] | None = None
    fields: Mapping[str, Shape] = field(default_factory=dict)
    items: Shape | None = None
    max_items: int | None = None
    url_safe: bool = False  # a string that becomes a segment of a connector URL (see `URL_SEGMENT`)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", MappingProxyType(dict(self.fields)))


# Teams' timestamps are "now" (UTC) and the client's local time; anything outside these years is forged, and the
# far ends overflow date arithmetic (a +14:00 offset on 9999-12-31).
TIMESTAMP_RANGE = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC))
# The activity types the bot routes (teams/app.py): messages, conversation and installation updates, card actions,
# and the ones Teams sends that go to the no-op route (reactions, edits, deletions, typing, events).
ACTIVITY_TYPES = frozenset({"message", "invoke", "conversationUpdate", "installationUpdate", "messageReaction",
                            "messageUpdate", "messageDelete", "typing", "event", "endOfConversation"})
ID_MAX = 1024
# The conversation id and the activity ids become path segments of the connector's URLs (a reply is POSTed to
# .../conversations/{id}/activities/{replyToId}), which the SDK does not escape: an id with "/", "?", "%", a space
# or a dot segment would send the reply elsewhere. Teams' ids are ASCII of these characters ("19:…@thread.tacv2;
# messageid=…", "a:1…", "1481567603816").
URL_SEGMENT = re.compile(r"[A-Za-z0-9:@;=.,_+\-!*'()$&~|]+")
TEXT_MAX = 100_000
LIST_MAX = 500

_ID = Shape("string", required=True, non_empty=True, max_length=ID_MAX)
# The SDK's `NonEmptyString` fields: present means non-empty (its pydantic validation refuses "").
_OPTIONAL_TEXT = Shape("string", non_empty=True, max_length=ID_MAX)
ACCOUNT = Shape("object", required=True, fields={
    "id": _ID, "name": Shape("string", max_length=ID_MAX), "aadObjectId": _OPTIONAL_TEXT, "role": _OPTIONAL_TEXT})
_URL_ID = Shape("string", required=True, non_empty=True, max_length=ID_MAX, url_safe=True)
CONVERSATION = Shape("object", required=True, fields={
    "id": _URL_ID, "name": _OPTIONAL_TEXT, "conversationType": _OPTIONAL_TEXT, "tenantId": _OPTIONAL_TEXT,
    "isGroup": Shape("boolean")})
_ACCOUNTS = Shape("array", items=ACCOUNT, max_items=LIST_MAX)
MENTION = Shape("object", fields={"type": Shape("string", required=True), "mentioned": ACCOUNT,
                                  "text": Shape("string", max_length=TEXT_MAX)})
ENTITY = Shape("object", fields={"type": Shape("string", required=True, non_empty=True, max_length=ID_MAX)})
# An Action.Execute press: Teams sends `value.action` with the card's verb and data (plus the inputs' values).
CARD_ACTION = Shape("object", required=True, fields={
    "action": Shape("object", required=True, fields={
        "type": Shape("string", required=True, choices=frozenset({"Action.Execute"})),
        "verb": Shape("string", required=True, non_empty=True, max_length=100),
        "data": Shape("object"),
        "id": _OPTIONAL_TEXT,
    }),
    "trigger": Shape("string", choices=frozenset({"manual", "automatic"})),
})
# The answer to a file consent card ("Send and receive files using bots",
# learn.microsoft.com/en-us/microsoftteams/platform/bots/how-to/bots-filesv4): Allow or Decline, the card's context (ids
# only: teams/files.py) and, on Allow, where to upload (a OneDrive upload session URL).
_FILE_TEXT = Shape("string", max_length=4096)
FILE_CONSENT = Shape("object", required=True, fields={
    "type": Shape("string", required=True, choices=frozenset({"fileUpload"})),
    "action": Shape("string", required=True, choices=frozenset({"accept", "decline"})),
    "context": Shape("object", fields={"caseId": Shape("string", max_length=ID_MAX),
                                       "format": Shape("string", choices=frozenset({"pdf"}))}),
    "uploadInfo": Shape("object", fields={"name": _FILE_TEXT, "uploadUrl": _FILE_TEXT, "contentUrl": _FILE_TEXT,
                                          "uniqueId": _FILE_TEXT, "fileType": _FILE_TEXT}),
})
# The invokes the bot routes, by `name`, with the shape of their `value`.
INVOKE_SCHEMAS: Mapping[str, Shape] = MappingProxyType({"adaptiveCard/action": CARD_ACTION,
                                                        "fileConsent/invoke": FILE_CONSENT})

ACTIVITY_SCHEMA = Shape("object", required=True, fields={
    "type": Shape("string", required=True, choices=ACTIVITY_TYPES),
    "id": Shape("string", non_empty=True, max_length=ID_MAX, url_safe=True),
    "channelId": Shape("string", required=True, non_empty=True, max_length=100),
    "serviceUrl": Shape("string", required=True, non_empty=True, max_length=2048),
    "timestamp": Shape("timestamp"),
    "localTimestamp": Shape("timestamp"),
    "localTimezone": Shape("string", non_empty=True, max_length=100),
    "locale": Shape("string", non_empty=True, max_length=100),
    "from": ACCOUNT,
    "recipient": ACCOUNT,
    "conversation": CONVERSATION,
    "text": Shape("string", max_length=TEXT_MAX),
    "textFormat": Shape("string", non_empty=True, max_length=100),
    "replyToId": Shape("string", non_empty=True, max_length=ID_MAX, url_safe=True),
    "name": _OPTIONAL_TEXT,
    "entities": Shape("array", items=ENTITY, max_items=LIST_MAX),
    "attachments": Shape("array", max_items=LIST_MAX, items=Shape("object", fields={
        "contentType": Shape("string", required=True, non_empty=True, max_length=ID_MAX)})),
    "channelData": Shape("object", fields={"tenant": Shape("object", fields={"id": _OPTIONAL_TEXT})}),
    "membersAdded": _ACCOUNTS,
    "membersRemoved": _ACCOUNTS,
    "reactionsAdded": Shape("array", max_items=LIST_MAX, items=Shape("object", fields={
        "type": Shape("string", required=True, non_empty=True, max_length=ID_MAX)})),
    "reactionsRemoved": Shape("array", max_items=LIST_MAX, items=Shape("object", fields={
        "type": Shape("string", required=True, non_empty=True, max_length=ID_MAX)})),
    "value": Shape("any"),
})


def schema_error(data: Mapping[str, Any]) -> str:
    """Why `data` is not an activity the bot accepts ("" when it is): the first mismatch, by schema path."""
    problem = _check(data, ACTIVITY_SCHEMA, "activity")
    if problem:
        return problem
    if data["type"] == "invoke":
        name = data.get("name")
        if not isinstance(name, str) or name not in INVOKE_SCHEMAS:
            return "unsupported invoke"
        shape = INVOKE_SCHEMAS[name]
        if data.get("value") is None:
            return "activity lacks value"
        problem = _check(data["value"], shape, "value")
        if problem:
            return problem
    for index, entity in enumerate(data.get("entities") or []):
        if entity.get("type") == "mention":
            problem = _check(entity, MENTION, f"entities[{index}]")
            if problem:
                return "malformed mention"
    return ""


_JSON_KINDS: Mapping[str, type | tuple[type, ...]] = MappingProxyType({
    "string": str, "timestamp": str, "object": dict, "array": list, "boolean": bool})


def _check(value: Any, shape: Shape, path: str) -> str:
    """The first mismatch of `value` with `shape` ("" when it fits). Recursion follows the schema, which is a few
    levels deep, never the input."""
    if shape.kind == "any":
        return ""
    if not isinstance(value, _JSON_KINDS[shape.kind]):
        return f"{path} is not a{'n' if shape.kind[0] in 'ao' else ''} {shape.kind}"
    if isinstance(value, str):
        return _check_text(value, shape, path)
    if isinstance(value, list):
        if shape.max_items is not None and len(value) > shape.max_items:
            return f"{path} has too many items"
        if shape.items is not None:
            for index, item in enumerate(value):
                problem = _check(item, shape.items, f"{path}[{index}]")
                if problem:
                    return problem
        return ""
    if isinstance(value, dict):
        for name, inner in shape.fields.items():
            if name not in value or value[name] is None:
                if inner.required:
                    return f"{path} lacks {name}" if path != "activity" else f"activity lacks {name}"
                continue
            problem = _check(value[name], inner, f"{path}.{name}")
            if problem:
                return problem
    return ""


def _check_text(value: str, shape: Shape, path: str) -> str:
    if shape.non_empty and not value:
        return f"{path} is empty"
    if shape.max_length is not None and len(value) > shape.max_length:
        return f"{path} is too long"
    if shape.choices is not None and value not in shape.choices:
        return f"{path} is not supported"
    if shape.url_safe and (URL_SEGMENT.fullmatch(value) is None or value in (".", "..")):
        return f"{path} has characters an id cannot have"
    if shape.kind == "timestamp" and not _plausible_time(value):
        return f"{path} is not a plausible time"
    return ""


def _plausible_time(value: str) -> bool:
    """An ISO 8601 date and time (as Bot Framework sends: `Z` or an offset) between the `TIMESTAMP_RANGE` years."""
    if len(value) > 64:
        return False
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return False
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    try:
        return TIMESTAMP_RANGE[0] <= when.astimezone(UTC) <= TIMESTAMP_RANGE[1]
    except (OverflowError, ValueError):
        return False

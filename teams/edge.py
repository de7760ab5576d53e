"""The HTTP edge's input checks: one request body in, one SDK `Activity` out, or a 4xx with a neutral message.

Everything here runs before authentication and before the SDK sees the activity, so it has to be cheap and must
never fail with anything but `BadActivity`: the size is capped while reading, the JSON nesting is measured
without recursion (a body nested 50,000 deep is a 400, not a `RecursionError` in `json.loads`), and the
Agents SDK's pydantic validation (an empty-string `locale`, a malformed `timestamp`, an empty `channelId`),
which its own `process_activity` would turn into a 500 with a traceback, becomes a 400. What the bot's handlers
rely on is required here once: a type, a channel, a serviceUrl, a conversation, a sender, a recipient, and a
`mentioned` account in every mention.

The log says which check failed and at most which fields: never the body, which is what someone typed.
"""

from __future__ import annotations

import json
import logging
import re
from itertools import accumulate
from typing import Any

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
    """`data` as the SDK's `Activity`, with the fields the bot relies on present; `BadActivity(400)` otherwise."""
    missing = _missing_fields(data)
    if missing:
        raise _reject(400, f"activity lacks {missing}")
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


def _missing_fields(data: dict[str, Any]) -> str:
    """The first required field `data` lacks, as the JSON path ("" when none is missing)."""
    for name in ("type", "channelId", "serviceUrl"):
        if not isinstance(data.get(name), str) or not data[name]:
            return name
    for name in ("conversation", "from", "recipient"):
        account = data.get(name)
        if not isinstance(account, dict) or not isinstance(account.get("id"), str) or not account["id"]:
            return f"{name}.id"
    return ""


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

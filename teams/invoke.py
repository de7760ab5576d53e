"""The one place an answer to a button press becomes the invoke response Teams gets.

The core answers a press with a plain `core.presses.Answer`; Teams wants an `AdaptiveCardInvokeResponse` whose
`type` says what the client does with `value`: replace the card, show a message, or show an error (Universal
Actions). Nothing else in the bot builds one; the Agents SDK serialises it once, as HTTP 200 (the real status is
`statusCode` in the body).
"""

from __future__ import annotations

from microsoft_agents.activity import AdaptiveCardInvokeResponse

from cards.base import CARD_CONTENT_TYPE, JsonDict
from core.presses import Answer, AnswerKind

MESSAGE_CONTENT_TYPE = "application/vnd.microsoft.activity.message"
ERROR_CONTENT_TYPE = "application/vnd.microsoft.error"


def card_response(card: JsonDict) -> AdaptiveCardInvokeResponse:
    """An invoke response that replaces the pressed card with `card`."""
    return AdaptiveCardInvokeResponse(status_code=200, type=CARD_CONTENT_TYPE, value=card)


def message_response(text: str) -> AdaptiveCardInvokeResponse:
    """An invoke response that shows a short message and leaves the card as it was."""
    return AdaptiveCardInvokeResponse(status_code=200, type=MESSAGE_CONTENT_TYPE, value=text)


def error_response(status: int, code: str, message: str) -> AdaptiveCardInvokeResponse:
    """A Universal Actions error response (still HTTP 200 on the wire, as Teams expects)."""
    return AdaptiveCardInvokeResponse(status_code=status, type=ERROR_CONTENT_TYPE,
                                      value={"code": code, "message": message})


def invoke_response(answer: Answer) -> AdaptiveCardInvokeResponse:
    """The invoke response that carries `answer`."""
    if answer.kind == AnswerKind.CARD and isinstance(answer.value, dict):
        return card_response(answer.value)
    if answer.kind == AnswerKind.ERROR:
        return error_response(answer.status, answer.code, str(answer.value))
    return message_response(str(answer.value))


def body_of(response: AdaptiveCardInvokeResponse) -> JsonDict:
    """The JSON body of `response` as the SDK writes it (camelCase, no nulls)."""
    body: JsonDict = response.model_dump(mode="json", by_alias=True, exclude_none=True)
    return body

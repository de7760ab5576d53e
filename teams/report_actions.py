"""Card buttons of the report feature: "My mail bounces", "Notify IT anyway", and IT's "Send note".

The first two start the same one-turn flows as the typed phrases (through the main dialog); "Send note"
relays the note typed on the findings card to the people waiting on the case. Button data is untrusted:
the case comes from the store by id, and the presser's role is checked here, on every press.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.schema import AdaptiveCardInvokeResponse

from dialogs.intents import Intent
from domain.people import Speaker
from locales import t
from store import Store
from teams.handler import CardAction, error_response, message_response
from teams.notify import NOTE_MAX_CHARS, Notices

log = logging.getLogger(__name__)

NOTE_INPUT_ID = "note"
BeginMain = Callable[[TurnContext, Mapping[str, Any]], Awaitable[None]]


def start_intent(begin_main: BeginMain, intent: Intent, answer_key: str) -> CardAction:
    """A button that runs the typed phrase's flow (`intent`) and leaves a short note under the card."""

    async def action(turn_context: TurnContext, speaker: Speaker,
                     data: Mapping[str, Any]) -> AdaptiveCardInvokeResponse:
        await begin_main(turn_context, {"intent": intent.value, "argument": ""})
        return message_response(t(speaker.locale, answer_key))

    return action


def send_note_action(store: Store, notices: Notices) -> CardAction:
    """IT staff and admins relay a note to the case's subscribers (or the account's owner)."""

    async def send_note(turn_context: TurnContext, speaker: Speaker,
                        data: Mapping[str, Any]) -> AdaptiveCardInvokeResponse:
        locale = speaker.locale
        if not speaker.may_investigate:
            return error_response(403, "Forbidden", t(locale, "sendnote.not_allowed"))
        case_id = data.get("caseId")
        case = await store.cases.get_case(case_id) if isinstance(case_id, str) and case_id else None
        if case is None or case.tenant_id.lower() != speaker.tenant_id.lower():
            log.info("send-note press for an unknown case in activity %s", turn_context.activity.id)
            return error_response(400, "BadRequest", t(locale, "card.unknown_action"))
        raw = data.get(NOTE_INPUT_ID)
        note = raw.strip() if isinstance(raw, str) else ""
        if not note:
            return error_response(400, "BadRequest", t(locale, "sendnote.empty"))
        if len(note) > NOTE_MAX_CHARS:
            return error_response(400, "BadRequest", t(locale, "sendnote.too_long", limit=NOTE_MAX_CHARS))
        sent = await notices.send_note(case, speaker, note)
        if not sent:
            return error_response(409, "Conflict", t(locale, "sendnote.nobody"))
        return message_response(t(locale, "sendnote.sent", count=sent))

    return send_note

"""IT's "Send note" button on the findings card: relays the typed note to the people waiting on the case.

("My mail bounces" and "Notify IT anyway" start the typed phrases' flows: `teams/routes.py` routes them to the main
dialog.) Button data is untrusted: the case comes from the store by id, and the presser's role is checked here,
on every press.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from core.notices import NOTE_MAX_CHARS, Notices
from core.presses import Answer, Press
from locales import t
from store import Store

log = logging.getLogger(__name__)

NOTE_INPUT_ID = "note"


def send_note_action(store: Store, notices: Notices) -> Callable[[Press], Awaitable[Answer]]:
    """IT staff and admins relay a note to the case's subscribers (or the account's owner)."""

    async def send_note(press: Press) -> Answer:
        speaker, data = press.speaker, press.data
        locale = speaker.locale
        if not speaker.may_investigate:
            return Answer.error(403, "Forbidden", t(locale, "sendnote.not_allowed"))
        case_id = data.get("caseId")
        case = await store.cases.get_case(case_id) if isinstance(case_id, str) and case_id else None
        if case is None or case.tenant_id.lower() != speaker.tenant_id.lower():
            log.info("send-note press by %s for an unknown case", speaker.aad_object_id)
            return Answer.error(400, "BadRequest", t(locale, "card.unknown_action"))
        raw = data.get(NOTE_INPUT_ID)
        note = raw.strip() if isinstance(raw, str) else ""
        if not note:
            return Answer.error(400, "BadRequest", t(locale, "sendnote.empty"))
        if len(note) > NOTE_MAX_CHARS:
            return Answer.error(400, "BadRequest", t(locale, "sendnote.too_long", limit=NOTE_MAX_CHARS))
        sent = await notices.send_note(case, speaker, note)
        if not sent:
            return Answer.error(409, "Conflict", t(locale, "sendnote.nobody"))
        return Answer.message(t(locale, "sendnote.sent", count=sent))

    return send_note

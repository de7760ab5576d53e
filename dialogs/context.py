"""What every dialog needs from the turn: the identified speaker, the message text, sending a card."""

from __future__ import annotations

from typing import Any

from microsoft_agents.hosting.core import CardFactory, MessageFactory, TurnContext

from domain.people import Speaker

SPEAKER_KEY = "bsa.speaker"
# Set when a dialog already told the speaker that the store is unavailable (`teams.outage` then adds nothing).
STORE_OUTAGE_ANSWERED_KEY = "bsa.store_outage_answered"


def speaker_of(context: TurnContext) -> Speaker:
    """The speaker the handler identified for this turn."""
    speaker = context.turn_state.get(SPEAKER_KEY)
    if not isinstance(speaker, Speaker):
        raise RuntimeError("the activity handler must identify the speaker before dialogs run")
    return speaker


def message_text(context: TurnContext) -> str:
    """The message text without the @mention of the bot (channels and group chats)."""
    activity = context.activity
    if not activity.text:
        return ""
    return TurnContext.remove_recipient_mention(activity) or ""


async def send_card(context: TurnContext, card: dict[str, Any]) -> str | None:
    """Send an Adaptive Card; returns the id of the posted activity."""
    response = await context.send_activity(MessageFactory.attachment(CardFactory.adaptive_card(card)))
    return response.id if response else None

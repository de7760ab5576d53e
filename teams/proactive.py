"""Messages outside a turn: telling a user, alerting a channel, updating every copy of a card.

`Messenger` is the Teams side of the core's `Outbox` port (`core.ports`): the core hands it plain dicts (a stored
reference, a card) and text; the SDK types are made here.

Everything goes through the adapter's `continue_conversation` with a stored conversation reference (the JSON
`reference_of` produced), so it works the same on every instance. With bot credentials the turn runs as the bot's
app id (the SDK gets a token for it); anonymous (local) mode needs an EMPTY `ClaimsIdentity`: the SDK's
`continue_conversation("")` would build claims with an empty app id, which is not anonymous and asks MSAL for a
token.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from microsoft_agents.activity import Activity, ConversationReference
from microsoft_agents.hosting.core import (
    CardFactory,
    ChannelServiceAdapter,
    ClaimsIdentity,
    MessageFactory,
    TurnContext,
)

log = logging.getLogger(__name__)


def reference_of(activity: Activity) -> dict[str, Any]:
    """The conversation reference of `activity` as the store keeps it (plain JSON, camelCase, `bot` for the agent)."""
    data: dict[str, Any] = activity.get_conversation_reference().model_dump(mode="json", by_alias=True,
                                                                            exclude_none=True)
    return data


def reference_from(data: Mapping[str, Any]) -> ConversationReference:
    """A `ConversationReference` from its stored JSON form."""
    return ConversationReference.model_validate(dict(data))


def card_activity(card: Mapping[str, Any]) -> Activity:
    """A message carrying one Adaptive Card."""
    activity: Activity = MessageFactory.attachment(CardFactory.adaptive_card(dict(card)))
    return activity


class Messenger:
    """Sends and updates activities in stored conversations. `app_id` is the bot's (empty when anonymous)."""

    def __init__(self, adapter: ChannelServiceAdapter, app_id: str) -> None:
        self._adapter = adapter
        self._app_id = app_id

    async def _continue(self, reference: Mapping[str, Any], logic: Callable[[TurnContext], Awaitable[None]]) -> None:
        continuation = reference_from(reference).get_continuation_activity()
        if self._app_id:
            await self._adapter.continue_conversation(self._app_id, continuation, logic)
        else:
            await self._adapter.continue_conversation_with_claims(ClaimsIdentity(), continuation, logic)

    async def send(self, reference: Mapping[str, Any], text: str) -> str | None:
        """Post a text message to the referenced conversation; returns the new activity's id."""
        return await self._post(reference, MessageFactory.text(text))

    async def _post(self, reference: Mapping[str, Any], activity: Activity) -> str | None:
        sent: list[str | None] = []

        async def logic(context: TurnContext) -> None:
            # The continuation activity has a made-up id, which would make this a reply to a message that never
            # existed (POST .../activities/<uuid>); a new message (a new post in a channel) is what is meant.
            context.activity.id = None
            response = await context.send_activity(activity)
            sent.append(response.id if response else None)

        await self._continue(reference, logic)
        return sent[0] if sent else None

    async def send_card(self, reference: Mapping[str, Any], card: Mapping[str, Any]) -> str | None:
        """Post an Adaptive Card; returns the new activity's id."""
        return await self._post(reference, card_activity(card))

    async def update_card(self, reference: Mapping[str, Any], activity_id: str, card: Mapping[str, Any]) -> None:
        """Replace the card posted as `activity_id` in the referenced conversation."""

        async def logic(context: TurnContext) -> None:
            activity = card_activity(card)
            activity.id = activity_id
            await context.update_activity(activity)

        await self._continue(reference, logic)

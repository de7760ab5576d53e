"""Messages outside a turn: telling a user, alerting a channel, updating every copy of a card.

`Messenger` is the Teams side of the core's `Outbox` port (`core.ports`): the core hands it plain dicts (a stored
reference, a card) and text; the SDK types are made here.

Everything goes through the adapter's `continue_conversation` with a stored conversation reference (the JSON
`reference_of` produced), so it works the same on every instance. With bot credentials the turn runs as the bot's
app id (the SDK gets a token for it); anonymous (local) mode needs an EMPTY `ClaimsIdentity`: the SDK's
`continue_conversation("")` would build claims with an empty app id, which is not anonymous and asks MSAL for a
token.

A failure inside a continuation is caught here and raised to the caller: left to the adapter, its `on_turn_error`
would log a traceback and post "something went wrong" into the very chat that could not be reached. A connector's
404 becomes `domain.delivery.ConversationGone` (the conversation no longer exists, e.g. a chat of an earlier Agents
Playground run) or `MessageGone` (the message to update was deleted), which the caller answers by dropping what it
stored; the SDK's own error line for that 404 is dropped (`ConnectorNotFoundEcho`), the caller logs the outcome.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
from microsoft_agents.activity import Activity, Attachment, ConversationReference
from microsoft_agents.hosting.core import (
    CardFactory,
    ChannelServiceAdapter,
    ClaimsIdentity,
    MessageFactory,
    TurnContext,
)

from domain.delivery import ConversationGone, MessageGone

log = logging.getLogger(__name__)

CONNECTOR_LOGGER = "microsoft_agents.hosting.core.connector.client.connector_client"
CONVERSATION_NOT_FOUND = "ConversationNotFound"


class ConnectorNotFoundEcho(logging.Filter):
    """Drops the Agents SDK's ERROR line for a connector 404 ("Error accessing '<resource>': 404"): the caller knows
    what the 404 means (a gone chat or message, `ConversationGone`/`MessageGone`) and logs that once."""

    def filter(self, record: logging.LogRecord) -> bool:
        """False for the SDK's line about a 404."""
        args = record.args
        return not (record.msg == "Error accessing '%s': %s" and isinstance(args, tuple) and len(args) == 2
                    and args[1] == 404)


def quiet_connector_404() -> None:
    """Install `ConnectorNotFoundEcho` on the SDK's connector logger (once)."""
    logger = logging.getLogger(CONNECTOR_LOGGER)
    if not any(isinstance(f, ConnectorNotFoundEcho) for f in logger.filters):
        logger.addFilter(ConnectorNotFoundEcho())


def error_code(body: str) -> str:
    """The Bot Framework error code of a connector error body (`{"error": {"code": …}}`), else ""."""
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    error = data.get("error") if isinstance(data, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else ""


def gone(exc: BaseException, *, updating: bool) -> ConversationGone | MessageGone | None:
    """What a connector 404 means: the conversation is gone, or (updating) the message is; None for anything else."""
    if not isinstance(exc, aiohttp.ClientResponseError) or exc.status != 404:
        return None
    code = error_code(exc.message) or "404"
    if updating and code != CONVERSATION_NOT_FOUND:
        return MessageGone(code)
    return ConversationGone(code)


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
        quiet_connector_404()

    async def _continue(self, reference: Mapping[str, Any], logic: Callable[[TurnContext], Awaitable[None]], *,
                        updating: bool = False) -> None:
        continuation = reference_from(reference).get_continuation_activity()
        failures: list[Exception] = []

        async def guarded(context: TurnContext) -> None:
            try:
                await logic(context)
            except Exception as exc:  # noqa: BLE001 - raised to our caller below, not to the adapter's on_turn_error
                failures.append(exc)

        if self._app_id:
            await self._adapter.continue_conversation(self._app_id, continuation, guarded)
        else:
            await self._adapter.continue_conversation_with_claims(ClaimsIdentity(), continuation, guarded)
        if failures:
            meaning = gone(failures[0], updating=updating)
            if meaning is not None:
                raise meaning from None
            raise failures[0]

    async def send(self, reference: Mapping[str, Any], text: str) -> str | None:
        """Post a text message to the referenced conversation; returns the new activity's id. Raises
        `ConversationGone` when the connector says the conversation does not exist (404)."""
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

    async def send_attachment(self, reference: Mapping[str, Any], attachment: Mapping[str, Any]) -> str | None:
        """Post one attachment given as JSON (`contentType`, `name`, `content`, `contentUrl`: e.g. Teams' file consent
        card); returns the new activity's id."""
        return await self._post(reference, MessageFactory.attachment(Attachment.model_validate(dict(attachment))))

    async def update_card(self, reference: Mapping[str, Any], activity_id: str, card: Mapping[str, Any]) -> None:
        """Replace the card posted as `activity_id` in the referenced conversation. Raises `MessageGone` when the
        message no longer exists, `ConversationGone` when the conversation does not."""

        async def logic(context: TurnContext) -> None:
            activity = card_activity(card)
            activity.id = activity_id
            await context.update_activity(activity)

        await self._continue(reference, logic, updating=True)

"""A Teams turn while the bot's database is down: answered without state, and nothing written over what was kept.

Every turn reads its conversation state (the dialog stack) before it runs and writes it back after. When the store
is unavailable (`store.StoreUnavailable`: locked past the busy timeout, read-only, unreachable):

* the state could not be READ: the turn does not run (a dialog started from nothing would answer as if the
  conversation were new, and saving that empty stack would erase the stored one). A message gets the help card
  when it asks for help (no state needed), else a neutral "I can't save anything right now" in the speaker's
  language; an `Action.Execute` press gets HTTP 200 with "could not record the action, so nothing was done"
  (nothing is done without its audit row). Nothing is saved.
* the store failed DURING the turn (a case or an audit row could not be written): the same answers, and the
  turn's state is not saved either, so the stored dialog stays as it was before the turn.
* only the SAVE failed: the answer was already sent; a message gets the neutral note as well (the question it
  asked cannot be continued, as its dialog was not stored), a press nothing more.

One WARNING per outage (`store.outage.OutageLog`), never a traceback; INFO when turns can read the store again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from microsoft_agents.activity import Activity, ActivityTypes, AdaptiveCardInvokeResponse, InvokeResponse
from microsoft_agents.hosting.core import MessageFactory, TurnContext, TurnState

from cards.help import help_card
from dialogs.context import SPEAKER_KEY, STORE_OUTAGE_ANSWERED_KEY, message_text, send_card
from dialogs.intents import Intent, recognize
from domain.people import Speaker
from locales import t
from store import StoreUnavailable
from store.outage import OutageLog
from teams.invoke import body_of, message_response

log = logging.getLogger(__name__)

CARD_ACTION = "adaptiveCard/action"
MESSAGE_KEY = "error.store_unavailable"
PRESS_KEY = "remediation.store.not_recorded"
_HELP_INTENTS = frozenset({Intent.HELP, Intent.GREETING})

MessageHandler = Callable[[TurnContext, TurnState], Awaitable[None]]
ActionHandler = Callable[[TurnContext, TurnState, Any], Awaitable[AdaptiveCardInvokeResponse]]


def _locale(context: TurnContext) -> str | None:
    speaker = context.turn_state.get(SPEAKER_KEY)
    return speaker.locale if isinstance(speaker, Speaker) else context.activity.locale


def _is_press(context: TurnContext) -> bool:
    return context.activity.type == ActivityTypes.invoke and context.activity.name == CARD_ACTION


class TurnOutage:
    """The Teams edge's handling of a store outage; see the module docstring. One per application."""

    def __init__(self) -> None:
        self.log = OutageLog(log, "Teams turns")

    def loaded(self) -> None:
        """A turn read its state: the store answers (ends an outage, logged once)."""
        self.log.succeeded()

    async def before_turn(self, context: TurnContext, state: TurnState) -> bool:
        """The application's before-turn hook: False (the turn ends here, answered) when the state load failed."""
        outage = getattr(state, "store_outage", None)
        if outage is None:
            return True
        self.log.failed(outage, then="turns are answered without state until it is back")
        await self._answer(context)
        return False

    def message(self, handler: MessageHandler) -> MessageHandler:
        """`handler` (a message route), answering neutrally when the store fails during the turn."""

        async def guarded(context: TurnContext, state: TurnState) -> None:
            try:
                await handler(context, state)
            except StoreUnavailable as exc:
                self._failed_during(state, exc)
                if not context.turn_state.get(STORE_OUTAGE_ANSWERED_KEY):  # a dialog may have said it already
                    await self._answer(context)

        return guarded

    def action(self, handler: ActionHandler) -> ActionHandler:
        """`handler` (an `Action.Execute` route), answering "nothing was done" when the store fails during it."""

        async def guarded(context: TurnContext, state: TurnState, data: Any) -> AdaptiveCardInvokeResponse:
            try:
                return await handler(context, state, data)
            except StoreUnavailable as exc:
                self._failed_during(state, exc)
                return message_response(t(_locale(context), PRESS_KEY))

        return guarded

    async def not_saved(self, context: TurnContext, exc: StoreUnavailable) -> None:
        """The turn's state could not be saved (the answer is out): say so in a chat, log once per outage."""
        self.log.failed(exc, then="a conversation's state was not saved")
        if context.activity.type == ActivityTypes.message:
            await self._send_text(context)

    def _failed_during(self, state: TurnState, exc: StoreUnavailable) -> None:
        # Not saved afterwards (see `ConversationTurnState.save`): the stored dialog stays as before the turn.
        if hasattr(state, "store_outage"):
            state.store_outage = exc
        self.log.failed(exc, then="turns are answered without state until it is back")

    async def _answer(self, context: TurnContext) -> None:
        activity = context.activity
        if activity.type == ActivityTypes.message:
            speaker = context.turn_state.get(SPEAKER_KEY)
            if isinstance(speaker, Speaker) and recognize(message_text(context)).intent in _HELP_INTENTS:
                await send_card(context, help_card(speaker.name, speaker.role, speaker.locale))
            else:
                await self._send_text(context)
        elif _is_press(context):
            body = body_of(message_response(t(_locale(context), PRESS_KEY)))
            await context.send_activity(Activity(type=ActivityTypes.invoke_response,
                                                 value=InvokeResponse(status=200, body=body)))
        # Other activities (a conversation update, another invoke) have nothing to answer.

    async def _send_text(self, context: TurnContext) -> None:
        await context.send_activity(MessageFactory.text(t(_locale(context), MESSAGE_KEY)))

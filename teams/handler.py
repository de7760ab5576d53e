"""The Teams activity handler: identifies the speaker, refuses other tenants, runs dialogs, handles card actions."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from botbuilder.core import ConversationState, MessageFactory, TurnContext, UserState
from botbuilder.core.teams import TeamsActivityHandler
from botbuilder.dialogs import Dialog, DialogSet, DialogState, DialogTurnStatus
from botbuilder.schema import (
    Activity,
    ActivityTypes,
    AdaptiveCardInvokeResponse,
    AdaptiveCardInvokeValue,
    ChannelAccount,
    InvokeResponse,
)

from cards.help import welcome_card
from cards.verbs import Verb
from core.presses import Answer, Press
from dialogs.context import SPEAKER_KEY, message_text, send_card, speaker_of
from dialogs.intents import Intent, recognize
from domain.people import Speaker
from locales import t
from teams.identity import RoleResolver, activity_tenant_id, identify
from teams.invoke import error_response, invoke_response, message_response
from teams.ratelimit import RateLimiter
from teams.routes import Route, StartDialog

log = logging.getLogger(__name__)

# Messages that read the tenant (an investigation, a user's check of their own account) or notify IT count against
# the speaker's rate limit (teams/ratelimit.py), as do all card actions.
RATE_LIMITED_INTENTS = frozenset({Intent.INVESTIGATE, Intent.REPORT_BOUNCE, Intent.STATUS, Intent.NOTIFY_IT,
                                  Intent.TRIAGE})


DIALOG_STATE_PROPERTY = "DialogState"
# Keys `teams.storage.SqlStorage` (like botbuilder's storages) puts on an item it read: the state was stored.
_STORED_MARKERS = ("e_tag", "eTag")


def nothing_to_store(state: Mapping[str, Any] | None) -> bool:
    """True for a conversation state that was never stored and holds only an empty dialog stack.

    Writing it would store what reading a missing item already yields; anything else (a stored item, even one
    whose dialog just ended, or any other property) is saved as botbuilder decides.
    """
    if not state or any(marker in state for marker in _STORED_MARKERS) or set(state) != {DIALOG_STATE_PROPERTY}:
        return False
    dialog_state = state[DIALOG_STATE_PROPERTY]
    return isinstance(dialog_state, DialogState) and not dialog_state.dialog_stack


class BlockedSenderBot(TeamsActivityHandler):
    """Routes Teams activities to dialogs and card actions; saves state after every turn."""

    def __init__(
        self,
        *,
        tenant_id: str,
        conversation_state: ConversationState,
        user_state: UserState,
        main_dialog: Dialog,
        roles: RoleResolver,
        routes: Mapping[Verb, Route],
        rate_limiter: RateLimiter,
        remember: Callable[[TurnContext, Speaker], Awaitable[None]],
    ) -> None:
        self._tenant_id = tenant_id.lower()
        # Saves the speaker's personal-chat conversation reference, locale and time zone (proactive messages).
        self._remember = remember
        self._rate_limiter = rate_limiter
        self._conversation_state = conversation_state
        self._user_state = user_state
        self._main_dialog = main_dialog
        self._roles = roles
        self._dialogs = DialogSet(conversation_state.create_property(DIALOG_STATE_PROPERTY))
        self._dialogs.add(main_dialog)
        # Where every button goes (`teams/routes.py`).
        self._routes = routes

    async def begin_main(self, turn_context: TurnContext, options: Mapping[str, Any]) -> None:
        """Start the main dialog with `options` (an intent and its argument), ending any dialog in progress."""
        dialog_context = await self._dialogs.create_context(turn_context)
        if dialog_context.active_dialog is not None:
            await dialog_context.cancel_all_dialogs()
        await dialog_context.begin_dialog(self._main_dialog.id, dict(options))

    async def _start(self, turn_context: TurnContext, speaker: Speaker, route: StartDialog) -> Answer:
        """A button that runs a typed phrase's flow: start it in this chat and leave a short note."""
        if not route.allowed(speaker):
            return Answer.message(t(speaker.locale, route.refusal_key))
        await self.begin_main(turn_context, {"intent": route.intent.value, "argument": ""})
        return Answer.message(t(speaker.locale, route.answer_key))

    async def on_turn(self, turn_context: TurnContext) -> None:
        """Refuse other tenants, identify the speaker, handle the activity, then save state."""
        tenant_id = activity_tenant_id(turn_context)
        if not tenant_id or tenant_id.lower() != self._tenant_id:
            log.warning(
                "refused activity %s of type %s from tenant %s",
                turn_context.activity.id,
                turn_context.activity.type,
                tenant_id or "(none)",
            )
            if turn_context.activity.type == ActivityTypes.invoke:
                await turn_context.send_activity(
                    Activity(type=ActivityTypes.invoke_response, value=InvokeResponse(status=403))
                )
            return
        turn_context.turn_state[SPEAKER_KEY] = await identify(turn_context, self._roles, self._tenant_id)
        await self._remember(turn_context, turn_context.turn_state[SPEAKER_KEY])
        await super().on_turn(turn_context)
        # botbuilder writes only what changed (it compares a hash of the state); a conversation that had no
        # stored state and ends the turn with an empty dialog stack (a `help`, a one-turn answer) has nothing
        # worth a write: its next turn reads "no state" and starts from the same empty stack.
        if not nothing_to_store(self._conversation_state.get(turn_context)):
            await self._conversation_state.save_changes(turn_context)
        await self._user_state.save_changes(turn_context)

    def _rate_limited(self, turn_context: TurnContext) -> str | None:
        """The polite refusal when the speaker is over their limit, else None (and the event is counted)."""
        speaker = speaker_of(turn_context)
        key = speaker.aad_object_id
        if not key:  # no Entra id (not Teams): the channel's own user id still tells people apart
            sender = turn_context.activity.from_property
            key = str(getattr(sender, "id", None) or "") if sender else ""
        decision = self._rate_limiter.check(key or "(unknown)")
        if decision.allowed:
            return None
        log.info("rate limit: refused activity %s (%s)", turn_context.activity.id, turn_context.activity.type)
        return t(speaker.locale, "ratelimit.wait", limit=self._rate_limiter.limit,
                 seconds=decision.retry_after_seconds)

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        """Continue the active dialog, or start the main dialog for a new request."""
        dialog_context = await self._dialogs.create_context(turn_context)
        intent = recognize(message_text(turn_context)).intent
        if dialog_context.active_dialog is not None and intent == Intent.CANCEL:
            await dialog_context.cancel_all_dialogs()
            await turn_context.send_activity(t(turn_context.activity.locale, "cancel.done"))
            return
        if intent in RATE_LIMITED_INTENTS:
            refusal = self._rate_limited(turn_context)
            if refusal is not None:
                await turn_context.send_activity(refusal)
                return
        result = await dialog_context.continue_dialog()
        if result.status == DialogTurnStatus.Empty:
            await dialog_context.begin_dialog(self._main_dialog.id)

    async def on_members_added_activity(self, members_added: list[ChannelAccount], turn_context: TurnContext) -> None:
        """Greet once, when the bot itself is added to a chat or team."""
        recipient = turn_context.activity.recipient
        if any(member.id == recipient.id for member in members_added):
            await send_card(turn_context, welcome_card(turn_context.activity.locale))

    async def on_adaptive_card_invoke(
        self, turn_context: TurnContext, invoke_value: AdaptiveCardInvokeValue
    ) -> AdaptiveCardInvokeResponse:
        """Route an `Action.Execute` press by its verb; anything unknown gets a clear error, never a 500."""
        action = invoke_value.action
        # botbuilder 4.17.1 builds `AdaptiveCardInvokeValue(**activity.value)`, which leaves `action` a plain dict.
        fields = action if isinstance(action, Mapping) else vars(action) if action is not None else {}
        verb = Verb.parse(fields.get("verb"))
        locale = turn_context.activity.locale
        if verb is None:
            log.info("unknown card verb in activity %s", turn_context.activity.id)
            return error_response(400, "BadRequest", t(locale, "card.unknown_action"))
        route = self._routes.get(verb)
        if route is None:
            log.info("card verb %s without a handler in activity %s", verb.value, turn_context.activity.id)
            return error_response(400, "BadRequest", t(locale, "card.unknown_action"))
        refusal = self._rate_limited(turn_context)
        if refusal is not None:
            # A message response leaves the card as it was; never an error status, so Teams shows the text.
            return message_response(refusal)
        data = fields.get("data")
        speaker = speaker_of(turn_context)
        if isinstance(route, StartDialog):
            return invoke_response(await self._start(turn_context, speaker, route))
        activity = turn_context.activity
        reply_to = activity.reply_to_id
        press = Press(verb, data if isinstance(data, dict) else {}, speaker,
                      conversation=_reference(activity) if activity.conversation is not None else None,
                      reply_to=reply_to if isinstance(reply_to, str) and reply_to else None)
        return invoke_response(await route(press))


def _reference(activity: Activity) -> dict[str, Any]:
    """The conversation the press came from, as the store keeps references (plain JSON)."""
    data = TurnContext.get_conversation_reference(activity).serialize()
    return data if isinstance(data, dict) else {}


async def on_turn_error(turn_context: TurnContext, error: Exception) -> None:
    """Log the failure with the activity id and answer neutrally; the details never reach the chat."""
    log.error(
        "unhandled error in activity %s (%s)",
        turn_context.activity.id,
        turn_context.activity.type,
        exc_info=(type(error), error, error.__traceback__),
    )
    if turn_context.activity.type == ActivityTypes.invoke:
        return
    try:
        await turn_context.send_activity(MessageFactory.text(t(turn_context.activity.locale, "error.generic")))
    except Exception:  # noqa: BLE001 - the connector itself may be what failed; the log has the cause
        log.exception("could not send the error reply for activity %s", turn_context.activity.id)


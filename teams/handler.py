"""The Teams turn: refuses other tenants, identifies the speaker, runs dialogs, routes card actions by verb.

`BlockedSenderBot.on_turn` is what the adapter runs for every inbound activity. It checks the tenant and identifies
the speaker BEFORE the Agents SDK's `AgentApplication` (built in `teams/app.py`) loads any state, then hands the
turn to the application, which routes messages to the main dialog, each `Action.Execute` verb to its row of the
verb table (`teams/routes.py`) and saves conversation and user state after the turn.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from microsoft_agents.activity import Activity, ActivityTypes, AdaptiveCardInvokeResponse, InvokeResponse
from microsoft_agents.hosting.core import (
    Connections,
    ConversationState,
    MessageFactory,
    Storage,
    TurnContext,
    TurnState,
)
from microsoft_agents.hosting.dialogs import Dialog, DialogSet, DialogTurnStatus

from cards.help import welcome_card
from cards.verbs import Verb
from core.presses import Answer, Press
from dialogs.context import SPEAKER_KEY, message_text, send_card, speaker_of
from dialogs.intents import Intent, recognize
from dialogs.main import is_bare_investigation
from domain.people import Speaker
from locales import t
from teams.app import DIALOG_STATE_PROPERTY, new_application
from teams.identity import RoleResolver, activity_tenant_id, identify
from teams.invoke import body_of, error_response, invoke_response, message_response
from teams.proactive import reference_of
from teams.ratelimit import RateLimiter
from teams.routes import Route, StartDialog
from teams.storage import nothing_to_store

__all__ = ["BlockedSenderBot", "nothing_to_store", "on_turn_error"]

log = logging.getLogger(__name__)

# Messages that read the tenant (an investigation, a user's check of their own account) or notify IT count against
# the speaker's rate limit (teams/ratelimit.py), as do all card actions.
RATE_LIMITED_INTENTS = frozenset({Intent.INVESTIGATE, Intent.SECURE, Intent.UNBLOCK, Intent.REPORT_BOUNCE,
                                  Intent.STATUS, Intent.NOTIFY_IT, Intent.TRIAGE})

async def _send_invoke_response(context: TurnContext, status: int, body: Any = None) -> None:
    """Answer the invoke with `status` and `body` (the adapter writes it once, as the HTTP response)."""
    await context.send_activity(Activity(type=ActivityTypes.invoke_response,
                                         value=InvokeResponse(status=status, body=body)))


class BlockedSenderBot:
    """Routes Teams activities to dialogs and card actions; the application saves state after every turn."""

    def __init__(
        self,
        *,
        tenant_id: str,
        storage: Storage,
        connections: Connections,
        main_dialog: Dialog,
        roles: RoleResolver,
        routes: Mapping[Verb, Route],
        rate_limiter: RateLimiter,
        remember: Callable[[TurnContext, Speaker], Awaitable[None]],
        file_consent: Callable[[TurnContext, Speaker], Awaitable[None]] | None = None,
    ) -> None:
        self._tenant_id = tenant_id.lower()
        # Saves the speaker's personal-chat conversation reference, locale and time zone (proactive messages).
        self._remember = remember
        self._rate_limiter = rate_limiter
        self._main_dialog = main_dialog
        self._roles = roles
        # Where every button goes (`teams/routes.py`).
        self._routes = routes
        # The answer to a file consent card: the incident report's upload (`teams.files.ReportExports.on_consent`).
        self._file_consent = file_consent
        self.app = new_application(self, storage=storage, connections=connections)
        # The accessor reads the conversation state the application loaded into the turn (the SDK caches it in
        # the turn context under the same key), so one dialog set serves every turn.
        self._dialogs = DialogSet(ConversationState(storage).create_property(DIALOG_STATE_PROPERTY))
        self._dialogs.add(main_dialog)

    @property
    def verbs(self) -> Mapping[Verb, Route]:
        """The verb table the application routes `Action.Execute` presses by."""
        return self._routes

    async def on_turn(self, turn_context: TurnContext) -> None:
        """Refuse other tenants, identify the speaker, then let the application run the turn."""
        tenant_id = activity_tenant_id(turn_context)
        if not tenant_id or tenant_id.lower() != self._tenant_id:
            log.warning(
                "refused activity %s of type %s from tenant %s",
                turn_context.activity.id,
                turn_context.activity.type,
                tenant_id or "(none)",
            )
            if turn_context.activity.type == ActivityTypes.invoke:
                await _send_invoke_response(turn_context, 403)
            return
        speaker = await identify(turn_context, self._roles, self._tenant_id)
        turn_context.turn_state[SPEAKER_KEY] = speaker
        await self._remember(turn_context, speaker)
        await self.app.on_turn(turn_context)

    async def begin_main(self, turn_context: TurnContext, options: Mapping[str, Any]) -> None:
        """Start the main dialog with `options` (an intent and its argument), ending any dialog in progress."""
        dialog_context = await self._dialogs.create_context(turn_context)
        if dialog_context.active_dialog is not None:
            await dialog_context.cancel_all_dialogs()
        await dialog_context.begin_dialog(self._main_dialog.id, dict(options))

    def _rate_limited(self, turn_context: TurnContext) -> str | None:
        """The polite refusal when the speaker is over their limit, else None (and the event is counted)."""
        speaker = speaker_of(turn_context)
        key = speaker.aad_object_id
        if not key:  # no Entra id (not Teams): the channel's own user id still tells people apart
            sender = turn_context.activity.from_property
            key = str(sender.id or "") if sender else ""
        decision = self._rate_limiter.check(key or "(unknown)")
        if decision.allowed:
            return None
        log.info("rate limit: refused activity %s (%s)", turn_context.activity.id, turn_context.activity.type)
        return t(speaker.locale, "ratelimit.wait", limit=self._rate_limiter.limit,
                 seconds=decision.retry_after_seconds)

    async def on_message(self, turn_context: TurnContext, state: TurnState) -> None:
        """Continue the active dialog, or start the main dialog for a new request."""
        dialog_context = await self._dialogs.create_context(turn_context)
        intent = recognize(message_text(turn_context)).intent
        if dialog_context.active_dialog is not None and intent == Intent.CANCEL:
            await dialog_context.cancel_all_dialogs()
            await turn_context.send_activity(t(turn_context.activity.locale, "cancel.done"))
            return
        # A bare name typed with nothing pending starts an investigation too (the main dialog's guess): same limit.
        # With a question pending it answers it, and the command that asked was counted already.
        if intent in RATE_LIMITED_INTENTS or (dialog_context.active_dialog is None and is_bare_investigation(
                message_text(turn_context), speaker_of(turn_context))):
            refusal = self._rate_limited(turn_context)
            if refusal is not None:
                await turn_context.send_activity(refusal)
                return
        result = await dialog_context.continue_dialog()  # type: ignore[no-untyped-call]
        if result.status == DialogTurnStatus.Empty:
            await dialog_context.begin_dialog(self._main_dialog.id)

    async def on_members_added(self, turn_context: TurnContext, state: TurnState) -> None:
        """Greet once, when the bot itself is added to a chat or team, with what the one who added it may do (the
        buttons check the role of whoever presses them)."""
        activity = turn_context.activity
        recipient_id = activity.recipient.id if activity.recipient else None
        if any(member.id == recipient_id for member in activity.members_added or []):
            await send_card(turn_context, welcome_card(activity.locale, speaker_of(turn_context).role))

    async def on_other(self, turn_context: TurnContext, state: TurnState) -> None:
        """Every other activity (installationUpdate, other conversation updates, reactions, other invokes): nothing
        to do. Routed so the SDK's "No route found" warning, which carries the user's text, never fires."""
        del turn_context, state

    def action(self, verb: Verb) -> Callable[[TurnContext, TurnState, Any], Awaitable[AdaptiveCardInvokeResponse]]:
        """The `Action.Execute` handler of one verb of the table (registered with the SDK's routing by verb)."""
        route = self._routes[verb]

        async def handle(turn_context: TurnContext, state: TurnState, data: Any) -> AdaptiveCardInvokeResponse:
            refusal = self._rate_limited(turn_context)
            if refusal is not None:
                # A message response leaves the card as it was; never an error status, so Teams shows the text.
                return message_response(refusal)
            speaker = speaker_of(turn_context)
            if isinstance(route, StartDialog):
                return invoke_response(await self._start(turn_context, speaker, route))
            activity = turn_context.activity
            reply_to = activity.reply_to_id
            press = Press(verb, data if isinstance(data, dict) else {}, speaker,
                          conversation=reference_of(activity) if activity.conversation is not None else None,
                          reply_to=reply_to if isinstance(reply_to, str) and reply_to else None)
            return invoke_response(await route(press))

        return handle

    async def _start(self, turn_context: TurnContext, speaker: Speaker, route: StartDialog) -> Answer:
        """A button that runs a typed phrase's flow: start it in this chat and leave a short note."""
        if not route.allowed(speaker):
            return Answer.message(t(speaker.locale, route.refusal_key))
        await self.begin_main(turn_context, {"intent": route.intent.value, "argument": ""})
        return Answer.message(t(speaker.locale, route.answer_key))

    async def on_file_consent(self, turn_context: TurnContext, state: TurnState) -> None:
        """A `fileConsent/invoke` (Allow or Decline on the report's file consent card): the speaker's role and the
        case are checked again there."""
        del state
        if self._file_consent is None:
            await _send_invoke_response(turn_context, 404)
            return
        refusal = self._rate_limited(turn_context)
        if refusal is not None:
            await _send_invoke_response(turn_context, 429)
            return
        await self._file_consent(turn_context, speaker_of(turn_context))

    async def on_unknown_action(self, turn_context: TurnContext, state: TurnState) -> None:
        """A press whose verb is not in the table, or whose `value`/`action` is missing or malformed: a clear
        error card, never a 500 (without this route the SDK would answer 501 with an empty body)."""
        log.info("unknown or malformed card action in activity %s", turn_context.activity.id)
        response = error_response(400, "BadRequest", t(turn_context.activity.locale, "card.unknown_action"))
        await _send_invoke_response(turn_context, 200, body_of(response))

    async def on_error(self, turn_context: TurnContext, error: Exception) -> None:
        """The application's error handler: see `on_turn_error`."""
        await on_turn_error(turn_context, error)


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

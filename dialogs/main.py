"""The main dialog: routes each new message by speaker and recognised intent.

Intents answered in one turn by another part (the user's report, the IT channel) come in as `routes`:
the composition root (`bot.py`) maps each such intent to a coroutine, so this module needs to know
nothing about channels or notifications.

A recognised command typed while a question is pending (a yes/no, a list of accounts, "which account?") is a new
request, never "please answer yes or no": the question is dropped, the bot says so, and the command runs. The
one exception is "investigate X" typed after "which account?" (the help card's button asks it): that is the
answer, said the long way, so it is taken as one without a word about dropping anything.

A message that is no command but looks like a directory name ("Megan Bowen", an address) is, for IT staff, an
investigation of it (`bare`: if the directory has nobody by that name, the answer is "I didn't understand");
a user is told what they can do instead, without a directory lookup.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import cast

from microsoft_agents.hosting.core import TurnContext
from microsoft_agents.hosting.dialogs import (
    ComponentDialog,
    Dialog,
    DialogContext,
    DialogInstance,
    DialogState,
    DialogTurnResult,
    WaterfallDialog,
    WaterfallStepContext,
)

from cards.help import help_card
from dialogs.context import message_text, send_card, speaker_of
from dialogs.intents import Intent, normalise, recognize, yes_no
from dialogs.investigate import ACCOUNT_PROMPT, INVESTIGATE_DIALOG_ID
from domain.people import Speaker
from locales import t

MAIN_DIALOG_ID = "main"
_ROUTE = f"{MAIN_DIALOG_ID}.route"
# What a directory name or address looks like: at most four words of letters (with ' - .), or one address.
_NAME = re.compile(r"^[^\W\d_][\w'’.-]*(?: [^\W\d_][\w'’.-]*){0,3}$")
_ADDRESS = re.compile(r"^[^\s@]{1,64}@[^\s@]{1,255}$")
MAX_NAME = 80
# Answers an intent in the current turn: (turn context, the intent's argument).
IntentRoute = Callable[[TurnContext, str], Awaitable[None]]


class MainDialog(ComponentDialog):
    """Recognises the message and answers it or starts the dialog that handles it."""

    def __init__(self, *, investigate: Dialog, routes: Mapping[Intent, IntentRoute] | None = None) -> None:
        super().__init__(MAIN_DIALOG_ID)
        self._routes: dict[Intent, IntentRoute] = dict(routes or {})
        self.add_dialog(investigate)
        self.add_dialog(WaterfallDialog(_ROUTE, [self._route, self._done]))
        # The SDK leaves this attribute unannotated (its default, None, is all mypy sees).
        self.initial_dialog_id = _ROUTE  # type: ignore[assignment]

    async def on_continue_dialog(self, inner_dc: DialogContext) -> DialogTurnResult:
        """Answer the pending question, unless the message is a recognised command: then that runs instead."""
        recognized = recognize(message_text(inner_dc.context))
        if recognized.intent in (Intent.UNKNOWN, Intent.CANCEL) or inner_dc.active_dialog is None:
            return cast(DialogTurnResult, await inner_dc.continue_dialog())  # type: ignore[no-untyped-call]
        pending = _pending(inner_dc.active_dialog)
        await inner_dc.cancel_all_dialogs()
        if not (recognized.intent == Intent.INVESTIGATE and pending == ACCOUNT_PROMPT):
            await inner_dc.context.send_activity(t(speaker_of(inner_dc.context).locale, "dialog.dropped"))
        return cast(DialogTurnResult, await inner_dc.begin_dialog(
            _ROUTE, {"intent": recognized.intent.value, "argument": recognized.argument}))

    async def _route(self, step: WaterfallStepContext) -> DialogTurnResult:
        speaker = speaker_of(step.context)
        options = step.options if isinstance(step.options, dict) else {}
        recognized = recognize(message_text(step.context))
        intent_name = options.get("intent")
        intent = Intent(intent_name) if isinstance(intent_name, str) and intent_name in set(Intent) else (
            recognized.intent)
        argument = str(options.get("argument", recognized.argument))
        route = self._routes.get(intent)
        if route is not None:
            await route(step.context, argument)
        elif intent in (Intent.HELP, Intent.GREETING):
            await send_card(step.context, help_card(speaker.name, speaker.role, speaker.locale))
        elif intent in (Intent.INVESTIGATE, Intent.SECURE, Intent.UNBLOCK):
            if speaker.may_investigate:
                action = "" if intent == Intent.INVESTIGATE else intent.value
                return cast(DialogTurnResult, await step.begin_dialog(
                    INVESTIGATE_DIALOG_ID, {"query": argument, "action": action}))
            # A role that could not be looked up is USER (fail closed); "you may not" would be wrong, so neutral.
            await step.context.send_activity(t(speaker.locale, "error.tenant_unreachable" if speaker.role_unknown
                                               else "investigate.not_allowed"))
        elif intent == Intent.CANCEL:
            await step.context.send_activity(t(speaker.locale, "cancel.nothing"))
        elif looks_like_account(message_text(step.context)):
            if is_bare_investigation(message_text(step.context), speaker):
                return cast(DialogTurnResult, await step.begin_dialog(
                    INVESTIGATE_DIALOG_ID, {"query": normalise(message_text(step.context)), "bare": True}))
            await step.context.send_activity(t(speaker.locale, "unknown.name_user"))
        else:
            await step.context.send_activity(t(speaker.locale, "unknown.text"))
        return cast(DialogTurnResult, await step.end_dialog())

    async def _done(self, step: WaterfallStepContext) -> DialogTurnResult:
        return cast(DialogTurnResult, await step.end_dialog(step.result))


def looks_like_account(text: str | None) -> bool:
    """True for a message that could be a directory name or address ("Megan Bowen", "gradya@example.com"),
    and is not a yes or no said when nothing was asked."""
    value = normalise(text or "")
    if not value or len(value) > MAX_NAME or yes_no(value) is not None:
        return False
    return bool(_NAME.match(value) or _ADDRESS.match(value))


def is_bare_investigation(text: str | None, speaker: Speaker) -> bool:
    """True when a message typed with no question pending starts an investigation by being a bare directory name
    (IT staff only): the turn reads the directory like "investigate X" does, so it counts against the same limit."""
    return speaker.may_investigate and recognize(text).intent == Intent.UNKNOWN and looks_like_account(text)


def _pending(instance: DialogInstance) -> str:
    """The id of the innermost dialog waiting for this message (a prompt), through component dialogs' stacks."""
    while True:
        inner = instance.state.get(ComponentDialog.persisted_dialog_state) if instance.state else None
        if not isinstance(inner, DialogState) or not inner.dialog_stack:
            return str(instance.id)
        instance = inner.dialog_stack[0]

"""The main dialog: routes each new message by speaker and recognised intent.

Intents answered in one turn by another part (the user's report, the IT channel) come in as `routes`:
the composition root (`bot.py`) maps each such intent to a coroutine, so this module needs to know
nothing about channels or notifications.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import cast

from microsoft_agents.hosting.core import TurnContext
from microsoft_agents.hosting.dialogs import (
    ComponentDialog,
    Dialog,
    DialogTurnResult,
    WaterfallDialog,
    WaterfallStepContext,
)

from cards.help import help_card
from dialogs.context import message_text, send_card, speaker_of
from dialogs.intents import Intent, recognize
from dialogs.investigate import INVESTIGATE_DIALOG_ID
from locales import t

MAIN_DIALOG_ID = "main"
# Answers an intent in the current turn: (turn context, the intent's argument).
IntentRoute = Callable[[TurnContext, str], Awaitable[None]]


class MainDialog(ComponentDialog):
    """Recognises the message and answers it or starts the dialog that handles it."""

    def __init__(self, *, investigate: Dialog, routes: Mapping[Intent, IntentRoute] | None = None) -> None:
        super().__init__(MAIN_DIALOG_ID)
        self._routes: dict[Intent, IntentRoute] = dict(routes or {})
        self.add_dialog(investigate)
        self.add_dialog(WaterfallDialog(f"{MAIN_DIALOG_ID}.route", [self._route, self._done]))
        # The SDK leaves this attribute unannotated (its default, None, is all mypy sees).
        self.initial_dialog_id = f"{MAIN_DIALOG_ID}.route"  # type: ignore[assignment]

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
        elif intent == Intent.INVESTIGATE:
            if speaker.may_investigate:
                return cast(DialogTurnResult, await step.begin_dialog(INVESTIGATE_DIALOG_ID, {"query": argument}))
            await step.context.send_activity(t(speaker.locale, "investigate.not_allowed"))
        elif intent == Intent.CANCEL:
            await step.context.send_activity(t(speaker.locale, "cancel.nothing"))
        else:
            await step.context.send_activity(t(speaker.locale, "unknown.text"))
        return cast(DialogTurnResult, await step.end_dialog())

    async def _done(self, step: WaterfallStepContext) -> DialogTurnResult:
        return cast(DialogTurnResult, await step.end_dialog(step.result))

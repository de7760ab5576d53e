"""The investigate dialog (IT staff and security admins): settle the account, confirm, investigate.

Dialog state holds only plain JSON (the query, candidate ids, the confirmed account's directory record), so it
survives a restart and another instance continuing the conversation. The record shown in the confirmation is
what the investigation starts from after "yes" (no second directory lookup before the progress card); the
collector re-reads it alongside the evidence.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import cast

from microsoft_agents.hosting.core import MessageFactory, TurnContext
from microsoft_agents.hosting.dialogs import ComponentDialog, DialogTurnResult, WaterfallDialog, WaterfallStepContext
from microsoft_agents.hosting.dialogs.choices import Choice, ListStyle
from microsoft_agents.hosting.dialogs.prompts import (
    ChoicePrompt,
    ConfirmPrompt,
    PromptOptions,
    PromptRecognizerResult,
    TextPrompt,
)

from cards.text import clean, md_escape
from dialogs.casework import CaseDesk
from dialogs.context import speaker_of
from dialogs.intents import yes_no
from investigation.resolve import Outcome, resolve_account
from investigation.snapshot import dump, load
from locales import t
from m365.errors import M365Error
from m365.protocol import Tenant
from m365.records import User

log = logging.getLogger(__name__)

INVESTIGATE_DIALOG_ID = "investigate"
_ACCOUNT_PROMPT = "investigate.account"
_CHOICE_PROMPT = "investigate.choice"
_CONFIRM_PROMPT = "investigate.confirm"
_STEPS = f"{INVESTIGATE_DIALOG_ID}.steps"
_QUERY = "query"
_CANDIDATES = "candidates"
_USER_ID = "user_id"
_USER = "user"
MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class InvestigateOptions:
    """How the dialog was started: with the account text already given, or without."""

    query: str = ""


def describe(user: User) -> str:
    """One line naming an account for a choice list: display name and UPN (tenant text, cleaned)."""
    return f"{clean(user.display_name, 80)} ({clean(user.user_principal_name, 120)})"


class YesNoPrompt(ConfirmPrompt):
    """A confirm prompt that also understands Dutch (recognizers-text has no Dutch yes/no)."""

    async def on_recognize(self, turn_context: TurnContext, state: dict[str, object],
                           options: PromptOptions) -> PromptRecognizerResult:
        answer = yes_no(turn_context.activity.text)
        if answer is not None:
            return PromptRecognizerResult(succeeded=True, value=answer)
        return await super().on_recognize(turn_context, state, options)


class InvestigateDialog(ComponentDialog):
    """Asks which account (unless given), disambiguates, confirms, then investigates through `CaseDesk`."""

    def __init__(self, *, tenant: Tenant, desk: CaseDesk) -> None:
        super().__init__(INVESTIGATE_DIALOG_ID)
        self._tenant = tenant
        self._desk = desk
        self.add_dialog(TextPrompt(_ACCOUNT_PROMPT))
        self.add_dialog(ChoicePrompt(_CHOICE_PROMPT))
        self.add_dialog(YesNoPrompt(_CONFIRM_PROMPT))
        self.add_dialog(WaterfallDialog(_STEPS, [self._ask_account, self._resolve, self._chosen, self._confirmed]))
        # The SDK leaves this attribute unannotated (its default, None, is all mypy sees).
        self.initial_dialog_id = _STEPS  # type: ignore[assignment]

    async def _ask_account(self, step: WaterfallStepContext) -> DialogTurnResult:
        options = step.options if isinstance(step.options, dict) else {}
        query = str(options.get(_QUERY) or "").strip()
        if query:
            return await step.next(query)
        locale = speaker_of(step.context).locale
        prompt = options.get("reprompt_key") or "investigate.ask"
        return await step.prompt(
            _ACCOUNT_PROMPT, PromptOptions(prompt=MessageFactory.text(t(locale, str(prompt))))
        )

    async def _resolve(self, step: WaterfallStepContext) -> DialogTurnResult:
        locale = speaker_of(step.context).locale
        text = str(step.result or "")
        attempts = int((step.options or {}).get("attempts", 0)) if isinstance(step.options, dict) else 0
        try:
            resolution = await resolve_account(self._tenant, text)
        except M365Error as exc:
            log.warning("account lookup failed: %s", type(exc).__name__)
            await step.context.send_activity(t(locale, "error.tenant_unreachable"))
            return cast(DialogTurnResult, await step.end_dialog())
        if resolution.outcome in (Outcome.invalid, Outcome.none):
            key = f"investigate.{resolution.problem}" if resolution.outcome == Outcome.invalid else (
                "investigate.not_found")
            await step.context.send_activity(t(locale, key, query=md_escape(resolution.query, 120)))
            if attempts + 1 >= MAX_ATTEMPTS:
                await step.context.send_activity(t(locale, "investigate.giving_up"))
                return cast(DialogTurnResult, await step.end_dialog())
            return await step.replace_dialog(
                _STEPS, {"attempts": attempts + 1, "reprompt_key": "investigate.ask_again"}
            )
        if resolution.outcome == Outcome.found:
            step.values[_USER_ID] = resolution.user.id
            return await step.next(None)
        step.values[_CANDIDATES] = [u.id for u in resolution.users]
        choices = [Choice(value=describe(u)) for u in resolution.users]
        return await step.prompt(
            _CHOICE_PROMPT,
            PromptOptions(
                prompt=MessageFactory.text(t(locale, "investigate.choose", count=len(choices))),
                retry_prompt=MessageFactory.text(t(locale, "investigate.choose_retry")),
                choices=choices,
                style=ListStyle.hero_card,
            ),
        )

    async def _chosen(self, step: WaterfallStepContext) -> DialogTurnResult:
        locale = speaker_of(step.context).locale
        if _USER_ID not in step.values:
            stored = step.values.get(_CANDIDATES)
            candidates = [str(candidate) for candidate in stored] if isinstance(stored, list) else []
            index = getattr(step.result, "index", None)
            if not isinstance(index, int) or not 0 <= index < len(candidates):
                return cast(DialogTurnResult, await step.end_dialog())
            step.values[_USER_ID] = candidates[index]
        user = await self._load(step, str(step.values[_USER_ID]))
        if user is None:
            return cast(DialogTurnResult, await step.end_dialog())
        step.values[_USER] = dump(user)
        department = clean(user.department, 80) if user.department else t(locale, "investigate.no_department")
        question = t(
            locale,
            "investigate.confirm",
            name=md_escape(user.display_name, 80),
            upn=md_escape(user.user_principal_name, 120),
            department=md_escape(department, 80),
        )
        notes = []
        if user.is_guest:
            notes.append(t(locale, "investigate.note_guest"))
        if not user.account_enabled:
            notes.append(t(locale, "investigate.note_disabled"))
        if notes:
            question = question + "\n\n" + " ".join(notes)
        return await step.prompt(
            _CONFIRM_PROMPT,
            PromptOptions(prompt=MessageFactory.text(question),
                          retry_prompt=MessageFactory.text(t(locale, "investigate.confirm_retry"))),
        )

    async def _confirmed(self, step: WaterfallStepContext) -> DialogTurnResult:
        speaker = speaker_of(step.context)
        if not step.result:
            await step.context.send_activity(t(speaker.locale, "cancel.done"))
            return cast(DialogTurnResult, await step.end_dialog())
        user_id = str(step.values[_USER_ID])
        user = _confirmed_user(step.values.get(_USER), user_id)
        if user is None:  # state written by an older version: look the account up again
            user = await self._load(step, user_id)
        if user is None:
            return cast(DialogTurnResult, await step.end_dialog())
        result = await self._desk.investigate(step.context, user, speaker)
        return cast(DialogTurnResult, await step.end_dialog(result.case.id))

    async def _load(self, step: WaterfallStepContext, user_id: str) -> User | None:
        locale = speaker_of(step.context).locale
        try:
            user = await self._tenant.get_user(user_id)
        except M365Error as exc:
            log.warning("account lookup failed: %s", type(exc).__name__)
            await step.context.send_activity(t(locale, "error.tenant_unreachable"))
            return None
        if user is None:
            await step.context.send_activity(t(locale, "investigate.vanished"))
        return user


def _confirmed_user(data: object, user_id: str) -> User | None:
    """The account record kept in dialog state at the confirmation, or None when absent or unreadable."""
    if not isinstance(data, dict):
        return None
    try:
        user = load(User, data)
    except (TypeError, ValueError, KeyError):
        return None
    return user if user.id == user_id else None

"""The investigate dialog (IT staff and security admins): settle the account, confirm when unsure, investigate.

How forgiving it is, and why:

- **An exact match needs no question.** An address, a UPN, an alias or a display name that only one account has
  exactly is who was meant: the investigation starts at once. Only a single *partial* match ("investigate Grady"
  finding Grady Archie) asks "Investigate Grady Archie (…)?" first, so a half-typed name never reads someone's
  sign-ins by surprise.
- **A list is answered however people answer lists**: the number, the name ("Megan Bowen"), the address, a word of
  the name that only one of them has, "the second one", or the button (which sends the line as shown). A pick is a
  choice made with the names in view, so it is not confirmed again.
- **"Did you mean …?"** When nothing matches, near misses by edit distance (`dialogs.suggest`, the tenant's own
  search results) are offered the same way; with one suggestion "yes" picks it.
- **A bare name** (`bare`: the main dialog's guess that an unrecognised message is a directory name) that finds
  nobody ends with "I didn't understand", not with "which account?".
- **"secure X" / "unblock X"** (`action`) investigate X and then point at the card's buttons: those buttons and
  their gate are the only way the bot writes, so the typed command never bypasses a required step.

Dialog state holds only plain JSON (the query, candidate ids, the account's directory record), so it survives a
restart and another instance continuing the conversation. The record shown in the confirmation is what the
investigation starts from after "yes" (no second directory lookup before the progress card); the collector
re-reads it alongside the evidence.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import cast

from microsoft_agents.hosting.core import MessageFactory, TurnContext
from microsoft_agents.hosting.dialogs import ComponentDialog, DialogTurnResult, WaterfallDialog, WaterfallStepContext
from microsoft_agents.hosting.dialogs.choices import Choice, FoundChoice, ListStyle
from microsoft_agents.hosting.dialogs.prompts import (
    ChoicePrompt,
    ConfirmPrompt,
    PromptOptions,
    PromptRecognizerResult,
    TextPrompt,
)

from cards.findings import STEPS_TEXT_LIMIT, steps_text
from cards.text import clean, md_escape
from core.cases import can_act_on
from dialogs.casework import CaseDesk, InvestigationResult
from dialogs.context import speaker_of
from dialogs.intents import normalise, yes_no
from dialogs.suggest import near_misses
from domain.people import Speaker
from investigation.resolve import Outcome, normalise_query, resolve_account
from investigation.snapshot import dump, load
from locales import t
from m365.errors import M365Error
from m365.protocol import Tenant
from m365.records import User
from remediation.policy import open_required_steps
from remediation.views import current_steps

log = logging.getLogger(__name__)

INVESTIGATE_DIALOG_ID = "investigate"
ACCOUNT_PROMPT = "investigate.account"
CHOICE_PROMPT = "investigate.choice"
CONFIRM_PROMPT = "investigate.confirm"
_STEPS = f"{INVESTIGATE_DIALOG_ID}.steps"
_QUERY = "query"
_CANDIDATES = "candidates"
_USER_ID = "user_id"
_USER = "user"
_PICKED = "picked"
ACTIONS = ("secure", "unblock")
MAX_ATTEMPTS = 3
# "Declined": the answer to a list was "no" / "none of them".
DECLINED = -1

_ORDINALS = {
    "first": 0, "second": 1, "third": 2, "fourth": 3, "fifth": 4, "last": -2,
    "eerste": 0, "tweede": 1, "derde": 2, "vierde": 3, "vijfde": 4, "laatste": -2,
}
_ORDINAL = re.compile(r"^(?:(?:the|de|het)\s+)?(?P<word>\w+)(?:\s+(?:one|account|user|die|dan))?$")
_NONE = re.compile(r"^(?:none|none of (?:them|these)|neither|geen|geen van (?:beide|allen|deze)|niemand)$",
                   re.IGNORECASE)


@dataclass(frozen=True)
class InvestigateOptions:
    """How the dialog was started: with the account text already given, or without."""

    query: str = ""


def describe(user: User) -> str:
    """One line naming an account for a choice list: display name and UPN (tenant text, cleaned)."""
    return f"{clean(user.display_name, 80)} ({clean(user.user_principal_name, 120)})"


def names_of(user: User) -> list[str]:
    """What someone may type to pick this account from a list: its name, addresses and alias."""
    upn = user.user_principal_name
    names = [clean(user.display_name, 80), upn, user.mail or "", upn.split("@", 1)[0], user.mail_nickname or ""]
    return [name for name in dict.fromkeys(names) if name]


def is_exact(user: User, query: str) -> bool:
    """True when `query` names this account exactly: an address, UPN, alias or the whole display name."""
    key = normalise_query(query).casefold()
    proxies = {p.split(":", 1)[-1].casefold() for p in user.proxy_addresses}
    return key in {user.user_principal_name.casefold(), (user.mail or "").casefold(),
                   (user.mail_nickname or "").casefold(), user.display_name.casefold(), *proxies}


def pick(text: str | None, choices: list[Choice]) -> int | None:
    """Which of `choices` the answer means: an index, `DECLINED`, or None when it is not an answer to the list."""
    value = normalise(text or "").casefold()
    if not value or not choices:
        return None
    if value.isdigit():
        number = int(value)
        return number - 1 if 1 <= number <= len(choices) else None
    ordinal = _ORDINAL.match(value)
    if ordinal and ordinal["word"] in _ORDINALS:
        index = _ORDINALS[ordinal["word"]]
        index = len(choices) - 1 if index == -2 else index
        return index if index < len(choices) else None
    if _NONE.match(value):
        return DECLINED
    answer = yes_no(value)
    if answer is False:
        return DECLINED
    if answer is True:
        return 0 if len(choices) == 1 else None
    query = normalise_query(value).casefold()
    whole = [i for i, choice in enumerate(choices)
             if query in {name.casefold() for name in (choice.value, *(choice.synonyms or []))}]
    if len(whole) == 1:
        return whole[0]
    if whole:
        return None
    # One word of a name that only one of them has ("Lewis" between Megan Bowen and Megan Lewis).
    words = [i for i, choice in enumerate(choices)
             if choice.synonyms and query in clean(choice.synonyms[0]).casefold().split()]
    return words[0] if len(words) == 1 else None


class YesNoPrompt(ConfirmPrompt):
    """A confirm prompt that also understands Dutch (recognizers-text has no Dutch yes/no)."""

    async def on_recognize(self, turn_context: TurnContext, state: dict[str, object],
                           options: PromptOptions) -> PromptRecognizerResult:
        answer = yes_no(turn_context.activity.text)
        if answer is not None:
            return PromptRecognizerResult(succeeded=True, value=answer)
        return await super().on_recognize(turn_context, state, options)


class AccountChoicePrompt(ChoicePrompt):
    """A choice among accounts answered by number, name, address, ordinal, "yes" (one choice) or "no".

    The SDK's fuzzy matcher is not asked: between "Megan Bowen" and "Megan Lewis", "Megan" must not pick one."""

    async def on_recognize(self, turn_context: TurnContext, state: dict[str, object],
                           options: PromptOptions) -> PromptRecognizerResult:
        choices = list(options.choices or []) if options else []
        index = pick(turn_context.activity.text, choices)
        if index is None:
            return PromptRecognizerResult()
        value = choices[index].value if index >= 0 else ""
        return PromptRecognizerResult(succeeded=True, value=FoundChoice(value=value, index=index, score=1.0))


class InvestigateDialog(ComponentDialog):
    """Asks which account (unless given), disambiguates, confirms when unsure, then investigates (`CaseDesk`)."""

    def __init__(self, *, tenant: Tenant, desk: CaseDesk) -> None:
        super().__init__(INVESTIGATE_DIALOG_ID)
        self._tenant = tenant
        self._desk = desk
        self.add_dialog(TextPrompt(ACCOUNT_PROMPT))
        self.add_dialog(AccountChoicePrompt(CHOICE_PROMPT))
        self.add_dialog(YesNoPrompt(CONFIRM_PROMPT))
        self.add_dialog(WaterfallDialog(_STEPS, [self._ask_account, self._resolve, self._chosen, self._confirmed]))
        # The SDK leaves this attribute unannotated (its default, None, is all mypy sees).
        self.initial_dialog_id = _STEPS  # type: ignore[assignment]

    async def _ask_account(self, step: WaterfallStepContext) -> DialogTurnResult:
        options = _options(step)
        query = str(options.get(_QUERY) or "").strip()
        if query:
            return await step.next(query)
        locale = speaker_of(step.context).locale
        prompt = options.get("reprompt_key") or "investigate.ask"
        return await step.prompt(
            ACCOUNT_PROMPT, PromptOptions(prompt=MessageFactory.text(t(locale, str(prompt))))
        )

    async def _resolve(self, step: WaterfallStepContext) -> DialogTurnResult:
        locale = speaker_of(step.context).locale
        options = _options(step)
        text = str(step.result or "")
        attempts = options.get("attempts", 0)
        attempts = attempts if isinstance(attempts, int) else 0
        bare = bool(options.get("bare"))
        try:
            resolution = await resolve_account(self._tenant, text)
        except M365Error as exc:
            log.warning("account lookup failed: %s", type(exc).__name__)
            await step.context.send_activity(t(locale, "error.tenant_unreachable"))
            return cast(DialogTurnResult, await step.end_dialog())
        if resolution.outcome == Outcome.found:
            user = resolution.user
            step.values[_USER_ID] = user.id
            step.values[_USER] = dump(user)
            step.values[_PICKED] = is_exact(user, resolution.query)
            return await step.next(None)
        if resolution.outcome == Outcome.many:
            return await self._offer(step, resolution.users, t(locale, "investigate.choose",
                                                                count=len(resolution.users)))
        if resolution.outcome == Outcome.none:
            suggestions = await near_misses(self._tenant, resolution.query)
            if suggestions:
                key = "investigate.did_you_mean_one" if len(suggestions) == 1 else "investigate.did_you_mean"
                return await self._offer(step, suggestions, t(locale, key, query=md_escape(resolution.query, 120)))
        if bare:
            # A message the main dialog only guessed was a name: nobody by that name, so it was not one.
            await step.context.send_activity(t(locale, "unknown.text"))
            return cast(DialogTurnResult, await step.end_dialog())
        key = f"investigate.{resolution.problem}" if resolution.outcome == Outcome.invalid else (
            "investigate.not_found")
        await step.context.send_activity(t(locale, key, query=md_escape(resolution.query, 120)))
        if attempts + 1 >= MAX_ATTEMPTS:
            await step.context.send_activity(t(locale, "investigate.giving_up"))
            return cast(DialogTurnResult, await step.end_dialog())
        return await step.replace_dialog(
            _STEPS, {**options, _QUERY: "", "attempts": attempts + 1, "reprompt_key": "investigate.ask_again"}
        )

    async def _offer(self, step: WaterfallStepContext, users: tuple[User, ...], question: str) -> DialogTurnResult:
        """Ask which of `users`: by number, name or address typed, or the button."""
        locale = speaker_of(step.context).locale
        step.values[_CANDIDATES] = [u.id for u in users]
        choices = [Choice(value=describe(u), synonyms=names_of(u)) for u in users]
        return await step.prompt(
            CHOICE_PROMPT,
            PromptOptions(
                prompt=MessageFactory.text(question),
                retry_prompt=MessageFactory.text(t(locale, "investigate.choose_retry")),
                choices=choices,
                style=ListStyle.hero_card,
            ),
        )

    async def _chosen(self, step: WaterfallStepContext) -> DialogTurnResult:
        speaker = speaker_of(step.context)
        locale = speaker.locale
        user: User | None = None
        if _USER_ID not in step.values:
            stored = step.values.get(_CANDIDATES)
            candidates = [str(candidate) for candidate in stored] if isinstance(stored, list) else []
            index = getattr(step.result, "index", None)
            if index == DECLINED:
                await step.context.send_activity(t(locale, "cancel.done"))
                return cast(DialogTurnResult, await step.end_dialog())
            if not isinstance(index, int) or not 0 <= index < len(candidates):
                return cast(DialogTurnResult, await step.end_dialog())
            step.values[_USER_ID] = candidates[index]
            step.values[_PICKED] = True
        else:
            user = _confirmed_user(step.values.get(_USER), str(step.values[_USER_ID]))
        if user is None:
            user = await self._load(step, str(step.values[_USER_ID]))
        if user is None:
            return cast(DialogTurnResult, await step.end_dialog())
        step.values[_USER] = dump(user)
        if step.values.get(_PICKED):
            # An exact address or name, or a pick from a list with the names in view: nothing left to ask.
            return await self._investigate(step, user, speaker)
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
            CONFIRM_PROMPT,
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
        return await self._investigate(step, user, speaker)

    async def _investigate(self, step: WaterfallStepContext, user: User, speaker: Speaker) -> DialogTurnResult:
        result = await self._desk.investigate(step.context, user, speaker)
        action = str(_options(step).get("action") or "")
        if action in ACTIONS:
            await step.context.send_activity(_action_hint(action, speaker, user, result))
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


def _options(step: WaterfallStepContext) -> dict[str, object]:
    return dict(step.options) if isinstance(step.options, dict) else {}


def _action_hint(action: str, speaker: Speaker, user: User, result: InvestigationResult) -> str:
    """After "secure X" / "unblock X": which buttons of the card above do it, or why this speaker cannot.

    "secure" names every required step still open, read the way the card and the gate read them (the case's current
    steps against `Step.required`), so the hint never names a subset the gate would then contradict."""
    locale = speaker.locale
    if not can_act_on(speaker, user.id):
        return t(locale, "investigate.hint.cannot_act")
    if action == "unblock":
        return t(locale, "investigate.hint.unblock", unblock=t(locale, "button.unblock"))
    open_steps = open_required_steps(result.investigation.assessment.recommended_steps,
                                     current_steps(result.case).keys())
    if not open_steps:
        return t(locale, "investigate.hint.secure_none")
    # A chat message renders Markdown and a rule's name is tenant text: escaped, like every name in these hints.
    return t(locale, "investigate.hint.secure", count=len(open_steps),
             steps=md_escape(steps_text(open_steps, locale), STEPS_TEXT_LIMIT))


def _confirmed_user(data: object, user_id: str) -> User | None:
    """The account record kept in dialog state at the confirmation, or None when absent or unreadable."""
    if not isinstance(data, dict):
        return None
    try:
        user = load(User, data)
    except (TypeError, ValueError, KeyError):
        return None
    return user if user.id == user_id else None

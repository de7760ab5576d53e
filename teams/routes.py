"""Where every button goes: the one table `Verb` → handler, built once by `bot.py` and handed to the activity handler.

A handler is either a core service's answer to a `core.presses.Press` (the findings card's actions, `show_case`,
`refresh`, the triage card's buttons, IT's note) or a `StartDialog`: the button runs the typed phrase's flow in
the chat (through the main dialog) and leaves a short note under the card. Every verb of `cards.verbs.Verb` has a
row (`build_routes` refuses to build a table without one); button data is untrusted and every handler re-checks
the presser's role.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from cards.verbs import Verb
from core.presses import Answer, Press, Presses
from core.triage import TriageActions, may_view
from dialogs.intents import Intent
from domain.people import Speaker
from remediation.actions import ACTIONS

Handler = Callable[[Press], Awaitable[Answer]]
"""Answers one press (`data` is untrusted: ids only, re-checked by the handler)."""


def anyone(speaker: Speaker) -> bool:
    """Every speaker may press (what the flow does is decided inside it)."""
    del speaker
    return True


def may_investigate(speaker: Speaker) -> bool:
    """IT staff and security admins."""
    return speaker.may_investigate


@dataclass(frozen=True)
class StartDialog:
    """A button that starts `intent`'s flow in the chat and answers with the message `answer_key`; a speaker for
    whom `allowed` is false gets `refusal_key` instead."""

    intent: Intent
    answer_key: str
    allowed: Callable[[Speaker], bool] = anyone
    refusal_key: str = ""


Route = Handler | StartDialog


def build_routes(*, presses: Presses, triage: TriageActions, send_note: Handler,
                 export_report: Handler) -> Mapping[Verb, Route]:
    """The table: every verb and where its presses go."""
    routes: dict[Verb, Route] = {
        # The findings card: each remediation action (`remediation.actions.ACTIONS`), showing the case and
        # investigating it again go through the one press (policy → claim → audit → one tenant call → card).
        **{verb: presses.press for verb in ACTIONS},
        Verb.SHOW_CASE: presses.press,
        Verb.REFRESH: presses.press,
        # The findings card's note from IT to the people waiting on the case.
        Verb.SEND_NOTE: send_note,
        # The findings card's "Export report": the incident report through Teams' file consent (teams/files.py).
        Verb.EXPORT_REPORT: export_report,
        # The triage card: another page, and "Unblock all with no signs of compromise".
        Verb.TRIAGE_PAGE: triage.page,
        Verb.TRIAGE_UNBLOCK: triage.unblock,
        # The help and welcome cards, and the user's report card: the same flows as the typed phrases.
        Verb.START_INVESTIGATION: StartDialog(Intent.INVESTIGATE, "investigate.started", may_investigate,
                                              "investigate.not_allowed"),
        Verb.TRIAGE: StartDialog(Intent.TRIAGE, "triage.started", may_view, "triage.refused.user"),
        Verb.REPORT_BOUNCE: StartDialog(Intent.REPORT_BOUNCE, "report.button.answered"),
        Verb.HELP: StartDialog(Intent.HELP, "report.button.answered"),
        Verb.NOTIFY_IT: StartDialog(Intent.NOTIFY_IT, "report.button.answered"),
    }
    missing = sorted(set(Verb) - routes.keys())
    if missing:
        raise ValueError(f"verbs without a handler: {', '.join(missing)}")
    return routes

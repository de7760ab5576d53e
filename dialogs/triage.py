""""triage" / "list blocked" in a chat: a progress card, the bulk investigation, then the list in its place.

One turn, no dialog state: `TriageDesk.show` is a route of the main dialog. A bulk investigation of hundreds
of throttled accounts outlasts what Bot Framework waits for a turn, so after a few seconds the turn ends with the
progress card showing and the list replaces it later, proactively (`core.presses.Presses.in_time`).
Users get a polite refusal; IT staff see the list; security admins also get "Unblock all with no signs of
compromise" (the buttons are handled by `core.triage.TriageActions`, which re-check the role on every press).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from microsoft_agents.hosting.core import CardFactory, MessageFactory, TurnContext

from cards.base import JsonDict
from cards.triage import triage_progress_card, triage_unreachable_card
from core.ports import CardUpdater
from core.presses import Presses
from core.triage import Listing, TriageActions, may_view
from dialogs.casework import reference_of
from dialogs.context import send_card, speaker_of
from locales import t
from m365.errors import M365Error

log = logging.getLogger(__name__)


class TriageDesk:
    """Answers the triage intent: in the turn when it is quick, otherwise by updating the progress card."""

    def __init__(self, actions: TriageActions, presses: Presses, updater: CardUpdater) -> None:
        self._actions = actions
        # Its rule for work that outlasts what Teams waits for (`in_time`).
        self._presses = presses
        # Replaces the progress card when the list comes after the turn ended.
        self._updater = updater

    async def show(self, context: TurnContext, argument: str) -> None:
        """Post the list of restricted accounts; investigate the ones without a fresh verdict first, behind a
        progress card that the list then replaces (as the investigate dialog replaces its own)."""
        del argument
        speaker = speaker_of(context)
        if not may_view(speaker):
            await context.send_activity(t(speaker.locale, "triage.refused.user"))
            return
        reference = reference_of(context.activity)
        progress_id: str | None = None
        in_turn = True
        posting = asyncio.Lock()  # one progress card, whether the investigation or the time limit posts it

        async def started(count: int) -> None:
            nonlocal progress_id
            async with posting:
                if in_turn and progress_id is None:
                    progress_id = await send_card(context, triage_progress_card(count, speaker.locale))

        async def listed() -> _Listed:
            try:
                return _Listed(await self._actions.board.listing(speaker, investigate=True, on_start=started))
            except M365Error as exc:
                log.warning("triage: Microsoft 365 could not be read (%s)", type(exc).__name__)
                return _Listed(None)

        def final_card(listing: Listing | None) -> JsonDict:
            if listing is None:
                return triage_unreachable_card(speaker.locale)
            return self._actions.card(listing, speaker)

        async def late(outcome: _Listed) -> None:
            async with posting:  # the turn may still be posting the progress card this replaces
                shown = progress_id
            if shown is None:
                log.warning("triage finished in the background but its progress card cannot be updated")
                return
            await self._updater.update_card(reference, shown, final_card(outcome.listing))

        outcome = await self._presses.in_time(listed(), late=late)
        if outcome is None:  # still investigating: the turn ends with the progress card, `late` replaces it
            async with posting:
                in_turn = False
                if progress_id is None:
                    progress_id = await send_card(context, triage_progress_card(None, speaker.locale))
            return
        card = final_card(outcome.listing)
        if progress_id:
            activity = MessageFactory.attachment(CardFactory.adaptive_card(card))
            activity.id = progress_id
            await context.update_activity(activity)
        else:
            await send_card(context, card)


@dataclass(frozen=True)
class _Listed:
    """The list, or None when Microsoft 365 could not be read."""

    listing: Listing | None

"""Running an investigation in a conversation: progress card, evidence, the account's case, the findings card.

The case itself (open, record, status) is the core's (`core.cases.CaseBook`); this desk only talks: it sends the
progress card, asks the process's one investigation service, and replaces the progress card with the findings.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from microsoft_agents.activity import Activity
from microsoft_agents.hosting.core import CardFactory, MessageFactory, TurnContext

from cards.progress import progress_card
from core.cases import CaseBook, can_act_on
from dialogs.context import STORE_OUTAGE_ANSWERED_KEY
from domain.people import Speaker
from investigation.collect import Investigation
from investigation.service import Investigations
from locales import t
from m365.records import User
from remediation.views import CaseView, Viewer
from store import CaseRecord, Store, StoreUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InvestigationResult:
    """What an investigation in a conversation produced."""

    case: CaseRecord
    investigation: Investigation
    activity_id: str | None


class CaseDesk:
    """Investigates an account for a speaker and keeps the account's case and its cards up to date."""

    def __init__(self, *, investigations: Investigations, cases: CaseBook, store: Store, view: CaseView) -> None:
        self._investigations = investigations
        self._cases = cases
        self._store = store
        # Draws the card with what was already done on the case and updates its other copies.
        self._view = view

    async def investigate(self, context: TurnContext, user: User, speaker: Speaker) -> InvestigationResult:
        """Show progress at once, investigate, record the case, replace the progress card with the findings."""
        progress = await context.send_activity(
            MessageFactory.attachment(CardFactory.adaptive_card(progress_card(user.display_name, speaker.locale)))
        )
        progress_id = progress.id if progress else None
        # The case does not depend on the evidence: open it while the sources are read (off the critical path).
        opening = asyncio.create_task(self._cases.open(user, speaker), name="open-case")
        try:
            investigation = await self._investigations.investigate(user)
        except BaseException:
            opening.cancel()
            raise
        try:
            case = await self._cases.record(investigation, speaker, case=await opening)
        except StoreUnavailable:
            # The findings cannot be kept without their case: the progress card says so instead of "looking into"
            # for ever, and the turn ends neutrally (`teams.outage`).
            if progress_id:
                note = MessageFactory.text(t(speaker.locale, "error.store_unavailable"))
                note.id = progress_id
                await context.update_activity(note)
                context.turn_state[STORE_OUTAGE_ANSWERED_KEY] = True
            raise
        viewer = Viewer(speaker.locale, speaker.time_zone, can_act=can_act_on(speaker, user.id),
                        is_staff=speaker.may_investigate)
        card = await self._view.card(case, viewer, investigation=investigation)
        activity = MessageFactory.attachment(CardFactory.adaptive_card(card))
        if progress_id:
            activity.id = progress_id
            await context.update_activity(activity)
            activity_id: str | None = progress_id
        else:
            sent = await context.send_activity(activity)
            activity_id = sent.id if sent else None
        if activity_id:
            await self._store.cases.save_card(
                case.id, context.activity.conversation.id, activity_id, reference_of(context.activity)
            )
        # The card just sent is current; the case's other cards (in this chat too) are redrawn.
        await self._view.update_copies(case, skip_conversation=context.activity.conversation.id,
                                       skip_activity=activity_id)
        return InvestigationResult(case, investigation, activity_id)


def reference_of(activity: Activity) -> dict[str, Any]:
    """The conversation reference of `activity` as the store keeps it (plain JSON, camelCase, `bot` for the agent)."""
    data: dict[str, Any] = activity.get_conversation_reference().model_dump(mode="json", by_alias=True,
                                                                            exclude_none=True)
    return data

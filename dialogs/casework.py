"""Running an investigation in a conversation: progress card, evidence, the account's case, the findings card."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from botbuilder.core import CardFactory, MessageFactory, TurnContext
from botbuilder.schema import ConversationReference

from cards.findings import findings_card
from cards.progress import progress_card
from domain.people import Speaker
from investigation.collect import Collector, Investigation
from investigation.snapshot import to_snapshot
from m365.records import User
from remediation import policy
from remediation.views import CaseView, Viewer
from store import Actor, CaseRecord, StaleCase, Store

log = logging.getLogger(__name__)

MAX_CASE_UPDATE_ATTEMPTS = 5


@dataclass(frozen=True)
class InvestigationResult:
    """What an investigation in a conversation produced."""

    case: CaseRecord
    investigation: Investigation
    activity_id: str | None


def can_act_on(speaker: Speaker, account_id: str) -> bool:
    """Security admins may act, never on their own account (`remediation.policy`; every press is re-checked)."""
    return policy.speaker_can_act(speaker, account_id)


def case_summary(investigation: Investigation) -> dict[str, Any]:
    """What the case keeps: the verdict's gist and a snapshot to redraw the card without asking Microsoft 365."""
    restriction = investigation.evidence.restriction
    return {
        "restricted": investigation.evidence.restricted,
        "restricted_since": restriction.created.isoformat() if restriction and restriction.created else None,
        "finding_codes": [f.code for f in investigation.findings],
        "urgent": investigation.assessment.urgent,
        "snapshot": to_snapshot(investigation),
    }


class CaseDesk:
    """Investigates an account for a speaker and keeps the account's case and its cards up to date."""

    def __init__(self, *, collector: Collector, store: Store, view: CaseView | None = None) -> None:
        self._collector = collector
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
        opening = asyncio.create_task(self._open_case(user, speaker), name="open-case")
        try:
            investigation = await self._collector.investigate(user)
        except BaseException:
            opening.cancel()
            raise
        case = await self.record(investigation, speaker, case=await opening)
        if self._view is not None:
            viewer = Viewer(speaker.locale, speaker.time_zone, can_act=can_act_on(speaker, user.id),
                            is_staff=speaker.may_investigate)
            card = await self._view.card(case, viewer, investigation=investigation)
        else:
            card = findings_card(
                investigation,
                case_id=case.id,
                viewer_can_act=can_act_on(speaker, user.id),
                locale=speaker.locale,
                time_zone=speaker.time_zone,
            )
        activity = MessageFactory.attachment(CardFactory.adaptive_card(card))
        if progress_id:
            activity.id = progress_id
            await context.update_activity(activity)
            activity_id: str | None = progress_id
        else:
            sent = await context.send_activity(activity)
            activity_id = sent.id if sent else None
        if activity_id:
            reference = TurnContext.get_conversation_reference(context.activity)
            await self._store.cases.save_card(
                case.id, context.activity.conversation.id, activity_id, _serialize(reference)
            )
        if self._view is not None:
            # The card just sent is current; the case's other cards (in this chat too) are redrawn.
            await self._view.update_copies(case, skip_conversation=context.activity.conversation.id,
                                           skip_activity=activity_id)
        return InvestigationResult(case, investigation, activity_id)

    async def record(self, investigation: Investigation, speaker: Speaker, *,
                     case: CaseRecord | None = None) -> CaseRecord:
        """Open the account's case (or join the open one; `case` when already opened) and store this
        investigation's verdict on it."""
        user = investigation.evidence.user
        if case is None:
            case = await self._open_case(user, speaker)
        summary = case_summary(investigation)
        for _ in range(MAX_CASE_UPDATE_ATTEMPTS):
            try:
                updated = await self._store.cases.update_case(
                    case.id, case.version, verdict=investigation.assessment.verdict.value, summary=summary,
                    account_upn=user.user_principal_name, display_name=user.display_name,
                )
            except StaleCase:
                fresh = await self._store.cases.get_case(case.id)
                if fresh is None:
                    break
                case = fresh
                continue
            if updated is not None:
                return updated
            break
        log.warning("could not store the verdict on case %s; the card still shows it", case.id)
        return case

    async def _open_case(self, user: User, speaker: Speaker) -> CaseRecord:
        opened = await self._store.cases.open_or_get_case(
            speaker.tenant_id,
            user.id,
            user.user_principal_name,
            user.display_name,
            Actor(id=speaker.aad_object_id, name=speaker.name, upn=speaker.user_principal_name),
        )
        return opened.case


def _serialize(reference: ConversationReference) -> dict[str, Any]:
    data = reference.serialize()
    return data if isinstance(data, dict) else {}

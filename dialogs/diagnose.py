""""diagnose" / "controleer tenant" in a chat: the tenant pre-flight as a card, for security admins only.

One turn, no dialog state: `DiagnoseDesk.show` is a route of the main dialog. The checks are the ones
`make check-tenant` runs (`core.preflight`), read-only, against the tenant the bot uses. IT staff and users get a
refusal: the answer lists which permissions and roles the app lacks, which is for the people who grant them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from microsoft_agents.hosting.core import TurnContext

from cards.diagnose import diagnose_card
from core.preflight import Report
from dialogs.context import send_card, speaker_of
from domain.people import Role
from locales import t

log = logging.getLogger(__name__)

# Runs the pre-flight against the tenant the bot uses (the desk gets None when that tenant cannot be checked).
RunPreflight = Callable[[], Awaitable[Report]]


class DiagnoseDesk:
    """Answers the diagnose intent with the pre-flight card, or a refusal."""

    def __init__(self, run: RunPreflight | None) -> None:
        self._run = run

    async def show(self, context: TurnContext, argument: str) -> None:
        """Send the pre-flight card to a security admin; refuse everyone else."""
        del argument
        speaker = speaker_of(context)
        if speaker.role < Role.SECURITY_ADMIN:
            await context.send_activity(t(speaker.locale, "diagnose.refused"))
            return
        if self._run is None:
            await context.send_activity(t(speaker.locale, "diagnose.not_supported"))
            return
        report = await self._run()
        log.info("diagnose: %d of %d features unavailable", sum(not f.available for f in report.features),
                 len(report.features))
        await send_card(context, diagnose_card(report, speaker.locale))

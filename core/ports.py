"""What the core needs from the outside world, as protocols: the Teams edge and the other packages implement them.

Conversation references are plain dicts (the JSON form Bot Framework's `ConversationReference.serialize()` gives,
as the store keeps them), so the core never sees an SDK type; `teams.proactive.Messenger` turns them back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from domain.people import Speaker
from investigation.collect import Investigation
from m365.records import User
from store import CaseRecord

Reference = Mapping[str, Any]
"""A stored conversation reference (plain JSON)."""

Clock = Callable[[], datetime]
"""The time now (timezone-aware)."""

Progress = Callable[[int, int], Awaitable[None]]
"""`(done, total)` while many accounts are investigated."""


class CardUpdater(Protocol):
    """Replaces a posted card (`teams.proactive.Messenger`). Sending and updating raise
    `domain.delivery.ConversationGone` / `MessageGone` when the connector says the chat or message is gone."""

    async def update_card(self, reference: Reference, activity_id: str, card: Mapping[str, Any]) -> None:
        """Replace the card posted as `activity_id` in the referenced conversation."""
        ...


class CardPoster(CardUpdater, Protocol):
    """Posts and replaces cards in stored conversations (`teams.proactive.Messenger`)."""

    async def send_card(self, reference: Reference, card: Mapping[str, Any]) -> str | None:
        """Post an Adaptive Card; the new activity's id."""
        ...


class Outbox(CardPoster, Protocol):
    """Sends texts and cards into stored conversations and replaces posted cards (`teams.proactive.Messenger`):
    the notices' way to Teams."""

    async def send(self, reference: Reference, text: str) -> str | None:
        """Post a (Markdown) text message; the new activity's id."""
        ...


class Investigator(Protocol):
    """Investigates one account (`investigation.service.Investigations`)."""

    async def investigate(self, user: User) -> Investigation:
        """Collect and judge the evidence about `user`."""
        ...


class BulkInvestigator(Protocol):
    """Investigates many accounts at once (`investigation.service.Investigations`)."""

    async def investigate_many(self, users: Sequence[User], *,
                               on_progress: Progress | None = None) -> dict[str, Investigation]:
        """Every user's investigation, keyed by user id."""
        ...


class CaseRecorder(Protocol):
    """Stores an investigation on the account's case (`core.cases.CaseBook`)."""

    async def record(self, investigation: Investigation, speaker: Speaker, *,
                     case: CaseRecord | None = None) -> CaseRecord:
        """The account's active case (opened if needed; `case` when it is known already) with this
        investigation's verdict and snapshot."""
        ...

"""Cases: open an account's case (or join the open one), record an investigation on it, read its status.

One active case per account (`store.cases`, a partial unique index); every investigation, whoever ran it (the
investigate dialog, the watch's follow-up, triage, a press's refresh), stores its verdict and a snapshot here, so
a card can be redrawn later without asking Microsoft 365 again. Plain records in, plain records out: sending the
progress card and the findings card is the conversation's business (`dialogs/casework.py`).
"""

from __future__ import annotations

import logging
from typing import Any

from domain.people import Speaker
from investigation.collect import Investigation
from investigation.snapshot import to_snapshot
from m365.records import User
from remediation import policy
from store import Actor, CaseRecord, StaleCase, Store

log = logging.getLogger(__name__)

MAX_CASE_UPDATE_ATTEMPTS = 5
# `CaseBook.reported` looks for the user's report among the account's latest cases only (a bounded read).
REPORTED_CASES_LOOKED_AT = 5


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


def actor_of(speaker: Speaker) -> Actor:
    """The speaker as the store records who did something."""
    return Actor(id=speaker.aad_object_id, name=speaker.name, upn=speaker.user_principal_name)


class CaseBook:
    """Opens, records and reads the cases of accounts; the one place an investigation becomes a case."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def open(self, user: User, speaker: Speaker) -> CaseRecord:
        """The account's active case: the open one, else a new one opened by `speaker`."""
        opened = await self._store.cases.open_or_get_case(
            speaker.tenant_id, user.id, user.user_principal_name, user.display_name, actor_of(speaker),
        )
        return opened.case

    async def record(self, investigation: Investigation, speaker: Speaker, *,
                     case: CaseRecord | None = None) -> CaseRecord:
        """Open the account's case (or join the open one; `case` when already opened) and store this
        investigation's verdict on it."""
        user = investigation.evidence.user
        if case is None:
            case = await self.open(user, speaker)
        summary = case_summary(investigation)
        for _ in range(MAX_CASE_UPDATE_ATTEMPTS):
            try:
                updated = await self._store.cases.update_case(
                    case.id, case.version, verdict=investigation.assessment.verdict.value, summary=summary,
                    account_upn=user.user_principal_name, display_name=user.display_name,
                )
            except StaleCase:
                # Another writer (a press, another instance) changed the case since it was read: retry on it.
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

    async def status(self, tenant_id: str, account_id: str) -> CaseRecord | None:
        """The account's case to show its owner: the open one, else the latest; None when it never had one."""
        case = await self._store.cases.get_open_case(tenant_id, account_id)
        if case is not None:
            return case
        latest = await self._store.cases.list_cases(tenant_id=tenant_id, account_id=account_id, limit=1)
        return latest[0] if latest else None

    async def reported(self, tenant_id: str, account_id: str, user_aad_id: str) -> CaseRecord | None:
        """The account's latest case that `user_aad_id` reported (is subscribed to), among its last few; None when
        they never reported one. An IT investigation opens the account's case without subscribing anyone, so it
        is no report of theirs."""
        for case in await self._store.cases.list_cases(tenant_id=tenant_id, account_id=account_id,
                                                       limit=REPORTED_CASES_LOOKED_AT):
            if user_aad_id in await self._store.cases.list_subscribers(case.id):
                return case
        return None

    async def report(self, user: User, speaker: Speaker) -> tuple[CaseRecord, bool]:
        """A restricted user's own report: their account's active case (opened by them when there was none) with
        them subscribed to it, so they hear when they can send again. The flag is True for a new case."""
        # The speaker is the account's owner: their UPN is the account's, whatever Teams sent.
        opened = await self._store.cases.open_or_get_case(
            speaker.tenant_id, user.id, user.user_principal_name, user.display_name,
            Actor(id=speaker.aad_object_id, name=speaker.name, upn=user.user_principal_name),
        )
        await self._store.cases.add_subscriber(opened.case.id, speaker.aad_object_id)
        return opened.case, opened.created

"""The user's report: "my mail bounces" (or a pasted bounce, or the button) in a personal chat.

One turn, no waterfall: the bot checks **the speaker's own account** (from the activity's Entra object id,
never an address in the text), explains in the speaker's language and, when Microsoft 365 restricted it,
opens the account's case or joins the open one, tells IT once per restriction and shows the case status.
Keeping it single-turn means nothing of the report lives in dialog state, so a restart or another instance
changes nothing for the user.

The case (open or join, subscribe, status) is the core's `core.cases.CaseBook`; telling IT is behind `ItDesk`
(implemented by `core.notices.Notices`): dialogs do not post to channels.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Protocol

from microsoft_agents.hosting.core import TurnContext

from cards.report import not_restricted_card, restricted_card, status_card
from cards.text import md_escape
from core.cases import CaseBook
from core.notices import AlertOrigin, AlertOutcome
from dialogs.context import message_text, send_card, speaker_of
from dialogs.intents import MAX_TEXT
from domain.people import Speaker
from locales import format_datetime, t
from m365.errors import M365Error
from m365.protocol import Tenant
from m365.records import BlockedSender, User
from store import CaseRecord

log = logging.getLogger(__name__)

# A mail address anywhere in a message (to notice that a pasted bounce names other people).
_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+")


class ItDesk(Protocol):
    """How dialogs tell IT (`core.notices.Notices`)."""

    async def alert_restriction(self, user: User, restriction: BlockedSender, case: CaseRecord, *,
                                origin: AlertOrigin, background: bool) -> AlertOutcome:
        """Alert IT about this restriction unless someone did already (once per restriction)."""
        ...

    async def ask_it_to_look(self, user: User, speaker: Speaker) -> AlertOutcome:
        """Pass on an unrestricted user's "my mail bounces, look anyway" (once a day per user)."""
        ...


@dataclass(frozen=True)
class OwnAccount:
    """The speaker's own directory account and the addresses it sends as."""

    user: User

    @property
    def addresses(self) -> tuple[str, ...]:
        """Primary address first, then the UPN and the other SMTP addresses, each once (case-insensitive)."""
        out: list[str] = []
        proxies = [p.split(":", 1)[1] for p in self.user.proxy_addresses if p.lower().startswith("smtp:")]
        for address in (self.user.mail, self.user.user_principal_name, *proxies):
            if address and address.lower() not in (a.lower() for a in out):
                out.append(address)
        return tuple(out)

    @property
    def address(self) -> str:
        """The address the user sends as (Restricted entities lists the primary SMTP address)."""
        return self.addresses[0] if self.addresses else self.user.user_principal_name


def names_other_addresses(text: str, account: OwnAccount) -> bool:
    """True when the message mentions an address that is not one of the speaker's (a bounce's recipients)."""
    own = {a.lower() for a in account.addresses}
    return any(found.lower() not in own for found in _ADDRESS.findall(text[:MAX_TEXT]))


def is_personal(context: TurnContext) -> bool:
    """True in a one-to-one chat with the bot: a report is nobody else's business."""
    conversation = context.activity.conversation
    kind = (getattr(conversation, "conversation_type", None) or "personal").lower() if conversation else "personal"
    return kind == "personal"


class ReportDesk:
    """Answers reports of bounced mail, "status" and "notify IT anyway" for the speaker's own account."""

    def __init__(self, *, tenant: Tenant, cases: CaseBook, it: ItDesk) -> None:
        self._tenant = tenant
        self._cases = cases
        self._it = it

    async def report(self, context: TurnContext, argument: str = "") -> None:
        """"My mail bounces": check the speaker's account and explain; restricted → case, IT, status card."""
        speaker = speaker_of(context)
        account = await self._own_account(context, speaker)
        if account is None:
            return
        locale = speaker.locale
        others = names_other_addresses(message_text(context), account)
        try:
            restriction = await self._restriction(account)
        except M365Error as exc:
            log.warning("restriction check failed for a report: %s", type(exc).__name__)
            await context.send_activity(t(locale, "error.tenant_unreachable"))
            return
        if restriction is None:
            await self._not_restricted(context, speaker, account, others)
            return
        user = account.user
        case, created = await self._cases.report(user, speaker)
        outcome = await self._it.alert_restriction(user, restriction, case, origin=AlertOrigin.REPORT,
                                                   background=True)
        log.info("report on case %s (%s): IT alert %s", case.id, "new" if created else "joined",
                 outcome.value)
        await send_card(context, restricted_card(
            address=restriction.sender_address or account.address, since=restriction.created,
            it_state=outcome.value, locale=locale, time_zone=speaker.time_zone, other_addresses=others,
        ))
        await send_card(context, _status(case, speaker))

    async def status(self, context: TurnContext, argument: str = "") -> None:
        """Where the speaker stands, from their own account's restriction (asked of Microsoft 365 now) and the
        report of theirs, if any. An IT investigation of the account is no report: it never makes a user's
        `status` say "IT is working on it" while they can send, nor promise a message they would not get."""
        speaker = speaker_of(context)
        account = await self._own_account(context, speaker)
        if account is None:
            return
        locale = speaker.locale
        reported = await self._cases.reported(speaker.tenant_id, account.user.id, speaker.aad_object_id)
        try:
            restriction = await self._restriction(account)
        except M365Error as exc:
            log.warning("restriction check failed for a status: %s", type(exc).__name__)
            await context.send_activity(t(locale, "error.tenant_unreachable"))
            if reported is not None:  # what the bot last knew, as such (its dates are on the card)
                await send_card(context, _status(reported, speaker))
            return
        if restriction is None:
            if reported is not None and reported.status != "closed":
                # Restored (or lifting right now): whatever the case says, Microsoft 365 lets them send.
                await send_card(context, _status(reported, speaker, status="resolved"))
            else:
                await context.send_activity(t(locale, "report.status.can_send", address=md_escape(account.address)))
            return
        if reported is not None and reported.is_active:
            await send_card(context, _status(reported, speaker))
            return
        # Blocked, and no report of theirs open: say so, say whether IT is on it, and how to report it.
        active = await self._cases.status(speaker.tenant_id, account.user.id)
        since = (t(locale, "report.restricted.since", since=format_datetime(restriction.created, locale,
                                                                            speaker.time_zone))
                 if restriction.created else t(locale, "report.restricted.since_unknown"))
        lines = [t(locale, "report.status.blocked"), since]
        if active is not None and active.is_active:
            lines.append(t(locale, "report.status.blocked_it_knows"))
        lines.append(t(locale, "report.status.blocked_report"))
        await context.send_activity(" ".join(lines))

    async def notify_it(self, context: TurnContext, argument: str = "") -> None:
        """"Notify IT anyway": pass the report on even though the account may send (once a day)."""
        speaker = speaker_of(context)
        account = await self._own_account(context, speaker)
        if account is None:
            return
        try:
            restriction = await self._restriction(account)
        except M365Error as exc:
            log.warning("restriction check failed for notify-IT: %s", type(exc).__name__)
            await context.send_activity(t(speaker.locale, "error.tenant_unreachable"))
            return
        if restriction is not None:
            # Restricted since the first answer: the ordinary report opens the case and alerts IT.
            await self.report(context, argument)
            return
        outcome = await self._it.ask_it_to_look(account.user, speaker)
        await context.send_activity(t(speaker.locale, f"report.anyway.{outcome.value}"))

    async def _own_account(self, context: TurnContext, speaker: Speaker) -> OwnAccount | None:
        """The speaker's directory account, or None after telling them why it cannot be checked."""
        locale = speaker.locale
        if not is_personal(context):
            await context.send_activity(t(locale, "report.private_only"))
            return None
        if not speaker.aad_object_id:
            await context.send_activity(t(locale, "report.unknown_user"))
            return None
        try:
            user = await self._tenant.get_user(speaker.aad_object_id)
        except M365Error as exc:
            log.warning("directory lookup failed for a report: %s", type(exc).__name__)
            await context.send_activity(t(locale, "error.tenant_unreachable"))
            return None
        if user is None:
            await context.send_activity(t(locale, "report.no_account"))
            return None
        if user.user_type.lower() == "guest":
            # A guest's mail leaves through their own organisation: our Restricted entities cannot explain it.
            await context.send_activity(t(locale, "report.guest"))
            return None
        return OwnAccount(user)

    async def _restriction(self, account: OwnAccount) -> BlockedSender | None:
        for address in account.addresses[:3]:
            found = await self._tenant.get_blocked_sender(address)
            if found is not None:
                return found
        return None

    async def _not_restricted(self, context: TurnContext, speaker: Speaker, account: OwnAccount,
                              others: bool) -> None:
        locale = speaker.locale
        try:
            has_mailbox = await self._tenant.get_mailbox(account.user.user_principal_name) is not None
        except M365Error as exc:
            # Not knowing whether there is a mailbox changes nothing in the answer below.
            log.info("mailbox lookup failed for a report: %s", type(exc).__name__)
            has_mailbox = True
        if not has_mailbox:
            await context.send_activity(t(locale, "report.no_mailbox"))
            return
        await send_card(context, not_restricted_card(address=account.address, locale=locale, other_addresses=others))


def _status(case: CaseRecord, speaker: Speaker, *, status: str | None = None) -> dict[str, object]:
    return status_card(account=case.account_upn, status=status or case.status, opened=case.created_at,
                       updated=case.updated_at, resolved=case.resolved_at, locale=speaker.locale,
                       time_zone=speaker.time_zone)

"""The notices' decisions: who gets which IT alert, "you can send mail again", IT's notes to a user.

Where IT alerts go: the IT channel when a security admin chose one ("alerts here", `teams.channels`), else a
direct message to every security admin who has the bot installed (a stored personal conversation reference
whose owner's role is security admin). Each restriction is alerted once, whoever sees it first (the watch
or the user's report): `store.restrictions.mark_seen` decides that in the database, across instances and
restarts, and `mark_alerted` records that the alert really went out, so the watch retries an alert that had
nowhere to go (no channel, no admin reachable) in its next round.

Conversation references are plain dicts (the JSON the Teams edge stored); everything goes out through the core's
`Outbox` port (`core.ports`), which `teams.proactive.Messenger` implements.

The alert card is posted at once; the investigation follows (inline in the watch, in the background for a
user's report, so the user's turn does not wait for it) and replaces each copy with the findings card, whose
copies are saved on the case (`store.cases.save_card`) so remediation updates them too.

A conversation the connector says is gone (`domain.delivery.ConversationGone`: the app was removed, or a chat of an
earlier Agents Playground run) loses its stored reference, and a card copy that is gone (`MessageGone`) is
forgotten, each with one INFO line; so is a reference that another user's newer one replaced in the same
conversation (`ConversationRefs.holder`: the Playground gives every user the same personal chat), so an old run's
admin never gets alerts in the current user's chat.

Users are messaged from their stored conversation reference (saved on every personal-chat turn by
`teams.notify.ConversationKeeper`), in the language and time zone stored with it. Investigations go through the
process's one `investigation.service.Investigations`, so the alerts' follow-ups share Microsoft's throttle windows
with the dialog and triage.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from cards.alerts import announce, look_anyway_card, restriction_alert_card
from cards.report import restricted_card
from cards.text import clean, md_escape
from core.cases import CaseBook, can_act_on
from core.ports import Outbox
from domain.delivery import ConversationGone, MessageGone
from domain.people import Role, Speaker
from domain.tasks import cancel_and_wait
from investigation.collect import Investigation
from investigation.service import Investigations
from locales import format_datetime, t
from m365.records import BlockedSender, User
from remediation.views import CaseView, Viewer
from store import IT_ALERT_CHANNEL, Actor, CaseRecord, ConversationRefRecord, Store, StoreUnavailable
from store.conversations import conversation_of

log = logging.getLogger(__name__)

SYSTEM_ACTOR = Actor(id="system:restriction-watch", name="Blocked Sender Assistant")
# Restricted entities always say since when; if an entry ever does not, one fixed moment keeps the dedupe key
# stable from round to round.
UNKNOWN_SINCE = datetime(1970, 1, 1, tzinfo=UTC)
# How many stored references are checked for security admins when no channel is set (roles are cached).
MAX_ADMIN_CANDIDATES = 500
ROLE_LOOKUP_CONCURRENCY = 4
ASK_IT_ONCE_PER = timedelta(hours=24)
NOTE_MAX_CHARS = 1000

ACTION_ASKED_IT = "report.asked_it"
ACTION_RESOLVED_NOTICE = "report.resolved_notice"
ACTION_NOTE_SENT = "report.note_sent"
ACTION_USER_TOLD = "report.user_told_restricted"

RoleLookup = Callable[[str], Awaitable[Role]]
# Automatic containment's hook (`core.containment.AutoContainment.contain`): the recorded case and its investigation
# in, the case as it is afterwards out; run before the findings replace the alert, so the card says what it did.
Contain = Callable[[CaseRecord, Investigation], Awaitable[CaseRecord]]


class AlertOrigin(StrEnum):
    """Who noticed the restriction: the watch, the user reporting it, or a triage run."""

    WATCH = "watch"
    REPORT = "report"
    TRIAGE = "triage"


class AlertOutcome(StrEnum):
    """What became of telling IT: posted now, posted before, or not (yet) reachable."""

    POSTED = "posted"
    ALREADY = "already"
    PENDING = "pending"


@dataclass(frozen=True)
class AlertChannel:
    """Where alerts go: the channel's conversation reference, with who chose it and their language."""

    reference: dict[str, Any]
    conversation_id: str
    channel_name: str
    team_name: str
    locale: str | None
    time_zone: str | None
    set_by: str


def parse_channel(value: object) -> AlertChannel | None:
    """The stored setting as an `AlertChannel`; None when unset or unreadable (then alerts go as DMs)."""
    if not isinstance(value, Mapping):
        return None
    reference = value.get("reference")
    conversation_id = value.get("conversation_id")
    if not isinstance(reference, Mapping) or not isinstance(conversation_id, str) or not conversation_id:
        return None

    def text(key: str) -> str:
        item = value.get(key)
        return item if isinstance(item, str) else ""

    return AlertChannel(dict(reference), conversation_id, text("channel_name"), text("team_name"),
                        text("locale") or None, text("time_zone") or None, text("set_by"))


async def alert_channel(store: Store) -> AlertChannel | None:
    """The configured IT alert channel (`store.IT_ALERT_CHANNEL`, set by "alerts here"), or None."""
    return parse_channel(await store.settings.get(IT_ALERT_CHANNEL))


@dataclass(frozen=True)
class Destination:
    """One place an IT alert goes: the channel (`viewer` None: anyone may read it) or one admin's chat."""

    kind: str
    reference: dict[str, Any]
    conversation_id: str
    locale: str | None
    time_zone: str | None
    viewer: Speaker | None = None

    def may_act_on(self, account_id: str) -> bool:
        """Whether the card shows the action buttons (the server re-checks the presser's rights on every press)."""
        return self.viewer is None or can_act_on(self.viewer, account_id)


def restricted_since(restriction: BlockedSender) -> datetime:
    """The moment that, with the address, identifies one restriction (the dedupe key of its alert)."""
    return restriction.created or restriction.changed or UNKNOWN_SINCE


def stored_reference(reference: Mapping[str, Any]) -> dict[str, Any]:
    """A reference for proactive messages: without the activity id, so they are not replies to an old message."""
    data = dict(reference)
    data.pop("activityId", None)
    return data


@dataclass(frozen=True)
class FollowUp:
    """A posted restriction alert whose findings are still to come (and the announcement they keep)."""

    user: User
    case: CaseRecord
    posted: tuple[tuple[Destination, str], ...]
    origin: AlertOrigin = AlertOrigin.WATCH
    at: datetime | None = None
    reporter: str = ""


class Notices:
    """Tells IT and users what they need to know: alerts, follow-ups, resolutions and IT's notes."""

    def __init__(self, *, tenant_id: str, store: Store, investigations: Investigations, cases: CaseBook,
                 outbox: Outbox, role_of: RoleLookup, view: CaseView, notify_affected_user: bool) -> None:
        self._tenant_id = tenant_id.lower()
        self._store = store
        self._investigations = investigations
        self._cases = cases
        self._outbox = outbox
        self._role_of = role_of
        # Draws the findings card with what was already done on the case and IT's note box.
        self._view = view
        self._notify_affected_user = notify_affected_user
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------------------------------ destinations

    async def destinations(self) -> list[Destination]:
        """Where IT alerts go now: the channel, else every reachable security admin's personal chat."""
        channel = await alert_channel(self._store)
        if channel is not None:
            return [Destination("channel", channel.reference, channel.conversation_id, channel.locale,
                                channel.time_zone)]
        role_of = self._role_of
        refs = await self._store.conversations.list(self._tenant_id, limit=MAX_ADMIN_CANDIDATES)
        gate = asyncio.Semaphore(ROLE_LOOKUP_CONCURRENCY)

        async def role(user_id: str) -> Role:
            async with gate:
                return await role_of(user_id)

        refs = await self._current(refs)
        roles = await asyncio.gather(*(role(ref.user_aad_id) for ref in refs))
        out: list[Destination] = []
        for ref, found in zip(refs, roles, strict=True):
            if found < Role.SECURITY_ADMIN:
                continue
            conversation_id = str((ref.reference.get("conversation") or {}).get("id") or "")
            viewer = Speaker(aad_object_id=ref.user_aad_id, name="", tenant_id=self._tenant_id, role=found,
                             locale=ref.locale or "en-US", time_zone=ref.time_zone)
            out.append(Destination("dm", stored_reference(ref.reference), conversation_id, ref.locale,
                                   ref.time_zone, viewer))
        return out

    async def _current(self, refs: Sequence[ConversationRefRecord]) -> list[ConversationRefRecord]:
        """`refs` (newest first) without those another user's newer reference replaced in the same conversation;
        those are forgotten (see the module docstring)."""
        holders: dict[str, str] = {}
        out: list[ConversationRefRecord] = []
        for ref in refs:
            conversation_id = conversation_of(ref.reference)
            holder = holders.setdefault(conversation_id, ref.user_aad_id) if conversation_id else ref.user_aad_id
            if holder == ref.user_aad_id:
                out.append(ref)
            else:
                await self._forget(ref.user_aad_id, conversation_id, "another user's newer chat has the same id")
        return out

    async def _reachable(self, ref: ConversationRefRecord) -> bool:
        """False (and the reference forgotten) when another user's newer reference holds its conversation."""
        conversation_id = conversation_of(ref.reference)
        holder = await self._store.conversations.holder(self._tenant_id, conversation_id) if conversation_id else None
        if holder is None or holder == ref.user_aad_id:
            return True
        await self._forget(ref.user_aad_id, conversation_id, "another user's newer chat has the same id")
        return False

    async def _forget(self, user_id: str, conversation_id: str, why: str) -> None:
        """Drop a stored reference that can no longer reach its user: one INFO line, no traceback."""
        try:
            dropped = await self._store.conversations.forget(self._tenant_id, user_id, conversation_id)
        except Exception:  # noqa: BLE001 - the next send finds it gone again and retries
            log.warning("could not drop the stale conversation reference of %s", user_id, exc_info=True)
            return
        if dropped:
            log.info("dropped the conversation reference of %s (conversation %s): %s", user_id, conversation_id, why)

    async def _gone(self, destination: Destination, exc: ConversationGone) -> None:
        """A destination's conversation no longer exists: forget it (a channel: alerts go to the admins' chats)."""
        if destination.kind == "channel":
            await self._store.settings.delete(IT_ALERT_CHANNEL)
            log.info("the IT alert channel %s no longer exists (%s); alerts go to security admins' chats from now on",
                     destination.conversation_id, exc)
        elif destination.viewer is not None:
            await self._forget(destination.viewer.aad_object_id, destination.conversation_id,
                               f"the connector said {exc}")

    async def _post(self, make_card: Callable[[Destination], Mapping[str, Any]],
                    destinations: list[Destination]) -> list[tuple[Destination, str]]:
        """Post a card (built per destination's language) everywhere; the copies that went out."""
        posted: list[tuple[Destination, str]] = []
        for destination in destinations:
            try:
                activity_id = await self._outbox.send_card(destination.reference, make_card(destination))
            except ConversationGone as exc:
                await self._gone(destination, exc)
                continue
            except Exception:  # noqa: BLE001 - one unreachable chat must not stop the others
                log.warning("could not post to %s %s", destination.kind, destination.conversation_id, exc_info=True)
                continue
            if activity_id:
                posted.append((destination, activity_id))
        return posted

    # ------------------------------------------------------------------------------------------ IT alerts

    async def alert_restriction(self, user: User, restriction: BlockedSender, case: CaseRecord, *,
                                origin: AlertOrigin, background: bool,
                                follow_ups: list[FollowUp] | None = None) -> AlertOutcome:
        """Alert IT about `restriction` of `user` (case `case`) unless it was alerted before.

        The findings follow: in the background, inline, or (with `follow_ups`) later for many alerts at once
        through `follow_up_many`.

        The first to see a restriction alerts; a user's report of a restriction seen but not yet alerted
        leaves the retry to the watch, which runs on one instance only, so two alerts never race.
        """
        address = restriction.sender_address
        since = restricted_since(restriction)
        new = await self._store.restrictions.mark_seen(self._tenant_id, address, since, case_id=case.id)
        if not new:
            seen = await self._store.restrictions.get(self._tenant_id, address, since)
            if seen is not None and seen.alerted_at is not None:
                return AlertOutcome.ALREADY
            if origin == AlertOrigin.REPORT:
                return AlertOutcome.PENDING
        destinations = await self.destinations()
        # A report is always about the speaker's own account (`dialogs.report`): the reporter is the account's owner.
        at, reporter = self._store.db.clock(), user.display_name if origin == AlertOrigin.REPORT else ""
        posted = await self._post(lambda d: restriction_alert_card(
            name=user.display_name, upn=user.user_principal_name, since=restriction.created,
            reason=restriction.reason, origin=origin.value, locale=d.locale, time_zone=d.time_zone, at=at,
            reporter=reporter,
        ), destinations)
        if new and origin == AlertOrigin.WATCH and self._notify_affected_user:
            await self.tell_affected_user(user, restriction, case, it_told=bool(posted))
        if not posted:
            # The watch sums these up in one warning per round; the user is told IT could not be reached yet.
            log.info("restriction alert for case %s had nowhere to go (%d destinations); retried next round",
                     case.id, len(destinations))
            return AlertOutcome.PENDING
        await self._store.restrictions.mark_alerted(self._tenant_id, address, since, case_id=case.id)
        for destination, activity_id in posted:
            await self._store.cases.save_card(case.id, destination.conversation_id, activity_id,
                                              destination.reference)
        log.info("restriction alert for case %s posted to %d place(s)", case.id, len(posted))
        item = FollowUp(user, case, tuple(posted), origin, at, reporter)
        if follow_ups is not None:
            follow_ups.append(item)
            return AlertOutcome.POSTED
        follow_up = self._follow_up(item)
        if background:
            self._spawn(follow_up)
        else:
            await follow_up
        return AlertOutcome.POSTED

    async def _follow_up(self, item: FollowUp, contain: Contain | None = None) -> None:
        """Investigate and replace every posted alert with the findings card (its buttons included)."""
        try:
            investigation = await self._investigations.investigate(item.user)
        except Exception:  # noqa: BLE001 - the alert card stays; the log says why the findings did not follow
            log.error("investigation after the alert of case %s failed", item.case.id, exc_info=True)
            return
        await self._show_findings(item, investigation, contain)

    async def follow_up_many(self, items: Sequence[FollowUp], *, contain: Contain | None = None) -> None:
        """Investigate the accounts of several new alerts together, then replace each alert with its findings.

        In a phishing wave the watch finds hundreds of restrictions in one round; investigated one by one they
        would take an hour of Microsoft's throttling, in bulk (`investigation.outbreak`) about the floor the
        throttles allow. `contain` (the watch's automatic containment, when on) runs on each recorded case before
        its card is drawn."""
        if len(items) < 2:
            for item in items:
                await self._follow_up(item, contain)
            return
        try:
            results = await self._investigations.investigate_many([item.user for item in items])
        except Exception:  # noqa: BLE001 - the alert cards stay; the log says why the findings did not follow
            log.error("bulk investigation after %d alerts failed", len(items), exc_info=True)
            return
        log.info("restriction watch: %d new alerts investigated in bulk", len(items))
        for item in items:
            investigation = results.get(item.user.id)
            if investigation is None:
                log.error("bulk investigation gave no findings for case %s", item.case.id)
                continue
            await self._show_findings(item, investigation, contain)

    async def _show_findings(self, item: FollowUp, investigation: Investigation,
                             contain: Contain | None = None) -> None:
        user, posted = item.user, item.posted
        try:
            system = Speaker(aad_object_id=SYSTEM_ACTOR.id, name=SYSTEM_ACTOR.name, tenant_id=self._tenant_id)
            recorded = await self._cases.record(investigation, system)
        except StoreUnavailable as exc:  # an outage, not a bug: no traceback; the alert card stays
            log.warning("recording the investigation after the alert of case %s failed: the store is unavailable (%s)",
                        item.case.id, exc.reason)
            return
        except Exception:  # noqa: BLE001 - the alert card stays; the log says why the findings did not follow
            log.error("recording the investigation after the alert of case %s failed", item.case.id, exc_info=True)
            return
        if contain is not None:
            try:
                recorded = await contain(recorded, investigation)
            except Exception:  # noqa: BLE001 - the alert still goes out; the card shows what was (not) done
                log.error("automatic containment of case %s failed", item.case.id, exc_info=True)
        for destination, activity_id in posted:
            can_act = destination.may_act_on(user.id)
            try:
                viewer = Viewer(destination.locale, destination.time_zone, can_act=can_act, is_staff=True)
                card = announce(await self._view.card(recorded, viewer, investigation=investigation),
                                origin=item.origin.value, at=item.at, reporter=item.reporter,
                                locale=destination.locale, time_zone=destination.time_zone)
                await self._outbox.update_card(destination.reference, activity_id, card)
            except (ConversationGone, MessageGone) as exc:
                await self._store.cases.remove_card(item.case.id, destination.conversation_id, activity_id)
                log.info("the alert of case %s in %s is gone (%s); its copy is forgotten", item.case.id,
                         destination.conversation_id, exc)
            except Exception:  # noqa: BLE001 - the other copies still get their update
                log.warning("could not update the alert in %s", destination.conversation_id, exc_info=True)

    async def ask_it_to_look(self, user: User, speaker: Speaker) -> AlertOutcome:
        """Pass on an unrestricted user's bounce report, at most once a day per user."""
        since = self._store.db.clock() - ASK_IT_ONCE_PER
        earlier = await self._store.audit.list(since=since, actor_id=speaker.aad_object_id)
        if any(e.action == ACTION_ASKED_IT and e.outcome == "succeeded" for e in earlier):
            return AlertOutcome.ALREADY
        checked = self._store.db.clock()
        posted = await self._post(lambda d: look_anyway_card(
            name=user.display_name, upn=user.user_principal_name, checked=checked, locale=d.locale,
            time_zone=d.time_zone,
        ), await self.destinations())
        await self._store.audit.record(
            actor=Actor(id=speaker.aad_object_id, name=speaker.name, upn=user.user_principal_name),
            action=ACTION_ASKED_IT, target=user.user_principal_name, tenant_id=self._tenant_id,
            outcome="succeeded" if posted else "failed", parameters={"copies": len(posted)},
            error=None if posted else "no reachable IT channel or security admin",
        )
        return AlertOutcome.POSTED if posted else AlertOutcome.PENDING

    # ------------------------------------------------------------------------------------------ users

    async def tell_affected_user(self, user: User, restriction: BlockedSender, case: CaseRecord, *,
                                 it_told: bool = True) -> bool:
        """Tell the restricted user (NOTIFY_AFFECTED_USER), in their language, and subscribe them to the case."""
        ref = await self._store.conversations.get(self._tenant_id, user.id)
        if ref is None or not await self._reachable(ref):
            return False
        locale = ref.locale or user.preferred_language
        card = restricted_card(address=restriction.sender_address, since=restriction.created,
                               it_state="posted" if it_told else "pending",
                               locale=locale, time_zone=ref.time_zone)
        try:
            await self._outbox.send_card(stored_reference(ref.reference), card)
        except ConversationGone as exc:
            await self._forget(user.id, conversation_of(ref.reference), f"the connector said {exc}")
            return False
        except Exception:  # noqa: BLE001 - IT has the alert; the user hears when they next report
            log.warning("could not tell user %s about their restriction", user.id, exc_info=True)
            return False
        await self._store.cases.add_subscriber(case.id, user.id)
        await self._store.audit.record(actor=SYSTEM_ACTOR, action=ACTION_USER_TOLD, target=user.user_principal_name,
                                       tenant_id=self._tenant_id, case_id=case.id)
        return True

    async def on_case_resolved(self, case: CaseRecord) -> None:
        """The listener for the remediation checker (`UnblockChecker.add_listener`): see `notify_resolved`."""
        await self.notify_resolved(case)

    async def notify_resolved(self, case: CaseRecord) -> int:
        """Tell every subscriber of a resolved case "you can send mail again", each in their own language.

        Register this with the remediation checker's listener for resolved cases. Idempotent: a subscriber
        already told (an audit row says so) is not told twice. Returns how many were told now.
        """
        told = {e.target for e in await self._store.audit.list(case_id=case.id) if e.action == ACTION_RESOLVED_NOTICE
                and e.outcome == "succeeded"}
        count = 0
        for user_id in await self._store.cases.list_subscribers(case.id):
            if user_id in told:
                continue
            ref = await self._store.conversations.get(self._tenant_id, user_id)
            if ref is None or not await self._reachable(ref):
                log.info("subscriber %s of case %s has no stored conversation", user_id, case.id)
                continue
            when = case.resolved_at or case.updated_at
            text = t(ref.locale, "report.resolved", address=md_escape(case.account_upn, 120),
                     time=format_datetime(when, ref.locale, ref.time_zone))
            try:
                await self._outbox.send(stored_reference(ref.reference), text)
            except ConversationGone as exc:
                await self._forget(user_id, conversation_of(ref.reference), f"the connector said {exc}")
                continue
            except Exception:  # noqa: BLE001 - a later call retries this subscriber (no audit row yet)
                log.warning("could not tell %s that case %s is resolved", user_id, case.id, exc_info=True)
                continue
            await self._store.audit.record(actor=SYSTEM_ACTOR, action=ACTION_RESOLVED_NOTICE, target=user_id,
                                           tenant_id=self._tenant_id, case_id=case.id)
            count += 1
        log.info("case %s resolved: %d subscriber(s) told", case.id, count)
        return count

    async def send_note(self, case: CaseRecord, author: Speaker, note: str) -> int:
        """Relay IT's note to the case's subscribers (else the account's owner); how many received it."""
        text = clean(note, NOTE_MAX_CHARS)
        recipients = await self._store.cases.list_subscribers(case.id) or [case.account_id]
        sent = 0
        for user_id in recipients:
            ref = await self._store.conversations.get(self._tenant_id, user_id)
            if ref is None or not await self._reachable(ref):
                continue
            message = t(ref.locale, "report.note", name=md_escape(author.name or "IT", 80),
                        note=md_escape(text, NOTE_MAX_CHARS))
            try:
                await self._outbox.send(stored_reference(ref.reference), message)
            except ConversationGone as exc:
                await self._forget(user_id, conversation_of(ref.reference), f"the connector said {exc}")
                continue
            except Exception:  # noqa: BLE001 - counted as not delivered; the author sees the count
                log.warning("could not relay a note on case %s to %s", case.id, user_id, exc_info=True)
                continue
            sent += 1
        await self._store.audit.record(
            actor=Actor(id=author.aad_object_id, name=author.name, upn=author.user_principal_name),
            action=ACTION_NOTE_SENT, target=case.account_upn, tenant_id=self._tenant_id, case_id=case.id,
            outcome="succeeded" if sent else "failed", parameters={"note": text, "recipients": sent},
            error=None if sent else "no recipient has a stored conversation",
        )
        return sent

    # ------------------------------------------------------------------------------------------ tasks

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def idle(self) -> None:
        """Wait for every background follow-up (tests; a graceful shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        """Cancel the background follow-ups (shutdown)."""
        await cancel_and_wait(list(self._tasks))

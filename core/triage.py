"""Triage: every restricted account with its verdict, and the bulk unblock of the ones with no signs.

Who may do what follows `remediation.policy`: seeing the list reads only (like `policy.STAFF_VERBS`: IT staff
and security admins), the bulk unblock changes Microsoft 365 (like `policy.ACTION_VERBS`: security admins
only), and each account is then unblocked through `Presses.press` of `Verb.UNBLOCK`, the single-unblock
path itself, so `policy.decide` (tenant, role, never one's own account), the stale-card check, the claim
(`store.claims`), the audit rows (`store.audit`), the case step and the unblock checker are exactly those of a
press on the account's findings card.

Where a verdict comes from (`TriageBoard.listing`):

* the account's active case, when its stored investigation saw this restriction (same "restricted since") and,
  for "triage" typed in the chat, is younger than `TriageConfig.fresh_seconds`;
* otherwise "triage" investigates the account again with the process's one investigation service
  (`investigation.service.Investigations.investigate_many`) and records the result on the case like a single
  investigation (`core.cases.CaseBook.record`), so the list and the account's card agree. Paging and the bulk
  unblock only read the store: an account without a usable stored verdict shows as "not checked" and is never
  unblocked in bulk.

Each row's own buttons are the case card's verbs, routed like a press on the findings card: "Open" is `show_case`
(that account's findings card) and "Unblock" (`unblockable_rows`: security admins, no-signs rows, never their own)
is `Verb.UNBLOCK` through `Presses.press`, with its confirmation, policy, claim and audit. A compromised or
suspicious row has no direct unblock: its case's gate decides on the findings card.

A block that lifts by itself (`investigation.resume.when_sending_resumes`, still ahead) is on its row; the bulk
button counts those, and the confirmation lists them apart with the time and offers to leave them (`scope` "rest").

The bulk unblock's Confirm carries a fingerprint of the confirmed account ids and when the list was shown. On
Confirm the list is recomputed; accounts unblocked by someone since it was shown still count as confirmed (the
press says "already unblocked" and they are skipped). Any other difference — an account added, judged anew, or
gone — shows the new list to confirm instead of acting.

Every button answers within the press budget (`Presses.in_time`); a tenant or store failure is an answer, never
an HTTP error: Previous/Next and the first "Unblock all" press say Microsoft 365 could not be reached; a Confirm
while the list cannot be read unblocks nothing and names each confirmed account (as the store last saw them) with
why; an account whose unblock failed says why on its own line (throttled, no answer, not confirmed …).

No bot SDK here: the buttons arrive as `core.presses.Press` records (`teams/routes.py`), the answers are
`core.presses.Answer`s, and a result that comes too late for the press replaces the pressed card through the
`CardUpdater` port.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from cards.base import JsonDict
from cards.findings import step_key
from cards.triage import (
    SCOPE_REST,
    BulkOutcome,
    TriageRow,
    TriageVerdict,
    bulk_confirmation_card,
    bulk_result_card,
    triage_card,
    triage_verdict,
)
from cards.verbs import Verb
from core.ports import BulkInvestigator, CardUpdater, CaseRecorder
from core.presses import Answer, AnswerKind, Press, Presses
from domain.people import Role, Speaker
from investigation.collect import Investigation
from investigation.reason import parse_reason
from investigation.resolve import account_sending_as
from investigation.resume import when_sending_resumes
from locales import has, t
from m365.errors import M365Error
from m365.protocol import Tenant
from m365.records import BlockedSender, User
from remediation import policy
from remediation.views import current_steps, investigation_of
from store import CaseRecord, Store, StoreUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

UNBLOCK_STEP = step_key("unblock", None)
_MAX_PAGE_DIGITS = 4
_MAX_AT_DIGITS = 15
_FINGERPRINT_LENGTH = 20

Progress = Callable[[int, int], Awaitable[None]]
StartCallback = Callable[[int], Awaitable[None]]


@dataclass(frozen=True)
class TriageConfig:
    """How fresh a stored verdict must be for "triage" to reuse it, and how much runs at once."""

    fresh_seconds: float = 900.0
    lookup_concurrency: int = 8
    unblock_concurrency: int = 4
    # A confirmation older than this is shown again rather than acted on.
    confirm_valid_seconds: float = 86_400.0


@dataclass(frozen=True)
class Entry:
    """One restricted account: the row the card shows and the active case behind it (if any)."""

    row: TriageRow
    case: CaseRecord | None = None


@dataclass(frozen=True)
class Listing:
    """The restricted accounts as they are now."""

    entries: tuple[Entry, ...]

    @property
    def rows(self) -> list[TriageRow]:
        """The rows, for the card."""
        return [e.row for e in self.entries]


def may_view(speaker: Speaker) -> bool:
    """The list reads only: IT staff and security admins (as `policy.STAFF_VERBS`)."""
    return speaker.role >= Role.IT_STAFF


def may_bulk_unblock(speaker: Speaker) -> bool:
    """The bulk unblock changes Microsoft 365: security admins (as `policy.ACTION_VERBS`); each account is
    then checked by `policy.decide` in `Presses.press`, which refuses the admin's own account."""
    return speaker.role >= Role.SECURITY_ADMIN


def fingerprint(account_ids: Sequence[str]) -> str:
    """A short, order-independent digest of a set of account ids (what a confirmation confirmed)."""
    joined = "\n".join(sorted({a.lower() for a in account_ids}))
    return hashlib.sha256(joined.encode()).hexdigest()[:_FINGERPRINT_LENGTH]


def candidates(listing: Listing, speaker: Speaker, *, unblocked_since: datetime | None = None,
               scope: object = None) -> list[Entry]:
    """The accounts "Unblock all with no signs of compromise" unblocks for `speaker`: no signs, an active case
    not yet unblocked, and one the speaker may act on (never their own). With `unblocked_since`, accounts
    unblocked (by anyone) at or after that moment count too: they were candidates when the list was shown.
    `scope` "rest" leaves out the accounts whose block lifts by itself (the confirmation's first choice)."""
    out: list[Entry] = []
    seen: set[str] = set()  # an account restricted under two addresses is unblocked once
    for entry in listing.entries:
        row, case = entry.row, entry.case
        if row.verdict != TriageVerdict.no_signs or case is None or case.id in seen or not policy.speaker_can_act(
                speaker, row.account_id):
            continue
        seen.add(case.id)
        if scope == SCOPE_REST and row.lifts_at is not None:
            continue
        if case.status == "open" and not row.pending:
            out.append(entry)
        elif unblocked_since is not None:
            step = current_steps(case).get(UNBLOCK_STEP)
            if step is not None and step.at >= unblocked_since:
                out.append(entry)
    return out


def unblockable_rows(listing: Listing, speaker: Speaker) -> frozenset[str]:
    """The case ids whose row offers its own "Unblock" to `speaker`: a security admin, a no-signs account with an
    open case that is not their own. Compromised and suspicious rows get none (open the case: its gate decides).
    The press goes through `Presses.press` of `Verb.UNBLOCK`, which checks all of this again."""
    if not may_bulk_unblock(speaker):
        return frozenset()
    return frozenset(e.case.id for e in listing.entries if e.case is not None and e.case.status == "open"
                     and e.row.verdict == TriageVerdict.no_signs and not e.row.pending
                     and policy.speaker_can_act(speaker, e.row.account_id))


def own_left_out(listing: Listing, speaker: Speaker) -> bool:
    """True when the speaker's own account would be a candidate if it were someone else's."""
    return any(e.row.verdict == TriageVerdict.no_signs and not e.row.pending and e.case is not None
               and policy.is_own_account(speaker, e.row.account_id) for e in listing.entries)


def parse_page(value: object) -> int | None:
    """A page number from button data (a short string of digits), or None for anything else."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.isascii() or not value.isdigit() or len(value) > _MAX_PAGE_DIGITS:
        return None
    return int(value)


def _same_episode(investigation: Investigation, restriction: BlockedSender) -> bool:
    """The stored investigation judged this restriction (not an earlier one, and the account was restricted)."""
    seen = investigation.evidence.restriction
    if not investigation.evidence.restricted or seen is None:
        return False
    if restriction.created is None or seen.created is None:
        return True
    return seen.created == restriction.created


def _addresses(case: CaseRecord, investigation: Investigation | None) -> set[str]:
    keys = {case.account_upn.lower()} if case.account_upn else set()
    if investigation is not None:
        user = investigation.evidence.user
        keys |= {user.user_principal_name.lower(), (user.mail or "").lower()}
        keys |= {p.split(":", 1)[1].lower() for p in user.proxy_addresses if ":" in p}
        if investigation.evidence.restriction is not None:
            keys.add(investigation.evidence.restriction.sender_address.lower())
    keys.discard("")
    return keys


def _lifts_at(investigation: Investigation, now: datetime) -> datetime | None:
    """When the block lifts by itself (`investigation.resume`), if that is still ahead of `now`."""
    resume = when_sending_resumes(investigation.evidence)
    return resume.at if resume is not None and resume.lifts_by_itself(now) else None


def _row(case: CaseRecord, investigation: Investigation, restriction: BlockedSender,
         now: datetime | None = None) -> TriageRow:
    user = investigation.evidence.user
    assessment = investigation.assessment
    return TriageRow(
        account_id=case.account_id,
        name=user.display_name or case.display_name,
        upn=case.account_upn or user.user_principal_name,
        verdict=triage_verdict(assessment.verdict.value),
        since=restriction.created,
        reason_code=assessment.reason_code,
        reason_params=dict(assessment.reason_params),
        restriction=parse_reason(restriction.reason),
        pending=case.status == "unblock_pending",
        case_id=case.id,
        lifts_at=_lifts_at(investigation, now or datetime.now(UTC)),
    )


def _unchecked(restriction: BlockedSender, note_key: str, *, user: User | None = None,
               case: CaseRecord | None = None) -> TriageRow:
    name = user.display_name if user is not None else case.display_name if case is not None else ""
    upn = user.user_principal_name if user is not None else case.account_upn if case is not None else ""
    account_id = user.id if user is not None else case.account_id if case is not None else ""
    return TriageRow(account_id=account_id, name=name or restriction.sender_address,
                     upn=upn or restriction.sender_address, verdict=TriageVerdict.not_checked,
                     since=restriction.created, restriction=parse_reason(restriction.reason), note_key=note_key,
                     pending=case is not None and case.status == "unblock_pending",
                     case_id=case.id if case is not None else None)


class TriageBoard:
    """Builds the list of restricted accounts and performs the bulk unblock (see the module docstring)."""

    def __init__(self, *, tenant: Tenant, store: Store, presses: Presses, investigator: BulkInvestigator,
                 recorder: CaseRecorder, config: TriageConfig) -> None:
        self._tenant = tenant
        self._store = store
        self._presses = presses
        self._investigator = investigator
        self._recorder = recorder
        self._config = config
        # One bulk investigation at a time: a second "triage" waits and then finds the verdicts fresh.
        self._investigating = asyncio.Lock()

    @property
    def config(self) -> TriageConfig:
        """The timing and concurrency in use."""
        return self._config

    @property
    def presses(self) -> Presses:
        """The single-account press (its unblock path and its rule for work that outlasts the press)."""
        return self._presses

    def now(self) -> datetime:
        """The store's clock (case steps are stamped with it, so confirmations compare against it)."""
        return self._store.db.clock()

    async def listing(self, speaker: Speaker, *, investigate: bool = False,
                      on_start: StartCallback | None = None) -> Listing:
        """Every restricted account with its verdict. With `investigate`, accounts without a fresh stored verdict
        are investigated (after `on_start(count)`) and recorded on their cases. Raises `M365Error` when the
        restriction list cannot be read."""
        if not investigate:
            return await self._listing(speaker, investigate=False, on_start=None)
        async with self._investigating:
            return await self._listing(speaker, investigate=True, on_start=on_start)

    async def _listing(self, speaker: Speaker, *, investigate: bool, on_start: StartCallback | None) -> Listing:
        restrictions: dict[str, BlockedSender] = {}
        for record in await self._tenant.list_blocked_senders():
            if record.sender_address:
                restrictions.setdefault(record.sender_address.lower(), record)
        index = await self._case_index()
        now = self.now()
        fresh_for = timedelta(seconds=self._config.fresh_seconds)
        entries: dict[str, Entry] = {}
        to_check: list[tuple[BlockedSender, CaseRecord | None, Investigation | None]] = []
        for address, restriction in restrictions.items():
            case, stored = index.get(address, (None, None))
            usable = case is not None and stored is not None and _same_episode(stored, restriction)
            if usable and case is not None and stored is not None and (
                    not investigate or now - stored.evidence.now <= fresh_for):
                entries[address] = Entry(_row(case, stored, restriction, now), case)
            elif not investigate:
                user = stored.evidence.user if stored is not None else None
                entries[address] = Entry(_unchecked(restriction, "triage.reason.not_investigated", user=user,
                                                    case=case), case)
            else:
                to_check.append((restriction, case, stored))
        if to_check:
            if on_start is not None:
                await on_start(len(to_check))
            entries.update(await self._investigate(speaker, to_check))
        return Listing(tuple(entries[a] for a in restrictions if a in entries))

    async def stored_listing(self) -> Listing:
        """The restricted accounts as the store last saw them (each active case's investigation and the
        restriction it saw): what the bulk unblock names when Microsoft 365's list cannot be read."""
        entries: dict[str, Entry] = {}
        for case, stored in (await self._case_index()).values():
            restriction = stored.evidence.restriction if stored is not None else None
            if stored is None or restriction is None or not stored.evidence.restricted or case.id in entries:
                continue
            entries[case.id] = Entry(_row(case, stored, restriction, self.now()), case)
        return Listing(tuple(entries.values()))

    async def _case_index(self) -> dict[str, tuple[CaseRecord, Investigation | None]]:
        """The tenant's active cases by every address their account sends as."""
        tenant_id = self._tenant.tenant_id.lower()
        index: dict[str, tuple[CaseRecord, Investigation | None]] = {}
        for case in await self._store.cases.list_cases(("open", "unblock_pending"), limit=None):
            if case.tenant_id.lower() != tenant_id:
                continue
            stored = investigation_of(case)
            for key in _addresses(case, stored):
                index.setdefault(key, (case, stored))
        return index

    async def _investigate(self, speaker: Speaker,
                           to_check: Sequence[tuple[BlockedSender, CaseRecord | None, Investigation | None]],
                           ) -> dict[str, Entry]:
        gate = asyncio.Semaphore(self._config.lookup_concurrency)

        async def account(restriction: BlockedSender, stored: Investigation | None) -> User | str:
            """The account, or the note that says why there is none."""
            if stored is not None:
                return stored.evidence.user
            async with gate:
                try:
                    user = await self._account(restriction.sender_address)
                except M365Error as exc:
                    # One failed lookup leaves one row unchecked, not the whole list unanswered.
                    log.warning("triage: looking up a restricted sender failed (%s)", type(exc).__name__)
                    return "triage.reason.failed"
            return user if user is not None else "triage.reason.no_account"

        users = await asyncio.gather(*(account(r, s) for r, _c, s in to_check))
        out: dict[str, Entry] = {}
        found: list[tuple[BlockedSender, User]] = []
        for (restriction, case, _stored), user in zip(to_check, users, strict=True):
            if isinstance(user, str):
                out[restriction.sender_address.lower()] = Entry(_unchecked(restriction, user, case=case), case)
            else:
                found.append((restriction, user))
        results = await self._investigator.investigate_many([u for _r, u in found]) if found else {}
        for restriction, user in found:
            address = restriction.sender_address.lower()
            investigation = results.get(user.id)
            if investigation is None:
                log.warning("triage: no investigation came back for account %s", user.id)
                out[address] = Entry(_unchecked(restriction, "triage.reason.failed", user=user))
                continue
            case = await self._recorder.record(investigation, speaker)
            # The account's findings cards elsewhere show the same verdict as the list.
            await self._presses.view.update_copies(case)
            out[address] = Entry(_row(case, investigation, restriction, self.now()), case)
        return out

    async def _account(self, address: str) -> User | None:
        """The directory account that sends as `address` (exact UPN, mail or proxy address)."""
        return await account_sending_as(self._tenant, address)

    # -- the bulk unblock ---------------------------------------------------------------------------------

    async def unblock_all(self, speaker: Speaker, entries: Sequence[Entry]) -> list[BulkOutcome]:
        """Unblock each account through the single-unblock path; one account's failure never stops the rest."""
        gate = asyncio.Semaphore(self._config.unblock_concurrency)

        async def one(entry: Entry) -> BulkOutcome:
            async with gate:
                return await self._unblock_one(speaker, entry)

        return list(await asyncio.gather(*(one(e) for e in entries)))

    async def _unblock_one(self, speaker: Speaker, entry: Entry) -> BulkOutcome:
        row, locale = entry.row, speaker.locale
        case_id = row.case_id or ""
        before = await self._store.cases.get_case(case_id)
        before_step = current_steps(before).get(UNBLOCK_STEP) if before is not None else None
        started = self.now()
        try:
            # The result card replaces the triage card, not a findings card: every copy of each case's card is
            # updated, also one in this conversation, so the press names no conversation to skip.
            response = await self._presses.press_now(Press(Verb.UNBLOCK, {"caseId": case_id, "confirm": "1"},
                                                           speaker))
        except Exception:  # noqa: BLE001 - one account's failure must not stop the others; the log has it
            log.exception("bulk unblock of case %s failed unexpectedly", case_id)
            return BulkOutcome(row.name, row.upn, "failed", t(locale, "triage.failed.error"))
        after = await self._store.cases.get_case(case_id)
        step = current_steps(after).get(UNBLOCK_STEP) if after is not None else None
        if step is not None:
            new = before_step is None or step.details.get("correlation_id") != before_step.details.get(
                "correlation_id")
            if new and step.by_id == speaker.aad_object_id:
                return BulkOutcome(row.name, row.upn, "unblocked")
            return BulkOutcome(row.name, row.upn, "skipped", actor=step.by, at=step.at)
        if response.kind == AnswerKind.MESSAGE and isinstance(response.value, str):
            # A refusal of the single-unblock path (policy, state): its own words.
            return BulkOutcome(row.name, row.upn, "failed", response.value)
        return BulkOutcome(row.name, row.upn, "failed", t(locale, await self._failure_key(case_id, started)))

    async def _failure_key(self, case_id: str, since: datetime) -> str:
        """The message key of the unblock failure the audit log recorded for this press."""
        for entry in reversed(await self._store.audit.list(case_id=case_id, since=since)):
            if entry.action == Verb.UNBLOCK.value and entry.outcome == "unknown":
                return "triage.failed.unconfirmed"  # a timeout: Microsoft 365 may have carried it out
            if entry.action == Verb.UNBLOCK.value and entry.outcome == "failed":
                result = entry.parameters.get("result")
                code = result.get("error") if isinstance(result, Mapping) else None
                key = f"triage.failed.{code}"
                return key if isinstance(code, str) and has(key) else "triage.failed.error"
        return "triage.failed.unknown"


class TriageActions:
    """The triage card's buttons: another page, and the bulk unblock (`teams/routes.py` routes them here)."""

    def __init__(self, board: TriageBoard, updater: CardUpdater) -> None:
        self._board = board
        # Replaces the pressed card when the bulk unblock outlasts the press.
        self._updater = updater

    @property
    def board(self) -> TriageBoard:
        """The list and the bulk unblock behind the buttons (the chat's "triage" uses it too)."""
        return self._board

    async def page(self, press: Press) -> Answer:
        """Another page of the list, recomputed from Microsoft 365's list and the stored verdicts."""
        return await self._answer(press, self._page(press))

    async def _page(self, press: Press) -> Answer:
        speaker = press.speaker
        locale = speaker.locale
        if not may_view(speaker):
            return Answer.message(t(locale, "triage.refused.user"))
        page = parse_page(press.data.get("page"))
        if page is None:
            log.info("triage page refused for %s: bad page in the button data", speaker.aad_object_id)
            return Answer.message(t(locale, "triage.refused.bad_data"))
        listing = await self._board.listing(speaker)
        return Answer.card(self.card(listing, speaker, page=page))

    async def _answer(self, press: Press, work: Coroutine[Any, Any, Answer]) -> Answer:
        """`work`'s answer within the press budget (`Presses.in_time`), else "working on it" and the card it
        draws replaces the pressed card later. Microsoft 365 or the store failing is an answer too (a message
        that leaves the card as it was), never an HTTP error."""
        answer = await self._board.presses.in_time(self._guarded(press, work), late=functools.partial(
            self._late, press))
        return answer if answer is not None else Answer.message(t(press.speaker.locale, "remediation.working"))

    async def _guarded(self, press: Press, work: Coroutine[Any, Any, T]) -> T | Answer:
        """`work`'s result, or the message that says why there is none."""
        locale = press.speaker.locale
        try:
            return await work
        except M365Error as exc:
            log.warning("%s: Microsoft 365 could not be read (%s)", press.verb.value, type(exc).__name__)
            return Answer.message(t(locale, "triage.unreachable"))
        except StoreUnavailable as exc:
            log.warning("%s: the store is unavailable (%s)", press.verb.value, exc.reason)
            return Answer.message(t(locale, "remediation.store.not_recorded"))
        except Exception:  # noqa: BLE001 - answered in the chat; the traceback goes to the log
            log.exception("%s press failed unexpectedly", press.verb.value)
            return Answer.message(t(locale, "error.generic"))

    async def _late(self, press: Press, answer: Answer) -> None:
        """A card that came too late for the press replaces the pressed card (a message has nowhere to go)."""
        if answer.kind != AnswerKind.CARD or not isinstance(answer.value, dict):
            log.info("a late %s answer leaves the pressed card as it was", press.verb.value)
            return
        if press.conversation is None or not press.reply_to:
            log.warning("%s finished in the background; its card cannot be updated", press.verb.value)
            return
        await self._updater.update_card(press.conversation, press.reply_to, answer.value)

    def card(self, listing: Listing, speaker: Speaker, *, page: int = 0,
             notice_key: str | None = None) -> JsonDict:
        """The triage card of `listing` for `speaker` (with the bulk button for security admins)."""
        bulk = candidates(listing, speaker) if may_bulk_unblock(speaker) else None
        return triage_card(listing.rows, page=page, locale=speaker.locale, time_zone=speaker.time_zone,
                           bulk_count=len(bulk) if bulk is not None else None,
                           bulk_lifting=sum(1 for e in bulk or () if e.row.lifts_at is not None),
                           own_left_out=bulk is not None and own_left_out(listing, speaker),
                           notice_key=notice_key, unblockable=unblockable_rows(listing, speaker))

    async def unblock(self, press: Press) -> Answer:
        """First press: the confirmation listing the accounts. Confirm: re-check the list, then unblock each.

        One budget for the press: the checks and the list first; what is left of it for the unblocks, whose
        result replaces the pressed card when they outlast it."""
        presses = self._board.presses
        loop = asyncio.get_running_loop()
        deadline = loop.time() + presses.budget_seconds
        locale = press.speaker.locale

        async def late(prepared: Answer | list[Entry]) -> None:
            await self._late(press, prepared if isinstance(prepared, Answer) else await self._guarded(
                press, self._unblock_all(press, prepared)))

        prepared = await presses.in_time(self._guarded(press, self._prepare(press)), late=late)
        if prepared is None:
            return Answer.message(t(locale, "remediation.working"))
        if isinstance(prepared, Answer):
            return prepared
        work = self._guarded(press, self._unblock_all(press, prepared))
        answer = await presses.in_time(work, late=functools.partial(self._late, press),
                                       within=deadline - loop.time())
        if answer is None:
            return Answer.message(t(locale, "triage.unblock.running", count=len(prepared)))
        return answer

    async def _unblock_all(self, press: Press, confirmed: list[Entry]) -> Answer:
        speaker = press.speaker
        log.info("bulk unblock of %d account(s) by %s", len(confirmed), speaker.aad_object_id)
        outcomes = await self._board.unblock_all(speaker, confirmed)
        return Answer.card(bulk_result_card(outcomes, locale=speaker.locale, time_zone=speaker.time_zone))

    async def _prepare(self, press: Press) -> Answer | list[Entry]:
        """The answer of a press that unblocks nothing (a refusal, the confirmation, the list changed), or the
        confirmed accounts to unblock."""
        speaker, data = press.speaker, press.data
        locale = speaker.locale
        if not may_view(speaker):
            return Answer.message(t(locale, "triage.refused.user"))
        if not may_bulk_unblock(speaker):
            log.info("bulk unblock refused for %s (role %s)", speaker.aad_object_id, speaker.role.key)
            return Answer.message(t(locale, "triage.refused.admin_only"))
        if not policy.is_confirmed(data):
            return Answer.card(await self._confirmation(speaker))
        list_id, shown_at = data.get("list"), parse_shown_at(data.get("at"))
        if not isinstance(list_id, str) or len(list_id) != _FINGERPRINT_LENGTH or shown_at is None:
            log.info("bulk unblock refused for %s: malformed confirmation data", speaker.aad_object_id)
            return Answer.message(t(locale, "triage.refused.bad_data"))
        now = self._board.now()
        if not now - timedelta(seconds=self._board.config.confirm_valid_seconds) <= shown_at <= now + timedelta(
                minutes=1):
            return Answer.card(await self._confirmation(speaker, notice_key="triage.confirm.changed"))
        try:
            listing = await self._board.listing(speaker)
        except M365Error as exc:
            return await self._list_unreachable(speaker, shown_at, exc, data.get("scope"))
        confirmed = candidates(listing, speaker, unblocked_since=shown_at, scope=data.get("scope"))
        if fingerprint([e.row.account_id for e in confirmed]) != list_id:
            log.info("bulk unblock by %s: the list changed since the confirmation; showing it again",
                     speaker.aad_object_id)
            return Answer.card(await self._confirmation(speaker, listing, notice_key="triage.confirm.changed"))
        if not confirmed:
            return Answer.card(await self._confirmation(speaker, listing))
        return confirmed

    async def _list_unreachable(self, speaker: Speaker, shown_at: datetime, exc: M365Error,
                                scope: object = None) -> Answer:
        """Confirm while Microsoft 365's list cannot be read: nothing is unblocked (the list cannot be checked
        again), and the card names each account the confirmation showed (as the store last saw them)."""
        log.warning("bulk unblock by %s: the restriction list could not be read (%s); nothing was done",
                    speaker.aad_object_id, type(exc).__name__)
        confirmed = candidates(await self._board.stored_listing(), speaker, unblocked_since=shown_at,
                               scope=scope)
        if not confirmed:
            return Answer.message(t(speaker.locale, "triage.unreachable"))
        reason = t(speaker.locale, "triage.failed.list_unreachable")
        outcomes = [BulkOutcome(e.row.name, e.row.upn, "failed", reason) for e in confirmed]
        return Answer.card(bulk_result_card(outcomes, locale=speaker.locale, time_zone=speaker.time_zone))

    async def _confirmation(self, speaker: Speaker, listing: Listing | None = None, *,
                            notice_key: str | None = None) -> JsonDict:
        listing = listing or await self._board.listing(speaker)
        entries = candidates(listing, speaker)
        rest = candidates(listing, speaker, scope=SCOPE_REST)
        shown_at = shown_at_value(self._board.now())
        return bulk_confirmation_card([e.row for e in entries],
                                      list_id=fingerprint([e.row.account_id for e in entries]),
                                      rest_list_id=fingerprint([e.row.account_id for e in rest]),
                                      shown_at=shown_at, locale=speaker.locale, time_zone=speaker.time_zone,
                                      own_left_out=own_left_out(listing, speaker), notice_key=notice_key)


def parse_shown_at(value: object) -> datetime | None:
    """When a confirmation was shown, from its button data (milliseconds since the epoch), or None."""
    if not isinstance(value, str) or not value.isascii() or not value.isdigit() or len(value) > _MAX_AT_DIGITS:
        return None
    try:
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    except (OverflowError, ValueError, OSError):  # past what a datetime holds (year 9999): a forged value
        return None


def shown_at_value(when: datetime) -> str:
    """`when` as a confirmation's button data carries it (milliseconds since the epoch, rounded down)."""
    return str(int(when.timestamp() * 1000))

"""A case's card, drawn from the store alone, and kept current in every conversation it was posted to.

The card is a pure function of what the store holds: the investigation snapshot on the case (what was
found), `case.steps` (what was done, by whom, when), the audit log (the latest actions and failures) and the
case's status (pending, restored, closed). So any instance can redraw any copy at any time, and a press, the
unblock checker or a refresh all draw the same card.

Copies (`case_cards`) are findings cards in IT places: personal chats of staff, the IT channel. A copy in a
personal chat is drawn for that person's role; a copy in a channel or group chat shows the buttons, because
every press is checked again on the server anyway.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from cards.base import JsonDict
from cards.findings import (
    ActionNote,
    GateInfo,
    Notice,
    StepState,
    case_unavailable_card,
    findings_card,
    step_key,
)
from cards.history import PreviousCase
from cards.verbs import Verb
from domain.delivery import ConversationGone, MessageGone
from domain.people import Role
from investigation.collect import Investigation
from investigation.snapshot import from_snapshot
from investigation.verdict import RESPOND_URL, Step, StepPhase
from locales import format_datetime, t
from remediation import policy
from remediation.actions import spec_of
from store import AuditEntry, CardRef, CaseRecord, Store

log = logging.getLogger(__name__)

# The audit action of the unblock checker: `succeeded` = sending restored, `failed` = still listed after 24 h.
CHECK_ACTION = "unblock_check"
COPY_UPDATE_TIMEOUT = 10.0
# Why an unblock waits: the investigation marked required steps that are still open.
GATE_KEY = "gate.secure_first"
# The previous case is looked for among the account's latest finished cases only (a bounded read).
PREVIOUS_CASES_LOOKED_AT = 5
FINISHED_CASE_STATUSES = ("resolved", "closed")


class CardUpdater(Protocol):
    """What updating a posted card needs (`teams.proactive.Messenger` is one)."""

    async def update_card(self, reference: Mapping[str, Any], activity_id: str, card: Mapping[str, Any]) -> None:
        """Replace the card posted as `activity_id` in the referenced conversation."""
        ...


RoleLookup = Callable[[str], Awaitable[Role]]


@dataclass(frozen=True)
class Viewer:
    """Who a card is drawn for: language, time zone, and what their role lets them see."""

    locale: str | None
    time_zone: str | None = None
    can_act: bool = False
    is_staff: bool = False


@dataclass(frozen=True)
class StepRecord:
    """One entry of `case.steps` (written by `CaseRepository.record_step`)."""

    code: str
    target_id: str | None
    by: str
    by_id: str
    at: datetime
    details: Mapping[str, Any]


def step_records(case: CaseRecord) -> dict[str, StepRecord]:
    """`case.steps` as records, keyed like `cards.findings.step_key`; unreadable entries are skipped."""
    out: dict[str, StepRecord] = {}
    for key, entry in case.steps.items():
        if not isinstance(entry, Mapping):
            continue
        code, _, target = str(key).partition(":")
        try:
            at = datetime.fromisoformat(str(entry.get("at")))
        except ValueError:
            continue
        out[key] = StepRecord(code, target or None, str(entry.get("by") or ""), str(entry.get("by_id") or ""), at,
                              dict(entry))
    return out


def current_steps(case: CaseRecord) -> dict[str, StepRecord]:
    """The steps whose effect still holds: a sign-in block or allow counts only if the other came before it. An
    alternative action done on an item (`ActionSpec.offered_by`: a deleted rule) completes the step that offered
    the item too (its record, under that step's key: the gate, the card and a second press read it)."""
    records = step_records(case)
    for record in list(records.values()):
        spec = spec_of(record.code)
        if spec is not None and spec.offered_by != spec.step:
            records.setdefault(step_key(spec.offered_by, record.target_id), record)
    block = records.get(step_key("block_sign_in", None))
    allow = records.get(step_key("allow_sign_in", None))
    if block is not None and allow is not None:
        undone = step_key("block_sign_in", None) if allow.at >= block.at else step_key("allow_sign_in", None)
        records.pop(undone)
    return records


def done_codes(case: CaseRecord) -> set[str]:
    """The codes of the steps done (and not undone) on the case."""
    return {record.code for record in current_steps(case).values()}


def investigation_of(case: CaseRecord) -> Investigation | None:
    """The investigation stored on the case, or None when there is none or it cannot be read."""
    snapshot = case.summary.get("snapshot")
    return from_snapshot(snapshot) if isinstance(snapshot, Mapping) else None


def action_name(verb_value: str, locale: str | None) -> str:
    """An action's name in the viewer's language (`Unblock`, `Sign out everywhere` …)."""
    spec = spec_of(verb_value)
    return t(locale, spec.label_key if spec is not None else f"remediation.action.{verb_value}")


def _actor(entry: AuditEntry, locale: str | None = None) -> str:
    if entry.actor_id == CONTAINMENT_ACTOR_ID:
        return t(locale, "actor.automatic_containment")  # the bot's own actor, in the reader's language
    return entry.actor_name or entry.actor_upn or entry.actor_id or "—"


# Automatic containment (`core.containment`): its actor and the audit rows of a containment that did not happen.
# Defined here, where the card reads them, because `core` imports `remediation` and not the other way round.
CONTAINMENT_ACTOR_ID = "system:automatic-containment"
ACTION_CONTAIN_PAUSED = "auto_contain.paused"
ACTION_CONTAIN_REFUSED = "auto_contain.refused"


def containment_notices(case: CaseRecord, entries: Sequence[AuditEntry], locale: str | None,
                        time_zone: str | None) -> list[Notice]:
    """What automatic containment did to the case's account, for the top of every copy of its card: contained
    (while the block it made holds), paused by the hourly bound, refused for the last Global Administrator, or
    stopped half-way."""
    ours = [e for e in entries if e.actor_id == CONTAINMENT_ACTOR_ID and e.outcome != "started"]
    if not ours:
        return []
    records = current_steps(case)
    block = records.get(step_key("block_sign_in", None))
    if block is not None and block.by_id == CONTAINMENT_ACTOR_ID:
        return [Notice("notice.contained", {"time": format_datetime(block.at, locale, time_zone)}, tone="attention")]
    last = ours[-1]
    if last.action == ACTION_CONTAIN_PAUSED:
        count = last.parameters.get("count")
        return [Notice("notice.contain_paused", {"count": str(count) if isinstance(count, int) else "0"},
                       tone="warning")]
    if last.action == ACTION_CONTAIN_REFUSED:
        return [Notice("notice.refused.last_global_admin", tone="warning")]
    if last.outcome != "succeeded" and step_key("allow_sign_in", None) not in records:
        return [Notice("notice.contain_failed", tone="warning")]
    return []


def latest_notes(entries: Sequence[AuditEntry], locale: str | None) -> list[ActionNote]:
    """The outcome rows of the audit log as latest-action lines (the card keeps the newest few)."""
    notes: list[ActionNote] = []
    for entry in entries:
        if entry.outcome == "started":
            continue
        if entry.action == CHECK_ACTION:
            key = "note.restored" if entry.outcome == "succeeded" else "note.unblock_expired"
            notes.append(ActionNote(key, _actor(entry, locale), entry.at))
            continue
        spec = spec_of(entry.action)
        if spec is None:
            continue  # someone else's audit event (case opened, note sent …)
        if entry.outcome in ("failed", "unknown"):
            # `unknown`: interrupted by a crash and not readable back (remediation.reconcile).
            notes.append(ActionNote(f"note.{entry.outcome}_action", _actor(entry, locale), entry.at,
                                    {"action": action_name(entry.action, locale)}))
            continue
        key = spec.note_key
        if spec.verb == Verb.UNBLOCK and entry.parameters.get("override"):
            key = "note.unblocked_override"
        rule = entry.parameters.get("rule")
        params = {"rule": rule if isinstance(rule, str) else ""}
        if spec.item is not None:
            # A per-item action's line names its item (the method, the app) as the audit recorded it.
            name = entry.parameters.get(spec.item.name_key)
            params[spec.item.name_key] = name if isinstance(name, str) else ""
        notes.append(ActionNote(key, _actor(entry, locale), entry.at, params))
    return notes


def status_notices(case: CaseRecord, entries: Sequence[AuditEntry], locale: str | None,
                   time_zone: str | None) -> list[Notice]:
    """What the case's state means for everyone looking at the card: pending, restored, closed, limit."""
    records = step_records(case)
    unblock = records.get(step_key("unblock", None))
    if case.status == "unblock_pending" and unblock is not None:
        return [Notice("notice.pending", {"actor": unblock.by, "time": format_datetime(unblock.at, locale,
                                                                                       time_zone)})]
    if case.status == "resolved":
        if unblock is None:
            return []
        return [Notice("notice.restored", {"time": format_datetime(case.resolved_at, locale, time_zone)},
                       tone="good")]
    if case.status == "closed":
        return [Notice("notice.closed", tone="emphasis")]
    outcomes = [e for e in entries if e.action in (Verb.UNBLOCK.value, CHECK_ACTION) and e.outcome != "started"]
    if outcomes and unblock is None:
        last = outcomes[-1]
        result = last.parameters.get("result")
        error = result.get("error") if isinstance(result, Mapping) else None
        if last.action == Verb.UNBLOCK.value and error == "unblock_limit":
            return [Notice("notice.failed.unblock_limit", tone="attention", support_link=True)]
        if last.action == CHECK_ACTION and last.outcome == "failed":
            at = last.parameters.get("unblocked_at")
            when = datetime.fromisoformat(at) if isinstance(at, str) else last.at
            return [Notice("notice.still_listed", {"time": format_datetime(when, locale, time_zone)},
                           tone="warning", support_link=True)]
    return []


def _by(record: StepRecord, locale: str | None) -> str:
    """Who did a step, as the card names them (automatic containment in the reader's language)."""
    return t(locale, "actor.automatic_containment") if record.by_id == CONTAINMENT_ACTOR_ID else record.by


def restored_at(case: CaseRecord) -> datetime | None:
    """When sending was restored after the bot's unblock (the case is resolved by the checker), else None."""
    if case.status != "resolved" or step_key("unblock", None) not in case.steps:
        return None
    return case.resolved_at


def _with_done_block(investigation: Investigation, records: Mapping[str, StepRecord]) -> Investigation:
    """A sign-in block the bot made is shown (with "Allow sign-in") even when the verdict did not offer it."""
    steps = investigation.assessment.recommended_steps
    if step_key("block_sign_in", None) not in records or any(s.code == "block_sign_in" for s in steps):
        return investigation
    block = Step("block_sign_in", StepPhase.secure, {}, url=RESPOND_URL)
    index = next((i for i, s in enumerate(steps) if s.phase != StepPhase.secure), len(steps))
    assessment = replace(investigation.assessment, recommended_steps=(*steps[:index], block, *steps[index:]))
    return replace(investigation, assessment=assessment)


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return value if isinstance(value, str) else ""


class CaseView:
    """Draws a case's card for a viewer and pushes it to every other posted copy.

    `messenger` updates the posted copies and `role_of` tells what each copy's reader may do; both are given at
    construction (`bot.py` builds the outbox before the core), and never changed afterwards.
    """

    def __init__(self, store: Store, *, messenger: CardUpdater, role_of: RoleLookup,
                 copy_timeout: float = COPY_UPDATE_TIMEOUT) -> None:
        self._store = store
        self._messenger = messenger
        self._role_of = role_of
        self._copy_timeout = copy_timeout

    async def card(self, case: CaseRecord, viewer: Viewer, notices: Sequence[Notice] = (), *,
                   investigation: Investigation | None = None) -> JsonDict:
        """The case's card for `viewer`: `notices` (the outcome of a press) first, then the case's own.
        `investigation` replaces the stored snapshot (the investigation that was just run)."""
        entries = await self._store.audit.list(case_id=case.id)
        shown = [*notices, *status_notices(case, entries, viewer.locale, viewer.time_zone),
                 *containment_notices(case, entries, viewer.locale, viewer.time_zone)]
        investigation = investigation or investigation_of(case)
        if investigation is None:
            return case_unavailable_card(case_id=case.id, name=case.display_name or case.account_upn,
                                         locale=viewer.locale, notices=shown)
        records = current_steps(case)
        states = {key: StepState(r.code, r.target_id, _by(r, viewer.locale), r.at, str(r.details.get("item") or ""))
                  for key, r in records.items()}
        investigation = _with_done_block(investigation, records)
        gate: GateInfo | None = None
        # The gate reads the same `Step.required` the card labels "required before unblocking".
        missing = policy.open_required_steps(investigation.assessment.recommended_steps, records.keys())
        if missing and case.status == "open":
            gate = GateInfo(GATE_KEY, missing)
        return findings_card(
            investigation,
            case_id=case.id,
            viewer_can_act=viewer.can_act and case.status != "closed",
            locale=viewer.locale,
            time_zone=viewer.time_zone,
            step_states=states,
            latest_actions=latest_notes(entries, viewer.locale),
            gate=gate,
            notices=shown,
            can_send_note=viewer.is_staff and case.is_active,
            restored_at=restored_at(case),
            # IT's context (one indexed read): the account's incident before this one, which its owner needs not.
            previous=await self.previous_case(case) if viewer.is_staff else None,
        )

    async def previous_case(self, case: CaseRecord) -> PreviousCase | None:
        """The account's latest finished (resolved or closed) case opened before `case`, with who unblocked it;
        None when there is none. Finished cases are never reopened (`store.cases`), so an investigation after a
        restore starts a new case and its card points here for the history."""
        finished = await self._store.cases.list_cases(FINISHED_CASE_STATUSES, case.tenant_id,
                                                      account_id=case.account_id, limit=PREVIOUS_CASES_LOOKED_AT)
        for earlier in finished:
            if earlier.id == case.id or earlier.created_at >= case.created_at:
                continue
            unblock = step_records(earlier).get(step_key("unblock", None)) if earlier.status == "resolved" else None
            return PreviousCase(earlier.id, earlier.resolved_at or earlier.updated_at,
                                unblock.by if unblock is not None else "")
        return None

    async def viewer_of_copy(self, ref: CardRef, case: CaseRecord) -> Viewer:
        """Who looks at a posted copy: the chat's person in a personal chat, IT in a channel or group chat."""
        reference = ref.conversation_reference
        locale = _text(reference, "locale") or None
        conversation = reference.get("conversation")
        if not isinstance(conversation, Mapping) or _text(conversation, "conversationType") != "personal":
            return Viewer(locale, can_act=True, is_staff=True)
        user = reference.get("user")
        aad_id = _text(user, "aadObjectId") if isinstance(user, Mapping) else ""
        role = await self._role_of(aad_id) if aad_id else Role.USER
        return Viewer(locale, can_act=policy.can_act(role, aad_id, case.account_id), is_staff=role >= Role.IT_STAFF)

    async def update_copies(self, case: CaseRecord, *, skip_conversation: str | None = None,
                            skip_activity: str | None = None, pressed_conversation: str | None = None,
                            pressed_activity: str | None = None, pressed_notices: Sequence[Notice] = (),
                            only_pressed: bool = False) -> int:
        """Redraw every posted copy of the case's card except the one a press came from when the invoke
        response replaces that one: the message `skip_activity` in `skip_conversation`, or every copy in that
        conversation when the client did not say which message it was.

        A press answered "working on it" skips nothing: its outcome names the pressed copy instead
        (`pressed_conversation`, `pressed_activity`, matched the same way), which is redrawn with
        `pressed_notices` (the outcome the presser waits for); `only_pressed` redraws that copy alone (a refusal
        is nobody else's news). Each copy has its own time limit, so one unreachable chat does not hold back
        the others; failures are logged per copy. Returns how many copies were updated."""
        messenger = self._messenger

        def pressed(ref: CardRef) -> bool:
            return ref.conversation_id == pressed_conversation and (
                pressed_activity is None or ref.activity_id == pressed_activity)

        refs = [r for r in await self._store.cases.list_cards(case.id)
                if not (r.conversation_id == skip_conversation
                        and (skip_activity is None or r.activity_id == skip_activity))
                and (not only_pressed or pressed(r))]

        async def update(ref: CardRef) -> bool:
            try:
                notices = pressed_notices if pressed(ref) else ()
                card = await self.card(case, await self.viewer_of_copy(ref, case), notices)
                await asyncio.wait_for(messenger.update_card(ref.conversation_reference, ref.activity_id, card),
                                       self._copy_timeout)
            except TimeoutError:
                log.warning("updating the card of case %s in conversation %s took longer than %.0f s", case.id,
                            ref.conversation_id, self._copy_timeout)
                return False
            except (ConversationGone, MessageGone) as exc:  # e.g. a copy from an earlier demo run: forget it
                await self._store.cases.remove_card(case.id, ref.conversation_id, ref.activity_id)
                log.info("the card of case %s in conversation %s is gone (%s); its copy is forgotten", case.id,
                         ref.conversation_id, exc)
                return False
            except Exception as exc:  # noqa: BLE001 - one unreachable copy must not stop the others
                log.warning("could not update the card of case %s in conversation %s (%s)", case.id,
                            ref.conversation_id, type(exc).__name__)
                return False
            return True

        if not refs:
            return 0
        results = await asyncio.gather(*(update(r) for r in refs))
        return sum(results)

    async def replace(self, reference: Mapping[str, Any], activity_id: str, card: JsonDict) -> bool:
        """Replace one posted card (the pressed one) with `card`; False (logged) when that failed."""
        try:
            await asyncio.wait_for(self._messenger.update_card(reference, activity_id, card), self._copy_timeout)
        except Exception as exc:  # noqa: BLE001 - the chat may be unreachable; the log says so
            log.warning("could not replace a pressed card (%s)", type(exc).__name__)
            return False
        return True

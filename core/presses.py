"""The press of any verb on a case's card, from untrusted button data to the redrawn card everywhere.

No bot SDK here: the Teams edge (`teams/routes.py`) hands a `Press` (verb, button data, speaker, where it came
from) and turns the `Answer` into the invoke response. The order, for every action verb (`Presses.press`):

1. Load the case named by `caseId` (unknown, or of another tenant → refused, same words either way).
2. Check the clicker against `remediation.policy` (tenant, role, own account).
3. Re-check the state from the store: the target comes from the case's snapshot (a rule id must be one the
   investigation recorded); a step already done makes no call (the card refreshes to "already done by X at
   T"); the compromised gate and its override; destructive verbs answer with a confirmation card first.
4. Claim the action in the database (`store.claims`): of concurrent presses, on any instance, exactly one
   goes on; the others wait briefly for its outcome and show it.
5. Audit `started` → the one tenant call → audit `succeeded`/`failed` (same correlation id).
6. On success record the step on the case (who, when), complete the claim; an unblock moves the case to
   `unblock_pending` and wakes the checker. On failure release the claim so it can be tried again.
7. Answer with the redrawn card and update every other posted copy (through the `CaseView`'s card updater).

Every press is answered within one budget (`RemediationConfig.refresh_answer_seconds`, 8 s; Teams waits 15 s):
steps 1-7 run as one piece of work under `Presses.in_time`. When it is not done in time (a slow Exchange: the
write's timeout plus the read-back's), the press is answered "working on it — this card will update", the work
goes on, and its outcome redraws every posted copy of the card, the pressed one included. A store that cannot
write (locked past its busy timeout, read-only, gone: `store.StoreUnavailable`) before the tenant call answers
"could not record the action, nothing was done": the tenant is never called without its audit row.

Nothing here says "done" unless Microsoft 365 answered with success; a refusal or failure is a card or a
message that says why, never an HTTP error.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from cards.base import JsonDict
from cards.findings import ConfirmItem, Notice, confirmation_card, step_key, steps_text
from cards.triage import with_back_to_list
from cards.verbs import Verb
from core.ports import CaseRecorder, Investigator, Reference
from domain.people import Role, Speaker
from domain.tasks import cancel_and_wait
from investigation.collect import Investigation
from investigation.indicators import rule_rows
from investigation.resume import when_sending_resumes
from investigation.verdict import Step
from locales import format_datetime, t
from m365.errors import M365Error, NotFound, UpstreamTimeout
from m365.protocol import Tenant
from remediation import policy
from remediation.actions import ACTIONS, ActionSpec, Failure, Target, failure_of
from remediation.checker import CheckerConfig, UnblockChecker
from remediation.views import CaseView, Viewer, current_steps, investigation_of
from store import Actor, CaseRecord, Store, StoreUnavailable
from store.audit_log import AuditError

log = logging.getLogger(__name__)

T = TypeVar("T")

_MAX_ID_LENGTH = 256
# The bot's own actors (the watch, automatic containment) have ids like this: no directory account to look up.
SYSTEM_ID_PREFIX = "system:"
_ACTOR_CACHE = 1000


class AnswerKind(StrEnum):
    """What an answer to a press does to the pressed card."""

    CARD = "card"  # replaces it
    MESSAGE = "message"  # leaves it and shows a short text
    ERROR = "error"  # leaves it and shows an error (a forged or malformed press)


@dataclass(frozen=True)
class Answer:
    """The outcome of a press: the Teams edge turns it into the invoke response (`teams.invoke.invoke_response`)."""

    kind: AnswerKind
    value: JsonDict | str  # the card, the message's text, or the error's message
    status: int = 200
    code: str = ""  # the error's code (`BadRequest`, `Forbidden` …)

    @classmethod
    def card(cls, card: JsonDict) -> Answer:
        """Replace the pressed card with `card`."""
        return cls(AnswerKind.CARD, card)

    @classmethod
    def message(cls, text: str) -> Answer:
        """Show `text` and leave the card as it was."""
        return cls(AnswerKind.MESSAGE, text)

    @classmethod
    def error(cls, status: int, code: str, message: str) -> Answer:
        """A Universal Actions error (`status` like HTTP's, `code` like `BadRequest`)."""
        return cls(AnswerKind.ERROR, message, status, code)


@dataclass(frozen=True)
class Press:
    """One press of a button: plain data the Teams edge took from the invoke.

    `data` is untrusted (ids only, re-checked here). `conversation` is the stored-reference JSON of the chat the
    press came from (None: no chat's copy is to be skipped when the copies are redrawn); `reply_to` is the pressed
    card's message (Teams' `replyToId`), when the client sent it.
    """

    verb: Verb
    data: Mapping[str, Any]
    speaker: Speaker
    conversation: Reference | None = None
    reply_to: str | None = None

    @property
    def conversation_id(self) -> str | None:
        """The id of the chat the press came from, if known."""
        conversation = self.conversation.get("conversation") if self.conversation is not None else None
        value = conversation.get("id") if isinstance(conversation, Mapping) else None
        return value if isinstance(value, str) and value else None


@dataclass(frozen=True)
class RemediationConfig:
    """Timing of the press handling and the unblock checker (tests use small values)."""

    claim_wait_seconds: float = 15.0  # how long a losing press waits for the winner's outcome
    claim_poll_seconds: float = 0.1
    # A press that investigates (refresh, bulk work) is answered within this; longer work finishes in the background.
    refresh_answer_seconds: float = 8.0
    checker: CheckerConfig = CheckerConfig()


@dataclass(frozen=True)
class Outcome:
    """What a press came to, before it is drawn: for the presser in the invoke response (`Presses._render`), or,
    when it came too late for the press, on the posted copies of the card (`Presses._late`).

    Exactly one of: `case` (its card, with `notices`; `copies` when the other posted copies changed too), `key`
    (a message, a catalog key with `params`; on a late outcome it becomes a notice on the pressed card of `case`
    when there is one) or `card` (a ready card: the confirmation).
    """

    case: CaseRecord | None = None
    notices: tuple[Notice, ...] = ()
    copies: bool = False
    key: str = ""
    params: Mapping[str, Any] = field(default_factory=dict, hash=False)
    card: JsonDict | None = field(default=None, hash=False)
    back_page: int | None = None

    @classmethod
    def show(cls, case: CaseRecord, notices: Sequence[Notice] = (), *, copies: bool = False,
             back_page: int | None = None) -> Outcome:
        """The case's card (with `notices`); `copies`: redraw the other posted copies too; `back_page`: opened
        from that page of the triage list, so the presser's card offers "Back to the list"."""
        return cls(case=case, notices=tuple(notices), copies=copies, back_page=back_page)

    @classmethod
    def say(cls, key: str, *, case: CaseRecord | None = None, **params: str) -> Outcome:
        """A message (catalog `key`) that leaves the card as it was."""
        return cls(case=case, key=key, params=params)

    @classmethod
    def ready(cls, card: JsonDict) -> Outcome:
        """A card drawn already (the confirmation)."""
        return cls(card=card)


class Presses:
    """The press of every case verb (the remediation actions, `show_case`, `refresh`) and the answering rule for
    work that outlasts what Teams waits for (`in_time`).

    Every press is answered within `RemediationConfig.refresh_answer_seconds` (Teams gives up after 15 s): with
    its outcome when it came in time, else with "working on it" while the press goes on in the background and
    then redraws every posted copy of the card, the pressed one included (`_late`).

    Built once per application (`bot.py`) with everything it uses: the case view (which updates the other posted
    copies), the unblock checker it wakes, the investigation service and the case book a refresh records on.
    """

    def __init__(self, *, tenant: Tenant, store: Store, view: CaseView, checker: UnblockChecker,
                 investigator: Investigator, recorder: CaseRecorder, config: RemediationConfig) -> None:
        self._tenant = tenant
        self._store = store
        self._config = config
        self._view = view
        self._checker = checker
        self._investigator = investigator
        self._recorder = recorder
        self._upns: OrderedDict[str, str] = OrderedDict()
        self._background: set[asyncio.Task[None]] = set()

    @property
    def view(self) -> CaseView:
        """Draws a case's card and updates its posted copies."""
        return self._view

    @property
    def checker(self) -> UnblockChecker:
        """The unblock checker an unblock wakes."""
        return self._checker

    @property
    def budget_seconds(self) -> float:
        """How long a press may take before it is answered with "working on it" (the one budget of every press)."""
        return self._config.refresh_answer_seconds

    # -- the press ----------------------------------------------------------------------------------------

    async def press(self, press: Press) -> Answer:
        """Handle one press within the budget (see the module docstring for the order of checks): its outcome
        when it came in time, else "working on it", and the outcome redraws every copy when it comes."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.budget_seconds
        result = await self.in_time(self._settled(press), late=functools.partial(self._late, press))
        if result is None:
            key = "remediation.refresh.running" if press.verb == Verb.REFRESH else "remediation.working"
            log.info("%s answered with 'working on it'; it goes on in the background", press.verb.value)
            return Answer.message(t(press.speaker.locale, key))
        outcome, answer = result
        if outcome.copies and outcome.case is not None:
            # The other copies within what is left of the budget; what does not make it goes on in the background.
            origin = _origin(press)
            copies = self._track(self._view.update_copies(
                outcome.case, skip_conversation=origin.conversation_id if origin else None,
                skip_activity=origin.activity_id if origin else None))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(copies), max(deadline - loop.time(), 0.0))
        return answer

    async def press_now(self, press: Press) -> Answer:
        """Handle one press to its end, however long it takes, and redraw the other copies before answering (the
        bulk unblock runs each account's press this way, under a budget of its own)."""
        outcome, answer = await self._settled(press)
        if outcome.copies and outcome.case is not None:
            origin = _origin(press)
            await self._view.update_copies(outcome.case,
                                           skip_conversation=origin.conversation_id if origin else None,
                                           skip_activity=origin.activity_id if origin else None)
        return answer

    async def _settled(self, press: Press) -> tuple[Outcome, Answer]:
        """The press's outcome and its answer; a store outage or an unexpected failure is an answer too."""
        locale = press.speaker.locale
        try:
            outcome = await self._outcome(press)
            return outcome, await self._render(press.speaker, outcome)
        except StoreUnavailable as exc:
            # Nothing after the tenant call gets here (`_perform` answers that itself): nothing was done.
            log.warning("%s not handled: the store is unavailable (%s)", press.verb.value, exc.reason)
            outcome = Outcome.say("remediation.store.not_recorded")
        except Exception:  # noqa: BLE001 - answered on the card; the traceback goes to the log
            log.exception("%s press failed unexpectedly", press.verb.value)
            outcome = Outcome.say("error.generic")
        return outcome, Answer.message(t(locale, outcome.key))

    async def _render(self, speaker: Speaker, outcome: Outcome) -> Answer:
        """The invoke response's answer for the presser."""
        if outcome.card is not None:
            return Answer.card(outcome.card)
        if outcome.key or outcome.case is None:
            return Answer.message(t(speaker.locale, outcome.key or "remediation.refused.unknown_case",
                                    **outcome.params))
        card = await self._view.card(outcome.case, self._viewer(speaker, outcome.case), list(outcome.notices))
        if outcome.back_page is not None:
            card = with_back_to_list(card, page=outcome.back_page, locale=speaker.locale)
        return Answer.card(card)

    async def _late(self, press: Press, result: tuple[Outcome, Answer]) -> None:
        """The outcome of a press answered with "working on it": redraw every posted copy of the card, the
        pressed one included (with the outcome's notices, or its message as a notice)."""
        outcome, _answer = result
        origin = _origin(press)
        if outcome.card is not None:
            if press.conversation is not None and press.reply_to:
                await self._view.replace(press.conversation, press.reply_to, outcome.card)
            return
        case = outcome.case
        notices = outcome.notices
        only_pressed = False
        if outcome.key:
            # A message (a refusal, a store outage) concerns the presser: it goes on the pressed card only.
            notices = (Notice(outcome.key, dict(outcome.params), tone="warning"),)
            only_pressed = True
            if case is None:
                with contextlib.suppress(StoreUnavailable):
                    case = await self._load(press.data)
        if case is None or (origin is None and only_pressed):
            log.info("a late %s outcome has no card to show it on", press.verb.value)
            return
        await self._view.update_copies(case, pressed_conversation=origin.conversation_id if origin else None,
                                       pressed_activity=origin.activity_id if origin else None,
                                       pressed_notices=notices, only_pressed=only_pressed)

    def _track(self, work: Coroutine[Any, Any, Any]) -> asyncio.Task[None]:
        async def run() -> None:
            try:
                await work
            except Exception:  # noqa: BLE001 - the press was answered; only the log can say what went wrong
                log.error("background work after a button press failed", exc_info=True)

        task = asyncio.create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def _outcome(self, press: Press) -> Outcome:
        verb, speaker, data = press.verb, press.speaker, press.data
        case = await self._load(data)
        if case is None:
            log.info("%s refused for %s: unknown or foreign case", verb.value, speaker.aad_object_id)
            return Outcome.say("remediation.refused.unknown_case")
        decision = policy.decide(speaker, verb, case)
        if not decision.allowed:
            log.info("%s on case %s refused for %s (role %s): %s", verb.value, case.id, speaker.aad_object_id,
                     speaker.role.key, decision.reason)
            return Outcome.say(decision.reason or "remediation.refused.unknown_verb", case=case)
        conversation = _origin(press)
        if verb == Verb.SHOW_CASE:
            return Outcome.show(case, back_page=_list_page(data))
        if verb == Verb.REFRESH:
            return await self._refresh(case, speaker, conversation)
        spec = ACTIONS.get(verb)
        if spec is None:
            return Outcome.say("remediation.refused.unknown_verb", case=case)
        return await self._act(spec, case, speaker, data)

    async def _load(self, data: Mapping[str, Any]) -> CaseRecord | None:
        case_id = data.get("caseId")
        if not isinstance(case_id, str) or not case_id or len(case_id) > _MAX_ID_LENGTH:
            return None
        case = await self._store.cases.get_case(case_id)
        if case is None or case.tenant_id.lower() != self._tenant.tenant_id.lower():
            return None
        return case

    def _viewer(self, speaker: Speaker, case: CaseRecord) -> Viewer:
        return Viewer(speaker.locale, speaker.time_zone, can_act=policy.speaker_can_act(speaker, case.account_id),
                      is_staff=speaker.role >= Role.IT_STAFF)

    async def _act(self, spec: ActionSpec, case: CaseRecord, speaker: Speaker, data: Mapping[str, Any]) -> Outcome:
        locale, zone = speaker.locale, speaker.time_zone
        if case.status == "closed":
            return Outcome.say("remediation.refused.closed", case=case)
        investigation = investigation_of(case)
        if investigation is None:
            return Outcome.say("remediation.refused.no_snapshot", case=case)
        target = _target(spec, case, investigation, data)
        if target is None:
            log.info("%s on case %s refused: item not recorded on the case", spec.verb.value, case.id)
            key = ("remediation.refused.rule_unknown" if spec.offered_by == Verb.DISABLE_RULE.value
                   else "remediation.refused.item_unknown")
            return Outcome.say(key, case=case)
        key = step_key(spec.step, target.item_id)
        done = current_steps(case)
        # Stale card: the step is done (or the account already unblocked): no second call.
        if spec.verb == Verb.UNBLOCK and case.status in ("unblock_pending", "resolved"):
            record = done.get(key)
            if record is not None:
                when = format_datetime(record.at, locale, zone)
                return Outcome.show(case, [Notice("notice.already_unblocked", {"actor": record.by, "time": when})])
            return Outcome.show(case)
        if key in done:
            record = done[key]
            notice = Notice("notice.already_done", {"action": _action(spec, locale), "actor": record.by,
                                                    "time": format_datetime(record.at, locale, zone)})
            return Outcome.show(case, [notice])
        reason: policy.Reason | None = None
        steps = investigation.assessment.recommended_steps
        if spec.acknowledge and not any(s.code == spec.step for s in steps):
            return Outcome.say("remediation.refused.step_unknown", case=case)
        open_steps: tuple[Step, ...] = ()
        if spec.verb == Verb.UNBLOCK:
            if not any(s.code == "unblock" for s in steps):
                return Outcome.say("remediation.refused.not_restricted", case=case)
            # The gate: the steps the card calls required (`Step.required`), every one of them.
            open_steps = policy.open_required_steps(steps, done.keys())
            if open_steps:
                # The answers below sit right above "Unblock anyway" (`anchor`), where the presser looks.
                at = step_key("unblock", None)
                if not policy.override_requested(data):
                    return Outcome.show(case, [Notice("notice.gated", {"steps": steps_text(open_steps, locale)},
                                                      tone="warning", anchor=at)])
                reason = policy.override_reason_of(data)
                if not reason.visible:
                    return Outcome.show(case, [Notice("notice.reason_missing", tone="warning", anchor=at)])
                if not reason.sufficient:
                    log.info("unblock anyway on case %s refused: the reason has %d visible characters", case.id,
                             reason.count)
                    return Outcome.show(case, [Notice("notice.reason_too_short",
                                                      {"count": str(policy.OVERRIDE_REASON_MIN_VISIBLE)},
                                                      tone="warning", anchor=at)])
        refused = await self._guarded(spec, case, speaker, target)
        if refused is not None:
            return refused
        if policy.needs_confirmation(spec.verb) and not policy.is_confirmed(data):
            user = investigation.evidence.user
            resume = when_sending_resumes(investigation.evidence)
            lifts = resume is not None and resume.lifts_by_itself(datetime.now(UTC))
            return Outcome.ready(confirmation_card(spec.verb, case_id=case.id, name=user.display_name,
                                                   upn=user.user_principal_name, locale=locale,
                                                   override_reason=reason.typed if reason is not None else None,
                                                   lifts_at=resume.at if lifts and resume is not None else None,
                                                   time_zone=speaker.time_zone, open_steps=open_steps,
                                                   item=_item_of(spec, target)))
        return await self._perform(spec, case, speaker, target, reason, open_steps)

    async def _guarded(self, spec: ActionSpec, case: CaseRecord, speaker: Speaker, target: Target) -> Outcome | None:
        """The action's guard (`ActionSpec.guard`, e.g. the tenant's last Global Administrator): a refusal shown on
        the card and audited (`<verb>.refused`, no tenant write), or None to go on."""
        if spec.guard is None:
            return None
        code = await spec.guard(self._tenant, target)
        if code is None:
            return None
        log.info("%s on case %s refused by its guard: %s", spec.verb.value, case.id, code)
        await self._store.audit.record(actor=await self._actor(speaker), action=f"{spec.verb.value}.refused",
                                       target=target.upn, outcome="failed", tenant_id=case.tenant_id,
                                       case_id=case.id, parameters={"account_id": target.account_id, "refused": code},
                                       error=f"refused: {code}")
        return Outcome.show(case, [Notice(f"notice.refused.{code}", tone="attention")])

    async def act_as_system(self, verb: Verb, case: CaseRecord, actor: Actor, *,
                            parameters: Mapping[str, Any]) -> Outcome:
        """The bot's own press (automatic containment, `core.containment`): the same guard, claim, audit
        (`started` with `parameters` added, then the outcome), one tenant call and recorded step as a person's
        press, under `actor` (a `system:` id). No policy role and no confirmation card: whether the system may act
        is its own setting's decision. A step already done makes no call."""
        spec = ACTIONS[verb]
        investigation = investigation_of(case)
        target = _target(spec, case, investigation, {}) if investigation is not None else None
        if target is None:
            return Outcome.say("remediation.refused.no_snapshot", case=case)
        if step_key(spec.step, target.item_id) in current_steps(case):
            return Outcome.show(case)
        speaker = Speaker(aad_object_id=actor.id, name=actor.name, tenant_id=case.tenant_id,
                          user_principal_name=actor.upn)
        refused = await self._guarded(spec, case, speaker, target)
        if refused is not None:
            return refused
        return await self._perform(spec, case, speaker, target, None, extra=parameters)

    async def _perform(self, spec: ActionSpec, case: CaseRecord, speaker: Speaker, target: Target,
                       reason: policy.Reason | None, open_steps: Sequence[Step] = (), *,
                       extra: Mapping[str, Any] | None = None) -> Outcome:
        locale = speaker.locale
        claim_target = target.item_id or target.account_id
        correlation_id = uuid.uuid4().hex
        try:
            claim = await self._store.claims.try_claim(case.id, spec.step, claim_target, speaker.aad_object_id,
                                                       correlation_id=correlation_id)
        except StoreUnavailable as exc:
            log.warning("%s on case %s not done: the claim could not be written (%s)", spec.verb.value, case.id,
                        exc.reason)
            return Outcome.say("remediation.store.not_recorded", case=case)
        if not claim.claimed:
            return await self._lost(spec, case, speaker, claim_target)
        actor = await self._actor(speaker)
        parameters: dict[str, Any] = {"account_id": target.account_id}
        if spec.verb == Verb.UNBLOCK:
            parameters["address"] = target.address
        if target.item_id and spec.item is not None:
            parameters.update({spec.item.id_key: target.item_id, spec.item.name_key: target.item_name})
        if target.item_details and spec.removal:
            # What is removed, as the case recorded it (a rule's conditions and actions): the record outlives it.
            parameters["item_details"] = [list(row) for row in target.item_details]
        if reason is not None:
            # As typed and as seen: NUL is the one character no store keeps (PostgreSQL's JSON refuses it).
            parameters.update(override=True, override_reason=reason.visible,
                              override_reason_typed=reason.typed.replace("\x00", "\ufffd"), verdict=case.verdict,
                              open_steps=policy.open_step_keys(open_steps))
        if spec.acknowledge:
            parameters["acknowledged"] = True  # a person's "Done, I checked": Microsoft 365 was not asked
        parameters.update(extra or {})
        try:
            await self._store.audit.start(actor=actor, action=spec.verb.value, target=target.upn,
                                          tenant_id=case.tenant_id, case_id=case.id, parameters=parameters,
                                          correlation_id=correlation_id)
        except BaseException as exc:
            try:
                await self._store.claims.release(case.id, spec.step, claim_target, claimed_by=speaker.aad_object_id)
            except StoreUnavailable:
                # The reconciler releases a claim without a `started` row (no call was made).
                log.warning("claim of %s on case %s left for the reconciler", spec.verb.value, case.id)
            if isinstance(exc, StoreUnavailable):
                log.warning("%s on case %s not done: the audit row could not be written (%s)", spec.verb.value,
                            case.id, exc.reason)
                return Outcome.say("remediation.store.not_recorded", case=case)
            raise
        log.info("%s on case %s by %s (correlation %s)", spec.verb.value, case.id, speaker.aad_object_id,
                 correlation_id)
        failure: Failure | None = None
        failure_exc: BaseException | None = None
        error = ""
        gone = False
        try:
            await spec.run(self._tenant, target)
        except M365Error as exc:
            if spec.removal and isinstance(exc, NotFound):
                # Already gone (removed in a portal, by another tool, or by this press's lost twin): the wanted
                # state. Recorded as done; no second call.
                gone = True
                log.info("%s on case %s: already removed (%s)", spec.verb.value, case.id, exc.message)
            else:
                failure, failure_exc = failure_of(exc, locale), exc
                log.warning("%s on case %s failed: %s (%s)", spec.verb.value, case.id, type(exc).__name__,
                            failure.code)
                error = f"{type(exc).__name__}: {exc.message}"
        except Exception as exc:  # noqa: BLE001 - audited and answered on the card; the traceback goes to the log
            failure, failure_exc = failure_of(exc, locale), exc
            log.exception("%s on case %s failed unexpectedly", spec.verb.value, case.id)
            error = type(exc).__name__
        try:
            return await self._record(spec, case, speaker, target, correlation_id, failure, failure_exc, error, actor,
                                      gone=gone)
        except StoreUnavailable as exc:
            # The call was made; its `started` row and `in_progress` claim let the reconciler settle it later.
            log.warning("%s on case %s: the outcome could not be recorded (%s); left for the reconciler",
                        spec.verb.value, case.id, exc.reason)
            return Outcome.say("remediation.store.outcome_not_recorded", case=case, action=_action(spec, locale))

    async def _record(self, spec: ActionSpec, case: CaseRecord, speaker: Speaker, target: Target,
                      correlation_id: str, failure: Failure | None, failure_exc: BaseException | None, error: str,
                      actor: Actor, *, gone: bool = False) -> Outcome:
        """After the tenant call: the audit outcome, the step, the claim, and the card that says so. `gone`: a
        removal found its item already gone (`ActionSpec.removal`): done, said as "already removed"."""
        locale = speaker.locale
        claim_target = target.item_id or target.account_id
        unconfirmed = failure is not None and _unconfirmed(failure_exc)
        if unconfirmed and spec.verb == Verb.UNBLOCK and await self._off_the_list(target.address):
            # The request timed out but the address is gone: Microsoft 365 did carry it out.
            log.info("unblock on case %s timed out but the address is off the list: succeeded", case.id)
            failure = None
        if failure is not None:
            if unconfirmed:
                # A write Microsoft 365 may have carried out (timeout, gateway error): neither done nor failed.
                failure = Failure("unconfirmed", "notice.failed.unconfirmed")
            await self._finish_audit(correlation_id, "unknown" if unconfirmed else "failed", error,
                                     result={"error": failure.code})
            await self._store.claims.release(case.id, spec.step, claim_target, claimed_by=speaker.aad_object_id)
            fresh = await self._store.cases.get_case(case.id) or case
            notice = Notice(failure.key, {"action": _action(spec, locale), **failure.params}, tone="attention",
                            support_link=failure.code == "unblock_limit",
                            anchor=step_key(spec.offered_by, target.item_id))
            # The failure shows in the latest actions of every copy too.
            return Outcome.show(fresh, [notice], copies=True)
        await self._finish_audit(correlation_id, "succeeded", result={"already_removed": True} if gone else None)
        details: dict[str, Any] = {"correlation_id": correlation_id}
        if target.item_id and target.item_name:
            # The item's name as it was: a removed method or grant is gone from the next investigation.
            details["item"] = target.item_name
        if spec.verb == Verb.UNBLOCK:
            details["address"] = target.address
        updated = await self._store.cases.record_step(case.id, step_key(spec.step, target.item_id), actor,
                                                      details=details)
        if spec.verb == Verb.UNBLOCK:
            updated = await self._store.cases.set_status(case.id, "unblock_pending")
            self._checker.wake()
        if spec.undoes is not None:
            # The reversed step may be done again later (block, allow, block …).
            await self._store.claims.release(case.id, spec.undoes, claim_target, even_if_done=True)
        await self._store.claims.complete(case.id, spec.step, claim_target, claimed_by=speaker.aad_object_id)
        fresh = updated or await self._store.cases.get_case(case.id) or case
        notices = [] if spec.verb == Verb.UNBLOCK else [Notice(
            "notice.already_removed" if gone else "notice.done", {"action": _action(spec, locale)}, tone="good",
            anchor=step_key(spec.offered_by, target.item_id))]
        return Outcome.show(fresh, notices, copies=True)

    async def _off_the_list(self, address: str | None) -> bool:
        """True only when Microsoft 365 says `address` is no longer restricted (a failed read says nothing)."""
        if not address:
            return False
        try:
            return await self._tenant.get_blocked_sender(address) is None
        except M365Error as exc:
            log.info("could not read the restriction back (%s)", type(exc).__name__)
            return False

    async def _finish_audit(self, correlation_id: str, outcome: str, error: str | None = None,
                            result: Mapping[str, Any] | None = None) -> None:
        """Write the action's outcome. A reconciler (remediation/reconcile.py) that took this press for one a
        crash interrupted may have written one already: the log keeps the first, and the press goes on (the
        steps after it are idempotent)."""
        try:
            await self._store.audit.finish(correlation_id, outcome, error, result=result)
        except AuditError:
            log.warning("audit %s already had an outcome (reconciled while running); %s not written",
                        correlation_id, outcome)

    async def _lost(self, spec: ActionSpec, case: CaseRecord, speaker: Speaker,
                    claim_target: str) -> Outcome:
        """Someone else holds the claim: wait a little for their outcome, then show it."""
        locale, zone = speaker.locale, speaker.time_zone
        deadline = time.monotonic() + self._config.claim_wait_seconds
        claim = await self._store.claims.get(case.id, spec.step, claim_target)
        while claim is not None and claim.status == "in_progress" and time.monotonic() < deadline:
            await asyncio.sleep(self._config.claim_poll_seconds)
            claim = await self._store.claims.get(case.id, spec.step, claim_target)
        fresh = await self._store.cases.get_case(case.id) or case
        if claim is None:
            return Outcome.show(fresh, [Notice("notice.other_failed", tone="warning")])
        if claim.status == "in_progress":
            return Outcome.show(fresh, [Notice("notice.in_progress", tone="warning")])
        record = current_steps(fresh).get(step_key(spec.step, claim_target if spec.per_item else None))
        if record is None:
            return Outcome.show(fresh)
        when = format_datetime(record.at, locale, zone)
        if spec.verb == Verb.UNBLOCK:
            notice = Notice("notice.already_unblocked", {"actor": record.by, "time": when})
        else:
            notice = Notice("notice.already_done", {"action": _action(spec, locale), "actor": record.by, "time": when})
        return Outcome.show(fresh, [notice])

    async def _refresh(self, case: CaseRecord, speaker: Speaker, conversation: Pressed | None) -> Outcome:
        """Investigate the account again; the card (here and everywhere) shows the new findings. Slower than the
        budget, the press is answered with "still investigating" and the new card reaches every copy later."""
        outcome = await self._reinvestigate(case, speaker, conversation)
        if isinstance(outcome, str):
            return Outcome.say(outcome, case=case)
        return Outcome.show(outcome, copies=True)

    async def in_time(self, work: Coroutine[Any, Any, T], *, late: Callable[[T], Awaitable[None]],
                      within: float | None = None) -> T | None:
        """`work`'s result if it ends within `refresh_answer_seconds` (the press budget; `within` when what is
        left of it is less); otherwise None, and `work` goes on in the background and hands its result to `late`
        (which updates cards proactively). Teams waits only seconds for the answer to a button press; throttled
        or slow Microsoft 365 calls can take longer. Every press path answers by this one rule. Background work
        is cancelled by `close()`."""
        budget = self._config.refresh_answer_seconds if within is None else max(min(
            within, self._config.refresh_answer_seconds), 0.0)
        task = asyncio.create_task(work)
        try:
            return await asyncio.wait_for(asyncio.shield(task), budget)
        except TimeoutError:
            if task.done() and not task.cancelled() and task.exception() is None:
                return task.result()  # finished just as the time ran out

        async def finish() -> None:
            try:
                result = await task
                await late(result)
            except asyncio.CancelledError:
                task.cancel()
                raise
            except Exception:  # noqa: BLE001 - the press was answered; only the log can say what went wrong
                log.error("background work after a button press failed", exc_info=True)

        follower = asyncio.create_task(finish())
        self._background.add(follower)
        follower.add_done_callback(self._background.discard)
        return None

    async def _reinvestigate(self, case: CaseRecord, speaker: Speaker,
                             conversation: Pressed | None) -> CaseRecord | str:
        """The refreshed case, or the catalog key of why there is none."""
        try:
            user = await self._tenant.get_user(case.account_id)
            if user is None:
                return "remediation.refresh.account_gone"
            investigation = await self._investigator.investigate(user)
        except M365Error as exc:
            log.warning("refresh of case %s failed: %s", case.id, type(exc).__name__)
            return "remediation.refresh.failed"
        # A case resolved by the restore stays the account's record while the account stays unrestricted: the
        # refresh updates its findings and keeps its steps (who, when) and latest actions. Restricted again is a
        # new incident: a new case.
        keep = case if case.status == "resolved" and investigation.evidence.restricted is not True else None
        fresh = await self._recorder.record(investigation, speaker, case=keep)
        if fresh.id != case.id and conversation is not None:
            # The old case was resolved or closed, so the account has a new case: the pressed card (every copy in
            # this chat if the client did not say which) now shows that one.
            for ref in await self._store.cases.list_cards(case.id):
                if ref.conversation_id == conversation.conversation_id and conversation.activity_id in (
                        None, ref.activity_id):
                    await self._store.cases.save_card(fresh.id, ref.conversation_id, ref.activity_id,
                                                      ref.conversation_reference)
                    await self._store.cases.remove_card(case.id, ref.conversation_id, ref.activity_id)
        return fresh

    async def close(self) -> None:
        """Stop work still running in the background after a press was answered (at shutdown)."""
        await cancel_and_wait(list(self._background))

    async def _actor(self, speaker: Speaker) -> Actor:
        """The audit's actor: Teams gives the object id and name; the UPN is looked up once per person."""
        upn = speaker.user_principal_name or self._upns.get(speaker.aad_object_id, "")
        if not upn and speaker.aad_object_id and not speaker.aad_object_id.startswith(SYSTEM_ID_PREFIX):
            try:
                user = await self._tenant.get_user(speaker.aad_object_id)
            except M365Error as exc:
                log.info("could not look up the UPN of %s (%s)", speaker.aad_object_id, type(exc).__name__)
                user = None
            if user is not None:
                upn = user.user_principal_name
                self._upns[speaker.aad_object_id] = upn
                while len(self._upns) > _ACTOR_CACHE:
                    self._upns.popitem(last=False)
        return Actor(id=speaker.aad_object_id, name=speaker.name, upn=upn)


def _action(spec: ActionSpec, locale: str | None) -> str:
    return t(locale, f"remediation.action.{spec.verb.value}")


# Gateway answers: the request may have reached Exchange or Graph and been carried out behind them.
_UNCONFIRMED_STATUSES = frozenset({502, 504})


def _unconfirmed(exc: BaseException | None) -> bool:
    """True for a failure after which a write may still have happened: a timeout or a gateway error."""
    return isinstance(exc, UpstreamTimeout) or (isinstance(exc, M365Error) and exc.status in _UNCONFIRMED_STATUSES)


@dataclass(frozen=True)
class Pressed:
    """Where a press came from: the conversation and the card's message (Teams' `replyToId`, when sent)."""

    conversation_id: str
    activity_id: str | None


def _list_page(data: Mapping[str, Any]) -> int | None:
    """The triage page a case was opened from (`cards.triage.row_actions`), or None (not from the list)."""
    page = data.get("page")
    if isinstance(page, str) and page.isascii() and page.isdigit() and len(page) <= 4:
        return int(page)
    return None


def _origin(press: Press) -> Pressed | None:
    conversation = press.conversation_id
    if conversation is None:
        return None
    return Pressed(conversation, press.reply_to or None)


def _item_of(spec: ActionSpec, target: Target) -> ConfirmItem | None:
    """A per-item action's item for its confirmation card: the id its Confirm carries, the name it shows, and what
    it is (`Target.item_details`: an inbox rule's conditions and actions)."""
    if spec.item is None or not target.item_id:
        return None
    return ConfirmItem(spec.item.id_key, target.item_id, spec.item.name_key, target.item_name,
                       rows=target.item_details, is_rule=spec.offered_by == Verb.DISABLE_RULE.value)


def _item_details(spec: ActionSpec, investigation: Investigation, item_id: str) -> tuple[tuple[str, str], ...]:
    """What the item is, from the investigation stored on the case: an inbox rule's conditions and actions (for its
    confirmation and the audit, which keeps them after the rule is deleted); () for other items."""
    if spec.offered_by != Verb.DISABLE_RULE.value:
        return ()
    evidence = investigation.evidence
    rule = next((r for r in evidence.inbox_rules or () if r.item_id == item_id), None)
    return rule_rows(rule, evidence) if rule is not None else ()


def _target(spec: ActionSpec, case: CaseRecord, investigation: Investigation,
            data: Mapping[str, Any]) -> Target | None:
    """What to act on, from the case alone; a per-item action's item must be one the case recorded."""
    user = investigation.evidence.user
    upn = case.account_upn or user.user_principal_name
    restriction = investigation.evidence.restriction
    address = (restriction.sender_address if restriction is not None and restriction.sender_address
               else user.mail or upn)
    if spec.item is None:
        return Target(case.account_id, upn, address)
    item_id = data.get(spec.item.id_key)
    if not isinstance(item_id, str) or not item_id or len(item_id) > _MAX_ID_LENGTH:
        return None
    for step in investigation.assessment.recommended_steps:
        if step.code == spec.offered_by and step.target_id == item_id:
            return Target(case.account_id, upn, address, item_id, step.params.get(spec.item.name_key, ""),
                          _item_details(spec, investigation, item_id), item_params=dict(step.params))
    return None

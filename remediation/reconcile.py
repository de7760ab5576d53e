"""The reconciler: finishes remediation actions a crash interrupted, by asking Microsoft 365 what happened.

A press writes the audit `started` row and holds an `in_progress` claim (`store.claims`) while its one tenant
call runs (`core.presses`). If the process dies in between, the audit shows `started` with no outcome
and the claim stays `in_progress`, so nobody can press that button again. The reconciler runs at start-up
and then every `interval_seconds`, on every instance, and looks only at what is older than `grace_seconds`
(far longer than any tenant call may take, so a press still running elsewhere is never judged):

1. Each `started` audit row of a remediation verb without an outcome: read the state back from the tenant
   (the action's `ActionSpec.read_back` in `remediation.actions`) and append the outcome row with the same
   correlation id (`succeeded`, `failed`, or `unknown` where the result cannot be read back), the reason
   saying it was reconciled after a restart:

   - unblock: `Get-BlockedSenderAddress`. Off the list: succeeded. Still listed: unknown (Microsoft 365 can
     take up to 24 hours to lift a removal, so a listed address proves nothing either way);
   - block / allow sign-in: the account's `accountEnabled`; disable rule: the rule's `isEnabled` (rule gone:
     unknown); remove forwarding: `Get-Mailbox`'s forwarding fields; confirm compromised / dismiss risk:
     Identity Protection's `riskState`. As the action sets it: succeeded, else failed;
   - revoke sessions and the password change: nothing the bot can read back, so unknown.

2. Each `in_progress` claim: settled from its audit rows (its correlation id). No `started` row: the process
   died before the audit, so no call was made and the claim is released. `succeeded`: the step is recorded
   on the case (by the admin who pressed), an unblock moves the case to `unblock_pending` and wakes the
   unblock checker, and the claim is completed. `failed` or `unknown`: the claim is released, so an admin
   can decide to try again. Every posted copy of the case's card is redrawn.

Several instances may reconcile at once: the audit log's unique index lets exactly one outcome row in (the
others get `AuditError` and leave the row alone), and settling a claim is idempotent. A tenant that cannot
be read leaves everything for the next round.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from cards.findings import step_key
from cards.verbs import Verb
from domain.tasks import cancel_and_wait
from m365.errors import M365Error
from m365.protocol import Tenant
from remediation.actions import ActionSpec, ReadBack, Target, spec_of
from remediation.views import CaseView
from store import Actor, AuditEntry, CaseRecord, Store, StoreUnavailable
from store.audit_log import AuditError
from store.outage import Backoff, OutageLog
from store.records import ActionClaimRecord

log = logging.getLogger(__name__)

REASON = "reconciled after restart"
# `ReadBack` moved to `remediation.actions` with the read-backs; re-exported for readers of this module.
__all__ = ["REASON", "ReadBack", "Reconciled", "Reconciler", "ReconcilerConfig"]


@dataclass(frozen=True)
class ReconcilerConfig:
    """When an unfinished action counts as interrupted (`grace_seconds`) and how often to look (seconds)."""

    grace_seconds: float = 600.0
    interval_seconds: float = 300.0


@dataclass(frozen=True)
class Reconciled:
    """One thing a round settled: an audit outcome written, or a claim completed or released."""

    kind: str  # "audit" or "claim"
    correlation_id: str | None
    case_id: str
    action: str
    outcome: str  # audit: succeeded / failed / unknown; claim: completed / released


class Reconciler:
    """Finishes interrupted remediation actions; see the module docstring."""

    def __init__(self, *, tenant: Tenant, store: Store, view: CaseView, on_unblock_pending: Callable[[], None],
                 config: ReconcilerConfig | None = None) -> None:
        self._tenant = tenant
        self._store = store
        self._view = view
        self._config = config or ReconcilerConfig()
        self._on_unblock_pending = on_unblock_pending
        self._task: asyncio.Task[None] | None = None
        # While the store is down a round is retried sooner than `interval_seconds` (an interrupted action waits
        # on it), backing off from 1 s; the outage is logged once.
        self._retry = Backoff(1.0, 30.0)
        self._outage = OutageLog(log, "reconciler")

    # ------------------------------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Run a round now and then every `interval_seconds`, in the background (once)."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="remediation-reconciler")

    async def stop(self) -> None:
        """Cancel the loop and wait for it."""
        task, self._task = self._task, None
        await cancel_and_wait([task])

    async def _loop(self) -> None:
        while True:
            delay = self._config.interval_seconds
            try:
                done = await self.run_once()
            except StoreUnavailable as exc:  # an outage, not a bug: no traceback, one WARNING per outage
                self._outage.failed(exc, then="reconciler rounds back off and retry")
                delay = min(self._retry.next(), delay)
            except Exception:  # noqa: BLE001 - a store or network hiccup: the next round tries again
                log.exception("reconciler round failed; retrying in %.0f s", self._config.interval_seconds)
            else:
                self._outage.succeeded()
                self._retry.reset()
                if done:
                    log.info("reconciler: settled %d interrupted action record(s)", len(done))
            await asyncio.sleep(delay)

    # ------------------------------------------------------------------------------------------ one round

    async def run_once(self) -> list[Reconciled]:
        """One round: write the outcome of interrupted actions, then settle their claims."""
        grace = timedelta(seconds=self._config.grace_seconds)
        tenant_id = self._tenant.tenant_id.lower()
        done: list[Reconciled] = []
        for entry in await self._store.audit.unfinished(older_than=grace):
            spec = spec_of(entry.action)
            if spec is None or not entry.case_id or (entry.tenant_id or "").lower() != tenant_id:
                continue  # not a remediation press of this tenant (another bot may share the database)
            outcome = await self._finish(entry, spec)
            if outcome is not None:
                done.append(Reconciled("audit", entry.correlation_id, entry.case_id, entry.action, outcome))
        for claim in await self._store.claims.list(status="in_progress", older_than=grace):
            settled = await self._settle(claim)
            if settled is not None:
                done.append(settled)
        return done

    async def _finish(self, entry: AuditEntry, spec: ActionSpec) -> str | None:
        """Read the action's result back and write the outcome row; None when it must wait for a later round."""
        try:
            read = await self.read_back(spec, _target(entry, spec))
        except M365Error as exc:
            log.warning("reconciler: could not read back %s of case %s (%s); next round", entry.action,
                        entry.case_id, type(exc).__name__)
            return None
        error = None if read.outcome == "succeeded" else f"{REASON}: {read.reason}"
        try:
            await self._store.audit.finish(entry.correlation_id, read.outcome, error,
                                           result={"reconciled": REASON, "evidence": read.reason})
        except AuditError:
            return None  # another instance wrote the outcome first
        log.warning("reconciler: %s on case %s (correlation %s) interrupted; recorded %s", entry.action,
                    entry.case_id, entry.correlation_id, read.outcome)
        return read.outcome

    async def read_back(self, spec: ActionSpec, target: Target) -> ReadBack:
        """What Microsoft 365 shows now about the action's effect on `target` (see the module docstring)."""
        return await spec.read_back(self._tenant, target)

    async def _settle(self, claim: ActionClaimRecord) -> Reconciled | None:
        """Complete or release a claim left `in_progress`, from its audit rows; None when still undecided."""
        spec = spec_of(claim.action)
        rows = await self._store.audit.list(correlation_id=claim.correlation_id) if claim.correlation_id else []
        started = next((r for r in rows if r.outcome == "started"), None)
        finished = next((r for r in rows if r.outcome != "started"), None)
        if spec is None or started is None:
            # Died between the claim and the audit's `started` row: nothing was sent to Microsoft 365.
            await self._store.claims.release(claim.case_id, claim.action, claim.target, claimed_by=claim.claimed_by)
            log.warning("reconciler: released claim %s on case %s (no action was started)", claim.action,
                        claim.case_id)
            return Reconciled("claim", claim.correlation_id, claim.case_id, claim.action, "released")
        if finished is None:
            return None  # the outcome is still unknown: the tenant could not be read this round
        case = await self._store.cases.get_case(claim.case_id)
        if finished.outcome == "succeeded":
            if case is not None:
                case = await self._record(case, spec, claim, started)
            if spec.undoes is not None:
                await self._store.claims.release(claim.case_id, spec.undoes, claim.target, even_if_done=True)
            await self._store.claims.complete(claim.case_id, claim.action, claim.target)
            settled = "completed"
        else:
            await self._store.claims.release(claim.case_id, claim.action, claim.target)
            settled = "released"
        if case is not None:
            await self._view.update_copies(case)
        return Reconciled("claim", claim.correlation_id, claim.case_id, claim.action, settled)

    async def _record(self, case: CaseRecord, spec: ActionSpec, claim: ActionClaimRecord,
                      started: AuditEntry) -> CaseRecord:
        """The step on the case, as the press would have recorded it; an unblock makes the case pending."""
        key = step_key(spec.step, claim.target if spec.per_item else None)
        if key not in case.steps:
            details: dict[str, object] = {"correlation_id": started.correlation_id, "reconciled": True}
            if spec.verb == Verb.UNBLOCK:
                details["address"] = _target(started).address
            actor = Actor(id=started.actor_id or "", name=started.actor_name or "", upn=started.actor_upn or "")
            case = await self._store.cases.record_step(case.id, key, actor, at=started.at, details=details) or case
        if spec.verb == Verb.UNBLOCK and case.status == "open":
            case = await self._store.cases.set_status(case.id, "unblock_pending") or case
            self._on_unblock_pending()
        return case


def _target(entry: AuditEntry, spec: ActionSpec | None = None) -> Target:
    """The action's target as the press audited it (`core.presses` writes these parameters)."""
    params = entry.parameters
    account_id = params.get("account_id")
    address = params.get("address")
    item_id = params.get(spec.item.id_key) if spec is not None and spec.item is not None else None
    upn = entry.target or ""
    return Target(
        account_id=account_id if isinstance(account_id, str) else "",
        upn=upn,
        address=address if isinstance(address, str) and address else upn,
        item_id=item_id if isinstance(item_id, str) and item_id else None,
        item_name=str(params.get(spec.item.name_key) or "") if spec is not None and spec.item is not None else "",
    )

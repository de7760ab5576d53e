"""Automatic containment (`AUTO_CONTAIN`, off by default): the restriction watch contains an account at once.

When the watch's investigation of a newly restricted account says `compromised`, at 3 a.m. nobody reads the alert
for hours while the intruder keeps the session. With the setting on, `AutoContainment.contain` revokes the account's
sessions and blocks its sign-in, each through the press machinery a person's button uses
(`core.presses.Presses.act_as_system`: claim, audit `started` → one tenant call → outcome, step recorded on the case)
under the actor "automatic containment" (`CONTAINMENT_ACTOR`), with the verdict's deciding evidence in the audit
parameters. The alert card says so (`notice.contained`, drawn from the store by `remediation.views`) and keeps the
"Allow sign-in again" button of the recorded block.

Never:
- for an account whose block would leave the tenant without an enabled Global Administrator
  (`remediation.guards.locks_out_tenant`; audited as `auto_contain.refused`, the card says why);
- for more than `max_per_hour` accounts in the last hour: counted from the audit rows of `CONTAINMENT_ACTOR` in the
  store, so the bound holds across restarts and instances. Past it the account is left alone, an
  `auto_contain.paused` row is written and the card says "automatic containment paused: N accounts in the last
  hour" — an outbreak of false positives must not lock the whole company out.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from cards.findings import step_key
from cards.verbs import Verb
from core.presses import Presses
from investigation.collect import Investigation
from investigation.verdict import Verdict
from m365.protocol import Tenant
from remediation.guards import locks_out_tenant
from remediation.views import ACTION_CONTAIN_PAUSED, ACTION_CONTAIN_REFUSED, CONTAINMENT_ACTOR_ID, current_steps
from store import Actor, CaseRecord, Store

log = logging.getLogger(__name__)

# Its name in the audit log; cards show it in the reader's language (`remediation.views`, which reads these rows).
CONTAINMENT_ACTOR = Actor(id=CONTAINMENT_ACTOR_ID, name="automatic containment")
ACTION_PAUSED = ACTION_CONTAIN_PAUSED
ACTION_REFUSED = ACTION_CONTAIN_REFUSED
# What containing is, in Microsoft's order ("Responding to a compromised email account"): end the sessions the
# intruder holds, then keep them from signing in again.
CONTAIN_VERBS: tuple[Verb, ...] = (Verb.REVOKE_SESSIONS, Verb.BLOCK_SIGN_IN)
WINDOW = timedelta(hours=1)


class AutoContainment:
    """Contains compromised accounts the watch found (see the module docstring); built once, only when the
    setting is on."""

    def __init__(self, *, presses: Presses, store: Store, tenant: Tenant, max_per_hour: int) -> None:
        if max_per_hour < 1:
            raise ValueError("automatic containment needs a bound of at least one account an hour")
        self._presses = presses
        self._store = store
        self._tenant = tenant
        self._max = max_per_hour

    async def contain(self, case: CaseRecord, investigation: Investigation) -> CaseRecord:
        """Contain the case's account when its verdict is compromised and the bound and the guard allow it; the
        case as it is afterwards (its steps and audit rows say what was done)."""
        if investigation.assessment.verdict != Verdict.compromised:
            return case
        if all(_done(case, verb) for verb in CONTAIN_VERBS):
            return case
        evidence = _deciding(investigation)
        contained = await self.contained_last_hour()
        if contained >= self._max:
            log.warning("automatic containment paused: %d accounts in the last hour (bound %d); case %s only alerted",
                        contained, self._max, case.id)
            await self._store.audit.record(actor=CONTAINMENT_ACTOR, action=ACTION_PAUSED, target=case.account_upn,
                                           outcome="failed", tenant_id=case.tenant_id, case_id=case.id,
                                           parameters={"count": contained, "limit": self._max, **evidence},
                                           error="the hourly bound of automatic containment was reached")
            return case
        if await locks_out_tenant(self._tenant, case.account_id, removing_role=None):
            log.warning("automatic containment skipped case %s: the account is the last Global Administrator",
                        case.id)
            await self._store.audit.record(actor=CONTAINMENT_ACTOR, action=ACTION_REFUSED, target=case.account_upn,
                                           outcome="failed", tenant_id=case.tenant_id, case_id=case.id,
                                           parameters={"refused": "last_global_admin", **evidence},
                                           error="refused: last_global_admin")
            return case
        current = case
        for verb in CONTAIN_VERBS:
            outcome = await self._presses.act_as_system(verb, current, CONTAINMENT_ACTOR,
                                                        parameters={"automatic": True, **evidence})
            current = outcome.case or await self._store.cases.get_case(case.id) or current
            if not _done(current, verb):
                # Failed (audited with Microsoft's error): a block without revoked sessions, or the other way
                # round, is left for a person; the card says containment did not finish.
                log.warning("automatic containment of case %s stopped at %s", case.id, verb.value)
                break
        log.info("automatic containment of case %s: %s", case.id,
                 ", ".join(v.value for v in CONTAIN_VERBS if _done(current, v)) or "nothing done")
        return current

    async def contained_last_hour(self) -> int:
        """How many accounts automatic containment acted on in the last hour (its `started` rows, per account)."""
        since = self._store.db.clock() - WINDOW
        rows = await self._store.audit.list(since=since, actor_id=CONTAINMENT_ACTOR.id)
        return len({row.target for row in rows if row.outcome == "started" and row.action in _VERB_VALUES})


_VERB_VALUES = frozenset(verb.value for verb in CONTAIN_VERBS)


def _done(case: CaseRecord, verb: Verb) -> bool:
    """Whether the case records the verb's (account-wide) step as done and not undone."""
    return step_key(verb.value, None) in current_steps(case)


def _deciding(investigation: Investigation) -> Mapping[str, Any]:
    """The verdict and the evidence that decided it, for the audit parameters (why the bot acted on its own)."""
    assessment = investigation.assessment
    out: dict[str, Any] = {"verdict": assessment.verdict.value, "reason": assessment.reason_code}
    deciding = assessment.deciding
    if deciding is not None:
        out["deciding_rule"] = deciding.rule.value
        out["deciding_codes"] = list(deciding.codes)
    return out

"""Who may do what to which account: the one place the bot's remediation rules live.

The table (`decide`):

| verb | user | IT staff | security admin | admin on own account | other tenant |
|---|---|---|---|---|---|
| `refresh`, `show_case`, `send_note` | no | yes | yes | yes (reads only) | no |
| every remediation verb (`ACTION_VERBS`) | no | no | yes | no | no |

A remediation verb needs its `ActionSpec.role` (security admin for every action today). Security admins are
the configured group or the Entra roles Security Administrator, Exchange Administrator and Global
Administrator (`teams.identity`, cached at most five minutes). Further rules, checked after the role:

* **The gate** (`unblock_gate`): a case judged `compromised` may be unblocked only after the actions marked
  `gate` (the password change and the session revocation) were done through the bot, or with an override:
  `override == "1"` in the button data plus a non-empty typed reason (`overrideReason`), which the audit keeps.
* **Confirmation** (`needs_confirmation`): the actions marked `confirm` (unblock, block sign-in and the password
  change) first answer with a confirmation card; only a press carrying `confirm == "1"` acts.
* `dismiss_risk` is refused on an account judged compromised: dismissing the risk of a compromised user
  would hide it from Identity Protection's reports.

Everything here is a pure function of the speaker, the verb and the stored case; the button data is only
read for the ids and flags named above, never for a target. The verbs, the confirmations, the gate and the
role each action needs are read from `remediation.actions.ACTIONS`, never listed here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cards.verbs import Verb
from domain.people import Role, Speaker
from remediation.actions import ACTIONS
from store.records import CaseRecord

# Verbs that change something in Microsoft 365: one per `ActionSpec`.
ACTION_VERBS: frozenset[Verb] = frozenset(ACTIONS)
# Verbs that only read (the case, or Microsoft 365 again) or talk to the user: IT staff may use them.
STAFF_VERBS: frozenset[Verb] = frozenset({Verb.REFRESH, Verb.SHOW_CASE, Verb.SEND_NOTE})
# Actions that are hard to undo or lock a person out: they ask "are you sure?" first.
DESTRUCTIVE_VERBS: frozenset[Verb] = frozenset(verb for verb, spec in ACTIONS.items() if spec.confirm)
# What must be done (as step codes, in `ACTIONS` order) before a compromised account may be unblocked without
# an override.
GATE_STEPS: tuple[str, ...] = tuple(spec.step for spec in ACTIONS.values() if spec.gate)
COMPROMISED = "compromised"
OVERRIDE_REASON_MAX = 500


@dataclass(frozen=True)
class Decision:
    """The answer to "may this speaker press this verb on this case?"; `reason` is a message key when not."""

    allowed: bool
    reason: str | None = None

    @classmethod
    def allow(cls) -> Decision:
        """Allowed."""
        return cls(True)

    @classmethod
    def refuse(cls, reason: str) -> Decision:
        """Refused, with the message key that says why."""
        return cls(False, reason)


def is_own_account(speaker: Speaker, account_id: str) -> bool:
    """True when the speaker is the account's owner (Entra object ids compare case-insensitively)."""
    return bool(speaker.aad_object_id) and speaker.aad_object_id.lower() == account_id.lower()


def can_act(role: Role, speaker_id: str, account_id: str) -> bool:
    """Security admins may act on accounts other than their own (what the card's buttons follow)."""
    return role >= Role.SECURITY_ADMIN and bool(speaker_id) and speaker_id.lower() != account_id.lower()


def speaker_can_act(speaker: Speaker, account_id: str) -> bool:
    """`can_act` for a speaker."""
    return can_act(speaker.role, speaker.aad_object_id, account_id)


def decide(speaker: Speaker, verb: Verb, case: CaseRecord) -> Decision:
    """May `speaker` press `verb` on `case`? Refusal keys live in `locales/*_remediation.py`."""
    if not speaker.tenant_id or speaker.tenant_id.lower() != case.tenant_id.lower():
        return Decision.refuse("remediation.refused.other_tenant")
    if verb in STAFF_VERBS:
        if speaker.role < Role.IT_STAFF:
            return Decision.refuse("remediation.refused.staff_only")
        return Decision.allow()
    spec = ACTIONS.get(verb)
    if spec is None:
        return Decision.refuse("remediation.refused.unknown_verb")
    if speaker.role < spec.role:
        key = "remediation.refused.admin_only" if speaker.role >= Role.IT_STAFF else "remediation.refused.user"
        return Decision.refuse(key)
    if is_own_account(speaker, case.account_id):
        return Decision.refuse("remediation.refused.own_account")
    if verb == Verb.DISMISS_RISK and case.verdict == COMPROMISED:
        return Decision.refuse("remediation.refused.dismiss_compromised")
    return Decision.allow()


def needs_confirmation(verb: Verb) -> bool:
    """Destructive actions answer with a confirmation card first."""
    return verb in DESTRUCTIVE_VERBS


def is_confirmed(data: Mapping[str, Any]) -> bool:
    """The press came from the confirmation card's Confirm button."""
    return data.get("confirm") == "1"


def override_requested(data: Mapping[str, Any]) -> bool:
    """The press came from "Unblock anyway" (or its confirmation)."""
    return data.get("override") == "1"


def override_reason(data: Mapping[str, Any]) -> str:
    """The typed override reason (whitespace collapsed, capped), or "" when none was given."""
    raw = data.get("overrideReason")
    if not isinstance(raw, str):
        return ""
    return " ".join(raw.split())[:OVERRIDE_REASON_MAX]


def missing_gate_steps(case: CaseRecord, done: set[str]) -> tuple[str, ...]:
    """The `GATE_STEPS` not yet done on a compromised case (empty when the case is not compromised)."""
    if case.verdict != COMPROMISED:
        return ()
    return tuple(code for code in GATE_STEPS if code not in done)


def unblock_gate(case: CaseRecord, done: set[str]) -> str | None:
    """The gate's reason key when unblocking `case` needs an override, else None. `done`: step codes done."""
    return "gate.password_and_sessions" if missing_gate_steps(case, done) else None

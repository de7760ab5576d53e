"""Who may do what to which account: the one place the bot's remediation rules live.

The table (`decide`):

| verb | user | IT staff | security admin | admin on own account | other tenant |
|---|---|---|---|---|---|
| `refresh`, `show_case`, `send_note`, `export_report` | no | yes | yes | yes (reads only) | no |
| every remediation verb (`ACTION_VERBS`) | no | no | yes | no | no |

A remediation verb needs its `ActionSpec.role` (security admin for every action today). Security admins are
the configured group or the Entra roles Security Administrator, Exchange Administrator and Global
Administrator (`teams.identity`, cached at most five minutes). Further rules, checked after the role:

* **The gate** (`open_required_steps`): an account may be unblocked only after every step its investigation
  marked `required` (`investigation.verdict.Step.required`: the securing steps of a compromised account — the
  password change, the sign-out, forwarding, the high-severity (hidden) rules, the MFA methods and app consents
  to review) was done through the bot or acknowledged ("Done, I checked"), or with an override:
  `override == "1"` in the button data plus a typed reason (`overrideReason`) that carries content: at least
  `OVERRIDE_REASON_MIN_VISIBLE` visible characters once whitespace, control, format (zero-width, bidi) and
  other invisible characters are left out (`visible_reason`). The audit keeps the reason as typed and its
  visible form, so an entry never looks empty, and the steps still open (`open_steps`). The card's "required
  before unblocking" reads the same `Step.required`, so the card and the gate cannot disagree.
* **Acknowledgements** (the actions marked `acknowledge`: review the MFA methods, review the app consents) need
  the security admin role like every action: they lift the gate of an unblock only security admins may do.
* **Confirmation** (`needs_confirmation`): the actions marked `confirm` (unblock, block sign-in and the password
  change) first answer with a confirmation card; only a press carrying `confirm == "1"` acts.
* `dismiss_risk` is refused on an account judged compromised: dismissing the risk of a compromised user
  would hide it from Identity Protection's reports.

Everything here is a pure function of the speaker, the verb and the stored case; the button data is only
read for the ids and flags named above, never for a target. The verbs, the confirmations, the gate and the
role each action needs are read from `remediation.actions.ACTIONS`, never listed here.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cards.findings import step_key
from cards.verbs import Verb
from domain.people import Role, Speaker
from investigation.verdict import Step
from remediation.actions import ACTIONS
from store.records import CaseRecord

# Verbs that change something in Microsoft 365: one per `ActionSpec`.
ACTION_VERBS: frozenset[Verb] = frozenset(ACTIONS)
# Verbs that only read (the case, or Microsoft 365 again) or talk to the user: IT staff may use them.
STAFF_VERBS: frozenset[Verb] = frozenset({Verb.REFRESH, Verb.SHOW_CASE, Verb.SEND_NOTE, Verb.EXPORT_REPORT})
# Actions that are hard to undo or lock a person out: they ask "are you sure?" first.
DESTRUCTIVE_VERBS: frozenset[Verb] = frozenset(verb for verb, spec in ACTIONS.items() if spec.confirm)
# "Done, I checked" for a step done in a Microsoft portal: no tenant call.
ACKNOWLEDGE_VERBS: frozenset[Verb] = frozenset(verb for verb, spec in ACTIONS.items() if spec.acknowledge)
COMPROMISED = "compromised"
OVERRIDE_REASON_MAX = 500
# A reason must say something: "x", "." or a zero-width space is not a reason to unblock a compromised account.
OVERRIDE_REASON_MIN_VISIBLE = 10
# What the audit keeps of the reason as typed (the edge caps the whole activity; this caps one audit row).
OVERRIDE_REASON_TYPED_MAX = 2000
# Letters that draw nothing although Unicode does not class them as format characters: the Hangul fillers,
# the Braille blank, the Mongolian vowel separator and the Khmer inherent vowels.
_INVISIBLE_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800\u180e\u17b4\u17b5")


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
    """The typed override reason's visible form (invisible characters left out, whitespace collapsed, capped),
    or "" when none was given."""
    return override_reason_of(data).visible


def override_reason_of(data: Mapping[str, Any]) -> Reason:
    """The override reason of the button data, as typed (capped at `OVERRIDE_REASON_TYPED_MAX`) and visible."""
    raw = data.get("overrideReason")
    return visible_reason(raw[:OVERRIDE_REASON_TYPED_MAX] if isinstance(raw, str) else "")


@dataclass(frozen=True)
class Reason:
    """An override reason: `typed` as it came, `visible` what a reader sees (invisible characters left out,
    whitespace collapsed), and `count`, how many visible characters it has (marks and spaces not counted)."""

    typed: str
    visible: str
    count: int

    @property
    def sufficient(self) -> bool:
        """True when the reason carries at least `OVERRIDE_REASON_MIN_VISIBLE` visible characters."""
        return self.count >= OVERRIDE_REASON_MIN_VISIBLE


def visible_reason(typed: str) -> Reason:
    """`typed` without what draws nothing: control (Cc), format (Cf: zero-width space and joiners, bidi
    controls, soft hyphen …), surrogates, private-use and unassigned code points, and the invisible letters;
    whitespace (every Z* separator included) collapses to one space. Combining marks stay in the visible form
    (they draw on the letter before them) but do not count as characters of their own."""
    kept: list[str] = []
    count = 0
    for char in typed:
        category = unicodedata.category(char)
        if char.isspace() or category[0] == "Z":
            kept.append(" ")
        elif category[0] == "C" or char in _INVISIBLE_LETTERS:
            continue
        else:
            kept.append(char)
            if category[0] != "M":
                count += 1
    visible = " ".join("".join(kept).split())[:OVERRIDE_REASON_MAX]
    return Reason(typed, visible, count)


def open_required_steps(steps: Sequence[Step], done: Collection[str]) -> tuple[Step, ...]:
    """The steps marked `required` (the investigation's `recommended_steps`) whose `step_key` is not in `done`
    (the keys of the case's current steps), in the card's order: what an unblock without override waits for."""
    return tuple(step for step in steps if step.required and step_key(step.code, step.target_id) not in done)


def open_step_keys(steps: Sequence[Step]) -> list[str]:
    """How the audit names open steps: the code, and the rule id for a rule (`disable_rule:<id>`)."""
    return [f"{step.code}:{step.target_id}" if step.target_id else step.code for step in steps]

"""The verbs of `Action.Execute` buttons: the only thing the server routes a button press by.

A button's data carries a verb and ids (a case id, a rule id), never a target address or a display
text; the server re-reads the case to learn what to act on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType


class Verb(StrEnum):
    """Every verb a card of this bot can send."""

    # Help and welcome
    HELP = "help"
    REPORT_BOUNCE = "report_bounce"
    START_INVESTIGATION = "start_investigation"
    TRIAGE = "triage"
    # The triage card: another page of the list (data: `page`), and "Unblock all with no signs of compromise"
    # (first press: the confirmation listing them; with `confirm`, `list` and `at`: the unblocks).
    TRIAGE_PAGE = "triage_page"
    TRIAGE_UNBLOCK = "triage_unblock"
    # Remediation: each has one `remediation.actions.ActionSpec` (its tenant call, confirmation, gate, read-back);
    # a recommended step whose code is one of these values gets its button on the findings card.
    UNBLOCK = "unblock"
    REVOKE_SESSIONS = "revoke_sessions"
    FORCE_PASSWORD_CHANGE = "force_password_change"
    DISABLE_RULE = "disable_rule"
    REMOVE_FORWARDING = "remove_forwarding"
    BLOCK_SIGN_IN = "block_sign_in"
    ALLOW_SIGN_IN = "allow_sign_in"
    CONFIRM_COMPROMISED = "confirm_compromised"
    DISMISS_RISK = "dismiss_risk"
    # Issue #17: remove a delegate's grant on the mailbox (per grant), turn off IMAP/POP/SMTP AUTH on the mailbox.
    REMOVE_DELEGATION = "remove_delegation"
    DISABLE_LEGACY_PROTOCOLS = "disable_legacy_protocols"
    # Per item: an authentication method the user did not add (id "<kind>:<method id>"), one app's delegated consent
    # (the grant id) with the user's app role assignments to that app.
    REMOVE_MFA_METHOD = "remove_mfa_method"
    REVOKE_CONSENT = "revoke_consent"
    # Delete (not only disable) an inbox rule the verdict offers to disable (per rule; after a confirmation that
    # shows the rule's conditions and actions). Disabling stays the default button.
    DELETE_RULE = "delete_rule"
    # Per role: take an admin role the account gained in the window (the role's object id); refused for the tenant's
    # last Global Administrator.
    REMOVE_ADMIN_ROLE = "remove_admin_role"
    # "Done, I checked": a person acknowledges a step done in a Microsoft portal (`investigation.verdict.PERSON_STEPS`;
    # no tenant call, claimed and audited like an action).
    REVIEW_MFA_METHODS = "review_mfa_methods"
    REVIEW_CONSENTS = "review_consents"
    REFRESH = "refresh"
    # Redraw a case's card from the store (the Cancel of a confirmation card); reads only.
    SHOW_CASE = "show_case"
    NOTIFY_IT = "notify_it"
    SEND_NOTE = "send_note"
    # The findings card's "Export report": the case's incident report (incident/) handed over through Teams' file
    # consent flow (teams/files.py). Reads only: no claim, audited as `report_exported`.
    EXPORT_REPORT = "export_report"

    @classmethod
    def parse(cls, value: object) -> Verb | None:
        """The verb named by `value`, or None for anything else (a forged or outdated button)."""
        if not isinstance(value, str):
            return None
        try:
            return cls(value)
        except ValueError:
            return None


@dataclass(frozen=True)
class ItemKeys:
    """Where a per-item action's item travels: `id_key` in the button data and the audit's parameters (`ruleId`),
    `name_key` in the verdict step's parameters, the button's catalog text and the audit's (`rule`)."""

    id_key: str
    name_key: str
    # The verdict step whose items this action acts on when it is another action's (delete_rule acts on the rules
    # of `disable_rule`): its button sits on that step's line next to the step's own, and doing it completes that
    # step too (a deleted rule needs no disabling). Empty: the action's own step (`step == verb`).
    step: str = ""


# The per-item actions (one rule, one authentication method, one grant …): pressed, claimed and recorded per item
# (the verdict step's `target_id`). One table for the card (which item id a button carries), the press (which key
# to read) and `remediation.actions.ActionSpec.item`.
ITEMS: Mapping[Verb, ItemKeys] = MappingProxyType({
    Verb.DISABLE_RULE: ItemKeys("ruleId", "rule"),
    Verb.REMOVE_DELEGATION: ItemKeys("grantId", "delegate"),
    Verb.REMOVE_MFA_METHOD: ItemKeys("methodId", "method"),
    Verb.REVOKE_CONSENT: ItemKeys("grantId", "app"),
    Verb.DELETE_RULE: ItemKeys("ruleId", "rule", step="disable_rule"),
    Verb.REMOVE_ADMIN_ROLE: ItemKeys("roleId", "role"),
})

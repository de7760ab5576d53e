"""The remediation actions: one `ActionSpec` per verb, from which everything else about an action is derived.

A spec carries what a new button needs and nothing else does: the verb, the case step it completes (its code *is*
the verb's value, so the findings card and the verdict name it the same way without importing this module), the
confirmation card (`confirm`), who may press it (`role`), the one tenant call (`run`; none for an
acknowledgement, `acknowledge`), the read-back the reconciler uses after a crash (`read_back`), the step it reverses
(`undoes`), and its catalog keys (`note_key` for the latest-actions line; `button_key`, `label_key`,
`confirm_key` follow from the verb). Derived from `ACTIONS`: the policy's verbs and confirmations
(`remediation.policy`), the reconciler's read-backs (`remediation.reconcile`), the latest-actions lines
(`remediation.views`); the findings card offers a button for every recommended step whose code parses as a
`Verb` (`cards.findings.step_verb`) and `tests/unit/test_actions.py` holds the two tables to each other.

Why the arrows run this way: `investigation.verdict` decides *which* steps an account needs and may not import
`remediation` (remediation → investigation), and `cards` is drawn by `remediation.views`, so it may not import
this module either. Instead this table refers to the verdict's step codes by name (`step == verb.value`): the
one place that lists the steps is `investigation.verdict.SECURE_STEPS`, the one place that lists the actions is
here, and neither copies the other.

What must be done before a compromised account is unblocked is no property of an action: it is the verdict's
`Step.required` on the case's stored steps, which the card labels "required before unblocking" and the gate
(`remediation.policy.open_required_steps`) enforces, the one list for both. The steps a person does in a
Microsoft portal (`investigation.verdict.PERSON_STEPS`: review the MFA methods, review the app consents) get an
acknowledgement action each ("Done, I checked"): claimed, audited and recorded like any action, with no tenant call.

The target always comes from the stored case (`Target`), never from the button. No action ever sets, shows or
sends a password: `force_password_change` only sets `forceChangePasswordNextSignIn`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from cards.verbs import ITEMS, ItemKeys, Verb
from domain.people import Role
from investigation.verdict import PERSON_STEPS
from locales import t
from m365.errors import (
    AuthenticationFailed,
    BadRequest,
    LicenseRequired,
    M365Error,
    NotFound,
    OnPremisesMastered,
    PermissionDenied,
    Throttled,
    UnblockLimitReached,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from m365.protocol import Tenant
from m365.records import CasMailbox, GrantKind, InboxRule, MailboxGrant, exchange_rule_identity
from remediation.guards import locks_out_tenant


@dataclass(frozen=True)
class Target:
    """What an action acts on, read from the stored case: the account (object id, UPN), the address on
    Restricted entities, and for a per-item action (`ActionSpec.item`) the item the case recorded: its id (a rule
    id, an authentication method, a grant, …) and its name, for the card and the audit."""

    account_id: str
    upn: str
    address: str
    item_id: str | None = None
    item_name: str = ""
    # What the item is, as evidence rows from the case (an inbox rule's conditions and actions): shown on the
    # confirmation and kept in the audit of a removal.
    item_details: tuple[tuple[str, str], ...] = ()
    # The verdict step's parameters for the item (a role's `template_id`, which the guard reads).
    item_params: Mapping[str, str] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class ReadBack:
    """What the tenant says about an interrupted action: `succeeded`, `failed` or `unknown`, and why."""

    outcome: str
    reason: str


Run = Callable[[Tenant, Target], Awaitable[None]]
Guard = Callable[[Tenant, Target], Awaitable[str | None]]
ReadBackFn = Callable[[Tenant, Target], Awaitable[ReadBack]]


async def _cannot_read_back(tenant: Tenant, target: Target) -> ReadBack:
    return ReadBack("unknown", "Microsoft 365 offers the bot no way to read this change back")


@dataclass(frozen=True)
class ActionSpec:
    """One verb's action (see the module docstring).

    `item` (from `cards.verbs.ITEMS`): a per-item action (one rule, one method, one grant …), claimed and recorded
    per item id, the id travelling in the button's data and the audit under `item.id_key` and its name in the
    step's parameters and the audit under `item.name_key`. `undoes`: the step this action reverses (allowing sign-in
    undoes blocking it), whose claim is released so it can be done again. `confirm`: asks "are you sure?"
    first (catalog keys `confirm.<verb>` and `confirm.button.<verb>`). `acknowledge`: a person's "Done, I
    checked" for a step done in a Microsoft portal; `run` makes no call. `role`: the least role that may press it.
    `removal`: the action takes something away (a delegate's grant, a protocol); when its `run` raises `NotFound`
    the thing is already gone, which is what was wanted: the press records the step done and says "already
    removed", and makes no second call.
    """

    verb: Verb
    note_key: str
    run: Run
    read_back: ReadBackFn = _cannot_read_back
    confirm: bool = False
    acknowledge: bool = False
    role: Role = Role.SECURITY_ADMIN
    undoes: str | None = None
    removal: bool = False
    # Checked before the confirmation and again before the call (`remediation.guards`): a refusal code
    # (`notice.refused.<code>` on the card, the audit's `refused`), or None to go on. No write when it refuses.
    guard: Guard | None = None

    @property
    def item(self) -> ItemKeys | None:
        """The item keys of a per-item action (`cards.verbs.ITEMS`), None for one that acts on the account."""
        return ITEMS.get(self.verb)

    @property
    def per_item(self) -> bool:
        """Claimed, recorded and pressed per item (the step's `target_id`), not once per case."""
        return self.item is not None

    @property
    def step(self) -> str:
        """The case step this action completes: claims, `case.steps` and the verdict's `Step.code` use it."""
        return self.verb.value

    @property
    def offered_by(self) -> str:
        """The verdict step whose items (`Step.target_id`) this action may act on: its own, or for an alternative
        action (`ItemKeys.step`: delete_rule) the other action's, which it completes too (`current_steps`)."""
        return self.item.step if self.item is not None and self.item.step else self.step

    @property
    def button_key(self) -> str:
        """The catalog key of the findings card's button."""
        return f"button.{self.step}"

    @property
    def label_key(self) -> str:
        """The catalog key of the action's name (notices, failed lines, the audit's reader)."""
        return f"remediation.action.{self.verb.value}"

    @property
    def confirm_key(self) -> str:
        """The catalog key of the confirmation card's question (only when `confirm`)."""
        return f"confirm.{self.verb.value}"


# ----------------------------------------------------------------------------------- the tenant calls


async def _unblock(tenant: Tenant, target: Target) -> None:
    await tenant.remove_blocked_sender(target.address)


async def _revoke(tenant: Tenant, target: Target) -> None:
    await tenant.revoke_sign_in_sessions(target.account_id)


async def _force_password_change(tenant: Tenant, target: Target) -> None:
    await tenant.force_password_change(target.account_id)


async def _disable_rule(tenant: Tenant, target: Target) -> None:
    # The case's rule id says who can address the rule: Graph's id → Graph; `exo:<RuleIdentity>` (a rule hidden from
    # Graph, only Exchange's `Get-InboxRule -IncludeHidden` returned it) → Exchange's Disable-InboxRule.
    assert target.item_id, "disable_rule needs a rule id from the case"
    rule_identity = exchange_rule_identity(target.item_id)
    if rule_identity is not None:
        await tenant.disable_exchange_inbox_rule(target.upn, rule_identity)
    else:
        await tenant.set_inbox_rule_enabled(target.account_id, target.item_id, False)


async def _delete_rule(tenant: Tenant, target: Target) -> None:
    # Graph's DELETE for a rule Graph can address; Exchange's Remove-InboxRule for a hidden one (`_disable_rule`).
    assert target.item_id, "delete_rule needs a rule id from the case"
    rule_identity = exchange_rule_identity(target.item_id)
    if rule_identity is not None:
        await tenant.remove_exchange_inbox_rule(target.upn, rule_identity)
    else:
        await tenant.delete_inbox_rule(target.account_id, target.item_id)


async def _remove_forwarding(tenant: Tenant, target: Target) -> None:
    await tenant.remove_mailbox_forwarding(target.upn)


async def _block_sign_in(tenant: Tenant, target: Target) -> None:
    await tenant.set_account_enabled(target.account_id, False)


async def _keeps_last_global_admin(tenant: Tenant, target: Target) -> str | None:
    """Blocking the tenant's last enabled Global Administrator would lock everyone out of the tenant."""
    if await locks_out_tenant(tenant, target.account_id, removing_role=None):
        return "last_global_admin"
    return None


async def _remove_admin_role(tenant: Tenant, target: Target) -> None:
    assert target.item_id, "remove_admin_role needs a role id from the case"
    await tenant.remove_role_member(target.item_id, target.account_id)


async def _keeps_last_global_admin_role(tenant: Tenant, target: Target) -> str | None:
    """Taking the Global Administrator role from the tenant's last enabled Global Administrator would lock everyone
    out of the tenant (the role's template id, recorded by the verdict, says which role it is)."""
    template = target.item_params.get("template_id", "")
    if await locks_out_tenant(tenant, target.account_id, removing_role=template):
        return "last_global_admin"
    return None


async def _allow_sign_in(tenant: Tenant, target: Target) -> None:
    await tenant.set_account_enabled(target.account_id, True)


async def _confirm_compromised(tenant: Tenant, target: Target) -> None:
    await tenant.confirm_compromised(target.account_id)


async def _dismiss_risk(tenant: Tenant, target: Target) -> None:
    await tenant.dismiss_risk(target.account_id)


async def _current_grant(tenant: Tenant, target: Target) -> MailboxGrant | None:
    """The grant the case recorded (`MailboxGrant.subject_id`), as the mailbox holds it now; None when it is gone.
    SendOnBehalf is a property of the mailbox (Get-Mailbox), the others are Exchange's permission lists."""
    assert target.item_id, "remove_delegation needs a grant id from the case"
    if target.item_id.startswith(f"{GrantKind.send_on_behalf.value}:"):
        mailbox = await tenant.get_mailbox(target.upn)
        grants: tuple[MailboxGrant, ...] = MailboxGrant.send_on_behalf(mailbox) if mailbox is not None else ()
    else:
        grants = await tenant.list_mailbox_grants(target.upn)
    return next((grant for grant in grants if grant.subject_id == target.item_id), None)


async def _remove_delegation(tenant: Tenant, target: Target) -> None:
    # The grant is read first: removing a SendOnBehalf entry that is not there "completes successfully" with only a
    # warning, so only the read can tell "already removed" from "removed", and the write needs the grant's kind.
    grant = await _current_grant(tenant, target)
    if grant is None:
        raise NotFound("The grant is no longer on the mailbox")
    await tenant.remove_mailbox_grant(target.upn, grant)


def _legacy_protocols_on(cas: CasMailbox) -> list[str]:
    """The legacy protocols the mailbox allows, in `prevention_steps`' names (None for SMTP AUTH follows the
    organisation's setting, which this action does not change)."""
    return [name for name, on in (("imap", cas.imap_enabled), ("pop", cas.pop_enabled),
                                  ("smtp_auth", cas.smtp_client_authentication_disabled is False)) if on]


async def _disable_legacy_protocols(tenant: Tenant, target: Target) -> None:
    # Only the protocols that are on now are turned off (the step names those the investigation found): a
    # protocol already off stays as it is, and nothing on at all is "already removed".
    cas = await tenant.get_cas_mailbox(target.upn)
    protocols = _legacy_protocols_on(cas) if cas is not None else []
    if not protocols:
        raise NotFound("No legacy protocol is on for the mailbox")
    await tenant.disable_legacy_protocols(target.upn, protocols)


async def _remove_mfa_method(tenant: Tenant, target: Target) -> None:
    assert target.item_id, "remove_mfa_method needs a method id from the case"
    await tenant.remove_auth_method(target.account_id, target.item_id)


async def _revoke_consent(tenant: Tenant, target: Target) -> None:
    # One logical revoke: the user's app role assignments to the app, then the grant (`Tenant.revoke_consent`).
    assert target.item_id, "revoke_consent needs a grant id from the case"
    await tenant.revoke_consent(target.account_id, target.item_id)


async def _acknowledged(tenant: Tenant, target: Target) -> None:
    """A person's acknowledgement: Microsoft 365 is not asked (it offers the bot no write for these steps)."""


# ---------------------------------------------------------------------- the read-backs (reconciler)


async def _acknowledgement_read_back(tenant: Tenant, target: Target) -> ReadBack:
    # The press is the whole act: its `started` row already names who acknowledged, and nothing else can be read.
    return ReadBack("succeeded", "an acknowledgement makes no call to Microsoft 365; its audit row records it")



async def _unblock_read_back(tenant: Tenant, target: Target) -> ReadBack:
    if await tenant.get_blocked_sender(target.address) is None:
        return ReadBack("succeeded", "the address is no longer on Restricted entities")
    return ReadBack("unknown", "the address is still on Restricted entities; Microsoft 365 can take up "
                               "to 24 hours to lift a removal, so whether it was sent cannot be told")


def _sign_in_read_back(wanted: bool) -> ReadBackFn:
    async def read_back(tenant: Tenant, target: Target) -> ReadBack:
        user = await tenant.get_user(target.account_id)
        if user is None:
            return ReadBack("unknown", "the account no longer exists")
        state = "allowed" if user.account_enabled else "blocked"
        return ReadBack("succeeded" if user.account_enabled == wanted else "failed", f"sign-in is {state}")

    return read_back


async def _rules_of(tenant: Tenant, target: Target) -> dict[str, InboxRule]:
    """The mailbox's rules by item id, read where the case's rule lives: Exchange (`Get-InboxRule -IncludeHidden`)
    for an `exo:` rule, Graph for the others."""
    if exchange_rule_identity(target.item_id) is not None:
        return {rule.item_id: rule for rule in await tenant.get_inbox_rules(target.upn) if rule.rule_identity}
    return {rule.id: rule for rule in await tenant.list_inbox_rules(target.account_id)}


async def _disable_rule_read_back(tenant: Tenant, target: Target) -> ReadBack:
    rule = (await _rules_of(tenant, target)).get(target.item_id or "")
    if rule is None:
        return ReadBack("unknown", "the inbox rule no longer exists")
    return (ReadBack("failed", "the inbox rule is still enabled") if rule.is_enabled
            else ReadBack("succeeded", "the inbox rule is disabled"))


async def _delete_rule_read_back(tenant: Tenant, target: Target) -> ReadBack:
    if (target.item_id or "") in await _rules_of(tenant, target):
        return ReadBack("failed", "the inbox rule still exists")
    return ReadBack("succeeded", "the inbox rule is gone")


async def _remove_admin_role_read_back(tenant: Tenant, target: Target) -> ReadBack:
    if any(m.id.lower() == (target.item_id or "").lower() for m in await tenant.list_memberships(target.account_id)):
        return ReadBack("failed", "the account still holds the role")
    return ReadBack("succeeded", "the account no longer holds the role")


async def _remove_forwarding_read_back(tenant: Tenant, target: Target) -> ReadBack:
    mailbox = await tenant.get_mailbox(target.upn)
    if mailbox is None:
        return ReadBack("unknown", "the mailbox no longer exists")
    if mailbox.forwarding_smtp_address or mailbox.forwarding_address:
        return ReadBack("failed", "the mailbox still forwards")
    return ReadBack("succeeded", "the mailbox does not forward")


async def _remove_delegation_read_back(tenant: Tenant, target: Target) -> ReadBack:
    if await _current_grant(tenant, target) is None:
        return ReadBack("succeeded", "the grant is no longer on the mailbox")
    return ReadBack("failed", "the grant is still on the mailbox")


async def _legacy_protocols_read_back(tenant: Tenant, target: Target) -> ReadBack:
    cas = await tenant.get_cas_mailbox(target.upn)
    if cas is None:
        return ReadBack("unknown", "the mailbox no longer exists")
    on = _legacy_protocols_on(cas)
    if on:
        return ReadBack("failed", f"still on: {', '.join(on)}")
    return ReadBack("succeeded", "IMAP, POP and SMTP AUTH are off")


async def _remove_mfa_method_read_back(tenant: Tenant, target: Target) -> ReadBack:
    if await tenant.get_auth_method(target.account_id, target.item_id or "") is None:
        return ReadBack("succeeded", "the authentication method is gone")
    return ReadBack("failed", "the authentication method is still registered")


async def _revoke_consent_read_back(tenant: Tenant, target: Target) -> ReadBack:
    # The grant goes last (`Tenant.revoke_consent`): gone means the app role assignments went before it.
    if await tenant.get_oauth_grant(target.item_id or "") is None:
        return ReadBack("succeeded", "the consent is revoked")
    return ReadBack("failed", "the consent is still granted")


def _risk_state_read_back(expected: str) -> ReadBackFn:
    async def read_back(tenant: Tenant, target: Target) -> ReadBack:
        risky = await tenant.get_risky_user(target.account_id)
        state = risky.risk_state if risky is not None else "none"
        return ReadBack("succeeded" if state == expected else "failed", f"the risk state is {state}")

    return read_back


# --------------------------------------------------------------------------------------- the table

# In Microsoft's order ("Responding to a compromised email account"). Revoking sessions and requiring a new
# password leave nothing the bot can read back.
# The acknowledgements' latest-action lines (`note_key`), one per `PERSON_STEPS` code.
_ACKNOWLEDGED_NOTES: Mapping[str, str] = MappingProxyType({
    "review_mfa_methods": "note.mfa_methods_reviewed",
    "review_consents": "note.consents_reviewed",
})
ACTIONS: Mapping[Verb, ActionSpec] = MappingProxyType({
    spec.verb: spec
    for spec in (
        ActionSpec(Verb.FORCE_PASSWORD_CHANGE, "note.password_change_forced", _force_password_change,
                   confirm=True),
        ActionSpec(Verb.REVOKE_SESSIONS, "note.sessions_revoked", _revoke),
        ActionSpec(Verb.REMOVE_FORWARDING, "note.forwarding_removed", _remove_forwarding,
                   _remove_forwarding_read_back),
        ActionSpec(Verb.DISABLE_RULE, "note.rule_disabled", _disable_rule, _disable_rule_read_back),
        # The alternative to disabling (`ItemKeys.step`): asked first, with the rule's conditions and actions.
        ActionSpec(Verb.DELETE_RULE, "note.rule_deleted", _delete_rule, _delete_rule_read_back, confirm=True,
                   removal=True),
        ActionSpec(Verb.REMOVE_MFA_METHOD, "note.mfa_method_removed", _remove_mfa_method,
                   _remove_mfa_method_read_back, confirm=True, removal=True),
        ActionSpec(Verb.REVOKE_CONSENT, "note.consent_revoked", _revoke_consent, _revoke_consent_read_back,
                   confirm=True, removal=True),
        ActionSpec(Verb.REMOVE_DELEGATION, "note.delegation_removed", _remove_delegation,
                   _remove_delegation_read_back, removal=True),
        ActionSpec(Verb.BLOCK_SIGN_IN, "note.sign_in_blocked", _block_sign_in, _sign_in_read_back(False),
                   confirm=True, undoes="allow_sign_in", guard=_keeps_last_global_admin),
        ActionSpec(Verb.ALLOW_SIGN_IN, "note.sign_in_allowed", _allow_sign_in, _sign_in_read_back(True),
                   undoes="block_sign_in"),
        ActionSpec(Verb.REMOVE_ADMIN_ROLE, "note.admin_role_removed", _remove_admin_role, _remove_admin_role_read_back,
                   confirm=True, removal=True, guard=_keeps_last_global_admin_role),
        ActionSpec(Verb.CONFIRM_COMPROMISED, "note.confirmed_compromised", _confirm_compromised,
                   _risk_state_read_back("confirmedCompromised")),
        ActionSpec(Verb.DISMISS_RISK, "note.risk_dismissed", _dismiss_risk, _risk_state_read_back("dismissed")),
        ActionSpec(Verb.UNBLOCK, "note.unblocked", _unblock, _unblock_read_back, confirm=True),
        # Can break a printer, scanner or old mail app that still signs in with a password: asked first.
        ActionSpec(Verb.DISABLE_LEGACY_PROTOCOLS, "note.legacy_protocols_disabled", _disable_legacy_protocols,
                   _legacy_protocols_read_back, confirm=True, removal=True),
        *(ActionSpec(Verb(code), _ACKNOWLEDGED_NOTES[code], _acknowledged, _acknowledgement_read_back,
                     acknowledge=True) for code in PERSON_STEPS),
    )
})


def spec_of(code: str) -> ActionSpec | None:
    """The action whose verb (audit `action`) or step (claim `action`, `case.steps`) is `code`; they are equal."""
    verb = Verb.parse(code)
    return ACTIONS.get(verb) if verb is not None else None


@dataclass(frozen=True)
class Failure:
    """What went wrong, for the card (`key`, a notice with `params`) and the audit (`code`)."""

    code: str
    key: str
    params: Mapping[str, str] = field(default_factory=dict)


def failure_of(exc: BaseException, locale: str | None) -> Failure:
    """The admin-facing meaning of a failed tenant call. Microsoft's own message goes to the audit only."""
    if isinstance(exc, UnblockLimitReached):
        return Failure("unblock_limit", "notice.failed.unblock_limit")
    if isinstance(exc, OnPremisesMastered):
        return Failure("on_premises", "notice.failed.on_premises")
    if isinstance(exc, PermissionDenied):
        return Failure("permission", "notice.failed.permission",
                       {"permission": exc.permission or t(locale, "remediation.permission_unknown")})
    if isinstance(exc, LicenseRequired):
        return Failure("license", "notice.failed.license", {"license": exc.license})
    if isinstance(exc, Throttled):
        return Failure("throttled", "notice.failed.throttled")
    if isinstance(exc, UpstreamUnavailable | UpstreamTimeout | AuthenticationFailed):
        return Failure("upstream", "notice.failed.upstream")
    if isinstance(exc, NotFound):
        return Failure("not_found", "notice.failed.not_found")
    if isinstance(exc, BadRequest):
        return Failure("rejected", "notice.failed.rejected")
    if isinstance(exc, M365Error):
        return Failure("upstream", "notice.failed.upstream")
    return Failure("error", "notice.failed.error")

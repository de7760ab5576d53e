"""The remediation actions: what each verb does in Microsoft 365, and what a failure means to an admin.

Each `ActionSpec` names the case step it completes (`step`, the code the findings card and the verdict use),
the latest-actions line it leaves (`note_key`), and the one tenant call it makes. The target always comes
from the stored case (`Target`), never from the button. No action ever sets, shows or sends a password:
`force_password_change` only sets `forceChangePasswordNextSignIn`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from cards.verbs import Verb
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


@dataclass(frozen=True)
class Target:
    """What an action acts on, read from the stored case: the account (object id, UPN), the address on
    Restricted entities, and for `disable_rule` the rule (id and its name, for the card and the audit)."""

    account_id: str
    upn: str
    address: str
    rule_id: str | None = None
    rule_name: str = ""


Run = Callable[[Tenant, Target], Awaitable[None]]


@dataclass(frozen=True)
class ActionSpec:
    """One verb's action. `per_rule`: claimed and recorded per rule id. `undoes`: the step this action
    reverses (allowing sign-in undoes blocking it), whose claim is released so it can be done again."""

    verb: Verb
    step: str
    note_key: str
    run: Run
    per_rule: bool = False
    undoes: str | None = None


async def _unblock(tenant: Tenant, target: Target) -> None:
    await tenant.remove_blocked_sender(target.address)


async def _revoke(tenant: Tenant, target: Target) -> None:
    await tenant.revoke_sign_in_sessions(target.account_id)


async def _force_password_change(tenant: Tenant, target: Target) -> None:
    await tenant.force_password_change(target.account_id)


async def _disable_rule(tenant: Tenant, target: Target) -> None:
    assert target.rule_id, "disable_rule needs a rule id from the case"
    await tenant.set_inbox_rule_enabled(target.account_id, target.rule_id, False)


async def _remove_forwarding(tenant: Tenant, target: Target) -> None:
    await tenant.remove_mailbox_forwarding(target.upn)


async def _block_sign_in(tenant: Tenant, target: Target) -> None:
    await tenant.set_account_enabled(target.account_id, False)


async def _allow_sign_in(tenant: Tenant, target: Target) -> None:
    await tenant.set_account_enabled(target.account_id, True)


async def _confirm_compromised(tenant: Tenant, target: Target) -> None:
    await tenant.confirm_compromised(target.account_id)


async def _dismiss_risk(tenant: Tenant, target: Target) -> None:
    await tenant.dismiss_risk(target.account_id)


ACTIONS: Mapping[Verb, ActionSpec] = MappingProxyType({
    spec.verb: spec
    for spec in (
        ActionSpec(Verb.UNBLOCK, "unblock", "note.unblocked", _unblock),
        ActionSpec(Verb.REVOKE_SESSIONS, "revoke_sessions", "note.sessions_revoked", _revoke),
        ActionSpec(Verb.FORCE_PASSWORD_CHANGE, "force_password_change", "note.password_change_forced",
                   _force_password_change),
        ActionSpec(Verb.DISABLE_RULE, "disable_rule", "note.rule_disabled", _disable_rule, per_rule=True),
        ActionSpec(Verb.REMOVE_FORWARDING, "remove_forwarding", "note.forwarding_removed", _remove_forwarding),
        ActionSpec(Verb.BLOCK_SIGN_IN, "block_sign_in", "note.sign_in_blocked", _block_sign_in,
                   undoes="allow_sign_in"),
        ActionSpec(Verb.ALLOW_SIGN_IN, "allow_sign_in", "note.sign_in_allowed", _allow_sign_in,
                   undoes="block_sign_in"),
        ActionSpec(Verb.CONFIRM_COMPROMISED, "confirm_compromised", "note.confirmed_compromised",
                   _confirm_compromised),
        ActionSpec(Verb.DISMISS_RISK, "dismiss_risk", "note.risk_dismissed", _dismiss_risk),
    )
})


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

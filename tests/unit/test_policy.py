"""remediation.policy: the one table of who may do what, the gate, confirmation and the override reason."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cards.verbs import Verb
from domain.people import Role, Speaker
from investigation.verdict import Step, StepPhase
from remediation import policy
from remediation.actions import ACTIONS
from store import CaseRecord

TENANT = "4f8c2b1e-6d3a-4e5b-9c7d-1a2b3c4d5e6f"
ACCOUNT = "2f6d4c93-1b5e-4d0a-83f4-7a8b9c0d1e03"
ADMIN = "0d4b2a71-9f3c-4b8e-a1d2-5e6f7a8b9c01"
NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def case(verdict: str | None = "compromised", *, account: str = ACCOUNT, tenant: str = TENANT) -> CaseRecord:
    return CaseRecord(id="c1", tenant_id=tenant, account_id=account, account_upn="MeganB@example.com",
                      display_name="Megan Bowen", status="open", verdict=verdict, summary={}, steps={},
                      opened_by_id=None, opened_by_name=None, created_at=NOW, updated_at=NOW, resolved_at=None,
                      version=1)


def speaker(role: Role, *, aad: str = ADMIN, tenant: str = TENANT) -> Speaker:
    return Speaker(aad_object_id=aad, name="Someone", tenant_id=tenant, role=role)


STAFF_VERBS = [Verb.REFRESH, Verb.SHOW_CASE, Verb.SEND_NOTE, Verb.EXPORT_REPORT]
ACTION_VERBS = sorted(policy.ACTION_VERBS)


def test_every_action_verb_has_an_action_and_back() -> None:
    assert set(ACTIONS) == policy.ACTION_VERBS
    assert policy.DESTRUCTIVE_VERBS <= policy.ACTION_VERBS


@pytest.mark.parametrize("verb", ACTION_VERBS + STAFF_VERBS)
def test_users_may_do_nothing(verb: Verb) -> None:
    decision = policy.decide(speaker(Role.USER), verb, case())
    assert not decision.allowed
    expected = "remediation.refused.staff_only" if verb in STAFF_VERBS else "remediation.refused.user"
    assert decision.reason == expected


@pytest.mark.parametrize("verb", ACTION_VERBS)
def test_it_staff_may_not_act(verb: Verb) -> None:
    decision = policy.decide(speaker(Role.IT_STAFF), verb, case())
    assert (decision.allowed, decision.reason) == (False, "remediation.refused.admin_only")


@pytest.mark.parametrize("role", [Role.IT_STAFF, Role.SECURITY_ADMIN])
@pytest.mark.parametrize("verb", STAFF_VERBS)
def test_staff_and_admins_may_refresh_look_and_write_notes(role: Role, verb: Verb) -> None:
    assert policy.decide(speaker(role), verb, case()).allowed


@pytest.mark.parametrize("verb", ACTION_VERBS)
def test_admins_act_except_dismissing_a_compromised_risk(verb: Verb) -> None:
    decision = policy.decide(speaker(Role.SECURITY_ADMIN), verb, case("compromised"))
    if verb == Verb.DISMISS_RISK:
        assert decision.reason == "remediation.refused.dismiss_compromised"
    else:
        assert decision.allowed
    assert policy.decide(speaker(Role.SECURITY_ADMIN), verb, case("suspicious")).allowed


@pytest.mark.parametrize("verb", ACTION_VERBS)
def test_nobody_acts_on_their_own_account(verb: Verb) -> None:
    own = case(account=ADMIN.upper())  # object ids compare without regard to case
    decision = policy.decide(speaker(Role.SECURITY_ADMIN), verb, own)
    assert (decision.allowed, decision.reason) == (False, "remediation.refused.own_account")
    assert not policy.speaker_can_act(speaker(Role.SECURITY_ADMIN), own.account_id)


def test_reading_your_own_case_is_not_acting() -> None:
    assert policy.decide(speaker(Role.IT_STAFF), Verb.REFRESH, case(account=ADMIN)).allowed


@pytest.mark.parametrize("verb", ACTION_VERBS + STAFF_VERBS)
def test_another_tenant_is_refused_whatever_the_role(verb: Verb) -> None:
    other = speaker(Role.SECURITY_ADMIN, tenant="99999999-8888-4777-8666-555555555555")
    assert policy.decide(other, verb, case()).reason == "remediation.refused.other_tenant"
    assert policy.decide(speaker(Role.SECURITY_ADMIN, tenant=""), verb, case()).reason == (
        "remediation.refused.other_tenant")


def test_verbs_that_are_not_remediation_are_refused() -> None:
    assert policy.decide(speaker(Role.SECURITY_ADMIN), Verb.REPORT_BOUNCE, case()).reason == (
        "remediation.refused.unknown_verb")


def test_can_act_needs_an_admin_and_an_id() -> None:
    assert policy.can_act(Role.SECURITY_ADMIN, ADMIN, ACCOUNT)
    assert not policy.can_act(Role.IT_STAFF, ADMIN, ACCOUNT)
    assert not policy.can_act(Role.SECURITY_ADMIN, "", ACCOUNT)


def test_the_gate_holds_exactly_the_required_steps() -> None:
    """The gate reads `Step.required` (what the card labels "required before unblocking"), nothing else."""
    steps = (Step("force_password_change", StepPhase.secure, required=True),
             Step("revoke_sessions", StepPhase.secure, required=True),
             Step("disable_rule", StepPhase.secure, {"rule": "."}, target_id="r1", required=True),
             Step("review_mfa_methods", StepPhase.secure, required=True),
             Step("block_sign_in", StepPhase.secure),
             Step("unblock", StepPhase.unblock))
    codes = [s.code for s in policy.open_required_steps(steps, set())]
    assert codes == ["force_password_change", "revoke_sessions", "disable_rule", "review_mfa_methods"]
    done = {"force_password_change:", "revoke_sessions:", "block_sign_in:"}
    assert [s.code for s in policy.open_required_steps(steps, done)] == ["disable_rule", "review_mfa_methods"]
    # A rule is done per rule id; the acknowledgement of a review counts like any done step.
    assert policy.open_required_steps(steps, done | {"disable_rule:r1", "review_mfa_methods:"}) == ()
    assert policy.open_required_steps(steps, done | {"disable_rule:other", "review_mfa_methods:"})[0].target_id == "r1"
    assert policy.open_step_keys(steps[2:4]) == ["disable_rule:r1", "review_mfa_methods"]


def test_destructive_actions_need_confirmation() -> None:
    assert {v for v in policy.ACTION_VERBS if policy.needs_confirmation(v)} == {
        Verb.UNBLOCK, Verb.BLOCK_SIGN_IN, Verb.FORCE_PASSWORD_CHANGE, Verb.REMOVE_MFA_METHOD, Verb.REVOKE_CONSENT,
        Verb.DISABLE_LEGACY_PROTOCOLS, Verb.DELETE_RULE, Verb.REMOVE_ADMIN_ROLE}
    assert policy.is_confirmed({"confirm": "1"})
    assert not policy.is_confirmed({"confirm": 1}) and not policy.is_confirmed({})


def test_override_reason_is_typed_text_only() -> None:
    assert policy.override_requested({"override": "1"})
    assert not policy.override_requested({"override": True})
    assert policy.override_reason({"overrideReason": "  reset by phone\n with Megan  "}) == "reset by phone with Megan"
    assert policy.override_reason({"overrideReason": "   "}) == ""
    assert policy.override_reason({"overrideReason": ["x"]}) == ""
    assert len(policy.override_reason({"overrideReason": "x" * 5000})) == policy.OVERRIDE_REASON_MAX

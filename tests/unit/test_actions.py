"""The one table of remediation actions (remediation/actions.py) and everything derived from it.

The findings card, the verdict, the policy and the reconciler do not list actions of their own: these tests
hold them to `ACTIONS`, so a new button that forgets a piece fails here rather than in front of an admin.
"""

from __future__ import annotations

import contextlib

import pytest

from cards.findings import step_verb
from cards.verbs import Verb
from domain.people import Role
from investigation.verdict import PERSON_STEPS, SECURE_STEPS, STEP_CODES, UNBLOCK_STEP
from locales import CATALOGS
from m365.errors import NotFound
from remediation import policy
from remediation.actions import ACTIONS, ActionSpec, Target, spec_of
from tests.fakes import FakeTenant

SPECS = list(ACTIONS.values())
# Every tenant method an action's `run` calls: a read-back must never call one.
WRITES = ("remove_blocked_sender", "revoke_sign_in_sessions", "force_password_change", "set_account_enabled",
          "set_inbox_rule_enabled", "remove_mailbox_forwarding", "confirm_compromised", "dismiss_risk",
          "remove_auth_method", "revoke_consent", "remove_mailbox_grant", "disable_legacy_protocols",
          "delete_inbox_rule", "remove_role_member")
TARGET = Target(account_id="4b8f6eb5-3d7a-4f2c-a5b6-9c0d1e2f3a05", upn="AdeleV@example.com",
                address="AdeleV@example.com", item_id="rule-1", item_name="rule")


def test_a_step_code_names_its_action_and_back() -> None:
    for spec in SPECS:
        assert spec.step == spec.verb.value
        assert spec_of(spec.step) is spec
        assert spec_of(spec.verb.value) is spec
    assert spec_of(Verb.REFRESH.value) is None
    assert spec_of("remove_admin_roles") is None
    assert spec_of("") is None


def test_the_card_offers_a_button_exactly_for_the_verdict_steps_the_bot_can_do() -> None:
    with_buttons = {code for code in STEP_CODES if step_verb(code) is not None}
    # Every step whose code names a verb must be an action: a step named after "refresh" would get a button
    # that the policy refuses.
    assert with_buttons <= {spec.step for spec in SPECS}
    assert with_buttons == {"force_password_change", "revoke_sessions", "remove_forwarding", "disable_rule",
                            "block_sign_in", "confirm_compromised", "unblock", "review_mfa_methods",
                            "review_consents", "remove_mfa_method", "revoke_consent", "remove_delegation",
                            "disable_legacy_protocols", "remove_admin_role"}
    # Steps done in a Microsoft portal get a link instead; those a person acknowledges get "Done, I checked" too,
    # an action with no tenant call, derived from the verdict's `PERSON_STEPS`.
    assert step_verb("remove_admin_roles") is None and step_verb("enable_mfa") is None
    assert {spec.step for spec in SPECS if spec.acknowledge} == set(PERSON_STEPS) == {"review_mfa_methods",
                                                                                     "review_consents"}


def test_verdict_step_codes_come_from_its_step_table_in_microsofts_order() -> None:
    assert STEP_CODES[:len(SECURE_STEPS)] == tuple(spec.code for spec in SECURE_STEPS)
    assert STEP_CODES.index(UNBLOCK_STEP) == len(SECURE_STEPS)
    assert len(set(STEP_CODES)) == len(STEP_CODES)
    assert [s.code for s in SECURE_STEPS][:2] == ["force_password_change", "revoke_sessions"]


def test_policy_is_derived_from_the_table() -> None:
    assert policy.ACTION_VERBS == frozenset(ACTIONS)
    assert policy.DESTRUCTIVE_VERBS == {Verb.UNBLOCK, Verb.BLOCK_SIGN_IN, Verb.FORCE_PASSWORD_CHANGE,
                                        Verb.REMOVE_MFA_METHOD, Verb.REVOKE_CONSENT, Verb.DISABLE_LEGACY_PROTOCOLS,
                                        Verb.DELETE_RULE, Verb.REMOVE_ADMIN_ROLE}
    assert policy.ACKNOWLEDGE_VERBS == {Verb.REVIEW_MFA_METHODS, Verb.REVIEW_CONSENTS}
    # No action carries a gate of its own: the gate is the verdict's `Step.required` (tests/unit/test_gate_truth.py).
    assert not hasattr(SPECS[0], "gate")
    assert all(spec.role == Role.SECURITY_ADMIN for spec in SPECS)
    assert not policy.ACTION_VERBS & policy.STAFF_VERBS


def test_undoing_pairs_point_at_each_other() -> None:
    for spec in SPECS:
        if spec.undoes is None:
            continue
        other = spec_of(spec.undoes)
        assert other is not None, spec.verb
        assert other.undoes == spec.step, spec.verb


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.verb.value)
def test_every_action_has_its_words_in_every_language(spec: ActionSpec) -> None:
    keys = [spec.button_key, spec.label_key, spec.note_key]
    if spec.confirm:
        keys += [spec.confirm_key, f"confirm.button.{spec.verb.value}"]
    for lang, catalog in CATALOGS.items():
        assert [k for k in keys if k not in catalog] == [], lang


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.verb.value)
async def test_read_backs_only_read(spec: ActionSpec) -> None:
    tenant = FakeTenant()
    read = await spec.read_back(tenant, TARGET)
    assert read.outcome in ("succeeded", "failed", "unknown")
    assert read.reason
    assert not [name for name, _ in tenant.calls if name in WRITES]
    cannot = {Verb.REVOKE_SESSIONS, Verb.FORCE_PASSWORD_CHANGE}
    # Only the two actions Microsoft 365 offers no read-back for are left "unknown" without asking; an
    # acknowledgement asks nothing either (it made no call) and is settled as done.
    assert (tenant.calls == []) == (spec.verb in cannot or spec.acknowledge)
    if spec.acknowledge:
        assert read.outcome == "succeeded"
    with contextlib.suppress(NotFound, ValueError):
        # A removal of an item the fake does not hold (or an id of another kind) still asked the tenant.
        await spec.run(tenant, TARGET)
    assert (tenant.calls == []) == spec.acknowledge

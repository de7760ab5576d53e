"""Remediation presses through the real handler with a recording fake tenant and a real SQLite store.

The authorization matrix (user, IT staff, admin, admin on their own account, another tenant × every verb) and
the flows around a press: confirmation, the gate and its override, stale cards, forged data. A refusal must
leave the tenant untouched: `FakeTenant.calls` holds every call, so "no write" is checked on all of them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from microsoft_agents.activity import InvokeResponse

from bot import build_handler
from cards.verbs import Verb
from config import Settings
from core.cases import CaseBook
from domain.people import Role, Speaker
from investigation.collect import Investigation
from investigation.evidence import SourceName, Unavailable, UnavailableReason
from investigation.indicators import run_indicators
from investigation.reason import parse_reason
from investigation.verdict import assess
from m365.records import BlockedSender, CasMailbox, User
from remediation import policy
from store import CaseRecord, Store
from tests.activities import ALEX, ISAIAH, MEGAN, OTHER_TENANT_ID, PATTI, TENANT_ID, Person
from tests.cardschema import assert_valid_card, texts
from tests.dialog_client import DialogClient
from tests.fakes import IT_STAFF_GROUP, SECURITY_ADMIN_GROUP, FakeTenant, group
from tests.report_fakes import RecordingOutbox
from tests.unit.test_verdict import adele, evidence_from, megan

SETTINGS = Settings(it_staff_group_id=IT_STAFF_GROUP, security_admin_group_id=SECURITY_ADMIN_GROUP)
CARD = "application/vnd.microsoft.card.adaptive"
MESSAGE = "application/vnd.microsoft.activity.message"
RULE_ID = "AQAAAJ5dZqA="  # Megan's rule "." (forwards everything outside and deletes it)
WRITES = frozenset({
    "remove_blocked_sender", "revoke_sign_in_sessions", "force_password_change", "set_inbox_rule_enabled",
    "remove_mailbox_forwarding", "set_account_enabled", "confirm_compromised", "dismiss_risk",
    "remove_mailbox_grant", "disable_legacy_protocols", "remove_auth_method", "revoke_consent",
    "delete_inbox_rule", "remove_role_member",
})
# What each verb must do in the tenant when an admin presses it on Megan's case (confirmed, with a reason).
EXPECTED_WRITE: dict[Verb, tuple[str, tuple[Any, ...]]] = {
    Verb.UNBLOCK: ("remove_blocked_sender", ("MeganB@example.com",)),
    Verb.REVOKE_SESSIONS: ("revoke_sign_in_sessions", (MEGAN.aad_object_id,)),
    Verb.FORCE_PASSWORD_CHANGE: ("force_password_change", (MEGAN.aad_object_id,)),
    Verb.DISABLE_RULE: ("set_inbox_rule_enabled", (MEGAN.aad_object_id, RULE_ID, False)),
    # The same rule, deleted instead (the fake holds no rule: "already removed", after the one call).
    Verb.DELETE_RULE: ("delete_inbox_rule", (MEGAN.aad_object_id, RULE_ID)),
    Verb.REMOVE_FORWARDING: ("remove_mailbox_forwarding", ("MeganB@example.com",)),
    Verb.BLOCK_SIGN_IN: ("set_account_enabled", (MEGAN.aad_object_id, False)),
    Verb.ALLOW_SIGN_IN: ("set_account_enabled", (MEGAN.aad_object_id, True)),
    Verb.CONFIRM_COMPROMISED: ("confirm_compromised", (MEGAN.aad_object_id,)),
    # Megan's story has IMAP on (Get-CASMailbox): only that is turned off.
    Verb.DISABLE_LEGACY_PROTOCOLS: ("disable_legacy_protocols", ("MeganB@example.com", ("imap",))),
}
ALL_VERBS = [*sorted(policy.ACTION_VERBS), Verb.REFRESH, Verb.SHOW_CASE]
FULL_DATA = {"confirm": "1", "override": "1", "overrideReason": "Password reset by phone with Megan",
             "ruleId": RULE_ID,
             # Megan's phone exists but the case recorded no removal of it (undated: left to the MFA review).
             "methodId": "phoneAuthenticationMethod:m-new",
             # Megan holds no role the window gave her: no role removal is recorded on the case.
             "roleId": "f1c2d3e4-a5b6-4c7d-8e9f-0a1b2c3d4e02"}


def investigation_of(story: dict[str, Any], unavailable: Sequence[Unavailable] = ()) -> Investigation:
    evidence = evidence_from(story, unavailable=unavailable)
    findings = run_indicators(evidence)
    reason = parse_reason(evidence.restriction.reason) if evidence.restriction else None
    return Investigation(evidence, findings, assess(evidence, findings), reason)


def fake_tenant(*, megan_is_admin: bool = False) -> FakeTenant:
    memberships = {
        ALEX.aad_object_id: [group(SECURITY_ADMIN_GROUP, "Security Admins")],
        ISAIAH.aad_object_id: [group(IT_STAFF_GROUP, "IT Staff")],
    }
    if megan_is_admin:
        memberships[MEGAN.aad_object_id] = [group(SECURITY_ADMIN_GROUP, "Security Admins")]
    fake = FakeTenant(
        users=[User(id=MEGAN.aad_object_id, user_principal_name=MEGAN.upn, display_name=MEGAN.name, mail=MEGAN.upn),
               User(id=ALEX.aad_object_id, user_principal_name=ALEX.upn, display_name=ALEX.name, mail=ALEX.upn)],
        memberships=memberships,
    )
    fake.blocked[MEGAN.upn.lower()] = BlockedSender(sender_address=MEGAN.upn, reason="OutboundSpamLast24Hours=242")
    fake.cas[MEGAN.upn.lower()] = CasMailbox("MeganB", imap_enabled=True, pop_enabled=False)
    return fake


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    yield opened
    await opened.close()


async def open_case(store: Store, fake: FakeTenant, story: dict[str, Any] | None = None,
                    tenant_id: str = TENANT_ID, unavailable: Sequence[Unavailable] = ()) -> CaseRecord:
    """The account's case with the investigation stored on it, as the investigate dialog leaves it."""
    opener = Speaker(aad_object_id=ALEX.aad_object_id, name=ALEX.name, tenant_id=tenant_id,
                     role=Role.SECURITY_ADMIN)
    desk = CaseBook(store)
    return await desk.record(investigation_of(story or megan(), unavailable), opener)


def chat(fake: FakeTenant, store: Store, person: Person, *, tenant_id: str = TENANT_ID,
         locale: str = "en-US") -> DialogClient:
    bot, _ = build_handler(SETTINGS, tenant=fake, store=store, outbox=RecordingOutbox())
    return DialogClient(bot, person, tenant_id=tenant_id, locale=locale)


def writes(fake: FakeTenant) -> list[tuple[str, tuple[Any, ...]]]:
    return [(name, args) for name, args in fake.calls if name in WRITES]


def body_of(response: Any) -> dict[str, Any]:
    assert isinstance(response, InvokeResponse) and response.status == 200
    assert isinstance(response.body, dict)
    return response.body


def card_of(response: Any) -> dict[str, Any]:
    body = body_of(response)
    assert (body["statusCode"], body["type"]) == (200, CARD), body
    assert_valid_card(body["value"])
    return body["value"]  # type: ignore[no-any-return]


def message_of(response: Any) -> str:
    body = body_of(response)
    assert (body["statusCode"], body["type"]) == (200, MESSAGE), body
    assert isinstance(body["value"], str)
    return body["value"]


def shown(card: dict[str, Any]) -> str:
    return " ".join(texts(card)) + " " + " ".join(
        "".join(run["text"] for run in block.get("inlines", [])) for block in _blocks(card))


def _blocks(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        found = [node] if node.get("type") == "RichTextBlock" else []
        return found + [b for v in node.values() for b in _blocks(v)]
    if isinstance(node, list):
        return [b for item in node for b in _blocks(item)]
    return []


def verbs_on(card: dict[str, Any]) -> list[str]:
    def walk(node: Any) -> list[str]:
        if isinstance(node, dict):
            own = [node["verb"]] if node.get("type") == "Action.Execute" else []
            return own + [v for value in node.values() for v in walk(value)]
        if isinstance(node, list):
            return [v for item in node for v in walk(item)]
        return []
    return walk(card)


# ------------------------------------------------------------------------------------ the matrix


@pytest.mark.parametrize("verb", ALL_VERBS, ids=str)
async def test_matrix_user(store: Store, verb: Verb) -> None:
    fake = fake_tenant()
    case = await open_case(store, fake)
    reply = message_of(await chat(fake, store, PATTI).press(verb.value, {"caseId": case.id, **FULL_DATA}))
    assert ("Only IT staff" if verb in (Verb.REFRESH, Verb.SHOW_CASE) else "Only security admins") in reply
    assert [name for name, _ in fake.calls] == ["list_memberships"]  # who is it? then nothing else


@pytest.mark.parametrize("verb", ALL_VERBS, ids=str)
async def test_matrix_it_staff(store: Store, verb: Verb) -> None:
    fake = fake_tenant()
    case = await open_case(store, fake)
    response = await chat(fake, store, ISAIAH).press(verb.value, {"caseId": case.id, **FULL_DATA})
    if verb in (Verb.REFRESH, Verb.SHOW_CASE):
        card = card_of(response)
        assert "Megan Bowen" in shown(card)
        # IT staff see the findings, may write to the user and export the report, but get no remediation buttons.
        assert set(verbs_on(card)) == {Verb.REFRESH.value, Verb.SEND_NOTE.value, Verb.EXPORT_REPORT.value}
    else:
        assert "Only security admins" in message_of(response)
    assert writes(fake) == []


@pytest.mark.parametrize("verb", ALL_VERBS, ids=str)
async def test_matrix_admin(store: Store, verb: Verb) -> None:
    fake = fake_tenant()
    case = await open_case(store, fake)
    response = await chat(fake, store, ALEX).press(verb.value, {"caseId": case.id, **FULL_DATA})
    if verb == Verb.DISMISS_RISK:
        assert "judged compromised" in message_of(response)
        assert writes(fake) == []
        return
    if verb in (Verb.REMOVE_DELEGATION, Verb.REMOVE_MFA_METHOD, Verb.REVOKE_CONSENT, Verb.REMOVE_ADMIN_ROLE):
        # Megan's story has no delegate, no consent, no role gained in the window, and only an undated phone (left
        # to the MFA review): no item is recorded on the case, so no item id is accepted (tests/integration/
        # test_remediation_delegation.py, test_remediation_identity.py and test_remediation_rules.py press recorded
        # ones against the demo tenant).
        assert "not one the investigation found" in message_of(response)
        assert writes(fake) == []
        return
    if verb in policy.ACKNOWLEDGE_VERBS:
        # "Done, I checked" makes no tenant call; on a case whose investigation did not ask for it, it is refused.
        assert writes(fake) == []
        asked = {s.code for s in investigation_of(megan()).assessment.recommended_steps}
        if verb.value not in asked:
            assert "not one the investigation asked for" in message_of(response)
            return
        card_of(response)
        entries = await store.audit.list(case_id=case.id)
        assert [(e.action, e.outcome) for e in entries] == [(verb.value, "started"), (verb.value, "succeeded")]
        assert entries[0].parameters["acknowledged"] is True
        return
    card = card_of(response)
    assert "Megan Bowen" in shown(card)
    if verb in (Verb.REFRESH, Verb.SHOW_CASE):
        assert writes(fake) == []
        assert Verb.UNBLOCK.value in verbs_on(card)
        return
    assert writes(fake) == [EXPECTED_WRITE[verb]]
    entries = await store.audit.list(case_id=case.id)
    assert [(e.action, e.outcome) for e in entries] == [(verb.value, "started"), (verb.value, "succeeded")]
    assert entries[0].actor_id == ALEX.aad_object_id and entries[0].actor_name == ALEX.name
    assert entries[0].actor_upn == ALEX.upn and entries[0].tenant_id == TENANT_ID
    assert entries[0].target == MEGAN.upn and entries[0].correlation_id == entries[1].correlation_id


@pytest.mark.parametrize("verb", ALL_VERBS, ids=str)
async def test_matrix_admin_on_their_own_account(store: Store, verb: Verb) -> None:
    fake = fake_tenant(megan_is_admin=True)
    case = await open_case(store, fake)
    response = await chat(fake, store, MEGAN).press(verb.value, {"caseId": case.id, **FULL_DATA})
    if verb in (Verb.REFRESH, Verb.SHOW_CASE):
        card = card_of(response)  # reading is not acting; the card has no buttons for her own account
        assert Verb.UNBLOCK.value not in verbs_on(card)
    else:
        assert "your own account" in message_of(response)
    assert writes(fake) == []


@pytest.mark.parametrize("verb", ALL_VERBS, ids=str)
async def test_matrix_other_tenant(store: Store, verb: Verb) -> None:
    fake = fake_tenant()
    case = await open_case(store, fake)
    response = await chat(fake, store, ALEX, tenant_id=OTHER_TENANT_ID).press(
        verb.value, {"caseId": case.id, **FULL_DATA})
    assert isinstance(response, InvokeResponse) and response.status == 403
    assert fake.calls == []
    assert await store.audit.list(case_id=case.id) == []


async def test_a_case_of_another_tenant_is_unknown_here(store: Store) -> None:
    fake = fake_tenant()
    foreign = await open_case(store, fake, tenant_id=OTHER_TENANT_ID)
    reply = message_of(await chat(fake, store, ALEX).press("revoke_sessions", {"caseId": foreign.id}))
    assert "don't know this case" in reply
    for data in ({}, {"caseId": "nope"}, {"caseId": ["x"]}, {"caseId": "x" * 10_000}):
        assert "don't know this case" in message_of(await chat(fake, store, ALEX).press("unblock", data))
    assert writes(fake) == []


# ------------------------------------------------------------------------------------ the flows


async def test_destructive_actions_ask_first_and_cancel_redraws(store: Store) -> None:
    fake = fake_tenant()
    case = await open_case(store, fake)
    alex = chat(fake, store, ALEX)
    for verb in (Verb.FORCE_PASSWORD_CHANGE, Verb.BLOCK_SIGN_IN):
        card = card_of(await alex.press(verb.value, {"caseId": case.id}))
        assert "Please confirm" in shown(card) and "Megan Bowen" in shown(card)
        confirm, cancel = card["actions"]
        assert confirm["data"] == {"verb": verb.value, "caseId": case.id, "confirm": "1"}
        assert cancel["data"] == {"verb": "show_case", "caseId": case.id}
    assert writes(fake) == []
    back = card_of(await alex.press("show_case", {"caseId": case.id}))
    assert "Please confirm" not in shown(back) and Verb.FORCE_PASSWORD_CHANGE.value in verbs_on(back)
    password = "never a password"
    card_of(await alex.press("force_password_change", {"caseId": case.id, "confirm": "1", "password": password}))
    assert writes(fake) == [("force_password_change", (MEGAN.aad_object_id,))]
    assert all(password not in str(e.parameters) for e in await store.audit.list(case_id=case.id))


async def test_the_gate_holds_unblock_until_secured_or_overridden_with_a_reason(store: Store) -> None:
    fake = fake_tenant()
    case = await open_case(store, fake)
    alex = chat(fake, store, ALEX)
    card = card_of(await alex.press("unblock", {"caseId": case.id, "confirm": "1"}))
    assert "held back" in shown(card)
    # Every step the card marks "required before unblocking", and only those, is named.
    assert ("Still to do: Require a new password, Sign out everywhere, Disable inbox rule “.”, Review the MFA "
            "methods") in shown(card)
    card = card_of(await alex.press("unblock", {"caseId": case.id, "override": "1", "overrideReason": "  ",
                                                 "confirm": "1"}))
    assert "Give a reason" in shown(card)
    assert writes(fake) == []
    reason = "Password reset by phone; Megan confirmed the rules are hers"
    confirm = card_of(await alex.press("unblock", {"caseId": case.id, "override": "1", "overrideReason": reason}))
    assert confirm["actions"][0]["data"] == {"verb": "unblock", "caseId": case.id, "confirm": "1", "override": "1"}
    inputs = [e for e in confirm["body"] if e.get("type") == "Input.Text"]
    assert inputs[0]["id"] == "overrideReason" and inputs[0]["value"] == reason
    assert writes(fake) == []
    card = card_of(await alex.press("unblock", {"caseId": case.id, "override": "1", "overrideReason": reason,
                                                "confirm": "1"}))
    assert writes(fake) == [("remove_blocked_sender", (MEGAN.upn,))]
    assert "Unblocked anyway by Alex Wilber" in shown(card) and "within an hour, at most 24 hours" in shown(card)
    started, succeeded = await store.audit.list(case_id=case.id)
    assert started.parameters["override_reason"] == reason and started.parameters["override"] is True
    assert succeeded.parameters["override_reason"] == reason and succeeded.outcome == "succeeded"
    assert started.parameters["open_steps"] == ["force_password_change", "revoke_sessions",
                                                f"disable_rule:{RULE_ID}", "review_mfa_methods"]
    fresh = await store.cases.get_case(case.id)
    assert fresh is not None and fresh.status == "unblock_pending"


async def test_securing_first_lifts_the_gate(store: Store) -> None:
    fake = fake_tenant()
    case = await open_case(store, fake)
    alex = chat(fake, store, ALEX)
    card_of(await alex.press("revoke_sessions", {"caseId": case.id}))
    card = card_of(await alex.press("force_password_change", {"caseId": case.id, "confirm": "1"}))
    # Password and sign-out are not all the card calls required: the hidden rule and the MFA review are open.
    assert "Unblock anyway" in shown(card) and "Still to do: Disable inbox rule “.”, Review the MFA methods" in shown(
        card)
    card_of(await alex.press("disable_rule", {"caseId": case.id, "ruleId": RULE_ID}))
    card = card_of(await alex.press("review_mfa_methods", {"caseId": case.id}))
    assert "Unblock anyway" not in shown(card) and "required before unblocking" not in shown(card)
    assert "Signed out everywhere by Alex Wilber" in shown(card) and "MFA methods checked by Alex Wilber" in shown(card)
    assert Verb.REVOKE_SESSIONS.value not in verbs_on(card) and Verb.UNBLOCK.value in verbs_on(card)
    card_of(await alex.press("unblock", {"caseId": case.id, "confirm": "1"}))
    assert writes(fake)[-1] == ("remove_blocked_sender", (MEGAN.upn,))
    steps = (await store.cases.get_case(case.id)).steps  # type: ignore[union-attr]
    assert set(steps) == {"revoke_sessions:", "force_password_change:", f"disable_rule:{RULE_ID}",
                          "review_mfa_methods:", "unblock:"}
    assert steps["unblock:"]["by"] == ALEX.name and steps["unblock:"]["by_id"] == ALEX.aad_object_id


async def test_a_stale_card_makes_no_second_call(store: Store) -> None:
    fake = fake_tenant()
    case = await open_case(store, fake, adele())  # no gate: a bulk mailing, not a compromise
    first, second = chat(fake, store, ALEX), chat(fake, store, ALEX)
    card_of(await first.press("unblock", {"caseId": case.id, "confirm": "1"}))
    card = card_of(await second.press("unblock", {"caseId": case.id, "confirm": "1"}))
    assert "Already unblocked by Alex Wilber at" in shown(card)
    card_of(await first.press("revoke_sessions", {"caseId": case.id}))
    again = card_of(await second.press("revoke_sessions", {"caseId": case.id}))
    assert "already done by Alex Wilber" in shown(again)
    assert [name for name, _ in writes(fake)] == ["remove_blocked_sender", "revoke_sign_in_sessions"]


async def test_rule_ids_come_from_the_case_and_tampered_data_is_ignored(store: Store) -> None:
    fake = fake_tenant()
    case = await open_case(store, fake)
    alex = chat(fake, store, ALEX)
    for rule in ("AQAAAJ5dZqB=", "", 42):
        reply = message_of(await alex.press("disable_rule", {"caseId": case.id, "ruleId": rule}))
        assert "not one the investigation found" in reply
    assert writes(fake) == []
    tampered = {"caseId": case.id, "accountId": ALEX.aad_object_id, "upn": ALEX.upn, "address": ALEX.upn,
                "userId": ALEX.aad_object_id, "confirm": "1"}
    card_of(await alex.press("block_sign_in", tampered))
    card_of(await alex.press("disable_rule", {**tampered, "ruleId": RULE_ID}))
    assert writes(fake) == [("set_account_enabled", (MEGAN.aad_object_id, False)),
                            ("set_inbox_rule_enabled", (MEGAN.aad_object_id, RULE_ID, False))]


async def test_block_and_allow_sign_in_toggle(store: Store) -> None:
    fake = fake_tenant()
    # Without the sign-in log, ongoing abuse cannot be ruled out: the verdict offers the block.
    case = await open_case(store, fake, unavailable=[Unavailable(SourceName.sign_ins, UnavailableReason.throttled)])
    alex = chat(fake, store, ALEX)
    assert Verb.BLOCK_SIGN_IN.value in verbs_on(card_of(await alex.press("show_case", {"caseId": case.id})))
    blocked = card_of(await alex.press("block_sign_in", {"caseId": case.id, "confirm": "1"}))
    assert Verb.ALLOW_SIGN_IN.value in verbs_on(blocked) and Verb.BLOCK_SIGN_IN.value not in verbs_on(blocked)
    allowed = card_of(await alex.press("allow_sign_in", {"caseId": case.id}))
    assert Verb.BLOCK_SIGN_IN.value in verbs_on(allowed) and Verb.ALLOW_SIGN_IN.value not in verbs_on(allowed)
    card_of(await alex.press("block_sign_in", {"caseId": case.id, "confirm": "1"}))
    assert [args for _, args in writes(fake)] == [(MEGAN.aad_object_id, False), (MEGAN.aad_object_id, True),
                                                  (MEGAN.aad_object_id, False)]


async def test_dutch_admin_gets_dutch_cards_and_refusals(store: Store) -> None:
    fake = fake_tenant()
    case = await open_case(store, fake)
    card = card_of(await chat(fake, store, ALEX, locale="nl-NL").press("unblock", {"caseId": case.id}))
    assert "Deblokkeren wacht" in shown(card)
    reply = message_of(await chat(fake, store, ISAIAH, locale="nl-NL").press("unblock", {"caseId": case.id}))
    assert "beveiligingsbeheerders" in reply


async def test_an_upstream_failure_is_said_audited_and_can_be_retried(store: Store) -> None:
    from m365.errors import UpstreamUnavailable

    fake = fake_tenant()
    case = await open_case(store, fake)
    fake.failures["revoke_sign_in_sessions"] = UpstreamUnavailable("Service Unavailable", status=503)
    alex = chat(fake, store, ALEX)
    card = card_of(await alex.press("revoke_sessions", {"caseId": case.id}))
    assert "did not answer after several tries" in shown(card)
    assert "Sign out everywhere by Alex Wilber failed" in shown(card)
    assert Verb.REVOKE_SESSIONS.value in verbs_on(card)  # not done: the button stays
    del fake.failures["revoke_sign_in_sessions"]
    card = card_of(await alex.press("revoke_sessions", {"caseId": case.id}))
    assert "Done: Sign out everywhere." in shown(card)
    outcomes = [(e.outcome, e.error) for e in await store.audit.list(case_id=case.id) if e.outcome != "started"]
    assert outcomes == [("failed", "UpstreamUnavailable: Service Unavailable"), ("succeeded", None)]


async def test_a_block_the_verdict_did_not_offer_still_shows_with_allow(store: Store) -> None:
    fake = fake_tenant()
    case = await open_case(store, fake)
    alex = chat(fake, store, ALEX)
    assert Verb.BLOCK_SIGN_IN.value not in verbs_on(card_of(await alex.press("show_case", {"caseId": case.id})))
    card = card_of(await alex.press("block_sign_in", {"caseId": case.id, "confirm": "1"}))
    assert "☑ Block sign-in until the account is secure — done by Alex Wilber" in shown(card)
    assert Verb.ALLOW_SIGN_IN.value in verbs_on(card)


async def test_a_case_without_a_readable_snapshot_asks_for_a_refresh(store: Store) -> None:
    fake = fake_tenant()
    case = await open_case(store, fake)
    await store.cases.update_case(case.id, case.version, summary={"snapshot": {"version": 0}})
    alex = chat(fake, store, ALEX)
    card = card_of(await alex.press("show_case", {"caseId": case.id}))
    assert "Refresh to investigate the account again" in shown(card) and verbs_on(card) == ["refresh"]
    assert "Refresh the card first" in message_of(await alex.press("revoke_sessions", {"caseId": case.id}))
    assert writes(fake) == []


def test_the_confirmation_card_keeps_tenant_text_in_runs() -> None:
    from cards.findings import confirmation_card

    hostile = "**urgent** [click](https://evil.example)\u202e"
    card = confirmation_card(Verb.UNBLOCK, case_id="c1", name=hostile, upn="a@example.com", locale="en",
                             override_reason="checked <script>")
    assert_valid_card(card)
    blocks = [e for e in card["body"] if e["type"] == "TextBlock"]
    assert all("evil.example" not in b["text"] for b in blocks)
    runs = [run["text"] for block in _blocks(card) for run in block["inlines"]]
    assert "**urgent** [click](https://evil.example)" in runs  # as plain text, the bidi override removed

"""Deleting an inbox rule (not only disabling it), through the bot against the demo tenant (issue #17, item 6).

Megan Bowen's seeded intruder left two rules: "." forwards everything to exfil@mail-relay.example.net and deletes
it; ".." files payment mail out of sight and marks it read. Each rule's line offers "Disable" (the default) and
"Delete", which asks first and shows the rule's conditions and actions from the case's stored record. What the
demo tenant receives is read from its request log: the Graph DELETE on the v1.0 path (checked against the CSDL),
none for a rule already gone, a forged id, a user or a second press.
"""

from __future__ import annotations

from typing import Any

from cards.verbs import Verb
from remediation.actions import ACTIONS, Target
from remediation.views import current_steps
from tests.activities import ALEX, ISAIAH
from tests.integration.test_remediation_demo import MEGAN_ID, Demo, _all, demo  # noqa: F401 - the fixture
from tests.integration.test_remediation_policy import card_of, message_of, shown

FORWARDER = "qLRsa_Qf9bk="  # "." forwards out and deletes
HIDER = "DNT8Dh0TqB8="  # ".." files payment mail away, marked read
RULES = f"/v1.0/users/{MEGAN_ID}/mailFolders/inbox/messageRules"


def _buttons(card: dict[str, Any], verb: str) -> list[dict[str, Any]]:
    return [a for a in _all(card) if a.get("type") == "Action.Execute" and a["verb"] == verb]


def _rule_writes(demo: Demo) -> list[tuple[str, str, int]]:  # noqa: F811 - the fixture's name
    return [(r.method, r.path, r.status) for r in demo.server.state.requests
            if r.api == "graph" and r.method in ("DELETE", "PATCH") and "/messageRules" in r.path]


def _target(rule_id: str) -> Target:
    return Target(MEGAN_ID, "MeganB@example.com", "MeganB@example.com", rule_id)


async def test_each_rule_offers_delete_next_to_disable_and_asks_with_what_the_rule_does(demo: Demo) -> None:  # noqa: F811
    case = await demo.case_of("MeganB@example.com")
    alex = demo.chat(ALEX)
    card = card_of(await alex.press("show_case", {"caseId": case.id}))
    disable = [b["data"]["ruleId"] for b in _buttons(card, "disable_rule")]
    delete = [b["data"]["ruleId"] for b in _buttons(card, "delete_rule")]
    # The hidden "Mailbox Sync" has its two buttons too (tests/integration/test_remediation_hidden_rules.py).
    assert set(disable) == {FORWARDER, HIDER, "exo:6093829450386063361"} and sorted(delete) == sorted(disable)
    [button] = [b for b in _buttons(card, "delete_rule") if b["data"]["ruleId"] == FORWARDER]
    assert button["title"] == "Delete “.”" and button["style"] == "destructive"
    # The confirmation shows the conditions and actions from the stored investigation; nothing is written yet.
    confirm = card_of(await alex.press("delete_rule", {"caseId": case.id, "ruleId": FORWARDER}))
    text = shown(confirm)
    assert "Delete the inbox rule “.” of Megan Bowen (MeganB@example.com)?" in text
    assert "It has no conditions: it acts on every message." in text
    assert "Action: forwards, deletes, stops the rules after it" in text
    assert "To: exfil@mail-relay.example.net" in text
    [yes] = _buttons(confirm, "delete_rule")
    assert yes["data"] == {"verb": "delete_rule", "caseId": case.id, "ruleId": FORWARDER, "confirm": "1"}
    confirm = card_of(await alex.press("delete_rule", {"caseId": case.id, "ruleId": HIDER}))
    assert "Condition: subject or body contains: invoice, payment, wire transfer, bank details" in shown(confirm)
    assert "marks as read" in shown(confirm) and "acts on every message" not in shown(confirm)
    assert _rule_writes(demo) == []


async def test_a_deleted_rule_is_gone_recorded_and_counts_as_disabled(demo: Demo) -> None:  # noqa: F811
    case = await demo.case_of("MeganB@example.com")
    alex = demo.chat(ALEX)
    assert (await ACTIONS[Verb.DELETE_RULE].read_back(demo.tenant, _target(FORWARDER))).outcome == "failed"
    card = card_of(await alex.press("delete_rule", {"caseId": case.id, "ruleId": FORWARDER, "confirm": "1"}))
    assert "Done: Delete inbox rule." in shown(card)
    assert _rule_writes(demo) == [("DELETE", f"{RULES}/{FORWARDER}", 204)]
    # Gone for Graph and for Exchange's Get-InboxRule alike.
    assert [r.id for r in await demo.tenant.list_inbox_rules(MEGAN_ID)] == [HIDER, "-tqqQ_yjMr4="]
    assert "." not in [r.display_name for r in await demo.tenant.get_inbox_rules("MeganB@example.com")]
    # The audit keeps what the rule did: the record outlives the rule.
    entries = [e for e in await demo.store.audit.list(case_id=case.id) if e.action == "delete_rule"]
    assert [e.outcome for e in entries] == ["started", "succeeded"]
    started = entries[0].parameters
    assert (started["ruleId"], started["rule"]) == (FORWARDER, ".")
    assert ["action", "forwardTo"] in started["item_details"]
    assert ["target", "exfil@mail-relay.example.net"] in started["item_details"]
    # The line says deleted; neither of its buttons is left; the gate counts the rule as handled.
    assert "Disable inbox rule “.” — deleted by Alex Wilber" in shown(card)
    assert FORWARDER not in [b["data"]["ruleId"] for b in _buttons(card, "disable_rule") + _buttons(card,
                                                                                                     "delete_rule")]
    fresh = await demo.store.cases.get_case(case.id)
    assert fresh is not None and f"disable_rule:{FORWARDER}" in current_steps(fresh)
    assert "Rule “.” deleted by Alex Wilber" in shown(card)
    # A second press of either button (a stale card) is "already done": no request of any kind.
    before = len(demo.server.state.requests)
    for verb in ("delete_rule", "disable_rule"):
        card = card_of(await alex.press(verb, {"caseId": case.id, "ruleId": FORWARDER, "confirm": "1"}))
        assert "already done by Alex Wilber" in shown(card)
    assert len(demo.server.state.requests) == before
    assert (await ACTIONS[Verb.DELETE_RULE].read_back(demo.tenant, _target(FORWARDER))).outcome == "succeeded"


async def test_a_disabled_rule_may_still_be_deleted(demo: Demo) -> None:  # noqa: F811
    case = await demo.case_of("MeganB@example.com")
    alex = demo.chat(ALEX)
    card = card_of(await alex.press("disable_rule", {"caseId": case.id, "ruleId": HIDER}))
    assert "Disable inbox rule “..” — done by Alex Wilber" in shown(card)
    assert HIDER not in [b["data"]["ruleId"] for b in _buttons(card, "disable_rule")]
    assert HIDER in [b["data"]["ruleId"] for b in _buttons(card, "delete_rule")]
    card = card_of(await alex.press("delete_rule", {"caseId": case.id, "ruleId": HIDER, "confirm": "1"}))
    assert "Disable inbox rule “..” — deleted by Alex Wilber" in shown(card)
    assert _rule_writes(demo) == [("PATCH", f"{RULES}/{HIDER}", 200), ("DELETE", f"{RULES}/{HIDER}", 204)]


async def test_a_rule_already_gone_is_already_removed_without_a_second_call(demo: Demo) -> None:  # noqa: F811
    case = await demo.case_of("MeganB@example.com")
    # The user deleted it in Outlook after the investigation.
    rules = demo.server.state.graph["messageRules"][MEGAN_ID]
    rules[:] = [r for r in rules if r["id"] != FORWARDER]
    card = card_of(await demo.chat(ALEX).press("delete_rule", {"caseId": case.id, "ruleId": FORWARDER,
                                                               "confirm": "1"}))
    assert "Delete inbox rule: Microsoft 365 shows it is already gone" in shown(card)
    assert _rule_writes(demo) == [("DELETE", f"{RULES}/{FORWARDER}", 404)]
    entries = [e for e in await demo.store.audit.list(case_id=case.id) if e.action == "delete_rule"]
    assert [e.outcome for e in entries] == ["started", "succeeded"]
    assert entries[1].parameters["result"] == {"already_removed": True}


async def test_a_forged_rule_and_a_user_are_refused(demo: Demo) -> None:  # noqa: F811
    case = await demo.case_of("MeganB@example.com")
    alex = demo.chat(ALEX)
    # "Marketing updates" is Megan's own (the case offers no step for it); the others are not rules of the case.
    for rule in ("-tqqQ_yjMr4=", "4x8Qs2mwXu0=", f"{FORWARDER}/../x", ""):
        text = message_of(await alex.press("delete_rule", {"caseId": case.id, "ruleId": rule, "confirm": "1"}))
        assert "not one the investigation found" in text
    text = message_of(await demo.chat(ISAIAH).press("delete_rule", {"caseId": case.id, "ruleId": FORWARDER,
                                                                    "confirm": "1"}))
    assert "Only security admins" in text
    assert _rule_writes(demo) == []
    assert [e for e in await demo.store.audit.list(case_id=case.id) if e.action == "delete_rule"] == []

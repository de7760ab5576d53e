"""Disabling and deleting a HIDDEN inbox rule, through the bot against the demo tenant (issue #17, item 6).

Megan Bowen's intruder also left "Mailbox Sync", a rule hidden from Outlook and Graph (only Exchange's
`Get-InboxRule -IncludeHidden` returns it): it forwards the bank's mail to statements@mail-relay.example.net and
deletes it. Graph cannot address it, so the case names it by Exchange's RuleIdentity (`exo:<RuleIdentity>`) and the
buttons go to Exchange: `Disable-InboxRule` / `Remove-InboxRule -Mailbox <UPN> -Identity <RuleIdentity>
-Confirm:$false`. What the demo tenant received is read from its request log.
"""

from __future__ import annotations

from typing import Any

from cards.verbs import Verb
from remediation.actions import ACTIONS, Target
from remediation.views import current_steps
from tests.activities import ALEX, ISAIAH
from tests.integration.test_remediation_demo import MEGAN_ID, Demo, _all, demo  # noqa: F401 - the fixture
from tests.integration.test_remediation_policy import card_of, message_of, shown

MEGAN = "MeganB@example.com"
RULE_IDENTITY = "6093829450386063361"
HIDDEN = f"exo:{RULE_IDENTITY}"  # "Mailbox Sync", hidden from Graph
EXPECTED_PARAMETERS = {"Identity": RULE_IDENTITY, "Mailbox": MEGAN, "Confirm": False}


def _buttons(card: dict[str, Any], verb: str) -> list[dict[str, Any]]:
    return [a for a in _all(card) if a.get("type") == "Action.Execute" and a["verb"] == verb]


def _rule_writes(demo: Demo) -> list[tuple[str, dict[str, Any], int]]:  # noqa: F811 - the fixture's name
    """Every inbox-rule write the demo tenant received, Exchange's and Graph's."""
    exchange = [(r.cmdlet or "", dict(r.parameters or {}), r.status) for r in demo.server.state.requests
                if r.api == "exchange" and r.cmdlet in ("Disable-InboxRule", "Remove-InboxRule")]
    graph: list[tuple[str, dict[str, Any], int]] = [(r.method, {}, r.status) for r in demo.server.state.requests
             if r.api == "graph" and r.method in ("DELETE", "PATCH") and "/messageRules" in r.path]
    return exchange + graph


def _target() -> Target:
    return Target(MEGAN_ID, MEGAN, MEGAN, HIDDEN)


async def _hidden_rule(demo: Demo) -> Any:  # noqa: F811
    """The hidden rule as Exchange returns it now, or None when it is gone."""
    return next((r for r in await demo.tenant.get_inbox_rules(MEGAN) if r.rule_identity == RULE_IDENTITY), None)


async def test_the_hidden_rule_gets_disable_and_delete_buttons_and_is_required(demo: Demo) -> None:  # noqa: F811
    case = await demo.case_of(MEGAN)
    alex = demo.chat(ALEX)
    card = card_of(await alex.press("show_case", {"caseId": case.id}))
    [disable] = [b for b in _buttons(card, "disable_rule") if b["data"]["ruleId"] == HIDDEN]
    [delete] = [b for b in _buttons(card, "delete_rule") if b["data"]["ruleId"] == HIDDEN]
    assert disable["title"] == "Disable “Mailbox Sync”" and delete["title"] == "Delete “Mailbox Sync”"
    assert delete["style"] == "destructive"
    # Required before unblocking, like a Graph rule of a compromised account.
    card = card_of(await alex.press("unblock", {"caseId": case.id, "confirm": "1"}))
    assert "held back" in shown(card) and "Disable inbox rule “Mailbox Sync”" in shown(card)
    assert _rule_writes(demo) == []


async def test_disable_goes_to_exchange_and_reads_back_disabled(demo: Demo) -> None:  # noqa: F811
    case = await demo.case_of(MEGAN)
    alex = demo.chat(ALEX)
    assert (await ACTIONS[Verb.DISABLE_RULE].read_back(demo.tenant, _target())).outcome == "failed"
    card = card_of(await alex.press("disable_rule", {"caseId": case.id, "ruleId": HIDDEN}))
    assert "Disable inbox rule “Mailbox Sync” — done by Alex Wilber" in shown(card)
    assert _rule_writes(demo) == [("Disable-InboxRule", EXPECTED_PARAMETERS, 200)]
    rule = await _hidden_rule(demo)
    assert rule is not None and rule.is_enabled is False and rule.display_name == "Mailbox Sync"
    assert (await ACTIONS[Verb.DISABLE_RULE].read_back(demo.tenant, _target())).outcome == "succeeded"
    entries = [e for e in await demo.store.audit.list(case_id=case.id) if e.action == "disable_rule"]
    assert [e.outcome for e in entries] == ["started", "succeeded"]
    assert (entries[0].parameters["ruleId"], entries[0].parameters["rule"]) == (HIDDEN, "Mailbox Sync")
    # The disable button is gone, the delete button stays; a second press (a stale card) is "already done".
    assert HIDDEN not in [b["data"]["ruleId"] for b in _buttons(card, "disable_rule")]
    assert HIDDEN in [b["data"]["ruleId"] for b in _buttons(card, "delete_rule")]
    before = len(demo.server.state.requests)
    card = card_of(await alex.press("disable_rule", {"caseId": case.id, "ruleId": HIDDEN}))
    assert "already done by Alex Wilber" in shown(card)
    assert len(demo.server.state.requests) == before


async def test_delete_asks_with_what_the_rule_does_then_removes_it_in_exchange(demo: Demo) -> None:  # noqa: F811
    case = await demo.case_of(MEGAN)
    alex = demo.chat(ALEX)
    confirm = card_of(await alex.press("delete_rule", {"caseId": case.id, "ruleId": HIDDEN}))
    text = shown(confirm)
    assert "Delete the inbox rule “Mailbox Sync” of Megan Bowen (MeganB@example.com)?" in text
    assert "r.dekker@northwind-bank.example" in text and "To: statements@mail-relay.example.net" in text
    assert "forwards" in text and "deletes" in text
    [yes] = _buttons(confirm, "delete_rule")
    assert yes["data"] == {"verb": "delete_rule", "caseId": case.id, "ruleId": HIDDEN, "confirm": "1"}
    assert _rule_writes(demo) == []

    card = card_of(await alex.press("delete_rule", {"caseId": case.id, "ruleId": HIDDEN, "confirm": "1"}))
    assert "Done: Delete inbox rule." in shown(card)
    assert _rule_writes(demo) == [("Remove-InboxRule", EXPECTED_PARAMETERS, 200)]
    assert await _hidden_rule(demo) is None
    assert (await ACTIONS[Verb.DELETE_RULE].read_back(demo.tenant, _target())).outcome == "succeeded"
    # The audit keeps what the rule did; the disable step counts as done.
    entries = [e for e in await demo.store.audit.list(case_id=case.id) if e.action == "delete_rule"]
    assert [e.outcome for e in entries] == ["started", "succeeded"]
    assert ["target", "statements@mail-relay.example.net"] in entries[0].parameters["item_details"]
    assert "Disable inbox rule “Mailbox Sync” — deleted by Alex Wilber" in shown(card)
    fresh = await demo.store.cases.get_case(case.id)
    assert fresh is not None and f"disable_rule:{HIDDEN}" in current_steps(fresh)
    # A second press of either button is "already done": no request of any kind.
    before = len(demo.server.state.requests)
    for verb in ("delete_rule", "disable_rule"):
        card = card_of(await alex.press(verb, {"caseId": case.id, "ruleId": HIDDEN, "confirm": "1"}))
        assert "already done by Alex Wilber" in shown(card)
    assert len(demo.server.state.requests) == before


async def test_a_hidden_rule_already_gone_is_already_removed_without_a_second_call(demo: Demo) -> None:  # noqa: F811
    case = await demo.case_of(MEGAN)
    # Someone removed it in Exchange after the investigation.
    rules = demo.server.state.exchange["Get-InboxRule -IncludeHidden"][MEGAN]
    rules[:] = [r for r in rules if r["RuleIdentity"] != RULE_IDENTITY]
    card = card_of(await demo.chat(ALEX).press("delete_rule", {"caseId": case.id, "ruleId": HIDDEN, "confirm": "1"}))
    assert "Delete inbox rule: Microsoft 365 shows it is already gone" in shown(card)
    # Exchange's ManagementObjectNotFoundException ("couldn't be found") for the one attempt; nothing after it.
    assert _rule_writes(demo) == [("Remove-InboxRule", EXPECTED_PARAMETERS, 404)]
    entries = [e for e in await demo.store.audit.list(case_id=case.id) if e.action == "delete_rule"]
    assert [e.outcome for e in entries] == ["started", "succeeded"]
    assert entries[1].parameters["result"] == {"already_removed": True}
    fresh = await demo.store.cases.get_case(case.id)
    assert fresh is not None and f"disable_rule:{HIDDEN}" in current_steps(fresh)


async def test_a_forged_exchange_rule_id_and_it_staff_are_refused(demo: Demo) -> None:  # noqa: F811
    case = await demo.case_of(MEGAN)
    alex = demo.chat(ALEX)
    # Outlook's own hidden "Junk E-Mail Rule" is no step of the case; the others are not rule ids it recorded.
    for rule in ("exo:1116977263209807873", "exo:6093829450386063362", f"{HIDDEN}\\x", f"MeganB\\{RULE_IDENTITY}",
                 RULE_IDENTITY, "exo:", "exo:-1"):
        for verb, extra in (("disable_rule", {}), ("delete_rule", {"confirm": "1"})):
            text = message_of(await alex.press(verb, {"caseId": case.id, "ruleId": rule, **extra}))
            assert "not one the investigation found" in text
    for verb, extra in (("disable_rule", {}), ("delete_rule", {"confirm": "1"})):
        text = message_of(await demo.chat(ISAIAH).press(verb, {"caseId": case.id, "ruleId": HIDDEN, **extra}))
        assert "Only security admins" in text
    assert _rule_writes(demo) == []
    assert [e for e in await demo.store.audit.list(case_id=case.id) if e.action in ("delete_rule", "disable_rule")] \
        == []
    rule = await _hidden_rule(demo)
    assert rule is not None and rule.is_enabled

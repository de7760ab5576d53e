"""A rule hidden from Graph is addressed by Exchange's RuleIdentity (`exo:<RuleIdentity>`): the id is strict, the
investigation gives it to hidden-rule findings, the verdict offers their disable step, and the two rule actions send
an `exo:` id to Exchange and any other id to Graph."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cards.verbs import Verb
from investigation.indicators import hidden_rules, rule_forwarding
from investigation.verdict import assess
from m365.records import InboxRule, exchange_rule_identity
from remediation.actions import ACTIONS, Target
from tests.fakes import FakeTenant
from tests.unit.test_indicators import make_evidence

UPN = "AdeleV@example.com"
USER_ID = "87d349ed-44d7-43e1-9a83-5f2406dee5bd"


def _hidden(**changes: object) -> InboxRule:
    values: dict[str, object] = {"id": "", "display_name": "Mailbox Sync", "rule_identity": "6093829450386063361",
                                 "source": "exchange", "hidden": True}
    values.update(changes)
    return InboxRule(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(("item_id", "expected"), [
    ("exo:6093829450386063361", "6093829450386063361"),
    ("exo:18446744073709551615", "18446744073709551615"),  # UInt64's largest
    ("AQAAAJ5dZqA=", None),  # a Graph id
    ("", None),
    (None, None),
])
def test_an_exchange_rule_id_names_a_rule_identity(item_id: str | None, expected: str | None) -> None:
    assert exchange_rule_identity(item_id) == expected


@pytest.mark.parametrize("item_id", [
    "exo:", "exo:18446744073709551616", "exo:-1", "exo:0", "exo:012", "exo:12 ", "exo:1\\2", "exo:MeganB\\12",
    "exo:١٢٣", "exo:12;Remove-Mailbox",
])
def test_anything_else_after_exo_is_refused(item_id: str) -> None:
    with pytest.raises(ValueError, match="RuleIdentity"):
        exchange_rule_identity(item_id)


def test_a_rule_gets_graphs_id_else_its_exchange_id() -> None:
    assert _hidden().item_id == "exo:6093829450386063361"
    assert _hidden(id="AQAAAJ5dZqA=", source="both").item_id == "AQAAAJ5dZqA="
    assert _hidden(rule_identity=None).item_id == ""
    assert _hidden(rule_identity="MeganB\\1").item_id == ""  # never a malformed id on a button


async def test_disable_and_delete_go_to_exchange_for_an_exo_id_and_to_graph_otherwise() -> None:
    tenant = FakeTenant(exchange_rules={UPN.lower(): [_hidden(), _hidden(display_name="x", rule_identity="7")]})
    hidden = Target(USER_ID, UPN, UPN, "exo:6093829450386063361", "Mailbox Sync")
    await ACTIONS[Verb.DISABLE_RULE].run(tenant, hidden)
    assert tenant.called("disable_exchange_inbox_rule") == [(UPN, "6093829450386063361")]
    assert tenant.exchange_rules[UPN.lower()][0].is_enabled is False
    await ACTIONS[Verb.DELETE_RULE].run(tenant, Target(USER_ID, UPN, UPN, "exo:7", "x"))
    assert tenant.called("remove_exchange_inbox_rule") == [(UPN, "7")]
    assert [r.rule_identity for r in tenant.exchange_rules[UPN.lower()]] == ["6093829450386063361"]
    assert tenant.called("set_inbox_rule_enabled") == tenant.called("delete_inbox_rule") == []

    graph = FakeTenant(rules={USER_ID: [InboxRule("r1", "x")]})
    await ACTIONS[Verb.DISABLE_RULE].run(graph, Target(USER_ID, UPN, UPN, "r1", "x"))
    await ACTIONS[Verb.DELETE_RULE].run(graph, Target(USER_ID, UPN, UPN, "r1", "x"))
    assert graph.called("set_inbox_rule_enabled") == [(USER_ID, "r1", False)]
    assert graph.called("delete_inbox_rule") == [(USER_ID, "r1")]
    assert graph.called("disable_exchange_inbox_rule") == graph.called("remove_exchange_inbox_rule") == []


def test_hidden_rule_findings_carry_the_exchange_id_and_the_verdict_offers_their_step() -> None:
    # One hidden rule forwarding out (rule_forwarding), one forwarding inside the tenant (only hidden_rules finds it).
    out = _hidden(forward_to=("statements@mail-relay.example.net",))
    inside = _hidden(display_name="Sync", rule_identity="7", forward_to=("boss@example.com",))
    evidence = replace(make_evidence(), inbox_rules=(out, inside))
    assert [f.rule_id for f in rule_forwarding(evidence)] == ["exo:6093829450386063361"]
    assert [f.rule_id for f in hidden_rules(evidence)] == ["exo:7"]
    findings = [*rule_forwarding(evidence), *hidden_rules(evidence)]
    steps = [s for s in assess(evidence, findings).recommended_steps if s.code == "disable_rule"]
    assert [(s.target_id, s.params["rule"]) for s in steps] == [("exo:6093829450386063361", "Mailbox Sync"),
                                                               ("exo:7", "Sync")]

"""The Exchange cmdlet table (demo_tenant/cmdlets.py) against the client, and the merge of Graph and Exchange rules."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest

from demo_tenant.cmdlets import ALL_SETS, CMDLETS, cmdlet
from demo_tenant.exchange import HIDDEN_RULES_SECTION, _bind
from demo_tenant.permissions import EXCHANGE_CMDLET_ROLES
from investigation.rules import is_outlook_junk_rule, merge_rules
from m365.exchange import CMDLET_ROLES
from m365.records import InboxRule

ROOT = Path(__file__).resolve().parents[2]
SEED = json.loads((ROOT / "demo_tenant" / "seeds" / "contoso.json").read_text(encoding="utf-8"))
# Every role name the client's hints may use; the table must accept each one the hint names.
KNOWN_ROLES = ("Global Administrator", "Exchange Administrator", "Organization Management", "Security Administrator",
               "Security Reader", "Global Reader", "View-Only Organization Management",
               "Exchange Recipient Administrator", "Recipient Management")


def _client_calls() -> dict[str, set[str]]:
    """Each cmdlet m365/exchange.py invokes, with the parameter names it can send (read from its source)."""
    tree = ast.parse((ROOT / "m365" / "exchange.py").read_text(encoding="utf-8"))
    calls: dict[str, set[str]] = {}
    for func in (n for n in ast.walk(tree) if isinstance(n, ast.AsyncFunctionDef)):
        names: set[str] = set()
        for node in ast.walk(func):
            if isinstance(node, ast.Dict):
                names |= {k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}
            if (isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store)
                    and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str)):
                names.add(node.slice.value)
        for node in ast.walk(func):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "invoke"
                    and node.args and isinstance(node.args[0], ast.Constant)):
                calls.setdefault(str(node.args[0].value), set()).update(names)
    return calls


def test_every_cmdlet_the_client_runs_is_in_the_table_with_only_parameters_it_has() -> None:
    calls = _client_calls()
    assert {"Get-BlockedSenderAddress", "Remove-BlockedSenderAddress", "Get-Mailbox", "Get-CASMailbox",
            "Set-Mailbox", "Get-InboxRule"} <= set(calls)
    for name, parameters in calls.items():
        spec = CMDLETS[name]
        for parameter in parameters - {"CmdletInput", "CmdletName", "Parameters"}:
            assert spec.parameter(parameter) is not None, f"the client sends -{parameter} to {name}"


def test_remove_blocked_sender_address_has_sender_address_and_reason_only() -> None:
    spec = CMDLETS["Remove-BlockedSenderAddress"]
    assert [(p.name, p.type, p.mandatory) for p in spec.parameters] == [
        ("SenderAddress", "SmtpAddress", True), ("Reason", "String", False)]
    assert spec.parameter("Confirm") is None and spec.parameter("WhatIf") is None
    assert CMDLETS["Set-Mailbox"].parameter("confirm") is not None  # the reference lists it there


def test_get_inbox_rule_roles_follow_the_reference_note() -> None:
    # "This cmdlet doesn't work for members of View-Only Organization Management ... or the Global Reader role".
    roles = CMDLETS["Get-InboxRule"].roles
    assert "Global Reader" not in roles and "View-Only Organization Management" not in roles
    assert "Exchange Administrator" in roles
    assert "Global Reader" in CMDLETS["Get-BlockedSenderAddress"].roles


def test_permissions_come_from_the_one_table() -> None:
    assert EXCHANGE_CMDLET_ROLES == {name: spec.roles for name, spec in CMDLETS.items()}


@pytest.mark.parametrize("name", sorted(CMDLET_ROLES))
def test_client_role_hints_name_roles_the_table_accepts(name: str) -> None:
    hint = CMDLET_ROLES[name]
    named = [role for role in KNOWN_ROLES if re.search(rf"\b{re.escape(role)}\b", hint)]
    assert named, hint
    for role in named:
        assert role in CMDLETS[name].roles, f"{name}: the hint names {role}, which the reference does not allow"


def test_every_parameter_names_a_declared_set() -> None:
    for spec in CMDLETS.values():
        assert spec.source and spec.roles
        for parameter in spec.parameters:
            assert all(s == ALL_SETS or s in spec.parameter_sets for s in parameter.sets), (spec.name, parameter)


def test_every_seeded_exchange_object_carries_only_output_properties() -> None:
    sections: dict[str, list[Any]] = {
        "Get-BlockedSenderAddress": SEED["exchange"]["Get-BlockedSenderAddress"],
        "Get-Mailbox": SEED["exchange"]["Get-Mailbox"],
        "Get-CASMailbox": SEED["exchange"]["Get-CASMailbox"],
        "Get-InboxRule": [r for key in ("Get-InboxRule", HIDDEN_RULES_SECTION)
                          for rules in SEED["exchange"][key].values() for r in rules],
        "Get-HostedOutboundSpamFilterPolicy": SEED["exchange"].get("Get-HostedOutboundSpamFilterPolicy", []),
    }
    for name, objects in sections.items():
        allowed = set(CMDLETS[name].output)
        for obj in objects:
            assert set(obj) <= allowed, (name, set(obj) - allowed)


def test_binding_is_case_insensitive_and_refuses_what_the_reference_lacks() -> None:
    from demo_tenant.apitypes import ApiError

    spec = cmdlet("remove-blockedsenderaddress")
    assert spec is not None and spec.name == "Remove-BlockedSenderAddress"
    assert _bind(spec, {"senderaddress": "a@b.c"}) == {"SenderAddress": "a@b.c"}
    with pytest.raises(ApiError) as refused:
        _bind(spec, {"SenderAddress": "a@b.c", "Confirm": False})
    assert refused.value.status == 400
    assert refused.value.message == ("|System.Management.Automation.ParameterBindingException|A parameter cannot be "
                                     "found that matches parameter name 'Confirm'.")
    with pytest.raises(ApiError) as missing:
        _bind(spec, {"Reason": "x"})
    assert missing.value.message.endswith("missing mandatory parameters: SenderAddress.")
    mailbox = CMDLETS["Get-Mailbox"]
    with pytest.raises(ApiError) as sets:
        _bind(mailbox, {"Identity": "x", "Anr": "y"})
    assert "Parameter set cannot be resolved" in sets.value.message
    with pytest.raises(ApiError):
        _bind(CMDLETS["Get-InboxRule"], {"Mailbox": "x", "IncludeHidden": "sometimes"})
    assert _bind(CMDLETS["Get-InboxRule"], {"Mailbox": "x", "IncludeHidden": True})["IncludeHidden"] is True


# --- merging Graph's rules with Exchange's ------------------------------------------------------------------


def graph_rule(rule_id: str, name: str, sequence: int, **kw: Any) -> InboxRule:
    return InboxRule(id=rule_id, display_name=name, sequence=sequence, **kw)


def exchange_rule(identity: str, name: str, priority: int, **extra: Any) -> InboxRule:
    return InboxRule.from_exchange({"Name": name, "RuleIdentity": identity, "Priority": priority, "Enabled": True,
                                    **extra})


def test_from_exchange_reads_recipients_folders_and_conditions() -> None:
    rule = exchange_rule("42", "Sync", 4, ForwardTo=['"Eve" [SMTP:eve@evil.example]', "bob@example.com"],
                         RedirectTo=None, DeleteMessage=True, MoveToFolder="Megan Bowen:\\RSS Subscriptions",
                         From=['"Bank" [SMTP:desk@bank.example]'], SubjectOrBodyContainsWords=["wire"])
    assert rule.forward_to == ("eve@evil.example", "bob@example.com")
    assert rule.delete and rule.move_to_folder == "RSS Subscriptions"
    assert rule.rule_identity == "42" and rule.source == "exchange" and rule.id == "" and not rule.hidden
    assert rule.conditions == {"fromAddresses": ["desk@bank.example"], "bodyOrSubjectContains": ["wire"]}


def test_merge_pairs_by_name_and_marks_what_only_exchange_returned_hidden() -> None:
    graph = [graph_rule("g2", "..", 2), graph_rule("g1", ".", 1), graph_rule("g3", "Marketing", 3)]
    exchange = [exchange_rule("1", ".", 1), exchange_rule("2", "..", 2), exchange_rule("3", "marketing ", 3),
                exchange_rule("9", "Mailbox Sync", 4)]
    merged = merge_rules(graph, exchange)
    assert merged is not None
    assert [(r.id, r.display_name, r.rule_identity, r.hidden, r.source) for r in merged] == [
        ("g1", ".", "1", False, "both"), ("g2", "..", "2", False, "both"), ("g3", "Marketing", "3", False, "both"),
        ("", "Mailbox Sync", "9", True, "exchange")]


def test_merge_keeps_each_rule_once_when_names_repeat() -> None:
    graph = [graph_rule("a", "Move", 1), graph_rule("b", "Move", 5)]
    exchange = [exchange_rule("5", "Move", 5), exchange_rule("1", "Move", 1), exchange_rule("7", "Move", 7)]
    merged = merge_rules(graph, exchange)
    assert merged is not None
    assert [(r.id, r.rule_identity, r.hidden) for r in merged] == [("a", "1", False), ("b", "5", False),
                                                                    ("", "7", True)]


def test_merge_when_one_side_is_missing() -> None:
    graph = (graph_rule("g1", "x", 1),)
    assert merge_rules(graph, None) == graph
    assert merge_rules(None, None) is None
    only_exchange = merge_rules(None, [exchange_rule("1", "x", 1)])
    assert only_exchange is not None and not only_exchange[0].hidden
    assert merge_rules([], [exchange_rule("1", "x", 1)]) == (
        InboxRule(id="", display_name="x", sequence=1, rule_identity="1", source="exchange", hidden=True),)


def test_outlook_junk_rule_is_recognised_only_without_actions() -> None:
    assert is_outlook_junk_rule(exchange_rule("1", "Junk E-Mail Rule", 9))
    assert not is_outlook_junk_rule(exchange_rule("1", "Junk E-Mail Rule", 9, ForwardTo=["x@evil.example"]))

"""Exchange as Microsoft documents it, over HTTPS against the demo tenant: the cmdlet table enforced, and the hidden
inbox rule in the seed found, merged with Graph's rules and shown on Megan's findings card."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cards.findings import findings_card
from demo_tenant import FaultRule
from demo_tenant.cmdlets import CMDLETS
from investigation.collect import Investigation
from investigation.evidence import SourceName, UnavailableReason
from investigation.resolve import resolve_account
from investigation.service import Investigations
from locales import t
from m365.errors import BadRequest, PermissionDenied
from m365.exchange import CMDLET_ROLES
from tests.cardschema import assert_valid_card, lines
from tests.demo_stack import DemoStack

MEGAN = "MeganB@example.com"
HIDDEN = "Mailbox Sync"


async def raw(stack: DemoStack, cmdlet: str, parameters: dict[str, Any]) -> tuple[int, Any]:
    """POST InvokeCommand as the client does (token, anchor) and return the status and Exchange's body as sent."""
    exchange = stack.tenant.exchange
    token = await exchange._transport.tokens.token(exchange._transport.scope)  # noqa: SLF001
    headers = {"Authorization": f"Bearer {token}", "X-AnchorMailbox": await exchange.anchor_mailbox()}
    body = {"CmdletInput": {"CmdletName": cmdlet, "Parameters": parameters}}
    async with stack.session.post(str(exchange.endpoint), json=body, headers=headers) as response:
        return response.status, json.loads(await response.text())


async def test_an_unknown_parameter_is_refused_as_powershell_refuses_it(stack: DemoStack) -> None:
    status, body = await raw(stack, "Remove-BlockedSenderAddress", {"SenderAddress": MEGAN, "Confirm": False})
    assert status == 400
    assert body == {"error": {"code": "BadRequest", "message": (
        "|System.Management.Automation.ParameterBindingException|A parameter cannot be found that matches "
        "parameter name 'Confirm'.")}}
    # Nothing was unblocked.
    assert [b.sender_address for b in await stack.tenant.list_blocked_senders()].count(MEGAN) == 1
    status, body = await raw(stack, "Remove-BlockedSenderAddress", {"Reason": "x"})
    assert status == 400 and body["error"]["message"].endswith(
        "Cannot process command because of one or more missing mandatory parameters: SenderAddress.")
    status, body = await raw(stack, "Get-Mailbox", {"Identity": MEGAN, "Anr": "Meg"})
    assert status == 400 and "Parameter set cannot be resolved" in body["error"]["message"]
    with pytest.raises(BadRequest, match="matches parameter name 'WhatIf'"):
        await stack.tenant.exchange.invoke("Remove-BlockedSenderAddress", {"SenderAddress": MEGAN, "WhatIf": True})


async def test_a_role_that_may_not_run_the_cmdlet_is_refused(stack: DemoStack) -> None:
    stack.server.state.app["exchangeRoles"] = ["Global Reader"]
    # Global Reader may read mailboxes, not inbox rules ("This cmdlet doesn't work for ... the Global Reader role").
    assert await stack.tenant.get_mailbox(MEGAN) is not None
    status, body = await raw(stack, "Get-InboxRule", {"Mailbox": MEGAN})
    assert status == 401
    assert body == {"error": {"code": "Unauthorized", "message": "User is not allowed to call Get-InboxRule"}}
    with pytest.raises(PermissionDenied) as denied:
        await stack.tenant.get_inbox_rules(MEGAN)
    assert denied.value.permission == CMDLET_ROLES["Get-InboxRule"]
    with pytest.raises(PermissionDenied):
        await stack.tenant.remove_blocked_sender(MEGAN)


async def test_hidden_rules_only_with_include_hidden(stack: DemoStack) -> None:
    status, plain = await raw(stack, "Get-InboxRule", {"Mailbox": MEGAN})
    assert status == 200
    status, everything = await raw(stack, "Get-InboxRule", {"Mailbox": MEGAN, "IncludeHidden": True})
    assert status == 200
    plain_names = [r["Name"] for r in plain["value"]]
    all_names = [r["Name"] for r in everything["value"]]
    assert HIDDEN not in plain_names and "Junk E-Mail Rule" not in plain_names
    assert all_names == plain_names + [HIDDEN, "Junk E-Mail Rule"]
    status, off = await raw(stack, "Get-InboxRule", {"Mailbox": MEGAN, "IncludeHidden": False})
    assert [r["Name"] for r in off["value"]] == plain_names
    allowed = set(CMDLETS["Get-InboxRule"].output)
    assert all(set(r) <= allowed for r in everything["value"])
    # The typed client asks for them, and Graph's messageRules never return the hidden one.
    rules = await stack.tenant.get_inbox_rules(MEGAN)
    hidden = next(r for r in rules if r.display_name == HIDDEN)
    assert hidden.forward_to == ("statements@mail-relay.example.net",) and hidden.delete
    user = await stack.tenant.get_user(MEGAN)
    assert user is not None
    assert HIDDEN not in [r.display_name for r in await stack.tenant.list_inbox_rules(user.id)]
    calls = stack.requests(api="exchange", cmdlet="Get-InboxRule")
    assert calls[-1].parameters == {"Mailbox": MEGAN, "IncludeHidden": True}


async def investigate(stack: DemoStack) -> Investigation:
    resolution = await resolve_account(stack.tenant, MEGAN)
    return await stack.collector().investigate(resolution.user)


async def test_the_hidden_rule_is_found_merged_and_shown_on_megans_card(stack: DemoStack) -> None:
    megan = await investigate(stack)
    rules = megan.evidence.inbox_rules
    assert rules is not None
    names = [r.display_name for r in rules]
    assert names.count(HIDDEN) == 1 and names.count(".") == 1  # each rule once
    assert [r.display_name for r in rules if r.hidden] == [HIDDEN, "Junk E-Mail Rule"]
    assert all(r.rule_identity for r in rules) and all(r.id for r in rules if not r.hidden)
    hidden_findings = [f for f in megan.findings if ("marker", "hidden_rule") in f.evidence]
    assert {f.code for f in hidden_findings} == {"rule_forwards_external", "rule_hides_mail"}
    # No Graph id: the rule is addressed by Exchange's RuleIdentity (`exo:`), through Disable-/Remove-InboxRule.
    assert all(f.params["rule"] == HIDDEN and f.severity.value == "high" and f.rule_id == "exo:6093829450386063361"
               for f in hidden_findings)
    # Outlook's own hidden junk rule is no finding.
    assert not [f for f in megan.findings if f.params.get("rule") == "Junk E-Mail Rule"]
    card = findings_card(megan, case_id="case-1", viewer_can_act=True, locale="en-US", time_zone="Europe/Amsterdam")
    assert_valid_card(card)
    shown = "\n".join(lines(card))
    assert HIDDEN in shown and "statements@mail-relay.example.net" in shown
    assert t("en", "marker.hidden_rule") in shown
    nl = "\n".join(lines(findings_card(megan, case_id="case-1", viewer_can_act=False, locale="nl-NL")))
    assert t("nl", "marker.hidden_rule") in nl


async def test_tenant_text_in_a_hidden_rule_stays_inert(stack: DemoStack) -> None:
    rule = stack.server.state.exchange["Get-InboxRule -IncludeHidden"][MEGAN][0]
    rule["Name"] = "[click](https://evil.example) **now**"
    megan = await investigate(stack)
    card = findings_card(megan, case_id="case-1", viewer_can_act=True, locale="en-US")
    assert_valid_card(card)
    carrying: list[dict[str, Any]] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str) and "evil" in node["text"]:
                carrying.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(card)
    assert carrying, "the rule's name is on the card"
    # Raw only where Teams renders no Markdown (a TextRun); anywhere else the link syntax must be escaped.
    for node in carrying:
        assert node.get("type") == "TextRun" or "[click](https" not in node["text"], node


async def test_without_exchange_the_graph_rules_stand_and_hidden_rules_are_not_checked(stack: DemoStack) -> None:
    stack.server.state.faults.add(FaultRule(match=r"^InvokeCommand:Get-InboxRule$", status=503, count=1000))
    megan = await investigate(stack)
    rules = megan.evidence.inbox_rules
    names = [r.display_name for r in rules or ()]
    assert rules is not None and HIDDEN not in names and "." in names
    assert {f.code for f in megan.findings} >= {"rule_forwards_external", "rule_hides_mail"}
    missing = megan.evidence.unavailable_reason(SourceName.hidden_inbox_rules)
    assert missing is not None and missing.reason_code == UnavailableReason.error
    shown = lines(findings_card(megan, case_id="case-1", viewer_can_act=True, locale="en-US"))
    assert any(x.startswith(t("en", "source.hidden_inbox_rules") + ": ") for x in shown)


async def test_the_outbreak_path_finds_the_hidden_rule_too(stack: DemoStack) -> None:
    resolution = await resolve_account(stack.tenant, MEGAN)
    results = await Investigations(stack.tenant).investigate_many([resolution.user])
    megan = results[resolution.user.id]
    assert [r.display_name for r in megan.evidence.inbox_rules or () if r.hidden] == [HIDDEN, "Junk E-Mail Rule"]
    single = await investigate(stack)
    assert sorted(f.code for f in megan.findings) == sorted(f.code for f in single.findings)


async def test_the_client_sends_only_parameters_the_reference_lists(stack: DemoStack) -> None:
    await investigate(stack)
    await stack.tenant.remove_mailbox_forwarding("PattiF@example.com")
    await stack.tenant.remove_blocked_sender("PattiF@example.com")
    records = stack.requests(api="exchange")
    assert {r.cmdlet for r in records} >= {"Get-BlockedSenderAddress", "Get-Mailbox", "Get-CASMailbox",
                                           "Get-InboxRule", "Set-Mailbox", "Remove-BlockedSenderAddress"}
    for record in records:
        assert record.status == 200, (record.cmdlet, record.parameters, record.status)
        spec = CMDLETS[str(record.cmdlet)]
        assert all(spec.parameter(p) is not None for p in record.parameters or {})


async def test_a_role_without_get_inbox_rule_leaves_hidden_rules_not_checked(stack: DemoStack) -> None:
    stack.server.state.app["exchangeRoles"] = ["Security Administrator"]
    megan = await investigate(stack)
    missing = megan.evidence.unavailable_reason(SourceName.hidden_inbox_rules)
    assert missing is not None and missing.reason_code == UnavailableReason.permission
    assert "Exchange Administrator" in missing.detail

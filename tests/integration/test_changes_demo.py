"""Changes and tenant-wide traps over HTTPS against the demo tenant: Search-UnifiedAuditLog and Get-TransportRule as
the reference lists them, Graph's tenant-wide directoryAudits read within v1.0, the seed's stories (a rule created and
removed again on Megan's mailbox, forwarding set by Grady, a Bcc transport rule and an app with a secret and
Mail.Read made from Megan's account; an old disclaimer rule and an old app that stay quiet) reaching the findings,
the card, the outbreak path and `python -m investigation --json`, and a missing role leaving the source
"not checked"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cards.findings import findings_card
from demo_tenant.cmdlets import CMDLETS
from investigation.collect import Investigation
from investigation.evidence import SourceName, UnavailableReason
from investigation.resolve import resolve_account
from investigation.service import Investigations
from investigation.verdict import Verdict
from locales import t
from tests.cardschema import assert_valid_card, lines
from tests.demo_stack import DemoStack, investigate_account
from tests.integration.test_investigation_inputs import run_cli

MEGAN = "MeganB@example.com"
ADELE = "AdeleV@example.com"
CHANGE_SOURCES = (SourceName.mailbox_audit, SourceName.transport_rules, SourceName.app_changes)


async def investigate(stack: DemoStack, upn: str) -> Investigation:
    return await investigate_account(stack, upn)


def ours(investigation: Investigation) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for finding in investigation.findings:
        if finding.source in CHANGE_SOURCES:
            out.setdefault(finding.code, []).append(finding.severity.value)
    return out


async def test_the_reads_are_what_microsoft_documents(stack: DemoStack) -> None:
    megan = await investigate(stack, MEGAN)
    assert all(megan.evidence.is_available(s) for s in CHANGE_SOURCES)
    search = stack.requests(api="exchange", cmdlet="Search-UnifiedAuditLog")
    assert len(search) == 1 and search[0].status == 200
    parameters = search[0].parameters or {}
    assert set(parameters) == {"StartDate", "EndDate", "Operations", "ResultSize"}
    assert parameters["ResultSize"] == 5000 and "Remove-InboxRule" in parameters["Operations"]
    for record in stack.requests(api="exchange"):
        assert all(CMDLETS[str(record.cmdlet)].parameter(p) is not None for p in record.parameters or {})
    audits = stack.requests(api="graph", path_contains="directoryAudits")
    assert any("activityDisplayName" in str(r.query.get("$filter", "")) and r.status == 200 for r in audits)
    # Only the records about Megan: made by her, or to her mailbox.
    assert megan.evidence.mailbox_audit is not None
    assert {c.operation for c in megan.evidence.mailbox_audit} >= {"New-InboxRule", "Remove-InboxRule", "Set-Mailbox",
                                                                   "New-TransportRule"}
    assert all("adelev" not in c.names() for c in megan.evidence.mailbox_audit)


async def test_megans_changes_and_traps_reach_the_findings_and_the_card(stack: DemoStack) -> None:
    megan = await investigate(stack, MEGAN)
    assert ours(megan) == {
        "rule_created_and_removed": ["high"], "forwarding_set_by_other": ["high"],
        "tenant_transport_rule_external": ["high"],
        "tenant_app_mail_access": ["high", "high"],  # her own consent to Mail Sync Pro, and the new connector app
        "permission_granted": ["high", "high"],  # FullAccess and SendAs for the partner's guest (delegation's seed)
    }
    forwarding = next(f for f in megan.findings if f.code == "forwarding_set_by_other")
    assert forwarding.params["initiated_by"] == "GradyA@example.com" and forwarding.params["ip"] == "192.0.2.201"
    rule = next(f for f in megan.findings if f.code == "rule_created_and_removed")
    assert rule.params["rule"] == "." and rule.params["targets"] == "invoice.desk@proton.example"
    connector = [f for f in megan.findings if f.params.get("app") == "Mailbox Backup Connector"]
    assert len(connector) == 1 and connector[0].params["scopes"] == "Mail.Read"
    # The old disclaimer rule and the old app are no findings.
    assert not [f for f in megan.findings if f.params.get("rule") == "Company disclaimer"]
    assert not [f for f in megan.findings if f.params.get("app") == "Contoso Expenses"]
    assert megan.assessment.verdict == Verdict.compromised
    card = findings_card(megan, case_id="case-1", viewer_can_act=True, locale="en-US", time_zone="Europe/Amsterdam")
    assert_valid_card(card)
    # Megan's card holds more findings than it shows (cards.findings.MAX_FINDING_LINES); the forwarding is among them.
    assert "not the user, set forwarding of this mailbox" in "\n".join(lines(card))


async def test_a_clean_account_sees_the_traps_as_context_and_keeps_its_verdict(stack: DemoStack) -> None:
    adele = await investigate(stack, ADELE)
    assert ours(adele) == {"tenant_transport_rule_external": ["low"], "tenant_app_mail_access": ["low"]}
    assert adele.assessment.verdict == Verdict.no_signs
    card = findings_card(adele, case_id="case-2", viewer_can_act=True, locale="en-US")
    assert_valid_card(card)
    shown = "\n".join(lines(card))
    assert "In your tenant: mail flow rule" in shown and "archive-desk@proton.example" in shown
    assert "In your tenant: app" in shown and "Mailbox Backup Connector" in shown
    nl = "\n".join(lines(findings_card(adele, case_id="case-2", viewer_can_act=False, locale="nl-NL")))
    assert "In je tenant: e-mailstroomregel" in nl


async def test_the_outbreak_reads_each_tenant_wide_source_once(stack: DemoStack) -> None:
    users = []
    for upn in (MEGAN, ADELE, "PattiF@example.com"):
        resolution = await resolve_account(stack.tenant, upn)
        assert resolution.user is not None
        users.append(resolution.user)
    before = len(stack.requests(api="exchange", cmdlet="Search-UnifiedAuditLog"))
    results = await Investigations(stack.tenant).investigate_many(users)
    assert len(stack.requests(api="exchange", cmdlet="Search-UnifiedAuditLog")) == before + 1
    assert len(stack.requests(api="exchange", cmdlet="Get-TransportRule")) == 1
    single = await investigate(stack, MEGAN)
    assert ours(results[users[0].id]) == ours(single)


async def test_without_an_audit_logs_role_the_changes_are_not_checked(stack: DemoStack) -> None:
    stack.server.state.app["exchangeRoles"] = ["Security Administrator"]
    megan = await investigate(stack, MEGAN)
    for source in (SourceName.mailbox_audit, SourceName.transport_rules):
        missing = megan.evidence.unavailable_reason(source)
        assert missing is not None and missing.reason_code == UnavailableReason.permission
    assert "rule_created_and_removed" not in ours(megan)
    shown = lines(findings_card(megan, case_id="case-1", viewer_can_act=True, locale="en-US"))
    assert any(x.startswith(t("en", "source.mailbox_audit") + ": ") for x in shown)


async def test_the_search_refuses_what_exchange_refuses(stack: DemoStack) -> None:
    from m365.errors import BadRequest

    with pytest.raises(BadRequest):
        await stack.tenant.exchange.invoke("Search-UnifiedAuditLog", {"StartDate": "2026-01-01T00:00:00Z"})
    with pytest.raises(BadRequest):
        await stack.tenant.exchange.invoke("Search-UnifiedAuditLog", {
            "StartDate": "2026-01-01T00:00:00Z", "EndDate": "2026-01-02T00:00:00Z", "ResultSize": 5001})


def test_the_cli_json_shows_the_changes(tmp_path: Path) -> None:
    result = run_cli(tmp_path, MEGAN, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    codes = {f["code"] for f in data["findings"]}
    assert {"rule_created_and_removed", "forwarding_set_by_other", "tenant_transport_rule_external",
            "tenant_app_mail_access"} <= codes
    assert all(data["sources"][s.value] == "ok" for s in CHANGE_SOURCES)

"""Delegation over HTTPS against the demo tenant: the three cmdlets as the reference lists them, the seed's grants
(an outsider's FullAccess and SendAs on Megan's mailbox; Patti's assistant) reaching the findings, the card, the
outbreak path and `python -m investigation --json`, and a missing role leaving the source "not checked"."""

from __future__ import annotations

import json
from pathlib import Path

from cards.findings import findings_card
from demo_tenant.cmdlets import CMDLETS
from investigation.collect import Investigation
from investigation.evidence import SourceName, UnavailableReason
from investigation.indicators import _iso
from investigation.resolve import resolve_account
from investigation.service import Investigations
from locales import t
from m365.records import GrantKind
from tests.cardschema import assert_valid_card, lines
from tests.demo_stack import DemoStack, investigate_account
from tests.integration.test_investigation_inputs import run_cli

MEGAN = "MeganB@example.com"
PATTI = "PattiF@example.com"
GUEST = "jordan_partner.example#EXT#@example.onmicrosoft.com"


async def investigate(stack: DemoStack, upn: str) -> Investigation:
    return await investigate_account(stack, upn)


async def test_the_cmdlets_return_only_grants_to_others(stack: DemoStack) -> None:
    grants = await stack.tenant.list_mailbox_grants(MEGAN)
    assert {(g.kind, g.trustee) for g in grants} == {(GrantKind.full_access, GUEST), (GrantKind.send_as, GUEST)}
    # Exchange's own entries (NT AUTHORITY\SELF, Default and Anonymous with None) were served and left out.
    records = stack.requests(api="exchange")
    by_cmdlet = {r.cmdlet: r for r in records}
    assert by_cmdlet["Get-MailboxPermission"].parameters == {"Identity": MEGAN}
    assert by_cmdlet["Get-RecipientPermission"].parameters == {"Identity": MEGAN, "AccessRights": ["SendAs"]}
    assert by_cmdlet["Get-MailboxFolderPermission"].parameters == {"Identity": f"{MEGAN}:\\Inbox"}
    for record in records:
        assert record.status == 200
        assert all(CMDLETS[str(record.cmdlet)].parameter(p) is not None for p in record.parameters or {})
    assert {(g.kind, g.trustee) for g in await stack.tenant.list_mailbox_grants(PATTI)} == {
        (GrantKind.folder, "Megan Lewis")}
    mailbox = await stack.tenant.get_mailbox(PATTI)
    assert mailbox is not None and mailbox.grant_send_on_behalf_to == ("MeganL",)


async def test_megans_outsider_reaches_the_findings_and_the_card(stack: DemoStack) -> None:
    megan = await investigate(stack, MEGAN)
    assert megan.evidence.is_available(SourceName.delegation)
    outside = [f for f in megan.findings if f.code == "delegate_outside"]
    assert {f.subject_id for f in outside} == {f"FullAccess:{GUEST}", f"SendAs:{GUEST}"}
    assert all(f.severity.value == "high" for f in outside)
    assert [u.user_principal_name for u in megan.evidence.delegates] == [GUEST]
    # Made in the window: the audit log (Search-UnifiedAuditLog's Add-MailboxPermission / Add-RecipientPermission,
    # run in Megan's session from the intruder's IP) dates both grants.
    # The demo tenant moves the seed's times to the present, so compare with the records it served.
    served = {c.operation: c.time for c in megan.evidence.mailbox_audit or ()}
    times = {f.subject_id: dict(f.evidence).get("time") for f in outside}
    assert times == {f"FullAccess:{GUEST}": _iso(served["Add-MailboxPermission"]),
                     f"SendAs:{GUEST}": _iso(served["Add-RecipientPermission"])}
    assert all(megan.evidence.in_window(served[op]) for op in ("Add-MailboxPermission", "Add-RecipientPermission"))
    card = findings_card(megan, case_id="case-1", viewer_can_act=True, locale="en-US", time_zone="Europe/Amsterdam")
    assert_valid_card(card)
    shown = "\n".join(lines(card))
    assert GUEST in shown and "outside the organisation" in shown
    nl = "\n".join(lines(findings_card(megan, case_id="case-1", viewer_can_act=False, locale="nl-NL")))
    assert "van buiten de organisatie" in nl


async def test_pattis_assistant_is_listed_not_judged(stack: DemoStack) -> None:
    patti = await investigate(stack, PATTI)
    delegation = [f for f in patti.findings if f.source == SourceName.delegation]
    assert [(f.code, f.severity.value) for f in delegation] == [("delegates_listed", "low")]
    assert ("access", "SendOnBehalf") in delegation[0].evidence
    assert ("access", "Inbox: Reviewer") in delegation[0].evidence
    assert {u.user_principal_name for u in patti.evidence.delegates} == {"MeganL@example.com"}


async def test_the_outbreak_path_reads_delegation_per_account_with_the_same_findings(stack: DemoStack) -> None:
    resolution = await resolve_account(stack.tenant, MEGAN)
    assert resolution.user is not None
    results = await Investigations(stack.tenant).investigate_many([resolution.user])
    bulk = sorted(f.code for f in results[resolution.user.id].findings if f.source == SourceName.delegation)
    single = sorted(f.code for f in (await investigate(stack, MEGAN)).findings
                    if f.source == SourceName.delegation)
    assert bulk == single == ["delegate_outside", "delegate_outside"]


async def test_without_the_mail_recipients_role_delegation_is_not_checked(stack: DemoStack) -> None:
    stack.server.state.app["exchangeRoles"] = ["Security Administrator"]
    megan = await investigate(stack, MEGAN)
    missing = megan.evidence.unavailable_reason(SourceName.delegation)
    assert missing is not None and missing.reason_code == UnavailableReason.permission
    assert not [f for f in megan.findings if f.code == "delegate_outside"]
    shown = lines(findings_card(megan, case_id="case-1", viewer_can_act=True, locale="en-US"))
    assert any(x.startswith(t("en", "source.delegation") + ": ") for x in shown)


async def test_tenant_text_in_a_trustee_stays_inert(stack: DemoStack) -> None:
    entry = stack.server.state.exchange["Get-MailboxPermission"][MEGAN][0]
    entry["User"] = "[click](https://evil.example)@evil.example"
    megan = await investigate(stack, MEGAN)
    card = findings_card(megan, case_id="case-1", viewer_can_act=True, locale="en-US")
    assert_valid_card(card)
    texts = json.dumps(card)
    assert "evil.example" in texts
    for block in card["body"]:
        if block.get("type") == "TextBlock":
            assert "[click](https" not in block.get("text", "")


def test_the_cli_json_shows_the_delegation_findings(tmp_path: Path) -> None:
    result = run_cli(tmp_path, MEGAN, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    outside = [f for f in data["findings"] if f["code"] == "delegate_outside"]
    assert len(outside) == 2 and all(f["severity"] == "high" for f in outside)
    assert all(GUEST in f["summary"] for f in outside)
    assert data["sources"]["delegation"] == "ok"

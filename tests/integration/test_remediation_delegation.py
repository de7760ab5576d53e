"""Removing a delegate's grant and turning off legacy protocols, through the bot against the demo tenant (issue #17).

Megan Bowen's seeded intruder gave the partner's guest account FullAccess and SendAs, and her mailbox allows IMAP,
POP and SMTP AUTH. What the demo tenant receives is read from its request log: the cmdlet and its parameters as
Microsoft's reference lists them (demo_tenant/cmdlets.py binds them), one write per grant, none for a grant that is
already gone, a forged grant id or a second press.
"""

from __future__ import annotations

from typing import Any

from cards.verbs import Verb
from m365.errors import NotFound
from m365.records import GrantKind, MailboxGrant
from remediation.actions import ACTIONS, Target
from tests.activities import ALEX, ISAIAH
from tests.integration import test_remediation_demo as base
from tests.integration.test_remediation_demo import MEGAN_ID, Demo, _all
from tests.integration.test_remediation_policy import card_of, message_of, shown

GUEST = "jordan_partner.example#EXT#@example.onmicrosoft.com"
demo = base.demo  # the demo tenant, the production client stack on it, and a store
REMOVALS = ("Remove-MailboxPermission", "Remove-RecipientPermission", "Remove-MailboxFolderPermission")


def _buttons(card: dict[str, Any], verb: str) -> list[dict[str, Any]]:
    return [a for a in _all(card) if a.get("type") == "Action.Execute" and a["verb"] == verb]


def _writes(demo: Demo) -> list[Any]:
    return [r for r in demo.server.state.requests if r.cmdlet in (*REMOVALS, "Set-CASMailbox")]


async def test_an_outsiders_grants_are_removed_one_by_one(demo: Demo) -> None:
    case = await demo.case_of("MeganB@example.com")
    alex = demo.chat(ALEX)
    card = card_of(await alex.press("show_case", {"caseId": case.id}))
    buttons = _buttons(card, "remove_delegation")
    assert sorted(b["data"]["grantId"] for b in buttons) == [f"FullAccess:{GUEST}", f"SendAs:{GUEST}"]
    assert all(b["title"].startswith("Remove jordan_partner") for b in buttons)
    assert "Remove the mailbox access of" in shown(card) and "required before unblocking" in shown(card)
    for grant_id in (f"FullAccess:{GUEST}", f"SendAs:{GUEST}"):
        card = card_of(await alex.press("remove_delegation", {"caseId": case.id, "grantId": grant_id}))
        assert "Done: Remove mailbox access." in shown(card)
    writes = _writes(demo)
    assert [(r.cmdlet, r.status) for r in writes] == [("Remove-MailboxPermission", 200),
                                                      ("Remove-RecipientPermission", 200)]
    assert writes[0].parameters == {"Identity": "MeganB@example.com", "User": GUEST, "AccessRights": ["FullAccess"],
                                    "Confirm": False}
    assert writes[1].parameters == {"Identity": "MeganB@example.com", "Trustee": GUEST, "AccessRights": ["SendAs"],
                                    "Confirm": False}
    assert await demo.tenant.list_mailbox_grants("MeganB@example.com") == ()
    entries = [e for e in await demo.store.audit.list(case_id=case.id) if e.action == "remove_delegation"]
    assert [e.outcome for e in entries] == ["started", "succeeded"] * 2
    assert entries[0].parameters["grantId"] == f"FullAccess:{GUEST}"
    assert entries[0].parameters["delegate"] == f"{GUEST} (FullAccess)"
    # A second press (a stale card) is "already done": no call of any kind.
    before = len(demo.server.state.requests)
    card = card_of(await alex.press("remove_delegation", {"caseId": case.id, "grantId": f"SendAs:{GUEST}"}))
    assert "already done by Alex Wilber" in shown(card)
    assert len(demo.server.state.requests) == before
    # Refresh investigates again: the grants are gone, so they are no longer steps, but the card keeps the record.
    card = card_of(await alex.press("refresh", {"caseId": case.id}))
    assert not _buttons(card, "remove_delegation")
    text = shown(card)
    assert "Done earlier (no longer found by the latest investigation)" in text
    assert f"Remove mailbox access “{GUEST} (full access)” — done by Alex Wilber" in text, text
    # The reconciler's read-back sees the grant gone.
    target = Target(MEGAN_ID, "MeganB@example.com", "MeganB@example.com", f"FullAccess:{GUEST}")
    assert (await ACTIONS[Verb.REMOVE_DELEGATION].read_back(demo.tenant, target)).outcome == "succeeded"


async def test_a_grant_already_gone_is_already_removed_without_a_write(demo: Demo) -> None:
    case = await demo.case_of("MeganB@example.com")
    target = Target(MEGAN_ID, "MeganB@example.com", "MeganB@example.com", f"SendAs:{GUEST}")
    assert (await ACTIONS[Verb.REMOVE_DELEGATION].read_back(demo.tenant, target)).outcome == "failed"
    # Someone removed it in the Exchange admin center after the investigation.
    demo.server.state.exchange["Get-RecipientPermission"]["MeganB@example.com"].clear()
    card = card_of(await demo.chat(ALEX).press("remove_delegation", {"caseId": case.id,
                                                                      "grantId": f"SendAs:{GUEST}"}))
    assert "Remove mailbox access: Microsoft 365 shows it is already gone" in shown(card)
    assert _writes(demo) == []
    entries = [e for e in await demo.store.audit.list(case_id=case.id) if e.action == "remove_delegation"]
    assert [e.outcome for e in entries] == ["started", "succeeded"]


async def test_a_forged_grant_and_it_staff_are_refused(demo: Demo) -> None:
    case = await demo.case_of("MeganB@example.com")
    forged = {"caseId": case.id, "grantId": "FullAccess:someone.else@example.com"}
    assert "not one the investigation found" in message_of(await demo.chat(ALEX).press("remove_delegation", forged))
    real = {"caseId": case.id, "grantId": f"FullAccess:{GUEST}"}
    assert "Only security admins" in message_of(await demo.chat(ISAIAH).press("remove_delegation", real))
    assert _writes(demo) == []


async def test_legacy_protocols_are_turned_off_after_a_warning(demo: Demo) -> None:
    case = await demo.case_of("MeganB@example.com")
    alex = demo.chat(ALEX)
    card = card_of(await alex.press("show_case", {"caseId": case.id}))
    assert _buttons(card, "disable_legacy_protocols")
    assert "Turn off legacy protocols on the mailbox: IMAP, POP, SMTP AUTH" in shown(card)
    confirm = card_of(await alex.press("disable_legacy_protocols", {"caseId": case.id}))
    assert "printer, scanner" in shown(confirm) and _writes(demo) == []
    card = card_of(await alex.press("disable_legacy_protocols", {"caseId": case.id, "confirm": "1"}))
    assert "Done: Turn off legacy protocols." in shown(card)
    [write] = _writes(demo)
    assert write.parameters == {"Identity": "MeganB@example.com", "ImapEnabled": False, "PopEnabled": False,
                                "SmtpClientAuthenticationDisabled": True}
    cas = await demo.tenant.get_cas_mailbox("MeganB@example.com")
    assert cas is not None and not cas.imap_enabled and not cas.pop_enabled
    assert cas.smtp_client_authentication_disabled is True
    target = Target(MEGAN_ID, "MeganB@example.com", "MeganB@example.com")
    assert (await ACTIONS[Verb.DISABLE_LEGACY_PROTOCOLS].read_back(demo.tenant, target)).outcome == "succeeded"


async def test_send_on_behalf_and_folder_grants_are_removed_by_their_own_cmdlets(demo: Demo) -> None:
    # Patti's sales associate: SendOnBehalf (Get-Mailbox) and Reviewer on the inbox.
    mailbox = await demo.tenant.get_mailbox("PattiF@example.com")
    assert mailbox is not None and mailbox.grant_send_on_behalf_to
    trustee = mailbox.grant_send_on_behalf_to[0]
    await demo.tenant.remove_mailbox_grant("PattiF@example.com", MailboxGrant(GrantKind.send_on_behalf, trustee))
    [set_mailbox] = demo.server.state.requests.matching(cmdlet="Set-Mailbox")
    assert set_mailbox.parameters["GrantSendOnBehalfTo"] == {"@odata.type": "#Exchange.GenericHashTable",
                                                             "Remove": trustee}
    after = await demo.tenant.get_mailbox("PattiF@example.com")
    assert after is not None and trustee not in after.grant_send_on_behalf_to
    folder = MailboxGrant(GrantKind.folder, "Megan Lewis", ("Reviewer",), "Inbox")
    await demo.tenant.remove_mailbox_grant("PattiF@example.com", folder)
    [removal] = demo.server.state.requests.matching(cmdlet="Remove-MailboxFolderPermission")
    assert removal.parameters == {"Identity": "PattiF@example.com:\\Inbox", "User": "Megan Lewis", "Confirm": False}
    assert folder not in await demo.tenant.list_mailbox_grants("PattiF@example.com")
    # Again: Exchange's "no existing permission entry" is NotFound, which the press turns into "already removed".
    try:
        await demo.tenant.remove_mailbox_grant("PattiF@example.com", folder)
    except NotFound:
        pass
    else:
        raise AssertionError("a second removal must raise NotFound")

"""Triage per row over HTTP: the whole app, the demo tenant over HTTPS, SQLite and a recording connector.

Each row's "Open" is the findings card's `show_case` and its "Unblock" the single unblock (`Presses.press` of
`unblock`): pressing them as Teams would (an invoke POSTed to /api/messages with the button's own data) shows the
account's findings card, and the unblock confirms, makes one `Remove-BlockedSenderAddress` and writes the audit
rows of a single unblock. A compromised row offers no unblock, and a forged one is refused by the gate.
"""

from __future__ import annotations

from typing import Any

from tests.activities import ISAIAH
from tests.cardschema import assert_valid_card, lines
from tests.integration.test_remediation_demo import UNBLOCK
from tests.integration.test_remediation_http import (  # noqa: F401 - `app` is the fixture
    ADELE_ID,
    App,
    app,
)
from tests.integration.test_triage_http import ALEX_ID, card_in

MESSAGE = "application/vnd.microsoft.activity.message"


def rows_of(card: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Each row's name and its buttons (the Action.Execute of the row's own ActionSet)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for block in card["body"]:
        if block.get("type") != "Container" or not block.get("separator"):
            continue
        name = block["items"][0]["inlines"][0]["text"]
        out[name] = [a for item in block["items"] if item.get("type") == "ActionSet" for a in item["actions"]]
    return out


async def listing_for(whole: App, conversation: str = "personal-alex") -> dict[str, Any]:
    await whole.say("triage", conversation=conversation)
    posted = [s for s in whole.recorder.sent if s.conversation_id == conversation]
    card: dict[str, Any] = posted[-1].body["attachments"][0]["content"]
    assert_valid_card(card)
    return card


async def test_a_security_admin_opens_a_row_and_unblocks_a_no_signs_row(app: App) -> None:  # noqa: F811
    rows = rows_of(await listing_for(app))
    assert {name: [b["title"] for b in buttons] for name, buttons in rows.items()} == {
        "Patti Fernandez": ["Open"], "Megan Bowen": ["Open"], "Grady Archie": ["Open"],
        "Adele Vance": ["Open", "Unblock"]}
    cases = {c.display_name: c for c in await app.store.cases.list_cases("open")}
    open_megan = rows["Megan Bowen"][0]
    assert open_megan["data"] == {"verb": "show_case", "caseId": cases["Megan Bowen"].id, "page": "0"}

    # Open: Megan's findings card, drawn from the store (no unblock, nothing written), with the way back.
    status, body = await app.press(open_megan["verb"], open_megan["data"])
    findings = card_in(body)
    assert status == 200 and any("Megan Bowen" in line for line in lines(findings))
    assert any(a.get("verb") == "refresh" for a in findings.get("actions", []))
    back = [a for a in findings.get("actions", []) if a.get("title") == "Back to the list"]
    assert [a["data"] for a in back] == [{"verb": "triage_page", "page": "0"}]
    status, body = await app.press(back[0]["data"]["verb"], back[0]["data"])
    assert status == 200 and set(rows_of(card_in(body))) >= {"Megan Bowen", "Adele Vance"}
    # The same card opened any other way (a pasted or forged page) has no way back to a list it did not come from.
    status, body = await app.press("show_case", {"caseId": cases["Megan Bowen"].id, "page": "x1"})
    assert not [a for a in card_in(body).get("actions", []) if a.get("verb") == "triage_page"]
    status, body = await app.press("show_case", {"caseId": cases["Megan Bowen"].id})
    assert not [a for a in card_in(body).get("actions", []) if a.get("verb") == "triage_page"]
    # A forged Unblock on a compromised row goes through the same press: the gate refuses, Microsoft is not called.
    status, body = await app.press("unblock", {"caseId": cases["Megan Bowen"].id, "confirm": "1"})
    assert status == 200
    assert app.server.state.requests.matching(cmdlet=UNBLOCK) == []

    # Unblock on Adele's row: the single unblock's confirmation first (her block lifts by itself: it says so).
    unblock = rows["Adele Vance"][1]
    assert unblock["data"] == {"verb": "unblock", "caseId": cases["Adele Vance"].id}
    status, body = await app.press(unblock["verb"], unblock["data"])
    confirmation = card_in(body)
    assert any("lifts by itself" in block.get("text", "") or "ends by itself" in block.get("text", "")
               for block in confirmation["body"]), confirmation["body"]
    assert app.server.state.requests.matching(cmdlet=UNBLOCK) == []
    confirm = confirmation["actions"][0]
    status, body = await app.press(confirm["verb"], confirm["data"])
    card_in(body)
    unblocks = app.server.state.requests.matching(cmdlet=UNBLOCK)
    assert [(r.status, r.parameters) for r in unblocks] == [(200, {"SenderAddress": "AdeleV@example.com"})]
    audit = [(e.action, e.outcome, e.actor_id, e.target) for e in await app.store.audit.list()]
    assert audit == [("unblock", "started", ALEX_ID, "AdeleV@example.com"),
                     ("unblock", "succeeded", ALEX_ID, "AdeleV@example.com")]
    adele = await app.store.cases.get_case(cases["Adele Vance"].id)
    assert adele is not None and adele.account_id == ADELE_ID and adele.status in ("unblock_pending", "resolved")

    # The list now shows her unblock pending, without a second Unblock.
    status, body = await app.press("triage_page", {"page": "0"})
    assert [b["title"] for b in rows_of(card_in(body))["Adele Vance"]] == ["Open"]


async def test_it_staff_may_open_but_not_unblock_a_row(app: App) -> None:  # noqa: F811
    await listing_for(app)  # the admin's triage investigates every account, so each has a case
    status, body = await app.press("triage_page", {"page": "0"}, person=ISAIAH, conversation_id="personal-isaiah")
    rows = rows_of(card_in(body))
    assert all([b["title"] for b in buttons] == ["Open"] for buttons in rows.values())
    status, body = await app.press(rows["Adele Vance"][0]["verb"], rows["Adele Vance"][0]["data"], person=ISAIAH,
                                   conversation_id="personal-isaiah")
    findings = card_in(body)
    assert not any(a.get("verb") == "unblock" for a in findings.get("actions", []))
    # The Unblock Isaiah does not see is refused by the press's policy when forged.
    status, body = await app.press("unblock", rows["Adele Vance"][0]["data"] | {"verb": "unblock", "confirm": "1"},
                                   person=ISAIAH, conversation_id="personal-isaiah")
    assert status == 200 and (body["statusCode"], body["type"]) == (200, MESSAGE)
    assert app.server.state.requests.matching(cmdlet=UNBLOCK) == []

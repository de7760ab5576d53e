"""Triage per row: each row's Open and Unblock by role, the bulk unblock leaving blocks that lift by themselves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cards.triage import SCOPE_REST, TriageRow, TriageVerdict, bulk_confirmation_card, triage_card
from core.triage import Entry, Listing, candidates, fingerprint, unblockable_rows
from domain.people import Role, Speaker
from store import CaseRecord
from tests.cardschema import assert_valid_card, lines

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
ADMIN = "admin-oid"


def row(name: str, verdict: TriageVerdict, **kw: Any) -> TriageRow:
    return TriageRow(account_id=f"id-{name}", name=name, upn=f"{name.lower()}@example.com", verdict=verdict,
                     since=T0, case_id=kw.pop("case_id", f"case-{name}"), **kw)


ROWS = [row("Megan", TriageVerdict.compromised), row("Patti", TriageVerdict.suspicious),
        row("Grady", TriageVerdict.not_checked, case_id=None), row("Adele", TriageVerdict.no_signs),
        row("Lee", TriageVerdict.no_signs, lifts_at=T0 + timedelta(hours=5)),
        row("Nestor", TriageVerdict.no_signs, pending=True)]


def buttons(card: dict[str, Any]) -> dict[str, list[tuple[str, dict[str, str]]]]:
    out = {}
    for block in card["body"]:
        if block.get("type") == "Container" and block.get("separator"):
            name = block["items"][0]["inlines"][0]["text"]
            out[name] = [(a["title"], a["data"]) for item in block["items"] if item.get("type") == "ActionSet"
                         for a in item["actions"]]
    return out


@pytest.mark.parametrize("locale", ["en-US", "nl-NL"])
def test_rows_are_schema_valid_with_their_buttons(locale: str) -> None:
    for unblockable in (set(), {"case-Adele", "case-Lee"}):
        card = triage_card(ROWS, page=0, locale=locale, bulk_count=2, bulk_lifting=1, unblockable=unblockable)
        assert_valid_card(card)


def test_open_for_every_row_with_a_case_and_unblock_only_where_allowed() -> None:
    card = triage_card(ROWS, page=0, locale="en-US", bulk_count=2, unblockable={"case-Adele", "case-Lee",
                                                                                "case-Megan", "case-Nestor"})
    shown = buttons(card)
    assert {name: [title for title, _data in b] for name, b in shown.items()} == {
        "Megan": ["Open"], "Patti": ["Open"], "Grady": [], "Adele": ["Open", "Unblock"], "Lee": ["Open", "Unblock"],
        "Nestor": ["Open"]}
    # Ids only; routed by verb to the findings card's own press.
    assert shown["Adele"] == [("Open", {"verb": "show_case", "caseId": "case-Adele", "page": "0"}),
                              ("Unblock", {"verb": "unblock", "caseId": "case-Adele"})]
    assert any("The block lifts by itself on" in line for line in lines(card))


def test_staff_rows_have_open_only() -> None:
    shown = buttons(triage_card(ROWS, page=0, locale="en-US", bulk_count=None))
    assert all([title for title, _ in b] in ([], ["Open"]) for b in shown.values())


def case(name: str, status: str = "open") -> CaseRecord:
    return CaseRecord(id=f"case-{name}", tenant_id="t", account_id=f"id-{name}", account_upn=f"{name}@example.com",
                      display_name=name, status=status, verdict=None, summary={}, steps={}, opened_by_id=None,
                      opened_by_name=None, created_at=T0, updated_at=T0, resolved_at=None, version=1)


def listing() -> Listing:
    status = {"Nestor": "unblock_pending"}
    return Listing(tuple(Entry(r, case(r.name, status.get(r.name, "open")) if r.case_id else None) for r in ROWS))


def speaker(role: Role, oid: str = ADMIN) -> Speaker:
    return Speaker(aad_object_id=oid, name="Alex", tenant_id="t", role=role)


def test_who_gets_a_row_unblock() -> None:
    assert unblockable_rows(listing(), speaker(Role.SECURITY_ADMIN)) == {"case-Adele", "case-Lee"}
    assert unblockable_rows(listing(), speaker(Role.IT_STAFF)) == frozenset()
    # Never one's own account.
    assert unblockable_rows(listing(), speaker(Role.SECURITY_ADMIN, "id-Adele")) == {"case-Lee"}


def test_the_bulk_can_leave_the_blocks_that_lift_by_themselves() -> None:
    admin = speaker(Role.SECURITY_ADMIN)
    every = candidates(listing(), admin)
    rest = candidates(listing(), admin, scope=SCOPE_REST)
    assert [e.row.name for e in every] == ["Adele", "Lee"]
    assert [e.row.name for e in rest] == ["Adele"]
    card = bulk_confirmation_card([e.row for e in every], list_id=fingerprint(["id-Adele", "id-Lee"]),
                                  rest_list_id=fingerprint(["id-Adele"]), shown_at="1", locale="en-US",
                                  time_zone="UTC")
    assert_valid_card(card)
    shown = lines(card)
    assert "adele@example.com" in " ".join(shown)
    assert "Lee  lee@example.com · lifts by itself on 28 Nov 2026, 13:00 UTC" in shown
    leave, everything, cancel = card["actions"]
    assert leave["title"] == "Leave those, unblock the rest (1)"
    assert leave["data"] == {"verb": "triage_unblock", "confirm": "1", "list": fingerprint(["id-Adele"]),
                             "scope": "rest", "at": "1"}
    assert everything["title"] == "Unblock all (2), those too" and "scope" not in everything["data"]
    assert cancel["data"] == {"verb": "triage_page", "page": "0"}
    list_card = triage_card(ROWS, page=0, locale="en-US", bulk_count=2, bulk_lifting=1)
    assert list_card["actions"][-1]["title"] == "Unblock all with no signs of compromise (2; lifting by themselves: 1)"

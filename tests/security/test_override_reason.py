"""A reason must carry content (issue 18): "Unblock anyway" on a compromised account needs at least ten visible
characters once whitespace, control, format (zero-width, joiners, bidi) and other invisible characters are left
out; the audit keeps the reason as typed and its visible form.

Before: a reason of one zero-width space (or one character) unblocked a compromised account and left an audit
entry that looked empty. Each press goes through the whole handler (`bot.build_handler`, the verb table, the press)
with the fake tenant recording every write.
"""

from __future__ import annotations

import pytest

from remediation import policy
from store import Store
from tests.activities import ALEX, MEGAN
from tests.integration.test_remediation_policy import (  # noqa: F401 - `store` is the fixture
    card_of,
    chat,
    fake_tenant,
    open_case,
    shown,
    store,
    writes,
)

ZWSP, ZWJ, ZWNJ, RLO, BOM = "\u200b", "\u200d", "\u200c", "\u202e", "\ufeff"
UNBLOCK = ("remove_blocked_sender", (MEGAN.upn,))

# Each: a typed reason the gate must refuse, and why.
REFUSED = {
    "one zero-width space": ZWSP,
    "zero-width characters only": ZWSP + ZWJ + ZWNJ + BOM + RLO + "\u2060\u00ad",
    "one character": "x",
    "whitespace and controls": " \t\n\r\x0b\x0c\x00\x1b\x7f\u00a0\u2003\u3000",
    "nine visible characters between joiners": ZWJ.join("Approved!") + ZWJ * 200,
    "nine visible characters and combining marks": "Approved!" + "\u0301" * 30,
    "invisible letters": "\u3164" * 12 + "\u2800" * 12 + "\u115f\u1160\uffa0",
    "tags and private use": "".join(chr(0xE0041 + i) for i in range(20)) + "\ue000" * 20,
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_the_visible_form_leaves_invisible_characters_out(name: str) -> None:
    reason = policy.visible_reason(REFUSED[name])
    assert reason.count < policy.OVERRIDE_REASON_MIN_VISIBLE and not reason.sufficient
    assert reason.typed == REFUSED[name]


def test_ten_visible_characters_are_enough_whatever_surrounds_them() -> None:
    typed = ZWJ.join("Approved!!") + ZWSP * 50 + "  \n"
    reason = policy.visible_reason(typed)
    assert (reason.visible, reason.count, reason.sufficient) == ("Approved!!", 10, True)
    assert policy.visible_reason("Ma\u0301te\u0301 ok!").count == 7  # marks draw on their letter
    assert policy.visible_reason(" reset  by\u2003phone\n").visible == "reset by phone"


@pytest.mark.parametrize("name", sorted(REFUSED))
async def test_unblock_anyway_refuses_a_reason_without_content(name: str, store: Store) -> None:  # noqa: F811
    fake = fake_tenant()
    case = await open_case(store, fake)
    alex = chat(fake, store, ALEX)
    data = {"caseId": case.id, "override": "1", "overrideReason": REFUSED[name]}
    for press in (data, {**data, "confirm": "1"}):
        card = card_of(await alex.press("unblock", press))
        # The refusal is at the top of the redrawn card, next to the reason input and "Unblock anyway".
        assert "at least 10 visible characters" in shown(card) or "Give a reason" in shown(card)
        assert "Unblock anyway" in shown(card)
    assert writes(fake) == []
    assert await store.audit.list(case_id=case.id) == []


async def test_the_refusal_is_in_dutch_too(store: Store) -> None:  # noqa: F811
    fake = fake_tenant()
    case = await open_case(store, fake)
    card = card_of(await chat(fake, store, ALEX, locale="nl-NL").press(
        "unblock", {"caseId": case.id, "override": "1", "overrideReason": "Akkoord\u200d!!", "confirm": "1"}))
    assert "minstens 10 zichtbare tekens" in shown(card)
    assert writes(fake) == []


async def test_ten_visible_characters_unblock_and_the_audit_keeps_both_forms(store: Store) -> None:  # noqa: F811
    fake = fake_tenant()
    case = await open_case(store, fake)
    alex = chat(fake, store, ALEX)
    typed = ZWJ.join("Approved!!") + ZWSP * 3 + "\n"
    nine = ZWJ.join("Approved!") + ZWJ * 40
    card_of(await alex.press("unblock", {"caseId": case.id, "override": "1", "overrideReason": nine,
                                         "confirm": "1"}))
    assert writes(fake) == []
    card = card_of(await alex.press("unblock", {"caseId": case.id, "override": "1", "overrideReason": typed,
                                                "confirm": "1"}))
    assert writes(fake) == [UNBLOCK]
    assert "Unblocked anyway by Alex Wilber" in shown(card)
    started, succeeded = await store.audit.list(case_id=case.id)
    for row in (started, succeeded):
        assert row.parameters["override"] is True
        assert row.parameters["override_reason"] == "Approved!!"
        assert row.parameters["override_reason_typed"] == typed


async def test_the_confirmation_carries_a_sufficient_reason(store: Store) -> None:  # noqa: F811
    fake = fake_tenant()
    case = await open_case(store, fake)
    reason = "Password reset by phone"
    confirm = card_of(await chat(fake, store, ALEX).press(
        "unblock", {"caseId": case.id, "override": "1", "overrideReason": reason}))
    inputs = [e for e in confirm["body"] if e.get("type") == "Input.Text"]
    assert inputs[0]["id"] == "overrideReason" and inputs[0]["value"] == reason
    assert writes(fake) == []

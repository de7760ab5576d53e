"""Taking an admin role the account gained in the window, through the bot against the demo tenant (issue #17,
item 5).

Patti Fernandez's seeded intruder signed in over IMAP from 203.0.113.200 and a minute later the directory audit shows
"Add member to role" giving her Application Administrator. Her card offers "Remove “Application Administrator”"
(required before unblocking); a role she held before the window is named with no button. Taking the Global
Administrator role from the tenant's last Global Administrator is refused (the guard), with no write. What the demo
tenant receives is read from its request log: the Graph DELETE on `/directoryRoles/{id}/members/{id}/$ref`
(checked against the CSDL), none for a role already gone, a forged id, a user or a second press.
"""

from __future__ import annotations

import copy
from typing import Any

from cards.verbs import Verb
from remediation.actions import ACTIONS, Target
from remediation.guards import GLOBAL_ADMIN_TEMPLATE_ID
from tests.activities import ALEX, ISAIAH
from tests.integration.test_remediation_demo import Demo, _all, demo  # noqa: F401 - the fixture
from tests.integration.test_remediation_policy import card_of, message_of, shown

PATTI = "3a7e5da4-2c6f-4e1b-94a5-8b9c0d1e2f04"
ALEX_ID = "0d4b2a71-9f3c-4b8e-a1d2-5e6f7a8b9c01"
APP_ADMIN = "f1c2d3e4-a5b6-4c7d-8e9f-0a1b2c3d4e04"
SECURITY_ADMIN = "f1c2d3e4-a5b6-4c7d-8e9f-0a1b2c3d4e01"
GLOBAL_ADMIN = "f1c2d3e4-a5b6-4c7d-8e9f-0a1b2c3d4e03"


def _buttons(card: dict[str, Any], verb: str) -> list[dict[str, Any]]:
    return [a for a in _all(card) if a.get("type") == "Action.Execute" and a["verb"] == verb]


def _role_writes(demo: Demo) -> list[tuple[str, str, int]]:  # noqa: F811 - the fixture's name
    return [(r.method, r.path, r.status) for r in demo.server.state.requests
            if r.api == "graph" and r.method == "DELETE"]


def _member_path(role: str) -> str:
    return f"/v1.0/directoryRoles/{role}/members/{PATTI}/$ref"


def _gain_global_admin(demo: Demo) -> None:  # noqa: F811
    """Patti was made Global Administrator in the window too (the seed's audit, for the GA role)."""
    demo.server.state.graph["memberOf"][PATTI].append(GLOBAL_ADMIN)
    audits = demo.server.state.graph["directoryAudits"]
    gained = copy.deepcopy(next(a for a in audits if a["activityDisplayName"] == "Add member to role"))
    gained["id"] = "7b2e91c4-3f6a-4d58-9e0b-2c7d1a8f5e37"
    gained["targetResources"][0]["modifiedProperties"] = [
        {"displayName": "Role.ObjectID", "oldValue": None, "newValue": f'"{GLOBAL_ADMIN}"'},
        {"displayName": "Role.DisplayName", "oldValue": None, "newValue": '"Global Administrator"'},
        {"displayName": "Role.TemplateId", "oldValue": None, "newValue": f'"{GLOBAL_ADMIN_TEMPLATE_ID}"'},
        {"displayName": "Role.WellKnownObjectName", "oldValue": None, "newValue": '"TenantAdmins"'}]
    gained["targetResources"][1]["id"] = GLOBAL_ADMIN
    audits.insert(0, gained)


async def test_the_role_gained_in_the_window_is_taken_and_recorded(demo: Demo) -> None:  # noqa: F811
    case = await demo.case_of("PattiF@example.com")
    assert case.verdict == "compromised"
    alex = demo.chat(ALEX)
    card = card_of(await alex.press("show_case", {"caseId": case.id}))
    [button] = _buttons(card, "remove_admin_role")
    assert button["data"]["roleId"] == APP_ADMIN and button["title"] == "Remove “Application Administrator”"
    # When (the seed's time, moved to the demo's now) and by whom; the gate waits for it.
    assert "Take the admin role “Application Administrator”, given " in shown(card)
    assert " UTC by PattiF@example.com — required before unblocking" in shown(card)
    # Nothing held from before: no review step, and no "How to do this" link for the roles.
    assert "held before the incident" not in shown(card)
    target = Target(PATTI, "PattiF@example.com", "PattiF@example.com", APP_ADMIN)
    assert (await ACTIONS[Verb.REMOVE_ADMIN_ROLE].read_back(demo.tenant, target)).outcome == "failed"
    # It asks first, naming the role; nothing is written yet.
    confirm = card_of(await alex.press("remove_admin_role", {"caseId": case.id, "roleId": APP_ADMIN}))
    question = "Take the admin role “Application Administrator” from Patti Fernandez (PattiF@example.com)?"
    assert question in shown(confirm)
    assert _role_writes(demo) == []
    card = card_of(await alex.press("remove_admin_role", {"caseId": case.id, "roleId": APP_ADMIN,
                                                          "confirm": "1"}))
    assert "Done: Remove admin role." in shown(card)
    assert _role_writes(demo) == [("DELETE", _member_path(APP_ADMIN), 204)]
    # Application Administrator is not Global Administrator: the guard did not need to ask for the role's members.
    assert not [r for r in demo.server.state.requests if "/members" in r.path and r.method == "GET"]
    assert APP_ADMIN not in {m.id for m in await demo.tenant.list_memberships(PATTI)}
    entries = [e for e in await demo.store.audit.list(case_id=case.id) if e.action == "remove_admin_role"]
    assert [e.outcome for e in entries] == ["started", "succeeded"]
    assert (entries[0].parameters["roleId"], entries[0].parameters["role"]) == (APP_ADMIN,
                                                                                "Application Administrator")
    assert "Admin role “Application Administrator” removed by Alex Wilber" in shown(card)
    assert _buttons(card, "remove_admin_role") == []
    # A second press (a stale card) is "already done": no request of any kind.
    before = len(demo.server.state.requests)
    card = card_of(await alex.press("remove_admin_role", {"caseId": case.id, "roleId": APP_ADMIN,
                                                          "confirm": "1"}))
    assert "already done by Alex Wilber" in shown(card)
    assert len(demo.server.state.requests) == before
    assert (await ACTIONS[Verb.REMOVE_ADMIN_ROLE].read_back(demo.tenant, target)).outcome == "succeeded"


async def test_a_role_already_gone_is_already_removed_without_a_second_call(demo: Demo) -> None:  # noqa: F811
    case = await demo.case_of("PattiF@example.com")
    # Someone took it in Entra after the investigation.
    demo.server.state.graph["memberOf"][PATTI].remove(APP_ADMIN)
    card = card_of(await demo.chat(ALEX).press("remove_admin_role", {"caseId": case.id, "roleId": APP_ADMIN,
                                                                     "confirm": "1"}))
    assert "Remove admin role: Microsoft 365 shows it is already gone" in shown(card)
    assert _role_writes(demo) == [("DELETE", _member_path(APP_ADMIN), 404)]
    entries = [e for e in await demo.store.audit.list(case_id=case.id) if e.action == "remove_admin_role"]
    assert [e.outcome for e in entries] == ["started", "succeeded"]
    assert entries[1].parameters["result"] == {"already_removed": True}


async def test_a_role_held_from_before_is_named_without_a_button(demo: Demo) -> None:  # noqa: F811
    demo.server.state.graph["memberOf"][PATTI].append(SECURITY_ADMIN)  # no audit in the window gave it
    case = await demo.case_of("PattiF@example.com")
    card = card_of(await demo.chat(ALEX).press("show_case", {"caseId": case.id}))
    assert [b["data"]["roleId"] for b in _buttons(card, "remove_admin_role")] == [APP_ADMIN]
    assert ("Review the admin roles the account held before the incident: Security Administrator (no button"
            in shown(card))


async def test_the_last_global_administrators_role_is_not_taken(demo: Demo) -> None:  # noqa: F811
    _gain_global_admin(demo)  # Patti is now the tenant's only Global Administrator
    case = await demo.case_of("PattiF@example.com")
    alex = demo.chat(ALEX)
    card = card_of(await alex.press("show_case", {"caseId": case.id}))
    assert GLOBAL_ADMIN in [b["data"]["roleId"] for b in _buttons(card, "remove_admin_role")]
    for data in ({}, {"confirm": "1"}):
        card = card_of(await alex.press("remove_admin_role", {"caseId": case.id, "roleId": GLOBAL_ADMIN, **data}))
        assert "last Global Administrator" in shown(card) and "Add another Global Administrator first" in shown(card)
    assert _role_writes(demo) == []
    # The guard asked Graph for the role's members by its template id; the refusals are audited.
    assert [r for r in demo.server.state.requests
            if f"directoryRoles/roleTemplateId={GLOBAL_ADMIN_TEMPLATE_ID}/members" in r.path]
    refused = [e for e in await demo.store.audit.list(case_id=case.id) if e.action == "remove_admin_role.refused"]
    assert [e.parameters["refused"] for e in refused] == ["last_global_admin"] * 2
    # With a second enabled Global Administrator, the role is taken.
    demo.server.state.graph["memberOf"][ALEX_ID].append(GLOBAL_ADMIN)
    card = card_of(await alex.press("remove_admin_role", {"caseId": case.id, "roleId": GLOBAL_ADMIN,
                                                          "confirm": "1"}))
    assert "Done: Remove admin role." in shown(card)
    assert _role_writes(demo) == [("DELETE", _member_path(GLOBAL_ADMIN), 204)]


async def test_a_forged_role_and_a_user_are_refused(demo: Demo) -> None:  # noqa: F811
    case = await demo.case_of("PattiF@example.com")
    alex = demo.chat(ALEX)
    # Global Administrator is no role of hers; "Sales" is a group; the others are not ids the case recorded.
    for role in (GLOBAL_ADMIN, "ac5e6f70-8192-43a4-b5c6-c7d8e9f00112", f"{APP_ADMIN}/../x", ""):
        text = message_of(await alex.press("remove_admin_role", {"caseId": case.id, "roleId": role, "confirm": "1"}))
        assert "not one the investigation found" in text
    text = message_of(await demo.chat(ISAIAH).press("remove_admin_role", {"caseId": case.id,
                                                                          "roleId": APP_ADMIN, "confirm": "1"}))
    assert "Only security admins" in text
    assert _role_writes(demo) == []
    assert [e for e in await demo.store.audit.list(case_id=case.id) if e.action.startswith("remove_admin_role")] == []

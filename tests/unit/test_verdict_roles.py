"""The verdict's admin-role steps (investigation/verdict.py `roles_gained`): a role an "Add member to role" audit
in the window gave a compromised account is one `remove_admin_role` step each (the role's object id, required); a
role held from before is only named (`remove_admin_roles`, no button)."""

from __future__ import annotations

from typing import Any

from investigation.verdict import Verdict
from tests.unit.test_verdict import GLOBAL_ADMIN, MEGAN, adele, at, judge, megan

EXCHANGE_ADMIN = "29232cdf-9323-42fd-ade2-1d097af3e4de"


def _role(object_id: str, name: str, template: str) -> dict[str, Any]:
    return {"@odata.type": "#microsoft.graph.directoryRole", "id": object_id, "displayName": name,
            "roleTemplateId": template}


def _added(object_id: str, name: str, template: str, hours_ago: float, *, result: str = "success",
           user: str = MEGAN) -> dict[str, Any]:
    """Microsoft Entra's "Add member to role" audit (category RoleManagement): the role on the target user's
    modified properties, JSON-quoted."""
    return {"id": f"role-{object_id}", "activityDisplayName": "Add member to role", "category": "RoleManagement",
            "result": result, "activityDateTime": at(hours_ago),
            "initiatedBy": {"user": {"id": "x", "userPrincipalName": "intruder@example.com", "ipAddress": "192.0.2.9"}},
            "targetResources": [
                {"id": user, "type": "User", "userPrincipalName": "MeganB@example.com", "modifiedProperties": [
                    {"displayName": "Role.ObjectID", "oldValue": None, "newValue": f'"{object_id}"'},
                    {"displayName": "Role.DisplayName", "oldValue": None, "newValue": f'"{name}"'},
                    {"displayName": "Role.TemplateId", "oldValue": None, "newValue": f'"{template}"'}]},
                {"id": object_id, "type": "Role", "modifiedProperties": []}]}


def _story(*roles: dict[str, Any], audits: list[dict[str, Any]]) -> dict[str, Any]:
    story = megan()
    story["memberships"] = [*story["memberships"], *roles]
    story["audits"] = [*story["audits"], *audits]
    return story


def test_a_role_given_in_the_window_is_one_required_removal() -> None:
    _, result = judge(_story(_role("r-ex", "Exchange Administrator", EXCHANGE_ADMIN),
                             audits=[_added("r-ex", "Exchange Administrator", EXCHANGE_ADMIN, 30)]))
    assert result.verdict == Verdict.compromised
    [step] = [s for s in result.recommended_steps if s.code == "remove_admin_role"]
    assert (step.target_id, step.required) == ("r-ex", True)
    assert step.params["role"] == "Exchange Administrator" and step.params["template_id"] == EXCHANGE_ADMIN
    assert step.params["initiated_by"] == "intruder@example.com" and step.params["time"]
    # Nothing held from before: no review of roles.
    assert "remove_admin_roles" not in [s.code for s in result.recommended_steps]


def test_roles_held_from_before_are_named_without_a_removal() -> None:
    _, result = judge(_story(_role("r-ex", "Exchange Administrator", EXCHANGE_ADMIN),
                             _role("r-ga", "Global Administrator", GLOBAL_ADMIN),
                             audits=[_added("r-ex", "Exchange Administrator", EXCHANGE_ADMIN, 30),
                                     # Before the window, a failed attempt, or about someone else: not gained here.
                                     _added("r-ga", "Global Administrator", GLOBAL_ADMIN, 24 * 30),
                                     _added("r-ga", "Global Administrator", GLOBAL_ADMIN, 20, result="failure"),
                                     _added("r-ga", "Global Administrator", GLOBAL_ADMIN, 20, user="someone-else")]))
    assert [s.target_id for s in result.recommended_steps if s.code == "remove_admin_role"] == ["r-ex"]
    [review] = [s for s in result.recommended_steps if s.code == "remove_admin_roles"]
    assert review.params == {"roles": "Global Administrator"} and review.target_id is None


def test_the_template_id_alone_ties_the_audit_to_the_role() -> None:
    # An audit whose role object id differs (another tenant's copy of the record): the template id still matches.
    _, result = judge(_story(_role("r-ex", "Exchange Administrator", EXCHANGE_ADMIN),
                             audits=[_added("other-id", "Exchange Administrator", EXCHANGE_ADMIN, 30)]))
    assert [s.target_id for s in result.recommended_steps if s.code == "remove_admin_role"] == ["r-ex"]


def test_a_role_no_longer_held_or_an_account_not_compromised_gets_no_removal() -> None:
    _, result = judge(_story(audits=[_added("r-ex", "Exchange Administrator", EXCHANGE_ADMIN, 30)]))
    assert "remove_admin_role" not in [s.code for s in result.recommended_steps]
    story = adele()
    story["memberships"] = [_role("r-ex", "Exchange Administrator", EXCHANGE_ADMIN)]
    story["audits"] = [_added("r-ex", "Exchange Administrator", EXCHANGE_ADMIN, 30, user=story["user"]["id"])]
    _, result = judge(story)
    assert result.verdict != Verdict.compromised
    assert "remove_admin_role" not in [s.code for s in result.recommended_steps]

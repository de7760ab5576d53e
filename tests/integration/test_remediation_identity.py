"""Removing an MFA method and revoking an app's consent, through the bot against the demo tenant (issue #17).

Megan Bowen's seeded intruder registered an authenticator ("SM-A515F") from 192.0.2.77 in the window, and she
consented to "Mail Sync Pro", an unverified app reading and sending her mail, which also holds an app role assignment
for her. What the demo tenant receives is read from its request log: the Graph DELETEs on the v1.0 paths (checked
against the CSDL by the demo tenant), none for an item already gone, a forged id, a user or a second press.
"""

from __future__ import annotations

from typing import Any

from cards.verbs import Verb
from remediation.actions import ACTIONS, Target
from tests.activities import ALEX, ISAIAH
from tests.integration.test_remediation_demo import MEGAN_ID, Demo, _all, demo  # noqa: F401 - the fixture
from tests.integration.test_remediation_policy import card_of, message_of, shown

METHOD = "a2c00e4f-a084-5abb-9e56-adc803ce536d"
METHOD_ITEM = f"microsoftAuthenticatorAuthenticationMethod:{METHOD}"
PHONE_ITEM = "phoneAuthenticationMethod:3179e48a-750b-4051-897c-87b9720928f7"  # Megan's own phone
GRANT = "xV2w9HoWbUe9dT3u3j1yRnF0Ym9Lk1bM0oS6Tq8rW2w"
ASSIGNMENT = "k8R3aW1mYUe9dT3u3j1yRpXw2cVb7nM4lK0oJ9hG6fE"


def _buttons(card: dict[str, Any], verb: str) -> list[dict[str, Any]]:
    return [a for a in _all(card) if a.get("type") == "Action.Execute" and a["verb"] == verb]


def _writes(stack: Demo) -> list[tuple[str, str, int]]:
    return [(r.method, r.path, r.status) for r in stack.server.state.requests
            if r.api == "graph" and r.method == "DELETE"]


def _links(card: dict[str, Any]) -> list[str]:
    return [a["url"] for a in _all(card) if a.get("type") == "Action.OpenUrl"]


async def test_the_authenticator_registered_from_the_intruders_address_is_removed(demo: Demo) -> None:  # noqa: F811
    case = await demo.case_of("MeganB@example.com")
    alex = demo.chat(ALEX)
    card = card_of(await alex.press("show_case", {"caseId": case.id}))
    # One button per method registered in the window, carrying the method's type and id; the step says when and
    # from where; no "Done, I checked" review is left for it, and no "How to do this" link.
    assert [b["data"]["methodId"] for b in _buttons(card, "remove_mfa_method")] == [METHOD_ITEM]
    assert _buttons(card, "remove_mfa_method")[0]["title"] == "Remove “SM-A515F”"
    assert "Remove the sign-in method “SM-A515F” (Microsoft Authenticator), registered" in shown(card)
    assert "from 192.0.2.77 — required before unblocking" in shown(card)
    assert _buttons(card, "review_mfa_methods") == []
    # It asks first, naming the method; Confirm carries the method's id back.
    confirm = card_of(await alex.press("remove_mfa_method", {"caseId": case.id, "methodId": METHOD_ITEM}))
    assert "Remove the sign-in method “SM-A515F” from Megan Bowen" in shown(confirm)
    [yes] = [b for b in _buttons(confirm, "remove_mfa_method")]
    assert yes["data"]["methodId"] == METHOD_ITEM and yes["data"]["confirm"] == "1"
    assert _writes(demo) == []
    card = card_of(await alex.press("remove_mfa_method", {"caseId": case.id, "methodId": METHOD_ITEM,
                                                          "confirm": "1"}))
    assert "Done: Remove sign-in method." in shown(card)
    assert _writes(demo) == [("DELETE", f"/v1.0/users/{MEGAN_ID}/authentication/microsoftAuthenticatorMethods/"
                                        f"{METHOD}", 204)]
    assert all(m.id != METHOD for m in await demo.tenant.list_auth_methods(MEGAN_ID))
    entries = [e for e in await demo.store.audit.list(case_id=case.id) if e.action == "remove_mfa_method"]
    assert [e.outcome for e in entries] == ["started", "succeeded"]
    assert (entries[0].parameters["methodId"], entries[0].parameters["method"]) == (METHOD_ITEM, "SM-A515F")
    assert "Sign-in method “SM-A515F” removed by Alex Wilber" in shown(card)
    # A second press (a stale card) is "already done": no call of any kind.
    before = len(demo.server.state.requests)
    card = card_of(await alex.press("remove_mfa_method", {"caseId": case.id, "methodId": METHOD_ITEM,
                                                          "confirm": "1"}))
    assert "already done by Alex Wilber" in shown(card)
    assert len(demo.server.state.requests) == before
    # The reconciler's read-back: GET on the method's own path, 404 = removed.
    target = Target(MEGAN_ID, "MeganB@example.com", "MeganB@example.com", METHOD_ITEM)
    assert (await ACTIONS[Verb.REMOVE_MFA_METHOD].read_back(demo.tenant, target)).outcome == "succeeded"


async def test_the_consent_and_its_app_role_assignment_are_revoked(demo: Demo) -> None:  # noqa: F811
    case = await demo.case_of("MeganB@example.com")
    alex = demo.chat(ALEX)
    card = card_of(await alex.press("show_case", {"caseId": case.id}))
    assert [b["data"]["grantId"] for b in _buttons(card, "revoke_consent")] == [GRANT]
    assert _buttons(card, "revoke_consent")[0]["title"] == "Revoke “Mail Sync Pro”"
    assert "Revoke the consent to “Mail Sync Pro”" in shown(card)
    # Megan's own consent is the bot's to revoke: no review is left, and no portal link for it.
    assert _buttons(card, "review_consents") == []
    assert not [url for url in _links(card) if "manage-application-permissions" in url or "ManagedAppMenuBlade" in url]
    target = Target(MEGAN_ID, "MeganB@example.com", "MeganB@example.com", GRANT)
    assert (await ACTIONS[Verb.REVOKE_CONSENT].read_back(demo.tenant, target)).outcome == "failed"
    card = card_of(await alex.press("revoke_consent", {"caseId": case.id, "grantId": GRANT, "confirm": "1"}))
    assert "Done: Revoke app consent." in shown(card)
    # The user's assignment to the app first, the grant last (a repeat after a crash finds what is left).
    assert _writes(demo) == [("DELETE", f"/v1.0/users/{MEGAN_ID}/appRoleAssignments/{ASSIGNMENT}", 204),
                             ("DELETE", f"/v1.0/oauth2PermissionGrants/{GRANT}", 204)]
    assert await demo.tenant.list_oauth_grants(MEGAN_ID) == ()
    assert demo.server.state.graph["appRoleAssignments"] == []
    entries = [e for e in await demo.store.audit.list(case_id=case.id) if e.action == "revoke_consent"]
    assert [e.outcome for e in entries] == ["started", "succeeded"]
    assert (entries[0].parameters["grantId"], entries[0].parameters["app"]) == (GRANT, "Mail Sync Pro")
    assert (await ACTIONS[Verb.REVOKE_CONSENT].read_back(demo.tenant, target)).outcome == "succeeded"


async def test_items_already_gone_are_already_removed_without_a_second_call(demo: Demo) -> None:  # noqa: F811
    case = await demo.case_of("MeganB@example.com")
    # Someone removed both in Entra after the investigation.
    methods = demo.server.state.graph["authenticationMethods"][MEGAN_ID]
    methods[:] = [m for m in methods if m["id"] != METHOD]
    grants = demo.server.state.graph["oauth2PermissionGrants"]
    grants[:] = [g for g in grants if g["id"] != GRANT]
    alex = demo.chat(ALEX)
    card = card_of(await alex.press("remove_mfa_method", {"caseId": case.id, "methodId": METHOD_ITEM,
                                                          "confirm": "1"}))
    assert "Remove sign-in method: Microsoft 365 shows it is already gone" in shown(card)
    # The one DELETE answered Graph's 404; nothing was sent again.
    assert _writes(demo) == [("DELETE", f"/v1.0/users/{MEGAN_ID}/authentication/microsoftAuthenticatorMethods/"
                                        f"{METHOD}", 404)]
    card = card_of(await alex.press("revoke_consent", {"caseId": case.id, "grantId": GRANT, "confirm": "1"}))
    assert "Revoke app consent: Microsoft 365 shows it is already gone" in shown(card)
    # The grant is read first: gone, so neither the assignments nor the grant are touched.
    assert len(_writes(demo)) == 1
    reads = [(r.path, r.status) for r in demo.server.state.requests if "oauth2PermissionGrants/" in r.path]
    assert reads == [(f"/v1.0/oauth2PermissionGrants/{GRANT}", 404)]
    assert demo.server.state.graph["appRoleAssignments"] != []  # not the bot's to judge once the consent is gone
    outcomes = [(e.action, e.outcome) for e in await demo.store.audit.list(case_id=case.id)]
    assert outcomes.count(("remove_mfa_method", "succeeded")) == outcomes.count(("revoke_consent", "succeeded")) == 1
    assert all(e.parameters["result"] == {"already_removed": True}
               for e in await demo.store.audit.list(case_id=case.id) if e.outcome == "succeeded")


async def test_a_forged_item_and_a_user_are_refused(demo: Demo) -> None:  # noqa: F811
    case = await demo.case_of("MeganB@example.com")
    alex = demo.chat(ALEX)
    # Megan's own phone was not registered in the window: the case recorded no removal of it.
    for data in ({"methodId": PHONE_ITEM}, {"methodId": "passwordAuthenticationMethod:28c10230"},
                 {"methodId": f"microsoftAuthenticatorAuthenticationMethod:{METHOD}/../../x"}):
        text = message_of(await alex.press("remove_mfa_method", {"caseId": case.id, "confirm": "1", **data}))
        assert "not one the investigation found" in text
    text = message_of(await alex.press("revoke_consent", {"caseId": case.id, "grantId": "pQ3x7Rk2d0K8mZcV1nB4yT6uWfL"
                                                                                        "hEjGs0aPq9rDt5Yk",
                                                          "confirm": "1"}))
    assert "not one the investigation found" in text
    for verb, data in (("remove_mfa_method", {"methodId": METHOD_ITEM}), ("revoke_consent", {"grantId": GRANT})):
        text = message_of(await demo.chat(ISAIAH).press(verb, {"caseId": case.id, "confirm": "1", **data}))
        assert "Only security admins" in text
    assert _writes(demo) == []
    assert [e for e in await demo.store.audit.list(case_id=case.id)
            if e.action in ("remove_mfa_method", "revoke_consent")] == []

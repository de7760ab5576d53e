"""Which MFA methods and app consents the verdict offers to remove, and how the card and the tenant layer treat
their ids (issue #17, items 1 and 2). The HTTP-level journeys are in tests/integration/test_remediation_identity.py.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from cards.findings import ConfirmItem, confirmation_card, findings_card
from cards.verbs import Verb
from investigation.collect import Investigation
from investigation.indicators import run_indicators
from investigation.verdict import ENTRA_APP_PERMISSIONS_URL, Step, Verdict, assess
from m365.errors import NotFound
from m365.records import AuthMethod, OAuthGrant, parse_method_item
from remediation.actions import ACTIONS, Target
from tests.fakes import FakeTenant
from tests.unit.test_verdict import ATTACKER_IP, MEGAN, evidence_from, megan

NEW_APP = {"@odata.type": "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod", "id": "m-app",
           "displayName": "SM-A515F", "createdDateTime": None}
APP_SP = {"id": "5d2e7c1a-3b4f-4a6e-8c9d-0e1f2a3b4c5d", "appId": "a4c8e2f6-1b3d-4f5a-9e7c-2d4b6f8a0c1e",
          "displayName": "Mail Sync Pro", "appOwnerOrganizationId": "3e9f1a2b-5c7d-4e8f-a0b1-c2d3e4f5a6b7",
          "verifiedPublisher": {}}


def story(*, app_method: bool = True, method_text: str = "Authenticator App with Notification and Code",
          consent: str | None = None) -> dict[str, Any]:
    """Megan's story, her intruder registering an authenticator app (dated by Graph) instead of a phone."""
    s = copy.deepcopy(megan())
    s["methods"] = [m for m in s["methods"] if m["id"] != "m-new"]
    audit = s["audits"][0]
    audit["additionalDetails"] = [{"key": "Method", "value": method_text}]
    if app_method:
        s["methods"].append({**NEW_APP, "createdDateTime": audit["activityDateTime"]})
    if consent is not None:
        s["principals"] = [APP_SP]
        s["grants"] = [{"id": "g-1", "clientId": APP_SP["id"], "consentType": consent,
                        "principalId": MEGAN if consent == "Principal" else None,
                        "resourceId": "c9e1f0a2-7b3c-4d5e-8f60-718293a4b5c6", "scope": "Mail.Read offline_access"}]
    return s


def investigation(s: dict[str, Any]) -> Investigation:
    evidence = evidence_from(s)
    findings = run_indicators(evidence)
    return Investigation(evidence, findings, assess(evidence, findings), None)


def steps(s: dict[str, Any], code: str) -> list[Step]:
    return [step for step in investigation(s).assessment.recommended_steps if step.code == code]


def test_a_method_registered_in_the_window_gets_a_removal_with_when_and_from_where() -> None:
    i = investigation(story())
    assert i.assessment.verdict == Verdict.compromised
    [step] = [s for s in i.assessment.recommended_steps if s.code == "remove_mfa_method"]
    assert step.target_id == "microsoftAuthenticatorAuthenticationMethod:m-app"
    assert dict(step.params) == {"method": "SM-A515F", "method_type": "microsoftAuthenticatorAuthenticationMethod",
                                 "time": "2024-10-21T01:00:00Z", "from_ip": ATTACKER_IP}
    assert step.required
    # The removal covers it: no "Done, I checked" review says the same again.
    assert "review_mfa_methods" not in [s.code for s in i.assessment.recommended_steps]
    # Megan's old iPhone was not registered in the window: no button for it.
    old = "microsoftAuthenticatorAuthenticationMethod:m-old"
    assert all(s.target_id != old for s in i.assessment.recommended_steps)


def test_a_registration_the_bot_cannot_tie_to_a_method_is_left_to_a_person() -> None:
    # The original story: a phone, which Graph does not date.
    codes = [s.code for s in investigation(megan()).assessment.recommended_steps]
    assert "review_mfa_methods" in codes and "remove_mfa_method" not in codes


def test_an_authenticator_already_removed_leaves_nothing_to_do() -> None:
    codes = [s.code for s in investigation(story(app_method=False)).assessment.recommended_steps]
    assert "review_mfa_methods" not in codes and "remove_mfa_method" not in codes


def test_a_method_graph_dates_without_an_audit_has_an_unknown_address() -> None:
    s = story()
    s["audits"] = []
    [step] = steps(s, "remove_mfa_method")
    assert step.params["from_ip"] == "unknown" and step.params["time"] == "2024-10-21T01:00:00Z"


def test_a_users_own_consent_is_revoked_by_the_bot_and_a_tenant_wide_one_is_linked() -> None:
    [revoke] = steps(story(consent="Principal"), "revoke_consent")
    assert (revoke.target_id, dict(revoke.params)) == ("g-1", {"app": "Mail Sync Pro",
                                                               "scopes": "Mail.Read, offline_access"})
    assert revoke.required and steps(story(consent="Principal"), "review_consents") == []
    s = story(consent="AllPrincipals")
    # /users/{id}/oauth2PermissionGrants lists only her own grants; a tenant-wide one reaches the evidence elsewhere.
    assert steps(s, "revoke_consent") == []
    [review] = steps(s, "review_consents")
    assert review.url == ENTRA_APP_PERMISSIONS_URL.format(sp=APP_SP["id"], app=APP_SP["appId"])
    card = findings_card(investigation(s), case_id="c1", viewer_can_act=True, locale="en")
    urls = [a["url"] for a in _all(card) if a.get("type") == "Action.OpenUrl"]
    assert review.url in urls
    # No revoke button for it: only "Done, I checked".
    verbs = [a["verb"] for a in _all(card) if a.get("type") == "Action.Execute"]
    assert "revoke_consent" not in verbs and "review_consents" in verbs


def test_the_card_has_one_button_per_item_and_no_portal_link_for_them() -> None:
    card = findings_card(investigation(story(consent="Principal")), case_id="c1", viewer_can_act=True, locale="en")
    buttons = {a["verb"]: a for a in _all(card) if a.get("type") == "Action.Execute"}
    assert buttons["remove_mfa_method"]["data"] == {"verb": "remove_mfa_method", "caseId": "c1",
                                                    "methodId": "microsoftAuthenticatorAuthenticationMethod:m-app"}
    assert buttons["remove_mfa_method"]["title"] == "Remove “SM-A515F”"
    assert buttons["revoke_consent"]["data"]["grantId"] == "g-1"
    urls = [a["url"] for a in _all(card) if a.get("type") == "Action.OpenUrl"]
    assert not [u for u in urls if "illicit-consent" in u or "manage-application-permissions" in u]


def test_the_confirmation_names_the_item_and_carries_its_id() -> None:
    card = confirmation_card(Verb.REVOKE_CONSENT, case_id="c1", name="Megan Bowen", upn="MeganB@example.com",
                             locale="nl", item=ConfirmItem("grantId", "g-1", "app", "Mail Sync Pro"))
    text = str(card)
    assert "Mail Sync Pro" in text and "Megan Bowen" in text
    assert card["actions"][0]["data"] == {"verb": "revoke_consent", "caseId": "c1", "confirm": "1", "grantId": "g-1"}


@pytest.mark.parametrize("item", [
    "", "m-app", ":m-app", "passwordAuthenticationMethod:28c1", "phoneAuthenticationMethod:",
    "phoneAuthenticationMethod:a/../b", "phoneAuthenticationMethod:a b", "phoneAuthenticationMethod:" + "a" * 201,
    "hardwareOathAuthenticationMethod:x",
])
def test_method_ids_are_parsed_strictly(item: str) -> None:
    assert parse_method_item(item) is None


def test_method_ids_name_their_graph_collection() -> None:
    assert parse_method_item("fido2AuthenticationMethod:-2_GRUg2-HYz6_1YG4YRAQ2") == (
        "fido2Methods", "-2_GRUg2-HYz6_1YG4YRAQ2")
    assert AuthMethod("x", "passwordAuthenticationMethod").item_id == ""
    assert AuthMethod("x", "phoneAuthenticationMethod").item_id == "phoneAuthenticationMethod:x"


async def test_read_backs_and_already_gone_on_the_fake_tenant() -> None:
    fake = FakeTenant(methods={MEGAN: [AuthMethod("m-app", "microsoftAuthenticatorAuthenticationMethod")]},
                      grants={MEGAN: [OAuthGrant("g-1", "sp", "Principal", MEGAN, "r", ("Mail.Read",))]})
    method = Target(MEGAN, "MeganB@example.com", "MeganB@example.com",
                    "microsoftAuthenticatorAuthenticationMethod:m-app")
    grant = Target(MEGAN, "MeganB@example.com", "MeganB@example.com", "g-1")
    remove, revoke = ACTIONS[Verb.REMOVE_MFA_METHOD], ACTIONS[Verb.REVOKE_CONSENT]
    assert remove.removal and revoke.removal and remove.confirm and revoke.confirm
    assert (await remove.read_back(fake, method)).outcome == "failed"
    assert (await revoke.read_back(fake, grant)).outcome == "failed"
    await remove.run(fake, method)
    await revoke.run(fake, grant)
    assert (await remove.read_back(fake, method)).outcome == "succeeded"
    assert (await revoke.read_back(fake, grant)).outcome == "succeeded"
    with pytest.raises(NotFound):
        await remove.run(fake, method)
    with pytest.raises(NotFound):
        await revoke.run(fake, grant)


def _all(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        return [node] + [x for v in node.values() for x in _all(v)]
    if isinstance(node, list):
        return [x for item in node for x in _all(item)]
    return []

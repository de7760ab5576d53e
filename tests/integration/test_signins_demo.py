"""Sign-in judgement against the demo tenant: the seed's sign-ins (Graph v1.0 `signIn` with `deviceDetail`,
`location.geoCoordinates` and `status.additionalDetails`) travel the production read path into the findings,
the card and `python -m investigation --json`.

The stories: Lynne Robbins flies to Lisbon with her managed laptop and phone (a trip, not an intruder); Megan
Lewis gives in to the sixth MFA push from Frankfurt (MFA fatigue, and what that session did); Grady Archie's
laptop stays in Utrecht while his password is used from São Paulo (impossible travel) and then from six
proxy addresses over SMTP AUTH in eight minutes; Megan Bowen's Lagos and Moscow sign-ins are an impossible trip.
"""

from __future__ import annotations

import json
from pathlib import Path

from cards.findings import findings_card
from investigation.collect import Investigation
from investigation.indicators import Finding, Severity
from investigation.verdict import Verdict
from tests.cardschema import assert_valid_card, lines
from tests.demo_stack import DemoStack, investigate_account
from tests.integration.test_investigation_inputs import run_cli


async def investigate(stack: DemoStack, upn: str) -> Investigation:
    return await investigate_account(stack, upn)


def found(investigation: Investigation, code: str) -> list[Finding]:
    return [f for f in investigation.findings if f.code == code]


def rows(finding: Finding, key: str) -> list[str]:
    return [v for k, v in finding.evidence if k == key]


def card_text(investigation: Investigation) -> str:
    card = findings_card(investigation, case_id="case-1", viewer_can_act=True, locale="en-US",
                         time_zone="Europe/Amsterdam")
    assert_valid_card(card)
    return " ".join(lines(card))


async def test_the_seed_sign_ins_carry_devices_coordinates_and_mfa_details(stack: DemoStack) -> None:
    lynne = await investigate(stack, "LynneR@example.com")
    sign_ins = lynne.evidence.sign_ins or ()
    lisbon = [s for s in sign_ins if s.city == "Lisbon"]
    assert lisbon and all(s.latitude is not None and s.longitude is not None for s in lisbon)
    assert {s.device_name for s in lisbon} == {"LYNNER-LT"} and all(s.device_managed for s in lisbon)
    assert any(s.error_code == 50074 for s in lisbon)


async def test_lynne_on_a_trip_with_her_own_laptop_is_no_intruder(stack: DemoStack) -> None:
    lynne = await investigate(stack, "LynneR@example.com")
    assert found(lynne, "sign_in_new_country") == [] and found(lynne, "sign_in_password_ok_blocked") == []
    [trip] = found(lynne, "sign_in_travel_known_device")
    assert trip.severity == Severity.low
    assert (trip.params["country"], trip.params["device"], trip.params["count"]) == ("PT", "LYNNER-LT", "3")
    assert lynne.assessment.verdict == Verdict.no_signs  # unchanged by the trip
    assert "this looks like a trip" in card_text(lynne)


async def test_megan_lewis_gave_in_to_mfa_fatigue(stack: DemoStack) -> None:
    megan = await investigate(stack, "MeganL@example.com")
    [fatigue] = found(megan, "mfa_fatigue_approved")
    assert fatigue.severity == Severity.high
    assert {k: fatigue.params[k] for k in ("count", "ip", "country", "after_count")} == {
        "count": "5", "ip": "192.0.2.60", "country": "DE", "after_count": "2"}
    assert set(rows(fatigue, "activity")) == {"MFA denied; user declined the authentication",
                                              "MFA denied; user did not respond to mobile app notification"}
    # What the session did: her mailbox in the browser, then mail submitted over SMTP AUTH.
    assert {"One Outlook Web", "Office 365 Exchange Online"} <= set(rows(fatigue, "app"))
    assert "Authenticated SMTP" in rows(fatigue, "protocol")
    assert megan.assessment.verdict in (Verdict.suspicious, Verdict.compromised)
    assert "MFA fatigue" in card_text(megan)


async def test_grady_impossible_travel_and_the_sending_tool(stack: DemoStack) -> None:
    grady = await investigate(stack, "GradyA@example.com")
    [travel] = found(grady, "sign_in_impossible_travel")
    assert travel.severity == Severity.high
    assert {travel.params["from_place"], travel.params["to_place"]} == {"Utrecht, NL", "Sao Paulo, BR"}
    assert int(travel.params["distance"]) > 9000
    [burst] = found(grady, "sign_in_many_addresses")
    assert burst.severity == Severity.high  # SMTP AUTH
    assert (burst.params["count"], burst.params["protocols"]) == ("6", "Authenticated SMTP")
    assert rows(burst, "ip") == [f"192.0.2.{n}" for n in range(211, 217)]
    [brazil] = found(grady, "sign_in_new_country")
    assert {"unknown_device", "home_continued"} <= set(rows(brazil, "marker"))
    assert grady.assessment.verdict != Verdict.no_signs
    # The why of the new country is on the card, not cut off behind the other evidence.
    shown = card_text(grady)
    assert "from a device the user never used before" in shown and "sign-ins from home went on meanwhile" in shown


async def test_megan_bowen_lagos_to_moscow_is_impossible(stack: DemoStack) -> None:
    megan = await investigate(stack, "MeganB@example.com")
    trips = found(megan, "sign_in_impossible_travel")
    assert any({f.params["from_place"], f.params["to_place"]} == {"Lagos, NG", "Moscow, RU"} for f in trips)
    assert all(f.severity == Severity.high for f in trips)
    assert {f.params["country"] for f in found(megan, "sign_in_new_country")} >= {"NG", "RU"}
    assert megan.assessment.verdict == Verdict.compromised


def test_cli_json_shows_the_sign_in_findings(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "MeganL@example.com", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    by_code = {f["code"]: f for f in data["findings"]}
    fatigue = by_code["mfa_fatigue_approved"]
    assert fatigue["severity"] == "high" and "MFA fatigue" in fatigue["summary"]
    assert data["sources"]["sign_ins"] == "ok"
    grady = json.loads(run_cli(tmp_path, "GradyA@example.com", "--json").stdout)
    assert {"sign_in_impossible_travel", "sign_in_many_addresses"} <= {f["code"] for f in grady["findings"]}

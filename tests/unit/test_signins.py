"""Sign-in judgement (investigation/signins.py and its findings) on sign-ins built here, shaped as Graph v1.0
`signIn` resources (microsoft-graph-docs api-reference/v1.0/resources/signin.md: `location.geoCoordinates`,
`deviceDetail`, `status.additionalDetails`) and read through the record parser.

Each rule has its positive case and the honest near-misses: the baseline an intruder cannot become, the
travelling employee on her own laptop, a VPN hop, a slow long flight, IPv6 privacy addresses, MFA interrupts
that are no denials, and the user's own sign-in after prompts she denied.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from investigation import signins
from investigation.evidence import Evidence
from investigation.indicators import EVIDENCE_KEYS, FINDING_PARAMS, Finding, Severity, run_indicators, suspicious_ips
from m365.records import BlockedSender, SignIn, User

Json = dict[str, Any]
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
USER_ID = "5c9a7fc6-4e8b-4a3d-b6c7-0d1e2f3a4b06"
UPN = "anna@example.com"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "microsoft" / "graph"

# Places: (city, country, latitude, longitude).
AMSTERDAM = ("Amsterdam", "NL", 52.3676, 4.9041)
UTRECHT = ("Utrecht", "NL", 52.0907, 5.1214)
BRUSSELS = ("Brussels", "BE", 50.8503, 4.3517)
LISBON = ("Lisbon", "PT", 38.7223, -9.1393)
LAGOS = ("Lagos", "NG", 6.5244, 3.3792)
SAO_PAULO = ("Sao Paulo", "BR", -23.5505, -46.6333)
NEW_YORK = ("New York", "US", 40.7128, -74.0060)
FRANKFURT = ("Frankfurt am Main", "DE", 50.1109, 8.6821)

# `deviceDetail` as Graph sends it: the user's Entra-joined, compliant laptop; her own phone registered but not
# managed; and what an unregistered client shows (no device id, claims null).
LAPTOP: Json = {"deviceId": "3c1f2a9e-7d4b-4e8a-9f10-2b3c4d5e6f70", "displayName": "ANNA-LT",
                "operatingSystem": "Windows 11", "browser": "Edge 131.0.0", "isCompliant": True, "isManaged": True,
                "trustType": "Azure AD joined"}
DESKTOP: Json = {**LAPTOP, "deviceId": "8a2b3c4d-5e6f-4a1b-9c2d-3e4f5a6b7c80", "displayName": "ANNA-PC"}
BYOD_PHONE: Json = {"deviceId": "6f5e4d3c-2b1a-4f9e-8d7c-6b5a4f3e2d10", "displayName": "Anna's iPhone",
                    "operatingSystem": "Ios 18", "browser": "Mobile Safari", "isCompliant": False,
                    "isManaged": False, "trustType": "Azure AD registered"}
UNKNOWN_DEVICE: Json = {"deviceId": "", "displayName": None, "operatingSystem": "Windows 10", "browser": "Chrome 130",
                        "isCompliant": None, "isManaged": None, "trustType": None}

DECLINED = "MFA denied; user declined the authentication"
NO_RESPONSE = "MFA denied; user did not respond to mobile app notification"


def at(hours_ago: float) -> str:
    return (NOW - timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def iso(hours_ago: float) -> str:
    return (NOW - timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def sign_in(hours_ago: float, place: tuple[str, str, float, float] = AMSTERDAM, *, ip: str = "198.51.100.23",
            client: str = "Browser", app: str = "Office 365 Exchange Online", error: int = 0,
            details: str | None = None, device: Json | None = None, coordinates: bool = True) -> Json:
    city, country, lat, lon = place
    return {
        "id": f"si-{hours_ago}-{country}-{ip}-{client}-{error}",
        "createdDateTime": at(hours_ago), "userDisplayName": "Anna", "userPrincipalName": UPN, "userId": USER_ID,
        "appId": "00000002-0000-0ff1-ce00-000000000000", "appDisplayName": app, "ipAddress": ip,
        "clientAppUsed": client, "correlationId": f"c-{hours_ago}", "conditionalAccessStatus": "notApplied",
        "isInteractive": True, "riskDetail": "none", "riskLevelAggregated": "none", "riskLevelDuringSignIn": "none",
        "riskState": "none", "riskEventTypes": [], "riskEventTypes_v2": [], "resourceDisplayName": "Office 365",
        "resourceId": "00000002-0000-0ff1-ce00-000000000000",
        "status": {"errorCode": error, "failureReason": None if error == 0 else "Other.",
                   "additionalDetails": details},
        "deviceDetail": device if device is not None else UNKNOWN_DEVICE,
        "location": {"city": city, "state": "", "countryOrRegion": country,
                     "geoCoordinates": {"altitude": None, "latitude": lat, "longitude": lon} if coordinates else None},
        "appliedConditionalAccessPolicies": [],
    }


def history(device: Json = LAPTOP, place: tuple[str, str, float, float] = AMSTERDAM) -> list[Json]:
    """Four ordinary days at home on her laptop, before the incident window (older than 48 hours)."""
    return [sign_in(24 * d + 2, place, device=device, details="MFA requirement satisfied by claim in the token")
            for d in range(3, 7)]


def evidence(sign_ins: Sequence[Json], *, usage: str | None = "NL",
             restricted_hours_ago: float | None = None) -> Evidence:
    restriction = None
    if restricted_hours_ago is not None:
        created = (NOW - timedelta(hours=restricted_hours_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")
        restriction = BlockedSender.from_exchange({"SenderAddress": UPN, "Reason": "OutboundSpamLast24Hours=300",
                                                   "BlockType": "Outbound", "CreatedDatetime": created})
    user = User.from_graph({"id": USER_ID, "userPrincipalName": UPN, "displayName": "Anna", "mail": UPN,
                            "usageLocation": usage, "accountEnabled": True})
    return Evidence(user=user, now=NOW, verified_domains=("example.com",), restriction=restriction,
                    sign_ins=tuple(SignIn.from_graph(s) for s in sign_ins))


def findings(ev: Evidence, code: str) -> list[Finding]:
    found = [f for f in run_indicators(ev) if f.code == code]
    for f in found:  # what every finding owes the card: its declared params, known evidence keys
        assert set(f.params) == set(FINDING_PARAMS[code]), code
        assert {k for k, _ in f.evidence} <= set(EVIDENCE_KEYS), code
    return found


def codes(ev: Evidence) -> set[str]:
    return {f.code for f in run_indicators(ev)}


def rows(finding: Finding, key: str) -> list[str]:
    return [v for k, v in finding.evidence if k == key]


# ------------------------------------------------------------------------------------------- the record


def test_parser_reads_coordinates_device_and_mfa_details_from_microsofts_example() -> None:
    body = json.loads((FIXTURES / "signin-list.json").read_text("utf-8"))
    example = SignIn.from_graph(body["response"]["value"][0] if "response" in body else body["value"][0])
    assert (example.latitude, example.longitude) == pytest.approx((47.68050003051758, -122.12094116210938))
    # Microsoft's example: an unregistered Windows browser (empty deviceId, claims null), no MFA details.
    assert (example.device_id, example.device_compliant, example.device_managed) == ("", None, None)
    assert example.operating_system == "Windows 10" and example.additional_details == ""


def test_parser_reads_device_claims_and_refuses_impossible_coordinates() -> None:
    parsed = SignIn.from_graph(sign_in(1, ("X", "NL", 91.0, 4.9), device=LAPTOP, details=DECLINED, error=500121))
    assert parsed.latitude is None and parsed.longitude == pytest.approx(4.9)
    assert (parsed.device_id, parsed.device_name, parsed.device_managed, parsed.device_compliant,
            parsed.device_trust_type) == (LAPTOP["deviceId"], "ANNA-LT", True, True, "Azure AD joined")
    assert parsed.additional_details == DECLINED and not parsed.succeeded
    assert SignIn.from_graph(sign_in(1, coordinates=False)).latitude is None


# ------------------------------------------------------------------------------------------- the baseline


def test_a_country_only_in_the_window_is_new_however_often_it_recurs() -> None:
    # Hundreds of IMAP sign-ins from Lagos on both days of the window, none before: still new, still high.
    flood = [sign_in(40 - i / 20, LAGOS, ip="192.0.2.77", client="IMAP4") for i in range(300)]
    flood += [sign_in(10 - i / 20, LAGOS, ip="192.0.2.77", client="IMAP4") for i in range(100)]
    [finding] = findings(evidence(history() + flood, usage=None), "sign_in_new_country")
    assert finding.severity == Severity.high
    assert finding.params["country"] == "NG" and finding.params["count"] == "400"
    assert signins.baseline(evidence(history() + flood, usage=None)).usual == frozenset({"NL"})


def test_the_window_is_anchored_at_the_restriction() -> None:
    # Restricted 30 hours ago: the window starts 78 hours ago, so Lagos at 60 hours is in it, not in the history.
    ev = evidence(history() + [sign_in(60, LAGOS, ip="192.0.2.77"), sign_in(59, LAGOS, ip="192.0.2.77")],
                  usage=None, restricted_hours_ago=30)
    assert signins.incident_start(ev) == NOW - timedelta(hours=78)
    assert [f.params["country"] for f in findings(ev, "sign_in_new_country")] == ["NG"]
    # Without the restriction, 60 hours ago is history; one day there does not make Lagos usual either.
    assert signins.baseline(evidence(history() + [sign_in(60, LAGOS)], usage=None)).usual == frozenset({"NL"})


def test_a_commute_seen_on_two_days_before_the_window_is_usual() -> None:
    commute = [sign_in(24 * d + 5, BRUSSELS, ip="203.0.113.9", device=LAPTOP) for d in (3, 5)]
    ev = evidence(history() + commute + [sign_in(5, BRUSSELS, ip="203.0.113.9", device=LAPTOP)])
    assert signins.baseline(ev).usual == frozenset({"NL", "BE"})
    assert codes(ev) == set()


def test_without_history_or_usage_location_the_baseline_is_unknown_and_nobody_is_home() -> None:
    window = [sign_in(30, AMSTERDAM), sign_in(20, LAGOS, ip="192.0.2.77"), sign_in(10, LAGOS, ip="192.0.2.77")]
    ev = evidence(window, usage=None)
    assert not signins.baseline(ev).known
    assert findings(ev, "sign_in_new_country") == []  # Lagos is not called new, nor Amsterdam home
    [unknown] = findings(ev, "sign_in_baseline_unknown")
    assert unknown.severity == Severity.low  # two countries: someone should look
    assert unknown.params == {"countries": "NL, NG", "time": iso(48)}
    [single] = findings(evidence([sign_in(10, LAGOS)], usage=None), "sign_in_baseline_unknown")
    assert single.severity == Severity.info


def test_without_history_the_usage_location_is_the_baseline_and_says_so() -> None:
    ev = evidence([sign_in(20, LAGOS, ip="192.0.2.77")], usage="NL")
    assert signins.baseline(ev).source == signins.BaselineSource.usage_location
    [finding] = findings(ev, "sign_in_new_country")
    assert "baseline_usage_location" in rows(finding, "marker")
    assert findings(ev, "sign_in_baseline_unknown") == []


# ------------------------------------------------------------------------------------- the own device


def trip(device: Json = LAPTOP) -> list[Json]:
    """Anna in Lisbon for three days: sign-ins on one device, none from home meanwhile."""
    return [sign_in(h, LISBON, ip="203.0.113.140", device=device, details="MFA completed in Azure AD")
            for h in (40, 30, 20, 10)]


def test_the_travelling_employee_on_her_managed_laptop_is_low_not_an_intruder() -> None:
    # Home (Amsterdam, laptop) until the flight; Lisbon on the same laptop, MFA asked once there; home silent.
    before = [sign_in(46, AMSTERDAM, device=LAPTOP), sign_in(44, AMSTERDAM, device=LAPTOP)]
    asked = sign_in(35, LISBON, ip="203.0.113.140", device=LAPTOP, error=50074)
    ev = evidence(history() + before + trip() + [asked])
    assert findings(ev, "sign_in_new_country") == []
    [travel] = findings(ev, "sign_in_travel_known_device")
    assert travel.severity == Severity.low
    assert travel.params == {"country": "PT", "device": "ANNA-LT", "time": iso(40), "count": "4"}
    assert {"known_device", "home_stopped"} <= set(rows(travel, "marker"))
    # Her own laptop asked for MFA abroad: that is her, not someone holding the password.
    assert findings(ev, "sign_in_password_ok_blocked") == []
    assert "203.0.113.140" not in suspicious_ips(ev)
    assert all(f.severity in (Severity.low, Severity.info) for f in run_indicators(ev))


def test_an_unknown_device_abroad_while_the_laptop_stays_home_is_an_intruder() -> None:
    foreign = [sign_in(h, LAGOS, ip="192.0.2.77") for h in (20, 10)]
    ev = evidence(history() + foreign + [sign_in(15, AMSTERDAM, device=LAPTOP)])
    [finding] = findings(ev, "sign_in_new_country")
    assert finding.severity == Severity.high
    assert {"unknown_device", "home_continued"} <= set(rows(finding, "marker"))
    assert rows(finding, "device") == ["ANNA-LT"]
    assert findings(ev, "sign_in_travel_known_device") == []
    assert "192.0.2.77" in suspicious_ips(ev)


def test_her_laptop_abroad_while_home_continues_from_another_device_stays_high() -> None:
    ev = evidence(history(DESKTOP) + history(LAPTOP) + trip() + [sign_in(25, AMSTERDAM, device=DESKTOP)])
    [finding] = findings(ev, "sign_in_new_country")
    assert "home_continued" in rows(finding, "marker") and "unknown_device" not in rows(finding, "marker")


def test_a_known_but_unmanaged_phone_abroad_is_not_vouched_for() -> None:
    ev = evidence(history(BYOD_PHONE) + trip(BYOD_PHONE))
    [finding] = findings(ev, "sign_in_new_country")
    assert finding.severity == Severity.high and "unknown_device" in rows(finding, "marker")


def test_a_laptop_first_seen_in_the_window_is_not_known() -> None:
    # The laptop appears only with the trip: the history has nothing of it, so it vouches for nothing.
    ev = evidence(history(DESKTOP) + trip(LAPTOP))
    assert findings(ev, "sign_in_new_country")[0].severity == Severity.high


# ------------------------------------------------------------------------------------ impossible travel


def test_amsterdam_then_sao_paulo_an_hour_later_is_impossible_travel() -> None:
    ev = evidence(history() + [sign_in(5, AMSTERDAM, device=LAPTOP),
                               sign_in(4, SAO_PAULO, ip="192.0.2.201", client="Authenticated SMTP")])
    [finding] = findings(ev, "sign_in_impossible_travel")
    assert finding.severity == Severity.high
    assert finding.params["from_place"] == "Amsterdam, NL" and finding.params["to_place"] == "Sao Paulo, BR"
    assert 9700 < int(finding.params["distance"]) < 9900 and finding.params["minutes"] == "60"
    # Both sign-ins as evidence: times, places, addresses and clients.
    assert rows(finding, "time") == [iso(5), iso(4)]
    assert rows(finding, "ip") == ["198.51.100.23", "192.0.2.201"]
    assert rows(finding, "protocol") == ["Browser", "Authenticated SMTP"]


def test_a_short_hop_a_slow_flight_and_failures_are_not_impossible_travel() -> None:
    vpn_hop = [sign_in(5, AMSTERDAM), sign_in(4.95, BRUSSELS, ip="203.0.113.9")]  # 170 km in 3 minutes
    flight = [sign_in(12, AMSTERDAM), sign_in(3, NEW_YORK, ip="203.0.113.61")]  # 5,860 km in 9 hours
    failed = [sign_in(2, AMSTERDAM), sign_in(1.9, LAGOS, ip="192.0.2.77", error=50126)]
    for case in (vpn_hop, flight, failed):
        assert findings(evidence(history() + case), "sign_in_impossible_travel") == []
    assert signins.distance_km(SignIn.from_graph(vpn_hop[0]), SignIn.from_graph(vpn_hop[1])) == pytest.approx(
        173, abs=5)


def test_sign_ins_without_coordinates_are_not_guessed() -> None:
    unplaced = [sign_in(5, AMSTERDAM), sign_in(4.9, SAO_PAULO, ip="192.0.2.201", coordinates=False)]
    null_island = [sign_in(5, AMSTERDAM), sign_in(4.9, ("", "BR", 0.0, 0.0), ip="192.0.2.201")]
    for case in (unplaced, null_island):
        assert signins.impossible_travel(evidence(history() + case)) == []


def test_her_own_laptop_jumping_continents_is_a_vpn_and_low() -> None:
    ev = evidence(history() + [sign_in(5, AMSTERDAM, device=LAPTOP),
                               sign_in(4.8, NEW_YORK, ip="203.0.113.61", device=LAPTOP)])
    [finding] = findings(ev, "sign_in_impossible_travel")
    assert finding.severity == Severity.low and "same_device_vpn" in rows(finding, "marker")


def test_back_and_forth_hops_between_two_places_are_one_finding() -> None:
    hops = [sign_in(10 - i * 0.5, AMSTERDAM if i % 2 == 0 else LAGOS, ip=f"192.0.2.{i}") for i in range(6)]
    [finding] = findings(evidence(history() + hops), "sign_in_impossible_travel")
    assert finding.params["from_place"] == "Amsterdam, NL" and rows(finding, "count") == ["5"]


# -------------------------------------------------------------------------------------- many addresses


def burst(client: str, *, minutes: float = 8, n: int = 5, prefix: str = "192.0.2.") -> list[Json]:
    return [sign_in(3 - (minutes / 60) * i / (n - 1), SAO_PAULO, ip=f"{prefix}{10 + i}", client=client)
            for i in range(n)]


def test_five_addresses_in_minutes_is_medium_for_a_browser() -> None:
    [finding] = findings(evidence(history() + burst("Browser")), "sign_in_many_addresses")
    assert finding.severity == Severity.medium
    assert finding.params == {"count": "5", "minutes": "8", "time": iso(3), "protocols": "Browser"}
    assert rows(finding, "ip") == [f"192.0.2.{10 + i}" for i in range(5)]


@pytest.mark.parametrize("client", ["Authenticated SMTP", "IMAP4", "POP3", "Exchange ActiveSync", "Other clients"])
def test_a_burst_over_legacy_clients_is_high(client: str) -> None:
    # Whatever the country: the burst comes from home here, it is the number of addresses that tells.
    sending_tool = [sign_in(3 - i / 60, AMSTERDAM, ip=f"198.51.100.{50 + i}", client=client) for i in range(6)]
    [finding] = findings(evidence(history() + sending_tool), "sign_in_many_addresses")
    assert finding.severity == Severity.high
    assert rows(finding, "protocol") == [f"{client} (6)"]


def test_four_addresses_or_five_spread_over_half_an_hour_are_not_a_burst() -> None:
    assert findings(evidence(history() + burst("Authenticated SMTP", n=4)), "sign_in_many_addresses") == []
    assert findings(evidence(history() + burst("Authenticated SMTP", minutes=30)), "sign_in_many_addresses") == []


def test_ipv6_privacy_addresses_in_one_prefix_are_one_address() -> None:
    phone = burst("Mobile Apps and Desktop clients", prefix="2001:db8:4a1:7b00::")
    assert findings(evidence(history() + phone), "sign_in_many_addresses") == []
    assert signins.address_key("2001:db8:4a1:7b00::10") == signins.address_key("2001:db8:4a1:7b00:ffff::1")
    assert signins.address_key("::ffff:192.0.2.1") == "192.0.2.1"


# ----------------------------------------------------------------------------------------- MFA fatigue


def prompts(n: int, *, start: float = 6.0, ip: str = "203.0.113.50",
            place: tuple[str, str, float, float] = FRANKFURT, details: str = DECLINED) -> list[Json]:
    """`n` pushes denied (500121) five minutes apart, from the attacker's machine."""
    return [sign_in(start - i / 12, place, ip=ip, error=500121, details=details) for i in range(n)]


def test_denied_prompts_then_an_approval_then_a_session_is_mfa_fatigue() -> None:
    pushes = prompts(3) + prompts(2, start=5.75, details=NO_RESPONSE)
    approval = sign_in(5.5, FRANKFURT, ip="203.0.113.50", details="MFA completed in Azure AD")
    session = [sign_in(5.0, FRANKFURT, ip="203.0.113.50", app="Office 365 Exchange Online", client="IMAP4"),
               sign_in(4.0, LAGOS, ip="192.0.2.77", app="Microsoft Graph")]
    home = [sign_in(4.5, AMSTERDAM, device=LAPTOP)]  # the user, at home, meanwhile: not the attacker's session
    ev = evidence(history() + pushes + [approval] + session + home)
    [finding] = findings(ev, "mfa_fatigue_approved")
    assert finding.severity == Severity.high
    assert finding.params == {"count": "5", "time": iso(5.5), "ip": "203.0.113.50", "country": "DE",
                              "after_count": "2"}
    assert rows(finding, "activity") == [DECLINED, NO_RESPONSE]
    assert set(rows(finding, "ip")) == {"203.0.113.50", "192.0.2.77"}
    assert "Microsoft Graph" in rows(finding, "app") and "IMAP4" in rows(finding, "protocol")
    assert findings(ev, "mfa_prompts_denied") == []


def test_denied_prompts_without_an_approval_are_medium() -> None:
    [finding] = findings(evidence(history() + prompts(4)), "mfa_prompts_denied")
    assert finding.severity == Severity.medium
    assert finding.params == {"count": "4", "time": iso(6), "ip": "203.0.113.50", "country": "DE"}


def test_mfa_required_interrupts_are_not_denials() -> None:
    interrupts = [sign_in(6 - i / 12, FRANKFURT, ip="203.0.113.50", error=code)
                  for i, code in enumerate((50074, 50076, 50074, 50076, 50074))]
    approval = sign_in(5.5, FRANKFURT, ip="203.0.113.50", details="MFA completed in Azure AD")
    ev = evidence(history() + interrupts + [approval])
    assert signins.mfa_fatigue(ev) == []
    assert not codes(ev) & {"mfa_fatigue_approved", "mfa_prompts_denied"}


def test_two_denials_are_not_fatigue() -> None:
    approval = sign_in(5.7, FRANKFURT, ip="203.0.113.50")
    assert signins.mfa_fatigue(evidence(history() + prompts(2) + [approval])) == []


def test_her_own_sign_in_at_home_after_denying_is_not_an_approval() -> None:
    # The attacker's pushes came from Amsterdam too (same country): only the same address would be the approval.
    pushes = prompts(4, place=AMSTERDAM, ip="198.51.100.200")
    her = sign_in(5.5, AMSTERDAM, ip="198.51.100.23", device=LAPTOP)
    ev = evidence(history() + pushes + [her])
    assert findings(ev, "mfa_fatigue_approved") == []
    assert len(findings(ev, "mfa_prompts_denied")) == 1


def test_an_approval_hours_later_or_over_a_legacy_client_does_not_count() -> None:
    late = sign_in(3.0, FRANKFURT, ip="203.0.113.50")  # 2 h 45 after the last push
    legacy = sign_in(5.6, FRANKFURT, ip="203.0.113.50", client="Authenticated SMTP")  # no MFA there
    for after in (late, legacy):
        [episode] = signins.mfa_fatigue(evidence(history() + prompts(4) + [after]))
        assert episode.approval is None


def test_prompts_hours_apart_are_separate_episodes() -> None:
    ev = evidence(history() + prompts(2, start=30) + prompts(2, start=10))
    assert signins.mfa_fatigue(ev) == []

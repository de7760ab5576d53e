"""Judging sign-ins from the sign-in log alone (Graph v1.0 `signIn`), so it works without Entra ID P2.

Pure functions from `Evidence` (or its sign-ins) to plain readings; `investigation.indicators` turns them into
findings. Nothing here imports the indicators, so the dependency runs one way. The rules, and why:

**The baseline** (`baseline`). The usual countries are learned from what the account did *before* the
incident window, never from the window itself: an intruder who signs in hundreds of times after taking the
account must not become "usual". The window starts `INCIDENT_WINDOW` (48 h) before the restriction (before
now when the account is not restricted); everything older in the look-back is history. From the history's
successful sign-ins, usual = every country active on `USUAL_MIN_DAYS` (2) or more days, plus the user's
`usageLocation` (set by an admin; the intruder cannot become it without a directory change the audit log
shows); when none of those occurs in the history, its most active country (ties: the one seen first) is
added, so a short history still has a home. Without history the usage location alone is the
baseline (`source == "usage_location"`, marked on the findings); without either the baseline is unknown and no
country is called foreign — we never call the intruder's country home. Known devices are the device ids of
the history's successful sign-ins from usual countries, with their managed/compliant claims. Limits: the
collector reads the newest `sign_in_limit` (500) sign-ins, so an enormous flood can push the history out;
then the baseline is (honestly) the usage location or unknown.

**Impossible travel** (`impossible_travel`). Consecutive successful sign-ins that both carry
`location.geoCoordinates` (latitude 0 and longitude 0 together mean "unknown" and are skipped): the
great-circle (haversine) distance over the time between them. A hop is impossible above `MAX_SPEED_KMH`
(900 km/h, an airliner's cruising speed) when the places are at least `MIN_TRAVEL_KM` (500 km) apart, which
absorbs IP-geolocation error and neighbouring-country VPN exits. Sign-ins without coordinates are left out:
the log has no city or country centroids to fall back on, and a bare country change says nothing about
distance (Amsterdam–Antwerp is 150 km). A hop whose two ends are the same known managed device is a VPN on the
user's own laptop, not two people (a device is in one place at a time): low, not high.

**Many addresses in a short time** (`address_bursts`). Successful sign-ins from `BURST_MIN_ADDRESSES` (5) or
more distinct addresses within `BURST_SPAN` (10 minutes), whatever the countries: one password used by a
sending tool across a proxy pool. IPv6 addresses count per /64 (one home or phone rotates privacy addresses
within its /64). Legacy and SMTP AUTH clients (`LEGACY_CLIENT_APPS`) make it high: they are what such tools use.

**MFA fatigue** (`mfa_fatigue`). Error 500121 (failure reason "Authentication failed during strong
authentication request.") is a second factor that failed: denied ("MFA denied; user declined the
authentication"), unanswered ("MFA denied; user did not respond to mobile app notification") and the like, as
`status.additionalDetails` shows. Microsoft's list of those details: "Use the sign-in logs to review Microsoft
Entra multifactor authentication events" (https://learn.microsoft.com/entra/identity/authentication/howto-mfa-reporting,
MicrosoftDocs/entra-docs docs/identity/authentication/howto-mfa-reporting.md @03ffb81c); Microsoft's own
Sentinel rule "Explicit MFA Deny" matches 500121 with that text (Azure/Azure-Sentinel "Solutions/Microsoft
Entra ID/Analytic Rules/ExplicitMFADeny.yaml" @6234e78b). 50074 ("UserStrongAuthClientAuthNRequiredInterrupt")
and 50076 ("UserStrongAuthClientAuthNRequired") are "MFA required" interrupts (Microsoft Entra authentication
and authorization error codes, https://learn.microsoft.com/entra/identity-platform/reference-error-codes,
MicrosoftDocs/entra-docs docs/identity-platform/reference-error-codes.md @04f65548): a prompt, not an answer,
and not counted. An episode is `FATIGUE_MIN_PROMPTS`
(3) or more such failures, each within `FATIGUE_GAP` (1 h) of the previous. It was *approved* when a successful,
non-legacy sign-in follows within `APPROVAL_WINDOW` (1 h) from one of the episode's addresses, or from one of its
countries when that country is not usual (the attacker's machine asked, the tired user said yes). What the
session did is every successful sign-in in the next `SESSION_SPAN` (24 h) from the approval's address or from a
country that is not usual. Graph v1.0 has no `authenticationRequirement` (beta only), so "MFA satisfied" is read
from the approval's place in the sequence and its `additionalDetails`, not from that property.

**The user's own device** (`travel`). A new country's successful sign-ins all from known devices that are
managed or compliant, while no sign-in from a usual country comes from another device during the trip, is a
travelling employee: the finding drops to low. Foreign sign-ins from an unknown device, or while home sign-ins
continue from another device, stay high and say so. Limit: a roaming phone's mobile data often exits at home,
so a traveller's phone without a device id can keep "home" alive and the trip stays high (a look, not a miss).
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from types import MappingProxyType

from investigation.evidence import Evidence
from m365.records import SignIn

INCIDENT_WINDOW = timedelta(hours=48)
USUAL_MIN_DAYS = 2
MAX_SPEED_KMH = 900.0
MIN_TRAVEL_KM = 500.0
EARTH_RADIUS_KM = 6371.0088
BURST_SPAN = timedelta(minutes=10)
BURST_MIN_ADDRESSES = 5
MFA_FAILED_CODE = 500121
MFA_INTERRUPT_CODES: frozenset[int] = frozenset({50074, 50076})
FATIGUE_MIN_PROMPTS = 3
FATIGUE_GAP = timedelta(hours=1)
APPROVAL_WINDOW = timedelta(hours=1)
SESSION_SPAN = timedelta(hours=24)
MAX_READINGS = 3  # per kind: the card shows the worst few, a flood must not become fifty findings

# Entra `clientAppUsed` values of legacy (basic) authentication clients, lower case.
LEGACY_CLIENT_APPS: frozenset[str] = frozenset({
    "imap4", "imap", "pop3", "pop", "authenticated smtp", "smtp", "other clients", "exchange activesync",
    "exchange web services", "autodiscover", "mapi over http", "offline address book",
    "outlook anywhere (rpc over http)", "exchange online powershell", "reporting web services",
})

_FAR_PAST = datetime.min.replace(tzinfo=UTC)


def country(sign_in: SignIn) -> str:
    """The sign-in's country code, upper case ("" when Entra could not place it)."""
    return sign_in.country.strip().upper()


def is_legacy(sign_in: SignIn) -> bool:
    """True for a legacy (basic authentication) client: IMAP, POP, SMTP AUTH, "Other clients", EAS, EWS…"""
    return sign_in.client_app_used.strip().lower() in LEGACY_CLIENT_APPS


def address_key(ip: str) -> str:
    """The address as one sender: IPv4 as is, IPv6 by its /64 (privacy addresses rotate inside it)."""
    text = ip.strip()
    try:
        parsed = ipaddress.ip_address(text)
    except ValueError:
        return text.lower()
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{parsed}/64", strict=False))
    return str(parsed)


def _when(sign_in: SignIn) -> datetime:
    return sign_in.created or _FAR_PAST


def _chronological(sign_ins: Iterable[SignIn]) -> list[SignIn]:
    return sorted(sign_ins, key=lambda s: (_when(s), s.id))


def windowed(evidence: Evidence) -> list[SignIn]:
    """The sign-ins of the look-back window, oldest first; records without a time are kept, not guessed away."""
    return _chronological(s for s in evidence.sign_ins or () if s.created is None or evidence.in_window(s.created))


# ------------------------------------------------------------------------------------------------ baseline


class BaselineSource(StrEnum):
    """Where the usual countries came from."""

    history = "history"
    usage_location = "usage_location"
    unknown = "unknown"


@dataclass(frozen=True)
class Device:
    """A device the user signed in from before the incident window, with the claims Entra attested."""

    id: str
    name: str
    managed: bool
    compliant: bool
    trust_type: str

    @property
    def trusted(self) -> bool:
        """Managed (joined or Intune-enrolled) or compliant: the organisation's own device."""
        return self.managed or self.compliant


@dataclass(frozen=True)
class Baseline:
    """What the account did before `until` (see the module docstring)."""

    until: datetime
    usual: frozenset[str]
    source: BaselineSource
    devices: Mapping[str, Device]

    @property
    def known(self) -> bool:
        """False when there is nothing to compare with."""
        return self.source != BaselineSource.unknown

    def is_foreign(self, sign_in: SignIn) -> bool:
        """A sign-in from a placed country outside the usual ones (never when the baseline is unknown)."""
        place = country(sign_in)
        return self.known and bool(place) and place not in self.usual

    def trusted_device(self, sign_in: SignIn) -> Device | None:
        """The known managed or compliant device this sign-in came from, if any."""
        device = self.devices.get(sign_in.device_id.lower()) if sign_in.device_id else None
        return device if device is not None and device.trusted else None


def incident_start(evidence: Evidence) -> datetime:
    """Where the history ends: `INCIDENT_WINDOW` before the restriction, or before now when there is none."""
    restriction = evidence.restriction
    anchor = restriction.created if restriction is not None and restriction.created is not None else evidence.now
    return min(anchor, evidence.now) - INCIDENT_WINDOW


def baseline(evidence: Evidence) -> Baseline:
    """The account's usual countries and known devices, learned before the incident window."""
    until = incident_start(evidence)
    history = [
        s for s in _chronological(evidence.sign_ins or ())
        if s.succeeded and s.created is not None and s.created < until and country(s)
    ]
    usage = (evidence.user.usage_location or "").strip().upper()
    days: dict[str, set[str]] = {}
    for s in history:
        days.setdefault(country(s), set()).add(_when(s).date().isoformat())
    usual = {c for c, d in days.items() if len(d) >= USUAL_MIN_DAYS} | ({usage} if usage else set())
    if days and not usual & days.keys():
        # `history` is chronological, so dict order is first-seen order and `max` keeps the earliest on ties.
        usual.add(max(days, key=lambda c: len(days[c])))
    if days:
        source = BaselineSource.history
    elif usage:
        source = BaselineSource.usage_location
    else:
        source = BaselineSource.unknown
    devices: dict[str, Device] = {}
    for s in history:
        if s.device_id and country(s) in usual:
            known = devices.get(s.device_id.lower())
            devices[s.device_id.lower()] = Device(
                id=s.device_id, name=s.device_name or (known.name if known else ""),
                managed=bool(s.device_managed) or (known is not None and known.managed),
                compliant=bool(s.device_compliant) or (known is not None and known.compliant),
                trust_type=s.device_trust_type or (known.trust_type if known else ""),
            )
    return Baseline(until, frozenset(usual), source, MappingProxyType(devices))


# ------------------------------------------------------------------------------------------ the own device


@dataclass(frozen=True)
class Trip:
    """A new country's successful sign-ins, judged against the user's own devices and home."""

    country: str
    sign_ins: tuple[SignIn, ...]
    own_devices: tuple[Device, ...]  # the trusted known devices used there (all of them, when `on_own_device`)
    on_own_device: bool  # every sign-in there came from a trusted known device
    home_continued: tuple[SignIn, ...]  # usual-country sign-ins meanwhile from other devices

    @property
    def travelling(self) -> bool:
        """The travelling employee: her own managed device abroad while home is silent."""
        return self.on_own_device and not self.home_continued


def trips(evidence: Evidence, base: Baseline | None = None) -> list[Trip]:
    """One `Trip` per new country of the window's successful sign-ins (countries sorted)."""
    base = base or baseline(evidence)
    sign_ins = windowed(evidence)
    foreign: dict[str, list[SignIn]] = {}
    for s in sign_ins:
        if s.succeeded and base.is_foreign(s):
            foreign.setdefault(country(s), []).append(s)
    result: list[Trip] = []
    for place, items in sorted(foreign.items()):
        devices = [base.trusted_device(s) for s in items]
        own = tuple({d.id.lower(): d for d in devices if d is not None}.values())
        used = {s.device_id.lower() for s in items if s.device_id}
        start, end = _when(items[0]), _when(items[-1])
        home = tuple(
            s for s in sign_ins
            if s.succeeded and country(s) in base.usual and start <= _when(s) <= end
            and not (s.device_id and s.device_id.lower() in used)
        )
        result.append(Trip(place, tuple(items), own, all(d is not None for d in devices), home))
    return result


# --------------------------------------------------------------------------------------- impossible travel


@dataclass(frozen=True)
class Hop:
    """Two consecutive successful sign-ins too far apart for the time between them."""

    departure: SignIn
    arrival: SignIn
    km: float
    minutes: float
    same_own_device: bool  # both ends are the same trusted known device: a VPN, not two people

    @property
    def speed_kmh(self) -> float:
        """The speed the hop implies (infinite for two sign-ins in the same second)."""
        return math.inf if self.minutes <= 0 else self.km / (self.minutes / 60)


def distance_km(a: SignIn, b: SignIn) -> float | None:
    """The great-circle (haversine) distance between two sign-ins' coordinates, None when one has none."""
    if not (_placed(a) and _placed(b)):
        return None
    assert a.latitude is not None and a.longitude is not None and b.latitude is not None and b.longitude is not None
    lat1, lon1, lat2, lon2 = map(math.radians, (a.latitude, a.longitude, b.latitude, b.longitude))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def _placed(sign_in: SignIn) -> bool:
    lat, lon = sign_in.latitude, sign_in.longitude
    return lat is not None and lon is not None and not (lat == 0 and lon == 0)


def impossible_travel(evidence: Evidence, base: Baseline | None = None) -> list[Hop]:
    """Every impossible hop between consecutive placed successful sign-ins of the window, in time order."""
    base = base or baseline(evidence)
    placed = [s for s in windowed(evidence) if s.succeeded and s.created is not None and _placed(s)]
    hops: list[Hop] = []
    for a, b in zip(placed, placed[1:], strict=False):
        km = distance_km(a, b)
        if km is None or km < MIN_TRAVEL_KM:
            continue
        assert a.created is not None and b.created is not None
        minutes = (b.created - a.created).total_seconds() / 60
        same = bool(a.device_id) and a.device_id.lower() == b.device_id.lower() and base.trusted_device(a) is not None
        hop = Hop(a, b, km, minutes, same)
        if hop.speed_kmh > MAX_SPEED_KMH:
            hops.append(hop)
    return hops


# ------------------------------------------------------------------------------------- many addresses


@dataclass(frozen=True)
class Burst:
    """Successful sign-ins from many addresses within `BURST_SPAN`."""

    sign_ins: tuple[SignIn, ...]
    addresses: tuple[str, ...]  # as signed in (one per distinct `address_key`)

    @property
    def legacy(self) -> tuple[str, ...]:
        """The legacy clients among them (`clientAppUsed`, each once)."""
        return tuple(dict.fromkeys(s.client_app_used.strip() for s in self.sign_ins if is_legacy(s)))

    @property
    def minutes(self) -> int:
        """The burst's span in whole minutes (at least 1)."""
        first, last = self.sign_ins[0].created, self.sign_ins[-1].created
        span = (last - first).total_seconds() / 60 if first and last else 0
        return max(1, math.ceil(span))


def address_bursts(evidence: Evidence) -> list[Burst]:
    """Non-overlapping bursts of successful sign-ins from `BURST_MIN_ADDRESSES` or more addresses, oldest first."""
    timed = [s for s in windowed(evidence) if s.succeeded and s.created is not None and s.ip_address.strip()]
    bursts: list[Burst] = []
    start = 0
    while start < len(timed):
        first = timed[start].created
        assert first is not None
        end = start
        while end + 1 < len(timed) and (timed[end + 1].created or first) - first <= BURST_SPAN:
            end += 1
        group = timed[start:end + 1]
        addresses: dict[str, str] = {}
        for s in group:
            addresses.setdefault(address_key(s.ip_address), s.ip_address.strip())
        if len(addresses) >= BURST_MIN_ADDRESSES:
            bursts.append(Burst(tuple(group), tuple(addresses.values())))
            start = end + 1
        else:
            start += 1
    return bursts


# ------------------------------------------------------------------------------------------- MFA fatigue


@dataclass(frozen=True)
class Fatigue:
    """Repeated failed MFA prompts, the approval that ended them (if any) and what followed it."""

    prompts: tuple[SignIn, ...]
    approval: SignIn | None
    after: tuple[SignIn, ...]

    @property
    def details(self) -> tuple[str, ...]:
        """The prompts' `additionalDetails`, each once ("MFA denied; user declined the authentication", …)."""
        return tuple(dict.fromkeys(s.additional_details.strip() for s in self.prompts if s.additional_details.strip()))


def is_failed_mfa(sign_in: SignIn) -> bool:
    """A second factor that was denied, left unanswered or otherwise failed (500121)."""
    return sign_in.error_code == MFA_FAILED_CODE


def mfa_fatigue(evidence: Evidence, base: Baseline | None = None) -> list[Fatigue]:
    """Every episode of `FATIGUE_MIN_PROMPTS` or more failed MFA prompts, oldest first (see the module docstring)."""
    base = base or baseline(evidence)
    sign_ins = [s for s in windowed(evidence) if s.created is not None]
    episodes: list[list[SignIn]] = []
    for s in sign_ins:
        if not is_failed_mfa(s):
            continue
        if episodes and _when(s) - _when(episodes[-1][-1]) <= FATIGUE_GAP:
            episodes[-1].append(s)
        else:
            episodes.append([s])
    result: list[Fatigue] = []
    for prompts in episodes:
        if len(prompts) < FATIGUE_MIN_PROMPTS:
            continue
        approval = _approval(prompts, sign_ins, base)
        after: tuple[SignIn, ...] = ()
        if approval is not None:
            until = _when(approval) + SESSION_SPAN
            key = address_key(approval.ip_address)
            after = tuple(
                s for s in sign_ins
                if s is not approval and s.succeeded and _when(approval) <= _when(s) <= until
                and (address_key(s.ip_address) == key or base.is_foreign(s))
            )
        result.append(Fatigue(tuple(prompts), approval, after))
    return result


def _approval(prompts: Sequence[SignIn], sign_ins: Sequence[SignIn], base: Baseline) -> SignIn | None:
    last = _when(prompts[-1])
    addresses = {address_key(p.ip_address) for p in prompts if p.ip_address}
    foreign = {country(p) for p in prompts if base.is_foreign(p)}
    for s in sign_ins:
        if _when(s) <= last or not s.succeeded or is_legacy(s):
            continue
        if _when(s) - last > APPROVAL_WINDOW:
            return None
        if address_key(s.ip_address) in addresses or country(s) in foreign:
            return s
    return None

"""`DemoState`: the demo tenant's mutable data, loaded from a seed, plus its faults, throttles and request log.

The seed's Graph and Exchange sections are kept as the JSON objects Microsoft returns; handlers read and
change them in place (a disabled inbox rule, a cleared forwarding address, a confirmed-compromised user).
Restricted-entities state is derived on read from timestamps, not timers: an unblocked sender stays
listed until `unblock_delay_seconds` after its `Remove-BlockedSenderAddress`.
"""

from __future__ import annotations

import copy
import json
import logging
import random
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from demo_tenant import message_traces
from demo_tenant.faults import FaultSet, LatencySet, RequestLog, Throttler
from demo_tenant.timeutil import format_graph, format_precise, parse_iso, shift_tree

log = logging.getLogger(__name__)

Json = dict[str, Any]

GRAPH_SECTIONS_LIST = (
    "organization", "domains", "users", "groups", "directoryRoles", "signIns", "directoryAudits", "riskyUsers",
    "riskDetections", "userRegistrationDetails", "oauth2PermissionGrants", "servicePrincipals", "alerts_v2",
)
GRAPH_SECTIONS_MAP = ("memberOf", "mailFolders", "messageRules", "authenticationMethods")
DEFAULT_UNBLOCK_LIMIT = 3


class SeedError(ValueError):
    """The seed file is missing, not JSON, or lacks what the demo tenant needs."""


class UnblockLimitError(Exception):
    """The sender was already unblocked `unblockLimit` times."""


@dataclass(frozen=True)
class Action:
    """A write the demo tenant performed (tests and the admin API read these)."""

    time: datetime
    kind: str
    target: str
    detail: Mapping[str, Any]

    def to_json(self) -> Json:
        """JSON form for GET /_demo/actions."""
        return {"time": self.time.isoformat(), "kind": self.kind, "target": self.target, "detail": dict(self.detail)}


def read_seed(path: Path) -> Json:
    """Read and check a seed file; raises `SeedError` saying what is wrong."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SeedError(f"seed file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SeedError(f"seed file {path} cannot be read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise SeedError(f"seed file {path} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise SeedError("a seed is a JSON object")
    for key in ("seedTime", "tenant", "app", "exchange", "graph"):
        if key not in raw:
            raise SeedError(f"seed lacks the top-level {key!r} section")
    if parse_iso(str(raw["seedTime"])) is None:
        raise SeedError("seedTime must be an ISO 8601 date-time, e.g. 2026-11-28T09:00:00Z")
    tenant, app = raw["tenant"], raw["app"]
    if not isinstance(tenant, dict) or not isinstance(tenant.get("id"), str):
        raise SeedError("tenant.id (a GUID) is required")
    if not isinstance(app, dict) or not isinstance(app.get("clientId"), str):
        raise SeedError("app.clientId (a GUID) is required")
    graph, exchange = raw["graph"], raw["exchange"]
    if not isinstance(graph, dict) or not isinstance(exchange, dict):
        raise SeedError("graph and exchange must be objects")
    for name in GRAPH_SECTIONS_LIST:
        if not isinstance(graph.get(name, []), list):
            raise SeedError(f"graph.{name} must be a list")
    for name in GRAPH_SECTIONS_MAP:
        if not isinstance(graph.get(name, {}), dict):
            raise SeedError(f"graph.{name} must be an object keyed by user id")
    for name in ("Get-BlockedSenderAddress", "Get-Mailbox", "Get-CASMailbox"):
        if not isinstance(exchange.get(name, []), list):
            raise SeedError(f"exchange.{name} must be a list")
    if not isinstance(exchange.get("Get-InboxRule", {}), dict):
        raise SeedError("exchange.Get-InboxRule must be an object keyed by mailbox UPN")
    ids = [u.get("id") for u in graph.get("users", []) if isinstance(u, dict)]
    if len(ids) != len(set(ids)) or None in ids:
        raise SeedError("every graph.users entry needs a unique id")
    return raw


def _ci(a: object, b: str) -> bool:
    return isinstance(a, str) and a.casefold() == b.casefold()


class DemoState:
    """Everything the demo tenant knows and remembers. One instance per `DemoTenant`."""

    def __init__(self, *, unblock_delay_seconds: float = 30.0, page_size: int = 100,
                 rng: random.Random | None = None) -> None:
        self.unblock_delay_seconds = unblock_delay_seconds
        self.page_size = page_size
        self.rng = rng or random.Random()
        self.faults = FaultSet(self.rng)
        self.latency = LatencySet(self.rng)
        self.throttle = Throttler()
        self.requests = RequestLog()
        self.actions: list[Action] = []
        self.seed_path: Path | None = None
        self.seed_time: datetime | None = None
        self.loaded_at: datetime = datetime.now(UTC)
        self.shift: timedelta = timedelta(0)
        self.tenant: Json = {}
        self.app: Json = {}
        self.graph: Json = {}
        self.exchange: Json = {}
        self.traces = message_traces.TraceStore({}, "")
        # Restricted entities bookkeeping, by lower-case address.
        self._removed_at: dict[str, float] = {}
        self.unblock_counts: dict[str, int] = {}

    # --- loading ---------------------------------------------------------------------------------------

    def load(self, raw: Json, *, now: datetime | None = None) -> None:
        """Take a checked seed (see `read_seed`), shifting every date-time by (now - seedTime)."""
        moment = now or datetime.now(UTC)
        seed_time = parse_iso(str(raw["seedTime"]))
        assert seed_time is not None  # read_seed checked it
        self.seed_time = seed_time
        self.loaded_at = moment
        self.shift = moment - seed_time
        self.tenant = copy.deepcopy(raw["tenant"])
        self.app = copy.deepcopy(raw["app"])
        self.graph = shift_tree(raw["graph"], self.shift)
        self.exchange = shift_tree(raw["exchange"], self.shift)
        for name in GRAPH_SECTIONS_LIST:
            self.graph.setdefault(name, [])
        for name in GRAPH_SECTIONS_MAP:
            self.graph.setdefault(name, {})
        # Hundreds of trace rows per burst: generated from the seed's stories (in shifted, real time) when asked for.
        domains = [str(d) for d in self.tenant.get("verifiedDomains") or []] or [self.initial_domain]
        self.traces = message_traces.TraceStore(self.exchange.get("messageTrace") or {}, domains[0])
        for name in ("Get-BlockedSenderAddress", "Get-Mailbox", "Get-CASMailbox"):
            self.exchange.setdefault(name, [])
        self.exchange.setdefault("Get-InboxRule", {})
        self._removed_at.clear()
        self.unblock_counts = {
            str(k).lower(): int(v) for k, v in dict(self.exchange.get("unblockCounts") or {}).items()
        }
        self.actions.clear()
        self.throttle.reset()
        log.info("demo tenant data loaded (%d users), shifted by %s", len(self.glist("users")), self.shift)

    def load_file(self, path: Path) -> None:
        """Read, check and load a seed file."""
        raw = read_seed(path)
        self.seed_path = path
        self.load(raw)

    def reset(self) -> None:
        """Reload the seed this state was loaded from (faults, latency and the request log stay)."""
        if self.seed_path is None:
            raise SeedError("no seed file was loaded")
        self.load_file(self.seed_path)

    def glist(self, section: str) -> list[Json]:
        """A list section of the Graph data (live, mutable)."""
        return cast(list[Json], self.graph[section])

    def xlist(self, section: str) -> list[Json]:
        """A list section of the Exchange data (live, mutable)."""
        return cast(list[Json], self.exchange[section])

    # --- identity --------------------------------------------------------------------------------------

    @property
    def tenant_id(self) -> str:
        """The tenant GUID."""
        return str(self.tenant["id"])

    @property
    def client_id(self) -> str:
        """The demo app's client id."""
        return str(self.app["clientId"])

    @property
    def initial_domain(self) -> str:
        """`example.onmicrosoft.com`-style initial domain."""
        return str(self.tenant.get("initialDomain") or "example.onmicrosoft.com")

    def tenant_names(self) -> set[str]:
        """Every name the tenant answers to in a path: its id and its verified domains (lower case)."""
        names = {self.tenant_id.lower(), self.initial_domain.lower()}
        names.update(str(d).lower() for d in self.tenant.get("verifiedDomains") or [])
        return names

    def licensed(self, name: str) -> bool:
        """Whether the tenant has a licence (`entraIdP1`, `entraIdP2`); missing means yes."""
        licenses = self.tenant.get("licenses") or {}
        return bool(licenses.get(name, True))

    def granted_permissions(self) -> list[str]:
        """The app's granted application permissions (Graph and Exchange ones alike)."""
        return [str(p) for p in self.app.get("grantedPermissions") or []]

    def exchange_roles(self) -> list[str]:
        """Exchange/Entra roles assigned to the app's service principal."""
        return [str(r) for r in self.app.get("exchangeRoles") or []]

    def directory_roles(self) -> list[str]:
        """Entra directory roles assigned to the app (e.g. User Administrator)."""
        return [str(r) for r in self.app.get("directoryRoles") or []]

    # --- clock -----------------------------------------------------------------------------------------

    @staticmethod
    def clock() -> float:
        """Seconds since the epoch (a method so tests can replace it)."""
        return time.time()

    def now(self) -> datetime:
        """The current time as an aware UTC datetime."""
        return datetime.fromtimestamp(self.clock(), UTC)

    def record_action(self, kind: str, target: str, **detail: Any) -> None:
        """Remember a write, for tests and GET /_demo/actions."""
        self.actions.append(Action(self.now(), kind, target, detail))

    # --- directory lookups -----------------------------------------------------------------------------

    def users(self) -> list[Json]:
        """Every user object (live, mutable)."""
        return list(self.glist("users"))

    def user(self, key: str) -> Json | None:
        """The user with this object id or UPN (case-insensitive), or None."""
        for user in self.glist("users"):
            if _ci(user.get("id"), key) or _ci(user.get("userPrincipalName"), key):
                return user
        return None

    def user_by_address(self, address: str) -> Json | None:
        """The user whose UPN, mail or a proxy address is `address`."""
        for user in self.glist("users"):
            if _ci(user.get("userPrincipalName"), address) or _ci(user.get("mail"), address):
                return user
            for proxy in user.get("proxyAddresses") or []:
                if isinstance(proxy, str) and ":" in proxy and _ci(proxy.split(":", 1)[1], address):
                    return user
        return None

    def directory_object(self, object_id: str) -> Json | None:
        """A group or directory role by id, with its @odata.type."""
        for name, odata in (("groups", "#microsoft.graph.group"), ("directoryRoles", "#microsoft.graph.directoryRole")):
            for obj in self.glist(name):
                if _ci(obj.get("id"), object_id):
                    return {"@odata.type": odata, **obj}
        return None

    def transitive_member_of(self, object_id: str) -> list[Json]:
        """Groups and roles `object_id` belongs to, following nested group membership."""
        seen: list[str] = []
        queue = [object_id]
        member_of: Mapping[str, Any] = self.graph["memberOf"]
        lookup = {k.lower(): v for k, v in member_of.items()}
        while queue:
            current = queue.pop(0)
            for parent in lookup.get(current.lower(), []):
                if isinstance(parent, str) and parent.lower() not in (s.lower() for s in seen):
                    seen.append(parent)
                    queue.append(parent)
        return [obj for obj in (self.directory_object(i) for i in seen) if obj is not None]

    # --- mailboxes -------------------------------------------------------------------------------------

    def mailboxes(self) -> list[Json]:
        """Every `Get-Mailbox` object (live, mutable)."""
        return list(self.xlist("Get-Mailbox"))

    @staticmethod
    def _identity_matches(obj: Mapping[str, Any], identity: str) -> bool:
        for key in ("Identity", "Name", "Alias", "UserPrincipalName", "PrimarySmtpAddress", "ExternalDirectoryObjectId",
                    "Guid", "ExchangeGuid", "DistinguishedName", "WindowsEmailAddress", "DisplayName"):
            if _ci(obj.get(key), identity):
                return True
        for address in obj.get("EmailAddresses") or []:
            if isinstance(address, str) and ":" in address and _ci(address.split(":", 1)[1], identity):
                return True
        return False

    def mailbox(self, identity: str) -> Json | None:
        """The mailbox Exchange's `-Identity` would resolve (UPN, SMTP address, alias, object id, name...)."""
        for mailbox in self.xlist("Get-Mailbox"):
            if self._identity_matches(mailbox, identity):
                return mailbox
        return None

    def cas_mailbox(self, identity: str) -> Json | None:
        """The `Get-CASMailbox` object for an identity (resolved through the mailbox first)."""
        mailbox = self.mailbox(identity)
        for cas in self.xlist("Get-CASMailbox"):
            if self._identity_matches(cas, identity):
                return cas
            if mailbox is not None and (
                _ci(cas.get("ExternalDirectoryObjectId"), str(mailbox.get("ExternalDirectoryObjectId") or "\0"))
                or _ci(cas.get("PrimarySmtpAddress"), str(mailbox.get("PrimarySmtpAddress") or "\0"))
            ):
                return cas
        return None

    def mailbox_of_user(self, user: Mapping[str, Any]) -> Json | None:
        """The mailbox whose ExternalDirectoryObjectId is the user's id, or None (no licence, guest)."""
        for mailbox in self.xlist("Get-Mailbox"):
            if _ci(mailbox.get("ExternalDirectoryObjectId"), str(user.get("id"))):
                return mailbox
        return None

    def inbox_rules(self, mailbox: Mapping[str, Any]) -> list[Json]:
        """`Get-InboxRule` objects of a mailbox (seed keyed by UPN or primary address)."""
        rules: Mapping[str, Any] = self.exchange["Get-InboxRule"]
        for key, value in rules.items():
            if _ci(mailbox.get("UserPrincipalName"), key) or _ci(mailbox.get("PrimarySmtpAddress"), key):
                return list(value)
        return []

    # --- restricted entities ---------------------------------------------------------------------------

    @property
    def unblock_limit(self) -> int:
        """How often one sender may be unblocked (`exchange.unblockLimit`)."""
        value = self.exchange.get("unblockLimit", DEFAULT_UNBLOCK_LIMIT)
        return int(value) if isinstance(value, int) else DEFAULT_UNBLOCK_LIMIT

    def _entries(self) -> list[Json]:
        entries: list[Json] = self.exchange["Get-BlockedSenderAddress"]
        return entries

    def _listed(self, entry: Mapping[str, Any], now: float) -> bool:
        address = str(entry.get("SenderAddress", "")).lower()
        removed = self._removed_at.get(address)
        if removed is not None and now >= removed + self.unblock_delay_seconds:
            return False
        # Recipient-rate blocks are temporary: Microsoft lifts them by themselves at ExpireDatetime.
        if entry.get("TemporaryBlock") is True:
            expires = parse_iso(str(entry.get("ExpireDatetime") or ""))
            if expires is not None and expires.timestamp() <= now:
                return False
        return True

    def blocked_senders(self) -> list[Json]:
        """The Restricted entities list as `Get-BlockedSenderAddress` shows it right now."""
        now = self.clock()
        # Entries whose unblock delay has passed are dropped for good, so a new restriction starts clean.
        kept: list[Json] = []
        for entry in self._entries():
            if self._listed(entry, now):
                kept.append(entry)
            else:
                self._removed_at.pop(str(entry.get("SenderAddress", "")).lower(), None)
        self.exchange["Get-BlockedSenderAddress"] = kept
        return [copy.deepcopy(e) for e in kept]

    def blocked_sender(self, address: str) -> Json | None:
        """The current entry for an address, or None."""
        for entry in self.blocked_senders():
            if _ci(entry.get("SenderAddress"), address):
                return entry
        return None

    def unblock(self, address: str, reason: str | None = None) -> bool:
        """`Remove-BlockedSenderAddress`: True if an entry was removed, False if the address was not blocked.

        An address already being removed (still listed during the delay) counts as not blocked. Raises
        `UnblockLimitError` when the address was unblocked `unblock_limit` times already.
        """
        entry = self.blocked_sender(address)
        key = address.lower()
        if entry is None or key in self._removed_at:
            return False
        if self.unblock_counts.get(key, 0) >= self.unblock_limit:
            raise UnblockLimitError(address)
        self.unblock_counts[key] = self.unblock_counts.get(key, 0) + 1
        self._removed_at[key] = self.clock()
        self.record_action("unblock", address, reason=reason or "", count=self.unblock_counts[key])
        return True

    def pending_unblocks(self) -> dict[str, float]:
        """Addresses being removed, with the epoch second they leave the list."""
        return {k: v + self.unblock_delay_seconds for k, v in self._removed_at.items()}

    def restrict(self, address: str, reason: str | None = None) -> Json:
        """Put an address on Restricted entities now, as Microsoft 365 does when it detects outbound spam.

        Also raises the Defender alert "User restricted from sending email" for the matching user, as the
        real service does. Returns the new entry.
        """
        moment = self.now()
        stamp = format_precise(moment)
        key = address.lower()
        self._removed_at.pop(key, None)
        self.exchange["Get-BlockedSenderAddress"] = [
            e for e in self._entries() if not _ci(e.get("SenderAddress"), address)
        ]
        entry: Json = {
            "SenderAddress": address,
            "Reason": reason or (
                "OutboundSpamLast24Hours=187;OutboundMailLast24Hours=203;OutboundSpamPercent=92;"
                f"Last Spam Message MessagetraceId:{uuid.uuid4()}"
            ),
            "BlockType": "Spam",
            "CreatedDatetime": stamp,
            "ChangedDatetime": stamp,
            "TemporaryBlock": False,
            "InternalOnly": False,
            "ExpireDatetime": None,
        }
        self.exchange["Get-BlockedSenderAddress"].append(entry)
        user = self.user_by_address(address)
        self.graph["alerts_v2"].append(self._restriction_alert(address, user, moment))
        self.record_action("restrict", address, reason=entry["Reason"])
        return copy.deepcopy(entry)

    def _restriction_alert(self, address: str, user: Mapping[str, Any] | None, moment: datetime) -> Json:
        alert_id = f"fa{uuid.uuid4().hex[:16]}-{uuid.uuid4().hex[:4]}-{uuid.uuid4().hex[:4]}"
        stamp = format_precise(moment)
        account = {
            "accountName": address.split("@", 1)[0],
            "domainName": address.split("@", 1)[-1],
            "userSid": None,
            "azureAdUserId": user.get("id") if user else None,
            "userPrincipalName": user.get("userPrincipalName") if user else address,
            "displayName": user.get("displayName") if user else address,
        }
        return {
            "@odata.type": "#microsoft.graph.security.alert",
            "id": alert_id,
            "providerAlertId": alert_id,
            "incidentId": str(self.rng.randint(100, 999)),
            "status": "new",
            "severity": "high",
            "classification": None,
            "determination": None,
            "serviceSource": "microsoftDefenderForOffice365",
            "detectionSource": "microsoftDefenderForOffice365",
            "detectorId": "d3a8d5b6-2e1f-4c6b-9f61-0c1f7b6f3a11",
            "tenantId": self.tenant_id,
            "title": "User restricted from sending email",
            "description": "This alert is triggered when a user in your organization is restricted from sending "
                           "outbound email.",
            "recommendedActions": "",
            "category": "InitialAccess",
            "assignedTo": None,
            "alertWebUrl": f"https://security.microsoft.com/alerts/{alert_id}?tid={self.tenant_id}",
            "incidentWebUrl": f"https://security.microsoft.com/incidents?tid={self.tenant_id}",
            "actorDisplayName": None,
            "threatDisplayName": None,
            "threatFamilyName": None,
            "mitreTechniques": [],
            "createdDateTime": stamp,
            "lastUpdateDateTime": stamp,
            "resolvedDateTime": None,
            "firstActivityDateTime": stamp,
            "lastActivityDateTime": stamp,
            "comments": [],
            "evidence": [
                {
                    "@odata.type": "#microsoft.graph.security.userEvidence",
                    "createdDateTime": stamp,
                    "verdict": "suspicious",
                    "remediationStatus": "none",
                    "remediationStatusDetails": None,
                    "roles": [],
                    "tags": [],
                    "userAccount": account,
                },
                {
                    "@odata.type": "#microsoft.graph.security.mailboxEvidence",
                    "createdDateTime": stamp,
                    "verdict": "suspicious",
                    "remediationStatus": "none",
                    "remediationStatusDetails": None,
                    "roles": [],
                    "tags": [],
                    "primaryAddress": address,
                    "displayName": account["displayName"],
                    "userAccount": account,
                },
            ],
            "systemTags": [],
        }

    # --- helpers used by the Graph handlers --------------------------------------------------------------

    def iter_user_map(self, section: str, user_id: str) -> Iterator[Json]:
        """Items of a per-user Graph section (mailFolders, messageRules, authenticationMethods)."""
        mapping: Mapping[str, Any] = self.graph[section]
        for key, items in mapping.items():
            if _ci(key, user_id):
                yield from items

    def now_graph(self) -> str:
        """The current time in Graph's format."""
        return format_graph(self.now())

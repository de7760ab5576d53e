"""The bulk investigator: many users per request within the URL limit, paced throttled families, and for every
account exactly the verdict a single investigation gives (on the Contoso seed and its generated outbreak)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from demo_tenant.outbreak_seed import outbreak_seed
from investigation.collect import CollectorConfig
from investigation.evidence import SourceName, UnavailableReason
from investigation.service import Investigations
from m365 import odata
from m365.errors import PermissionDenied, Throttled
from m365.graph import HIDING_WELL_KNOWN_FOLDERS, Governor, RateLimit, rate_family
from m365.records import (
    AuthMethod,
    BlockedSender,
    CasMailbox,
    DirectoryAudit,
    DirectoryObject,
    InboxRule,
    Mailbox,
    MailFolder,
    OAuthGrant,
    RegistrationDetails,
    RiskDetection,
    RiskyUser,
    SecurityAlert,
    ServicePrincipal,
    SignIn,
    User,
)
from m365.tenant import MAX_FILTER_CHARS, M365Tenant
from tests.fakes import FakeTenant

SEED = Path(__file__).resolve().parents[2] / "demo_tenant" / "seeds" / "contoso.json"
NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)  # the seed's own time: its records are not shifted here


def fake_from_seed(seed: dict[str, Any]) -> FakeTenant:
    """A FakeTenant holding a seed's records, parsed by the production parsers."""
    graph, exchange = seed["graph"], seed["exchange"]
    fake = FakeTenant(domains=tuple(seed["tenant"]["verifiedDomains"]))
    fake.users = [User.from_graph(u) for u in graph["users"]]
    upn_of = {u.id: u.user_principal_name.lower() for u in fake.users}
    fake.blocked = {b.sender_address.lower(): b for b in map(BlockedSender.from_exchange,
                                                             exchange["Get-BlockedSenderAddress"])}
    for raw in exchange["Get-Mailbox"]:
        mailbox = Mailbox.from_exchange(raw)
        fake.mailboxes[str(raw["UserPrincipalName"]).lower()] = mailbox
    cas_upn = {str(m["ExternalDirectoryObjectId"]): str(m["UserPrincipalName"]).lower()
               for m in exchange["Get-Mailbox"] if m.get("ExternalDirectoryObjectId")}
    for raw in exchange["Get-CASMailbox"]:
        upn = cas_upn.get(str(raw.get("ExternalDirectoryObjectId")))
        if upn:
            fake.cas[upn] = CasMailbox.from_exchange(raw)
    fake.rules = {k: [InboxRule.from_graph(r) for r in v] for k, v in graph["messageRules"].items()}
    # As the demo tenant answers `/mailFolders/{well-known name}`: the seed says which folder each name is.
    well_known = {k: v for k, v in exchange.get("wellKnownFolders", {}).items() if v in HIDING_WELL_KNOWN_FOLDERS}
    fake.folders = {k: [MailFolder.from_graph(r, well_known_name=well_known.get(r["id"])) for r in v]
                    for k, v in graph["mailFolders"].items()}
    fake.methods = {k: [AuthMethod.from_graph(r) for r in v] for k, v in graph["authenticationMethods"].items()}
    for raw in graph["signIns"]:
        sign_in = SignIn.from_graph(raw)
        fake.sign_ins.setdefault(sign_in.user_id, []).append(sign_in)
    for raw in graph["directoryAudits"]:
        audit = DirectoryAudit.from_graph(raw)
        for target in dict.fromkeys(audit.target_ids):
            fake.audits.setdefault(target, []).append(audit)
    fake.risky = {r.id: r for r in map(RiskyUser.from_graph, graph["riskyUsers"])}
    for raw in graph["riskDetections"]:
        detection = RiskDetection.from_graph(raw)
        fake.detections.setdefault(detection.user_id, []).append(detection)
    fake.registration = {r.id: r for r in map(RegistrationDetails.from_graph, graph["userRegistrationDetails"])}
    for raw in graph["oauth2PermissionGrants"]:
        grant = OAuthGrant.from_graph(raw)
        fake.grants.setdefault(str(raw["principalId"]), []).append(grant)
    fake.principals = {p.id: p for p in map(ServicePrincipal.from_graph, graph["servicePrincipals"])}
    fake.alerts = [SecurityAlert.from_graph(a) for a in graph["alerts_v2"]]
    groups = {g["id"]: g for g in [*graph["groups"], *graph["directoryRoles"]]}
    for user_id, member_of in graph["memberOf"].items():
        fake.memberships[user_id] = [DirectoryObject.from_graph(groups[g]) for g in member_of if g in groups]
    assert upn_of  # every user has a UPN the Exchange maps above are keyed by
    return fake


def restricted(fake: FakeTenant) -> list[User]:
    """The users on the Restricted entities list."""
    return [u for u in fake.users if u.smtp_address.lower() in fake.blocked]


async def single_and_bulk(fake: FakeTenant, users: list[User]) -> tuple[dict[str, Any], dict[str, Any]]:
    config = CollectorConfig()
    single = Investigations(fake, config=config, clock=lambda: NOW)
    singles = {u.id: await single.investigate(u) for u in users}
    fake.calls.clear()  # from here on: what the bulk way asked
    bulk = await Investigations(fake, config=config, clock=lambda: NOW).investigate_many(users)
    return singles, bulk


def contoso() -> dict[str, Any]:
    return dict(json.loads(SEED.read_text(encoding="utf-8")))


async def test_bulk_gives_every_restricted_account_the_verdict_of_a_single_investigation() -> None:
    fake = fake_from_seed(contoso())
    users = restricted(fake)
    assert len(users) == 4
    singles, bulk = await single_and_bulk(fake, users)
    assert set(bulk) == {u.id for u in users}
    verdicts = {u.user_principal_name: bulk[u.id].assessment.verdict.value for u in users}
    assert verdicts == {"MeganB@example.com": "compromised", "PattiF@example.com": "suspicious",
                        "AdeleV@example.com": "no_signs", "GradyA@example.com": "suspicious"}
    for user in users:
        one, many = singles[user.id], bulk[user.id]
        assert many.assessment == one.assessment, user.user_principal_name
        assert many.findings == one.findings
        assert many.evidence == one.evidence
    # One call for all users where the tenant allows it, not one per user.
    asked = [name for name, _ in fake.calls]
    assert not {"list_sign_ins", "list_directory_audits", "get_risky_user", "list_risk_detections", "list_inbox_rules",
                "get_blocked_sender", "list_oauth_grants", "get_user"} & set(asked)
    for name in ("sign_ins_by_user", "directory_audits_by_user", "risky_users_by_user", "inbox_rules_by_user",
                 "list_blocked_senders", "list_alerts", "list_verified_domains", "get_service_principals"):
        assert asked.count(name) == 1, name
    assert asked.count("get_mailbox") == 4  # Exchange has no filter over many mailboxes


async def test_generated_outbreak_bulk_verdicts_equal_single_verdicts() -> None:
    fake = fake_from_seed(outbreak_seed(contoso(), 40))
    users = restricted(fake)
    assert len(users) == 40
    singles, bulk = await single_and_bulk(fake, users)
    mix = {v.assessment.verdict.value for v in bulk.values()}
    assert {"compromised", "suspicious", "no_signs"} <= mix
    assert {k: v.assessment for k, v in bulk.items()} == {k: v.assessment for k, v in singles.items()}
    assert all(not v.evidence.unavailable for v in bulk.values())


async def test_a_failing_source_is_not_checked_for_everyone_and_never_raises() -> None:
    fake = fake_from_seed(contoso())
    users = restricted(fake)
    fake.failures["list_sign_ins"] = PermissionDenied("no", permission="AuditLog.Read.All", status=403)
    fake.failures["list_blocked_senders"] = Throttled("slow down", retry_after=30, status=429)
    singles, bulk = await single_and_bulk(fake, users)
    for user in users:
        missing = {u.source: u.reason_code for u in bulk[user.id].evidence.unavailable}
        assert missing[SourceName.sign_ins] == UnavailableReason.permission
        assert missing[SourceName.restriction] == UnavailableReason.throttled
        assert bulk[user.id].assessment.verdict == singles[user.id].assessment.verdict


async def test_progress_counts_up_to_every_account() -> None:
    fake = fake_from_seed(contoso())
    users = restricted(fake)
    seen: list[tuple[int, int]] = []

    async def progress(done: int, total: int) -> None:
        seen.append((done, total))

    await Investigations(fake, clock=lambda: NOW).investigate_many([*users, users[0]], on_progress=progress)
    assert seen[0] == (0, 4) and seen[-1] == (4, 4)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


async def test_a_tenant_without_bulk_reads_is_investigated_one_by_one() -> None:
    class Plain:
        """Only the single-user `Tenant` reads (delegated to a FakeTenant)."""

        def __init__(self, inner: FakeTenant) -> None:
            self._inner = inner

        def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
            if name.endswith("_by_user") or name == "users_by_id":
                raise AttributeError(name)
            return getattr(self._inner, name)  # type: ignore[no-any-return]

    fake = fake_from_seed(contoso())
    users = restricted(fake)
    bulk = await Investigations(Plain(fake), clock=lambda: NOW).investigate_many(users)  # type: ignore[arg-type]
    assert {k: v.assessment.verdict.value for k, v in bulk.items()} == {
        u.id: v for u, v in zip(users, ("compromised", "suspicious", "no_signs", "suspicious"), strict=True)}
    assert len(fake.called("list_sign_ins")) == 4 and not fake.called("sign_ins_by_user")


# -- chunking to the URL limit ---------------------------------------------------------------------------------


class RecordingGraph:
    """Stands in for `GraphClient` under `M365Tenant`'s bulk reads: records each filter, answers from a table."""

    def __init__(self, sign_ins: dict[str, int]) -> None:
        self.sign_ins = sign_ins
        self.filters: list[str] = []

    async def list_sign_ins(self, filter_: str, *, limit: int) -> list[SignIn]:
        self.filters.append(filter_)
        await asyncio.sleep(0)
        out = []
        for user_id, n in self.sign_ins.items():
            if odata.eq("userId", user_id) in filter_:
                out += [SignIn.from_graph({"id": f"{user_id}-{k}", "userId": user_id,
                                           "createdDateTime": f"2026-11-2{k % 8}T10:00:00Z"}) for k in range(n)]
        return out

    async def list_directory_audits(self, filter_: str, *, limit: int) -> list[DirectoryAudit]:
        self.filters.append(filter_)
        return []


def ids(n: int) -> list[str]:
    return [f"{k:08d}-1111-4222-8333-444444444444" for k in range(n)]


async def test_sign_ins_of_many_users_are_chunked_to_the_url_limit_and_grouped_per_user() -> None:
    users = ids(200)
    graph = RecordingGraph({u: (k % 7) for k, u in enumerate(users)})
    tenant = M365Tenant(graph, None, tenant_id="t")  # type: ignore[arg-type]
    found = await tenant.sign_ins_by_user(users, NOW, limit_per_user=3)
    assert 200 / len(graph.filters) >= 20  # many users per request
    assert all(len(odata.encode_value(f)) <= MAX_FILTER_CHARS for f in graph.filters)
    assert all(f.endswith(" and createdDateTime ge 2026-11-28T09:00:00Z") for f in graph.filters)
    named = [u for f in graph.filters for u in users if f"'{u}'" in f]
    assert sorted(named) == sorted(users)  # every user in exactly one request
    for k, user in enumerate(users):
        value = found[user]
        assert not isinstance(value, Exception)
        assert len(value) == min(3, k % 7) and all(s.user_id == user for s in value)
        assert [s.created for s in value] == sorted((s.created for s in value), reverse=True)  # type: ignore[type-var]


async def test_audits_of_many_users_stay_within_the_url_limit() -> None:
    graph = RecordingGraph({})
    tenant = M365Tenant(graph, None, tenant_id="t")  # type: ignore[arg-type]
    found = await tenant.directory_audits_by_user(ids(100), NOW)
    assert len(graph.filters) > 1 and all(len(odata.encode_value(f)) <= MAX_FILTER_CHARS for f in graph.filters)
    assert set(found) == set(ids(100)) and all(v == () for v in found.values())


async def test_a_failing_chunk_fails_only_its_users() -> None:
    class Flaky(RecordingGraph):
        async def list_sign_ins(self, filter_: str, *, limit: int) -> list[SignIn]:
            if not self.filters:
                self.filters.append(filter_)
                raise Throttled("slow down", retry_after=60, status=429)
            return await super().list_sign_ins(filter_, limit=limit)

    users = ids(120)
    graph = Flaky({u: 1 for u in users})
    found = await M365Tenant(graph, None, tenant_id="t").sign_ins_by_user(users, NOW)  # type: ignore[arg-type]
    failed = [u for u, v in found.items() if isinstance(v, Throttled)]
    assert failed and len(failed) < len(users)
    assert all(isinstance(v, tuple) and len(v) == 1 for u, v in found.items() if u not in failed)


# -- the governor ----------------------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_the_governor_keeps_a_family_within_its_window() -> None:
    clock = FakeClock()
    governor = Governor({"auditLogs": RateLimit(5, 10.0)}, margin=0.5, clock=clock, sleep=clock.sleep)
    sent = []
    for _ in range(12):
        await governor.acquire("auditLogs")
        sent.append(clock.now)
    assert sent[:5] == [0.0] * 5
    assert sent[5:10] == [10.5] * 5 and sent[10:] == [21.0, 21.0]
    await governor.acquire("directory")  # not a throttled family: never waits
    assert clock.now == 21.0


async def test_the_governor_holds_a_family_until_retry_after() -> None:
    clock = FakeClock()
    governor = Governor({"identityProtection": RateLimit(1, 1.0)}, margin=0.0, clock=clock, sleep=clock.sleep)
    await governor.acquire("identityProtection")
    governor.hold("identityProtection", 7.0)
    await governor.acquire("identityProtection")
    assert clock.now == pytest.approx(7.0) and governor.throttled == 1


def test_throttled_families_are_named_by_path() -> None:
    assert rate_family("/auditLogs/signIns") == "auditLogs"
    assert rate_family("/auditLogs/directoryAudits") == "auditLogs"
    assert rate_family("/identityProtection/riskyUsers") == "identityProtection"
    assert rate_family("/users/x/mailFolders") is None


def test_the_generated_seed_has_the_count_and_unique_people() -> None:
    seed = outbreak_seed(contoso(), 200)
    graph, exchange = seed["graph"], seed["exchange"]
    assert len(exchange["Get-BlockedSenderAddress"]) == 200
    for section in ("users", "signIns", "directoryAudits", "riskDetections", "alerts_v2", "oauth2PermissionGrants"):
        ids = [str(item["id"]).lower() for item in graph[section]]
        assert len(ids) == len(set(ids)), section
    upns = [str(u["userPrincipalName"]).lower() for u in graph["users"]]
    assert len(upns) == len(set(upns))
    blocked = {str(b["SenderAddress"]).lower() for b in exchange["Get-BlockedSenderAddress"]}
    mailboxes = {str(m["PrimarySmtpAddress"]).lower() for m in exchange["Get-Mailbox"]}
    assert blocked <= mailboxes  # every restricted account has its mailbox copied along
    # The copies consent to the same rogue app as Megan (shared ids stay), under their own ids.
    rogue = [g for g in graph["oauth2PermissionGrants"] if g["clientId"] == "5d2e7c1a-3b4f-4a6e-8c9d-0e1f2a3b4c5d"]
    assert len({g["principalId"] for g in rogue}) > 1


async def test_a_window_counts_from_the_answer_of_a_request_that_arrived_late() -> None:
    """A request answered 0.8 s after it was sent may have reached Microsoft that late: the next window's requests
    wait for its answer plus the window, not for its sending plus the window (the 429s of a busy event loop)."""
    clock = FakeClock()
    governor = Governor({"auditLogs": RateLimit(2, 10.0)}, margin=0.05, clock=clock, sleep=clock.sleep)
    first = await governor.acquire("auditLogs")
    second = await governor.acquire("auditLogs")
    clock.now = 0.8
    governor.settle(first)
    governor.settle(second)
    clock.now = 5.0
    governor.settle(first)  # settling twice (an error path and `finally`) does not move it again
    await governor.acquire("auditLogs")
    assert clock.now == pytest.approx(10.85)

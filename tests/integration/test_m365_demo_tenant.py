"""The production `m365` stack (msal, aiohttp, Graph and Exchange clients, `M365Tenant`) against the real demo
tenant over HTTPS: tokens, paging, `$batch`, throttling, faults, quoting, Exchange cmdlets and their errors.

The demo tenant's seed (`demo_tenant/seeds/contoso.json`) and its identifiers are in docs/CONTRACTS.md.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from config import Settings
from demo_tenant import DemoTenant, DemoTenantConfig
from demo_tenant.faults import FaultRule
from m365.auth import EXCHANGE_SCOPE, GRAPH_SCOPE, TokenProvider
from m365.errors import (
    AuthenticationFailed,
    OnPremisesMastered,
    PermissionDenied,
    UnblockLimitReached,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from m365.graph import BatchRequest, GraphClient
from m365.http import RetryPolicy, create_session
from m365.tenant import M365Tenant, create_tenant

SEED = Path(__file__).resolve().parents[2] / "demo_tenant" / "seeds" / "contoso.json"
TENANT_ID = "4f8c2b1e-6d3a-4e5b-9c7d-1a2b3c4d5e6f"
MEGAN = "2f6d4c93-1b5e-4d0a-83f4-7a8b9c0d1e03"
MIRIAM = "8fcda2f9-7b1e-4d6a-a9fa-3a4b5c6d7e09"
GRADY = "90debb0a-8c2f-4e7b-bafb-4b5c6d7e8f10"
ALEX = "0d4b2a71-9f3c-4b8e-a1d2-5e6f7a8b9c01"
FAST_RETRY = RetryPolicy(max_attempts=3, budget_seconds=5.0, base_delay_seconds=0.05, max_delay_seconds=0.2)


@dataclass
class Demo:
    """A running demo tenant and the production client stack pointed at it."""

    server: DemoTenant
    settings: Settings
    session: aiohttp.ClientSession
    tenant: M365Tenant

    def records(self, api: str | None = None, path_contains: str | None = None,
                cmdlet: str | None = None) -> list[Any]:
        return [r for r in self.server.state.requests
                if (api is None or r.api == api)
                and (path_contains is None or path_contains.lower() in r.path.lower())
                and (cmdlet is None or (r.cmdlet or "").lower() == cmdlet.lower())]

    def token_requests(self) -> list[Any]:
        return [r for r in self.server.state.requests if r.path.endswith("/oauth2/v2.0/token")]


StartDemo = Callable[..., Awaitable[Demo]]


@pytest.fixture
async def start_demo(tmp_path: Path) -> AsyncIterator[StartDemo]:
    """Start a demo tenant (config overrides as keyword arguments) with `create_tenant` on top of it."""
    running: list[Demo] = []

    async def start(*, settings_changes: dict[str, Any] | None = None, retry: RetryPolicy = FAST_RETRY,
                    **config: Any) -> Demo:
        data_dir = tmp_path / f"demo{len(running)}"
        server = DemoTenant(DemoTenantConfig(seed_path=SEED, data_dir=data_dir, host="127.0.0.1", port=0, **config))
        await server.start()
        try:
            settings = Settings.from_env(server.client_env(), dotenv_path=tmp_path / "absent.env")
            if settings_changes:
                settings = settings.replace(**settings_changes)
            session = create_session(settings)
        except BaseException:
            await server.stop()
            raise
        tenant = await create_tenant(settings, session, retry=retry)
        demo = Demo(server, settings, session, tenant)
        running.append(demo)
        return demo

    yield start
    for demo in reversed(running):
        await demo.tenant.close()
        await demo.session.close()
        await demo.server.stop()


@pytest.fixture
async def demo(start_demo: StartDemo) -> Demo:
    return await start_demo()


# -- tokens -------------------------------------------------------------------------------------------


async def test_token_over_https_is_cached(demo: Demo) -> None:
    assert demo.settings.m365_authority_host.startswith("https://127.0.0.1:")
    tokens = TokenProvider(demo.settings)
    try:
        first = await tokens.token(GRAPH_SCOPE)
        second = await tokens.token(GRAPH_SCOPE)
        assert first == second and first.count(".") == 2  # a JWT
        assert len(demo.token_requests()) == 1
        assert await tokens.token(EXCHANGE_SCOPE) != first  # another audience, another token
        assert len(demo.token_requests()) == 2
    finally:
        tokens.close()


async def test_concurrent_first_calls_make_one_token_request(demo: Demo) -> None:
    users = await asyncio.gather(*(demo.tenant.get_user(MEGAN) for _ in range(5)))
    assert all(u is not None and u.user_principal_name == "MeganB@example.com" for u in users)
    assert len(demo.token_requests()) == 1


async def test_token_is_renewed_after_expiry(start_demo: StartDemo) -> None:
    demo = await start_demo(token_lifetime_seconds=2)
    now = [1000.0]
    tokens = TokenProvider(demo.settings, refresh_margin_seconds=0, clock=lambda: now[0])
    try:
        first = await tokens.token(GRAPH_SCOPE)
        now[0] += 1.0
        assert await tokens.token(GRAPH_SCOPE) == first
        assert len(demo.token_requests()) == 1
        now[0] += 1.5  # past the 2-second lifetime
        second = await tokens.token(GRAPH_SCOPE)
        assert second != first
        assert len(demo.token_requests()) == 2
    finally:
        tokens.close()


async def test_invalidated_token_is_fetched_again_past_msal_cache(demo: Demo) -> None:
    tokens = TokenProvider(demo.settings)
    try:
        first = await tokens.token(GRAPH_SCOPE)
        tokens.invalidate(GRAPH_SCOPE, first)  # what a 401 does
        second = await tokens.token(GRAPH_SCOPE)
        assert second != first
        assert len(demo.token_requests()) == 2
    finally:
        tokens.close()


async def test_401_refreshes_the_token_and_retries(demo: Demo) -> None:
    tokens = TokenProvider(demo.settings)
    graph = GraphClient(demo.session, tokens, base_url=f"{demo.settings.m365_graph_url}/v1.0", retry=FAST_RETRY)
    try:
        await tokens.token(GRAPH_SCOPE)
        # A token the resource no longer accepts (revoked, rotated signing key...): the demo answers 401.
        tokens._tokens[(TENANT_ID, GRAPH_SCOPE)].value = "eyJhbGciOiJub25lIn0.eyJ4IjoxfQ.revoked"
        user = await graph.get_user(MEGAN)
    finally:
        tokens.close()
    assert user.id == MEGAN
    assert [r.status for r in demo.records(api="graph", path_contains=f"/users/{MEGAN}")] == [401, 200]


async def test_wrong_secret_is_authentication_failed(start_demo: StartDemo) -> None:
    demo = await start_demo(settings_changes={"m365_client_secret": "not-the-secret"})
    with pytest.raises(AuthenticationFailed) as info:
        await demo.tenant.get_user(MEGAN)
    assert "AADSTS7000215" in str(info.value)
    assert info.value.code == "AADSTS7000215"
    assert "not-the-secret" not in str(info.value)


async def test_certificate_credential(start_demo: StartDemo, tmp_path: Path) -> None:
    demo = await start_demo()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Blocked Sender Assistant")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    registered = demo.server.config.data_dir / "app_certificates"
    registered.mkdir(parents=True, exist_ok=True)
    (registered / "bot.pem").write_bytes(cert_pem)  # "upload" the certificate to the app registration
    pem = tmp_path / "bot-credential.pem"
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()) + cert_pem)
    settings = demo.settings.replace(m365_client_secret="", m365_client_certificate_path=str(pem))
    tokens = TokenProvider(settings)
    try:
        assert (await tokens.token(GRAPH_SCOPE)).count(".") == 2
    finally:
        tokens.close()


# -- Graph --------------------------------------------------------------------------------------------


async def test_quote_escaping_finds_only_miriam(demo: Demo) -> None:
    found = await demo.tenant.find_users("miriam.o'brien@example.com")
    assert [u.id for u in found] == [MIRIAM]
    user = await demo.tenant.get_user("miriam.o'brien@example.com")
    assert user is not None and user.id == MIRIAM and user.display_name == "Miriam O'Brien"
    guest = await demo.tenant.get_user("jordan_partner.example#EXT#@example.onmicrosoft.com")
    assert guest is not None and guest.is_guest
    assert await demo.tenant.find_users("x' or userPrincipalName eq 'MeganB@example.com") == ()


async def test_find_users_by_name_and_alias(demo: Demo) -> None:
    megans = await demo.tenant.find_users("Megan")
    assert {u.user_principal_name for u in megans} >= {"MeganB@example.com", "MeganL@example.com"}
    search = demo.records(api="graph", path_contains="/v1.0/users")
    assert any("$search" in r.query for r in search)
    by_alias = await demo.tenant.find_users("MeganB")
    assert by_alias[0].id == MEGAN
    by_id = await demo.tenant.find_users(MEGAN)
    assert [u.id for u in by_id] == [MEGAN]


async def test_paging_follows_next_links_with_a_cap(start_demo: StartDemo) -> None:
    demo = await start_demo(page_size=3)
    graph = demo.tenant.graph
    everyone = await graph.get_paged("/users", {"$select": "id"})
    pages = demo.records(api="graph", path_contains="/v1.0/users")
    assert len(everyone) >= 14  # the seed's users (docs/CONTRACTS.md)
    assert len({u["id"] for u in everyone}) == len(everyone)
    assert len(pages) == -(-len(everyone) // 3)
    capped = await graph.get_paged("/users", {"$select": "id"}, max_pages=2)
    assert len(capped) == 6


async def test_batch_splits_and_reads_service_principals(demo: Demo) -> None:
    graph = demo.tenant.graph
    ids = [MEGAN, MIRIAM, GRADY, ALEX] * 6 + ["00000000-0000-0000-0000-000000000000"]
    requests = [BatchRequest(str(n), "GET", f"/users/{uid}?$select=id,displayName") for n, uid in enumerate(ids)]
    answers = await graph.batch(requests)
    assert [a.id for a in answers] == [r.id for r in requests]
    assert [a.status for a in answers] == [200] * 24 + [404]
    assert answers[0].body["id"] == MEGAN
    batches = [r for r in demo.records(api="graph", path_contains="/$batch") if not r.in_batch]
    assert len(batches) == 2
    grants = await demo.tenant.list_oauth_grants(MEGAN)
    unknown = "00000000-0000-0000-0000-0000000000ff"
    sps = await demo.tenant.get_service_principals([g.client_id for g in grants] + [unknown])
    assert {sp.id for sp in sps} == {g.client_id for g in grants}


async def test_429_with_retry_after_then_success(demo: Demo) -> None:
    demo.server.state.faults.add(FaultRule(match=r"^GET /v1\.0/users/", status=429, retry_after=2, count=1))
    waits: list[float] = []

    async def record_sleep(seconds: float) -> None:  # the wait is asserted, not spent
        waits.append(seconds)

    tokens = TokenProvider(demo.settings)
    graph = GraphClient(demo.session, tokens, base_url=f"{demo.settings.m365_graph_url}/v1.0", retry=FAST_RETRY,
                        sleep=record_sleep)
    try:
        user = await graph.get_user(MEGAN)
    finally:
        tokens.close()
    assert user.id == MEGAN
    assert waits == [2.0]  # the Retry-After header, not the (much shorter) backoff
    statuses = [r.status for r in demo.records(api="graph", path_contains=f"/users/{MEGAN}")]
    assert statuses == [429, 200]


async def test_429_through_create_tenant_waits_for_real(demo: Demo) -> None:
    demo.server.state.faults.add(FaultRule(match=r"^GET /v1\.0/users/", status=429, retry_after=1, count=1))
    started = time.monotonic()
    assert await demo.tenant.get_user(MEGAN) is not None
    assert time.monotonic() - started >= 1.0


async def test_503_until_retries_run_out(demo: Demo) -> None:
    demo.server.state.faults.add(FaultRule(match=r"^GET /v1\.0/organization", status=503))
    with pytest.raises(UpstreamUnavailable) as info:
        await demo.tenant.ping()
    assert info.value.status == 503
    assert len(demo.records(api="graph", path_contains="/organization")) == FAST_RETRY.max_attempts


async def test_timeout_is_upstream_timeout(demo: Demo) -> None:
    demo.server.state.faults.add(FaultRule(match=r"^GET /v1\.0/users/", timeout=True, count=1))
    tokens = TokenProvider(demo.settings)
    graph = GraphClient(demo.session, tokens, base_url=f"{demo.settings.m365_graph_url}/v1.0", timeout_seconds=0.3,
                        retry=FAST_RETRY)
    try:
        with pytest.raises(UpstreamTimeout):
            await graph.get_user(MEGAN)
    finally:
        tokens.close()


async def test_permission_fault_names_the_permission(demo: Demo) -> None:
    demo.server.state.faults.add(FaultRule(match=r"^GET /v1\.0/auditLogs/signIns", permission="AuditLog.Read.All"))
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    with pytest.raises(PermissionDenied) as info:
        await demo.tenant.list_sign_ins(MEGAN, since)
    assert info.value.permission == "AuditLog.Read.All"


async def test_evidence_reads(demo: Demo) -> None:
    tenant = demo.tenant
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    assert set(await tenant.list_verified_domains()) >= {"example.com", "example.onmicrosoft.com"}
    sign_ins = await tenant.list_sign_ins(MEGAN, since)
    assert sign_ins and all(s.user_id == MEGAN for s in sign_ins)
    assert [s.created for s in sign_ins] == sorted((s.created for s in sign_ins), reverse=True)  # type: ignore[type-var]
    many = await tenant.list_sign_ins_for_users([MEGAN, GRADY, ALEX], since)
    assert set(many) == {MEGAN, GRADY, ALEX}
    assert {s.id for s in many[MEGAN]} == {s.id for s in sign_ins}
    audits = await tenant.list_directory_audits_for_users([MEGAN, GRADY], since)
    assert set(audits) == {MEGAN, GRADY}
    assert {a.id for a in audits[MEGAN]} == {a.id for a in await tenant.list_directory_audits(MEGAN, since)}
    memberships = await tenant.list_memberships(ALEX)
    assert any(m.is_role and m.role_template_id == "194ae4cb-b126-40b2-bd5b-6091b380977d" for m in memberships)
    assert await tenant.list_inbox_rules(MEGAN) is not None
    assert await tenant.list_auth_methods(MEGAN)
    risky = await tenant.get_risky_user(MEGAN)
    assert risky is not None


async def test_synced_user_rejects_account_writes(demo: Demo) -> None:
    with pytest.raises(OnPremisesMastered):
        await demo.tenant.set_account_enabled(GRADY, False)
    with pytest.raises(OnPremisesMastered):
        await demo.tenant.force_password_change(GRADY)


# -- Exchange -----------------------------------------------------------------------------------------


async def test_get_blocked_sender(demo: Demo) -> None:
    megan = await demo.tenant.get_blocked_sender("MeganB@example.com")
    assert megan is not None and megan.sender_address.lower() == "meganb@example.com"
    assert await demo.tenant.get_blocked_sender("LynneR@example.com") is None
    invoke = demo.records(api="exchange", cmdlet="Get-BlockedSenderAddress")
    assert invoke and invoke[0].parameters == {"SenderAddress": "MeganB@example.com"}


async def test_exchange_paging(start_demo: StartDemo) -> None:
    demo = await start_demo(page_size=2)
    senders = await demo.tenant.list_blocked_senders()
    addresses = {s.sender_address.lower() for s in senders}
    assert {"meganb@example.com", "pattif@example.com", "adelev@example.com", "gradya@example.com"} <= addresses
    assert len(demo.records(api="exchange", cmdlet="Get-BlockedSenderAddress")) == -(-len(senders) // 2)


async def test_mailbox_reads_and_not_found(demo: Demo) -> None:
    mailbox = await demo.tenant.get_mailbox("MeganB@example.com")
    assert mailbox is not None and mailbox.primary_smtp_address.lower() == "meganb@example.com"
    assert await demo.tenant.get_mailbox("JohannaL@example.com") is None
    assert await demo.tenant.get_cas_mailbox("JohannaL@example.com") is None
    assert await demo.tenant.get_cas_mailbox("MeganB@example.com") is not None


async def test_unblock_limit_reached(demo: Demo) -> None:
    state = demo.server.state
    state.unblock_counts["meganb@example.com"] = state.unblock_limit
    with pytest.raises(UnblockLimitReached) as info:
        await demo.tenant.remove_blocked_sender("MeganB@example.com")
    assert "maximum number of times" in str(info.value)
    assert "|" not in str(info.value)


async def test_exchange_permission_fault(demo: Demo) -> None:
    demo.server.state.faults.add(FaultRule(match="InvokeCommand:Remove-BlockedSenderAddress",
                                           permission="Security Administrator"))
    with pytest.raises(PermissionDenied) as info:
        await demo.tenant.remove_blocked_sender("MeganB@example.com")
    assert info.value.permission is not None and "Security Administrator" in info.value.permission


async def test_unblock_then_cleared_after_delay(start_demo: StartDemo) -> None:
    demo = await start_demo(unblock_delay_seconds=0.5)
    assert await demo.tenant.get_blocked_sender("AdeleV@example.com") is not None
    await demo.tenant.remove_blocked_sender("AdeleV@example.com")
    assert await demo.tenant.get_blocked_sender("AdeleV@example.com") is not None  # Microsoft takes a while
    await asyncio.sleep(0.6)
    assert await demo.tenant.get_blocked_sender("AdeleV@example.com") is None


async def test_remaining_reads(demo: Demo) -> None:
    tenant = demo.tenant
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    await tenant.ping()
    assert await tenant.list_mail_folders(MEGAN)
    assert await tenant.get_registration_details(MEGAN) is not None
    detections = await tenant.list_risk_detections(MEGAN, since)
    assert all(d.user_id == MEGAN for d in detections)
    alerts = await tenant.list_alerts(since, user_upn="meganb@example.com")
    assert all(any(u.lower() == "meganb@example.com" for u in a.user_upns) for a in alerts)
    assert len(await tenant.list_alerts(since)) >= len(alerts)
    assert await tenant.get_risky_user("00000000-0000-0000-0000-000000000000") is None
    assert await tenant.get_user("00000000-0000-0000-0000-000000000000") is None


async def test_writes(demo: Demo) -> None:
    tenant = demo.tenant
    await tenant.revoke_sign_in_sessions(MEGAN)
    await tenant.set_account_enabled(MEGAN, False)
    user = await tenant.get_user(MEGAN)
    assert user is not None and user.account_enabled is False
    await tenant.set_account_enabled(MEGAN, True)
    await tenant.force_password_change(MEGAN)
    rules = await tenant.list_inbox_rules(MEGAN)
    assert rules
    await tenant.set_inbox_rule_enabled(MEGAN, rules[0].id, False)
    assert not next(r for r in await tenant.list_inbox_rules(MEGAN) if r.id == rules[0].id).is_enabled
    await tenant.remove_mailbox_forwarding("MeganB@example.com")
    mailbox = await tenant.get_mailbox("MeganB@example.com")
    assert mailbox is not None and mailbox.forwarding_target is None and not mailbox.deliver_to_mailbox_and_forward
    await tenant.confirm_compromised(MEGAN)
    risky = await tenant.get_risky_user(MEGAN)
    assert risky is not None and risky.risk_state == "confirmedCompromised"
    await tenant.dismiss_risk(MEGAN)
    risky = await tenant.get_risky_user(MEGAN)
    assert risky is not None and risky.risk_state == "dismissed"


async def test_unknown_tenant_is_authentication_failed(start_demo: StartDemo) -> None:
    demo = await start_demo(settings_changes={"m365_tenant_id": "11111111-2222-3333-4444-555555555555"})
    with pytest.raises(AuthenticationFailed) as info:
        await demo.tenant.ping()
    assert "M365_TENANT_ID" in str(info.value)

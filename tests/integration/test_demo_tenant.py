"""The demo tenant, driven over real HTTPS the way the bot's clients drive Microsoft 365.

Every request goes through an aiohttp session that trusts only the demo CA (no `verify=False`), and msal
gets its token from the same server.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import ssl
import stat
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
from yarl import URL

from demo_tenant import DemoTenant, DemoTenantConfig, FaultRule, LatencyRule
from demo_tenant.odata import ODataError, parse_filter
from demo_tenant.timeutil import shift_iso

REPO_ROOT = Path(__file__).resolve().parents[2]
TENANT_ID = "4f8c2b1e-6d3a-4e5b-9c7d-1a2b3c4d5e6f"
CLIENT_ID = "b7e3c1d2-8a4f-4c6e-9b1d-2e3f4a5b6c7d"
MEGAN = "2f6d4c93-1b5e-4d0a-83f4-7a8b9c0d1e03"
PATTI = "3a7e5da4-2c6f-4e1b-94a5-8b9c0d1e2f04"
ADELE = "4b8f6eb5-3d7a-4f2c-a5b6-9c0d1e2f3a05"
DIEGO = "6dab80d7-5f9c-4b4e-87d8-1e2f3a4b5c07"
MIRIAM = "8fcda2f9-7b1e-4d6a-a9fa-3a4b5c6d7e09"
GRADY = "90debb0a-8c2f-4e7b-bafb-4b5c6d7e8f10"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
EXCHANGE_SCOPE = "https://outlook.office365.com/.default"
ANCHOR = "APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@example.onmicrosoft.com"
UNBLOCK_DELAY = 0.4
UNBLOCK_LIMIT_BODY = {
    "error": {
        "code": "BadRequest",
        "message": "|Microsoft.Exchange.Management.Tasks.ValidationException|The sender has been unblocked the "
                   "maximum number of times allowed. To unblock this sender, contact Microsoft support.",
    }
}


@dataclass
class Client:
    """A running demo tenant and a session that trusts its CA."""

    tenant: DemoTenant
    session: aiohttp.ClientSession
    _tokens: dict[str, str]

    @property
    def base(self) -> str:
        return self.tenant.base_url

    async def token(self, scope: str = GRAPH_SCOPE) -> str:
        if scope not in self._tokens:
            async with self.session.post(f"{self.base}/{TENANT_ID}/oauth2/v2.0/token", data={
                "grant_type": "client_credentials", "client_id": CLIENT_ID,
                "client_secret": self.tenant.client_secret, "scope": scope,
            }) as resp:
                assert resp.status == 200, await resp.text()
                self._tokens[scope] = (await resp.json())["access_token"]
        return self._tokens[scope]

    async def graph(self, method: str, path: str, *, params: dict[str, str] | None = None,
                    headers: dict[str, str] | None = None, body: Any = None) -> tuple[int, Any, Any]:
        """Call Graph; `path` may be a full URL (a nextLink). Returns status, JSON body (or None), headers."""
        url: str | URL = path if path.startswith("https://") else f"{self.base}/v1.0{path}"
        if isinstance(url, str) and "%" in url:
            url = URL(url, encoded=True)  # keep the caller's percent-encoding exactly as sent
        all_headers = {"Authorization": f"Bearer {await self.token()}", **(headers or {})}
        async with self.session.request(method, url, params=params, headers=all_headers, json=body) as resp:
            text = await resp.text()
            return resp.status, (json.loads(text) if text else None), resp.headers

    async def exchange(self, cmdlet: str, parameters: dict[str, Any] | None = None, *, url: str | None = None,
                       anchor: bool = True) -> tuple[int, Any, Any]:
        """InvokeCommand (or POST the same body to a nextLink)."""
        headers = {"Authorization": f"Bearer {await self.token(EXCHANGE_SCOPE)}"}
        if anchor:
            headers["X-AnchorMailbox"] = ANCHOR
        body = {"CmdletInput": {"CmdletName": cmdlet, "Parameters": parameters or {}}}
        target = url or f"{self.base}/adminapi/beta/{TENANT_ID}/InvokeCommand"
        async with self.session.post(URL(target, encoded=True), headers=headers, json=body) as resp:
            return resp.status, await resp.json(content_type=None), resp.headers

    async def admin(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.session.request(method, f"{self.base}/_demo/{path}", json=body) as resp:
            text = await resp.text()
            return resp.status, (json.loads(text) if text else None)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data directory per module, so the CA and keys are made once and reused (as in real use)."""
    return tmp_path_factory.mktemp("demo_tenant")


@pytest.fixture
async def client(data_dir: Path) -> AsyncIterator[Client]:
    tenant = DemoTenant(DemoTenantConfig(data_dir=data_dir, unblock_delay_seconds=UNBLOCK_DELAY, page_size=5))
    await tenant.start()
    ssl_context = ssl.create_default_context(cafile=str(tenant.ca_file))
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ssl_context))
    try:
        yield Client(tenant, session, {})
    finally:
        await session.close()
        await tenant.stop()


def _claims(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


# --- identity ----------------------------------------------------------------------------------------


async def test_discovery_jwks_and_token_audience_per_scope(client: Client) -> None:
    async with client.session.get(f"{client.base}/{TENANT_ID}/v2.0/.well-known/openid-configuration") as resp:
        assert resp.status == 200
        config = await resp.json()
    assert config["token_endpoint"] == f"{client.base}/{TENANT_ID}/oauth2/v2.0/token"
    assert config["issuer"] == f"{client.base}/{TENANT_ID}/v2.0"
    async with client.session.get(config["jwks_uri"]) as resp:
        jwks = await resp.json()

    graph_token = await client.token(GRAPH_SCOPE)
    exchange_token = await client.token(EXCHANGE_SCOPE)
    key = jwt.PyJWK(jwks["keys"][0]).key
    graph = jwt.decode(graph_token, key, algorithms=["RS256"], audience="https://graph.microsoft.com")
    exchange = jwt.decode(exchange_token, key, algorithms=["RS256"], audience="https://outlook.office365.com")
    assert graph["iss"] == f"https://sts.windows.net/{TENANT_ID}/"
    assert graph["tid"] == TENANT_ID and graph["appid"] == CLIENT_ID
    assert "AuditLog.Read.All" in graph["roles"] and "Exchange.ManageAsApp" not in graph["roles"]
    assert exchange["roles"] == ["Exchange.ManageAsApp"]
    assert 3590 <= graph["exp"] - graph["iat"] <= 3610

    async with client.session.get(f"{client.base}/common/discovery/instance",
                                  params={"api-version": "1.1"}) as resp:
        assert "tenant_discovery_endpoint" in await resp.json()


async def test_wrong_secret_is_aadsts7000215(client: Client) -> None:
    async with client.session.post(f"{client.base}/{TENANT_ID}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": "not-the-secret",
        "scope": GRAPH_SCOPE,
    }) as resp:
        assert resp.status == 401
        body = await resp.json()
    assert body["error"] == "invalid_client"
    assert body["error_codes"] == [7000215]
    assert body["error_description"].startswith("AADSTS7000215: Invalid client secret provided.")
    assert "\r\nTrace ID: " in body["error_description"] and "Correlation ID: " in body["error_description"]
    assert body["trace_id"] and body["correlation_id"] and body["timestamp"]
    assert client.tenant.client_secret not in json.dumps(body)


@pytest.mark.parametrize(("tenant", "client_id", "scope", "status", "code"), [
    ("00000000-0000-0000-0000-000000000000", CLIENT_ID, GRAPH_SCOPE, 400, 90002),
    (TENANT_ID, "00000000-0000-0000-0000-0000000000aa", GRAPH_SCOPE, 400, 700016),
    (TENANT_ID, CLIENT_ID, "https://graph.microsoft.com/User.Read.All", 400, 1002012),
    (TENANT_ID, CLIENT_ID, "https://unknown.example/.default", 400, 500011),
])
async def test_token_errors(client: Client, tenant: str, client_id: str, scope: str, status: int, code: int) -> None:
    async with client.session.post(f"{client.base}/{tenant}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": client_id, "client_secret": client.tenant.client_secret,
        "scope": scope,
    }) as resp:
        assert resp.status == status
        body = await resp.json()
    assert body["error_codes"] == [code]
    assert body["error_description"].startswith(f"AADSTS{code}:")


async def test_msal_gets_a_token(client: Client) -> None:
    import msal
    import requests

    def acquire() -> dict[str, Any]:
        with requests.Session() as http:
            # trust_env=False: otherwise REQUESTS_CA_BUNDLE (set on many machines) silently replaces `verify`.
            http.trust_env = False
            http.verify = str(client.tenant.ca_file)
            app = msal.ConfidentialClientApplication(
                CLIENT_ID, client_credential=client.tenant.client_secret, authority=f"{client.base}/{TENANT_ID}",
                http_client=http, instance_discovery=False,
            )
            result: dict[str, Any] = app.acquire_token_for_client([GRAPH_SCOPE])
            return result

    result = await asyncio.to_thread(acquire)
    assert "access_token" in result, result
    assert _claims(result["access_token"])["aud"] == "https://graph.microsoft.com"


async def test_msal_certificate_credential(client: Client, data_dir: Path, tmp_path: Path) -> None:
    import msal
    import requests
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Blocked Sender Assistant")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1)).sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()

    def acquire() -> dict[str, Any]:
        with requests.Session() as http:
            http.trust_env = False
            http.verify = str(client.tenant.ca_file)
            app = msal.ConfidentialClientApplication(
                CLIENT_ID, authority=f"{client.base}/{TENANT_ID}", http_client=http, instance_discovery=False,
                client_credential={"private_key": key_pem,
                                   "thumbprint": cert.fingerprint(hashes.SHA1()).hex()},
            )
            result: dict[str, Any] = app.acquire_token_for_client([EXCHANGE_SCOPE])
            return result

    unregistered = await asyncio.to_thread(acquire)
    assert "AADSTS700027" in unregistered.get("error_description", "")
    certs = data_dir / "app_certificates"
    certs.mkdir(exist_ok=True)
    (certs / "bot.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    try:
        result = await asyncio.to_thread(acquire)
    finally:
        (certs / "bot.pem").unlink()
    assert "access_token" in result, result
    claims = _claims(result["access_token"])
    assert claims["aud"] == "https://outlook.office365.com" and claims["appidacr"] == "2"


@pytest.mark.parametrize("case", ["missing", "garbage", "expired", "wrong_audience", "wrong_tenant"])
async def test_graph_refuses_bad_tokens(client: Client, case: str) -> None:
    tenant = client.tenant
    headers = {
        "missing": {},
        "garbage": {"Authorization": "Bearer not-a-jwt"},
        "expired": {"Authorization": "Bearer " + tenant.issue_access_token("https://graph.microsoft.com",
                                                                            lifetime_seconds=-3600)},
        "wrong_audience": {"Authorization": "Bearer " + await client.token(EXCHANGE_SCOPE)},
        "wrong_tenant": {"Authorization": "Bearer " + tenant.issue_access_token(
            "https://graph.microsoft.com", tenant_id="11111111-2222-3333-4444-555555555555")},
    }[case]
    async with client.session.get(f"{client.base}/v1.0/users/{MEGAN}", headers=headers) as resp:
        assert resp.status == 401
        body = await resp.json()
        assert resp.headers["WWW-Authenticate"].startswith("Bearer ")
        assert resp.headers["request-id"]
    assert body["error"]["code"] == "InvalidAuthenticationToken"
    expected = {"missing": "Access token is empty.", "expired": "Lifetime validation failed, the token is expired.",
                "wrong_audience": "Access token validation failure. Invalid audience."}
    if case in expected:
        assert body["error"]["message"] == expected[case]
    assert set(body["error"]["innerError"]) == {"date", "request-id", "client-request-id"}


async def test_exchange_refuses_a_graph_token(client: Client) -> None:
    async with client.session.post(
        f"{client.base}/adminapi/beta/{TENANT_ID}/InvokeCommand",
        headers={"Authorization": f"Bearer {await client.token(GRAPH_SCOPE)}", "X-AnchorMailbox": ANCHOR},
        json={"CmdletInput": {"CmdletName": "Get-BlockedSenderAddress", "Parameters": {}}},
    ) as resp:
        assert resp.status == 401
        assert "invalid_token" in resp.headers["WWW-Authenticate"]
        assert (await resp.json())["error"]["message"] == "Access token validation failure. Invalid audience."


# --- Graph: users, filters, search, paging -------------------------------------------------------------


async def test_user_lookup_by_id_upn_and_apostrophe(client: Client) -> None:
    status, body, headers = await client.graph("GET", f"/users/{MEGAN}", params={"$select": "id,displayName,mail"},
                                               headers={"client-request-id": "abc-123"})
    assert status == 200
    assert body["displayName"] == "Megan Bowen"
    assert set(body) == {"@odata.context", "id", "displayName", "mail"}
    assert body["@odata.context"].endswith("/v1.0/$metadata#users(id,displayName,mail)/$entity")
    assert headers["client-request-id"] == "abc-123" and headers["request-id"]

    for path in ("/users/MeganB@example.com", "/users/meganb@EXAMPLE.com"):
        status, body, _ = await client.graph("GET", path)
        assert status == 200 and body["id"] == MEGAN
    # Without $select Graph returns its default property set only.
    assert "accountEnabled" not in body

    for path in ("/users/miriam.o'brien@example.com", "/users/miriam.o%27brien%40example.com",
                 "/users('miriam.o''brien@example.com')"):
        status, body, _ = await client.graph("GET", path)
        assert status == 200, path
        assert body["id"] == MIRIAM

    status, body, _ = await client.graph("GET", "/users/nobody@example.com")
    assert status == 404 and body["error"]["code"] == "Request_ResourceNotFound"


@pytest.mark.graph_contract_exempt  # sends a malformed $filter on purpose
async def test_filter_escaped_quote_finds_exactly_miriam_and_raw_quote_is_400(client: Client) -> None:
    status, body, _ = await client.graph("GET", "/users", params={
        "$filter": "userPrincipalName eq 'miriam.o''brien@example.com'", "$select": "id"})
    assert status == 200
    assert [u["id"] for u in body["value"]] == [MIRIAM]

    status, body, _ = await client.graph("GET", "/users", params={
        "$filter": "userPrincipalName eq 'miriam.o'brien@example.com'"})
    assert status == 400
    assert body["error"]["message"].startswith("Invalid filter clause")


@pytest.mark.parametrize(("flt", "expected"), [
    ("mail eq 'PATTIF@example.com'", {PATTI}),
    ("mailNickname eq 'miriam.obrien'", {MIRIAM}),
    ("proxyAddresses/any(p:p eq 'smtp:meganb@example.onmicrosoft.com')", {MEGAN}),
    ("startswith(surname,'vance') or startswith(givenName,'Grady')", {ADELE, GRADY}),
    (f"id in ('{MEGAN}','{DIEGO}') and (startswith(displayName,'Diego') or mail eq 'x@example.com')", {DIEGO}),
    ("userPrincipalName eq 'DiegoS@example.com' or (mail eq 'AdeleV@example.com')", {DIEGO, ADELE}),
])
async def test_user_filter_forms(client: Client, flt: str, expected: set[str]) -> None:
    status, body, _ = await client.graph("GET", "/users", params={"$filter": flt, "$select": "id"})
    assert status == 200, body
    assert {u["id"] for u in body["value"]} == expected


async def test_search_and_count_need_consistency_level(client: Client) -> None:
    status, body, _ = await client.graph("GET", "/users", params={"$search": '"displayName:meg"'})
    assert status == 400
    assert body["error"]["message"] == ("Request with $search query parameter only works through MSGraph with a "
                                        "special request header: 'ConsistencyLevel: eventual'")
    status, body, _ = await client.graph("GET", "/users", params={"$count": "true"})
    assert status == 400 and "ConsistencyLevel: eventual" in body["error"]["message"]

    status, body, _ = await client.graph("GET", "/users", params={
        "$search": '"displayName:meg"', "$count": "true", "$select": "displayName"},
        headers={"ConsistencyLevel": "eventual"})
    assert status == 200
    assert body["@odata.count"] == 2
    assert sorted(u["displayName"] for u in body["value"]) == ["Megan Bowen", "Megan Lewis"]

    status, body, _ = await client.graph("GET", "/users", params={"$search": "displayName:meg"},
                                         headers={"ConsistencyLevel": "eventual"})
    assert status == 400


async def test_paging_follows_next_link(client: Client) -> None:
    seen: list[str] = []
    status, body, _ = await client.graph("GET", "/users", params={"$select": "id", "$top": "4"})
    pages = 1
    while True:
        assert status == 200
        seen.extend(u["id"] for u in body["value"])
        link = body.get("@odata.nextLink")
        if not link:
            break
        assert link.startswith(f"{client.base}/v1.0/users?") and "$skiptoken=" in link
        status, body, _ = await client.graph("GET", link)
        pages += 1
    assert pages == 4
    assert len(seen) == len(set(seen)) == len(client.tenant.state.users()) == 14

    status, body, _ = await client.graph("GET", "/users", params={"$top": "1000"})
    assert status == 400 and "Must be between 1 and 999" in body["error"]["message"]


# --- Graph: sign-ins, batch --------------------------------------------------------------------------------


@pytest.mark.graph_contract_exempt  # sends a malformed $filter on purpose
async def test_sign_ins_for_several_users_newest_first(client: Client) -> None:
    since = (datetime.now(UTC) - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for flt in (f"(userId eq '{MEGAN}' or userId eq '{PATTI}') and createdDateTime ge {since}",
                f"userId in ('{MEGAN}','{PATTI}') and createdDateTime ge {since}"):
        status, body, _ = await client.graph("GET", "/auditLogs/signIns", params={"$filter": flt, "$top": "1000"})
        assert status == 200, body
        users = {s["userId"] for s in body["value"]}
        assert users == {MEGAN, PATTI}
        times = [s["createdDateTime"] for s in body["value"]]
        assert times == sorted(times, reverse=True)
    # A quoted date is an Edm.String: Graph refuses it.
    status, body, _ = await client.graph("GET", "/auditLogs/signIns", params={
        "$filter": f"createdDateTime ge '{since}'"})
    assert status == 400 and "incompatible types" in body["error"]["message"]


async def test_megan_sign_ins_are_recent_after_the_datetime_shift(client: Client) -> None:
    week_ago = (datetime.now(UTC) - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    status, body, _ = await client.graph("GET", "/auditLogs/signIns", params={
        "$filter": f"userId eq '{MEGAN}' and createdDateTime ge {week_ago}", "$top": "50"})
    assert status == 200
    countries = {s["location"]["countryOrRegion"] for s in body["value"]}
    assert {"NG", "RU", "NL"} <= countries
    now = datetime.now(UTC) + timedelta(seconds=5)
    for sign_in in body["value"]:
        assert datetime.fromisoformat(sign_in["createdDateTime"].replace("Z", "+00:00")) <= now


async def test_batch_runs_each_request_and_caps_at_twenty(client: Client) -> None:
    status, body, _ = await client.graph("POST", "/$batch", body={"requests": [
        {"id": "1", "method": "GET", "url": f"/users/{MEGAN}?$select=id,displayName"},
        {"id": "2", "method": "GET", "url": f"/users/{MEGAN}/mailFolders/inbox/messageRules"},
        {"id": "3", "method": "GET", "url": "/users/nobody@example.com"},
        {"id": "4", "method": "GET", "url": "users?$search=\"displayName:adele\"&$select=id",
         "headers": {"ConsistencyLevel": "eventual"}},
    ]})
    assert status == 200
    responses = {r["id"]: r for r in body["responses"]}
    assert responses["1"]["status"] == 200 and responses["1"]["body"]["displayName"] == "Megan Bowen"
    assert {r["displayName"] for r in responses["2"]["body"]["value"]} >= {".", ".."}
    assert responses["3"]["status"] == 404
    assert [u["id"] for u in responses["4"]["body"]["value"]] == [ADELE]
    inner = [r for r in client.tenant.state.requests if r.in_batch]
    assert len(inner) == 4

    status, body, _ = await client.graph("POST", "/$batch", body={"requests": [
        {"id": str(i), "method": "GET", "url": "/organization"} for i in range(21)]})
    assert status == 400
    assert "maximum of 20" in body["error"]["message"]


async def test_batch_depends_on(client: Client) -> None:
    status, body, _ = await client.graph("POST", "/$batch", body={"requests": [
        {"id": "1", "method": "GET", "url": "/users/nobody@example.com"},
        {"id": "2", "method": "GET", "url": "/organization", "dependsOn": ["1"]},
        {"id": "3", "method": "POST", "url": f"/users/{MEGAN}/revokeSignInSessions", "body": {}},
    ]})
    assert status == 400 and "Content-Type" in body["error"]["message"]
    status, body, _ = await client.graph("POST", "/$batch", body={"requests": [
        {"id": "1", "method": "GET", "url": "/users/nobody@example.com"},
        {"id": "2", "method": "GET", "url": "/organization", "dependsOn": ["1"]},
    ]})
    assert [r["status"] for r in body["responses"]] == [404, 424]
    status, body, _ = await client.graph("POST", "/$batch", body={"requests": [
        {"id": "1", "method": "GET", "url": "/organization", "dependsOn": ["2"]},
        {"id": "2", "method": "GET", "url": "/organization", "dependsOn": ["1"]},
    ]})
    assert status == 400


async def test_batch_inner_request_gets_its_own_throttle(client: Client) -> None:
    client.tenant.state.faults.add(FaultRule(match=r"^GET /v1\.0/auditLogs/signIns$", status=429, retry_after=3))
    status, body, _ = await client.graph("POST", "/$batch", body={"requests": [
        {"id": "a", "method": "GET", "url": f"/users/{MEGAN}"},
        {"id": "b", "method": "GET", "url": f"/auditLogs/signIns?$filter=userId eq '{MEGAN}'"},
    ]})
    assert status == 200
    responses = {r["id"]: r for r in body["responses"]}
    assert responses["a"]["status"] == 200
    assert responses["b"]["status"] == 429
    assert responses["b"]["headers"]["Retry-After"] == "3"
    assert responses["b"]["body"]["error"]["code"] == "TooManyRequests"


# --- Graph: mail, writes, permissions, licences -----------------------------------------------------------


async def test_patch_rule_persists_in_graph_and_exchange(client: Client) -> None:
    status, body, _ = await client.graph("GET", f"/users/{MEGAN}/mailFolders/inbox/messageRules")
    rule = next(r for r in body["value"] if r["displayName"] == ".")
    assert rule["actions"]["forwardTo"][0]["emailAddress"]["address"] == "exfil@mail-relay.example.net"
    assert rule["actions"]["delete"] is True

    status, body, _ = await client.graph("PATCH", f"/users/{MEGAN}/mailFolders/inbox/messageRules/{rule['id']}",
                                         body={"isEnabled": False})
    assert status == 200 and body["isEnabled"] is False and body["id"] == rule["id"]
    status, body, _ = await client.graph("GET", f"/users/{MEGAN}/mailFolders/inbox/messageRules/{rule['id']}")
    assert body["isEnabled"] is False
    status, body, _ = await client.exchange("Get-InboxRule", {"Mailbox": "MeganB@example.com"})
    assert next(r for r in body["value"] if r["Name"] == ".")["Enabled"] is False

    status, body, _ = await client.graph("PATCH", f"/users/{MEGAN}/mailFolders/inbox/messageRules/{rule['id']}",
                                         body={"isEnabled": "no"})
    assert status == 400


async def test_user_without_mailbox_is_mailbox_not_enabled(client: Client) -> None:
    status, body, _ = await client.graph("GET", "/users/JohannaL@example.com/mailFolders/inbox/messageRules")
    assert status == 404 and body["error"]["code"] == "MailboxNotEnabledForRESTAPI"
    status, body, _ = await client.exchange("Get-Mailbox", {"Identity": "JohannaL@example.com"})
    assert status == 404


async def test_account_writes_and_synced_user(client: Client) -> None:
    status, body, _ = await client.graph("PATCH", f"/users/{GRADY}", body={"accountEnabled": False})
    assert status == 400
    assert body["error"]["code"] == "Request_BadRequest"
    assert body["error"]["message"] == ("Unable to update the specified properties for on-premises mastered Directory "
                                        "Sync objects or objects currently undergoing migration.")

    status, body, _ = await client.graph("PATCH", f"/users/{DIEGO}", body={"accountEnabled": False})
    assert status == 204 and body is None
    status, body, _ = await client.graph("GET", f"/users/{DIEGO}", params={"$select": "accountEnabled"})
    assert body["accountEnabled"] is False

    status, _, _ = await client.graph("PATCH", f"/users/{DIEGO}",
                                      body={"passwordProfile": {"forceChangePasswordNextSignIn": True}})
    assert status == 204
    status, body, _ = await client.graph("PATCH", f"/users/{DIEGO}",
                                         body={"passwordProfile": {"password": "Sup3r-Secret-Value"}})
    assert status == 400
    assert "Sup3r-Secret-Value" not in json.dumps(client.tenant.state.user(DIEGO))

    status, body, _ = await client.graph("POST", f"/users/{DIEGO}/revokeSignInSessions")
    assert status == 200 and body["value"] is True
    assert [a.kind for a in client.tenant.state.actions] == ["set_account_enabled", "password_profile",
                                                             "revoke_sessions"]


async def test_missing_permission_is_403(client: Client) -> None:
    token = client.tenant.issue_access_token("https://graph.microsoft.com", roles=["MailboxSettings.Read"])
    headers = {"Authorization": f"Bearer {token}"}
    async with client.session.get(f"{client.base}/v1.0/auditLogs/signIns", headers=headers) as resp:
        assert resp.status == 403
        assert (await resp.json())["error"] | {"innerError": None} == {
            "code": "Authorization_RequestDenied", "innerError": None,
            "message": "Calling principal does not have required MSGraph permissions AuditLog.Read.All"}
    async with client.session.get(f"{client.base}/v1.0/users/{MEGAN}", headers=headers) as resp:
        assert resp.status == 403
        assert (await resp.json())["error"]["message"] == "Insufficient privileges to complete the operation."


async def test_identity_protection_and_p2_licence(client: Client) -> None:
    status, body, _ = await client.graph("GET", f"/identityProtection/riskyUsers/{MEGAN}")
    assert status == 200 and body["riskLevel"] == "high" and body["riskState"] == "atRisk"
    status, _, _ = await client.graph("GET", f"/identityProtection/riskyUsers/{PATTI}")
    assert status == 404
    status, _, _ = await client.graph("POST", "/identityProtection/riskyUsers/confirmCompromised",
                                      body={"userIds": [PATTI]})
    assert status == 204
    status, body, _ = await client.graph("GET", f"/identityProtection/riskyUsers/{PATTI}")
    assert (body["riskLevel"], body["riskState"], body["riskDetail"]) == (
        "high", "confirmedCompromised", "adminConfirmedUserCompromised")
    status, _, _ = await client.graph("POST", "/identityProtection/riskyUsers/dismiss", body={"userIds": [PATTI]})
    status, body, _ = await client.graph("GET", f"/identityProtection/riskyUsers/{PATTI}")
    assert (body["riskLevel"], body["riskState"]) == ("none", "dismissed")

    client.tenant.state.tenant["licenses"]["entraIdP2"] = False
    status, body, _ = await client.graph("GET", "/identityProtection/riskDetections",
                                         params={"$filter": f"userId eq '{MEGAN}'"})
    assert status == 403 and body["error"]["code"] == "Forbidden"
    assert "not licensed" in body["error"]["message"] and "Microsoft Entra ID P2" in body["error"]["message"]


# --- Exchange --------------------------------------------------------------------------------------------


async def test_exchange_happy_path_paging_and_errors(client: Client) -> None:
    status, body, _ = await client.exchange("Get-BlockedSenderAddress", {"SenderAddress": "meganb@example.com"})
    assert status == 200
    assert body["adminapi.warnings"] == [] and body["adminapi.warnings@odata.type"] == "#Collection(String)"
    (entry,) = body["value"]
    assert entry["Reason"].startswith("OutboundSpamLast24Hours=242;")
    assert set(entry) >= {"SenderAddress", "Reason", "BlockType", "CreatedDatetime", "ChangedDatetime",
                          "TemporaryBlock", "InternalOnly", "ExpireDatetime"}

    mailboxes: list[str] = []
    status, body, _ = await client.exchange("Get-Mailbox")
    pages = 1
    while True:
        assert status == 200, body
        mailboxes.extend(m["UserPrincipalName"] for m in body["value"])
        if "@odata.nextLink" not in body:
            break
        status, body, _ = await client.exchange("Get-Mailbox", url=body["@odata.nextLink"])
        pages += 1
    assert pages == 3 and len(mailboxes) == len(set(mailboxes)) == 12
    assert "JohannaL@example.com" not in mailboxes

    status, body, _ = await client.exchange("Get-Mailbox", {"Identity": PATTI})
    assert body["value"][0]["ForwardingSmtpAddress"] == "smtp:patti.fernandez.home@gmail.com"

    status, body, _ = await client.exchange("Get-Mailbox", {"Identity": "ghost@example.com"})
    assert status == 404
    assert body["error"]["code"] == "NotFound"
    assert body["error"]["message"].startswith(
        "|Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException|The operation couldn't be "
        "performed because object 'ghost@example.com' couldn't be found on ")

    status, body, _ = await client.exchange("Get-Mailbox", anchor=False)
    assert status == 400 and "X-AnchorMailbox" in body["error"]["message"]
    status, body, _ = await client.exchange("Get-Everything")
    assert status == 400
    status, body, _ = await client.exchange("Get-Mailbox", {"Idnetity": "x"})
    assert status == 400 and "Idnetity" in body["error"]["message"]


async def test_set_mailbox_clears_forwarding(client: Client) -> None:
    status, body, _ = await client.exchange("Set-Mailbox", {
        "Identity": "PattiF@example.com", "ForwardingSmtpAddress": None, "ForwardingAddress": None,
        "DeliverToMailboxAndForward": False})
    assert status == 200 and body["value"] == []
    status, body, _ = await client.exchange("Get-Mailbox", {"Identity": "PattiF@example.com"})
    mailbox = body["value"][0]
    assert mailbox["ForwardingSmtpAddress"] is None and mailbox["DeliverToMailboxAndForward"] is False


async def test_unblock_stays_listed_until_the_delay_then_goes(client: Client) -> None:
    status, body, _ = await client.exchange("Remove-BlockedSenderAddress", {"SenderAddress": "MeganB@example.com"})
    assert status == 200 and body["value"] == []
    status, body, _ = await client.exchange("Get-BlockedSenderAddress", {"SenderAddress": "MeganB@example.com"})
    assert len(body["value"]) == 1
    await asyncio.sleep(UNBLOCK_DELAY + 0.15)
    status, body, _ = await client.exchange("Get-BlockedSenderAddress", {"SenderAddress": "MeganB@example.com"})
    assert body["value"] == []
    # Not blocked: succeeds and changes nothing.
    status, body, _ = await client.exchange("Remove-BlockedSenderAddress", {"SenderAddress": "LynneR@example.com"})
    assert status == 200
    assert [a.kind for a in client.tenant.state.actions] == ["unblock"]


async def test_unblock_limit_answers_the_contract_body(client: Client) -> None:
    status, created = await client.admin("POST", "restrict", {"address": "DiegoS@example.com"})
    assert status == 201 and created["SenderAddress"] == "DiegoS@example.com"
    for _ in range(3):
        status, body, _ = await client.exchange("Remove-BlockedSenderAddress", {"SenderAddress": "DiegoS@example.com"})
        assert status == 200, body
        client.tenant.state.restrict("DiegoS@example.com", "OutboundSpamLast24Hours=50;OutboundMailLast24Hours=60")
    status, body, _ = await client.exchange("Remove-BlockedSenderAddress", {"SenderAddress": "DiegoS@example.com"})
    assert status == 400
    assert body == UNBLOCK_LIMIT_BODY
    # Restricting also raised Defender's alert for Diego.
    status, alerts, _ = await client.graph("GET", "/security/alerts_v2", params={"$top": "50"})
    assert any(a["title"] == "User restricted from sending email"
               and a["evidence"][0]["userAccount"]["azureAdUserId"] == DIEGO for a in alerts["value"])


# --- faults, throttles, request log ---------------------------------------------------------------------


async def test_latency_fault(client: Client) -> None:
    client.tenant.state.faults.add(FaultRule(match=r"^GET /v1\.0/organization$", latency_ms=300))
    started = time.monotonic()
    status, _, _ = await client.graph("GET", "/organization")
    assert status == 200
    assert time.monotonic() - started >= 0.3


async def test_429_fault_with_count_expires(client: Client) -> None:
    status, rule = await client.admin("POST", "faults", {"match": "signIns", "status": 429, "retry_after": 7,
                                                         "count": 1})
    assert status == 201 and rule["count"] == 1
    status, body, headers = await client.graph("GET", "/auditLogs/signIns")
    assert status == 429 and headers["Retry-After"] == "7"
    assert body["error"]["code"] == "TooManyRequests"
    status, _, _ = await client.graph("GET", "/auditLogs/signIns")
    assert status == 200
    status, faults = await client.admin("GET", "faults")
    assert faults == []


async def test_permission_and_exchange_faults_over_http(client: Client) -> None:
    status, rules = await client.admin("PUT", "faults", [
        {"match": "messageRules", "permission": "MailboxSettings.Read"},
        {"match": "InvokeCommand:Get-CASMailbox", "status": 503, "retry_after": 2},
    ])
    assert status == 200 and len(rules) == 2
    status, body, _ = await client.graph("GET", f"/users/{MEGAN}/mailFolders/inbox/messageRules")
    assert status == 403 and body["error"]["code"] == "ErrorAccessDenied"
    status, body, headers = await client.exchange("Get-CASMailbox", {"Identity": "MeganB@example.com"})
    assert status == 503 and headers["Retry-After"] == "2"
    status, _ = await client.admin("DELETE", "faults")
    assert status == 204
    status, body, _ = await client.exchange("Get-CASMailbox", {"Identity": "MeganB@example.com"})
    assert status == 200 and body["value"][0]["ImapEnabled"] is True

    status, body = await client.admin("PUT", "faults", [{"match": "(", "status": 500}])
    assert status == 400


async def test_throttle_answers_429_on_the_sixth_sign_in_request(client: Client) -> None:
    status, body = await client.admin("PUT", "throttle", {"enabled": True})
    assert status == 200 and body["enabled"] is True
    for _ in range(5):
        status, _, _ = await client.graph("GET", "/auditLogs/signIns", params={"$filter": f"userId eq '{MEGAN}'"})
        assert status == 200
    status, body, headers = await client.graph("GET", "/auditLogs/signIns")
    assert status == 429
    assert 1 <= int(headers["Retry-After"]) <= 10
    assert body["error"]["code"] == "TooManyRequests"
    assert client.tenant.state.requests[-1].throttled


async def test_identity_protection_and_mailbox_throttles(client: Client) -> None:
    client.tenant.state.throttle.enabled = True
    status, _, _ = await client.graph("GET", f"/identityProtection/riskyUsers/{MEGAN}")
    assert status == 200
    status, _, headers = await client.graph("GET", f"/identityProtection/riskyUsers/{MEGAN}")
    assert status == 429 and headers["Retry-After"] == "1"

    # Outlook allows four concurrent requests per mailbox: slow the mail routes down and send six at once.
    client.tenant.state.latency.replace([LatencyRule(r"/mailFolders", 1000)])  # wide margin for slow machines
    results = await asyncio.gather(*(client.graph("GET", f"/users/{MEGAN}/mailFolders") for _ in range(6)))
    statuses = sorted(status for status, _, _ in results)
    assert statuses == [200, 200, 200, 200, 429, 429]
    throttled = next(body for status, body, _ in results if status == 429)
    assert throttled["error"]["code"] == "ApplicationThrottled"
    status, _, _ = await client.graph("GET", f"/users/{ADELE}/mailFolders")
    assert status == 200


async def test_directory_audit_filters(client: Client) -> None:
    since = (datetime.now(UTC) - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    flt = (f"(targetResources/any(t:t/id eq '{MEGAN}') or initiatedBy/user/id eq '{MEGAN}') "
           f"and activityDateTime ge {since}")
    status, body, _ = await client.graph("GET", "/auditLogs/directoryAudits", params={"$filter": flt, "$top": "50"})
    assert status == 200
    activities = {a["activityDisplayName"] for a in body["value"]}
    assert {"User registered security info", "Consent to application"} <= activities
    registered = next(a for a in body["value"] if a["activityDisplayName"] == "User registered security info")
    assert registered["initiatedBy"]["user"]["ipAddress"] == "192.0.2.77"


async def test_request_log(client: Client) -> None:
    await client.graph("GET", f"/users/{MEGAN}", params={"$select": "id"})
    await client.exchange("Get-CASMailbox", {"Identity": "MeganB@example.com"})
    records = list(client.tenant.state.requests)
    assert [r.api for r in records] == ["identity", "graph", "identity", "exchange"]
    graph = records[1]
    assert (graph.method, graph.path, graph.query, graph.status, graph.in_batch) == (
        "GET", f"/v1.0/users/{MEGAN}", {"$select": "id"}, 200, False)
    assert records[3].cmdlet == "Get-CASMailbox" and records[3].parameters == {"Identity": "MeganB@example.com"}
    status, logged = await client.admin("GET", "requests?api=exchange")
    assert status == 200 and [r["cmdlet"] for r in logged] == ["Get-CASMailbox"]
    assert "Bearer" not in json.dumps(logged)
    status, _ = await client.admin("DELETE", "requests")
    assert status == 204 and len(client.tenant.state.requests) == 0


async def test_reset_reloads_the_seed(client: Client) -> None:
    await client.graph("PATCH", f"/users/{DIEGO}", body={"accountEnabled": False})
    status, health = await client.admin("POST", "reset")
    assert status == 200 and health["tenantId"] == TENANT_ID
    status, body, _ = await client.graph("GET", f"/users/{DIEGO}", params={"$select": "accountEnabled"})
    assert body["accountEnabled"] is True


async def test_keys_are_reused_and_private(client: Client, data_dir: Path) -> None:
    ca_before = (data_dir / "ca.pem").read_bytes()
    secret = client.tenant.client_secret
    for name in ("ca.key", "server.key", "signing.key", "client_secret"):
        assert stat.S_IMODE(os.stat(data_dir / name).st_mode) == 0o600, name
    second = DemoTenant(DemoTenantConfig(data_dir=data_dir))
    await second.start()
    try:
        assert second.client_secret == secret
        assert (data_dir / "ca.pem").read_bytes() == ca_before
        assert second.base_url != client.base
        env = second.client_env()
        assert env["M365_GRAPH_URL"] == env["M365_EXCHANGE_URL"] == env["M365_AUTHORITY_HOST"] == second.base_url
        assert env["M365_CA_FILE"] == str(data_dir / "ca.pem") and env["M365_TENANT_ID"] == TENANT_ID
    finally:
        await second.stop()


# --- pieces -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    ("2026-11-21T08:00:00Z", "2026-11-22T09:30:00Z"),
    ("2026-11-21T08:00:00.1234567Z", "2026-11-22T09:30:00.1234567Z"),
    ("2026-11-21T08:00:00.123Z", "2026-11-22T09:30:00.123Z"),
    ("2026-11-21T08:00:00+01:00", "2026-11-22T09:30:00+01:00"),
    ("2026-11-21T08:00", "2026-11-22T09:30"),
    ("2026-11-21", None),
    ("not a date", None),
])
def test_shift_keeps_the_format(value: str, expected: str | None) -> None:
    assert shift_iso(value, timedelta(days=1, hours=1, minutes=30)) == expected


@pytest.mark.parametrize("bad", ["userId eq 'a", "userId eq", "userId eq 'a' and", "contains(mail,'x')",
                                 "createdDateTime ge '2026-11-21T00:00:00Z'", "(userId eq 'a'"])
def test_filter_parser_refuses(bad: str) -> None:
    with pytest.raises(ODataError):
        parse_filter(bad)


async def test_cli_prints_the_environment_and_stops_on_sigint(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "demo_tenant", "--port", "0", "--data-dir", str(tmp_path / "cli"), "--print-env",
        cwd=REPO_ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        env: dict[str, str] = {}
        while len(env) < 7:
            line = (await asyncio.wait_for(proc.stdout.readline(), timeout=20)).decode().strip()
            assert line, "the CLI ended before printing its environment"
            key, _, value = line.partition("=")
            env[key] = value
        assert env["M365_TENANT_ID"] == TENANT_ID
        assert env["M365_GRAPH_URL"].startswith("https://127.0.0.1:")
        assert await asyncio.to_thread(Path(env["M365_CA_FILE"]).is_file)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
        _, stderr = await asyncio.wait_for(proc.communicate(), timeout=20)
    assert proc.returncode == 0, stderr.decode()
    assert env["M365_CLIENT_SECRET"].encode() not in stderr


# --- Graph: what Microsoft's v1.0 metadata refuses -------------------------------------------------------------


@pytest.mark.graph_contract_exempt  # every request here is one real Graph refuses
@pytest.mark.parametrize(("path", "params", "message"), [
    (f"/users/{MEGAN}/mailFolders", {"$select": "id,displayName,wellKnownName"},
     "Parsing OData Select and Expand failed: Could not find a property named 'wellKnownName' on type "
     "'microsoft.graph.mailFolder'."),
    (f"/users/{MEGAN}/mailFolderz", {}, "Resource not found for the segment 'mailFolderz'."),
    ("/auditLogs/signIns", {"$filter": "status/errorCodes eq 0"},
     "Invalid filter clause: Could not find a property named 'errorCodes' on type 'microsoft.graph.signInStatus'."),
    ("/auditLogs/directoryAudits", {"$filter": "targetResources/any(t: t/ids eq 'x')"},
     "Invalid filter clause: Could not find a property named 'ids' on type 'microsoft.graph.targetResource'."),
    ("/auditLogs/signIns", {"$orderby": "createdDate desc"},
     "Could not find a property named 'createdDate' on type 'microsoft.graph.signIn'."),
    (f"/users/{MEGAN}/transitiveMemberOf/microsoft.graph.mailFolder", {},
     "Resource not found for the segment 'microsoft.graph.mailFolder'."),
])
async def test_graph_refuses_what_v1_metadata_does_not_declare(client: Client, path: str, params: dict[str, str],
                                                                message: str) -> None:
    status, body, _ = await client.graph("GET", path, params=params)
    assert status == 400, body
    assert body["error"]["code"] == "BadRequest"
    assert body["error"]["message"] == message
    assert body["error"]["innerError"]["request-id"]


@pytest.mark.graph_contract_exempt  # the first inner request is one real Graph refuses
async def test_batch_inner_request_is_held_to_v1_metadata(client: Client) -> None:
    status, body, _ = await client.graph("POST", "/$batch", body={"requests": [
        {"id": "1", "method": "GET", "url": f"/users/{MEGAN}/mailFolders?$select=id,wellKnownName"},
        {"id": "2", "method": "GET", "url": f"/users/{MEGAN}/mailFolders?$select=id,displayName"},
    ]})
    assert status == 200
    responses = {r["id"]: r for r in body["responses"]}
    assert responses["1"]["status"] == 400
    assert "'wellKnownName' on type 'microsoft.graph.mailFolder'" in responses["1"]["body"]["error"]["message"]
    assert responses["2"]["status"] == 200
    assert {f["displayName"] for f in responses["2"]["body"]["value"]} >= {"Inbox"}


async def test_well_known_folder_segment_and_open_type_select_resolve(client: Client) -> None:
    # A well-known folder name is a key segment, valid in v1.0 in every mailbox language.
    status, body, _ = await client.graph("GET", f"/users/{MEGAN}/mailFolders/inbox", params={"$select": "id"})
    assert status == 200, body
    # Casts to a derived type and derived-type properties on a directoryObject collection are v1.0.
    status, body, _ = await client.graph("GET", f"/users/{MEGAN}/transitiveMemberOf/microsoft.graph.group",
                                         params={"$select": "id,displayName"})
    assert status == 200, body


@pytest.mark.graph_contract_exempt  # serves a beta-only property on purpose
async def test_a_served_property_v1_does_not_declare_is_caught_by_the_contract_log(client: Client) -> None:
    from demo_tenant.contract import check_logs

    folders = client.tenant.state.graph["mailFolders"][MEGAN]
    folders[0]["wellKnownName"] = "inbox"  # what a beta-minded seed would add
    status, body, _ = await client.graph("GET", f"/users/{MEGAN}/mailFolders", params={"$select": "id,displayName"})
    assert status == 200
    assert all("wellKnownName" not in f for f in body["value"])  # not selected, not served
    status, body, _ = await client.graph("GET", f"/users/{MEGAN}/mailFolders")
    assert status == 200 and any("wellKnownName" in f for f in body["value"])
    this_test = os.environ["PYTEST_CURRENT_TEST"].rsplit(" (", 1)[0]
    found = [v for v in check_logs(Path(os.environ["DEMO_TENANT_CONTRACT_LOG"])) if v.test == this_test]
    assert [v.reason for v in found] == [
        "served body: .wellKnownName: not a property of microsoft.graph.mailFolder"]

"""The Graph v1.0 resolver: what the client sends resolves, what real Graph refuses is refused with its message."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path
from urllib.parse import parse_qsl

import pytest

from demo_tenant import csdl
from demo_tenant.contract import ContractError, Resolver, check_logs, record
from demo_tenant.contract_check import main as contract_check_main
from demo_tenant.graph import split_path
from demo_tenant.permissions import GRAPH_ROUTES
from m365.records import METHOD_COLLECTIONS

USER = "2f6d4c93-1b5e-4d0a-83f4-7a8b9c0d1e03"
SINCE = "2026-11-01T00:00:00Z"
USER_SELECT = ("id,userPrincipalName,displayName,mail,mailNickname,department,jobTitle,accountEnabled,userType,"
               "onPremisesSyncEnabled,proxyAddresses,usageLocation,preferredLanguage,assignedLicenses")

# Requests as m365/graph.py and m365/tenant.py send them (path after /v1.0, query as sent).
CLIENT_REQUESTS = [
    ("GET", f"/users/{USER}", f"$select={USER_SELECT}"),
    ("GET", "/users('miriam.o''brien@example.com')", f"$select={USER_SELECT}"),
    ("GET", "/users", f"$select={USER_SELECT}&$top=25&$filter=userPrincipalName eq 'a@b.com' or mail eq 'a@b.com' "
                      "or proxyAddresses/any(p:p eq 'smtp:a@b.com')"),
    ("GET", "/users", "$select=id&$search=\"displayName:adele\"&$count=true"),
    ("GET", "/organization", "$select=id,verifiedDomains"),
    ("GET", f"/users/{USER}/transitiveMemberOf", "$select=id,displayName,roleTemplateId&$top=999"),
    ("GET", f"/users/{USER}/mailFolders/inbox/messageRules", ""),
    ("PATCH", f"/users/{USER}/mailFolders/inbox/messageRules/AQAAAJ5dZqA=", ""),
    ("GET", f"/users/{USER}/mailFolders", "$select=id,displayName&$top=100"),
    ("GET", f"/users/{USER}/mailFolders/deleteditems", "$select=id,displayName,totalItemCount"),
    ("GET", "/auditLogs/signIns", f"$filter=userId eq '{USER}' and createdDateTime ge {SINCE}&$top=999"),
    ("GET", "/auditLogs/directoryAudits",
     f"$filter=targetResources/any(t:t/id eq '{USER}') and activityDateTime ge {SINCE}&$top=999"),
    ("GET", "/auditLogs/directoryAudits", f"$filter=initiatedBy/user/id eq '{USER}'"),
    ("GET", f"/identityProtection/riskyUsers/{USER}", ""),
    ("GET", "/identityProtection/riskyUsers", f"$filter=id in ('{USER}')&$top=500"),
    ("GET", "/identityProtection/riskDetections", f"$filter=userId eq '{USER}' and detectedDateTime ge {SINCE}"),
    ("POST", "/identityProtection/riskyUsers/confirmCompromised", ""),
    ("POST", "/identityProtection/riskyUsers/dismiss", ""),
    ("GET", f"/users/{USER}/authentication/methods", ""),
    ("GET", f"/reports/authenticationMethods/userRegistrationDetails/{USER}", ""),
    ("GET", "/reports/authenticationMethods/userRegistrationDetails", f"$filter=id eq '{USER}'&$top=999"),
    ("GET", f"/users/{USER}/oauth2PermissionGrants", ""),
    ("GET", "/servicePrincipals/c9e1f0a2-7b3c-4d5e-8f60-718293a4b5c6",
     "$select=id,appId,displayName,verifiedPublisher,appOwnerOrganizationId"),
    ("GET", "/security/alerts_v2", f"$filter=createdDateTime ge {SINCE}&$top=999"),
    ("POST", f"/users/{USER}/revokeSignInSessions", ""),
    ("PATCH", f"/users/{USER}", ""),
    ("GET", "/admin/exchange/tracing/messageTraces",
     f"$filter=senderAddress eq 'a@b.com' and receivedDateTime ge {SINCE}"),
    ("GET", "/users/delta()", "$select=id"),
    ("GET", "/users/$count", ""),
]


def _resolve(resolver: Resolver, path: str, query: str) -> None:
    resolver.resolve(split_path(path), parse_qsl(query, keep_blank_values=True))


@pytest.fixture(scope="module")
def resolver() -> Resolver:
    return Resolver()


@pytest.mark.parametrize(("method", "path", "query"), CLIENT_REQUESTS)
def test_requests_the_client_sends_resolve(resolver: Resolver, method: str, path: str, query: str) -> None:
    _resolve(resolver, path, query)
    _resolve(Resolver(resolver.meta, strict_open=True), path, query)


def test_every_route_the_demo_tenant_serves_is_declared_in_v1(resolver: Resolver) -> None:
    fillers = {"{cast}": ["microsoft.graph.group"], "{folder}": ["inbox"],
               # Every typed authentication method collection the bot removes from (m365.records.METHOD_COLLECTIONS).
               "{collection}": sorted(METHOD_COLLECTIONS.values())}
    for spec in GRAPH_ROUTES:
        for segments in itertools.product(*(fillers.get(s, ["x1"] if s.startswith("{") else [s])
                                            for s in spec.segments)):
            target = resolver.resolve_path(list(segments))
            assert target.type, (spec, segments)


@pytest.mark.parametrize(("path", "query", "message"), [
    (f"/users/{USER}/mailFolders", "$select=id,displayName,wellKnownName",
     "Parsing OData Select and Expand failed: Could not find a property named 'wellKnownName' on type "
     "'microsoft.graph.mailFolder'."),
    (f"/users/{USER}/mailFolders/inbox", "$select=sizeInBytes",
     "Parsing OData Select and Expand failed: Could not find a property named 'sizeInBytes' on type "
     "'microsoft.graph.mailFolder'."),
    (f"/users/{USER}/mailFoldres/inbox", "", "Resource not found for the segment 'mailFoldres'."),
    ("/auditLog/signIns", "", "Resource not found for the segment 'auditLog'."),
    (f"/users/{USER}/manager/foo", "", "Resource not found for the segment 'foo'."),
    ("/auditLogs/signIns", "$filter=status/errorCodes eq 0",
     "Invalid filter clause: Could not find a property named 'errorCodes' on type 'microsoft.graph.signInStatus'."),
    ("/auditLogs/directoryAudits", "$filter=targetResources/any(t:t/userId eq 'x')",
     "Invalid filter clause: Could not find a property named 'userId' on type 'microsoft.graph.targetResource'."),
    ("/auditLogs/directoryAudits", "$filter=initiatedBy/usr/id eq 'x'",
     "Invalid filter clause: Could not find a property named 'usr' on type 'microsoft.graph.auditActivityInitiator'."),
    ("/auditLogs/signIns", "$orderby=createdDateTime desc,riskScore",
     "Could not find a property named 'riskScore' on type 'microsoft.graph.signIn'."),
    (f"/users/{USER}/mailFolders", "$expand=messageRulez",
     "Parsing OData Select and Expand failed: Could not find a property named 'messageRulez' on type "
     "'microsoft.graph.mailFolder'."),
    (f"/users/{USER}/mailFolders", "$expand=displayName",
     "Parsing OData Select and Expand failed: Property 'displayName' on type 'microsoft.graph.mailFolder' is not a "
     "navigation property or complex property. Only navigation properties can be expanded."),
    (f"/users/{USER}/mailFolders", "$expand=messageRules($select=id,priority)",
     "Parsing OData Select and Expand failed: Could not find a property named 'priority' on type "
     "'microsoft.graph.messageRule'."),
    (f"/users/{USER}/transitiveMemberOf/microsoft.graph.mailFolder", "",
     "Resource not found for the segment 'microsoft.graph.mailFolder'."),
    (f"/users/{USER}/microsoft.graph.group", "", "Resource not found for the segment 'microsoft.graph.group'."),
])
def test_what_v1_does_not_declare_is_refused_with_graphs_message(resolver: Resolver, path: str, query: str,
                                                                  message: str) -> None:
    with pytest.raises(ContractError) as caught:
        _resolve(resolver, path, query)
    assert (caught.value.status, caught.value.code, caught.value.message) == (400, "BadRequest", message)


def test_open_types_take_undeclared_names_only_outside_the_contract_check(resolver: Resolver) -> None:
    # Graph answers $select=publisherName on a servicePrincipal (an open type) without the property...
    _resolve(resolver, "/servicePrincipals/s1", "$select=id,publisherName")
    # ...so only the stricter offline check can tell the client it reads nothing.
    with pytest.raises(ContractError, match="'publisherName' on type 'microsoft.graph.servicePrincipal'"):
        _resolve(Resolver(resolver.meta, strict_open=True), "/servicePrincipals/s1", "$select=id,publisherName")


def test_contract_log_round_trip_and_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    log_dir = tmp_path / "contract"
    monkeypatch.setenv("DEMO_TENANT_CONTRACT_LOG", str(log_dir))
    record("GET", ["users", USER, "mailFolders"], [("$select", "id,displayName")])
    assert check_logs(log_dir) == []
    assert contract_check_main([str(log_dir)]) == 0

    record("GET", ["users", USER, "mailFolders"], [("$select", "id,wellKnownName")], ["[0].x: not a property"])
    lines = [json.loads(line) for line in next(log_dir.glob("graph-*.jsonl")).read_text().splitlines()]
    assert set(lines[-1]) <= {"method", "segments", "query", "test", "body"}  # never headers or tokens
    found = check_logs(log_dir)
    assert [v.reason for v in found] == [
        "Parsing OData Select and Expand failed: Could not find a property named 'wellKnownName' on type "
        "'microsoft.graph.mailFolder'.", "served body: [0].x: not a property"]
    assert check_logs(log_dir, exempt={lines[-1]["test"]}) == []
    capsys.readouterr()
    assert contract_check_main([str(log_dir)]) == 1
    assert "wellKnownName" in capsys.readouterr().out
    assert contract_check_main([str(tmp_path / "empty")]) == 2


def test_metadata_index_is_cached_and_loads_fast(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(csdl.CACHE_DIR_ENV, str(tmp_path))
    document = csdl.METADATA_PATH.read_bytes()
    first = csdl.parse(document)
    csdl._store_cached(first)
    assert list(tmp_path.glob("*.pickle"))
    started = time.perf_counter()
    cached = csdl._load_cached(document, first.sha256)
    elapsed = time.perf_counter() - started
    assert cached is not None and cached.sha256 == first.sha256
    assert cached.prop("microsoft.graph.mailFolder", "displayName") is not None
    assert elapsed < 1.0  # measured ~50 ms against ~200 ms for parsing the XML

"""One side of the Graph client bench, in a fresh process: our `m365` client or Microsoft's `msgraph-sdk`.

Run by `bench/graph_sdk.py`, never by hand: ours on the project's interpreter (`.venv`), the SDK on
`bench/.venv-graph-sdk` (msgraph-sdk and azure-identity are never installed into `.venv`). Both sides get the same
call spec (JSON in `--spec`) and the demo tenant from the environment (`M365_TENANT_ID`, `M365_CLIENT_ID`,
`M365_CLIENT_SECRET`, `M365_AUTHORITY_HOST`, `M365_GRAPH_URL`, `M365_CA_FILE`: what `python -m demo_tenant
--print-env` prints; the secret stays out of argv). In order, in this one process:

1. time the imports of the client stack (nothing but the standard library is imported before them);
2. build the client: token credential pointed at the demo tenant's authority, HTTPS trusting its CA;
3. the first round: each of the five calls once (token request, TLS handshake, lazy imports included);
4. `--warmup` unmeasured rounds, then `--reps` measured rounds of the five calls, one call at a time.

It prints one JSON object on stdout: import time, VmRSS at start, after the imports and after the first round,
the first round's times, each call's item count and the per-call samples in milliseconds. This file imports
only the standard library at module level, so the import figures are the client stack's alone.

    python -m bench.graph_sdk_client --client ours|sdk --spec '{...}' [--warmup 5] [--reps 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import metadata
from typing import Any

CALLS = ("get_user", "list_inbox_rules", "list_sign_ins", "list_directory_audits", "list_auth_methods")
GRAPH_SCOPE = "https://graph.microsoft.com/.default"

Call = Callable[[], Awaitable[int]]  # one Graph call; returns how many items it got (1 for an entity)


@dataclass(frozen=True)
class Spec:
    """The five calls' parameters, the same for both clients (built by bench/graph_sdk.py)."""

    upn: str
    user_id: str
    user_select: tuple[str, ...]
    sign_in_filter: str
    sign_in_top: int
    audit_filter: str
    audit_top: int

    @classmethod
    def from_json(cls, text: str) -> Spec:
        """Parse `--spec`."""
        raw = json.loads(text)
        return cls(upn=raw["upn"], user_id=raw["user_id"], user_select=tuple(raw["user_select"]),
                   sign_in_filter=raw["sign_in_filter"], sign_in_top=int(raw["sign_in_top"]),
                   audit_filter=raw["audit_filter"], audit_top=int(raw["audit_top"]))


@dataclass(frozen=True)
class Tenant:
    """The demo tenant as `python -m demo_tenant --print-env` names it; also satisfies `m365.auth.M365Settings`."""

    m365_tenant_id: str
    m365_client_id: str
    m365_client_secret: str
    m365_authority_host: str
    m365_graph_url: str
    m365_ca_file: str
    m365_exchange_url: str = ""
    m365_client_certificate_path: str = ""
    http_timeout_seconds: float = 20.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Tenant:
        """From the M365_* variables."""
        return cls(m365_tenant_id=env["M365_TENANT_ID"], m365_client_id=env["M365_CLIENT_ID"],
                   m365_client_secret=env["M365_CLIENT_SECRET"], m365_authority_host=env["M365_AUTHORITY_HOST"],
                   m365_graph_url=env["M365_GRAPH_URL"], m365_ca_file=env["M365_CA_FILE"],
                   m365_exchange_url=env.get("M365_EXCHANGE_URL", ""))


def rss_mb() -> float:
    """This process's VmRSS in MiB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def _versions(dists: tuple[str, ...]) -> dict[str, str]:
    found: dict[str, str] = {}
    for dist in dists:
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return found


# -- our client --------------------------------------------------------------------------------------------------


def import_ours() -> None:
    """What a program using our Graph client imports: msal token provider, aiohttp session, the Graph client."""
    import m365.auth  # noqa: F401
    import m365.graph  # noqa: F401
    import m365.http  # noqa: F401


@asynccontextmanager
async def ours(spec: Spec, tenant: Tenant) -> AsyncIterator[dict[str, Call]]:
    """Our `GraphClient` on `TokenProvider` (msal) and `create_session` (aiohttp), as `create_tenant` builds it."""
    from m365.auth import TokenProvider
    from m365.graph import GraphClient
    from m365.http import create_session

    session = create_session(tenant)
    tokens = TokenProvider(tenant)
    graph = GraphClient(session, tokens, base_url=f"{tenant.m365_graph_url.rstrip('/')}/v1.0",
                        timeout_seconds=tenant.http_timeout_seconds)

    async def get_user() -> int:
        await graph.get_user(spec.upn)
        return 1

    async def list_inbox_rules() -> int:
        return len(await graph.list_inbox_rules(spec.user_id))

    async def list_sign_ins() -> int:
        return len(await graph.list_sign_ins(spec.sign_in_filter, limit=spec.sign_in_top))

    async def list_directory_audits() -> int:
        return len(await graph.list_directory_audits(spec.audit_filter, limit=spec.audit_top))

    async def list_auth_methods() -> int:
        return len(await graph.list_auth_methods(spec.user_id))

    try:
        yield {"get_user": get_user, "list_inbox_rules": list_inbox_rules, "list_sign_ins": list_sign_ins,
               "list_directory_audits": list_directory_audits, "list_auth_methods": list_auth_methods}
    finally:
        tokens.close()
        await session.close()


# -- msgraph-sdk -------------------------------------------------------------------------------------------------


def import_sdk() -> None:
    """What a program using msgraph-sdk imports: the client, azure-identity's async credential, and the request
    builders whose query-parameter classes the five calls need (as the SDK's own samples import them)."""
    import httpx  # noqa: F401
    from azure.identity.aio import ClientSecretCredential  # noqa: F401
    from kiota_abstractions.base_request_configuration import RequestConfiguration  # noqa: F401
    from kiota_authentication_azure.azure_identity_authentication_provider import (  # noqa: F401
        AzureIdentityAuthenticationProvider,
    )
    from msgraph import GraphRequestAdapter, GraphServiceClient  # noqa: F401
    from msgraph.generated.audit_logs.directory_audits.directory_audits_request_builder import (  # noqa: F401
        DirectoryAuditsRequestBuilder,
    )
    from msgraph.generated.audit_logs.sign_ins.sign_ins_request_builder import SignInsRequestBuilder  # noqa: F401
    from msgraph.generated.users.item.user_item_request_builder import UserItemRequestBuilder  # noqa: F401
    from msgraph_core import GraphClientFactory  # noqa: F401


@asynccontextmanager
async def sdk(spec: Spec, tenant: Tenant) -> AsyncIterator[dict[str, Call]]:
    """`GraphServiceClient` as its README builds it, with two changes only: the demo tenant's URLs and its CA.

    - azure-identity's async `ClientSecretCredential` with `authority` = the demo tenant and `connection_verify` =
      its CA file;
    - the Graph scope given explicitly (kiota derives `https://{request host}/.default` otherwise, i.e. the demo
      tenant's loopback address, which no Entra tenant issues tokens for);
    - the request adapter built as `GraphRequestAdapter` builds its default one (`GraphClientFactory` with the
      default middleware and the same options), on an httpx client made like kiota's default (same timeouts,
      HTTP/2 offered) but verifying against the demo CA, with the base URL set to the demo tenant's `/v1.0`.
    """
    import ssl

    import httpx
    from azure.identity.aio import ClientSecretCredential
    from kiota_abstractions.base_request_configuration import RequestConfiguration
    from kiota_authentication_azure.azure_identity_authentication_provider import AzureIdentityAuthenticationProvider
    from kiota_http.kiota_client_factory import DEFAULT_CONNECTION_TIMEOUT, DEFAULT_REQUEST_TIMEOUT
    from msgraph import GraphRequestAdapter, GraphServiceClient
    from msgraph.generated.audit_logs.directory_audits.directory_audits_request_builder import (
        DirectoryAuditsRequestBuilder,
    )
    from msgraph.generated.audit_logs.sign_ins.sign_ins_request_builder import SignInsRequestBuilder
    from msgraph.generated.users.item.user_item_request_builder import UserItemRequestBuilder
    from msgraph.graph_request_adapter import options as default_options
    from msgraph_core import GraphClientFactory

    credential = ClientSecretCredential(tenant.m365_tenant_id, tenant.m365_client_id, tenant.m365_client_secret,
                                        authority=tenant.m365_authority_host, connection_verify=tenant.m365_ca_file)
    auth = AzureIdentityAuthenticationProvider(credential, scopes=[GRAPH_SCOPE])
    http = httpx.AsyncClient(timeout=httpx.Timeout(DEFAULT_REQUEST_TIMEOUT, connect=DEFAULT_CONNECTION_TIMEOUT),
                             http2=True, verify=ssl.create_default_context(cafile=tenant.m365_ca_file))
    adapter = GraphRequestAdapter(auth, client=GraphClientFactory.create_with_default_middleware(
        client=http, options=default_options))
    adapter.base_url = f"{tenant.m365_graph_url.rstrip('/')}/v1.0"
    client = GraphServiceClient(request_adapter=adapter)

    user_query = RequestConfiguration(query_parameters=UserItemRequestBuilder.UserItemRequestBuilderGetQueryParameters(
        select=list(spec.user_select)))
    sign_in_query = RequestConfiguration(query_parameters=SignInsRequestBuilder.SignInsRequestBuilderGetQueryParameters(
        filter=spec.sign_in_filter, top=spec.sign_in_top))
    audit_query = RequestConfiguration(
        query_parameters=DirectoryAuditsRequestBuilder.DirectoryAuditsRequestBuilderGetQueryParameters(
            filter=spec.audit_filter, top=spec.audit_top))

    def count(page: Any) -> int:
        return len(page.value or []) if page is not None else 0

    async def get_user() -> int:
        user = await client.users.by_user_id(spec.upn).get(request_configuration=user_query)
        return 1 if user is not None else 0

    async def list_inbox_rules() -> int:
        return count(await client.users.by_user_id(spec.user_id).mail_folders.by_mail_folder_id("inbox")
                     .message_rules.get())

    async def list_sign_ins() -> int:
        return count(await client.audit_logs.sign_ins.get(request_configuration=sign_in_query))

    async def list_directory_audits() -> int:
        return count(await client.audit_logs.directory_audits.get(request_configuration=audit_query))

    async def list_auth_methods() -> int:
        return count(await client.users.by_user_id(spec.user_id).authentication.methods.get())

    try:
        yield {"get_user": get_user, "list_inbox_rules": list_inbox_rules, "list_sign_ins": list_sign_ins,
               "list_directory_audits": list_directory_audits, "list_auth_methods": list_auth_methods}
    finally:
        await credential.close()
        await http.aclose()


CLIENTS: dict[str, tuple[Callable[[], None], Callable[[Spec, Tenant], Any], tuple[str, ...]]] = {
    "ours": (import_ours, ours, ("msal", "aiohttp", "requests")),
    "sdk": (import_sdk, sdk, ("msgraph-sdk", "msgraph-core", "microsoft-kiota-http", "azure-identity", "azure-core",
                             "httpx", "msal")),
}


async def run(client: str, spec: Spec, tenant: Tenant, *, warmup: int, reps: int, imported: dict[str, float]
              ) -> dict[str, Any]:
    """Steps 2-4 of the module docstring; `imported` holds the import figures of step 1."""
    _, build, dists = CLIENTS[client]
    async with build(spec, tenant) as calls:
        first: dict[str, float] = {}
        counts: dict[str, int] = {}
        started = time.perf_counter()
        for name in CALLS:
            begin = time.perf_counter()
            counts[name] = await calls[name]()
            first[name] = (time.perf_counter() - begin) * 1000.0
        first_round = (time.perf_counter() - started) * 1000.0
        after_first = rss_mb()
        for _ in range(warmup):
            for name in CALLS:
                await calls[name]()
        samples: dict[str, list[float]] = {name: [] for name in CALLS}
        for _ in range(reps):
            for name in CALLS:
                begin = time.perf_counter()
                got = await calls[name]()
                samples[name].append((time.perf_counter() - begin) * 1000.0)
                if got != counts[name]:
                    raise RuntimeError(f"{name}: {got} items, the first round had {counts[name]}")
    return {
        "client": client,
        **imported,
        "rss_after_first_round_mb": after_first,
        "first_round_ms": first_round,
        "first_call_ms": first,
        "counts": counts,
        "samples_ms": samples,
        "versions": _versions(dists),
        "python": sys.version.split()[0],
    }


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: prints the result as one JSON object."""
    rss_start = rss_mb()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--client", choices=sorted(CLIENTS), required=True)
    parser.add_argument("--spec", required=True, help="the calls' parameters (JSON, from bench/graph_sdk.py)")
    parser.add_argument("--warmup", type=int, default=5, help="unmeasured rounds after the first (default 5)")
    parser.add_argument("--reps", type=int, default=10, help="measured rounds (default 10)")
    args = parser.parse_args(argv)
    spec = Spec.from_json(args.spec)
    tenant = Tenant.from_env(os.environ)
    do_import = CLIENTS[args.client][0]
    begin = time.perf_counter()
    do_import()
    import_ms = (time.perf_counter() - begin) * 1000.0
    imported = {"import_ms": import_ms, "rss_start_mb": rss_start, "rss_after_import_mb": rss_mb()}
    result = asyncio.run(run(args.client, spec, tenant, warmup=args.warmup, reps=args.reps, imported=imported))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

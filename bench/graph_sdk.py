"""Our Graph client against Microsoft's `msgraph-sdk`: the same five calls on the demo tenant over HTTPS.

The calls, both clients, the same URLs (checked against the demo tenant's request log):

- `get_user`: `GET /users/MeganB@example.com?$select=…` (our `User.SELECT` fields);
- `list_inbox_rules`: `GET /users/{id}/mailFolders/inbox/messageRules`;
- `list_sign_ins`: `GET /auditLogs/signIns?$filter=userId eq '…' and createdDateTime ge …&$top=500`;
- `list_directory_audits`: `GET /auditLogs/directoryAudits?$filter=targetResources/any(t:t/id eq '…') and
  activityDateTime ge …&$top=200`;
- `list_auth_methods`: `GET /users/{id}/authentication/methods`.

Ours is `m365.graph.GraphClient` on `m365.auth.TokenProvider` (msal) and `m365.http.create_session` (aiohttp), as
`create_tenant` builds it; the SDK is `GraphServiceClient` on azure-identity's async `ClientSecretCredential`
(see `bench/graph_sdk_client.py` for how each is pointed at the demo tenant). Each client runs in fresh processes
(`--processes`, default 3, alternating which client goes first): the SDK on `bench/.venv-graph-sdk` (`make bench`
installs it from `bench/requirements-graph-sdk.txt`; msgraph-sdk is never installed into `.venv`), ours on this
interpreter. Per process: import time of the client stack, VmRSS after the imports and after the first round of
the five calls, the first (cold) round, `--warmup` (1) unmeasured round, then `--reps` (15) measured rounds. Per-call
median and p90 pool the measured rounds of all processes (45 per call and client); import time, RSS and the cold
round are medians over the processes. The demo tenant (`python -m demo_tenant`, its own process, no added
latency, no throttles) answers in 1–2 ms, so the times are the clients' own cost per call.

    python -m bench.graph_sdk                    # -> bench/results/graph_sdk.json and docs/PERFORMANCE.md
    python -m bench.graph_sdk --processes 2      # quick look
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import (
    DEMO_ENV_KEYS,
    DEMO_SEED,
    ROOT,
    Figure,
    figure,
    fmt,
    median,
    percentile,
    spawn_demo_tenant,
    write_result,
)
from bench.graph_sdk_client import CALLS
from m365 import odata
from m365.records import User

SDK_VENV = ROOT / "bench" / ".venv-graph-sdk"
DOC = ROOT / "docs" / "PERFORMANCE.md"
BEGIN = "<!-- graph-sdk:begin -->"
END = "<!-- graph-sdk:end -->"
UPN = "MeganB@example.com"
SDK = "msgraph-sdk"
ENV_KEYS = DEMO_ENV_KEYS
# Variables of the caller that must not reach the client processes (a CA bundle override would change TLS).
_SCRUBBED = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR", "AZURE_AUTHORITY_HOST",
             "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


# -- the calls' parameters ---------------------------------------------------------------------------------------


def user_id_of(upn: str, seed_path: Path = DEMO_SEED) -> str:
    """The object id of `upn` in the demo seed."""
    seed = json.loads(seed_path.read_text(encoding="utf-8"))
    for user in seed["graph"]["users"]:
        if str(user.get("userPrincipalName", "")).lower() == upn.lower():
            return str(user["id"])
    raise LookupError(f"{upn} is not in {seed_path}")


def build_spec(upn: str, user_id: str, now: datetime) -> dict[str, Any]:
    """The five calls' parameters: the filters `M365Tenant.list_sign_ins`/`list_directory_audits` send (30 days)."""
    since = now - timedelta(days=30)
    return {
        "upn": upn,
        "user_id": user_id,
        "user_select": User.SELECT.split(","),
        "sign_in_filter": odata.and_([odata.eq("userId", user_id), odata.ge("createdDateTime", since)]),
        "sign_in_top": 500,
        "audit_filter": odata.and_([odata.any_eq("targetResources", user_id, member="id", var="t"),
                                    odata.ge("activityDateTime", since)]),
        "audit_top": 200,
    }


# -- combining the processes' results (pure) ---------------------------------------------------------------------


@dataclass(frozen=True)
class ClientSummary:
    """One client over all its processes."""

    client: str
    processes: int
    median_ms: dict[str, float]  # per call, pooled measured rounds
    p90_ms: dict[str, float]
    samples: int  # measured rounds per call, all processes together
    import_ms: float  # medians over the processes from here on
    rss_start_mb: float
    rss_after_import_mb: float
    rss_after_first_round_mb: float
    first_round_ms: float
    counts: dict[str, int]
    versions: dict[str, str]


def summarize(runs: Sequence[Mapping[str, Any]]) -> ClientSummary:
    """Pool the measured rounds of `runs` (one client's processes) and take medians of the per-process figures.

    Raises ValueError when the runs mix clients, lack a call or disagree on how many items a call returns.
    """
    if not runs:
        raise ValueError("no runs to summarize")
    clients = {run["client"] for run in runs}
    if len(clients) != 1:
        raise ValueError(f"runs of several clients: {sorted(clients)}")
    counts = dict(runs[0]["counts"])
    pooled: dict[str, list[float]] = {name: [] for name in CALLS}
    for run in runs:
        if dict(run["counts"]) != counts:
            raise ValueError(f"item counts differ between processes: {counts} and {dict(run['counts'])}")
        for name in CALLS:
            if name not in run["samples_ms"]:
                raise ValueError(f"a run lacks the call {name}")
            pooled[name].extend(float(v) for v in run["samples_ms"][name])
    return ClientSummary(
        client=runs[0]["client"],
        processes=len(runs),
        median_ms={name: median(pooled[name]) for name in CALLS},
        p90_ms={name: percentile(pooled[name], 90) for name in CALLS},
        samples=min(len(v) for v in pooled.values()),
        import_ms=median([float(run["import_ms"]) for run in runs]),
        rss_start_mb=median([float(run["rss_start_mb"]) for run in runs]),
        rss_after_import_mb=median([float(run["rss_after_import_mb"]) for run in runs]),
        rss_after_first_round_mb=median([float(run["rss_after_first_round_mb"]) for run in runs]),
        first_round_ms=median([float(run["first_round_ms"]) for run in runs]),
        counts=counts,
        versions=dict(runs[0].get("versions", {})),
    )


def _items(count: int) -> str:
    return f"{count} item" if count == 1 else f"{count} items"


def compare(ours: ClientSummary, sdk: ClientSummary) -> list[Figure]:
    """The figures: ours as the value, msgraph-sdk as the baseline (ratio < 1: ours is faster or smaller).

    Raises ValueError when the two clients did not get the same items (they would not be doing the same work).
    """
    if ours.counts != sdk.counts:
        raise ValueError(f"the clients got different items: ours {ours.counts}, {SDK} {sdk.counts}")
    figures: list[Figure] = []
    for name in CALLS:
        figures.append(figure(f"{name} ({_items(ours.counts[name])}): median", ours.median_ms[name], "ms",
                              baseline=(SDK, sdk.median_ms[name])))
        figures.append(figure(f"{name}: p90", ours.p90_ms[name], "ms", baseline=(SDK, sdk.p90_ms[name])))
    figures += [
        figure("import time of the client stack (fresh process)", ours.import_ms, "ms",
               baseline=(SDK, sdk.import_ms)),
        figure("first round, cold (token, TLS, the 5 calls once)", ours.first_round_ms, "ms",
               baseline=(SDK, sdk.first_round_ms)),
        figure("RSS after import", ours.rss_after_import_mb, "MB", baseline=(SDK, sdk.rss_after_import_mb)),
        figure("RSS after import + first round", ours.rss_after_first_round_mb, "MB",
               baseline=(SDK, sdk.rss_after_first_round_mb)),
    ]
    return figures


def detail_table(ours: ClientSummary, sdk: ClientSummary) -> str:
    """Markdown, side by side: per call median and p90 of both clients, then import time, cold round and RSS."""

    def ratio(a: float, b: float) -> str:
        return f"{a / b:.2f}×" if b and not math.isnan(a) and not math.isnan(b) else "—"

    lines = [
        f"| | ours: median | {SDK}: median | ratio | ours: p90 | {SDK}: p90 | ratio |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in CALLS:
        lines.append(f"| `{name}` ({_items(ours.counts[name])}) | {fmt(ours.median_ms[name], 'ms')} "
                     f"| {fmt(sdk.median_ms[name], 'ms')} | {ratio(ours.median_ms[name], sdk.median_ms[name])} "
                     f"| {fmt(ours.p90_ms[name], 'ms')} | {fmt(sdk.p90_ms[name], 'ms')} "
                     f"| {ratio(ours.p90_ms[name], sdk.p90_ms[name])} |")
    lines += [
        "",
        f"| fresh process (median of {ours.processes} / {sdk.processes}) | ours | {SDK} | ratio |",
        "|---|---:|---:|---:|",
        f"| import time of the client stack | {fmt(ours.import_ms, 'ms')} | {fmt(sdk.import_ms, 'ms')} "
        f"| {ratio(ours.import_ms, sdk.import_ms)} |",
        f"| first round, cold (token, TLS, the 5 calls once) | {fmt(ours.first_round_ms, 'ms')} "
        f"| {fmt(sdk.first_round_ms, 'ms')} | {ratio(ours.first_round_ms, sdk.first_round_ms)} |",
        f"| RSS before the imports (interpreter + argparse/asyncio/json) | {fmt(ours.rss_start_mb, 'MB')} "
        f"| {fmt(sdk.rss_start_mb, 'MB')} | {ratio(ours.rss_start_mb, sdk.rss_start_mb)} |",
        f"| RSS after import | {fmt(ours.rss_after_import_mb, 'MB')} | {fmt(sdk.rss_after_import_mb, 'MB')} "
        f"| {ratio(ours.rss_after_import_mb, sdk.rss_after_import_mb)} |",
        f"| RSS after import + first round | {fmt(ours.rss_after_first_round_mb, 'MB')} "
        f"| {fmt(sdk.rss_after_first_round_mb, 'MB')} "
        f"| {ratio(ours.rss_after_first_round_mb, sdk.rss_after_first_round_mb)} |",
    ]
    return "\n".join(lines)


def splice(document: str, table: str) -> str:
    """`document` with the text between this bench's markers replaced by `table` (appended when missing)."""
    start, end = document.find(BEGIN), document.find(END)
    if start == -1 or end == -1 or end < start:
        return document.rstrip("\n") + f"\n\n{BEGIN}\n{table}\n{END}\n"
    return document[: start + len(BEGIN)] + "\n" + table + "\n" + document[end:]


def request_signature(records: Sequence[Mapping[str, Any]]) -> set[tuple[str, str, str]]:
    """The distinct Graph requests (method, path, sorted query) in a demo tenant request log."""
    return {(str(r["method"]), str(r["path"]), json.dumps(r.get("query") or {}, sort_keys=True))
            for r in records if r.get("api") == "graph"}


# -- processes ---------------------------------------------------------------------------------------------------


class DemoTenant:
    """`python -m demo_tenant --print-env` in its own process (no latency, no throttles); its admin API."""

    def __init__(self, data_dir: Path, log_path: Path) -> None:
        self.data_dir = data_dir
        self.log_path = log_path
        self.env: dict[str, str] = {}
        self.proc: asyncio.subprocess.Process | None = None
        self.session: aiohttp.ClientSession | None = None

    async def start(self, python: str) -> None:
        """Spawn it and read the client environment it prints."""
        self.proc, self.env, self.session = await spawn_demo_tenant(python, self.data_dir, self.log_path,
                                                                    "--log-level", "WARNING")

    async def clear_requests(self) -> None:
        """Empty the request log."""
        assert self.session is not None
        async with self.session.delete("/_demo/requests") as response:
            response.raise_for_status()

    async def requests(self) -> list[dict[str, Any]]:
        """The request log, oldest first."""
        assert self.session is not None
        async with self.session.get("/_demo/requests") as response:
            response.raise_for_status()
            records: list[dict[str, Any]] = await response.json()
            return records

    async def stop(self) -> None:
        """SIGTERM (SIGKILL after 10 s) this process only."""
        if self.session is not None:
            await self.session.close()
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


async def run_client(python: str, client: str, spec: Mapping[str, Any], tenant_env: Mapping[str, str], *,
                     warmup: int, reps: int, within: float = 180.0) -> dict[str, Any]:
    """One fresh process of `bench/graph_sdk_client.py`; its JSON result."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED and not k.startswith("M365_")}
    env.update({k: tenant_env[k] for k in ENV_KEYS})
    proc = await asyncio.create_subprocess_exec(
        python, "-m", "bench.graph_sdk_client", "--client", client, "--spec", json.dumps(spec),
        "--warmup", str(warmup), "--reps", str(reps), cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), within)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise RuntimeError(f"{client} client did not finish within {within:.0f} s") from None
    if proc.returncode != 0:
        raise RuntimeError(f"{client} client exited with {proc.returncode}:\n{err.decode(errors='replace')[-3000:]}")
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


async def run(args: argparse.Namespace) -> None:
    """Measure both clients and write the result and the tables."""
    started = time.perf_counter()
    spec = build_spec(UPN, user_id_of(UPN), datetime.now(UTC))
    pythons = {"ours": args.python, "sdk": args.sdk_python}
    runs: dict[str, list[dict[str, Any]]] = {"ours": [], "sdk": []}
    logs: dict[str, list[list[dict[str, Any]]]] = {"ours": [], "sdk": []}
    with tempfile.TemporaryDirectory(prefix="bench-graph-sdk-") as work:
        demo = DemoTenant(Path(work) / "demo_tenant", Path(work) / "demo-tenant.log")
        try:
            await demo.start(args.python)
            for index in range(args.processes):
                order = ("ours", "sdk") if index % 2 == 0 else ("sdk", "ours")
                for client in order:
                    await demo.clear_requests()
                    result = await run_client(pythons[client], client, spec, demo.env, warmup=args.warmup,
                                              reps=args.reps)
                    runs[client].append(result)
                    logs[client].append(await demo.requests())
                    print(f"  {client:<4} process {index + 1}/{args.processes}: import {result['import_ms']:.0f} ms, "
                          f"first round {result['first_round_ms']:.0f} ms, RSS "
                          f"{result['rss_after_first_round_mb']:.0f} MB", flush=True)
        finally:
            await demo.stop()

    rounds = 1 + args.warmup + args.reps
    for client, client_logs in logs.items():
        for records in client_logs:
            graph = [r for r in records if r.get("api") == "graph"]
            failed = [r for r in records if not 200 <= int(r["status"]) < 300]
            if failed or len(graph) != rounds * len(CALLS):
                raise RuntimeError(f"{client}: {len(graph)} Graph requests ({rounds * len(CALLS)} expected), "
                                   f"{len(failed)} failed: {failed[:3]}")
    same_urls = request_signature(logs["ours"][0]) == request_signature(logs["sdk"][0])
    tokens = {client: sum(1 for r in client_logs[0] if r.get("api") == "identity") for client, client_logs in
              logs.items()}

    ours, sdk = summarize(runs["ours"]), summarize(runs["sdk"])
    figures = compare(ours, sdk)
    print()
    for entry in figures:
        base = entry["baseline"]
        print(f"{entry['metric']:<52} ours {fmt(entry['value'], entry['unit']):>10}  vs {base['name']} "
              f"{fmt(base['value'], entry['unit']):>10} = {entry['ratio']:.2f}x")
    versions = ", ".join(f"{k} {v}" for k, v in sdk.versions.items())
    notes = (f"The five calls on the demo tenant over HTTPS (its own process, no added latency: 1-2 ms per "
             f"answer), {UPN}; items per call {ours.counts}, the same for both clients. Per call: median and "
             f"p90 of {ours.samples} measured rounds per client ({args.processes} fresh processes each, "
             f"alternating which client goes first; {args.warmup} warm-up rounds per process after the cold "
             f"first round). Import time, cold first round and RSS: median over the processes, measured inside "
             f"each (imports timed from a process that had imported only the standard library). Ours: "
             f"m365.graph.GraphClient + m365.auth.TokenProvider (msal {ours.versions.get('msal')}) + aiohttp "
             f"{ours.versions.get('aiohttp')}; baseline: {versions}, GraphServiceClient on azure-identity's async "
             f"ClientSecretCredential, in bench/.venv-graph-sdk. Same Graph URLs for both clients: "
             f"{'yes' if same_urls else 'NO'} (demo tenant request log); token requests per process: ours "
             f"{tokens['ours']}, {SDK} {tokens['sdk']}; no failed requests. Ratio < 1: ours is faster or smaller.")
    path = write_result("graph_sdk", figures, notes)
    print(f"\nwrote {path.relative_to(ROOT)}")
    if not same_urls:
        print("warning: the clients did not send the same Graph requests (see the demo tenant request log)",
              file=sys.stderr)
    if args.doc is not None:
        document = args.doc.read_text(encoding="utf-8") if args.doc.exists() else "# Performance\n"
        updated = splice(document, detail_table(ours, sdk))
        if updated != document:
            args.doc.write_text(updated, encoding="utf-8")
            print(f"updated {args.doc.relative_to(ROOT) if args.doc.is_relative_to(ROOT) else args.doc}")
    print(f"graph_sdk took {time.perf_counter() - started:.0f} s")


def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--processes", type=int, default=3, help="fresh processes per client (default 3)")
    parser.add_argument("--reps", type=int, default=15, help="measured rounds per process (default 15)")
    parser.add_argument("--warmup", type=int, default=1, help="warm-up rounds per process (default 1)")
    parser.add_argument("--python", default=sys.executable, help="interpreter for our client (the project venv)")
    parser.add_argument("--sdk-python", default=str(SDK_VENV / "bin" / "python"),
                        help="interpreter with msgraph-sdk (default bench/.venv-graph-sdk)")
    parser.add_argument("--doc", type=Path, default=DOC, help="where the side-by-side table goes")
    args = parser.parse_args(argv)
    if args.processes < 1 or args.reps < 1 or args.warmup < 0:
        parser.error("processes and reps must be positive, warmup not negative")
    if not Path(args.sdk_python).exists():
        parser.error(f"{args.sdk_python} does not exist: `make bench` installs bench/.venv-graph-sdk "
                     "(or run `make bench/.venv-graph-sdk/.installed`)")
    print(f"graph_sdk: 5 Graph calls, our client vs {SDK}, {args.processes} processes each, "
          f"{args.warmup} + {args.reps} rounds per process", flush=True)
    asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

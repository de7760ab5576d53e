"""Outbreak: investigating 200 restricted accounts under Microsoft's throttles, beside the naive way and the floor.

The demo tenant runs in its own process (`python -m demo_tenant --latency --throttle`) on a generated seed
(`demo_tenant.outbreak_seed`: Contoso plus copies of its stories, 200 restricted accounts in all — compromised,
suspicious and false positives). Throttles are on as Microsoft documents them: sign-in and directory audit logs
5 requests per 10 s per app, Identity Protection 1 per second, Outlook 4 concurrent requests per mailbox; over
the limit the tenant answers 429 with `Retry-After`. Latency is realistic (sign-ins 1.2 s, audit logs 900 ms,
Identity Protection 450 ms, Exchange 800 ms, other Graph 150 ms, with jitter).

Measured in one run, with one client (the production `m365` stack over HTTPS):

1. **Bulk** — `investigation.outbreak.BulkInvestigator.investigate_many` over all 200 accounts: the time until
   every investigation is complete, the upstream requests (the demo tenant's request log: HTTP requests, and
   the calls inside `$batch`), failed investigations (an account with any source not checked), and whether
   every 429 was honoured: after a 429 of a throttle family at t with `Retry-After` r, no request of that
   family reached the tenant before t + r (arrival = logged end − duration; 0.25 s grace for requests already
   on the wire).
2. **The floor** the throttles put on the bulk way's own request count: for each throttled family with n
   requests, limit L per window W, the last request cannot start before (⌈n / L⌉ − 1) · W, plus the median time
   that family's requests took. The largest of the families is the floor. Target: bulk time ≤ 1.2 × floor.
3. **Naive** — one full `Collector.investigate` per account (all at once, sharing the process-wide family
   limits, as the bot investigates alerts), same client, on a sample of `--naive` accounts (default 10,
   spread over the stories) with patient timeouts so it can wait throttles out; its time and requests are
   extrapolated linearly to 200 (the throttled families make it linear) and labelled as such. Its verdicts are
   compared with the bulk verdicts of the same accounts.

    python -m bench.outbreak                 # -> bench/results/outbreak.json and docs/PERFORMANCE.md's section
    python -m bench.outbreak --count 60 --naive 5   # quick look
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import ROOT, figure, spawn_demo_tenant, write_result

ENV_KEYS = ("M365_TENANT_ID", "M365_CLIENT_ID", "M365_CLIENT_SECRET", "M365_AUTHORITY_HOST", "M365_GRAPH_URL",
            "M365_EXCHANGE_URL", "M365_CA_FILE")
TARGET_RATIO = 1.2
GRACE_SECONDS = 0.25
DOC = ROOT / "docs" / "PERFORMANCE.md"
BEGIN = "<!-- outbreak:begin -->"
END = "<!-- outbreak:end -->"
# (limit, window seconds) per throttle family, as the demo tenant enforces them (demo_tenant.faults.ThrottleLimits).
FAMILIES = {"auditLogs": (5, 10.0), "identityProtection": (1, 1.0)}


def family_of(record: dict[str, Any]) -> str | None:
    """The throttle family of a logged request: auditLogs, identityProtection, mailbox:<user>, or None."""
    path = str(record.get("path") or "")
    if record.get("api") != "graph":
        return None
    if "/auditLogs/" in path:
        return "auditLogs"
    if "/identityProtection/" in path:
        return "identityProtection"
    parts = path.split("/")
    if len(parts) > 4 and parts[2] == "users" and parts[4] == "mailFolders":
        return f"mailbox:{parts[3].lower()}"
    return None


def arrivals(records: list[dict[str, Any]]) -> list[tuple[float, dict[str, Any]]]:
    """(arrival time in epoch seconds, record): the log stores when the answer left and how long it took."""
    out = []
    for record in records:
        ended = datetime.fromisoformat(record["time"]).timestamp()
        out.append((ended - float(record.get("duration_ms") or 0.0) / 1000, record))
    return sorted(out, key=lambda pair: pair[0])


def unhonoured_429s(records: list[dict[str, Any]]) -> tuple[int, int]:
    """(429s answered, requests that reached the tenant in a family before a 429's Retry-After had passed)."""
    timed = arrivals(records)
    throttled = [(t, r) for t, r in timed if r.get("status") == 429 and family_of(r)]
    early = 0
    for t, record in throttled:
        family = family_of(record)
        wait = float(record.get("retry_after") or 1.0)
        early += sum(1 for u, other in timed
                     if family_of(other) == family and t + GRACE_SECONDS < u < t + wait - 0.01)
    return len(throttled), early


def floor_seconds(records: list[dict[str, Any]]) -> tuple[float, dict[str, int]]:
    """The time the throttles force on these requests (see the module docstring), and the count per family."""
    counts: Counter[str] = Counter()
    durations: dict[str, list[float]] = {}
    for record in records:
        family = family_of(record)
        if family in FAMILIES and record.get("status") != 429:
            counts[family] += 1
            durations.setdefault(family, []).append(float(record.get("duration_ms") or 0.0) / 1000)
    floor = 0.0
    for family, n in counts.items():
        limit, window = FAMILIES[family]
        floor = max(floor, (math.ceil(n / limit) - 1) * window + statistics.median(durations[family]))
    return floor, dict(counts)


class DemoTenantProcess:
    """`python -m demo_tenant --latency --throttle --seed …` in its own process; its admin API over HTTPS."""

    def __init__(self, seed: Path, data_dir: Path, log_path: Path) -> None:
        self.seed = seed
        self.data_dir = data_dir
        self.log_path = log_path
        self.env: dict[str, str] = {}
        self.proc: asyncio.subprocess.Process | None = None
        self.http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self.proc, self.env, self.http = await spawn_demo_tenant(
            sys.executable, self.data_dir, self.log_path, "--seed", str(self.seed), "--latency", "--throttle",
            keys=ENV_KEYS, ready_within=120.0)

    async def admin(self, method: str, path: str, body: Any = None) -> Any:
        """Call the admin API (`/_demo/...`)."""
        assert self.http is not None
        async with self.http.request(method, path, json=body) as resp:
            resp.raise_for_status()
            return await resp.json() if resp.content_type == "application/json" else None

    async def fresh_windows(self) -> None:
        """Empty the request log and restart the throttle windows (as if the app had been quiet)."""
        await self.admin("DELETE", "/_demo/requests")
        await self.admin("PUT", "/_demo/throttle", {"enabled": True})

    async def requests(self) -> list[dict[str, Any]]:
        """The request log since `fresh_windows` (token requests left out)."""
        data = await self.admin("GET", "/_demo/requests?limit=10000")
        items = data.get("requests", data) if isinstance(data, dict) else data
        return [r for r in items if r.get("api") in ("graph", "exchange")]

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.close()
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


def request_counts(records: list[dict[str, Any]]) -> tuple[int, int]:
    """(HTTP requests, calls answered including those inside `$batch` but not the `$batch` envelopes)."""
    http = sum(1 for r in records if not r.get("in_batch"))
    calls = sum(1 for r in records if r.get("in_batch") or not str(r.get("path", "")).endswith("/$batch"))
    return http, calls


async def run(count: int, naive_n: int, work: Path) -> tuple[list[dict[str, Any]], str, list[str]]:
    """Generate the seed, start the tenant, measure both ways; the figures, the notes and the summary lines."""
    from config import Settings
    from demo_tenant.outbreak_seed import DEFAULT_SEED, outbreak_seed
    from investigation.collect import CollectorConfig
    from investigation.service import Investigations
    from m365.http import create_session
    from m365.records import User
    from m365.tenant import create_tenant

    seed = outbreak_seed(json.loads(DEFAULT_SEED.read_text(encoding="utf-8")), count)
    seed_path = work / "outbreak.json"
    seed_path.write_text(json.dumps(seed), encoding="utf-8")
    restricted = [str(b["SenderAddress"]).lower() for b in seed["exchange"]["Get-BlockedSenderAddress"]]
    ids = [str(u["id"]) for u in seed["graph"]["users"] if str(u.get("mail") or "").lower() in restricted]

    demo = DemoTenantProcess(seed_path, work / "data", work / "demo_tenant.log")
    await demo.start()
    try:
        settings = Settings.from_env(demo.env, dotenv_path=work / "absent.env")
        session = create_session(settings)
        tenant = await create_tenant(settings, session)
        try:
            found = await tenant.users_by_id(ids)
            users = [u for u in found.values() if isinstance(u, User)]
            if len(users) != count:
                raise RuntimeError(f"resolved {len(users)} of {count} restricted accounts")
            await tenant.list_verified_domains()  # tokens and TLS connections, as a running bot has them

            # 1. bulk
            await demo.fresh_windows()
            started = time.perf_counter()
            bulk = await Investigations(tenant).investigate_many(users)
            bulk_seconds = time.perf_counter() - started
            bulk_log = await demo.requests()
            bulk_http, bulk_calls = request_counts(bulk_log)
            failed = sum(1 for i in bulk.values() if i.evidence.unavailable) + (count - len(bulk))
            answered_429, early = unhonoured_429s(bulk_log)
            floor, per_family = floor_seconds(bulk_log)
            verdicts = Counter(i.assessment.verdict.value for i in bulk.values())

            # 2. naive, on a sample spread over the stories (the seed lists them in blocks)
            sample = users[:: max(1, len(users) // naive_n)][:naive_n]
            await demo.fresh_windows()
            patient = CollectorConfig(source_timeout=240.0, total_deadline=240.0)
            collector = Investigations(tenant, config=patient)
            started = time.perf_counter()
            naive = await asyncio.gather(*(collector.investigate(u) for u in sample))
            naive_seconds = time.perf_counter() - started
            naive_log = await demo.requests()
            naive_http, naive_calls = request_counts(naive_log)
            naive_failed = sum(1 for i in naive if i.evidence.unavailable)
            naive_429, naive_early = unhonoured_429s(naive_log)
            same = sum(1 for u, i in zip(sample, naive, strict=True)
                       if not i.evidence.unavailable and i.assessment == bulk[u.id].assessment)
            complete = len(sample) - naive_failed
            naive_floor_200 = max(
                (math.ceil(n / len(sample) * count / FAMILIES[f][0]) - 1) * FAMILIES[f][1]
                for f, n in floor_seconds(naive_log)[1].items()
            ) if floor_seconds(naive_log)[1] else 0.0
        finally:
            await tenant.close()
            await session.close()
    finally:
        await demo.stop()

    scale = count / len(sample)
    # A sample's first window is free, so a linear extrapolation undershoots; the throttle floor of the naive way's
    # own requests for all accounts bounds it from below. The larger of the two is the estimate.
    naive_extrapolated = max(naive_seconds * scale, naive_floor_200)
    figures = [
        figure(f"outbreak: all {count} investigations complete (bulk)", bulk_seconds, "s",
               baseline=("throttle floor for its requests", floor), target=f"<= {TARGET_RATIO} x floor",
               met=bulk_seconds <= TARGET_RATIO * floor),
        figure(f"outbreak: naive, one investigation per account (estimated from {len(sample)})",
               naive_extrapolated, "s", baseline=("bulk", bulk_seconds)),
        figure("outbreak: upstream HTTP requests (bulk)", bulk_http, "requests",
               baseline=(f"naive, extrapolated from {len(sample)}", naive_http * scale)),
        figure("outbreak: upstream calls incl. inside $batch (bulk)", bulk_calls, "calls",
               baseline=(f"naive, extrapolated from {len(sample)}", naive_calls * scale)),
        figure("outbreak: failed investigations (bulk)", failed, "accounts", target="0", met=failed == 0),
        figure("outbreak: requests sent before a 429's Retry-After (bulk)", early, "requests", target="0",
               met=early == 0),
    ]
    notes = (
        f"{count} restricted accounts (verdicts {dict(sorted(verdicts.items()))}); demo tenant with throttles "
        f"(audit logs 5/10 s, Identity Protection 1/s, Outlook 4 per mailbox) and realistic latency. Bulk: "
        f"{per_family} throttled requests, {answered_429} answered 429, {early} sent early; floor = "
        f"max over families of (ceil(n/limit)-1)*window + median duration. Naive: {len(sample)} accounts at once "
        f"(Collector, shared family limits, 240 s timeouts) in {naive_seconds:.1f} s, {naive_http} HTTP requests, "
        f"{naive_429} answered 429 ({naive_early} sent early), {naive_failed} of {len(sample)} with a source not "
        f"checked; {same} of {complete} complete ones have the bulk verdict. Estimate for {count}: the larger of "
        f"the linear extrapolation ({naive_seconds * scale:.0f} s, x{scale:g}) and the throttle floor of the naive "
        f"way's own requests for {count} accounts ({naive_floor_200:.0f} s)."
    )
    lines = [
        f"bulk: {count} investigations in {bulk_seconds:.1f} s; floor {floor:.1f} s "
        f"(ratio {bulk_seconds / floor:.2f}, target <= {TARGET_RATIO}); {bulk_http} HTTP requests "
        f"({bulk_calls} calls incl. $batch); throttled-family requests {per_family}; failed {failed}; "
        f"429s {answered_429}, sent early {early}",
        f"naive: {len(sample)} investigations in {naive_seconds:.1f} s, {naive_http} HTTP requests, {naive_429} 429s, "
        f"{naive_failed} incomplete -> estimated for {count}: {naive_extrapolated:.0f} s "
        f"(linear {naive_seconds * scale:.0f} s, throttle floor {naive_floor_200:.0f} s), "
        f"{naive_http * scale:.0f} requests ({naive_extrapolated / bulk_seconds:.0f} x the bulk time)",
        f"verdicts: {dict(sorted(verdicts.items()))}; naive == bulk on {same} of {complete} complete samples",
    ]
    return figures, notes, lines


def splice(document: str, body: str) -> str:
    """`document` with the outbreak section's body replaced (markers appended when missing)."""
    start, end = document.find(BEGIN), document.find(END)
    if start == -1 or end == -1 or end < start:
        return document.rstrip("\n") + f"\n\n## Outbreak\n\n{BEGIN}\n{body}\n{END}\n"
    return document[: start + len(BEGIN)] + "\n" + body + "\n" + document[end:]


def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=200, help="restricted accounts (default 200)")
    parser.add_argument("--naive", type=int, default=10, help="accounts the naive way investigates (default 10)")
    args = parser.parse_args(argv)
    # The naive way's transport logs every 429 it waits out; the summary counts them instead.
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="bench-outbreak-") as tmp:
        figures, notes, lines = asyncio.run(run(args.count, args.naive, Path(tmp)))
    path = write_result("outbreak", figures, notes)
    for line in lines:
        print(line)
    when = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    body = "\n".join([f"Last run {when} (`python -m bench.outbreak`, {path.relative_to(ROOT)}):", "",
                      *[f"- {line}" for line in lines]])
    DOC.write_text(splice(DOC.read_text(encoding="utf-8"), body), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

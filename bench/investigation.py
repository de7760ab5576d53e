"""Investigation speed: from "investigate <address>" to the findings card, beside the slowest single upstream call.

Three processes, like production: the demo tenant (`python -m demo_tenant --latency`: Microsoft 365 with the
realistic latency per route — token 120 ms, Graph 150 ms, sign-ins 1.2 s, other audit logs 900 ms, Identity
Protection 450 ms, security 600 ms, Exchange 800 ms, each with jitter), the bot (`create_app`, the production
`m365` stack over HTTPS to that tenant, SQLite under a temp dir) and this process (a collecting Bot Framework
connector and the client). Alex Wilber (security admin) sends "investigate MeganB@example.com" over
`/api/messages`; an exact address needs no confirmation, so the investigation starts on that message. Measured per
run, from that POST (until issue 16 the flow asked first and was measured from the "yes"):

- first response: the progress card ("Looking into Megan Bowen…") reaching the connector (a POST);
- time to final card: the findings card reaching the connector (the PUT that replaces the progress card);
- from the demo tenant's request log of that run: the slowest single upstream call and the sum of all calls.

One unmeasured warm-up run first (tokens, TLS connections, the role cache), then `--runs` measured runs
(default 10), each in a fresh conversation and started once Microsoft's throttle windows of the previous run have
passed (the bot paces its own requests to the throttled families: sign-in and audit logs 5 per 10 s, Identity
Protection 1 per second, `m365.graph.MICROSOFT_RATE_LIMITS`). Targets: median time to final card ≤ 1.15 × the
median of the larger of the slowest single call and the pacing floor of the run's own requests (all sources truly
concurrent; the floor is what Microsoft's limits put on those requests: for a family allowing n per window w that
the run sent k requests to, (ceil(k / n) - 1) × w plus the family's median call); median first response ≤ 1 s.

    python -m bench.investigation            # -> bench/results/investigation.json
    python -m bench.investigation --runs 5   # quick look
    python -m bench.investigation --serve-bot   # (internal) the bot process

The bot runs anonymous (no Bot Framework JWT) on loopback, as in the demo; `create_app` refuses anonymous mode
with real tenant credentials, so the bot process is given the demo tenant as its `tenant` directly. The
per-person investigation rate limit is off (`RATE_LIMIT_PER_MINUTE=0`) and the demo tenant's throttles are
off: this measures latency, not Microsoft's throttles. The restriction watch's one round (it alerts and
investigates every restricted account about 30 s after start) is waited out before the measured runs.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bench.common import (
    ROOT,
    LocalConnector,
    ServerProcess,
    demo_tenant_id,
    figure,
    fmt,
    free_port,
    median,
    message_activity,
    percentile,
    spawn_demo_tenant,
    write_result,
)
from config import IDENTITY_ENV_NAMES
from m365.graph import MICROSOFT_RATE_LIMITS, rate_family

ACCOUNT = "MeganB@example.com"
ALEX = "0d4b2a71-9f3c-4b8e-a1d2-5e6f7a8b9c01"  # Alex Wilber, security admin in the demo seed
TARGET_RATIO = 1.15
# Added to a family's window before the next run: the governor's margin and scheduling slack.
WINDOW_SLACK_SECONDS = 0.5
TARGET_FIRST_MS = 1000.0
ENV_KEYS = ("M365_TENANT_ID", "M365_CLIENT_ID", "M365_CLIENT_SECRET", "M365_AUTHORITY_HOST", "M365_GRAPH_URL",
            "M365_EXCHANGE_URL", "M365_CA_FILE", "IT_STAFF_GROUP_ID", "SECURITY_ADMIN_GROUP_ID")
# Variables that must not leak into the bot process from the caller's environment or `.env`.
_SCRUBBED = (*IDENTITY_ENV_NAMES,
             "M365_CLIENT_CERTIFICATE_PATH", "DATABASE_URL", "DEMO_TENANT_SEED", "DEMO_TENANT_PORT", *ENV_KEYS)


# -- the bot process -------------------------------------------------------------------------------------------


def serve_bot() -> int:
    """The bot on `HOST:PORT`, its Microsoft 365 the tenant named by the M365_* variables (the demo tenant)."""
    from bot import configure_logging, create_app
    from config import Settings
    from m365.http import create_session
    from m365.tenant import create_tenant

    settings = Settings.from_env()
    configure_logging(settings.log_level)

    async def app() -> web.Application:
        session = create_session(settings)
        tenant = await create_tenant(settings, session)
        # Anonymous like the demo (create_app refuses anonymous mode with tenant credentials): the tenant is
        # handed over ready-made, so the settings it is built with keep only the role groups.
        anonymous = dataclasses.replace(settings, m365_client_id="", m365_client_secret="", m365_tenant_id="")
        application = create_app(anonymous, tenant=tenant)

        async def close(_: web.Application) -> None:
            await tenant.close()
            await session.close()

        application.on_cleanup.append(close)
        return application

    web.run_app(app(), host=settings.host, port=settings.port, print=None, access_log=None,
                handler_cancellation=True)
    return 0


# -- the demo tenant process -----------------------------------------------------------------------------------


class DemoTenantProcess:
    """`python -m demo_tenant --latency --print-env` in its own process; its admin API over HTTPS."""

    def __init__(self, data_dir: Path, log_path: Path) -> None:
        self.data_dir = data_dir
        self.log_path = log_path
        self.env: dict[str, str] = {}
        self.proc: asyncio.subprocess.Process | None = None
        self.session: aiohttp.ClientSession | None = None

    async def start(self, python: str) -> None:
        self.proc, self.env, self.session = await spawn_demo_tenant(python, self.data_dir, self.log_path,
                                                                    "--latency", keys=ENV_KEYS)

    async def admin(self, method: str, path: str) -> Any:
        assert self.session is not None
        async with self.session.request(method, path) as response:
            response.raise_for_status()
            return await response.json() if response.status != 204 else None

    async def stop(self) -> None:
        if self.session is not None:
            await self.session.close()
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


# -- the connector ---------------------------------------------------------------------------------------------


class CardConnector(LocalConnector):
    """The collecting connector, also recording updates (PUT) and which activity each message became."""

    def __init__(self) -> None:
        super().__init__()
        self.keep_bodies = True
        self.posted: dict[str, list[tuple[str, dict[str, Any]]]] = {}  # conversation -> [(new id, body)]
        self._updates: dict[str, asyncio.Future[tuple[float, str, dict[str, Any]]]] = {}

    def expect_update(self, conversation_id: str) -> asyncio.Future[tuple[float, str, dict[str, Any]]]:
        """Resolved with (arrival time, activity id, body) of the next PUT in the conversation."""
        future: asyncio.Future[tuple[float, str, dict[str, Any]]] = asyncio.get_running_loop().create_future()
        self._updates[conversation_id] = future
        return future

    async def _reply(self, request: web.Request) -> web.Response:
        arrived = time.perf_counter()
        body = json.loads(await request.read())
        self._counter += 1
        new_id = f"reply-{self._counter}"
        if body.get("type") != "typing":
            self.posted.setdefault(request.match_info["conversation"], []).append((new_id, body))
            reply_to = request.match_info.get("activity") or body.get("replyToId") or ""
            future = self._waiters.pop(reply_to, None)
            if future is not None and not future.done():
                future.set_result(arrived)
        return web.json_response({"id": new_id})

    async def _update(self, request: web.Request) -> web.Response:
        arrived = time.perf_counter()
        body = json.loads(await request.read())
        future = self._updates.pop(request.match_info["conversation"], None)
        if future is not None and not future.done():
            future.set_result((arrived, request.match_info["activity"], body))
        return web.json_response({"id": request.match_info["activity"]})


# -- one run ---------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Run:
    """One investigation, in milliseconds from the "investigate <address>" POST."""

    first_ms: float
    final_ms: float
    slowest_ms: float
    slowest_call: str
    sum_ms: float
    calls: int
    critical: list[tuple[float, float, str]]  # (start, end, call) relative to that POST, sorted by end
    floor_ms: float = 0.0  # the pacing floor Microsoft's limits put on this run's own requests

    @property
    def baseline_ms(self) -> float:
        """What the run cannot beat: its slowest call, or the pacing floor when that is longer."""
        return max(self.slowest_ms, self.floor_ms)

    @property
    def ratio(self) -> float:
        return self.final_ms / self.baseline_ms if self.baseline_ms else math.nan


def pacing_floor_ms(records: list[dict[str, Any]]) -> float:
    """The floor Microsoft's per-family limits put on these requests (inner `$batch` requests count one by one)."""
    by_family: dict[str, list[float]] = {}
    for record in records:
        if record.get("api") != "graph":
            continue
        family = rate_family(str(record["path"]).removeprefix("/v1.0"))
        if family is not None:
            by_family.setdefault(family, []).append(float(record["duration_ms"]))
    floor = 0.0
    for family, durations in by_family.items():
        limit = MICROSOFT_RATE_LIMITS[family]
        windows = math.ceil(len(durations) / limit.requests) - 1
        floor = max(floor, windows * limit.window_seconds * 1000 + median(durations))
    return floor


def pause_after(records: list[dict[str, Any]]) -> float:
    """How long to wait after these requests so that the same requests again start with Microsoft's windows free:
    the window of every family they used more than half of (the next run sends as many again). A family used far
    below its limit (message trace: 100 per 5 min, one or two requests a run) needs no pause at all; waiting out
    its 5-minute window before every run would make the bench take an hour."""
    counts: dict[str, int] = {}
    for record in records:
        if record.get("api") != "graph":
            continue
        family = rate_family(str(record["path"]).removeprefix("/v1.0"))
        if family is not None:
            counts[family] = counts.get(family, 0) + 1
    return max((MICROSOFT_RATE_LIMITS[family].window_seconds + WINDOW_SLACK_SECONDS for family, count in counts.items()
                if 2 * count > MICROSOFT_RATE_LIMITS[family].requests), default=0.0)


def call_name(record: dict[str, Any]) -> str:
    if record.get("cmdlet"):
        return f"Exchange {record['cmdlet']}"
    return f"{record['method']} {record['path']}"


async def one_run(index: int, bot: str, http: aiohttp.ClientSession, connector: CardConnector,
                  demo: DemoTenantProcess, tenant_id: str) -> Run:
    conversation = f"personal-bench-investigation-{index}"

    def activity(text: str, activity_id: str) -> dict[str, Any]:
        return message_activity(text, activity_id=activity_id, service_url=connector.service_url,
                                conversation_id=conversation, user_id=ALEX, tenant_id=tenant_id)

    # An exact address starts the investigation at once (no confirmation question): measured from that POST.
    await demo.admin("DELETE", "/_demo/requests")
    progress = connector.expect(f"ask-{index}")
    final = connector.expect_update(conversation)
    wall_start = time.time()
    started = time.perf_counter()
    async with http.post(f"{bot}/api/messages", json=activity(f"investigate {ACCOUNT}", f"ask-{index}")) as reply:
        assert reply.status == 201, await reply.text()
    first_at = await asyncio.wait_for(progress, 30)
    final_at, final_id, final_body = await asyncio.wait_for(final, 30)

    posted = dict(connector.posted[conversation])
    assert final_id in posted, "the findings card must replace a card posted in this conversation"
    assert "Looking into" in json.dumps(posted[final_id]), "... the progress card"
    assert "Compromised" in json.dumps(final_body), "Megan's card says Compromised"

    logged = await demo.admin("GET", "/_demo/requests")
    records = [r for r in logged if not r.get("in_batch")]
    assert records, "the demo tenant logged no upstream call"
    slowest = max(records, key=lambda r: r["duration_ms"])
    critical = []
    for record in records:
        end = (datetime.fromisoformat(record["time"]).timestamp() - wall_start) * 1000
        critical.append((end - record["duration_ms"], end, call_name(record)))
    critical.sort(key=lambda c: c[1])
    return Run(
        first_ms=(first_at - started) * 1000,
        final_ms=(final_at - started) * 1000,
        slowest_ms=float(slowest["duration_ms"]),
        slowest_call=call_name(slowest),
        sum_ms=float(sum(r["duration_ms"] for r in records)),
        calls=len(records),
        critical=critical,
        floor_ms=pacing_floor_ms(logged),
    )


# -- the bench -------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Running:
    bot: str
    demo: DemoTenantProcess
    connector: CardConnector
    tenant_id: str
    latency_rules: list[dict[str, Any]]


async def quiet_after_watch(demo: DemoTenantProcess, within: float = 90.0, quiet: float = 3.0) -> float:
    """Wait for the bot's restriction watch to have listed Restricted entities once (its first round comes
    `core.watch.MAX_INITIAL_DELAY_SECONDS` after start and alerts every restricted account, with an
    investigation each), then for the tenant to go quiet: that round must not land inside a measured run.
    The interval is set to a day, so there is no second round. Returns the seconds waited."""
    started = time.perf_counter()
    seen = False
    last_count = -1
    quiet_since = time.perf_counter()
    while time.perf_counter() - started < within:
        records = await demo.admin("GET", "/_demo/requests")
        seen = seen or any(r.get("cmdlet") == "Get-BlockedSenderAddress" and not (r.get("parameters") or {})
                           .get("SenderAddress") for r in records)
        if len(records) != last_count:
            last_count, quiet_since = len(records), time.perf_counter()
        elif seen and time.perf_counter() - quiet_since >= quiet:
            break
        await asyncio.sleep(0.5)
    return time.perf_counter() - started


@asynccontextmanager
async def services(python: str, work: Path) -> AsyncIterator[Running]:
    """The demo tenant, the connector and the bot, stopped in reverse order whatever happens."""
    demo = DemoTenantProcess(work / "demo_tenant", work / "demo-tenant.log")
    connector = CardConnector()
    bot: ServerProcess | None = None
    try:
        await demo.start(python)
        rules = await demo.admin("GET", "/_demo/latency")
        await connector.start()
        env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
        env.update({key: demo.env[key] for key in ENV_KEYS})
        env.update({"DATA_DIR": str(work / "bot"), "LOG_LEVEL": "WARNING", "RATE_LIMIT_PER_MINUTE": "0",
                    "WATCH_INTERVAL_MINUTES": "1440", "PYTHONDONTWRITEBYTECODE": "1"})
        bot = ServerProcess("bot", [python, "-m", "bench.investigation", "--serve-bot"], port=free_port(),
                            env=env, log_path=work / "bot.log")
        bot.start()
        await bot.wait_ready(90)
        yield Running(bot.base_url, demo, connector, demo.env["M365_TENANT_ID"] or demo_tenant_id(), rules)
    finally:
        if bot is not None:
            bot.stop()
        await connector.close()
        await demo.stop()


async def bench(runs: int, python: str, verbose: bool) -> tuple[list[Run], Run, list[dict[str, Any]]]:
    """A warm-up run, then `runs` measured ones."""
    with tempfile.TemporaryDirectory(prefix="bench-investigation-") as work:
        async with services(python, Path(work)) as running, aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=60)) as http:
            warm = await one_run(0, running.bot, http, running.connector, running.demo, running.tenant_id)
            print(f"warm-up (cold tokens and connections): final card {fmt(warm.final_ms, 'ms')}, "
                  f"first response {fmt(warm.first_ms, 'ms')}", flush=True)
            waited = await quiet_after_watch(running.demo)
            print(f"the restriction watch's first round done ({waited:.0f} s after the warm-up)", flush=True)
            results: list[Run] = []
            previous = await running.demo.admin("GET", "/_demo/requests")  # the warm-up and the watch's round
            for index in range(1, runs + 1):
                # Each run starts with Microsoft's windows free, as one admin's investigation would.
                await asyncio.sleep(pause_after(previous))
                run = await one_run(index, running.bot, http, running.connector, running.demo, running.tenant_id)
                previous = await running.demo.admin("GET", "/_demo/requests")
                results.append(run)
                print(f"run {index:2d}: final {fmt(run.final_ms, 'ms'):>9}  first {fmt(run.first_ms, 'ms'):>8}"
                      f"  slowest call {fmt(run.slowest_ms, 'ms'):>9} ({run.slowest_call})"
                      f"  floor {fmt(run.floor_ms, 'ms'):>9}  sum {fmt(run.sum_ms, 'ms'):>9} over {run.calls} calls"
                      f"  ratio {run.ratio:.2f}", flush=True)
                if verbose:
                    for start, end, name in run.critical:
                        print(f"        {start:7.0f} → {end:7.0f} ms  {name}")
            return results, warm, running.latency_rules


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.investigation", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "10")))
    parser.add_argument("--python", default=sys.executable, help="interpreter for the servers (project venv)")
    parser.add_argument("--verbose", action="store_true", help="print every upstream call of every run")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/results alone")
    parser.add_argument("--serve-bot", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_bot:
        return serve_bot()

    results, warm, rules = asyncio.run(bench(args.runs, args.python, args.verbose))
    final = median([r.final_ms for r in results])
    first = median([r.first_ms for r in results])
    slowest = median([r.slowest_ms for r in results])
    floor = median([r.floor_ms for r in results])
    baseline = median([r.baseline_ms for r in results])
    total = median([r.sum_ms for r in results])
    ratio = final / baseline
    run_ratio = median([r.ratio for r in results])
    first_p90 = percentile([r.first_ms for r in results], 90)
    final_p90 = percentile([r.final_ms for r in results], 90)
    print()
    print(f"time to final card   median {fmt(final, 'ms')}  (p90 {fmt(final_p90, 'ms')})")
    print(f"slowest single call  median {fmt(slowest, 'ms')}")
    print(f"pacing floor         median {fmt(floor, 'ms')}  (Microsoft's limits on the run's own requests)")
    print(f"sum of all calls     median {fmt(total, 'ms')}  ({median([float(r.calls) for r in results]):.0f} calls)")
    print(f"ratio                {ratio:.3f} × max(slowest call, pacing floor) (target ≤ {TARGET_RATIO}); "
          f"per-run median {run_ratio:.3f}")
    print(f"first response       median {fmt(first, 'ms')}  (p90 {fmt(first_p90, 'ms')}; target ≤ "
          f"{TARGET_FIRST_MS:.0f} ms)")
    figures = [
        figure("time to final card (median)", final, "ms",
               baseline=("larger of the slowest single upstream call and the pacing floor (median)", baseline),
               target=f"<= {TARGET_RATIO} x that baseline", met=ratio <= TARGET_RATIO),
        figure("time to final card vs the slowest single upstream call alone", final / slowest, "x"),
        figure("pacing floor of a run's own requests (median)", floor, "ms"),
        figure("first response: progress card (median)", first, "ms", target=f"<= {TARGET_FIRST_MS:.0f} ms",
               met=first <= TARGET_FIRST_MS),
        figure("slowest single upstream call (median)", slowest, "ms"),
        figure("sum of all upstream calls (median)", total, "ms", baseline=("time to final card (median)", final)),
        figure("time to final card (p90)", final_p90, "ms"),
        figure("first response (p90)", first_p90, "ms"),
        figure("cold first investigation (warm-up, not in the medians)", warm.final_ms, "ms"),
    ]
    latency = ", ".join(f"{r['match']} {r['latency_ms']}±{r['jitter_ms']} ms" for r in rules)
    notes = (f"{len(results)} runs after 1 warm-up, {ACCOUNT} investigated by a security admin over /api/messages; "
             f"times from the 'investigate <address>' POST to the progress card (POST) and to the findings card (PUT "
             f"of the same activity). Upstream figures from the demo tenant's request log of each run (outer "
             f"requests; $batch inner requests not double-counted). Per-run median ratio {run_ratio:.3f}. Demo "
             f"tenant in its own process with its realistic latency preset: {latency}. The demo tenant's throttles "
             f"and the per-person rate limit off; the bot's own pacing of Microsoft's throttled families on, each run "
             f"started after the previous run's windows passed.")
    if not args.no_write:
        path = write_result("investigation", figures, notes)
        print(f"\nwrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

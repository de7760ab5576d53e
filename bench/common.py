"""Shared bench framework: the result format every bench writes, percentiles, and process/port helpers.

Result format (stable; bench/report.py and every bench script depend on it), one file per bench at
``bench/results/<name>.json``::

    {
      "name": "turns",
      "when": "2025-01-01T12:00:00+00:00",          # UTC, ISO 8601
      "machine": {"cpus": 2, "python": "3.11.7", "platform": "...", "agents_sdk": "1.9.0"},
      "figures": [
        {"metric": "help turns throughput", "value": 180.2, "unit": "turns/s",
         "baseline": {"name": "Agents SDK echo agent", "value": 52.1} | null,
         "ratio": 3.46 | null,                       # value / baseline.value
         "target": ">= 1x Agents SDK echo agent" | null,    # human-readable
         "met": true | null}                         # null when there is no target
      ],
      "notes": "free text: parameters, caveats"
    }

Use `figure(...)` to build one entry and `write_result(name, figures, notes)` to write the file.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import json
import math
import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import IO, Any

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"

Figure = dict[str, Any]


def machine() -> dict[str, Any]:
    """What the numbers were measured on: they only compare within one run on one machine."""

    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        # The bot SDK the turns run on (issue 14: the Microsoft 365 Agents SDK; botbuilder before it).
        "agents_sdk": version("microsoft-agents-hosting-core"),
        "aiohttp": version("aiohttp"),
    }


def figure(metric: str, value: float, unit: str, *, baseline: tuple[str, float] | None = None,
           target: str | None = None, met: bool | None = None, ratio: float | None = None) -> Figure:
    """One figure in the result format. `ratio` defaults to value / baseline value when a baseline is given."""
    base = None
    if baseline is not None:
        base = {"name": baseline[0], "value": _round(baseline[1])}
        if ratio is None and baseline[1]:
            ratio = value / baseline[1]
    return {
        "metric": metric,
        "value": _round(value),
        "unit": unit,
        "baseline": base,
        "ratio": None if ratio is None else round(ratio, 3),
        "target": target,
        "met": met,
    }


def write_result(name: str, figures: Sequence[Figure], notes: str = "") -> Path:
    """Write ``bench/results/<name>.json`` atomically (a half-written file would break the report)."""
    for entry in figures:
        missing = {"metric", "value", "unit", "baseline", "ratio", "target", "met"} - set(entry)
        if missing:
            raise ValueError(f"figure {entry.get('metric')!r} lacks {sorted(missing)}")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    doc = {
        "name": name,
        "when": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "machine": machine(),
        "figures": list(figures),
        "notes": notes,
    }
    path = RESULTS_DIR / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def read_results() -> list[dict[str, Any]]:
    """Every result file, sorted by name."""
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(RESULTS_DIR.glob("*.json"))]


def percentile(values: Sequence[float], pct: float) -> float:
    """The `pct` percentile (0-100) by linear interpolation between closest ranks; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    if len(ordered) == 1:
        return float(ordered[0])
    rank = (len(ordered) - 1) * pct / 100.0
    low = math.floor(rank)
    high = math.ceil(rank)
    if low == high:
        return float(ordered[low])
    return float(ordered[low] + (ordered[high] - ordered[low]) * (rank - low))


def median(values: Sequence[float]) -> float:
    """The 50th percentile."""
    return percentile(values, 50)


def free_port() -> int:
    """A free loopback TCP port (released before returning; a tiny race is acceptable for a bench)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def python() -> str:
    """The interpreter running the bench (the project venv when run by `make bench`)."""
    return sys.executable


def _round(value: float) -> float:
    # Enough digits for ms and turns/s; keeps the JSON diff-friendly between runs.
    return round(float(value), 3)


# --- Teams-like activities -------------------------------------------------------------------------------------

DEMO_SEED = ROOT / "demo_tenant" / "seeds" / "contoso.json"
BOT_ID = "28:00000000-0000-0000-0000-00000000b5a1"


def demo_tenant_id() -> str:
    """The tenant id of the embedded demo tenant (our bot refuses activities from any other tenant)."""
    return str(json.loads(DEMO_SEED.read_text(encoding="utf-8"))["tenant"]["id"])


def message_activity(text: str, *, activity_id: str, service_url: str, conversation_id: str, user_id: str,
                     tenant_id: str, locale: str = "en-US") -> dict[str, Any]:
    """A personal-chat message as Teams sends it (anonymous mode: no JWT). `user_id` is the aadObjectId."""
    return {
        "type": "message",
        "id": activity_id,
        "channelId": "msteams",
        "serviceUrl": service_url,
        "timestamp": "2026-11-28T10:00:00.000Z",
        "localTimestamp": "2026-11-28T11:00:00.000+01:00",
        "localTimezone": "Europe/Amsterdam",
        "locale": locale,
        "from": {"id": f"29:{user_id}", "name": "Bench User", "aadObjectId": user_id},
        "recipient": {"id": BOT_ID, "name": "Blocked Sender Assistant"},
        "conversation": {"id": conversation_id, "conversationType": "personal", "tenantId": tenant_id},
        "channelData": {"tenant": {"id": tenant_id}},
        "text": text,
        "textFormat": "plain",
    }


def bench_user_id(index: int) -> str:
    """A distinct, GUID-shaped Entra object id for bench user `index` (not in the demo seed: role = user)."""
    return f"00000000-0000-4000-8000-{index:012d}"


# --- A local Bot Framework connector that collects replies ---------------------------------------------------


class LocalConnector:
    """A minimal Bot Framework connector on loopback: accepts replies and resolves the waiter of the activity.

    Bots reply with ``POST /v3/conversations/{conversation}/activities/{replyToId}``; the connector resolves
    the future registered for that activity id with the arrival time (`time.perf_counter()`), so the load
    generator measures request -> reply. Typing indicators are ignored. Kept deliberately cheap: on a 2-core
    machine it shares a core with the load generator, and the floor baseline must not be limited by it.
    """

    def __init__(self) -> None:
        self._waiters: dict[str, asyncio.Future[float]] = {}
        self._counter = 0
        self.replies = 0
        self.unexpected = 0
        self.bodies: list[dict[str, Any]] = []
        self.keep_bodies = False
        self._runner: web.AppRunner | None = None
        self.service_url = ""

    async def start(self, host: str = "127.0.0.1") -> str:
        """Serve on a free port; returns the service URL (with a trailing slash, as Teams sends it)."""
        app = web.Application()
        app.router.add_post("/v3/conversations/{conversation}/activities/{activity}", self._reply)
        app.router.add_post("/v3/conversations/{conversation}/activities", self._reply)
        app.router.add_put("/v3/conversations/{conversation}/activities/{activity}", self._update)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        port = free_port()
        site = web.TCPSite(self._runner, host, port, backlog=1024)
        await site.start()
        self.service_url = f"http://{host}:{port}/"
        return self.service_url

    async def close(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()

    def expect(self, activity_id: str) -> asyncio.Future[float]:
        """A future resolved with the arrival time of the first (non-typing) reply to `activity_id`."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiters[activity_id] = future
        return future

    def forget(self, activity_id: str) -> None:
        """Drop the waiter of an activity that failed or timed out."""
        self._waiters.pop(activity_id, None)

    async def _reply(self, request: web.Request) -> web.Response:
        arrived = time.perf_counter()
        body = json.loads(await request.read())
        self._counter += 1
        if body.get("type") != "typing":
            reply_to = request.match_info.get("activity") or body.get("replyToId") or ""
            future = self._waiters.pop(reply_to, None)
            if future is not None and not future.done():
                future.set_result(arrived)
                self.replies += 1
            else:
                self.unexpected += 1
            if self.keep_bodies:
                self.bodies.append(body)
        return web.json_response({"id": f"reply-{self._counter}"})

    async def _update(self, request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"id": request.match_info["activity"]})


# --- Server subprocesses ------------------------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    """Resident set size of `pid` in MiB (Linux /proc), NaN when unavailable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return math.nan


class ServerProcess:
    """A server under test in its own process (so it has its own core and GIL), stopped for sure on exit."""

    def __init__(self, name: str, argv: list[str], *, port: int, env: dict[str, str] | None = None,
                 ready_path: str = "/readyz", cwd: Path = ROOT, log_path: Path | None = None) -> None:
        self.name = name
        self.argv = argv
        self.port = port
        self.env = {**os.environ, **(env or {}), "PORT": str(port), "HOST": "127.0.0.1", "PYTHONUNBUFFERED": "1"}
        self.ready_path = ready_path
        self.cwd = cwd
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self._log: IO[bytes] | None = None

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:PORT"""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Spawn the process (`time.perf_counter()` at spawn is kept in `started_at`)."""
        self._log = open(self.log_path, "wb") if self.log_path else None  # noqa: SIM115 - closed in stop()
        self.started_at = time.perf_counter()
        self.proc = subprocess.Popen(self.argv, cwd=self.cwd, env=self.env,
                                     stdout=self._log if self._log else subprocess.DEVNULL, stderr=subprocess.STDOUT)

    async def wait_ready(self, within: float = 60.0, interval: float = 0.01) -> float:
        """Poll `ready_path` until it answers 200; returns seconds since spawn. Raises on exit or timeout."""
        deadline = time.perf_counter() + within
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
            while time.perf_counter() < deadline:
                assert self.proc is not None, "start() first"
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self.proc.returncode} before it was ready"
                                       f"{' (log: ' + str(self.log_path) + ')' if self.log_path else ''}")
                try:
                    async with session.get(self.base_url + self.ready_path) as response:
                        if response.status == 200:
                            return time.perf_counter() - self.started_at
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    pass
                await asyncio.sleep(interval)
        raise TimeoutError(f"{self.name} not ready within {within:.0f} s")

    def rss_mb(self) -> float:
        """The process's resident set size in MiB."""
        return rss_mb(self.proc.pid) if self.proc is not None else math.nan

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after `timeout`; only this process (never by name)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def fmt(value: float, unit: str) -> str:
    """A figure for humans: 3 significant-ish digits with its unit."""
    if math.isnan(value):
        return f"n/a {unit}"
    if abs(value) >= 100:
        return f"{value:,.0f} {unit}"
    if abs(value) >= 10:
        return f"{value:.1f} {unit}"
    return f"{value:.2f} {unit}"


# -- the demo tenant in its own process ---------------------------------------------------------------------------

DEMO_ENV_KEYS = ("M365_TENANT_ID", "M365_CLIENT_ID", "M365_CLIENT_SECRET", "M365_AUTHORITY_HOST", "M365_GRAPH_URL",
                 "M365_CA_FILE")


DemoTenantHandle = tuple[asyncio.subprocess.Process, dict[str, str], aiohttp.ClientSession]


async def spawn_demo_tenant(python: str, data_dir: Path, log_path: Path, *options: str,
                            keys: Sequence[str] = DEMO_ENV_KEYS, ready_within: float = 60.0) -> DemoTenantHandle:
    """`python -m demo_tenant --port 0 --data-dir DIR --print-env OPTIONS…` in its own process (so its CPU and
    memory are not the measured side's). Returns the process, the client environment it printed (read until
    every one of `keys` is there) and an HTTPS session on its base URL that trusts its own CA (for the
    `/_demo/` admin API)."""
    import ssl

    log = open(log_path, "wb")  # noqa: SIM115, ASYNC230 - handed to the child, closed below
    try:
        proc = await asyncio.create_subprocess_exec(
            python, "-m", "demo_tenant", "--port", "0", "--data-dir", str(data_dir), "--print-env", *options,
            cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=log, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    finally:
        log.close()
    assert proc.stdout is not None
    env: dict[str, str] = {}
    while not all(key in env for key in keys):
        line = await asyncio.wait_for(proc.stdout.readline(), ready_within)
        if not line:
            raise RuntimeError(f"the demo tenant exited early; log: {log_path}")
        key, sep, value = line.decode().strip().partition("=")
        if sep:
            env[key] = value
    context = ssl.create_default_context(cafile=env["M365_CA_FILE"])
    session = aiohttp.ClientSession(base_url=env["M365_GRAPH_URL"], connector=aiohttp.TCPConnector(ssl=context))
    return proc, env, session

"""Turn overhead: `help` turns of our bot beside the Agents SDK's echo agent and the floor, same load, same run.

Each target runs in its own process on a free loopback port; the load generator and the collecting connector
share this process. All targets are started and warmed up (not measured) first; then each target's
`--messages` are sent at `--concurrency` in `--chunks` rounds, interleaved (A B C, B C A, C A B), so only
one target is under load at a time and a burst of noise from other work on a shared machine lands on every
target, not on whichever happened to be running. A target's figures aggregate its rounds: throughput is
replies over the time its rounds ran, latencies are pooled; the ratio to the echo agent is also given per
round (and its median), because neighbouring rounds share the machine's mood.

Targets:
- `help`: our bot (`python bot.py`) in demo mode (embedded demo tenant, SQLite state under a temp dir),
  anonymous mode, every turn a `help` message answered with the help card;
- `echo`: the Microsoft 365 Agents SDK's quickstart echo agent (bench/echo_bot.py, Microsoft's code as its
  quickstart writes it, anonymous): the baseline the target is set against;
- `floor`: bare aiohttp, one outbound POST per activity (bench/floor.py).

    python -m bench.turns                     # 3 rounds of 1,000 messages at c=50 -> bench/results/turns.json
    python -m bench.turns -n 300 -c 10        # quick look
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import sys
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from bench.common import ROOT, LocalConnector, ServerProcess, figure, fmt, free_port, median, write_result
from bench.loadgen import LoadResult, run_load
from config import IDENTITY_ENV_NAMES

TARGET_THROUGHPUT_VS_ECHO = 1.0
TARGET_P99_MS = 300.0
STRETCH_VS_FLOOR = 0.3

# Variables that would switch our bot (or the echo agent) out of anonymous demo mode.
_SCRUBBED = (*IDENTITY_ENV_NAMES,
             "M365_TENANT_ID", "M365_CLIENT_ID", "M365_CLIENT_SECRET", "M365_CLIENT_CERTIFICATE_PATH",
             "DATABASE_URL", "DEMO_TENANT_SEED", "DEMO_TENANT_PORT", "DATA_DIR")
# The Agents SDK's configuration prefixes (CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID, ...): scrubbed too.
_SCRUBBED_PREFIXES = ("CONNECTIONS__", "CONNECTIONSMAP", "AGENTAPPLICATION__", "LOGGING__")
# What the quickstart's README calls "localhost, anonymous mode": its one required setting.
ECHO_ENV = {"CONNECTIONS__SERVICE_CONNECTION__SETTINGS__ANONYMOUS_ALLOWED": "true"}


@dataclass(frozen=True)
class Target:
    """A server under load."""

    key: str
    label: str
    argv: list[str]
    ready_path: str = "/readyz"
    env: tuple[tuple[str, str], ...] = ()


ECHO_LABEL = "Agents SDK echo agent"


def targets(python: str) -> list[Target]:
    """Every target, in the order they run."""
    return [
        Target("help", "our bot, `help`", [python, "bot.py"]),
        Target("echo", ECHO_LABEL, [python, "-m", "bench.echo_bot"], ready_path="/readiness",
               env=tuple(ECHO_ENV.items())),
        Target("floor", "floor (bare aiohttp)", [python, "-m", "bench.floor"]),
    ]


def extra_targets(specs: list[str] | None) -> list[Target]:
    """Diagnostic targets from `--also KEY=COMMAND` (e.g. a copy of the bot with one change), run interleaved."""
    extra = []
    for spec in specs or []:
        key, sep, command = spec.partition("=")
        if not sep or not key or not command.strip():
            raise SystemExit(f"--also wants KEY=COMMAND, got {spec!r}")
        extra.append(Target(key, key, shlex.split(command)))
    return extra


def clean_env(data_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a server under test: anonymous, demo tenant, its own data directory."""
    env = {k: v for k, v in os.environ.items()
           if k not in _SCRUBBED and not k.upper().startswith(_SCRUBBED_PREFIXES)}
    env.update({"DATA_DIR": str(data_dir), "LOG_LEVEL": "WARNING", **(extra or {})})
    return env


def round_ratios(rounds: dict[str, list[LoadResult]], key: str, baseline: str) -> list[float]:
    """Throughput of `key` over `baseline` in each interleaved round (rounds where both replied)."""
    return [mine.throughput / base.throughput
            for mine, base in zip(rounds.get(key, []), rounds.get(baseline, []), strict=False)
            if base.throughput]


def merge(into: LoadResult, part: LoadResult) -> None:
    """Add one slice's measurements to a target's totals."""
    into.elapsed += part.elapsed
    into.latencies_ms.extend(part.latencies_ms)
    for kind, count in part.error_kinds.items():
        into.errors += count
        into.error_kinds[kind] = into.error_kinds.get(kind, 0) + count


async def run(args: argparse.Namespace) -> tuple[dict[str, LoadResult], dict[str, list[LoadResult]]]:
    """Start every selected target, warm each up, then load them in interleaved slices."""
    chosen = [t for t in targets(args.python) if t.key in args.only] if args.only else targets(args.python)
    chosen += extra_targets(args.also)
    log_dir = Path(tempfile.mkdtemp(prefix="bench-turns-logs-"))
    totals = {t.key: LoadResult(messages=args.messages, concurrency=args.concurrency) for t in chosen}
    rounds: dict[str, list[LoadResult]] = {t.key: [] for t in chosen}
    slices = [args.messages // args.chunks + (1 if i < args.messages % args.chunks else 0) for i in range(args.chunks)]
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="bench-turns-") as data_root:
        servers: dict[str, ServerProcess] = {}
        for target in chosen:
            data_dir = Path(data_root) / target.key
            data_dir.mkdir()
            server = ServerProcess(target.key, target.argv, port=free_port(),
                                   env=clean_env(data_dir, dict(target.env)), ready_path=target.ready_path,
                                   log_path=log_dir / f"{target.key}.log")
            servers[target.key] = stack.enter_context(server)
        for server in servers.values():
            await server.wait_ready(within=120)
        connector = LocalConnector()
        await connector.start()
        try:
            for target in chosen:
                if args.warmup:
                    await run_load(servers[target.key].base_url + "/api/messages", messages=args.warmup,
                                   concurrency=args.concurrency, connector=connector)
            for number, size in enumerate(slices):
                order = chosen[number % len(chosen):] + chosen[:number % len(chosen)]
                for target in order:
                    part = await run_load(servers[target.key].base_url + "/api/messages", messages=size,
                                          concurrency=args.concurrency, connector=connector)
                    merge(totals[target.key], part)
                    rounds[target.key].append(part)
                    print(f"  slice {number + 1}/{len(slices)} {target.label:<26} {part.summary()}", flush=True)
        finally:
            await connector.close()
    print(f"  (server logs: {log_dir})")
    return totals, rounds


def report(results: dict[str, LoadResult], args: argparse.Namespace,
           rounds: dict[str, list[LoadResult]] | None = None) -> None:
    """Print each figure beside its baselines and write bench/results/turns.json (full runs only)."""
    labels = {t.key: t.label for t in targets(args.python) + extra_targets(args.also)}
    figures = []
    help_, echo, floor = (results.get(k) for k in ("help", "echo", "floor"))
    per_round = round_ratios(rounds or {}, "help", "echo")
    c = args.concurrency
    if help_ and echo:
        ratio = help_.throughput / echo.throughput if echo.throughput else 0.0
        figures.append(figure("help turns: throughput", help_.throughput, "turns/s",
                              baseline=(labels["echo"], echo.throughput),
                              target=f">= {TARGET_THROUGHPUT_VS_ECHO:g}x {ECHO_LABEL}",
                              met=ratio >= TARGET_THROUGHPUT_VS_ECHO))
    if per_round:
        # The same target judged round by round: each ratio compares two neighbouring slices of the same run.
        figures.append(figure("help turns: throughput ratio, median of rounds", median(per_round), "x",
                              target=f">= {TARGET_THROUGHPUT_VS_ECHO:g}x {ECHO_LABEL}",
                              met=median(per_round) >= TARGET_THROUGHPUT_VS_ECHO))
    if help_ and floor:
        ratio = help_.throughput / floor.throughput if floor.throughput else 0.0
        figures.append(figure("help turns: throughput vs floor", help_.throughput, "turns/s",
                              baseline=(labels["floor"], floor.throughput),
                              target=f">= {STRETCH_VS_FLOOR:g}x floor (stretch)", met=ratio >= STRETCH_VS_FLOOR))
    if help_:
        figures.append(figure(f"help turns: p99 latency at c={c}", help_.p(99), "ms",
                              baseline=(labels["echo"], echo.p(99)) if echo else None,
                              target=f"<= {TARGET_P99_MS:g} ms", met=help_.p(99) <= TARGET_P99_MS))
        figures.append(figure(f"help turns: p50 latency at c={c}", help_.p(50), "ms",
                              baseline=(labels["echo"], echo.p(50)) if echo else None))
    if echo:
        figures.append(figure(f"{ECHO_LABEL}: p99 latency at c={c}", echo.p(99), "ms"))
    if echo and floor:
        figures.append(figure(f"{ECHO_LABEL}: throughput", echo.throughput, "turns/s",
                              baseline=(labels["floor"], floor.throughput)))
    if floor:
        figures.append(figure(f"floor: p99 latency at c={c}", floor.p(99), "ms"))

    print()
    for key, result in results.items():
        print(f"{labels[key]:<44} {result.summary()}")
    print()
    for entry in figures:
        base = entry["baseline"]
        beside = (f"  vs {base['name']} {fmt(base['value'], entry['unit'])} = {entry['ratio']:.2f}x"
                  if base else "")
        verdict = "" if entry["met"] is None else ("  [met]" if entry["met"] else "  [NOT met]")
        target = f"  target {entry['target']}" if entry["target"] else ""
        print(f"{entry['metric']:<44} {fmt(entry['value'], entry['unit']):>14}{beside}{target}{verdict}")

    if per_round:
        print(f"{'help / echo agent, per round':<44} {', '.join(f'{r:.2f}x' for r in per_round)} "
              f"(median {median(per_round):.2f}x)")
    errors = {k: r.errors for k, r in results.items() if r.errors}
    notes = (f"{args.messages} messages (`help`; the echo agent echoes it) per target at concurrency {c}, after "
             f"{args.warmup} warm-up messages, in {args.chunks} rounds interleaved across targets so that "
             f"noise from other work on the machine hits all of them; each load worker owns one conversation "
             f"and one user (50 distinct users: state rows and role lookups as in a real tenant); every target "
             f"in its own process, the load generator and the collecting connector in another; latency = POST "
             f"sent -> reply received by the connector. Our bot runs in demo mode (SQLite, embedded demo tenant), "
             f"anonymous; the echo agent is Microsoft's quickstart (bench/echo_bot.py), anonymous, as it ships "
             f"(MemoryStorage, INFO logging). help/echo per round: "
             + (", ".join(f"{r:.2f}x" for r in per_round) or "n/a")
             + ". Throughput of every target: "
             + ", ".join(f"{labels[k]} {fmt(r.throughput, 'turns/s')}" for k, r in results.items())
             + (f". Errors: {errors}" if errors else ". No errors."))
    full = not args.only and not args.also and args.messages >= 3000 and args.concurrency == 50
    if full or args.write:
        path = write_result("turns", figures, notes)
        print(f"\nwrote {path.relative_to(ROOT)}")
    else:
        print("\n(partial run: bench/results/turns.json not written; --write to force)")


def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--messages", type=int, default=int(os.environ.get("BENCH_MESSAGES", "3000")))
    parser.add_argument("-c", "--concurrency", type=int, default=int(os.environ.get("BENCH_CONCURRENCY", "50")))
    parser.add_argument("--warmup", type=int, default=200, help="messages per target before measuring")
    parser.add_argument("--chunks", type=int, default=int(os.environ.get("BENCH_CHUNKS", "3")),
                        help="interleaved rounds per target")
    parser.add_argument("--only", nargs="*", choices=[t.key for t in targets("")], help="run only these targets")
    parser.add_argument("--write", action="store_true", help="write turns.json even for a partial run")
    parser.add_argument("--also", action="append", metavar="KEY=COMMAND",
                        help="an extra, diagnostic target (its figures are printed, not reported)")
    parser.add_argument("--python", default=sys.executable, help="interpreter for the servers (project venv)")
    args = parser.parse_args(argv)
    if args.messages < 1 or args.concurrency < 1 or not 1 <= args.chunks <= args.messages:
        parser.error("messages and concurrency must be positive, chunks between 1 and messages")
    print(f"turns: {args.messages} messages per target at c={args.concurrency}, in {args.chunks} interleaved "
          f"slices", flush=True)
    results, rounds = asyncio.run(run(args))
    report(results, args, rounds)
    return 0 if all(r.errors == 0 for r in results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())

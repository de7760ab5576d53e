"""Profile a server under the turn load with py-spy (bench/.venv-bench) and summarise where the time goes.

py-spy samples from outside the process, so the server runs unchanged on the project's interpreter. By
default only samples of the thread holding the GIL are kept (`--gil`): on CPython that is the CPU the turns
compete for. `--threads` keeps every thread's samples instead (shows thread pools, e.g. `requests`).

    make bench-profile                        # help and the Agents SDK echo agent, then the start of bot.py
    python -m bench.profile help -n 1500      # -> bench/profiles/help.txt (+ help.raw, help.log)

The summary lists inclusive shares (a function and everything it calls) of all kept samples, start-up
included, then the functions with the most self time.

    python -m bench.profile --start           # -> bench/profiles/start.txt: `python -X importtime bot.py`

`--start` needs no py-spy: it starts our bot twice on one data directory (the second is a restart: keys and
schema exist), under `-X importtime`, and lists the packages and modules the restart spent its imports on,
beside the time to /readyz.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import sys
import tempfile
from collections import Counter
from pathlib import Path

from bench.common import ROOT, LocalConnector, ServerProcess, free_port
from bench.loadgen import run_load
from bench.turns import clean_env, targets

PY_SPY = ROOT / "bench" / ".venv-bench" / "bin" / "py-spy"
_IMPORT_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)\s*$")
OUT_DIR = ROOT / "bench" / "profiles"


def summarise(raw: Path, top: int = 60) -> str:
    """Inclusive and self shares per function from a py-spy `raw` (collapsed stacks) file."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(encoding="utf-8").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        if frames and frames[0].startswith("thread "):
            threads[re.sub(r"thread \(\d+\): |_\d+$", "", frames[0])] += count
            frames = frames[1:]
        total += count
        names = [re.sub(r":\d+\)", ")", frame) for frame in frames]
        for name in set(names):
            inclusive[name] += count
        if names:
            own[names[-1]] += count
    out = [f"samples: {total}"]
    if threads:
        out.append("threads: " + ", ".join(f"{name} {n}" for name, n in threads.most_common(6)))
    out.append("\ninclusive:")
    out += [f"{100 * n / total:5.1f}%  {name}" for name, n in inclusive.most_common(top)]
    out.append("\nself:")
    out += [f"{100 * n / total:5.1f}%  {name}" for name, n in own.most_common(25)]
    return "\n".join(out) + "\n"


def summarise_imports(log_text: str, top: int = 30) -> str:
    """Self import time per top-level package, and the slowest modules (cumulative), from `-X importtime` lines."""
    rows = []
    for line in log_text.splitlines():
        match = _IMPORT_LINE.match(line)
        if match:
            rows.append((int(match.group(1)), int(match.group(2)), len(match.group(3)) // 2, match.group(4)))
    total = sum(own for own, _, _, _ in rows)
    packages: Counter[str] = Counter()
    for own, _, _, name in rows:
        packages[name.split(".")[0]] += own
    out = [f"imports: {len(rows)} modules, {total / 1e6:.2f} s self time in all"]
    out.append("\nself time by top-level package:")
    out += [f"{us / 1000:8.1f} ms  {name}" for name, us in packages.most_common(top)]
    out.append("\nslowest modules (self time; cumulative = with what they import first):")
    out += [f"{own / 1000:8.1f} ms  (cum {cum / 1000:7.1f} ms)  {name}"
            for own, cum, _, name in sorted(rows, key=lambda r: -r[0])[:top]]
    return "\n".join(out) + "\n"


async def profile_start(python: str) -> Path:
    """`python -X importtime bot.py`, a first start and a restart on one data directory; returns the summary."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    target = {t.key: t for t in targets(python)}["help"]
    argv = [target.argv[0], "-X", "importtime", *target.argv[1:]]
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-profile-start-") as data_dir:
        for kind in ("first", "restart"):
            log_path = OUT_DIR / f"start-{kind}.log"
            with ServerProcess("start", argv, port=free_port(), env=clean_env(Path(data_dir)),
                               log_path=log_path) as server:
                seconds[kind] = await server.wait_ready(within=120, interval=0.005)
    text = (OUT_DIR / "start-restart.log").read_text(encoding="utf-8", errors="replace")
    summary = OUT_DIR / "start.txt"
    summary.write_text(f"# python -X importtime bot.py (demo mode): first start {seconds['first']:.2f} s, restart "
                       f"{seconds['restart']:.2f} s to /readyz (importtime itself adds a little)\n# the restart's "
                       f"imports:\n" + summarise_imports(text), encoding="utf-8")
    return summary


async def profile(key: str, *, messages: int, concurrency: int, rate: int, gil: bool, python: str) -> Path:
    """Run target `key` under py-spy through a warm-up and `messages` turns; returns the summary path."""
    target = {t.key: t for t in targets(python)}[key]
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    raw = OUT_DIR / f"{key}.raw"
    argv = [str(PY_SPY), "record", "-r", str(rate), "-f", "raw", "-o", str(raw),
            *(["--gil"] if gil else ["--threads"]), "--", *target.argv]
    with tempfile.TemporaryDirectory(prefix=f"bench-profile-{key}-") as data_dir:
        server = ServerProcess(key, argv, port=free_port(), env=clean_env(Path(data_dir), dict(target.env)),
                               ready_path=target.ready_path, log_path=OUT_DIR / f"{key}.log")
        server.start()
        try:
            await server.wait_ready(within=180)
            connector = LocalConnector()
            await connector.start()
            try:
                url = server.base_url + "/api/messages"
                await run_load(url, messages=min(200, messages), concurrency=concurrency, connector=connector)
                result = await run_load(url, messages=messages, concurrency=concurrency, connector=connector)
            finally:
                await connector.close()
            print(f"  {target.label} under py-spy: {result.summary()}", flush=True)
        finally:
            assert server.proc is not None
            # SIGINT to py-spy: it stops its child and writes the file.
            server.proc.send_signal(signal.SIGINT)
            server.proc.wait(60)
            server.stop()
    summary = OUT_DIR / f"{key}.txt"
    summary.write_text(f"# {target.label}: {messages} messages at c={concurrency}, py-spy {rate} Hz, "
                       f"{'GIL holder only' if gil else 'all threads'}\n" + summarise(raw), encoding="utf-8")
    return summary


def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # Checked below, not with `choices`: Python 3.11's argparse rejects an empty `nargs="*"` list against choices.
    parser.add_argument("targets", nargs="*", help="of: help echo floor (default: help echo)")
    parser.add_argument("-n", "--messages", type=int, default=1500)
    parser.add_argument("-c", "--concurrency", type=int, default=50)
    parser.add_argument("-r", "--rate", type=int, default=100, help="samples per second")
    parser.add_argument("--threads", action="store_true", help="all threads instead of the GIL holder")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--start", action="store_true", help="profile the start of bot.py (imports) instead")
    args = parser.parse_args(argv)
    unknown = set(args.targets) - {t.key for t in targets("")}
    if unknown:
        parser.error(f"unknown targets {sorted(unknown)}")
    if args.start:
        path = asyncio.run(profile_start(args.python))
        print(path.read_text(encoding="utf-8"))
        return 0
    if not PY_SPY.exists():
        parser.error(f"{PY_SPY.relative_to(ROOT)} missing: run `make bench-profile` (creates bench/.venv-bench)")
    for key in args.targets or ["help", "echo"]:
        path = asyncio.run(profile(key, messages=args.messages, concurrency=args.concurrency, rate=args.rate,
                                   gil=not args.threads, python=args.python))
        print(f"  wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

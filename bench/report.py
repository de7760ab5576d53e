"""Render docs/PERFORMANCE.md's summary table from bench/results/*.json and print it.

Only the part between `<!-- bench:begin -->` and `<!-- bench:end -->` is regenerated, and the chaos soak's section
between `<!-- soak:begin -->` and `<!-- soak:end -->` (its figures, checks and outages, from
bench/results/soak.json); everything else in the file (profiles, before/after notes) is written by hand and kept.
Every figure sits beside its baseline from the same run, with the ratio and whether its target was met.

    python -m bench.report            # rewrite the table in docs/PERFORMANCE.md
    python -m bench.report --check    # exit 1 if the table is not what the results say (CI)
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from bench.common import ROOT, read_results

DOC = ROOT / "docs" / "PERFORMANCE.md"
BEGIN = "<!-- bench:begin -->"
END = "<!-- bench:end -->"
SOAK_BEGIN = "<!-- soak:begin -->"
SOAK_END = "<!-- soak:end -->"
# Benches in reading order; any other result file follows, by name.
ORDER = ("turns", "investigation", "startup")


def _num(value: Any, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    value = float(value)
    text = f"{value:,.0f}" if abs(value) >= 100 else (f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}")
    return f"{text} {unit}".strip()


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def sdk(machine: dict[str, Any]) -> str:
    """The bot SDK a result was measured on: results written before issue 14 name botbuilder."""
    if machine.get("agents_sdk"):
        return f"Agents SDK {machine['agents_sdk']}"
    if machine.get("botbuilder"):
        return f"botbuilder {machine['botbuilder']}"
    return "no bot SDK"


def render(results: list[dict[str, Any]]) -> str:
    """The Markdown between the markers."""
    ranked = sorted(results, key=lambda r: (ORDER.index(r["name"]) if r["name"] in ORDER else len(ORDER), r["name"]))
    lines = [
        "| bench | figure | value | baseline (same run) | ratio | target | met |",
        "|---|---|---:|---|---:|---|:---:|",
    ]
    for result in ranked:
        for entry in result["figures"]:
            base = entry.get("baseline")
            baseline = f"{_cell(base['name'])}: {_num(base['value'], entry['unit'])}" if base else "—"
            ratio = f"{entry['ratio']:.2f}×" if entry.get("ratio") is not None else "—"
            met = {True: "✅ met", False: "❌ not met", None: "—"}[entry.get("met")]
            lines.append(f"| {result['name']} | {_cell(entry['metric'])} | {_num(entry['value'], entry['unit'])} "
                         f"| {baseline} | {ratio} | {_cell(entry.get('target') or '—')} | {met} |")
    lines.append("")
    for result in ranked:
        machine = result.get("machine", {})
        lines.append(f"- **{result['name']}** ({result['when']}, {machine.get('cpus')} CPUs, Python "
                     f"{machine.get('python')}, {sdk(machine)}): {_cell(result['notes'])}")
    return "\n".join(lines)


def splice(document: str, table: str) -> str:
    """`document` with the text between the markers replaced by `table` (markers appended if missing)."""
    start, end = document.find(BEGIN), document.find(END)
    if start == -1 or end == -1 or end < start:
        return document.rstrip("\n") + f"\n\n{BEGIN}\n{table}\n{END}\n"
    return document[: start + len(BEGIN)] + "\n" + table + "\n" + document[end:]


def render_soak(result: dict[str, Any]) -> str:
    """The chaos soak's section: its figures and notes, its checks, and when its outages happened."""
    lines = [render([result]), "", "| check | result | detail |", "|---|:---:|---|"]
    for check in result.get("checks") or []:
        mark = {True: "✅ pass", False: "❌ fail", None: "— not measured"}[check.get("passed")]
        lines.append(f"| {_cell(check['name'])} | {mark} | {_cell(check['detail'])} |")
    outages = result.get("outages") or {}
    token, database = outages.get("token_endpoint"), outages.get("database")
    if token or database:
        lines += ["", "| outage | from | to | what |", "|---|---:|---:|---|"]
    if token:
        lines.append(f"| token endpoint | {_num(token.get('began'), 's')} | {_num(token.get('ended'), 's')} | every "
                     f"token request answered {token.get('status')} ({token.get('token_requests_refused')} of "
                     f"{token.get('token_requests')} refused; tokens lived {token.get('token_lifetime_seconds')} s) |")
    if database:
        what = (f"not run: {_cell(database['skipped'])}" if database.get("skipped") else
                f"PostgreSQL stopped -m immediate, started again (crash recovery "
                f"{_num(database.get('restart_seconds'), 's')})")
        lines.append(f"| database | {_num(database.get('began'), 's')} | {_num(database.get('ended'), 's')} | "
                     f"{what} |")
    return "\n".join(lines)


def splice_soak(document: str, section: str) -> str:
    """`document` with the soak section replaced (appended under a heading when the markers are missing)."""
    start, end = document.find(SOAK_BEGIN), document.find(SOAK_END)
    if start == -1 or end == -1 or end < start:
        return document.rstrip("\n") + f"\n\n## Chaos soak\n\n{SOAK_BEGIN}\n{section}\n{SOAK_END}\n"
    return document[: start + len(SOAK_BEGIN)] + "\n" + section + "\n" + document[end:]


def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--doc", type=Path, default=DOC)
    parser.add_argument("--check", action="store_true", help="do not write; exit 1 if the table is out of date")
    args = parser.parse_args(argv)
    results = read_results()
    if not results:
        print("no results in bench/results/: run `make bench` first", file=sys.stderr)
        return 1
    table = render(results)
    current = args.doc.read_text(encoding="utf-8") if args.doc.exists() else "# Performance\n"
    updated = splice(current, table)
    # A soak result written before its checks were kept in the JSON leaves the section as the soak wrote it.
    soak = next((r for r in results if r["name"] == "soak" and "checks" in r), None)
    if soak is not None:
        updated = splice_soak(updated, render_soak(soak))
    print(table)
    if args.check:
        return 0 if updated == current else 1
    if updated != current:
        args.doc.write_text(updated, encoding="utf-8")
        print(f"\nupdated {args.doc.relative_to(ROOT) if args.doc.is_relative_to(ROOT) else args.doc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

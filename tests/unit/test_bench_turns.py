"""The turn and start-up benches: their targets, baselines and judgements (issue 14: the Agents SDK echo agent)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

import bench.turns as turns
from bench.common import ROOT
from bench.loadgen import LoadResult
from bench.profile import summarise_imports
from bench.report import sdk
from bench.startup import bots


def result(turns_per_s: float, p99_ms: float = 100.0, *, seconds: float = 1.0) -> LoadResult:
    """A load result that replied `turns_per_s` times in `seconds`, every latency `p99_ms`."""
    replied = round(turns_per_s * seconds)
    return LoadResult(messages=replied, concurrency=50, elapsed=seconds, latencies_ms=[p99_ms] * replied)


def test_the_baseline_is_the_agents_sdk_quickstart_echo_agent_run_anonymously() -> None:
    chosen = {t.key: t for t in turns.targets("python")}
    assert set(chosen) == {"help", "echo", "floor"}
    echo = chosen["echo"]
    assert echo.argv == ["python", "-m", "bench.echo_bot"]
    assert echo.ready_path == "/readiness"  # the quickstart's own probe; it has no /readyz
    assert dict(echo.env) == {"CONNECTIONS__SERVICE_CONNECTION__SETTINGS__ANONYMOUS_ALLOWED": "true"}
    source = (ROOT / "bench" / "echo_bot.py").read_text(encoding="utf-8")
    # Microsoft's quickstart code (samples/python/quickstart/src), not a botbuilder bot.
    for line in ("AGENT_APP = AgentApplication[TurnState](",
                 'await context.send_activity(f"you said: {context.activity.text}")',
                 "APP = Application(middlewares=[jwt_authorization_middleware])"):
        assert line in source
    assert "botbuilder" not in source
    assert not (ROOT / "bench" / "stock_bot.py").exists()


def test_servers_under_test_run_without_our_credentials_or_the_sdks(monkeypatch: pytest.MonkeyPatch,
                                                                   tmp_path: Path) -> None:
    for name in ("MicrosoftAppId", "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID",
                 "connections__service_connection__settings__clientsecret", "DATABASE_URL"):
        monkeypatch.setenv(name, "x")
    env = turns.clean_env(tmp_path, {"EXTRA": "1"})
    assert not any(k.upper().startswith("CONNECTIONS__") or k in ("MicrosoftAppId", "DATABASE_URL") for k in env)
    assert env["DATA_DIR"] == str(tmp_path) and env["EXTRA"] == "1"


def test_startup_measures_the_same_two_servers_as_the_turn_bench() -> None:
    servers = bots("python")
    assert servers["bot"][0] == ["python", "bot.py"] and servers["bot"][1] == "/readyz"
    assert servers["echo"] == (["python", "-m", "bench.echo_bot"], "/readiness",
                               {"CONNECTIONS__SERVICE_CONNECTION__SETTINGS__ANONYMOUS_ALLOWED": "true"})


def test_ratio_per_round_pairs_neighbouring_slices() -> None:
    rounds = {"help": [result(300), result(200)], "echo": [result(300), result(400)]}
    assert turns.round_ratios(rounds, "help", "echo") == [1.0, 0.5]
    assert turns.round_ratios({"help": [result(1)]}, "help", "echo") == []


def judged(monkeypatch: pytest.MonkeyPatch, results: dict[str, LoadResult],
           rounds: dict[str, list[LoadResult]] | None = None) -> dict[str, dict[str, Any]]:
    """The figures `report` would write, by metric."""
    written: dict[str, Any] = {}

    def capture(name: str, figures: list[dict[str, Any]], notes: str = "") -> Path:
        written.update(name=name, figures=figures, notes=notes)
        return ROOT / "bench" / "results" / "turns.json"

    monkeypatch.setattr(turns, "write_result", capture)
    args = argparse.Namespace(python="python", also=None, only=None, messages=3000, concurrency=50, warmup=200,
                              chunks=3, write=True)
    turns.report(results, args, rounds)
    assert written["name"] == "turns"
    return {f["metric"]: f for f in written["figures"]}


def test_help_is_judged_against_the_echo_agent_and_the_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    figures = judged(monkeypatch, {"help": result(330, 250), "echo": result(300, 150), "floor": result(1000, 30)},
                     {"help": [result(330)], "echo": [result(300)]})
    throughput = figures["help turns: throughput"]
    assert throughput["baseline"] == {"name": "Agents SDK echo agent", "value": 300.0}
    assert throughput["ratio"] == 1.1 and throughput["met"] is True
    assert figures["help turns: throughput ratio, median of rounds"]["met"] is True
    assert figures["help turns: p99 latency at c=50"]["met"] is True
    assert figures["help turns: throughput vs floor"]["met"] is True  # 0.33x >= 0.3x


def test_a_slower_help_or_a_slow_p99_is_not_met(monkeypatch: pytest.MonkeyPatch) -> None:
    figures = judged(monkeypatch, {"help": result(250, 400), "echo": result(300, 150), "floor": result(1000, 30)})
    assert figures["help turns: throughput"]["met"] is False
    assert figures["help turns: p99 latency at c=50"]["met"] is False
    assert figures["help turns: throughput vs floor"]["met"] is False


def test_results_name_the_sdk_they_were_measured_on() -> None:
    assert sdk({"agents_sdk": "1.9.0"}) == "Agents SDK 1.9.0"
    assert sdk({"botbuilder": "4.17.1"}) == "botbuilder 4.17.1"  # results from before issue 14
    assert sdk({}) == "no bot SDK"


def test_import_profile_sums_self_time_by_package() -> None:
    log = "\n".join([
        "import time: self [us] | cumulative | imported package",
        "import time:      1000 |       1000 |     sqlalchemy.sql",
        "import time:       500 |       1500 |   sqlalchemy",
        "import time:      2000 |       2000 | microsoft_teams.cards.core",
        "some log line",
    ])
    text = summarise_imports(log)
    assert text.startswith("imports: 3 modules, 0.00 s")
    assert "     2.0 ms  microsoft_teams" in text and "     1.5 ms  sqlalchemy" in text
    assert text.index("microsoft_teams.cards.core") < text.index("sqlalchemy.sql")


def test_start_ratios_pair_the_starts_of_one_run() -> None:
    from bench.startup import paired_ratio

    # Medians alone would say 2.0/1.0 = 2x; the back-to-back pairs say 1.25x, 1.2x and 2x.
    assert paired_ratio([2.5, 1.2, 2.0], [2.0, 1.0, 1.0]) == 1.25

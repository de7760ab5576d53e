"""The investigation bench's pause between runs: only the windows one investigation can fill are waited out."""

from __future__ import annotations

from typing import Any

from bench.investigation import WINDOW_SLACK_SECONDS, pacing_floor_ms, pause_after


def graph(path: str, duration_ms: float = 100.0) -> dict[str, Any]:
    return {"api": "graph", "path": f"/v1.0{path}", "duration_ms": duration_ms}


def test_a_run_that_used_more_than_half_of_the_audit_window_waits_it_out() -> None:
    records = [graph("/auditLogs/signIns"), graph("/auditLogs/directoryAudits"), graph("/auditLogs/signIns"),
               graph("/users/x")]
    assert pause_after(records) == 10.0 + WINDOW_SLACK_SECONDS


def test_message_trace_far_below_its_limit_needs_no_five_minute_pause() -> None:
    records = [graph("/admin/exchange/tracing/messageTraces"), graph("/auditLogs/signIns"),
               {"api": "exchange", "path": "/adminapi/beta/x/InvokeCommand", "duration_ms": 5.0}]
    assert pause_after(records) == 0.0


def test_identity_protection_at_its_limit_waits_its_one_second() -> None:
    assert pause_after([graph("/identityProtection/riskyUsers/x")]) == 1.0 + WINDOW_SLACK_SECONDS


def test_the_pacing_floor_counts_the_windows_a_family_needs() -> None:
    # Six audit requests at 5 per 10 s: one full window, then the median call.
    assert pacing_floor_ms([graph("/auditLogs/signIns", 200.0)] * 6) == 10_000 + 200.0

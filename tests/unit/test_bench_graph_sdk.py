"""The Graph client bench's pure parts: the call spec both clients get, and combining the processes' results."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from bench.graph_sdk import (
    BEGIN,
    END,
    SDK,
    build_spec,
    compare,
    detail_table,
    request_signature,
    splice,
    summarize,
    user_id_of,
)
from bench.graph_sdk_client import CALLS, Spec

MEGAN = "2f6d4c93-1b5e-4d0a-83f4-7a8b9c0d1e03"
COUNTS = {"get_user": 1, "list_inbox_rules": 3, "list_sign_ins": 21, "list_directory_audits": 2,
          "list_auth_methods": 4}


def run(client: str, samples: dict[str, list[float]], *, import_ms: float = 100.0, rss: float = 50.0,
        first: float = 80.0, counts: dict[str, int] | None = None) -> dict[str, Any]:
    """One process's JSON result as bench/graph_sdk_client.py prints it."""
    return {"client": client, "import_ms": import_ms, "rss_start_mb": 20.0, "rss_after_import_mb": rss,
            "rss_after_first_round_mb": rss + 1.0, "first_round_ms": first, "first_call_ms": {},
            "counts": dict(counts or COUNTS), "samples_ms": samples, "versions": {"msal": "1.0"}, "python": "3.11"}


def same(values: list[float]) -> dict[str, list[float]]:
    return {name: list(values) for name in CALLS}


def test_the_spec_the_clients_parse_is_the_one_built_with_our_odata_filters() -> None:
    now = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    spec = Spec.from_json(json.dumps(build_spec("MeganB@example.com", user_id_of("MeganB@example.com"), now)))

    assert spec.user_id == MEGAN
    assert spec.sign_in_filter == f"userId eq '{MEGAN}' and createdDateTime ge 2026-10-29T10:00:00Z"
    assert spec.audit_filter == (f"targetResources/any(t:t/id eq '{MEGAN}') and "
                                 "activityDateTime ge 2026-10-29T10:00:00Z")
    assert "userPrincipalName" in spec.user_select
    assert (spec.sign_in_top, spec.audit_top) == (500, 200)


def test_an_unknown_user_is_refused() -> None:
    with pytest.raises(LookupError):
        user_id_of("nobody@example.com")


def test_samples_of_all_processes_are_pooled_and_per_process_figures_take_the_median() -> None:
    runs = [run("ours", same([1.0, 2.0]), import_ms=300.0, rss=50.0),
            run("ours", same([3.0, 4.0]), import_ms=100.0, rss=70.0),
            run("ours", same([5.0, 100.0]), import_ms=200.0, rss=60.0)]

    summary = summarize(runs)

    assert summary.processes == 3
    assert summary.samples == 6
    assert summary.median_ms["list_sign_ins"] == pytest.approx(3.5)
    assert summary.p90_ms["list_sign_ins"] == pytest.approx(52.5)  # between 5 and 100, by linear interpolation
    assert summary.import_ms == 200.0
    assert summary.rss_after_import_mb == 60.0
    assert summary.rss_after_first_round_mb == 61.0


@pytest.mark.parametrize("runs, message", [
    ([], "no runs"),
    ([run("ours", same([1.0])), run("sdk", same([1.0]))], "several clients"),
    ([run("ours", same([1.0])), run("ours", same([1.0]), counts={**COUNTS, "list_sign_ins": 20})], "counts differ"),
    ([run("ours", {"get_user": [1.0]})], "lacks the call"),
])
def test_inconsistent_runs_are_refused(runs: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        summarize(runs)


def test_ours_is_the_value_and_the_sdk_the_baseline() -> None:
    ours = summarize([run("ours", same([2.0]), import_ms=400.0, rss=50.0, first=100.0)])
    sdk = summarize([run("sdk", same([50.0]), import_ms=800.0, rss=99.0, first=4000.0)])

    figures = {f["metric"]: f for f in compare(ours, sdk)}

    sign_ins = figures["list_sign_ins (21 items): median"]
    assert (sign_ins["value"], sign_ins["baseline"], sign_ins["ratio"]) == (2.0, {"name": SDK, "value": 50.0}, 0.04)
    assert figures["list_sign_ins: p90"]["baseline"]["value"] == 50.0
    assert "get_user (1 item): median" in figures
    assert figures["import time of the client stack (fresh process)"]["ratio"] == 0.5
    assert figures["RSS after import + first round"]["value"] == 51.0
    assert figures["first round, cold (token, TLS, the 5 calls once)"]["baseline"]["value"] == 4000.0
    assert len(figures) == 2 * len(CALLS) + 4
    assert all(f["target"] is None and f["met"] is None for f in figures.values())


def test_clients_that_got_different_items_are_not_compared() -> None:
    ours = summarize([run("ours", same([2.0]))])
    sdk = summarize([run("sdk", same([50.0]), counts={**COUNTS, "list_inbox_rules": 0})])

    with pytest.raises(ValueError, match="different items"):
        compare(ours, sdk)


def test_the_side_by_side_table_replaces_only_its_own_markers() -> None:
    ours = summarize([run("ours", same([2.0]))])
    sdk = summarize([run("sdk", same([50.0]))])
    table = detail_table(ours, sdk)
    document = f"# Performance\n\n<!-- bench:begin -->\nother\n<!-- bench:end -->\n\n{BEGIN}\nstale\n{END}\ntail\n"

    updated = splice(document, table)

    assert "| `list_sign_ins` (21 items) | 2.00 ms | 50.0 ms | 0.04× |" in updated
    assert "stale" not in updated
    assert updated.startswith("# Performance\n\n<!-- bench:begin -->\nother\n<!-- bench:end -->")
    assert updated.endswith(f"{END}\ntail\n")
    assert splice(updated, table) == updated
    assert splice("# Performance\n", table) == f"# Performance\n\n{BEGIN}\n{table}\n{END}\n"


def test_request_signature_compares_graph_requests_only() -> None:
    path = "/v1.0/auditLogs/signIns"
    ours = [{"api": "identity", "method": "POST", "path": "/t/oauth2/v2.0/token", "query": {}},
            {"api": "graph", "method": "GET", "path": path, "query": {"$top": "5", "$filter": "x"}}]
    sdk = [{"api": "graph", "method": "GET", "path": path, "query": {"$filter": "x", "$top": "5"}}]

    assert request_signature(ours) == request_signature(sdk)
    assert request_signature(ours) != request_signature([{**sdk[0], "query": {"$filter": "x"}}])

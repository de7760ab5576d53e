"""The spam burst over HTTPS against the demo tenant: Graph's message trace as Microsoft documents it (sender and both
receivedDateTime bounds, ≤ 10 days, pages of up to 5,000), the Get-MessageTraceV2 fallback when the message-trace
service principal is not provisioned, "not checked: not provisioned" when neither can be read, and the seed's bursts
reaching the findings, the card, the outbreak path and `python -m investigation --json`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import m365.tenant
from cards.findings import findings_card
from demo_tenant.cmdlets import CMDLETS
from investigation.collect import Investigation
from investigation.evidence import SourceName, UnavailableReason
from investigation.resolve import resolve_account
from investigation.service import Investigations
from locales import t
from m365.errors import BadRequest
from tests.cardschema import assert_valid_card, lines
from tests.demo_stack import DemoStack, investigate_account
from tests.integration.test_investigation_inputs import run_cli

MEGAN = "MeganB@example.com"
PATTI = "PattiF@example.com"
ADELE = "AdeleV@example.com"
GRADY = "GradyA@example.com"
TRACE_PATH = "/v1.0/admin/exchange/tracing/messageTraces"


async def investigate(stack: DemoStack, upn: str) -> Investigation:
    return await investigate_account(stack, upn)


def burst_codes(investigation: Investigation) -> list[str]:
    return sorted(f.code for f in investigation.findings if f.source == SourceName.message_trace)


async def test_graph_reads_one_senders_week_in_one_filtered_request(stack: DemoStack) -> None:
    now = datetime.now(UTC)
    traces = await stack.tenant.list_message_traces(MEGAN, now - timedelta(days=7), now)
    assert traces.via == "graph" and not traces.capped
    assert len(traces.rows) > 1000
    assert {r.sender for r in traces.rows} == {MEGAN}
    assert [r.received for r in traces.rows] == sorted(r.received for r in traces.rows if r.received)
    [request] = stack.requests(api="graph", path_contains="messageTraces")
    assert request.status == 200
    filter_ = request.query["$filter"]
    assert f"senderAddress eq '{MEGAN}'" in filter_
    assert "receivedDateTime ge " in filter_ and "receivedDateTime le " in filter_
    assert request.query["$top"] == "5000"


async def test_the_demo_refuses_what_graph_refuses(stack: DemoStack) -> None:
    now = datetime.now(UTC)
    # More than 10 days: the client clips the period itself, so ask Graph directly.
    with pytest.raises(BadRequest):
        await stack.tenant.graph.get_paged(TRACE_PATH.removeprefix("/v1.0"), {
            "$filter": f"receivedDateTime ge {(now - timedelta(days=12)):%Y-%m-%dT%H:%M:%SZ} and "
                       f"receivedDateTime le {now:%Y-%m-%dT%H:%M:%SZ}"})
    with pytest.raises(BadRequest):
        await stack.tenant.graph.get_paged(TRACE_PATH.removeprefix("/v1.0"), {
            "$filter": f"receivedDateTime ge {(now - timedelta(days=2)):%Y-%m-%dT%H:%M:%SZ}"})
    clipped = await stack.tenant.list_message_traces(MEGAN, now - timedelta(days=30), now)
    assert clipped.since == now - timedelta(days=10)


async def test_megans_burst_reaches_the_findings_and_the_card(stack: DemoStack) -> None:
    megan = await investigate(stack, MEGAN)
    assert megan.evidence.is_available(SourceName.message_trace)
    # SMTP AUTH from 192.0.2.150, where her sign-ins show the intruder: no "unknown address" finding.
    assert burst_codes(megan) == ["burst_summary", "burst_unusual_recipients"]
    [summary] = [f for f in megan.findings if f.code == "burst_summary"]
    assert summary.params["messages"] == "242"
    assert summary.params["ips"] == "192.0.2.150 (1210)"
    assert int(summary.params["external"]) > 1000
    card = findings_card(megan, case_id="case-1", viewer_can_act=True, locale="en-US", time_zone="Europe/Amsterdam")
    assert_valid_card(card)
    shown = "\n".join(lines(card))
    assert "Sent 242 messages within 4 h to" in shown
    assert "Action required: your mailbox will be suspended" in shown


async def test_patti_sent_from_an_address_she_never_signed_in_from(stack: DemoStack) -> None:
    patti = await investigate(stack, PATTI)
    [unseen] = [f for f in patti.findings if f.code == "burst_ip_not_in_sign_ins"]
    assert unseen.params["ip"] == "203.0.113.199" and unseen.severity.value == "medium"
    card = findings_card(patti, case_id="case-1", viewer_can_act=True, locale="nl-NL")
    assert_valid_card(card)
    shown = "\n".join(lines(card))
    assert "203.0.113.199" in shown and "nooit heeft aangemeld" in shown
    # The seed's subject carries markup: it reaches the card as the characters it is, in a TextRun.
    assert "**URGENT** update your payroll details <a href=" in shown


async def test_adeles_customer_mailing_is_only_summarised(stack: DemoStack) -> None:
    adele = await investigate(stack, ADELE)
    assert burst_codes(adele) == ["burst_summary"]
    [summary] = [f for f in adele.findings if f.code == "burst_summary"]
    assert summary.params["messages"] == "11" and summary.params["ips"].startswith("198.51.100.91 (")


async def test_without_the_service_principal_exchange_is_asked(stack: DemoStack,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    stack.server.state.tenant["messageTraceProvisioned"] = False
    grady = await investigate(stack, GRADY)
    assert grady.evidence.message_traces is not None and grady.evidence.message_traces.via == "exchange"
    assert "burst_summary" in burst_codes(grady)
    assert [r.status for r in stack.requests(api="graph", path_contains="messageTraces")] == [401, 401]
    # One query, one answer: the cmdlet does not page (its -ResultSize rows come at once).
    calls = stack.requests(api="exchange", cmdlet="Get-MessageTraceV2")
    assert len(calls) == 1 and calls[0].status == 200
    assert set(calls[0].parameters or {}) == {"SenderAddress", "StartDate", "EndDate", "ResultSize"}
    assert all(CMDLETS["Get-MessageTraceV2"].parameter(p) is not None for p in calls[0].parameters or {})
    assert (calls[0].parameters or {})["ResultSize"] == 5000
    # For a while the next reads go to Exchange at once (no 401 and token refresh first)...
    stack.server.state.tenant["messageTraceProvisioned"] = True
    soon = await investigate(stack, GRADY)
    assert soon.evidence.message_traces is not None and soon.evidence.message_traces.via == "exchange"
    assert len(stack.requests(api="graph", path_contains="messageTraces")) == 2
    # ...then Graph is asked again, and gives the same rows.
    monkeypatch.setattr(m365.tenant, "TRACE_REFUSAL_MEMORY_SECONDS", 0.0)
    again = await investigate(stack, GRADY)
    assert again.evidence.message_traces is not None and again.evidence.message_traces.via == "graph"
    assert len(again.evidence.message_traces.rows) == len(grady.evidence.message_traces.rows)


async def test_neither_way_says_not_provisioned(stack: DemoStack) -> None:
    stack.server.state.tenant["messageTraceProvisioned"] = False
    stack.server.state.app["exchangeRoles"] = ["Exchange Recipient Administrator"]
    megan = await investigate(stack, MEGAN)
    missing = megan.evidence.unavailable_reason(SourceName.message_trace)
    assert missing is not None and missing.reason_code == UnavailableReason.not_provisioned
    assert "8bd644d1-64a1-4d4b-ae52-2e0cbf64e373" in missing.detail
    assert burst_codes(megan) == []
    shown = lines(findings_card(megan, case_id="case-1", viewer_can_act=True, locale="en-US"))
    assert any(x.startswith(t("en", "source.message_trace") + ": ") and "not provisioned" in x for x in shown)


async def test_without_the_permission_exchange_is_asked(stack: DemoStack) -> None:
    granted = stack.server.state.app["grantedPermissions"]
    stack.server.state.app["grantedPermissions"] = [p for p in granted if p != "ExchangeMessageTrace.Read.All"]
    # The token is asked for after this (the stack is fresh): its roles lack the permission, Graph answers 403.
    patti = await investigate(stack, PATTI)
    traces = patti.evidence.message_traces
    assert traces is not None and traces.via == "exchange"
    assert "burst_ip_not_in_sign_ins" in burst_codes(patti)


async def test_the_outbreak_path_gives_the_single_findings(stack: DemoStack) -> None:
    users = []
    for upn in (MEGAN, PATTI):
        resolution = await resolve_account(stack.tenant, upn)
        assert resolution.user is not None
        users.append(resolution.user)
    results = await Investigations(stack.tenant).investigate_many(users)
    for user in users:
        single = burst_codes(await investigate(stack, user.user_principal_name))
        assert burst_codes(results[user.id]) == single and "burst_summary" in single


def test_the_cli_json_shows_the_burst(tmp_path: Path) -> None:
    result = run_cli(tmp_path, PATTI, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["sources"]["message_trace"] == "ok"
    burst = data["burst"]
    assert burst["messages"] == 87 and burst["rows"] == 348 and burst["readVia"] == "graph"
    assert burst["fromIPs"] == [{"ip": "203.0.113.199", "rows": 348}]
    [summary] = [f for f in data["findings"] if f["code"] == "burst_summary"]
    assert summary["summary"].startswith("Sent 87 messages within")
    assert {"label": "domain", "value": "webmail.example"} not in summary["evidence"]
    assert any(e["label"] == "ip" and e["value"].startswith("203.0.113.199") for e in summary["evidence"])
    assert any(f["code"] == "burst_ip_not_in_sign_ins" for f in data["findings"])

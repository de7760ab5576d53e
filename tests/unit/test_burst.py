"""The spam burst from the message trace: parsing Microsoft's examples, the summary, its findings, the source."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cards.findings import findings_card
from investigation.burst import BURST_LEAD, burst_findings, burst_window, summarize
from investigation.collect import judge
from investigation.evidence import Evidence, SourceName, Unavailable, UnavailableReason
from investigation.indicators import EVIDENCE_KEYS, FINDING_PARAMS, Severity, run_indicators
from investigation.sources import BY_NAME, Family, Scope
from m365.errors import AuthenticationFailed, NotProvisioned, PermissionDenied
from m365.records import BlockedSender, MessageTrace, MessageTraces, SignIn, User
from tests.fakes import FakeTenant

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "microsoft" / "graph"
NOW = datetime(2026, 1, 23, 12, 0, tzinfo=UTC)
RESTRICTED_AT = NOW - timedelta(hours=6)
SENDER = "megan@contoso.com"
DOMAINS = ("contoso.com", "contoso.onmicrosoft.com")
HOME_IP = "198.51.100.23"
SPAM_IP = "192.0.2.150"

Json = dict[str, Any]


# ------------------------------------------------------------------------------------------- builders


def row(when: datetime, recipient: str, *, ip: str = HOME_IP, subject: str = "Re: planning", n: int = 0,
        status: str = "delivered") -> MessageTrace:
    return MessageTrace(id=f"t-{n}", received=when, sender=SENDER, recipient=recipient, subject=subject,
                        status=status, from_ip=ip, size=1000, message_id=f"<m{n}@contoso.com>")


def usual_rows(days: int = 5, per_day: int = 4) -> list[MessageTrace]:
    """Ordinary mail before the burst window: colleagues and two partner domains."""
    out: list[MessageTrace] = []
    for d in range(days):
        for i in range(per_day):
            when = RESTRICTED_AT - BURST_LEAD - timedelta(days=d, hours=2 + i)
            to = ("alex@contoso.com", "sam@fabrikam.example", "lee@northwind.example", "kim@contoso.com")[i % 4]
            out.append(row(when, to, n=1000 + d * per_day + i))
    return out


def spam_rows(messages: int = 40, per_message: int = 5, *, ip: str = SPAM_IP,
              domains: Sequence[str] = ("webmail.example", "freemail.example")) -> list[MessageTrace]:
    """A burst in the three hours before the restriction: `messages` messages to `per_message` strangers each."""
    out: list[MessageTrace] = []
    for m in range(messages):
        when = RESTRICTED_AT - timedelta(hours=3) + timedelta(minutes=m * 180 / messages)
        subject = ("Invoice overdue", "Shared document")[m % 2]
        for r in range(per_message):
            domain = domains[(m + r) % len(domains)] if r else f"shop{m}.example"
            out.append(row(when, f"user{m}-{r}@{domain}", ip=ip, subject=subject, n=m))
    return out


def sign_in(ip: str, hours_ago: float = 30, *, error: int = 0) -> SignIn:
    return SignIn(id=f"s-{ip}-{hours_ago}", created=NOW - timedelta(hours=hours_ago), user_id="u1",
                  ip_address=ip, country="NL", error_code=error)


def evidence(rows: Sequence[MessageTrace] | None, *, restricted: bool = True, sign_ins: Sequence[SignIn] | None = (
        sign_in(HOME_IP),), capped: bool = False, since_days: int = 7,
        unavailable: Sequence[Unavailable] = ()) -> Evidence:
    traces = None if rows is None else MessageTraces(
        rows=tuple(sorted(rows, key=lambda r: r.received or NOW)), since=NOW - timedelta(days=since_days), until=NOW,
        capped=capped, cap=5000)
    blocked = BlockedSender(SENDER, reason="OutboundSpamLast24Hours=40", created=RESTRICTED_AT) if restricted else None
    return Evidence(user=User(id="u1", user_principal_name=SENDER, display_name="Megan", mail=SENDER), now=NOW,
                    verified_domains=DOMAINS, restriction=blocked, restricted=restricted,
                    sign_ins=None if sign_ins is None else tuple(sign_ins), message_traces=traces,
                    unavailable=tuple(unavailable))


def codes(found: Sequence[Any]) -> list[str]:
    return [f.code for f in found]


# Used by tests/unit/test_indicators.py's "every code has a positive case".
BURST_CASES: Mapping[str, Callable[[], Evidence]] = {
    "burst_summary": lambda: evidence(spam_rows(ip=HOME_IP, domains=("fabrikam.example",))),
    "burst_ip_not_in_sign_ins": lambda: evidence(usual_rows() + spam_rows()),
    "burst_unusual_recipients": lambda: evidence(usual_rows() + spam_rows()),
}


# ------------------------------------------------------------------------------- Microsoft's examples


# The four example responses of api-reference/v1.0/api/messagetracingroot-list-messagetraces.md, one fixture each.
EXAMPLES = ("messagetracingroot-list-messagetraces", "messagetracingroot-list-messagetraces-by-id",
            "messagetracingroot-list-messagetraces-bytimerange",
            "messagetracingroot-list-messagetraces-by-subject-and-recipient")


def _graph_examples() -> list[Json]:
    out: list[Json] = []
    for stem in EXAMPLES:
        data = json.loads((FIXTURES / f"{stem}.json").read_text(encoding="utf-8"))
        out.extend(data["response"]["value"])
    return out


def test_graph_examples_parse() -> None:
    rows = [MessageTrace.from_graph(item) for item in _graph_examples()]
    assert len(rows) == 4
    first = rows[0]
    assert first.id == "4451a062-48cb-e80d-e8c0-196330437ae6"
    assert (first.sender, first.recipient) == ("sender@contoso.com", "recipient@contoso.com")
    assert first.received == datetime(2025, 6, 13, 10, 30, tzinfo=UTC)
    assert (first.subject, first.size, first.from_ip, first.to_ip, first.status) == (
        "Quarterly Report", 45678, "192.168.1.100", "", "delivered")
    assert first.message_id == "<d9683b4c-127b-413a-ae2e-fa7dfb32c69d@contoso.com>"
    assert rows[3].subject == "Weekly digest: updates for your team"


def test_exchange_shape_parses_to_the_same_row() -> None:
    graph = _graph_examples()[2]
    exchange = {"Received": graph["receivedDateTime"], "SenderAddress": graph["senderAddress"],
                "RecipientAddress": graph["recipientAddress"], "Subject": graph["subject"], "Status": "Delivered",
                "ToIP": "", "FromIP": graph["fromIP"], "Size": graph["size"], "MessageId": graph["messageId"],
                "MessageTraceId": graph["id"]}
    assert MessageTrace.from_exchange(exchange) == MessageTrace.from_graph(graph)
    assert MessageTrace.from_exchange({"Status": "FilteredAsSpam"}).status == "filteredAsSpam"


def test_missing_and_garbled_properties_are_tolerated() -> None:
    row_ = MessageTrace.from_graph({"id": "x", "size": "big", "receivedDateTime": "yesterday", "fromIP": None})
    assert (row_.size, row_.received, row_.from_ip, row_.subject) == (0, None, "", "")
    assert MessageTrace.from_graph({"size": True}).size == 0


# ------------------------------------------------------------------------------------------ the summary


def test_summary_counts_messages_recipients_and_outside() -> None:
    rows = usual_rows() + spam_rows(messages=40, per_message=5) + [
        row(RESTRICTED_AT - timedelta(hours=1), "alex@contoso.com", ip=SPAM_IP, subject="Invoice overdue", n=999)]
    summary = summarize(evidence(rows))
    assert summary is not None
    assert summary.messages == 41 and summary.rows == 201
    assert summary.recipients == 201 and summary.external == 200
    assert summary.hours == 3
    assert summary.top_domains[0][0] in ("webmail.example", "freemail.example")
    assert dict(summary.top_subjects) == {"Invoice overdue": 21, "Shared document": 20}
    assert summary.from_ips == ((SPAM_IP, 201),)
    # The usual mail lies before the burst window and is not counted in it.
    assert summary.first is not None and summary.first >= RESTRICTED_AT - BURST_LEAD


def test_subdomains_of_verified_domains_are_inside() -> None:
    rows = [row(RESTRICTED_AT - timedelta(hours=1), "a@eu.contoso.com", n=1),
            row(RESTRICTED_AT - timedelta(hours=1), "b@contoso.com.evil.example", n=2)]
    summary = summarize(evidence(rows))
    assert summary is not None and (summary.recipients, summary.external) == (2, 1)


def test_without_a_restriction_the_burst_is_the_whole_window_and_nothing_is_unusual() -> None:
    ev = evidence(usual_rows() + spam_rows(), restricted=False)
    window = burst_window(ev)
    assert window == (NOW - timedelta(days=7), NOW)
    summary = summarize(ev)
    assert summary is not None and summary.rows == len(usual_rows()) + len(spam_rows())
    assert "burst_unusual_recipients" not in codes(burst_findings(ev))


def test_no_trace_or_no_rows_gives_no_finding() -> None:
    assert burst_findings(evidence(None)) == []
    assert burst_findings(evidence([])) == []
    assert burst_findings(evidence(usual_rows())) == []  # mail only before the burst window
    assert summarize(evidence([])) is None


# ------------------------------------------------------------------------------------------ the findings


def test_the_summary_finding_is_info_with_labelled_rows() -> None:
    [summary] = [f for f in burst_findings(evidence(spam_rows())) if f.code == "burst_summary"]
    assert summary.severity == Severity.info and summary.source == SourceName.message_trace
    assert set(summary.params) == set(FINDING_PARAMS["burst_summary"])
    assert summary.params["messages"] == "40" and summary.params["hours"] == "3"
    assert summary.params["ips"] == f"{SPAM_IP} (200)"
    assert "Invoice overdue (20)" in summary.params["subjects"]
    assert {k for k, _ in summary.evidence} <= set(EVIDENCE_KEYS)
    assert ("ip", f"{SPAM_IP} (200)") in summary.evidence
    assert not any(k == "trace_cap" for k, _ in summary.evidence)


def test_a_capped_trace_says_so() -> None:
    [summary] = [f for f in burst_findings(evidence(spam_rows(), capped=True)) if f.code == "burst_summary"]
    assert ("trace_cap", "5000") in summary.evidence


def test_an_ip_the_account_never_signed_in_from_is_flagged() -> None:
    found = burst_findings(evidence(spam_rows()))
    [flag] = [f for f in found if f.code == "burst_ip_not_in_sign_ins"]
    assert flag.severity == Severity.medium
    assert dict(flag.params) == {"ip": SPAM_IP, "count": "200"}


def test_an_ip_seen_in_a_sign_in_is_not_flagged_even_a_failed_one() -> None:
    assert "burst_ip_not_in_sign_ins" not in codes(burst_findings(
        evidence(spam_rows(), sign_ins=[sign_in(HOME_IP), sign_in(SPAM_IP, 10)])))
    # A failed sign-in from the sending IP still shows the account's credentials were tried there: not "never".
    assert "burst_ip_not_in_sign_ins" not in codes(burst_findings(
        evidence(spam_rows(), sign_ins=[sign_in(HOME_IP), sign_in(SPAM_IP, 10, error=50126)])))


@pytest.mark.parametrize("sign_ins", [None, [], [sign_in(HOME_IP, error=50126)]])
def test_without_sign_ins_to_compare_nothing_is_said_about_ips(sign_ins: list[SignIn] | None) -> None:
    assert "burst_ip_not_in_sign_ins" not in codes(burst_findings(evidence(spam_rows(), sign_ins=sign_ins)))


def test_sign_ins_not_checked_means_no_ip_finding() -> None:
    ev = evidence(spam_rows(), unavailable=[Unavailable(SourceName.sign_ins, UnavailableReason.license)])
    assert "burst_ip_not_in_sign_ins" not in codes(burst_findings(ev))


@pytest.mark.parametrize("ip", ["192.168.1.100", "10.1.2.3", "fe80::1", "::1", "", "not-an-ip"])
def test_internal_and_garbled_addresses_are_not_compared(ip: str) -> None:
    assert "burst_ip_not_in_sign_ins" not in codes(burst_findings(evidence(spam_rows(ip=ip))))


def test_recipients_outside_the_usual_correspondents_are_flagged() -> None:
    [flag] = [f for f in burst_findings(evidence(usual_rows() + spam_rows())) if f.code == "burst_unusual_recipients"]
    assert flag.severity == Severity.medium
    assert dict(flag.params) == {"count": "200", "external": "200", "usual": "3"}


def test_a_bulk_mailing_to_the_usual_correspondents_is_not_flagged() -> None:
    usual = usual_rows() + [row(RESTRICTED_AT - BURST_LEAD - timedelta(days=3), f"c{n}@{d}", n=2000 + n)
                            for n, d in enumerate(("webmail.example", "freemail.example"))]
    burst = spam_rows(ip=HOME_IP)
    # Each message's first recipient is at a one-off shop domain: 40 of 200 new, under the 80 % rule.
    assert codes(burst_findings(evidence(usual + burst))) == ["burst_summary"]


def test_no_baseline_when_the_trace_starts_at_the_burst() -> None:
    ev = evidence(spam_rows(), since_days=1)
    summary = summarize(ev)
    assert summary is not None and summary.new_domain_recipients is None
    assert "burst_unusual_recipients" not in codes(burst_findings(ev))


def test_a_few_strangers_are_not_unusual() -> None:
    assert "burst_unusual_recipients" not in codes(burst_findings(
        evidence(usual_rows() + spam_rows(messages=3, per_message=5))))


def test_run_indicators_includes_the_burst_only_when_the_trace_was_read() -> None:
    assert "burst_summary" in codes(run_indicators(evidence(spam_rows())))
    not_read = evidence(None, unavailable=[Unavailable(SourceName.message_trace, UnavailableReason.not_provisioned,
                                                       "app id 8bd644d1-64a1-4d4b-ae52-2e0cbf64e373")])
    assert not any(c.startswith("burst_") for c in codes(run_indicators(not_read)))
    assert not not_read.is_available(SourceName.message_trace)
    assert SourceName.message_trace in not_read.missing_sources


# ---------------------------------------------------------------------------------------- on the card


def _card_text(card: Any) -> str:
    """Every text block's text, a RichTextBlock's runs joined, one line each."""
    lines: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "RichTextBlock":
                lines.append("".join(str(run.get("text", "")) for run in node.get("inlines", [])))
            elif node.get("type") == "TextBlock":
                lines.append(str(node.get("text", "")))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(card)
    return "\n".join(lines)


@pytest.mark.parametrize("locale", ["en-US", "nl-NL"])
def test_the_card_shows_the_summary_with_tenant_text_inert(locale: str) -> None:
    nasty = "**URGENT** [pay](https://evil.example) <b>now</b>\u202e"
    rows = [replace(r, subject=nasty) for r in spam_rows()]
    ev = evidence(rows)
    investigation = judge(ev, (), 0.1)
    text = _card_text(findings_card(investigation, case_id="case-1", viewer_can_act=False, locale=locale))
    assert ("Sent 40 messages within 3 h" if locale == "en-US" else "40 berichten verstuurd binnen 3 uur") in text
    assert SPAM_IP in text
    # The subject is a TextRun's plain text: the bidi override is removed, markdown/HTML stay literal characters.
    assert "\u202e" not in text and "**URGENT**" in text


def test_not_provisioned_is_said_on_the_card() -> None:
    ev = evidence(None, unavailable=[Unavailable(SourceName.message_trace, UnavailableReason.not_provisioned,
                                                 "app id 8bd644d1-64a1-4d4b-ae52-2e0cbf64e373")])
    investigation = judge(ev, (), 0.1)
    text = _card_text(findings_card(investigation, case_id="case-1", viewer_can_act=False, locale="en-US"))
    assert "Message trace (sent mail)" in text
    assert "message-trace service principal is not provisioned" in text


# ------------------------------------------------------------------------------------------- the source


def test_the_source_reads_the_window_through_the_tenant() -> None:
    tenant = FakeTenant(traces={SENDER: spam_rows()})
    user = User(id="u1", user_principal_name=SENDER, display_name="Megan", mail=SENDER)
    spec = BY_NAME[SourceName.message_trace]
    assert spec.family == Family.message_trace and spec.bulk is None
    answer = asyncio.run(spec.single(tenant, user, Scope(since=NOW - timedelta(days=7), sign_in_limit=500)))
    assert isinstance(answer, MessageTraces) and len(answer.rows) == 200
    [(sender, since, _until)] = tenant.called("list_message_traces")
    assert sender == SENDER and since == NOW - timedelta(days=7)
    assert spec.land(answer) == {"message_traces": answer}


def test_not_provisioned_and_refusals_become_reasons() -> None:
    spec = BY_NAME[SourceName.message_trace]
    assert spec.unavailable(NotProvisioned("401", what="app id x")) == (UnavailableReason.not_provisioned, "app id x")
    assert spec.unavailable(PermissionDenied("403", permission="ExchangeMessageTrace.Read.All")) == (
        UnavailableReason.permission, "ExchangeMessageTrace.Read.All")
    # A plain 401 elsewhere stays an error (only the message-trace read maps it to "not provisioned").
    assert spec.unavailable(AuthenticationFailed("401", status=401)) == (UnavailableReason.error, "HTTP 401")


def test_a_snapshot_keeps_the_burst_findings_not_the_rows() -> None:
    from investigation.snapshot import from_snapshot, to_snapshot

    investigation = judge(evidence(usual_rows() + spam_rows()), (), 0.1)
    stored = to_snapshot(investigation)
    assert "rows" not in stored["investigation"]["evidence"]["message_traces"]
    assert len(json.dumps(stored)) < 20_000
    back = from_snapshot(json.loads(json.dumps(stored)))
    assert back is not None and back.findings == investigation.findings
    assert back.evidence.message_traces is not None and back.evidence.message_traces.rows == ()
    assert back.evidence.is_available(SourceName.message_trace)

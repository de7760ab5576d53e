"""The spam burst itself, from the message trace: what was sent, to whom, from where; and what about it is odd.

`summarize(evidence)` turns `Evidence.message_traces` (one row per message and recipient, oldest first) into a
`BurstSummary`; `burst_findings(evidence)` turns that into findings (registered in `investigation.indicators`).

Windows:

- **The burst** runs from `BURST_LEAD` (24 h) before the restriction's `CreatedDatetime` to the end of the trace
  (mail after the restriction is still traced, as failed or pending). Without a restriction (or without its time)
  the burst is the whole window read.
- **The baseline** ("usual correspondents") is the trace before the burst: the recipient domains the account mailed
  in the days before. It exists only for a restricted account whose trace reaches at least `MIN_BASELINE`
  (2 days) before the burst; otherwise nothing is called unusual.

Findings (codes declared in `indicators.FINDING_PARAMS`):

- `burst_summary` (info): the count of messages and recipient rows, the span, distinct recipients and how many are
  outside the tenant (`indicators.is_external`: the verified-domain rule), the top recipient domains, the most
  frequent subjects (tenant text: params, escaped by the card) and the sending IPs (`fromIP`). Context, not a sign:
  the restriction already says mail went out; this says what it looked like. When the trace hit its cap the rows
  say so (`trace_cap`), and the counts are "at least".
- `burst_ip_not_in_sign_ins` (medium): a public sending IP of the burst that appears in no sign-in of the
  account in the window. Only when the sign-ins were read and hold at least one successful sign-in (else there is
  nothing to compare with). Medium, not high: v1.0 `signIns` lists interactive sign-ins only, and mail submitted
  through a Microsoft service (Outlook mobile, a relay) enters from that service's address; so it asks for a look
  and corroborates other signs rather than proving an intruder on its own. Private, loopback and link-local
  addresses (internal relays, Microsoft's own example shows 192.168.1.100) are not compared.
- `burst_unusual_recipients` (medium): at least `MIN_UNUSUAL_RECIPIENTS` (20) external recipients in the burst and
  at least `UNUSUAL_SHARE` (80 %) of them at domains the account did not mail in the baseline. A user's own bulk
  mailing goes to people they mail anyway (a weekly customer update recurs in the baseline); a spammer's goes to
  strangers. Medium for the same reason: a first mailing to a bought list looks the same.

Codes that corroborate a compromise (for the verdict): `burst_ip_not_in_sign_ins` (mail from where the account
never signed in) and, more weakly, `burst_unusual_recipients`. `burst_summary` never does.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from investigation.evidence import Evidence, SourceName
from investigation.indicators import Finding, Severity, is_external
from m365.records import MessageTrace

BURST_LEAD = timedelta(hours=24)
MIN_BASELINE = timedelta(days=2)
MIN_UNUSUAL_RECIPIENTS = 20
UNUSUAL_SHARE = 0.8
TOP = 3
_MAX_SUBJECT = 48
_MAX_VALUE = 300


@dataclass(frozen=True)
class BurstSummary:
    """What the burst looked like (see the module docstring). Counts are of the rows read (`capped`: at least)."""

    start: datetime
    end: datetime
    messages: int
    rows: int
    recipients: int
    external: int
    first: datetime | None
    last: datetime | None
    top_domains: tuple[tuple[str, int], ...]
    top_subjects: tuple[tuple[str, int], ...]
    from_ips: tuple[tuple[str, int], ...]
    new_domain_recipients: int | None  # external recipients at domains absent from the baseline; None: no baseline
    baseline_domains: int | None
    capped: bool
    cap: int
    via: str

    @property
    def hours(self) -> int:
        """The span from the first to the last row, in whole hours rounded up (at least 1)."""
        if self.first is None or self.last is None:
            return 0
        seconds = (self.last - self.first).total_seconds()
        return max(1, -(-int(seconds) // 3600))


def _domain(address: str) -> str:
    return address.rpartition("@")[2].strip().lower() if "@" in address else ""


def _comparable_ip(text: str) -> bool:
    """A public address a sign-in could show: internal relays and unparseable values are left out."""
    try:
        ip = ipaddress.ip_address(text.strip())
    except ValueError:
        return False
    private = any(ip in net for net in _INTERNAL_NETWORKS) if ip.version == 4 else (
        ip.is_link_local or ip.is_loopback or ip in _ULA)
    return not (private or ip.is_loopback or ip.is_unspecified or ip.is_multicast)


# RFC 1918, loopback, link-local and carrier-grade NAT: not what an internet-facing sign-in shows. (Python's
# `is_private` also covers the documentation ranges, which are public addresses in the examples.)
_INTERNAL_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "169.254.0.0/16", "100.64.0.0/10"))
_ULA = ipaddress.ip_network("fc00::/7")


def _top(counter: Counter[str], n: int = TOP) -> tuple[tuple[str, int], ...]:
    # Most frequent first; ties in first-seen order (Counter keeps insertion order).
    return tuple(counter.most_common(n))


def burst_window(evidence: Evidence) -> tuple[datetime, datetime] | None:
    """(start, end) of the burst, or None without a trace. See the module docstring."""
    traces = evidence.message_traces
    if traces is None:
        return None
    end = traces.until or evidence.now
    since = traces.since or evidence.window_start
    created = evidence.restriction.created if evidence.restriction is not None else None
    if created is None:
        return since, end
    return max(since, created - BURST_LEAD), end


def _in(row: MessageTrace, start: datetime, end: datetime) -> bool:
    return row.received is not None and start <= row.received <= end


def summarize(evidence: Evidence) -> BurstSummary | None:
    """The burst of `evidence` (None when the trace was not read or holds no row in the burst window)."""
    window = burst_window(evidence)
    traces = evidence.message_traces
    if window is None or traces is None:
        return None
    start, end = window
    burst = [r for r in traces.rows if _in(r, start, end)]
    if not burst:
        return None
    recipients = {r.recipient.lower() for r in burst if r.recipient}
    external = {a for a in recipients if is_external(a, evidence)}
    domains = Counter(_domain(r.recipient) for r in burst if _domain(r.recipient))
    subjects = Counter(_short(r.subject) for r in _one_per_message(burst) if r.subject.strip())
    ips = Counter(r.from_ip.strip() for r in burst if r.from_ip.strip())
    times = [r.received for r in burst if r.received is not None]
    new_count: int | None = None
    baseline_count: int | None = None
    since = traces.since or evidence.window_start
    if evidence.restriction is not None and evidence.restriction.created is not None and start - since >= MIN_BASELINE:
        usual = {_domain(r.recipient) for r in traces.rows
                 if r.received is not None and r.received < start and _domain(r.recipient)}
        baseline_count = len(usual)
        new_count = sum(1 for a in external if _domain(a) not in usual)
    return BurstSummary(
        start=start, end=end, messages=len({_message_key(r) for r in burst}), rows=len(burst),
        recipients=len(recipients), external=len(external), first=min(times, default=None),
        last=max(times, default=None), top_domains=_top(domains), top_subjects=_top(subjects), from_ips=_top(ips),
        new_domain_recipients=new_count, baseline_domains=baseline_count, capped=traces.capped, cap=traces.cap,
        via=traces.via,
    )


def _short(subject: str) -> str:
    # Whitespace runs folded (a subject can be padded to push text out of view) and the length bounded, so three of
    # them fit the card's summary line.
    text = " ".join(subject.split())
    return text if len(text) <= _MAX_SUBJECT else text[: _MAX_SUBJECT - 1] + "…"


def _message_key(row: MessageTrace) -> str:
    # One message to many recipients is many rows with one Message-ID (and one trace id).
    return row.message_id or row.id or f"{row.received}:{row.subject}"


def _one_per_message(rows: Iterable[MessageTrace]) -> list[MessageTrace]:
    seen: set[str] = set()
    out: list[MessageTrace] = []
    for row in rows:
        key = _message_key(row)
        if key not in seen:
            seen.add(key)
            out.append(row)
    return out


def _counted(items: Iterable[tuple[str, int]]) -> str:
    return ", ".join(f"{value} ({count})" for value, count in items)


def _finding(code: str, severity: Severity, rows: Iterable[tuple[str, str]], params: dict[str, str]) -> Finding:
    # Tenant text is bounded here (subjects and domains are as long as the sender likes); the card escapes it.
    return Finding(code, severity, SourceName.message_trace,
                   tuple((k, _clip(v)) for k, v in rows if v), {k: _clip(v) for k, v in params.items()})


def _clip(value: str) -> str:
    return value if len(value) <= _MAX_VALUE else value[: _MAX_VALUE - 1] + "…"


def _iso(when: datetime | None) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if when is not None else ""


def burst_findings(evidence: Evidence) -> list[Finding]:
    """The burst's findings (see the module docstring); [] without a trace or a burst."""
    summary = summarize(evidence)
    if summary is None:
        return []
    evidence_rows: list[tuple[str, str]] = [
        ("first_seen", _iso(summary.first)), ("last_seen", _iso(summary.last)),
        *(("domain", f"{d} ({n})") for d, n in summary.top_domains),
        *(("subject", f"{s} ({n})") for s, n in summary.top_subjects),
        *(("ip", f"{ip} ({n})") for ip, n in summary.from_ips),
    ]
    if summary.capped:
        evidence_rows.append(("trace_cap", str(summary.cap)))
    findings: list[Finding] = [_finding(
        "burst_summary", Severity.info, evidence_rows,
        {"messages": str(summary.messages), "hours": str(summary.hours), "recipients": str(summary.recipients),
         "external": str(summary.external), "domains": _counted(summary.top_domains),
         "subjects": _counted(summary.top_subjects), "ips": _counted(summary.from_ips)},
    )]
    findings.extend(_unseen_ips(evidence, summary))
    findings.extend(_unusual_recipients(summary))
    return findings


def _unseen_ips(evidence: Evidence, summary: BurstSummary) -> list[Finding]:
    if not evidence.is_available(SourceName.sign_ins) or not evidence.sign_ins:
        return []
    if not any(s.succeeded for s in evidence.sign_ins):
        return []
    signed_in = {s.ip_address.strip().lower() for s in evidence.sign_ins if s.ip_address}
    traces = evidence.message_traces
    assert traces is not None  # summarize() returned a summary
    counts = Counter(r.from_ip.strip() for r in traces.rows
                     if _in(r, summary.start, summary.end) and r.from_ip.strip())
    unseen = [(ip, n) for ip, n in counts.most_common() if _comparable_ip(ip) and ip.lower() not in signed_in]
    return [_finding("burst_ip_not_in_sign_ins", Severity.medium,
                     [("ip", ip), ("count", str(n))], {"ip": ip, "count": str(n)})
            for ip, n in unseen[:TOP]]


def _unusual_recipients(summary: BurstSummary) -> list[Finding]:
    new = summary.new_domain_recipients
    if new is None or summary.baseline_domains is None or summary.external < MIN_UNUSUAL_RECIPIENTS:
        return []
    if new < UNUSUAL_SHARE * summary.external:
        return []
    return [_finding("burst_unusual_recipients", Severity.medium,
                     [("domain", f"{d} ({n})") for d, n in summary.top_domains],
                     {"count": str(new), "external": str(summary.external),
                      "usual": str(summary.baseline_domains)})]


def as_json(evidence: Evidence) -> dict[str, object] | None:
    """The burst for `python -m investigation --json` (None when the trace was not read or holds no burst)."""
    summary = summarize(evidence)
    if summary is None:
        return None
    return {
        "start": _iso(summary.start), "end": _iso(summary.end), "firstSeen": _iso(summary.first),
        "lastSeen": _iso(summary.last), "messages": summary.messages, "rows": summary.rows,
        "recipients": summary.recipients, "externalRecipients": summary.external,
        "topDomains": [{"domain": d, "rows": n} for d, n in summary.top_domains],
        "topSubjects": [{"subject": s, "messages": n} for s, n in summary.top_subjects],
        "fromIPs": [{"ip": ip, "rows": n} for ip, n in summary.from_ips],
        "newDomainRecipients": summary.new_domain_recipients, "baselineDomains": summary.baseline_domains,
        "capped": summary.capped, "cap": summary.cap, "readVia": summary.via,
    }

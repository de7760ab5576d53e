"""Controllable misbehaviour: fault rules, default latency, Microsoft's throttles, and the request log.

Every request the demo tenant serves has a *key* the rules match with `re.search`:

- Graph: `"METHOD /v1.0/path"` (decoded path, no query), e.g. `GET /v1.0/auditLogs/signIns`; inner `$batch`
  requests get the same key as if sent alone.
- Exchange: `"InvokeCommand:<CmdletName>"`, e.g. `InvokeCommand:Remove-BlockedSenderAddress`.
- Identity: `"token"` for the token endpoint.
"""

from __future__ import annotations

import math
import random
import re
import uuid
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

FAULT_STATUSES = (403, 429, 500, 502, 503, 504)
TIMEOUT_SECONDS = 120.0  # a `timeout` fault hangs this long (or until the server stops)


class RuleError(ValueError):
    """A fault or latency rule that cannot be used (bad regex, status, probability...)."""


def _regex(pattern: object) -> re.Pattern[str]:
    if not isinstance(pattern, str) or not pattern:
        raise RuleError("match must be a non-empty regular expression")
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise RuleError(f"match is not a valid regular expression: {exc}") from None


@dataclass
class FaultRule:
    """One fault: requests whose key matches `match` get latency and/or a failure.

    `status` (403/429/5xx) answers that status with the API's error body; `retry_after` adds a `Retry-After`
    header (seconds); `permission` answers 403 as if that permission were not granted; `timeout` hangs for
    120 s. `probability` (0..1) draws per request; `count` expires the rule after it fired N times.
    """

    match: str
    latency_ms: int = 0
    status: int | None = None
    retry_after: float | None = None
    permission: str | None = None
    timeout: bool = False
    probability: float = 1.0
    count: int | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def __post_init__(self) -> None:
        self._pattern = _regex(self.match)
        if self.status is not None and self.status not in FAULT_STATUSES:
            raise RuleError(f"status must be one of {', '.join(map(str, FAULT_STATUSES))}")
        if not 0.0 <= self.probability <= 1.0:
            raise RuleError("probability must be between 0 and 1")
        if self.latency_ms < 0:
            raise RuleError("latency_ms must not be negative")
        if self.count is not None and self.count < 1:
            raise RuleError("count must be at least 1")
        if self.retry_after is not None and self.retry_after < 0:
            raise RuleError("retry_after must not be negative")

    @property
    def fails(self) -> bool:
        """True when the rule changes the answer (not latency only)."""
        return self.status is not None or self.permission is not None or self.timeout

    def applies_to(self, key: str) -> bool:
        """True when the rule's regex matches the request key."""
        return self._pattern.search(key) is not None

    def to_json(self) -> dict[str, Any]:
        """The rule as the admin API shows it."""
        return {k: v for k, v in asdict(self).items() if not k.startswith("_")}

    @classmethod
    def from_json(cls, obj: object) -> FaultRule:
        """Build from the admin API's JSON; raises `RuleError` for a bad field."""
        if not isinstance(obj, Mapping):
            raise RuleError("a fault rule is a JSON object")
        known = {"match", "latency_ms", "status", "retry_after", "permission", "timeout", "probability", "count", "id"}
        unknown = set(obj) - known
        if unknown:
            raise RuleError(f"unknown fault rule field(s): {', '.join(sorted(unknown))}")
        try:
            kwargs: dict[str, Any] = {
                "match": obj.get("match"),
                "latency_ms": int(obj.get("latency_ms") or 0),
                "status": None if obj.get("status") is None else int(obj["status"]),
                "retry_after": None if obj.get("retry_after") is None else float(obj["retry_after"]),
                "permission": obj.get("permission") or None,
                "timeout": bool(obj.get("timeout", False)),
                "probability": float(obj.get("probability", 1.0)),
                "count": None if obj.get("count") is None else int(obj["count"]),
            }
        except (TypeError, ValueError) as exc:
            raise RuleError(f"bad fault rule field: {exc}") from None
        if obj.get("id"):
            kwargs["id"] = str(obj["id"])
        if kwargs["permission"] is not None and not isinstance(kwargs["permission"], str):
            raise RuleError("permission must be a string")
        return cls(**kwargs)


@dataclass(frozen=True)
class FaultOutcome:
    """What the fault rules decided for one request."""

    latency_ms: int = 0
    failing: FaultRule | None = None
    fired: tuple[str, ...] = ()


class FaultSet:
    """The active fault rules, in order. The first firing rule that fails decides; all firing rules add latency."""

    def __init__(self, rng: random.Random) -> None:
        self._rules: list[FaultRule] = []
        self._rng = rng

    def add(self, rule: FaultRule) -> FaultRule:
        """Append a rule."""
        self._rules.append(rule)
        return rule

    def replace(self, rules: Iterable[FaultRule]) -> None:
        """Replace every rule."""
        self._rules = list(rules)

    def clear(self) -> None:
        """Remove every rule."""
        self._rules.clear()

    def remove(self, rule_id: str) -> bool:
        """Remove one rule by id; False if there was none."""
        before = len(self._rules)
        self._rules = [r for r in self._rules if r.id != rule_id]
        return len(self._rules) != before

    def __iter__(self) -> Any:
        return iter(list(self._rules))

    def __len__(self) -> int:
        return len(self._rules)

    def evaluate(self, key: str) -> FaultOutcome:
        """Draw the rules for one request; rules with a `count` are used up as they fire."""
        latency = 0
        failing: FaultRule | None = None
        fired: list[str] = []
        for rule in list(self._rules):
            if not rule.applies_to(key):
                continue
            if rule.fails and failing is not None:
                continue  # only one failure per request; leave this rule's count alone
            if rule.probability < 1.0 and self._rng.random() >= rule.probability:
                continue
            fired.append(rule.id)
            latency += rule.latency_ms
            if rule.fails:
                failing = rule
            if rule.count is not None:
                rule.count -= 1
                if rule.count <= 0:
                    self._rules.remove(rule)
        return FaultOutcome(latency, failing, tuple(fired))


@dataclass
class LatencyRule:
    """Default latency for requests whose key matches `match` (first matching rule wins), plus random jitter."""

    match: str
    latency_ms: int
    jitter_ms: int = 0

    def __post_init__(self) -> None:
        self._pattern = _regex(self.match)
        if self.latency_ms < 0 or self.jitter_ms < 0:
            raise RuleError("latency_ms and jitter_ms must not be negative")

    def applies_to(self, key: str) -> bool:
        """True when the rule's regex matches the request key."""
        return self._pattern.search(key) is not None

    def to_json(self) -> dict[str, Any]:
        """The rule as the admin API shows it."""
        return {"match": self.match, "latency_ms": self.latency_ms, "jitter_ms": self.jitter_ms}

    @classmethod
    def from_json(cls, obj: object) -> LatencyRule:
        """Build from the admin API's JSON."""
        if not isinstance(obj, Mapping):
            raise RuleError("a latency rule is a JSON object")
        try:
            return cls(str(obj.get("match") or ""), int(obj.get("latency_ms") or 0), int(obj.get("jitter_ms") or 0))
        except (TypeError, ValueError) as exc:
            raise RuleError(f"bad latency rule field: {exc}") from None


# What Microsoft 365 feels like from Europe: used when `realistic_latency` is on, or via PUT /_demo/latency.
REALISTIC_LATENCY: tuple[LatencyRule, ...] = (
    LatencyRule(r"^token$", 120, 40),
    # Message trace is slow in reality (seconds; Graph's page of up to 5,000 rows, Get-MessageTraceV2 more so):
    # modest here so the benches stay quick, yet the slowest single call of an investigation.
    LatencyRule(r"^InvokeCommand:Get-MessageTraceV2$", 2000, 600),
    LatencyRule(r" /v1\.0/admin/exchange/tracing/", 1500, 500),
    LatencyRule(r"^InvokeCommand:", 800, 300),
    LatencyRule(r" /v1\.0/auditLogs/signIns", 1200, 400),
    LatencyRule(r" /v1\.0/auditLogs/", 900, 300),
    LatencyRule(r" /v1\.0/identityProtection/", 450, 150),
    LatencyRule(r" /v1\.0/security/", 600, 200),
    LatencyRule(r"^[A-Z]+ /v1\.0/", 150, 60),
)


class LatencySet:
    """Ordered default-latency rules."""

    def __init__(self, rng: random.Random) -> None:
        self._rules: list[LatencyRule] = []
        self._rng = rng

    def replace(self, rules: Iterable[LatencyRule]) -> None:
        """Replace every rule."""
        self._rules = list(rules)

    def clear(self) -> None:
        """Remove every rule."""
        self._rules.clear()

    def __iter__(self) -> Any:
        return iter(list(self._rules))

    def latency_ms(self, key: str) -> int:
        """The default latency for a request key (0 when no rule matches)."""
        for rule in self._rules:
            if rule.applies_to(key):
                jitter = self._rng.randint(-rule.jitter_ms, rule.jitter_ms) if rule.jitter_ms else 0
                return max(0, rule.latency_ms + jitter)
        return 0


@dataclass(frozen=True)
class ThrottleLimits:
    """Microsoft's published limits the demo tenant enforces when throttling is on."""

    audit_requests: int = 5  # sign-in + directory audit logs, per app, per window
    audit_window_seconds: float = 10.0
    identity_protection_requests: int = 1  # per app per window
    identity_protection_window_seconds: float = 1.0
    mailbox_concurrency: int = 4  # Outlook: concurrent requests per app per mailbox


class Throttler:
    """Sliding-window and concurrency throttles, keyed per app (and per mailbox for Outlook)."""

    def __init__(self, limits: ThrottleLimits | None = None) -> None:
        self.enabled = False
        self.limits = limits or ThrottleLimits()
        self._windows: dict[str, deque[float]] = {}
        self._in_flight: dict[str, int] = {}

    def reset(self) -> None:
        """Forget every window and in-flight count."""
        self._windows.clear()
        self._in_flight.clear()

    def take(self, key: str, limit: int, window: float, now: float) -> int | None:
        """Count one request in `key`'s sliding window; None if allowed, else the Retry-After seconds."""
        times = self._windows.setdefault(key, deque())
        while times and times[0] <= now - window:
            times.popleft()
        if len(times) >= limit:
            return max(1, math.ceil(times[0] + window - now))
        times.append(now)
        return None

    def enter(self, key: str, limit: int) -> bool:
        """Start a request in `key`; False when `limit` are already in flight."""
        current = self._in_flight.get(key, 0)
        if current >= limit:
            return False
        self._in_flight[key] = current + 1
        return True

    def leave(self, key: str) -> None:
        """End a request started with `enter`."""
        current = self._in_flight.get(key, 0) - 1
        if current <= 0:
            self._in_flight.pop(key, None)
        else:
            self._in_flight[key] = current


@dataclass
class RequestRecord:
    """One request the demo tenant answered (the admin API and tests read these)."""

    time: datetime
    api: str  # identity, graph, exchange
    method: str
    path: str
    query: dict[str, str]
    status: int
    duration_ms: float
    in_batch: bool = False
    cmdlet: str | None = None
    parameters: dict[str, Any] | None = None
    faults: tuple[str, ...] = ()
    throttled: bool = False
    request_id: str = ""
    retry_after: float | None = None  # the `Retry-After` answered (seconds), to check clients honour it

    def to_json(self) -> dict[str, Any]:
        """JSON form for GET /_demo/requests."""
        data = asdict(self)
        data["time"] = self.time.isoformat()
        data["faults"] = list(self.faults)
        return data


class RequestLog(deque[RequestRecord]):
    """The most recent requests, oldest first (bounded so a long demo does not grow without limit)."""

    def __init__(self, maxlen: int = 10_000) -> None:
        super().__init__(maxlen=maxlen)

    def matching(self, api: str | None = None, path_contains: str | None = None,
                 cmdlet: str | None = None) -> list[RequestRecord]:
        """Records filtered by API, a path fragment, and/or a cmdlet name."""
        return [
            r for r in self
            if (api is None or r.api == api)
            and (path_contains is None or path_contains.lower() in r.path.lower())
            and (cmdlet is None or (r.cmdlet or "").lower() == cmdlet.lower())
        ]

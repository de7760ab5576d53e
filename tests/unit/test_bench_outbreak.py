"""The outbreak bench's judgements from a request log: the throttle floor and whether every 429 was honoured."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bench.outbreak import floor_seconds, unhonoured_429s

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def record(at: float, path: str, status: int = 200, *, took: float = 0.0, retry_after: float | None = None,
           in_batch: bool = False) -> dict[str, Any]:
    """A request log entry that arrived `at` seconds after T0 and took `took` seconds."""
    return {"time": (T0 + timedelta(seconds=at + took)).isoformat(), "api": "graph", "path": path, "status": status,
            "duration_ms": took * 1000, "retry_after": retry_after, "in_batch": in_batch}


def test_a_request_of_the_family_before_retry_after_is_counted() -> None:
    log = [
        record(0.0, "/v1.0/auditLogs/signIns", 429, retry_after=5),
        record(2.0, "/v1.0/auditLogs/directoryAudits", took=1.0),  # the same family, 3 s too early
        record(2.0, "/v1.0/users/x/authentication/methods"),  # another family: fine
        record(5.2, "/v1.0/auditLogs/signIns", took=1.2),  # after Retry-After: fine
    ]
    assert unhonoured_429s(log) == (1, 1)


def test_requests_already_on_the_wire_and_after_retry_after_are_fine() -> None:
    log = [
        record(0.0, "/v1.0/identityProtection/riskyUsers", 429, retry_after=1),
        record(0.1, "/v1.0/identityProtection/riskDetections"),  # sent before the 429 came back
        record(1.0, "/v1.0/identityProtection/riskyUsers", took=0.45),
    ]
    assert unhonoured_429s(log) == (1, 0)


def test_mailbox_throttles_are_per_mailbox() -> None:
    log = [
        record(0.0, "/v1.0/users/a/mailFolders/inbox/messageRules", 429, retry_after=1, in_batch=True),
        record(0.5, "/v1.0/users/b/mailFolders", in_batch=True),
        record(0.5, "/v1.0/users/a/mailFolders", in_batch=True),
    ]
    assert unhonoured_429s(log) == (1, 1)


def test_the_floor_is_the_slowest_family_and_ignores_429s() -> None:
    log = [record(n, "/v1.0/auditLogs/signIns", took=1.0) for n in range(11)]  # 11 requests: 3 windows
    log += [record(0.0, "/v1.0/auditLogs/signIns", 429, retry_after=9)]
    log += [record(n, "/v1.0/identityProtection/riskyUsers", took=0.5) for n in range(4)]
    floor, counts = floor_seconds(log)
    assert counts == {"auditLogs": 11, "identityProtection": 4}
    assert floor == pytest.approx(2 * 10.0 + 1.0)

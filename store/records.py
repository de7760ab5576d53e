"""Frozen records the repositories return, and the errors they raise.

Records are plain values: no session, no lazy loading, safe to pass across tasks and to cache.
JSON fields (`summary`, `steps`, `parameters`, references) are fresh dicts per read; mutating one changes
nothing in the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Actor:
    """Who did something: an Entra user (object id, UPN, display name) or a system component.

    System components use an id such as `system:restriction-watch` and leave `upn` empty.
    """

    id: str
    name: str = ""
    upn: str = ""


@dataclass(frozen=True)
class CaseRecord:
    """A blocked-sender case. `version` increases on every change (optimistic concurrency)."""

    id: str
    tenant_id: str
    account_id: str
    account_upn: str
    display_name: str
    status: str
    verdict: str | None
    summary: dict[str, Any]
    steps: dict[str, Any]
    opened_by_id: str | None
    opened_by_name: str | None
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    version: int

    @property
    def is_active(self) -> bool:
        """True while the case is `open` or `unblock_pending`."""
        return self.status in ("open", "unblock_pending")


@dataclass(frozen=True)
class OpenedCase:
    """Result of `CaseRepository.open_or_get_case`: the active case, and whether this call created it."""

    case: CaseRecord
    created: bool


@dataclass(frozen=True)
class CardRef:
    """Where one copy of a case's card was posted: enough to update it later."""

    case_id: str
    conversation_id: str
    activity_id: str
    conversation_reference: dict[str, Any]
    updated_at: datetime


@dataclass(frozen=True)
class AuditEntry:
    """One row of the append-only audit log."""

    id: int
    at: datetime
    actor_id: str | None
    actor_upn: str | None
    actor_name: str | None
    tenant_id: str | None
    action: str
    target: str | None
    case_id: str | None
    parameters: dict[str, Any]
    outcome: str
    error: str | None
    correlation_id: str


@dataclass(frozen=True)
class SettingRecord:
    """A runtime setting with who changed it last."""

    key: str
    value: Any
    updated_at: datetime
    updated_by: str | None


@dataclass(frozen=True)
class ConversationRefRecord:
    """A user's latest conversation reference (as `ConversationReference.serialize()` produced it)."""

    tenant_id: str
    user_aad_id: str
    reference: dict[str, Any]
    locale: str | None
    time_zone: str | None
    updated_at: datetime


@dataclass(frozen=True)
class ActionClaimRecord:
    """An action claim: `in_progress` while the claimer works on it, `done` once it succeeded."""

    case_id: str
    action: str
    target: str
    status: str
    claimed_by: str
    correlation_id: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ClaimResult:
    """Result of `ActionClaims.try_claim`.

    `claimed` is True when this caller won and must perform the action (then `complete` or `release`).
    Otherwise `claim` is the existing claim: `in_progress` (someone is doing it) or `done` (already done).
    """

    claimed: bool
    claim: ActionClaimRecord


@dataclass(frozen=True)
class RestrictionSeenRecord:
    """A restriction the watch has seen."""

    tenant_id: str
    sender_address: str
    restricted_since: datetime
    first_seen_at: datetime
    alerted_at: datetime | None
    case_id: str | None


@dataclass(frozen=True)
class LeaseRecord:
    """The current holder of a named lease."""

    name: str
    holder: str
    expires_at: datetime
    acquired_at: datetime


class StoreError(Exception):
    """Base class of the errors `store` raises on purpose."""


class StaleCase(StoreError):
    """The case changed since the caller read it (its version is not the expected one)."""

    def __init__(self, case_id: str, expected_version: int, current_version: int) -> None:
        super().__init__(
            f"case {case_id} changed: expected version {expected_version}, current version {current_version}"
        )
        self.case_id = case_id
        self.expected_version = expected_version
        self.current_version = current_version


class InvalidCaseChange(StoreError, ValueError):
    """A change a case cannot take: unknown field, bad status or verdict, or a forbidden transition."""

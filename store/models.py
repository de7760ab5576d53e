"""SQLAlchemy table models: the schema of everything the bot persists.

The ORM classes are internal to `store`: repositories turn rows into frozen dataclasses
(`store.records`) before they leave the package, so no caller holds a session-bound object.

Types are portable on purpose (String, Text, Integer, BigInteger, JSON, timezone-aware DateTime) so the same
models and the same migration serve SQLite and PostgreSQL. Every change here needs a new Alembic revision
under `store/migrations/versions/`; `tests/integration/test_store_migrations.py` fails when models and
migrations disagree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Stable constraint names, so later migrations (and SQLite batch mode) can address them by name.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Statuses in which a case is "active": at most one active case per (tenant, account).
ACTIVE_CASE_STATUSES = ("open", "unblock_pending")
CASE_STATUSES = ("open", "unblock_pending", "resolved", "closed")
VERDICTS = ("compromised", "suspicious", "no_signs", "incomplete")
AUDIT_OUTCOMES = ("started", "succeeded", "failed", "unknown")
CLAIM_STATUSES = ("in_progress", "done")


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend.

    PostgreSQL stores `timestamptz` natively; SQLite has no datetime type and SQLAlchemy hands back naive
    values there. Normalising to UTC on the way in and tagging UTC on the way out makes both backends return
    the same aware values, and keeps SQLite's text representation sortable (all values share one offset).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given to the store: pass an aware (UTC) datetime")
        value = value.astimezone(UTC)
        # SQLite compares datetimes as text: drop the offset so every stored value has the same shape.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base with the project's naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), Any: JSON()}


class BotStateRow(Base):
    """One Bot Framework storage item (conversation, user or dialog state).

    Bot Framework keys have no length limit (a Teams conversation id alone can be a few hundred characters),
    and long keys are poor primary keys, so the primary key is the SHA-256 of the key and the full key is
    kept alongside it to answer `read()` with the exact key.
    """

    __tablename__ = "bot_state"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(Text)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    etag: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime]


class AppSettingRow(Base):
    """A runtime setting changed from Teams, e.g. the IT alert channel."""

    __tablename__ = "app_settings"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[datetime]
    updated_by: Mapped[str | None] = mapped_column(String(256))


class ConversationRefRow(Base):
    """The latest conversation reference of a user, to message them proactively."""

    __tablename__ = "conversation_refs"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_aad_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    reference: Mapped[dict[str, Any]] = mapped_column(JSON)
    locale: Mapped[str | None] = mapped_column(String(35))
    time_zone: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime]


class CaseRow(Base):
    """One blocked-sender case: an account under investigation, being unblocked, or done."""

    __tablename__ = "cases"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[str] = mapped_column(String(64))
    account_upn: Mapped[str] = mapped_column(String(320))
    display_name: Mapped[str] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(32))
    verdict: Mapped[str | None] = mapped_column(String(32))
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)
    steps: Mapped[dict[str, Any]] = mapped_column(JSON)
    opened_by_id: Mapped[str | None] = mapped_column(String(64))
    opened_by_name: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_cases_status_updated_at", "status", "updated_at"),)


# At most one active case per account: the database, not the application, guarantees it, so two instances
# (or two people clicking at once) cannot open duplicates. A partial unique index works on both backends.
Index(
    "uq_cases_one_active_per_account",
    CaseRow.tenant_id,
    CaseRow.account_id,
    unique=True,
    sqlite_where=CaseRow.status.in_(ACTIVE_CASE_STATUSES),
    postgresql_where=CaseRow.status.in_(ACTIVE_CASE_STATUSES),
)


class CaseCardRow(Base):
    """A posted copy of a case's Adaptive Card (one row per message), so all copies can be updated."""

    __tablename__ = "case_cards"

    case_id: Mapped[str] = mapped_column(String(36), ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(String(512), primary_key=True)
    activity_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    conversation_reference: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime]


class CaseSubscriberRow(Base):
    """A user to tell when a case is resolved (the user who reported it, typically)."""

    __tablename__ = "case_subscribers"

    case_id: Mapped[str] = mapped_column(String(36), ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    user_aad_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime]


class AuditRow(Base):
    """One audit event. Append-only: nothing in the application updates or deletes these rows.

    An action writes a `started` row before it runs and a `succeeded`/`failed` row after, both with the same
    correlation id; a `started` row without a partner is an action whose outcome is unknown (crash).
    """

    __tablename__ = "audit_log"

    # BigInteger autoincrement on PostgreSQL; SQLite only auto-increments an INTEGER PRIMARY KEY.
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True,
                                    autoincrement=True)
    at: Mapped[datetime]
    actor_id: Mapped[str | None] = mapped_column(String(64))
    actor_upn: Mapped[str | None] = mapped_column(String(320))
    actor_name: Mapped[str | None] = mapped_column(String(256))
    tenant_id: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(512))
    case_id: Mapped[str | None] = mapped_column(String(36))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON)
    outcome: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    correlation_id: Mapped[str] = mapped_column(String(36))

    __table_args__ = (
        Index("ix_audit_log_correlation_id", "correlation_id"),
        Index("ix_audit_log_case_id", "case_id"),
        Index("ix_audit_log_at", "at"),
    )


# One `started` row and at most one outcome row per correlation id: a double `finish()` (two instances
# reconciling the same action) cannot write two contradicting outcomes.
Index(
    "uq_audit_log_started",
    AuditRow.correlation_id,
    unique=True,
    sqlite_where=AuditRow.outcome == "started",
    postgresql_where=AuditRow.outcome == "started",
)
Index(
    "uq_audit_log_finished",
    AuditRow.correlation_id,
    unique=True,
    sqlite_where=AuditRow.outcome != "started",
    postgresql_where=AuditRow.outcome != "started",
)


class ActionClaimRow(Base):
    """Who performs a remediation action: the first INSERT wins, a second one conflicts."""

    __tablename__ = "action_claims"

    case_id: Mapped[str] = mapped_column(String(36), ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    action: Mapped[str] = mapped_column(String(64), primary_key=True)
    target: Mapped[str] = mapped_column(String(512), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    claimed_by: Mapped[str] = mapped_column(String(256))
    correlation_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class RestrictionSeenRow(Base):
    """A restriction the watch has seen, so a restart does not alert on it again."""

    __tablename__ = "restriction_seen"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True,
                                    autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    sender_address: Mapped[str] = mapped_column(String(320))
    restricted_since: Mapped[datetime]
    first_seen_at: Mapped[datetime]
    alerted_at: Mapped[datetime | None]
    case_id: Mapped[str | None] = mapped_column(String(36))

    __table_args__ = (UniqueConstraint("tenant_id", "sender_address", "restricted_since"),)


class LeaseRow(Base):
    """A named, expiring lock: which instance runs a singleton job such as the restriction watch."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    holder: Mapped[str] = mapped_column(String(256))
    expires_at: Mapped[datetime]
    acquired_at: Mapped[datetime]


class EventRow(Base):
    """An event for the webhook (`store.events`): written in the transaction of the fact it reports, kept until
    it is delivered (or refused for good), so an outage of the receiver loses nothing.

    `seq` orders delivery (oldest first); `id` is the event's own id, the receiver's de-duplication key. `body` is
    the JSON document exactly as it is sent: every retry signs and sends the same bytes.
    """

    __tablename__ = "event_outbox"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True,
                                     autoincrement=True)
    id: Mapped[str] = mapped_column(String(36))
    type: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime]
    tenant_id: Mapped[str | None] = mapped_column(String(64))
    case_id: Mapped[str | None] = mapped_column(String(36))
    body: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))

    __table_args__ = (
        UniqueConstraint("id"),
        Index("ix_event_outbox_pending", "delivered_at", "failed_at", "seq"),
    )

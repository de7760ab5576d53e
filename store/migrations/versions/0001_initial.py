"""Initial schema: bot state, settings, conversation references, cases, audit log, claims, watch, leases.

Revision ID: 0001_initial
Revises:
Create Date: 2025-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Autoincrementing 64-bit id; SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
_BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)
_ACTIVE = sa.text("status IN ('open', 'unblock_pending')")


def upgrade() -> None:
    op.create_table(
        "bot_state",
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("etag", sa.String(64), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("key_hash", name="pk_bot_state"),
    )
    op.create_table(
        "app_settings",
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("updated_by", sa.String(256), nullable=True),
        sa.PrimaryKeyConstraint("key", name="pk_app_settings"),
    )
    op.create_table(
        "conversation_refs",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("user_aad_id", sa.String(64), nullable=False),
        sa.Column("reference", sa.JSON(), nullable=False),
        sa.Column("locale", sa.String(35), nullable=True),
        sa.Column("time_zone", sa.String(64), nullable=True),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "user_aad_id", name="pk_conversation_refs"),
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("account_upn", sa.String(320), nullable=False),
        sa.Column("display_name", sa.String(256), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("verdict", sa.String(32), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("opened_by_id", sa.String(64), nullable=True),
        sa.Column("opened_by_name", sa.String(256), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("resolved_at", _TS, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_cases"),
    )
    op.create_index("ix_cases_status_updated_at", "cases", ["status", "updated_at"])
    op.create_index(
        "uq_cases_one_active_per_account",
        "cases",
        ["tenant_id", "account_id"],
        unique=True,
        sqlite_where=_ACTIVE,
        postgresql_where=_ACTIVE,
    )
    op.create_table(
        "case_cards",
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("conversation_id", sa.String(512), nullable=False),
        sa.Column("activity_id", sa.String(256), nullable=False),
        sa.Column("conversation_reference", sa.JSON(), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_case_cards_case_id_cases", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("case_id", "conversation_id", name="pk_case_cards"),
    )
    op.create_table(
        "case_subscribers",
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("user_aad_id", sa.String(64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name="fk_case_subscribers_case_id_cases", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("case_id", "user_aad_id", name="pk_case_subscribers"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", _BIGID, autoincrement=True, nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("actor_id", sa.String(64), nullable=True),
        sa.Column("actor_upn", sa.String(320), nullable=True),
        sa.Column("actor_name", sa.String(256), nullable=True),
        sa.Column("tenant_id", sa.String(64), nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(512), nullable=True),
        sa.Column("case_id", sa.String(36), nullable=True),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("correlation_id", sa.String(36), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_correlation_id", "audit_log", ["correlation_id"])
    op.create_index("ix_audit_log_case_id", "audit_log", ["case_id"])
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    started = sa.text("outcome = 'started'")
    finished = sa.text("outcome != 'started'")
    op.create_index(
        "uq_audit_log_started", "audit_log", ["correlation_id"], unique=True,
        sqlite_where=started, postgresql_where=started,
    )
    op.create_index(
        "uq_audit_log_finished", "audit_log", ["correlation_id"], unique=True,
        sqlite_where=finished, postgresql_where=finished,
    )
    op.create_table(
        "action_claims",
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(512), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("claimed_by", sa.String(256), nullable=False),
        sa.Column("correlation_id", sa.String(36), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name="fk_action_claims_case_id_cases", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("case_id", "action", "target", name="pk_action_claims"),
    )
    op.create_table(
        "restriction_seen",
        sa.Column("id", _BIGID, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("sender_address", sa.String(320), nullable=False),
        sa.Column("restricted_since", _TS, nullable=False),
        sa.Column("first_seen_at", _TS, nullable=False),
        sa.Column("alerted_at", _TS, nullable=True),
        sa.Column("case_id", sa.String(36), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_restriction_seen"),
        sa.UniqueConstraint(
            "tenant_id", "sender_address", "restricted_since",
            name="uq_restriction_seen_tenant_id_sender_address_restricted_since",
        ),
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("holder", sa.String(256), nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.Column("acquired_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_leases"),
    )


def downgrade() -> None:
    op.drop_table("leases")
    op.drop_table("restriction_seen")
    op.drop_table("action_claims")
    op.drop_index("uq_audit_log_finished", table_name="audit_log")
    op.drop_index("uq_audit_log_started", table_name="audit_log")
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.drop_index("ix_audit_log_case_id", table_name="audit_log")
    op.drop_index("ix_audit_log_correlation_id", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("case_subscribers")
    op.drop_table("case_cards")
    op.drop_index("uq_cases_one_active_per_account", table_name="cases")
    op.drop_index("ix_cases_status_updated_at", table_name="cases")
    op.drop_table("cases")
    op.drop_table("conversation_refs")
    op.drop_table("app_settings")
    op.drop_table("bot_state")

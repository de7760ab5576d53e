"""SQL persistence of the bot: cases, audit log, Bot Framework state, runtime settings, coordination.

Open with `Store.open(url)` (or `open_database(url)` plus the repositories you need); the schema is migrated
to head by Alembic at start. SQLite (default) and PostgreSQL are both supported. Repositories return frozen
records (`store.records`), never ORM objects. `store` imports nothing else of the project, not even `config`:
its command lines are given the database URL by `tools/audit.py` and `tools/migrate.py`.
"""

from store.app_settings import IT_ALERT_CHANNEL, AppSettings
from store.audit_log import AuditError, AuditLog
from store.bot_state import BotStates, EtagConflict
from store.cases import CaseRepository
from store.claims import ActionClaims
from store.conversations import ConversationRefs
from store.db import Database, StoreUnavailable, create_engine, open_database, utcnow
from store.events import EventOutbox, EventRecord
from store.leases import Leases
from store.records import (
    ActionClaimRecord,
    Actor,
    AuditEntry,
    CardRef,
    CaseRecord,
    ClaimResult,
    ConversationRefRecord,
    InvalidCaseChange,
    LeaseRecord,
    OpenedCase,
    RestrictionSeenRecord,
    SettingRecord,
    StaleCase,
    StoreError,
)
from store.repositories import Store
from store.restrictions import RestrictionsSeen

__all__ = [
    "IT_ALERT_CHANNEL",
    "ActionClaimRecord",
    "ActionClaims",
    "Actor",
    "AppSettings",
    "AuditEntry",
    "AuditError",
    "AuditLog",
    "BotStates",
    "CardRef",
    "CaseRecord",
    "CaseRepository",
    "ClaimResult",
    "ConversationRefRecord",
    "ConversationRefs",
    "Database",
    "EtagConflict",
    "EventOutbox",
    "EventRecord",
    "InvalidCaseChange",
    "LeaseRecord",
    "Leases",
    "OpenedCase",
    "RestrictionSeenRecord",
    "RestrictionsSeen",
    "SettingRecord",
    "StaleCase",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "create_engine",
    "open_database",
    "utcnow",
]

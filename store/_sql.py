"""Small helpers the repositories share: transactions, dialect-specific INSERT, fresh selects."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from store.db import Database, unavailable_on_outage

T = TypeVar("T")

Insert = postgresql.Insert | sqlite.Insert


@asynccontextmanager
async def transaction(db: Database, session: AsyncSession | None, *, readonly: bool = False) -> AsyncIterator[
    AsyncSession
]:
    """Yield `session` when the caller gave one (the caller owns its transaction), else a new short transaction.

    A database outage in the new transaction raises `store.db.StoreUnavailable` (locked, read-only, unreachable).

    `readonly` selects the read session factory (a deferred BEGIN on SQLite, so it does not take the write
    lock); only use it for work that writes nothing.
    """
    if session is not None:
        yield session
        return
    maker = db.read_sessionmaker if readonly else db.sessionmaker
    async with unavailable_on_outage(), maker() as new_session, new_session.begin():
        yield new_session


def insert(db: Database, model: Any) -> Insert:
    """An INSERT for `model` in the database's dialect, for `ON CONFLICT` (both SQLite and PostgreSQL have it).

    `ON CONFLICT DO NOTHING` rather than catching IntegrityError: on PostgreSQL a failed statement aborts the
    whole transaction, which would break callers that pass their own session.
    """
    if db.is_sqlite:
        return sqlite.insert(model)
    return postgresql.insert(model)


def fresh(model: type[T]) -> Select[T]:
    """`SELECT model` that refreshes objects already in the session's identity map.

    Repositories may run several statements in one caller-provided session; without `populate_existing` a
    second read of the same row would return the first read's (now stale) object.
    """
    return select(model).execution_options(populate_existing=True)


def new_id() -> str:
    """A new random UUID as a string (case ids, correlation ids)."""
    return str(uuid.uuid4())

"""Alembic environment for the store's migrations.

Two ways in:

* From the bot: `store.db.open_database()` passes an open connection in `config.attributes["connection"]`
  (the Alembic async cookbook pattern); migrations run on it, inside the caller's transaction.
* From the command line (`python -m tools.migrate upgrade head`, which passes the bot's configured database
  as `-x url=…`; or `alembic -c store/alembic.ini -x url=… upgrade head`): the database URL is `-x url=` when
  given, else `sqlalchemy.url`; the store reads no configuration of its own. The engine is built by
  `store.db.create_engine` so SQLite gets the same pragmas. `-x schema=NAME` selects a PostgreSQL schema.
  `--sql` (offline mode) prints the DDL instead.
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection

from store.db import create_engine, ensure_sqlite_wal, lock_for_migration, normalize_url
from store.models import Base

config = context.config
target_metadata = Base.metadata


def _database_url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("no database URL: run `python -m tools.migrate …` (the bot's configured database) "
                         "or pass `-x url=…`")
    return url


def _schema() -> str | None:
    return context.get_x_argument(as_dictionary=True).get("schema") or None


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        # SQLite cannot ALTER most things; batch mode rebuilds the table for later migrations.
        render_as_batch=connection.dialect.name == "sqlite",
    )


def _run_on_connection(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


def _run_from_cli(connection: Connection) -> None:
    lock_for_migration(connection)
    _run_on_connection(connection)


async def _run_online() -> None:
    engine = create_engine(_database_url(), schema=_schema())
    try:
        if engine.dialect.name == "sqlite":
            await ensure_sqlite_wal(engine)
        async with engine.begin() as connection:
            await connection.run_sync(_run_from_cli)
    finally:
        await engine.dispose()


def _run_offline() -> None:
    url = normalize_url(_database_url())
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.get_backend_name() == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    given: Connection | None = config.attributes.get("connection")
    if given is not None:
        _run_on_connection(given)
        return
    # Only the command line configures logging from the ini file; inside the bot it is the bot's business.
    if config.config_file_name is not None:
        fileConfig(config.config_file_name, disable_existing_loggers=False)
    if context.is_offline_mode():
        _run_offline()
    else:
        asyncio.run(_run_online())


_main()

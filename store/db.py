"""Database engine, sessions and schema migrations.

`open_database(url)` is the entry point: it builds the engine, applies the Alembic migrations up to head,
and returns a `Database` holding the engine and its session factories. Most starts find the schema current:
a one-row read of `alembic_version` compared with the head declared in `migrations/versions` says so, and
Alembic itself (about 0.1 s of imports: mako, pygments) is only loaded when there is something to migrate.
`bot.py` opens it once at start and closes it at shutdown; `/readyz` calls `Database.ping()`.

SQLite (the default, a file under `data/`) and PostgreSQL are both first-class:

* SQLite: WAL journal (readers do not block the writer), foreign keys on, a busy timeout so concurrent
  writers wait instead of failing, and transactions begun by SQLAlchemy rather than by the sqlite3 driver.
  The driver's legacy mode starts no transaction for SELECT or DDL, which breaks read-then-write logic and
  transactional migrations. Write transactions use `BEGIN IMMEDIATE`: taking the write lock up front means a
  transaction never has to upgrade a read lock, the upgrade that fails at once with "database is locked"
  when another connection wrote in between. Read-only sessions (`Database.read_session()`) use a plain
  deferred `BEGIN` so readers run concurrently with the writer; a database file gets a read engine with a pool
  of its own, so readers never wait for connections that writers hold. Hot single-statement writes (the
  dialog state, the conversation reference) go through `Database.execute_once`: one driver call, no BEGIN,
  so the write lock is never held across an await (docs/PERFORMANCE.md, turn overhead).
* PostgreSQL (asyncpg): a bounded pool with pre-ping and recycling, so a restarted server or a proxy that
  drops idle connections costs a reconnect, not an error. An optional schema becomes the connection's
  `search_path`; tests use it to give every test its own schema.

The store watches itself (`Database.health()`, behind `/readyz`): a SQLite file that was deleted, replaced or
made read-only under the running bot is reported (an open connection keeps the unlinked file, so `SELECT 1`
alone passes), as is a database that does not answer. An outage while working raises `StoreUnavailable`.
A SQLite database is never silently recreated empty: the first start writes `<file>.created` beside it, and a
later start that finds the marker but not the file refuses (`StoreUnavailable("gone")`) until the file is
restored or the marker deleted on purpose (docs/SECURITY.md, "The store watches itself").
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Dialect, Executable, event, inspect, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from store.records import StoreError

if TYPE_CHECKING:
    from alembic.config import Config

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

Clock = Callable[[], datetime]

# How long a SQLite writer waits for the write lock before "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 15_000
# Pooled connections of the SQLite read engine (each is a thread of aiosqlite's and a SQLite connection).
SQLITE_READ_POOL_SIZE = 20
# Execution option read by the SQLite "begin" hook: "IMMEDIATE" (write) or "DEFERRED" (read).
SQLITE_BEGIN_OPTION = "store_sqlite_begin"
# Key of the PostgreSQL advisory lock that serialises migrations when several instances start together.
_MIGRATION_LOCK_KEY = 0x42534153  # "BSAS"
APPLICATION_NAME = "blocked-sender-assistant"
# Journal modes that need no switch to WAL: WAL itself, and in-memory databases (which cannot use WAL).
_SQLITE_FINAL_JOURNAL_MODES = ("wal", "memory")
# Written beside a SQLite database file when it is created; its presence without the file means the file was lost.
SQLITE_MARKER_SUFFIX = ".created"


class StoreUnavailable(StoreError):
    """The database cannot take the work now: locked past the busy timeout, read-only, gone or unreachable.

    Raised instead of the driver's error by `Database.transaction()`, `Database.execute_once()` and the
    repositories' short transactions (`store._sql.transaction`), so a caller can answer "could not record,
    nothing was done" without knowing SQLite from PostgreSQL. Nothing of the failed transaction was kept.
    `reason` is a short word for logs and metrics ("locked", "read-only", "unreachable", "failed").
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"the database is unavailable ({reason}){': ' + detail if detail else ''}")
        self.reason = reason
        self.detail = detail


# SQLite's messages for the outages (sqlite3 raises OperationalError for all of them, and for SQL errors too).
_SQLITE_OUTAGES = (
    ("locked", "locked"),  # "database is locked": the busy timeout ran out
    ("busy", "locked"),
    ("readonly", "read-only"),  # "attempt to write a readonly database"
    ("read-only", "read-only"),
    ("unable to open", "unreachable"),
    ("disk i/o", "unreachable"),
    ("no such file", "unreachable"),
    ("disk is full", "failed"),
    ("database or disk is full", "failed"),
    ("malformed", "failed"),
)


def outage_reason(exc: BaseException) -> str | None:
    """Why `exc` means the database is unavailable ("locked", "read-only", ...), or None for any other error.

    A programming error (a bad column, a constraint) is not an outage: it stays the error it is.
    """
    if isinstance(exc, StoreUnavailable):
        return exc.reason
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return "unreachable"
    original = exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc
    if isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError)) or isinstance(
        original, sqlite3.OperationalError
    ):
        message = str(original).lower()
        for needle, reason in _SQLITE_OUTAGES:
            if needle in message:
                return reason
        # asyncpg's connection failures arrive as OperationalError/InterfaceError with the server's words.
        return "unreachable" if not isinstance(original, sqlite3.Error) else None
    if isinstance(exc, sa_exc.DisconnectionError | sa_exc.TimeoutError):  # the pool's timeout, not asyncio's
        return "unreachable"
    # A refused connection, a PostgreSQL that went away. Not a bare TimeoutError (an OSError too): a caller's
    # own deadline inside a transaction is not the database's outage.
    if isinstance(original, OSError) and not isinstance(original, TimeoutError):
        return "unreachable"
    if any(type(cause).__module__.startswith("asyncpg") and type(cause).__name__ in _ASYNCPG_OUTAGES
           for cause in _causes(original if original is not None else exc)):
        # SQLAlchemy's asyncpg adapter wraps the driver's error in its own `Error` (a plain DBAPIError: "the
        # database system is starting up" after a restart); the driver's class is further down the chain.
        return "unreachable"
    return None


def _causes(exc: BaseException, limit: int = 8) -> list[BaseException]:
    """`exc` and the exceptions it was raised from (explicitly or while handling), nearest first."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < limit and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


_ASYNCPG_OUTAGES = frozenset(
    {
        "ConnectionDoesNotExistError",
        "ConnectionFailureError",
        "CannotConnectNowError",
        "AdminShutdownError",
        "CrashShutdownError",
        "InterfaceError",
        "PostgresConnectionError",
        "TooManyConnectionsError",
        "ReadOnlySQLTransactionError",
    }
)


@asynccontextmanager
async def unavailable_on_outage(*, log: bool = True) -> AsyncIterator[None]:
    """Turn a database outage raised inside the block into `StoreUnavailable` (other errors pass unchanged).

    `log=False` for the per-turn reads, whose caller logs once per outage instead of once per call."""
    try:
        yield
    except StoreUnavailable:
        raise
    except Exception as exc:
        reason = outage_reason(exc)
        if reason is None:
            raise
        if log:
            logger.warning("database unavailable (%s): %s", reason, type(exc).__name__)
        raise StoreUnavailable(reason, type(exc).__name__) from exc


@dataclass(frozen=True)
class _FileWatch:
    """The SQLite file the engines opened, by path and identity (device, inode)."""

    path: Path
    device: int
    inode: int

    @classmethod
    def of(cls, path: Path) -> _FileWatch:
        st = path.stat()
        return cls(path, st.st_dev, st.st_ino)

    def problem(self) -> str | None:
        """"gone", "replaced" or "read-only" when the file is no longer the writable one opened; else None.

        The mode bits are checked as well as `os.access`: for root (containers) `access` says writable whatever
        the mode, but a file made read-only on purpose means "do not write here".
        """
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return "gone"
        except OSError:
            return "unreachable"
        if (st.st_dev, st.st_ino) != (self.device, self.inode):
            return "replaced"
        if not st.st_mode & 0o222 or not os.access(self.path, os.W_OK):
            return "read-only"
        return None


def sqlite_file(url: str | URL) -> Path | None:
    """The database file of a SQLite URL (None for PostgreSQL, in-memory and `file:` URI databases)."""
    if not _is_sqlite_file(url):
        return None
    database = normalize_url(url).database or ""
    if database.startswith("file:"):
        return None
    return Path(database).expanduser().resolve()


def _marker(path: Path) -> Path:
    return path.with_name(path.name + SQLITE_MARKER_SUFFIX)


def check_not_lost(path: Path) -> None:
    """Refuse to open a SQLite database whose file was lost: its marker exists and the file does not.

    SQLite would create an empty database and the bot would start without its cases and audit log, silently.
    """
    marker = _marker(path)
    if marker.exists() and not path.exists():
        logger.critical("the database file %s is missing, but %s says one was created there: refusing to start "
                        "with an empty database (cases and audit log would be gone). Restore the file from a "
                        "backup, or delete %s to start empty on purpose.", path, marker.name, marker)
        raise StoreUnavailable("gone", f"{path} is missing; restore it or delete {marker} to start empty")


def _remember_created(path: Path, created: bool) -> None:
    marker = _marker(path)
    if marker.exists():
        return
    if not created:
        logger.info("database %s predates its marker; writing %s", path, marker.name)
    try:
        marker.write_text(f"{utcnow().isoformat()} blocked-sender-assistant database {path.name}\n",
                          encoding="utf-8")
    except OSError as exc:  # a read-only directory: the watch still works, only the restart check is lost
        logger.warning("could not write %s: %s", marker, exc)


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (the store's default clock)."""
    return datetime.now(UTC)


def normalize_url(url: str | URL) -> URL:
    """Return `url` with the async driver the store uses (aiosqlite or asyncpg).

    Accepts plain `sqlite://` and `postgresql://` / `postgres://` URLs as well as the async forms, so the same
    `DATABASE_URL` works here, in Alembic and in `psql`-style tooling.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.get_driver_name() not in ("pysqlite", "aiosqlite"):
            raise ValueError(f"unsupported SQLite driver {parsed.drivername!r}: use sqlite+aiosqlite")
        return parsed.set(drivername="sqlite+aiosqlite")
    if backend in ("postgresql", "postgres"):
        if parsed.drivername not in ("postgresql", "postgres", "postgresql+asyncpg"):
            raise ValueError(f"unsupported PostgreSQL driver {parsed.drivername!r}: use postgresql+asyncpg")
        return parsed.set(drivername="postgresql+asyncpg")
    raise ValueError(f"unsupported database {parsed.drivername!r}: use SQLite or PostgreSQL")


def create_engine(url: str | URL, *, schema: str | None = None, echo: bool = False,
                  sqlite_role: str = "both") -> AsyncEngine:
    """Create the async engine for `url`, configured for the store (see the module docstring).

    `schema` (PostgreSQL only) becomes the `search_path` of every connection: tables, indexes and the Alembic
    version table all live there. `sqlite_role` (SQLite only): "read" makes an engine whose transactions begin
    DEFERRED (read-only work), "both" the engine for writes and anything else.
    """
    sa_url = normalize_url(url)
    if sa_url.get_backend_name() == "sqlite":
        if schema:
            raise ValueError("a schema can only be given for PostgreSQL")
        _ensure_sqlite_parent(sa_url)
        options: dict[str, Any] = {}
        if sqlite_role == "read":
            # Every turn reads its state: keep enough connections for the turns in flight. Beyond the pool size
            # SQLAlchemy opens an overflow connection (a new aiosqlite thread, the PRAGMAs below) and closes it
            # after one use; with 5 that churn was visible in the profile at 50 concurrent turns.
            options = {"execution_options": {SQLITE_BEGIN_OPTION: "DEFERRED"},
                       "pool_size": SQLITE_READ_POOL_SIZE, "max_overflow": 10}
        elif sqlite_role != "both":
            raise ValueError(f"unknown SQLite engine role {sqlite_role!r}")
        engine = create_async_engine(
            sa_url,
            echo=echo,
            # The driver's own busy wait; the PRAGMA below sets the same for clarity.
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            **options,
        )
        _configure_sqlite(engine)
        return engine
    server_settings = {"application_name": APPLICATION_NAME}
    if schema:
        server_settings["search_path"] = schema
    return create_async_engine(
        sa_url,
        echo=echo,
        pool_size=5,
        max_overflow=10,
        pool_timeout=30,
        # Recycle before typical idle-connection cut-offs of proxies and managed PostgreSQL.
        pool_recycle=1800,
        pool_pre_ping=True,
        connect_args={"server_settings": server_settings, "timeout": 10, "command_timeout": 60},
    )


def _is_sqlite_file(url: str | URL) -> bool:
    """True for a SQLite database in a file (an in-memory one exists once per connection pool)."""
    parsed = normalize_url(url)
    database = parsed.database or ""
    return (parsed.get_backend_name() == "sqlite" and database not in ("", ":memory:")
            and "mode=memory" not in database and parsed.query.get("mode") != "memory")


def _ensure_sqlite_parent(url: URL) -> None:
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 driver; the "begin" hook below emits BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
            # Durable at every checkpoint and safe against corruption in WAL mode; fsync per commit is not
            # worth its cost for bot state.
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA journal_mode")
            if cursor.fetchone()[0] not in _SQLITE_FINAL_JOURNAL_MODES:
                # WAL is a property of the database file: once set it holds for every connection. Switching
                # needs a moment of exclusive access and SQLite reports "locked" at once, without waiting,
                # while another connection is busy; `ensure_sqlite_wal` (called by open_database) retries.
                try:
                    cursor.execute("PRAGMA journal_mode=WAL")
                except sqlite3.OperationalError as exc:
                    logger.debug("WAL switch deferred: %s", exc)
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(SQLITE_BEGIN_OPTION, "IMMEDIATE")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if mode == "IMMEDIATE" else "BEGIN")


_Compiled = tuple[str, list[str], dict[str, Callable[[Any], Any]]]


def _compile_positional(statement: Executable, dialect: Dialect) -> _Compiled:
    """SQL text, parameter names in order and their bind processors, for running `statement` on the driver."""
    compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
    names = list(compiled.positiontup or [])
    processors = {}
    for name in names:
        processor = compiled.binds[name].type.bind_processor(dialect)
        if processor is not None:
            processors[name] = processor
    return compiled.string, names, processors


class Database:
    """The engine and session factories of the store.

    `session()` / `transaction()` are for writes (on SQLite they take the write lock at BEGIN);
    `read_session()` is for read-only work. Sessions do not expire objects on commit, so values stay readable
    after the transaction ends.
    """

    def __init__(self, engine: AsyncEngine, *, clock: Clock = utcnow, read_engine: AsyncEngine | None = None) -> None:
        self.engine = engine
        self.clock = clock
        self.dialect_name: str = engine.dialect.name
        self.sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
        # Read-only work: `read_engine` when given (SQLite files: an engine of its own, see `open_database`),
        # else on SQLite a view of `engine` whose transactions begin DEFERRED, sharing its pool.
        if read_engine is not None:
            self.read_engine = read_engine
        elif self.dialect_name == "sqlite":
            self.read_engine = engine.execution_options(**{SQLITE_BEGIN_OPTION: "DEFERRED"})
        else:
            self.read_engine = engine
        self._own_read_engine = read_engine is not None
        self._compiled: dict[Executable, _Compiled] = {}
        # The SQLite file this database opened (`open_database` sets it), and the last health answer logged.
        self.file_watch: _FileWatch | None = None
        self._last_health = "ok"
        self.read_sessionmaker = async_sessionmaker(self.read_engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        """True on SQLite, False on PostgreSQL."""
        return self.dialect_name == "sqlite"

    def session(self) -> AsyncSession:
        """A new session for writes; use as `async with db.session() as s, s.begin(): ...`."""
        return self.sessionmaker()

    def read_session(self) -> AsyncSession:
        """A new session for read-only work (concurrent with writers on SQLite)."""
        return self.read_sessionmaker()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A write session inside a transaction: committed on success, rolled back on error.

        Pass the session to several repository calls (`session=`) to make them one atomic unit.
        """
        async with unavailable_on_outage(), self.sessionmaker() as session, session.begin():
            yield session

    async def execute_once(self, statement: Executable, params: Mapping[str, Any]) -> list[Any]:
        """Run one write statement with named bind parameters as its own transaction; the rows it returns.

        For hot single-statement writes (an upsert), built once (the compiled form is kept per statement). On
        SQLite the statement runs in one call in the driver's thread, with no BEGIN: it holds the write lock only
        while it runs. Inside `transaction()` the lock (and a pooled connection) is held from BEGIN IMMEDIATE to
        COMMIT across half a dozen round trips through the event loop; under load each waits for a busy loop and
        concurrent writers queue behind it in SQLite's busy handler (docs/PERFORMANCE.md). Parameters are
        converted by the columns' own types, so what is stored is what SQLAlchemy would store. Rows (of a
        RETURNING) come as the driver gives them, fetched in the same call, so the statement is finished (and the
        lock free) when it returns. On PostgreSQL it is an ordinary short transaction.
        """
        async with unavailable_on_outage():
            return await self._execute_once(statement, params)

    async def _execute_once(self, statement: Executable, params: Mapping[str, Any]) -> list[Any]:
        if not self.is_sqlite:
            async with self.engine.begin() as conn:
                result = await conn.execute(statement, dict(params))
                return list(result.all()) if result.returns_rows else []
        compiled = self._compiled.get(statement)
        if compiled is None:
            compiled = self._compiled[statement] = _compile_positional(statement, self.engine.dialect)
        sql, names, processors = compiled
        values = [processors[name](params[name]) if name in processors else params[name] for name in names]
        async with self.engine.connect() as conn:
            raw = await conn.get_raw_connection()
            driver: Any = raw.driver_connection  # aiosqlite's Connection
            return list(await driver.execute_fetchall(sql, values))

    async def migrate(self) -> None:
        """Apply the Alembic migrations up to head (a no-op when the schema is current).

        The cheap check first: a database already at the declared head (every restart) is left alone without
        importing Alembic. Anything else (empty, behind, or a head this code cannot tell) goes to Alembic,
        which decides under the migration lock, so instances starting together still migrate once.
        """
        head = declared_head()
        if head is not None and await self.current_revision() == head:
            return
        async with self.engine.begin() as conn:
            await conn.run_sync(_upgrade)

    async def current_revision(self) -> str | None:
        """The Alembic revision the database is at, or None before the first migration (or with several)."""
        async with self.read_engine.connect() as conn:
            return await conn.run_sync(_current_revision)

    async def ping(self, within: float = 5.0) -> bool:
        """True when the database is healthy (`health()` is "ok"), for `/readyz`."""
        return await self.health(within) == "ok"

    async def health(self, within: float = 5.0) -> str:
        """"ok", or what is wrong: "gone", "replaced", "read-only" (the SQLite file), "unreachable" (no answer).

        The file is checked first: a connection keeps a deleted file open, so `SELECT 1` would still pass while
        every write went to a file nobody will find again. A change of state is logged once.
        """
        problem = self.file_watch.problem() if self.file_watch is not None else None
        if problem is None:
            try:
                async with asyncio.timeout(within), self.read_engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
            except Exception as exc:  # a health check reports any failure, it does not raise
                problem = "unreachable"
                detail = type(exc).__name__
            else:
                problem = None
        else:
            detail = str(self.file_watch.path) if self.file_watch is not None else ""
        state = problem or "ok"
        if state != self._last_health:
            if problem is None:
                logger.warning("database healthy again (was %s)", self._last_health)
            else:
                logger.error("database %s: %s", problem, detail)
            self._last_health = state
        return state

    async def close(self) -> None:
        """Close every pooled connection. Call once at shutdown (and in tests, to avoid unclosed connections)."""
        if self._own_read_engine:
            await self.read_engine.dispose()
        await self.engine.dispose()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


async def open_database(
    url: str | URL, *, schema: str | None = None, migrate: bool = True, clock: Clock = utcnow, echo: bool = False
) -> Database:
    """Create the engine for `url`, migrate the schema to head (unless `migrate=False`) and return the Database.

    Several instances may start at once: on PostgreSQL an advisory lock serialises their migrations, on SQLite
    the write lock does.
    """
    read_engine = None
    path = sqlite_file(url)
    existed = path.exists() if path is not None else True
    if path is not None:
        check_not_lost(path)
    if _is_sqlite_file(url):
        # Readers get a pool of their own: with one shared pool, writers waiting for SQLite's write lock held
        # the connections every turn's state read needed (docs/PERFORMANCE.md). In WAL mode readers never wait
        # for the writer.
        engine = create_engine(url, schema=schema, echo=echo)
        read_engine = create_engine(url, schema=schema, echo=echo, sqlite_role="read")
    else:
        engine = create_engine(url, schema=schema, echo=echo)
    db = Database(engine, clock=clock, read_engine=read_engine)
    try:
        if db.is_sqlite:
            await ensure_sqlite_wal(engine)
        if migrate:
            await db.migrate()
    except BaseException:
        await db.close()
        raise
    if path is not None and path.exists():
        db.file_watch = _FileWatch.of(path)
        _remember_created(path, created=not existed)
    if migrate:
        logger.info("database schema at revision %s (%s)", await db.current_revision(), db.dialect_name)
    return db


async def ensure_sqlite_wal(engine: AsyncEngine, *, attempts: int = 40) -> None:
    """Make sure the SQLite database file is in WAL mode, retrying while other connections keep it busy.

    The connect hook tries once per connection; when several processes or engines create the database at
    the same moment that attempt can meet a lock, so `open_database` settles it here, sleeping between tries
    without blocking the event loop.
    """
    mode = None
    for attempt in range(attempts):
        async with engine.connect() as conn:
            # The raw driver connection: PRAGMA journal_mode must run outside a transaction, and SQLAlchemy's
            # own execute would begin one first.
            raw = await conn.get_raw_connection()
            driver: Any = raw.driver_connection
            try:
                async with driver.execute("PRAGMA journal_mode=WAL") as cursor:
                    row = await cursor.fetchone()
                    mode = row[0] if row else None
            except sqlite3.OperationalError as exc:
                logger.debug("WAL switch attempt %d: %s", attempt + 1, exc)
        if mode in _SQLITE_FINAL_JOURNAL_MODES:
            return
        await asyncio.sleep(min(0.01 * 2**attempt, 0.5))
    raise RuntimeError(f"could not switch the SQLite database to WAL mode (journal mode {mode!r})")


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration for the store's migrations, optionally bound to an open connection.

    Built in code, without `alembic.ini`, so running migrations inside the bot never reconfigures its logging.
    """
    from alembic.config import Config  # off the start path: only needed when migrating

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str | None:
    """The newest revision in `store/migrations/versions`, as Alembic reads it."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


_REVISION_LINE = re.compile(r"^(revision|down_revision)\b[^=\n]*=\s*(.+?)\s*$", re.MULTILINE)
_QUOTED = re.compile(r"""["']([^"']+)["']""")


def declared_head() -> str | None:
    """The head revision read from the `revision = …` / `down_revision = …` lines of the migration files.

    What Alembic's `ScriptDirectory` finds, without importing Alembic (tests/unit/test_bench_startup.py checks
    they agree). None when the files do not name exactly one head: the caller then asks Alembic.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in sorted((MIGRATIONS_DIR / "versions").glob("*.py")):
        for key, value in _REVISION_LINE.findall(path.read_text(encoding="utf-8")):
            names = set(_QUOTED.findall(value))
            (revisions if key == "revision" else parents).update(names)
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def lock_for_migration(sync_conn: Connection) -> None:
    """Serialise migrations of concurrently starting instances (PostgreSQL; SQLite's write lock does it there).

    The advisory lock is transaction-scoped: the commit that ends the migration releases it.
    """
    if sync_conn.dialect.name == "postgresql":
        sync_conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_KEY})")


def _upgrade(sync_conn: Connection) -> None:
    from alembic import command

    lock_for_migration(sync_conn)
    command.upgrade(alembic_config(sync_conn), "head")


def _current_revision(sync_conn: Connection) -> str | None:
    # Alembic's version table read directly (MigrationContext would import Alembic on every start). The
    # PostgreSQL schema is the connection's search_path, so the unqualified name finds the right table.
    if not inspect(sync_conn).has_table("alembic_version"):
        return None
    rows = sync_conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return str(rows[0]) if len(rows) == 1 else None

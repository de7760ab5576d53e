"""`Store`: every repository over one `Database`, the object the rest of the bot receives.

    store = await Store.open(settings.effective_database_url)   # migrates to head
    ...
    await store.close()
"""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.engine import URL

from store.app_settings import AppSettings
from store.audit_log import AuditLog
from store.cases import CaseRepository
from store.claims import ActionClaims
from store.conversations import ConversationRefs
from store.db import Clock, Database, open_database, utcnow
from store.leases import Leases
from store.restrictions import RestrictionsSeen


class Store:
    """The repositories of the store, sharing one database (and its clock)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.cases = CaseRepository(db)
        self.audit = AuditLog(db)
        self.claims = ActionClaims(db)
        self.leases = Leases(db)
        self.restrictions = RestrictionsSeen(db)
        self.settings = AppSettings(db)
        self.conversations = ConversationRefs(db)

    @classmethod
    async def open(
        cls, url: str | URL, *, schema: str | None = None, migrate: bool = True, clock: Clock = utcnow
    ) -> Store:
        """Open the database at `url` (migrating it to head unless `migrate=False`) and build the repositories."""
        return cls(await open_database(url, schema=schema, migrate=migrate, clock=clock))

    async def ping(self) -> bool:
        """True when the database answers (for `/readyz`)."""
        return await self.db.ping()

    async def close(self) -> None:
        """Close the database's connections."""
        await self.db.close()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

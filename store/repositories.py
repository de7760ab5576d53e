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
from store.events import EventOutbox
from store.leases import Leases
from store.restrictions import RestrictionsSeen


class Store:
    """The repositories of the store, sharing one database (and its clock).

    `events=True` (a webhook is configured) makes the cases and the audit log write their events to the outbox
    (`store.events`); without it nothing is written there.
    """

    def __init__(self, db: Database, *, events: bool = False) -> None:
        self.db = db
        self.events = EventOutbox(db, enabled=events)
        self.cases = CaseRepository(db, events=self.events)
        self.audit = AuditLog(db, events=self.events)
        self.claims = ActionClaims(db)
        self.leases = Leases(db)
        self.restrictions = RestrictionsSeen(db)
        self.settings = AppSettings(db)
        self.conversations = ConversationRefs(db)

    @classmethod
    async def open(
        cls, url: str | URL, *, schema: str | None = None, migrate: bool = True, clock: Clock = utcnow,
        events: bool = False,
    ) -> Store:
        """Open the database at `url` (migrating it to head unless `migrate=False`) and build the repositories;
        `events` turns the webhook's outbox on."""
        return cls(await open_database(url, schema=schema, migrate=migrate, clock=clock), events=events)

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

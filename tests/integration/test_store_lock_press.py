"""A press while the store cannot write (issue 18): "could not record the action, nothing was done", and the tenant
is never called without its audit row.

Before: a SQLite write lock held 15 s made an Unblock press answer 501 with a traceback. Here another connection
holds the write lock (`BEGIN IMMEDIATE`) longer than the store's busy timeout (shortened for the test), over HTTP
against the whole app and the demo tenant.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from store import db as store_db
from tests.integration.test_remediation_demo import UNBLOCK
from tests.integration.test_remediation_http import (  # noqa: F401 - `app` is the fixture
    App,
    app,
    investigate_adele_twice,
)
from tests.integration.test_remediation_policy import shown
from tests.integration.test_triage_http import MESSAGE, card_in

BUSY_TIMEOUT_MS = 300


@pytest.fixture
def short_busy_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """Writers give up on the lock after 0.3 s (the production 15 s would make the test slow, not different)."""
    monkeypatch.setattr(store_db, "SQLITE_BUSY_TIMEOUT_MS", BUSY_TIMEOUT_MS)


@pytest.fixture
def locked_app(short_busy_timeout: None, app: App) -> App:  # noqa: F811 - the imported fixture
    """The app, its store opened with the short busy timeout (this fixture orders the two)."""
    return app


@asynccontextmanager
async def write_lock(path: Path) -> AsyncIterator[None]:
    """Another connection holds SQLite's write lock until the block ends. Taken in a thread: the app may be inside
    a short write of its own, which needs the event loop to finish."""
    holder = sqlite3.connect(path, isolation_level=None, timeout=10, check_same_thread=False)
    try:
        await asyncio.to_thread(holder.execute, "BEGIN IMMEDIATE")
        yield
        holder.execute("ROLLBACK")
    finally:
        holder.close()


async def test_a_press_under_a_write_lock_does_nothing_and_says_so(locked_app: App, tmp_path: Path,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    app = locked_app  # noqa: F811 - the fixture, under its short name
    case = await investigate_adele_twice(app)
    caplog.set_level(logging.INFO)
    async with write_lock(tmp_path / "bot.db"):
        status, body = await app.press("unblock", {"caseId": case.id, "confirm": "1"})
        assert status == 200 and (body["statusCode"], body["type"]) == (200, MESSAGE)
        assert body["value"].startswith("Could not record the action, so nothing was done")
        assert app.server.state.requests.matching(cmdlet=UNBLOCK) == []
        status, body = await app.press("unblock", {"caseId": case.id, "confirm": "1"}, locale="nl-NL")
        assert body["value"].startswith("Kon de actie niet vastleggen, dus er is niets gedaan")
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info is not None]
    # Nothing was claimed or audited, so once the lock is gone the same press acts, exactly once.
    assert await app.store.audit.list(case_id=case.id) == []
    assert app.server.state.requests.matching(cmdlet=UNBLOCK) == []
    status, body = await app.press("unblock", {"caseId": case.id, "confirm": "1"})
    assert status == 200 and "Unblocked by Alex Wilber" in shown(card_in(body))
    assert len(app.server.state.requests.matching(cmdlet=UNBLOCK)) == 1
    assert [e.outcome for e in await app.store.audit.list(case_id=case.id) if e.action == "unblock"] == [
        "started", "succeeded"]


async def test_a_bulk_unblock_under_a_write_lock_names_each_account(locked_app: App, tmp_path: Path) -> None:
    app = locked_app  # noqa: F811 - the fixture, under its short name
    await app.say("triage")
    await app.recorder.wait_for(2)
    status, body = await app.press("triage_unblock", {})
    confirmation = card_in(body)
    async with write_lock(tmp_path / "bot.db"):
        status, body = await app.press("triage_unblock", confirmation["actions"][0]["data"])
    assert status == 200
    result = card_in(body)
    assert "Bulk unblock: 0 unblocked, 0 skipped, 1 failed" in " ".join(shown(result).split("  "))
    assert "nothing was done" in shown(result)
    assert app.server.state.requests.matching(cmdlet=UNBLOCK) == []
    assert await app.store.audit.list() == []

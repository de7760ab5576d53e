"""Turns while the bot's database is down (issue 18): answered without state, nothing done, nothing overwritten.

Before: a turn whose conversation state could not be read (teams/app.py -> teams/storage.py -> store/bot_state.py)
died in the Agents SDK's state load: a message got "Sorry, something went wrong" with a traceback, a press HTTP 501.
Now (`teams.outage`), over HTTP against the whole app on SQLite:

- the database file unreachable (the engines' connections closed, a directory where the file was, so SQLite cannot
  open it): a message gets the neutral "I can't save anything right now" in the speaker's language, `help` the help
  card, a press HTTP 200 "could not record the action, so nothing was done" and the tenant is not called; one
  WARNING for the outage, no ERROR, no traceback; the dialog stored before the outage is the same row (document
  and e-tag) after it, and it continues;
- a write lock held past the busy timeout: a turn whose state cannot be SAVED leaves the stored dialog as it was
  and says so.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot import create_app
from config import Settings
from locales import t
from m365.records import User
from store import Actor, Store
from store import db as store_db
from teams.invoke import MESSAGE_CONTENT_TYPE
from teams.storage import SqlStorage
from tests.activities import ALEX, MEGAN, TENANT_ID, invoke, message
from tests.connector import RecordingConnector
from tests.fakes import SECURITY_ADMIN_GROUP, FakeTenant, group

MEGAN_B = User(id=MEGAN.aad_object_id, user_principal_name="MeganB@example.com", display_name="Megan Bowen",
               mail="MeganB@example.com", mail_nickname="MeganB", department="Marketing")
CONVERSATION = "personal-alex"
STATE_KEY = f"msteams/conversations/{CONVERSATION}"
BUSY_TIMEOUT_MS = 300


@dataclass
class Bot:
    client: TestClient[Any, Any]
    recorder: RecordingConnector
    service_url: str
    store: Store
    tenant: FakeTenant
    path: Path

    async def say(self, text: str, *, locale: str = "en-US") -> list[dict[str, Any]]:
        """POST a message; the bodies the bot sent for it."""
        before = len(self.recorder.messages())
        response = await self.client.post("/api/messages", json=message(
            text, service_url=self.service_url, conversation_id=CONVERSATION, locale=locale))
        assert response.status == 201
        return [sent.body for sent in self.recorder.messages()[before:]]

    async def press(self, verb: str, data: dict[str, Any]) -> tuple[int, Any]:
        response = await self.client.post("/api/messages", json=invoke(verb, data, service_url=self.service_url,
                                                                       conversation_id=CONVERSATION))
        return response.status, await response.json()

    async def stored(self) -> tuple[Any, str]:
        """The stored conversation state: (its dialog stack's length, its e-tag)."""
        item = (await SqlStorage(self.store.db).read([STATE_KEY]))[STATE_KEY]
        return len(item["DialogState"].dialog_stack), item["e_tag"]


@pytest.fixture
async def bot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Bot]:
    # Writers give up on a held lock after 0.3 s (production: 15 s; slower, not different).
    monkeypatch.setattr(store_db, "SQLITE_BUSY_TIMEOUT_MS", BUSY_TIMEOUT_MS)
    recorder = RecordingConnector()
    service_url = await recorder.start()
    path = tmp_path / "bot.db"
    store = await Store.open(f"sqlite+aiosqlite:///{path}")
    tenant = FakeTenant(users=[MEGAN_B], memberships={ALEX.aad_object_id: [group(SECURITY_ADMIN_GROUP, "Admins")]})
    settings = Settings(data_dir=tmp_path, security_admin_group_id=SECURITY_ADMIN_GROUP)
    client: TestClient[Any, Any] = TestClient(TestServer(create_app(settings, tenant=tenant, store=store)))
    await client.start_server()
    try:
        yield Bot(client, recorder, service_url, store, tenant, path)
    finally:
        await client.close()
        await store.close()
        await recorder.close()


@contextmanager
def file_unreachable(path: Path) -> Iterator[None]:
    """SQLite cannot open the database file until the block ends: the file (and its WAL files) moved away and a
    directory in its place. The caller closes the pooled connections first (they would keep the moved file)."""
    moved = [(p, p.with_name(p.name + ".away")) for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"))
             if p.exists()]
    for src, dst in moved:
        os.rename(src, dst)
    path.mkdir()
    try:
        yield
    finally:
        path.rmdir()
        for src, dst in moved:
            os.rename(dst, src)


async def close_connections(store: Store) -> None:
    await store.db.read_engine.dispose()
    await store.db.engine.dispose()


@asynccontextmanager
async def write_lock(path: Path) -> AsyncIterator[None]:
    """Another connection holds SQLite's write lock until the block ends (taken in a thread: the app may be inside
    a short write of its own, which needs the event loop to finish)."""
    holder = sqlite3.connect(path, isolation_level=None, timeout=10, check_same_thread=False)
    try:
        await asyncio.to_thread(holder.execute, "BEGIN IMMEDIATE")
        yield
        holder.execute("ROLLBACK")
    finally:
        holder.close()


def texts(bodies: list[dict[str, Any]]) -> list[str]:
    return [body["text"] for body in bodies if body.get("text")]


def card_texts(bodies: list[dict[str, Any]]) -> str:
    return repr([a.get("content") for body in bodies for a in body.get("attachments") or []])


def unhandled(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info is not None]


async def test_turns_answer_while_the_database_is_unreachable_and_the_stored_dialog_survives(
        bot: Bot, caplog: pytest.LogCaptureFixture) -> None:
    assert texts(await bot.say("investigate")) == [t("en-US", "investigate.ask")]
    before = await bot.stored()
    assert before[0] == 1, "the question waits in the stored dialog"
    opened = await bot.store.cases.open_or_get_case(TENANT_ID, MEGAN_B.id, MEGAN_B.user_principal_name,
                                                    MEGAN_B.display_name, Actor(id=ALEX.aad_object_id))
    calls_before = len(bot.tenant.calls)
    caplog.set_level(logging.INFO)

    await close_connections(bot.store)
    with file_unreachable(bot.path):
        # The answer to the waiting question cannot be handled without the dialog: neutral, nothing started.
        assert texts(await bot.say("MeganB@example.com")) == [t("en-US", "error.store_unavailable")]
        assert texts(await bot.say("onderzoek MeganB@example.com", locale="nl-NL")) == [
            t("nl-NL", "error.store_unavailable")]
        assert t("en-US", "help.title") in card_texts(await bot.say("help")), "help needs no state"
        status, body = await bot.press("unblock", {"caseId": opened.case.id, "confirm": "1"})
        assert status == 200 and (body["statusCode"], body["type"]) == (200, MESSAGE_CONTENT_TYPE)
        assert body["value"] == t("en-US", "remediation.store.not_recorded")
    # Nothing reached the tenant during the outage (no lookup, no unblock).
    assert bot.tenant.calls[calls_before:] == []
    assert not bot.tenant.called("remove_blocked_sender")
    assert unhandled(caplog) == []
    warnings = [r for r in caplog.records if r.name == "teams.outage" and r.levelno == logging.WARNING]
    assert len(warnings) == 1, "one WARNING for the outage, not one per turn"

    # Back: the stored dialog is the one from before (same row, same e-tag), and it goes on from its question.
    assert await bot.stored() == before
    after = await bot.say("MeganB@example.com")
    assert "Megan Bowen" in card_texts(after), "the stored question is answered: the investigation starts"
    assert any(r.name == "teams.outage" and "available again" in r.getMessage() for r in caplog.records)
    assert unhandled(caplog) == []


async def test_a_turn_whose_state_cannot_be_saved_leaves_the_stored_dialog(bot: Bot,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    assert texts(await bot.say("investigate")) == [t("en-US", "investigate.ask")]
    before = await bot.stored()
    caplog.set_level(logging.INFO)
    async with write_lock(bot.path):
        # "cancel" ends the dialog in the turn, but the end cannot be stored: said, and the stored dialog kept.
        replies = texts(await bot.say("cancel"))
        assert replies == [t("en-US", "cancel.done"), t("en-US", "error.store_unavailable")]
        assert await bot.stored() == before
    assert unhandled(caplog) == []
    assert await bot.stored() == before
    after = await bot.say("MeganB@example.com")
    assert "Megan Bowen" in card_texts(after), "the stored question is answered: the investigation starts"


async def test_a_store_failure_during_a_message_turn_answers_neutrally(bot: Bot,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    """The state was read, then a write of the turn (the investigation's case) failed: neutral, state kept."""
    assert texts(await bot.say("investigate")) == [t("en-US", "investigate.ask")]
    before = await bot.stored()
    caplog.set_level(logging.INFO)
    async with write_lock(bot.path):
        before_sent = len(bot.recorder.sent)
        replies = texts(await bot.say("MeganB@example.com"))
        assert replies == [t("en-US", "error.store_unavailable")], "said once"
        # It replaced the progress card (never "looking into" for ever): a PUT of that card's id.
        progress, note = bot.recorder.sent[before_sent:]
        assert (progress.method, note.method, note.activity_id) == ("POST", "PUT", progress.activity_id)
    assert unhandled(caplog) == []
    assert await bot.stored() == before

"""Which turns write conversation state: only those that leave something worth storing (docs/PERFORMANCE.md).

A one-turn answer (`help`) in a conversation with no stored state writes nothing (`teams.storage.nothing_to_store`,
tested with the storage); a turn that starts a dialog stores it; a stored dialog that ends is stored as ended
(never left behind), and a dialog continues from the store on a handler that did not start it (a second instance).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot import build_handler
from config import Settings
from m365.records import User
from store import Store
from store.models import BotStateRow
from teams.storage import SqlStorage
from tests.activities import ALEX, MEGAN
from tests.dialog_client import DialogClient, cards_of, texts_of
from tests.fakes import SECURITY_ADMIN_GROUP, FakeTenant, group
from tests.report_fakes import RecordingOutbox

MEGAN_B = User(id=MEGAN.aad_object_id, user_principal_name="MeganB@example.com", display_name="Megan Bowen",
               mail="MeganB@example.com", mail_nickname="MeganB", department="Marketing")
SETTINGS = Settings(security_admin_group_id=SECURITY_ADMIN_GROUP)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    yield opened
    await opened.close()


def tenant() -> FakeTenant:
    return FakeTenant(users=[MEGAN_B], memberships={ALEX.aad_object_id: [group(SECURITY_ADMIN_GROUP, "Admins")]})


def chat(fake: FakeTenant, store: Store, conversation_id: str) -> DialogClient:
    bot, _ = build_handler(SETTINGS, tenant=fake, store=store, outbox=RecordingOutbox())
    return DialogClient(bot, ALEX, conversation_id=conversation_id)


async def stored_stacks(store: Store) -> dict[str, int]:
    """Conversation-state rows: storage key -> length of the stored dialog stack."""
    async with store.db.read_session() as session:
        keys = [key for key in (await session.execute(select(BotStateRow.key))).scalars() if "/conversations/" in key]
    items = await SqlStorage(store.db).read(keys)
    return {key: len(item["DialogState"].dialog_stack) for key, item in items.items()}


async def test_help_in_a_new_conversation_writes_no_state(store: Store) -> None:
    fake = tenant()
    first = chat(fake, store, "personal-help")
    for _ in range(3):
        assert cards_of(await first.say("help")), "every help turn is answered with the help card"
    assert await stored_stacks(store) == {}


async def test_a_started_dialog_is_stored_then_continued_and_its_end_is_stored(store: Store) -> None:
    fake = tenant()
    # A partial name: the confirmation question is pending (an exact address would ask nothing).
    asked = texts_of(await chat(fake, store, "personal-dialog").say("investigate Megan"))
    assert any("Megan Bowen" in text for text in asked)
    stacks = await stored_stacks(store)
    assert len(stacks) == 1 and next(iter(stacks.values())) > 0, stacks
    # Another handler (as on another instance) finds the question in the store and the dialog ends there.
    other = chat(fake, store, "personal-dialog")
    assert texts_of(await other.say("cancel"))
    assert list((await stored_stacks(store)).values()) == [0]
    # A help turn afterwards keeps the stored (ended) state as it is: nothing changed, nothing written.
    assert cards_of(await other.say("help"))
    assert list((await stored_stacks(store)).values()) == [0]


"""A turn reads what it needs from the store and no more: the conversation's state, once.

The SDK's `AgentApplication` would also read the user's state and a sign-in state on every turn (two more SQL
round trips); the bot keeps nothing per user and uses no sign-in flow (`teams.app.ConversationTurnState`, the
in-memory `Authorization` storage)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot import build_handler
from config import Settings
from store import Store
from teams.storage import SqlStorage
from tests.activities import ALEX
from tests.dialog_client import DialogClient, texts_of
from tests.fakes import SECURITY_ADMIN_GROUP, FakeTenant, group
from tests.report_fakes import RecordingOutbox


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    yield opened
    await opened.close()


async def test_a_help_turn_and_a_press_read_only_the_conversation_state(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tenant = FakeTenant(memberships={ALEX.aad_object_id: [group(SECURITY_ADMIN_GROUP, "Security Admins")]})
    settings = Settings(data_dir=tmp_path, security_admin_group_id=SECURITY_ADMIN_GROUP)
    bot, _ = build_handler(settings, tenant=tenant, store=store, outbox=RecordingOutbox())
    keys: list[list[str]] = []
    read = SqlStorage.read

    async def counting(self: SqlStorage, wanted: Any, **kwargs: Any) -> Any:
        keys.append(list(wanted))
        return await read(self, wanted, **kwargs)

    monkeypatch.setattr(SqlStorage, "read", counting)
    client = DialogClient(bot, ALEX, conversation_id="personal-alex")
    assert any("security admin" in text for text in texts_of(await client.say("help")))
    assert keys == [["msteams/conversations/personal-alex"]]
    keys.clear()
    response = await client.press("launch_missiles")
    assert response is not None and response.status == 200
    assert keys == [["msteams/conversations/personal-alex"]]

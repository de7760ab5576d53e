"""SqlStorage: Bot Framework storage semantics, e-tag concurrency, and dialogs surviving a restart."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from botbuilder.core import ConversationState, MessageFactory, StoreItem, TurnContext, UserState
from botbuilder.core.adapters import TestAdapter
from botbuilder.dialogs import (
    DialogSet,
    DialogTurnResult,
    DialogTurnStatus,
    PromptOptions,
    PromptValidatorContext,
    TextPrompt,
    WaterfallDialog,
    WaterfallStepContext,
)
from botframework.connector import Channels
from sqlalchemy import select

from store import Database, EtagConflict
from store.bot_state import key_hash
from store.models import BotStateRow
from teams.storage import SqlStorage
from tests.store_fixtures import DbTarget


class Profile(StoreItem):  # type: ignore[misc]
    """A user-state object (not a dict) that must come back as the same class."""

    def __init__(self, name: str = "", languages: list[str] | None = None, since: datetime | None = None) -> None:
        super().__init__()
        self.name = name
        self.languages = languages or []
        self.since = since


@pytest.fixture
def storage(database: Database) -> SqlStorage:
    return SqlStorage(database)


# Botbuilder's storage contract (as in botbuilder-testing's StorageBaseTests) ----------------------------------


async def test_unknown_and_empty_keys_read_as_empty(storage: SqlStorage) -> None:
    assert await storage.read(["unknown"]) == {}
    assert await storage.read([]) == {}
    assert await storage.read(None) == {}


async def test_write_none_is_refused_and_nothing_is_fine(storage: SqlStorage) -> None:
    with pytest.raises(ValueError) as err:
        await storage.write(None)
    assert err.value.args[0] == "Changes are required when writing"
    await storage.write({})


async def test_create_object(storage: SqlStorage) -> None:
    await storage.write({"createPoco": {"id": 1}, "createPocoStoreItem": {"id": 2, "e_tag": "*"}})
    items = await storage.read(["createPoco", "createPocoStoreItem"])
    assert items["createPoco"]["id"] == 1
    assert items["createPocoStoreItem"]["id"] == 2
    assert items["createPoco"]["e_tag"]
    assert items["createPocoStoreItem"]["e_tag"]


async def test_crazy_and_long_keys(storage: SqlStorage) -> None:
    crazy = '!@#$%^&*()_+??><":QASD~`'
    long = "msteams/conversations/19:" + "x" * 3000 + "@thread.tacv2;messageid=1/"
    await storage.write({crazy: {"id": 1}, long: {"id": 2}})
    items = await storage.read([crazy, long])
    assert items[crazy]["id"] == 1
    assert items[long]["id"] == 2


async def test_update_object(storage: SqlStorage) -> None:
    await storage.write({"pocoItem": {"id": 1, "count": 1}, "pocoStoreItem": {"id": 1, "count": 1, "e_tag": "*"}})
    loaded = await storage.read(["pocoItem", "pocoStoreItem"])
    poco, store_item = loaded["pocoItem"], loaded["pocoStoreItem"]
    poco["e_tag"] = None
    poco["count"] += 1
    store_item["count"] += 1
    await storage.write(loaded)
    reloaded = await storage.read(["pocoItem", "pocoStoreItem"])
    assert reloaded["pocoItem"]["count"] == 2
    assert reloaded["pocoStoreItem"]["count"] == 2

    # Without an e-tag the last write wins; with the old e-tag the write is refused.
    poco["count"] = 123
    await storage.write({"pocoItem": poco})
    store_item["count"] = 123
    with pytest.raises(EtagConflict) as err:
        await storage.write({"pocoStoreItem": store_item})
    assert "Etag conflict" in str(err.value)
    assert isinstance(err.value, KeyError)  # MemoryStorage raises KeyError too
    after = await storage.read(["pocoItem", "pocoStoreItem"])
    assert after["pocoItem"]["count"] == 123
    assert after["pocoStoreItem"]["count"] == 2

    # The wildcard e-tag overwrites.
    wildcard = after["pocoStoreItem"]
    wildcard["count"], wildcard["e_tag"] = 100, "*"
    await storage.write({"pocoStoreItem": wildcard})
    assert (await storage.read(["pocoStoreItem"]))["pocoStoreItem"]["count"] == 100

    # An empty e-tag is refused.
    empty = (await storage.read(["pocoStoreItem"]))["pocoStoreItem"]
    empty["e_tag"] = ""
    with pytest.raises(ValueError):
        await storage.write({"pocoStoreItem": empty})
    assert (await storage.read(["pocoStoreItem"]))["pocoStoreItem"]["count"] == 100


async def test_every_write_gets_a_fresh_etag(storage: SqlStorage) -> None:
    await storage.write({"k": {"v": 1}})
    first = (await storage.read(["k"]))["k"]
    await storage.write({"k": first})
    second = (await storage.read(["k"]))["k"]
    assert first["e_tag"] != second["e_tag"]
    # The e-tag is not part of the stored document (it would go stale there).
    assert second == {"v": 1, "e_tag": second["e_tag"]}


async def test_etag_on_a_new_key_creates_it(storage: SqlStorage) -> None:
    await storage.write({"new": {"v": 1, "e_tag": "some-old-etag"}})
    assert (await storage.read(["new"]))["new"]["v"] == 1


async def test_a_conflict_writes_nothing_of_the_batch(storage: SqlStorage) -> None:
    await storage.write({"a": {"v": 1}, "b": {"v": 1}})
    stale = (await storage.read(["b"]))["b"]
    await storage.write({"b": {"v": 2}})
    with pytest.raises(EtagConflict):
        await storage.write({"a": {"v": 99}, "b": {**stale, "v": 99}})
    items = await storage.read(["a", "b"])
    assert (items["a"]["v"], items["b"]["v"]) == (1, 2)


async def test_delete(storage: SqlStorage) -> None:
    await storage.write({"delete1": {"id": 1, "count": 1, "e_tag": "*"}, "keep": {"id": 2}})
    assert (await storage.read(["delete1"]))["delete1"]["count"] == 1
    await storage.delete(["delete1", "unknown_key"])
    await storage.delete([])
    assert await storage.read(["delete1", "keep"]) == {"keep": {"id": 2, "e_tag": (await storage.read(["keep"]))[
        "keep"]["e_tag"]}}


async def test_batch_operations(storage: SqlStorage) -> None:
    await storage.write({"batch1": {"count": 10}, "batch2": {"count": 20}, "batch3": {"count": 30}})
    result = await storage.read(["batch1", "batch2", "batch3"])
    assert [result[k]["count"] for k in ("batch1", "batch2", "batch3")] == [10, 20, 30]
    await storage.delete(["batch1", "batch2", "batch3"])
    assert await storage.read(["batch1", "batch2", "batch3"]) == {}


async def test_store_item_objects_round_trip(storage: SqlStorage) -> None:
    since = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    await storage.write({"profile": Profile("Megan", ["nl", "en"], since)})
    item = (await storage.read(["profile"]))["profile"]
    assert isinstance(item, Profile)
    assert (item.name, item.languages, item.since) == ("Megan", ["nl", "en"], since)
    assert item.e_tag
    item.name = "Megan B."
    await storage.write({"profile": item})  # its own e-tag: accepted
    with pytest.raises(EtagConflict):
        await storage.write({"profile": item})  # same e-tag again: now stale


# Concurrency ---------------------------------------------------------------------------------------------------


async def test_two_writers_with_the_same_etag_exactly_one_wins(db_target: DbTarget, database: Database) -> None:
    # A second Database is a second process as far as the database can tell: its own engine and connections.
    other = await db_target.open()
    try:
        first, second = SqlStorage(database), SqlStorage(other)
        await first.write({"conv": {"turn": 0}})
        etag = (await first.read(["conv"]))["conv"]["e_tag"]

        results = await asyncio.gather(
            *(store.write({"conv": {"turn": n, "e_tag": etag}}) for n, store in enumerate([first, second] * 5, 1)),
            return_exceptions=True,
        )
        winners = [n for n, r in enumerate(results, 1) if r is None]
        assert len(winners) == 1, results
        assert all(isinstance(r, EtagConflict) for r in results if r is not None), results
        assert (await second.read(["conv"]))["conv"]["turn"] == winners[0]
    finally:
        await other.close()


async def test_concurrent_last_write_wins_writers_all_succeed(storage: SqlStorage) -> None:
    await asyncio.gather(*(storage.write({"k": {"n": n}}) for n in range(8)))
    assert (await storage.read(["k"]))["k"]["n"] in range(8)


# Real bot state ------------------------------------------------------------------------------------------------


def _report_bot(storage: SqlStorage) -> TestAdapter:
    """A fresh bot over `storage`: a waterfall that asks for an account and a reason, then confirms."""
    conversation_state = ConversationState(storage)
    user_state = UserState(storage)
    profile_property = user_state.create_property("profile")
    dialogs = DialogSet(conversation_state.create_property("DialogState"))
    dialogs.add(TextPrompt("text"))

    async def looks_like_an_address(prompt: PromptValidatorContext) -> bool:
        return bool(prompt.recognized.succeeded and "@" in prompt.recognized.value)

    dialogs.add(TextPrompt("account", looks_like_an_address))

    async def ask_account(step: WaterfallStepContext) -> DialogTurnResult:
        step.values["started"] = datetime(2025, 11, 28, 9, 0, tzinfo=UTC)
        return await step.prompt(
            "account",
            PromptOptions(
                prompt=MessageFactory.text("Which account?"),
                retry_prompt=MessageFactory.text("Please give an e-mail address."),
            ),
        )

    async def ask_reason(step: WaterfallStepContext) -> DialogTurnResult:
        step.values["account"] = step.result
        return await step.prompt("text", PromptOptions(prompt=MessageFactory.text(f"Why {step.result}?")))

    async def confirm(step: WaterfallStepContext) -> DialogTurnResult:
        profile = await profile_property.get(step.context, Profile)
        profile.name = step.values["account"]
        await step.context.send_activity(
            f"Case for {step.values['account']}: {step.result} (since {step.values['started']:%H:%M})"
        )
        return await step.end_dialog()

    dialogs.add(WaterfallDialog("report", [ask_account, ask_reason, confirm]))

    async def logic(turn_context: TurnContext) -> None:
        dialog_context = await dialogs.create_context(turn_context)
        result = await dialog_context.continue_dialog()
        if result.status == DialogTurnStatus.Empty:
            await dialog_context.begin_dialog("report")
        await conversation_state.save_changes(turn_context)
        await user_state.save_changes(turn_context)

    return TestAdapter(logic)


async def _turn(target: DbTarget, text: str) -> list[Any]:
    """One turn on a freshly opened database and freshly built bot, as after a process restart."""
    db = await target.open()
    try:
        adapter = _report_bot(SqlStorage(db))
        await adapter.send(text)
        return [activity.text for activity in adapter.activity_buffer]
    finally:
        await db.close()


async def test_a_restart_loses_no_dialog(db_target: DbTarget) -> None:
    assert await _turn(db_target, "hi") == ["Which account?"]
    # The prompt's options (Activity objects) come back from storage: the retry prompt is sent after a restart.
    assert await _turn(db_target, "Megan") == ["Please give an e-mail address."]
    assert await _turn(db_target, "MeganB@example.com") == ["Why MeganB@example.com?"]
    assert await _turn(db_target, "my mail bounces") == ["Case for MeganB@example.com: my mail bounces (since 09:00)"]

    db = await db_target.open()
    try:
        storage = SqlStorage(db)
        user_key = "%s/users/User1" % Channels.test  # botbuilder formats the enum member, not its value
        profile = (await storage.read([user_key]))[user_key]["profile"]
        assert isinstance(profile, Profile) and profile.name == "MeganB@example.com"
        # The dialog ended: the next message starts over.
        conversation_key = "%s/conversations/Convo1" % Channels.test
        state = (await storage.read([conversation_key]))[conversation_key]
        assert state["DialogState"].dialog_stack == []
        async with db.read_session() as session:
            document = await session.scalar(
                select(BotStateRow.document).where(BotStateRow.key_hash == key_hash(conversation_key))
            )
        assert document is not None
        assert document["DialogState"]["py/object"] == "botbuilder.dialogs.dialog_state.DialogState"
    finally:
        await db.close()
    assert await _turn(db_target, "hello again") == ["Which account?"]

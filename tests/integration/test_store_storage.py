"""SqlStorage: the Agents SDK storage contract, e-tags, the state codec, and dialogs surviving a restart."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from microsoft_agents.activity import Activity, ActivityTypes, ChannelAccount, ConversationAccount, ResourceResponse
from microsoft_agents.hosting.core import (
    ChannelAdapter,
    ConversationState,
    MessageFactory,
    StoreItem,
    TurnContext,
    UserState,
)
from microsoft_agents.hosting.core.state.agent_state import CachedAgentState
from microsoft_agents.hosting.dialogs import (
    DialogInstance,
    DialogSet,
    DialogState,
    DialogTurnResult,
    DialogTurnStatus,
    WaterfallDialog,
    WaterfallStepContext,
)
from microsoft_agents.hosting.dialogs.choices import Choice, ListStyle
from microsoft_agents.hosting.dialogs.prompts import PromptOptions, PromptValidatorContext, TextPrompt
from sqlalchemy import select

from store import Database, EtagConflict
from store.bot_state import BotStates, key_hash
from store.models import BotStateRow
from teams.storage import SqlStorage, decode, encode, nothing_to_store
from tests.store_fixtures import DbTarget


class Profile(StoreItem):
    """A user-state object (not a dict) that must come back as the same class."""

    def __init__(self, name: str = "", languages: list[str] | None = None, since: datetime | None = None,
                 e_tag: str | None = None) -> None:
        self.name = name
        self.languages = languages or []
        self.since = since
        self.e_tag = e_tag

    def store_item_to_json(self) -> dict[str, Any]:
        return {"name": self.name, "languages": self.languages, "since": self.since, "e_tag": self.e_tag}

    @staticmethod
    def from_json_to_store_item(json_data: Any) -> Profile:
        return Profile(**json_data)


@pytest.fixture
def storage(database: Database) -> SqlStorage:
    return SqlStorage(database)


# The storage contract (botbuilder-testing's StorageBaseTests, kept; the SDK's own checks are weaker) -----------


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
    item = (await storage.read(["profile"], target_cls=Profile))["profile"]
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


# The codec ------------------------------------------------------------------------------------------------------


def test_dialog_state_round_trips_through_json() -> None:
    options = PromptOptions(
        prompt=MessageFactory.text("Which one?"),
        retry_prompt=MessageFactory.text("Pick one of the list."),
        choices=[Choice("Megan Bowen (MeganB@example.com)"), Choice("Alex Wilber", synonyms=["alex"])],
        style=ListStyle.hero_card,
    )
    values = {"candidates": ["id-1", "id-2"], "started": datetime(2025, 11, 28, 9, 0, tzinfo=UTC),
              "odd": {"$type": "not ours"}}
    state = DialogState([DialogInstance("investigate", {"dialogs": DialogState([DialogInstance(
        "investigate.choice", {"options": options, "state": {"attemptCount": 1}})]), "values": values})])
    document = json.loads(json.dumps(encode(state)))  # plain JSON: no object survives by reference
    assert "py/object" not in json.dumps(document)
    back = decode(document)
    assert isinstance(back, DialogState) and isinstance(back.dialog_stack[0], DialogInstance)
    inner = back.dialog_stack[0].state["dialogs"].dialog_stack[0]
    restored = inner.state["options"]
    assert isinstance(restored, PromptOptions) and isinstance(restored.prompt, Activity)
    assert restored.prompt.text == "Which one?" and restored.retry_prompt.text == "Pick one of the list."
    assert restored.choices == options.choices and restored.style is ListStyle.hero_card
    assert back.dialog_stack[0].state["values"] == values


def test_the_codec_refuses_what_it_cannot_restore() -> None:
    with pytest.raises(TypeError):
        encode({"x": object()})
    with pytest.raises(ValueError):
        decode({"$type": "os.system", "$value": "rm -rf /"})  # only the fixed list of SDK types, never an import


def test_nothing_to_store_only_for_a_never_stored_empty_dialog_stack() -> None:
    assert nothing_to_store({"DialogState": DialogState()})
    assert not nothing_to_store({"DialogState": DialogState(), "e_tag": "1"})  # stored before: written
    assert not nothing_to_store({"DialogState": DialogState([DialogInstance()])})
    assert not nothing_to_store({"DialogState": DialogState(), "other": 1})
    assert not nothing_to_store({"DialogState": {"dialog_stack": []}})
    assert not nothing_to_store({})
    assert not nothing_to_store(None)


async def test_a_never_stored_empty_dialog_stack_is_not_written(storage: SqlStorage) -> None:
    await storage.write({"conv": CachedAgentState({"DialogState": DialogState()})})
    assert await storage.read(["conv"]) == {}
    await storage.write({"conv": CachedAgentState({"DialogState": DialogState([DialogInstance("x")])})})
    stored = (await storage.read(["conv"], target_cls=CachedAgentState))["conv"]
    stored.state["DialogState"].dialog_stack.clear()
    await storage.write({"conv": stored})  # stored before: its end is stored too
    assert (await storage.read(["conv"], target_cls=CachedAgentState))["conv"].state["DialogState"] == DialogState()


async def test_state_of_the_botbuilder_version_is_dropped_not_fatal(database: Database, storage: SqlStorage) -> None:
    """An upgraded deployment: a dialog pickled by the botbuilder version starts over, the rest is kept."""
    legacy = {"DialogState": {"py/object": "botbuilder.dialogs.dialog_state.DialogState", "_dialog_stack": []},
              "count": 3}
    await BotStates(database).write([("msteams/conversations/old", None, legacy)])
    item = (await storage.read(["msteams/conversations/old"], target_cls=CachedAgentState))[
        "msteams/conversations/old"]
    assert item.state == {"count": 3, "e_tag": item.state["e_tag"]}
    await storage.write({"msteams/conversations/old": item})  # its e-tag: the next save replaces the old document


# Real bot state ------------------------------------------------------------------------------------------------


class RecordingAdapter(ChannelAdapter):
    """Records what the bot sends; the turn runs on a `TurnContext` as the SDK's adapters build it."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[Activity] = []

    async def send_activities(self, context: TurnContext, activities: list[Activity]) -> list[ResourceResponse]:
        self.sent.extend(activities)
        return [ResourceResponse(id=str(len(self.sent)))]

    async def update_activity(self, context: TurnContext, activity: Activity) -> None:
        raise NotImplementedError

    async def delete_activity(self, context: TurnContext, reference: Any) -> None:
        raise NotImplementedError


CHANNEL = "msteams"


def _message(text: str) -> Activity:
    return Activity(type=ActivityTypes.message, id="m1", text=text, channel_id=CHANNEL, service_url="https://x.test/",
                    from_property=ChannelAccount(id="User1", name="Megan"),
                    recipient=ChannelAccount(id="Bot1", name="Bot"), conversation=ConversationAccount(id="Convo1"))


async def _report_turn(storage: SqlStorage, text: str) -> list[str | None]:
    """One turn of a fresh bot over `storage`: a waterfall that asks for an account and a reason, then confirms."""
    conversation_state = ConversationState(storage)
    user_state = UserState(storage)
    profile_property = user_state.create_property("profile")
    dialogs = DialogSet(conversation_state.create_property("DialogState"))
    dialogs.add(TextPrompt("text"))

    async def looks_like_an_address(prompt: PromptValidatorContext) -> bool:
        return bool(prompt.recognized.succeeded and "@" in str(prompt.recognized.value))

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
        profile = await profile_property.get(step.context, Profile, target_cls=Profile)
        profile.name = step.values["account"]
        await profile_property.set(step.context, profile)
        await step.context.send_activity(
            f"Case for {step.values['account']}: {step.result} (since {step.values['started']:%H:%M})"
        )
        return await step.end_dialog()

    dialogs.add(WaterfallDialog("report", [ask_account, ask_reason, confirm]))

    adapter = RecordingAdapter()
    turn_context = TurnContext(adapter, _message(text))
    dialog_context = await dialogs.create_context(turn_context)
    result = await dialog_context.continue_dialog()
    if result.status == DialogTurnStatus.Empty:
        await dialog_context.begin_dialog("report")
    await conversation_state.save(turn_context)
    await user_state.save(turn_context)
    return [activity.text for activity in adapter.sent]


async def _turn(target: DbTarget, text: str) -> list[str | None]:
    """One turn on a freshly opened database and freshly built bot, as after a process restart."""
    db = await target.open()
    try:
        return await _report_turn(SqlStorage(db), text)
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
        user_key = f"{CHANNEL}/users/User1"
        profile = Profile.from_json_to_store_item((await storage.read([user_key]))[user_key]["profile"])
        assert profile.name == "MeganB@example.com"
        # The dialog ended: the next message starts over.
        conversation_key = f"{CHANNEL}/conversations/Convo1"
        state = (await storage.read([conversation_key], target_cls=CachedAgentState))[conversation_key]
        assert state.state["DialogState"].dialog_stack == []
        async with db.read_session() as session:
            document = await session.scalar(
                select(BotStateRow.document).where(BotStateRow.key_hash == key_hash(conversation_key))
            )
        assert document is not None
        assert document["DialogState"] == {"$type": "DialogState", "dialog_stack": []}
        assert "py/" not in json.dumps(document)
    finally:
        await db.close()
    assert await _turn(db_target, "hello again") == ["Which account?"]


async def test_a_stale_turn_is_refused(db_target: DbTarget, database: Database) -> None:
    """Two instances answering the same conversation at once: the second save with the old e-tag conflicts."""
    storage = SqlStorage(database)
    await _report_turn(storage, "hi")
    key = f"{CHANNEL}/conversations/Convo1"
    first = await storage.read([key], target_cls=CachedAgentState)
    second = await storage.read([key], target_cls=CachedAgentState)
    first[key].state["DialogState"].dialog_stack.clear()
    await storage.write(first)
    second[key].state["DialogState"].dialog_stack.append(DialogInstance("other"))
    with pytest.raises(EtagConflict):
        await storage.write(second)
    assert (await storage.read([key], target_cls=CachedAgentState))[key].state["DialogState"] == DialogState()

"""The HTTP edge's schema, attacked at the HTTP boundary by generated activities (issue 18).

Activities are drawn from `teams.edge.ACTIVITY_SCHEMA` itself (every routed type, Action.Execute presses with
every verb, mentions, account lists, timestamps), then some are spoiled into near misses: a required field dropped,
a field given the wrong JSON type, an empty or oversized string, a timestamp that does not parse or overflows, an
unsupported invoke, nesting far past the depth limit. Each is POSTed to the whole bot (`bot.create_app`, anonymous,
fake tenant, recording connector). Whatever comes in: never a 5xx, and nothing at ERROR or with a traceback in
the log; what fits the schema is not refused by the edge, and what fails it is a short JSON 400.

Before: an invoke without `value` or `action`, a mention without `mentioned`, a missing recipient, JSON nested
50,000 deep and an overflowing timestamp each got a 500 or 501 with a traceback.

Hypothesis needs a synchronous test; the app runs on an event loop in a thread of its own (module-scoped), and
each example is one request on it. The search is derandomized, so CI sees the same 150 activities every run.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Coroutine, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import create_app
from cards.verbs import Verb
from config import Settings
from store import Store
from teams.edge import ACTIVITY_SCHEMA, CARD_ACTION, DEFAULT_MAX_DEPTH, MENTION, URL_SEGMENT, Shape, schema_error
from tests.activities import ALEX, BOT_ID, ISAIAH, MEGAN, TENANT_ID
from tests.connector import RecordingConnector
from tests.fakes import SECURITY_ADMIN_GROUP, FakeTenant

T = TypeVar("T")

EDGE_FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                            HealthCheck.filter_too_much])


class Bot:
    """The whole app on an event loop in its own thread; `post` sends one body and returns (status, body)."""

    def __init__(self, data_dir: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="edge-fuzz-bot", daemon=True)
        self._thread.start()
        self.data_dir = data_dir
        self.service_url = ""
        self._client: TestClient[Any, Any] | None = None
        self._store: Store | None = None
        self._connector: RecordingConnector | None = None

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Run `work` on the bot's loop and wait for it."""
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout=60)

    async def start(self) -> None:
        """Connector, store and the app."""
        self._connector = RecordingConnector()
        self.service_url = await self._connector.start()
        self._store = await Store.open(f"sqlite+aiosqlite:///{self.data_dir / 'bot.db'}")
        settings_ = Settings(data_dir=self.data_dir, security_admin_group_id=SECURITY_ADMIN_GROUP)
        self._client = TestClient(TestServer(create_app(settings_, tenant=FakeTenant(), store=self._store)))
        await self._client.start_server()

    async def stop(self) -> None:
        """Everything `start` opened, in reverse."""
        if self._client is not None:
            await self._client.close()
        if self._store is not None:
            await self._store.close()
        if self._connector is not None:
            await self._connector.close()

    async def post(self, body: bytes) -> tuple[int, bytes]:
        """POST one body to /api/messages."""
        assert self._client is not None
        response = await self._client.post("/api/messages", data=body, headers={"Content-Type": "application/json"})
        return response.status, await response.read()

    def close(self) -> None:
        """Stop the app and the loop."""
        try:
            self.run(self.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
            self.loop.close()


class Collect(logging.Handler):
    """Every record at WARNING and above, from any thread."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the record."""
        self.records.append(record)


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bot]:
    """One bot for the whole search (one app start, not one per example)."""
    running = Bot(tmp_path_factory.mktemp("edge-fuzz"))
    try:
        running.run(running.start())
        yield running
    finally:
        running.close()


@pytest.fixture(scope="module")
def log_records() -> Iterator[Collect]:
    """What the bot logged at WARNING and above while the module ran."""
    handler = Collect()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


# -- activities from the schema ------------------------------------------------------------------------------------

_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.text(max_size=20))
_JSON = st.recursive(_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                     max_leaves=10)
_TEXT = st.one_of(st.sampled_from(["help", "triage", "my mail bounces", "investigate AdeleV@example.com", "yes",
                                   "<at>Blocked Sender Assistant</at> help"]), st.text(max_size=40))
_TIMES = st.datetimes(min_value=__import__("datetime").datetime(2001, 1, 1),
                      max_value=__import__("datetime").datetime(2199, 1, 1)).map(lambda d: d.isoformat() + "Z")
_PEOPLE = [ALEX, ISAIAH, MEGAN]


def from_shape(shape: Shape) -> st.SearchStrategy[Any]:
    """Values that fit `shape` (optional fields present or not)."""
    if shape.kind == "any":
        return _JSON
    if shape.kind == "boolean":
        return st.booleans()
    if shape.kind == "timestamp":
        return _TIMES
    if shape.kind == "string":
        if shape.choices is not None:
            return st.sampled_from(sorted(shape.choices))
        if shape.url_safe:
            return st.from_regex(URL_SEGMENT, fullmatch=True).filter(lambda v: v not in (".", "..") and len(v) < 40)
        return st.text(min_size=1 if shape.non_empty else 0, max_size=min(shape.max_length or 30, 30))
    if shape.kind == "array":
        assert shape.items is not None
        return st.lists(from_shape(shape.items), max_size=3)
    required = {name: from_shape(inner) for name, inner in shape.fields.items() if inner.required}
    optional = {name: from_shape(inner) for name, inner in shape.fields.items() if not inner.required}
    return st.fixed_dictionaries(required, optional=optional)


def _account(person: Any) -> dict[str, Any]:
    return {"id": person.teams_id, "name": person.name, "aadObjectId": person.aad_object_id}


@st.composite
def activities(draw: st.DrawFn, service_url: str) -> dict[str, Any]:
    """An activity that fits the schema, addressed to this bot from a person of the tenant."""
    activity: dict[str, Any] = draw(from_shape(ACTIVITY_SCHEMA))
    person = draw(st.sampled_from(_PEOPLE))
    kind = draw(st.sampled_from(["message", "invoke", "conversationUpdate", "installationUpdate",
                                 "messageReaction", activity["type"]]))
    activity.update({
        "type": kind, "channelId": "msteams", "serviceUrl": service_url, "from": _account(person),
        "recipient": {"id": BOT_ID, "name": "Blocked Sender Assistant"},
        "conversation": {"id": f"personal-{person.name.split()[0].lower()}", "conversationType": "personal",
                         "tenantId": TENANT_ID},
        "channelData": {"tenant": {"id": TENANT_ID}},
    })
    activity.pop("locale", None) if draw(st.booleans()) else activity.update(locale=draw(st.sampled_from(
        ["en-US", "nl-NL", "de-DE"])))
    if kind == "message":
        activity["text"] = draw(_TEXT)
    if kind == "invoke":
        activity["name"] = "adaptiveCard/action"
        value: dict[str, Any] = draw(from_shape(CARD_ACTION))
        verb = draw(st.one_of(st.sampled_from([v.value for v in Verb]), st.text(min_size=1, max_size=12)))
        data = draw(st.one_of(st.none(), st.dictionaries(
            st.sampled_from(["caseId", "page", "confirm", "override", "overrideReason", "list", "at", "ruleId",
                             "note"]),
            st.one_of(st.text(max_size=20), st.sampled_from(["1", "0", "999999999999999", "case-1"])),
            max_size=5)))
        value["action"].update(verb=verb)
        if data is None:
            value["action"].pop("data", None)
        else:
            value["action"]["data"] = {"verb": verb, **data}
        activity["value"] = value
    if draw(st.booleans()):
        entity = draw(from_shape(MENTION))
        entity["type"] = "mention"
        activity["entities"] = [entity]
    return activity


# -- near misses -----------------------------------------------------------------------------------------------------

_WRONG = st.one_of(st.none(), st.integers(), st.booleans(), st.just(""), st.just([]), st.just({}),
                   st.just("x" * 5000), st.just([["nested"]]), st.floats(allow_nan=False, allow_infinity=False))
_BAD_TIMES = st.sampled_from(["yesterday", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "",
                              "2026-13-45T99:99:99Z", "+275760-09-13T00:00:00Z", "1" * 80])


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into `value` (object keys and list indexes)."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def _parent(activity: Any, path: tuple[Any, ...]) -> Any:
    for step in path[:-1]:
        activity = activity[step]
    return activity


@st.composite
def near_misses(draw: st.DrawFn, service_url: str) -> bytes:
    """A valid activity spoiled once, as the body to send."""
    activity = draw(activities(service_url))
    how = draw(st.sampled_from(["drop", "retype", "timestamp", "invoke name", "deep", "no value"]))
    if how in ("drop", "retype"):
        path = draw(st.sampled_from(_paths(activity)))
        parent = _parent(activity, path)
        if how == "drop" and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(_WRONG)
    elif how == "timestamp":
        activity[draw(st.sampled_from(["timestamp", "localTimestamp"]))] = draw(_BAD_TIMES)
    elif how == "invoke name":
        activity.update(type="invoke", name=draw(st.sampled_from(["task/fetch", "", "signin/verifyState"])),
                        value=draw(_JSON))
    elif how == "no value":
        activity.update(type="invoke", name="adaptiveCard/action")
        activity.pop("value", None) if draw(st.booleans()) else activity.update(value={"trigger": "manual"})
    else:
        depth = draw(st.sampled_from([DEFAULT_MAX_DEPTH + 1, 5_000, 50_000]))
        body = json.dumps({k: v for k, v in activity.items() if k != "value"}).encode()
        return body[:-1] + b', "value": ' + b"[" * depth + b"]" * depth + b"}"
    return json.dumps(activity).encode()


def _assert_answered(status: int, body: bytes, records: Collect, before: int) -> None:
    assert status < 500, (status, body[:200])
    bad = [r.getMessage() for r in records.records[before:] if r.levelno >= logging.ERROR or r.exc_info]
    assert bad == [], bad
    assert b"Traceback" not in body
    if status == 400:
        answer = json.loads(body)
        assert set(answer) == {"error"} and len(answer["error"]) < 100


def test_activities_that_fit_the_schema_pass_the_edge(bot: Bot, log_records: Collect) -> None:
    sent: list[int] = []

    @EDGE_FUZZ
    @given(activity=activities(bot.service_url))
    def check(activity: dict[str, Any]) -> None:
        assert schema_error(activity) == ""
        before = len(log_records.records)
        status, body = bot.run(bot.post(json.dumps(activity).encode()))
        sent.append(status)
        _assert_answered(status, body, log_records, before)
        assert status != 400, body[:200]

    check()
    assert len(sent) >= 100  # the search really ran


def test_near_misses_are_a_short_400_never_a_5xx(bot: Bot, log_records: Collect) -> None:
    statuses: list[int] = []

    @EDGE_FUZZ
    @given(body=near_misses(bot.service_url))
    def check(body: bytes) -> None:
        before = len(log_records.records)
        status, answer = bot.run(bot.post(body))
        statuses.append(status)
        _assert_answered(status, answer, log_records, before)

    check()
    assert len(statuses) >= 100 and statuses.count(400) >= 50  # the search ran, and most near misses missed


@pytest.mark.parametrize(("name", "spoil", "error"), [
    ("invoke without value", lambda a: a.pop("value"), "activity lacks value"),
    ("invoke without action", lambda a: a["value"].pop("action"), "value lacks action"),
    ("invoke without verb", lambda a: a["value"]["action"].pop("verb"), "value.action lacks verb"),
    ("data not an object", lambda a: a["value"]["action"].update(data="x"), "value.action.data is not an object"),
    ("other invoke", lambda a: a.update(name="task/fetch"), "unsupported invoke"),
    ("no recipient", lambda a: a.pop("recipient"), "activity lacks recipient"),
    ("mention without mentioned", lambda a: a.update(entities=[{"type": "mention", "text": "<at>x</at>"}]),
     "malformed mention"),
    ("overflowing timestamp", lambda a: a.update(timestamp="9999-12-31T23:59:59-14:00"),
     "activity.timestamp is not a plausible time"),
    ("unknown type", lambda a: a.update(type="handoff"), "activity.type is not supported"),
    ("reply to a path", lambda a: a.update(replyToId="../../x"), "activity.replyToId has characters an id cannot have"),
])
def test_named_near_misses(name: str, spoil: Any, error: str, bot: Bot, log_records: Collect) -> None:
    activity: dict[str, Any] = {
        "type": "invoke", "name": "adaptiveCard/action", "channelId": "msteams", "serviceUrl": bot.service_url,
        "from": _account(ALEX), "recipient": {"id": BOT_ID}, "conversation": {"id": "personal-alex",
                                                                             "tenantId": TENANT_ID},
        "channelData": {"tenant": {"id": TENANT_ID}},
        "value": {"action": {"type": "Action.Execute", "verb": "unblock", "data": {"caseId": "c"}}},
    }
    spoil(activity)
    before = len(log_records.records)
    status, body = bot.run(bot.post(json.dumps(activity).encode()))
    assert (status, json.loads(body)) == (400, {"error": error})
    _assert_answered(status, body, log_records, before)


def test_a_bulk_confirm_with_an_overflowing_time_is_answered(bot: Bot, log_records: Collect) -> None:
    """The confirmation's `at` (milliseconds) past what a datetime holds: a clear answer, not a traceback."""
    activity: Mapping[str, Any] = {
        "type": "invoke", "name": "adaptiveCard/action", "channelId": "msteams", "serviceUrl": bot.service_url,
        "from": _account(ALEX), "recipient": {"id": BOT_ID}, "locale": "en-US",
        "conversation": {"id": "personal-alex", "conversationType": "personal", "tenantId": TENANT_ID},
        "channelData": {"tenant": {"id": TENANT_ID}},
        "value": {"action": {"type": "Action.Execute", "verb": "triage_unblock",
                             "data": {"verb": "triage_unblock", "confirm": "1", "list": "a" * 20,
                                      "at": "999999999999999"}}},
    }
    before = len(log_records.records)
    status, body = bot.run(bot.post(json.dumps(activity).encode()))
    _assert_answered(status, body, log_records, before)
    assert status == 200

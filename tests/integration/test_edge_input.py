"""Bad input at the HTTP boundary: a 400 (or 413/415) or a clear card, never a 5xx, a traceback or the body in the log.

What botbuilder 4.17.1 answered with a 500 (an invoke without `value` or `action`, a malformed mention, nesting
too deep) and what the Agents SDK's own `process_activity` answers with a 500 (an empty-string `locale`, an empty
`channelId`) is sent twice: to `teams.edge.read_activity` behind a bare aiohttp handler, and to the whole bot
through `bot.create_app` (anonymous, fake tenant, recording connector).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot import create_app
from config import Settings
from store import Store
from teams.edge import DEFAULT_MAX_BYTES, DEFAULT_MAX_DEPTH, BadActivity, json_depth, read_activity
from tests.activities import BOT_ID, invoke, message
from tests.connector import RecordingConnector
from tests.fakes import SECURITY_ADMIN_GROUP, FakeTenant

SERVICE_URL = "https://smba.trafficmanager.net/emea/"
SECRET_TEXT = "my-password-is-hunter2"


def deep(depth: int) -> bytes:
    """A valid activity whose `value` nests `depth` arrays deep."""
    activity = json.dumps(message(SECRET_TEXT, service_url=SERVICE_URL)).encode()
    return activity[:-1] + b', "value": ' + b"[" * depth + b"]" * depth + b"}"


def _without(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda activity: activity.pop(key)


def _mention_without_mentioned(activity: dict[str, Any]) -> None:
    activity["text"] = f"<at>Blocked Sender Assistant</at> {SECRET_TEXT}"
    activity["entities"] = [{"type": "mention", "text": "<at>Blocked Sender Assistant</at>"}]


def _mention_of_nobody(activity: dict[str, Any]) -> None:
    activity["entities"] = [{"type": "mention", "mentioned": {"name": "x"}, "text": "<at>x</at>"}]


# Each: how to spoil a valid message, and the status the edge answers with.
SPOILED: dict[str, tuple[Callable[[dict[str, Any]], None], int]] = {
    "no type": (_without("type"), 400),
    "no recipient": (_without("recipient"), 400),
    "no sender": (_without("from"), 400),
    "no conversation": (_without("conversation"), 400),
    "no serviceUrl": (_without("serviceUrl"), 400),
    "no channelId": (_without("channelId"), 400),
    "recipient without id": (lambda a: a.update(recipient={"name": "bot"}), 400),
    "empty-string locale": (lambda a: a.update(locale=""), 400),
    "empty-string channelId": (lambda a: a.update(channelId=""), 400),
    "timestamp not a date": (lambda a: a.update(timestamp="yesterday"), 400),
    "text not a string": (lambda a: a.update(text=["a"]), 400),
    "entities not a list": (lambda a: a.update(entities="mention"), 400),
    "mention without mentioned": (_mention_without_mentioned, 400),
    "mention of nobody": (_mention_of_nobody, 400),
    "mentioned not an account": (lambda a: a.update(entities=[{"type": "mention", "mentioned": "bot"}]), 400),
}


@pytest.fixture
async def edge() -> AsyncIterator[TestClient[Any, Any]]:
    """`read_activity` behind a bare handler: 200 with the activity's type, or the BadActivity it raised."""

    async def handler(request: web.Request) -> web.Response:
        try:
            activity = await read_activity(request, max_bytes=DEFAULT_MAX_BYTES, max_depth=DEFAULT_MAX_DEPTH)
        except BadActivity as exc:
            return web.json_response({"error": exc.message}, status=exc.status)
        return web.json_response({"type": activity.type, "text": activity.text})

    app = web.Application(client_max_size=4 * DEFAULT_MAX_BYTES)
    app.router.add_post("/api/messages", handler)
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    yield client
    await client.close()


def assert_quiet(caplog: pytest.LogCaptureFixture) -> None:
    """Nothing at ERROR, no traceback, and not a word of what was typed."""
    for record in caplog.records:
        assert record.levelno < logging.ERROR, record.getMessage()
        assert record.exc_info is None, record.getMessage()
        assert SECRET_TEXT not in record.getMessage()


async def test_a_valid_activity_passes(edge: TestClient[Any, Any]) -> None:
    response = await edge.post("/api/messages", json=message(SECRET_TEXT, service_url=SERVICE_URL))
    assert response.status == 200
    assert await response.json() == {"type": "message", "text": SECRET_TEXT}


@pytest.mark.parametrize("name", sorted(SPOILED))
async def test_spoiled_activities_are_400(name: str, edge: TestClient[Any, Any],
                                          caplog: pytest.LogCaptureFixture) -> None:
    spoil, status = SPOILED[name]
    activity = message(SECRET_TEXT, service_url=SERVICE_URL)
    spoil(activity)
    with caplog.at_level(logging.DEBUG):
        response = await edge.post("/api/messages", json=activity)
    assert response.status == status
    body = await response.json()
    assert SECRET_TEXT not in json.dumps(body)
    assert_quiet(caplog)


@pytest.mark.parametrize(("body", "content_type", "status"), [
    (b"{not json", "application/json", 400),
    (b"\xff\xfe\x00garbage", "application/json", 400),
    (b"[1, 2]", "application/json", 400),
    (b'"a string"', "application/json", 400),
    (b"", "application/json", 400),
    (b'{"type": "message", "value": NaN}', "application/json", 400),
    (b'{"type": "message", "value": ' + b"9" * 5000 + b"}", "application/json", 400),
    (b'{"type": "message"}', "text/plain", 415),
    (b'{"type": "message"}', "application/x-www-form-urlencoded", 415),
])
async def test_what_is_not_an_activity_object(body: bytes, content_type: str, status: int,
                                              edge: TestClient[Any, Any], caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        response = await edge.post("/api/messages", data=body, headers={"Content-Type": content_type})
    assert response.status == status
    assert_quiet(caplog)


@pytest.mark.parametrize("depth", [DEFAULT_MAX_DEPTH + 1, 1_000, 50_000])
async def test_json_nested_too_deep_is_400_not_a_recursion_error(depth: int, edge: TestClient[Any, Any],
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        response = await edge.post("/api/messages", data=deep(depth), headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert await response.json() == {"error": "JSON nested too deeply"}
    assert_quiet(caplog)


async def test_nesting_within_the_limit_passes(edge: TestClient[Any, Any]) -> None:
    response = await edge.post("/api/messages", data=deep(DEFAULT_MAX_DEPTH - 2),
                               headers={"Content-Type": "application/json"})
    assert response.status == 200


@pytest.mark.parametrize(("body", "depth"), [
    (b"{}", 1), (b"[]", 1), (b"1", 0), (b'{"a": [{"b": []}]}', 4),
    (b'{"a": "[[[[{{{{"}', 1), (b'{"a": "\\"[[[", "b": [[]]}', 3), (b'["\\\\", [[]]]', 3),
])
def test_json_depth_ignores_brackets_in_strings(body: bytes, depth: int) -> None:
    assert json_depth(body) == depth


async def test_an_oversize_body_is_413_with_or_without_a_length(edge: TestClient[Any, Any]) -> None:
    activity = message("x" * (DEFAULT_MAX_BYTES + 10), service_url=SERVICE_URL)
    response = await edge.post("/api/messages", json=activity)
    assert response.status == 413

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: the cap applies while reading
        data = json.dumps(activity).encode()
        for start in range(0, len(data), 64 * 1024):
            yield data[start:start + 64 * 1024]

    response = await edge.post("/api/messages", data=chunked(), headers={"Content-Type": "application/json"})
    assert response.status == 413


# The same inputs through the whole bot.

@pytest.fixture
async def connector() -> AsyncIterator[tuple[RecordingConnector, str]]:
    recorder = RecordingConnector()
    url = await recorder.start()
    yield recorder, url
    await recorder.close()


@pytest.fixture
async def bot_client(tmp_path: Path) -> AsyncIterator[tuple[TestClient[Any, Any], FakeTenant]]:
    tenant = FakeTenant()
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    settings = Settings(data_dir=tmp_path, security_admin_group_id=SECURITY_ADMIN_GROUP)
    client: TestClient[Any, Any] = TestClient(TestServer(create_app(settings, tenant=tenant, store=store)))
    await client.start_server()
    yield client, tenant
    await client.close()
    await store.close()


@pytest.mark.parametrize("name", sorted(SPOILED))
async def test_the_bot_answers_spoiled_activities_with_400(name: str, bot_client: Any, connector: Any,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    client, tenant = bot_client
    recorder, service_url = connector
    spoil, status = SPOILED[name]
    activity = message(SECRET_TEXT, service_url=service_url)
    spoil(activity)
    with caplog.at_level(logging.DEBUG):
        response = await client.post("/api/messages", json=activity)
    assert response.status == status
    assert tenant.calls == [] and recorder.sent == []
    assert_quiet(caplog)


async def test_the_bot_refuses_deep_and_oversize_bodies(bot_client: Any, connector: Any,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    client, _ = bot_client
    recorder, service_url = connector
    with caplog.at_level(logging.DEBUG):
        nested = await client.post("/api/messages", data=deep(50_000), headers={"Content-Type": "application/json"})
        big = await client.post("/api/messages", json=message("x" * (600 * 1024), service_url=service_url))
    assert nested.status == 400
    assert big.status == 413
    assert recorder.sent == []
    assert_quiet(caplog)


def _invoke_without(key: str, service_url: str) -> dict[str, Any]:
    activity = invoke("unblock", {"caseId": "case-1"}, service_url=service_url)
    if key == "value":
        del activity["value"]
    else:
        del activity["value"]["action"]
    return activity


@pytest.mark.parametrize("key", ["value", "action"])
async def test_an_invoke_without_value_or_action_gets_a_clear_answer(key: str, bot_client: Any, connector: Any,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    """Refused by the edge's schema (teams/edge.py) with a short 400, before the turn: not a 500, not a 501."""
    client, tenant = bot_client
    recorder, service_url = connector
    with caplog.at_level(logging.DEBUG):
        response = await client.post("/api/messages", json=_invoke_without(key, service_url))
    assert response.status == 400
    assert await response.json() == {"error": "activity lacks value" if key == "value" else "value lacks action"}
    # Nothing was looked up, acted on or posted.
    assert tenant.calls == []
    assert recorder.sent == []
    assert_quiet(caplog)


async def test_the_bot_still_answers_a_valid_mention(bot_client: Any, connector: Any) -> None:
    client, _ = bot_client
    recorder, service_url = connector
    activity = message("<at>Blocked Sender Assistant</at> help", service_url=service_url)
    activity["entities"] = [{"type": "mention", "text": "<at>Blocked Sender Assistant</at>",
                             "mentioned": {"id": BOT_ID, "name": "Blocked Sender Assistant"}}]
    response = await client.post("/api/messages", json=activity)
    assert response.status in (200, 201, 202)
    assert await recorder.wait_for(1)

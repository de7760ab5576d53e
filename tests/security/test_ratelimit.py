"""The per-person rate limit on investigations and card actions: the window, and the polite answers over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot import create_app
from config import Settings
from locales import t
from store import Store
from teams.ratelimit import RateLimiter
from tests.activities import ALEX, ISAIAH, invoke, message
from tests.connector import RecordingConnector
from tests.fakes import IT_STAFF_GROUP, SECURITY_ADMIN_GROUP, FakeTenant, group

LIMIT = 2


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# ---------------------------------------------------------------------------------------------- the window


def test_sliding_window_per_key() -> None:
    clock = Clock()
    limiter = RateLimiter(3, window=60, clock=clock)
    assert [limiter.check("a").allowed for _ in range(3)] == [True, True, True]
    refused = limiter.check("a")
    assert not refused.allowed and refused.retry_after_seconds == 60
    assert limiter.check("b").allowed  # another person has their own window
    clock.now += 30
    assert limiter.check("a").retry_after_seconds == 30
    clock.now += 30  # the first three events leave the window together
    assert limiter.check("a").allowed


def test_the_window_slides_event_by_event() -> None:
    clock = Clock()
    limiter = RateLimiter(2, window=60, clock=clock)
    limiter.check("a")
    clock.now += 40
    limiter.check("a")
    clock.now += 21  # only the first event has left the window
    assert limiter.check("a").allowed
    assert not limiter.check("a").allowed


def test_refusals_do_not_extend_the_wait() -> None:
    clock = Clock()
    limiter = RateLimiter(1, window=60, clock=clock)
    limiter.check("a")
    for _ in range(50):
        clock.now += 1
        assert not limiter.check("a").allowed
    clock.now += 10
    assert limiter.check("a").allowed


def test_zero_means_no_limit() -> None:
    limiter = RateLimiter(0)
    assert not limiter.enabled
    assert all(limiter.check("a").allowed for _ in range(10_000))


def test_memory_is_bounded() -> None:
    limiter = RateLimiter(1, max_tracked=100)
    for i in range(1000):
        limiter.check(f"user-{i}")
    assert len(limiter._events) <= 101
    assert limiter.check("user-999").allowed is False  # the most recent are the ones kept


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        RateLimiter(-1)
    with pytest.raises(ValueError):
        RateLimiter(1, window=0)


# ----------------------------------------------------------------------------------------------- over HTTP


@pytest.fixture
async def limited(tmp_path: Path) -> AsyncIterator[tuple[TestClient[Any, Any], FakeTenant, RecordingConnector, str]]:
    tenant = FakeTenant(memberships={
        ALEX.aad_object_id: [group(SECURITY_ADMIN_GROUP, "Security Admins")],
        ISAIAH.aad_object_id: [group(IT_STAFF_GROUP, "IT Staff")],
    })
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    recorder = RecordingConnector()
    service_url = await recorder.start()
    settings = Settings(data_dir=tmp_path, it_staff_group_id=IT_STAFF_GROUP,
                        security_admin_group_id=SECURITY_ADMIN_GROUP, rate_limit_per_minute=LIMIT)
    client: TestClient[Any, Any] = TestClient(TestServer(create_app(settings, tenant=tenant, store=store)))
    await client.start_server()
    yield client, tenant, recorder, service_url
    await client.close()
    await recorder.close()
    await store.close()


def texts(recorder: RecordingConnector) -> list[str]:
    return [str(s.body.get("text") or "") for s in recorder.messages()]


async def test_investigations_past_the_limit_are_refused_politely(limited: Any) -> None:
    client, tenant, recorder, service_url = limited
    for attempt in range(LIMIT + 1):
        conversation = f"personal-isaiah-{attempt}"  # a fresh chat each time: nothing is mid-dialog
        response = await client.post("/api/messages", json=message(
            "investigate nobody@example.com", person=ISAIAH, service_url=service_url, conversation_id=conversation))
        assert response.status == 201
    # Replies are sent within the request, so everything is recorded by now.
    # One lookup of the text per investigation let through (the "did you mean" searches after each are its own).
    assert tenant.called("find_users").count(("nobody@example.com",)) == LIMIT
    last = texts(recorder)[-1]
    assert last == t("en", "ratelimit.wait", limit=LIMIT, seconds=60)
    assert [s.conversation_id for s in recorder.messages()].count(f"personal-isaiah-{LIMIT}") == 1
    # Other requests are not limited: help still answers with its card.
    await client.post("/api/messages", json=message("help", person=ISAIAH, service_url=service_url,
                                                    conversation_id="personal-isaiah-help"))
    assert recorder.messages()[-1].body.get("attachments")


async def test_the_refusal_speaks_dutch(limited: Any) -> None:
    client, _, recorder, service_url = limited
    for attempt in range(LIMIT + 1):
        await client.post("/api/messages", json=message("onderzoek niemand@example.com", person=ISAIAH,
                                                        service_url=service_url, locale="nl-NL",
                                                        conversation_id=f"c-{attempt}"))
    assert texts(recorder)[-1] == t("nl-NL", "ratelimit.wait", limit=LIMIT, seconds=60)


async def test_card_actions_share_the_budget_and_answer_with_a_message(limited: Any) -> None:
    client, tenant, recorder, service_url = limited
    await client.post("/api/messages", json=message("investigate nobody@example.com", service_url=service_url,
                                                    conversation_id="a"))
    press = await client.post("/api/messages", json=invoke("start_investigation", service_url=service_url,
                                                           conversation_id="b"))
    assert press.status == 200
    assert (await press.json())["value"] == t("en", "investigate.started")
    refused = await client.post("/api/messages", json=invoke("start_investigation", service_url=service_url,
                                                             conversation_id="c"))
    assert refused.status == 200  # never a 500, never an error card: Teams shows the text
    body = await refused.json()
    assert body["type"] == "application/vnd.microsoft.activity.message"
    assert "try again in" in body["value"]
    # The refused press did nothing: no dialog started in conversation "c".
    assert not [s for s in recorder.messages() if s.conversation_id == "c"]
    # Another person is not affected by Alex's budget.
    other = await client.post("/api/messages", json=invoke("start_investigation", person=ISAIAH,
                                                           service_url=service_url, conversation_id="d"))
    assert (await other.json())["value"] == t("en", "investigate.started")
    assert tenant.calls  # role lookups happened; the limit sits after identification


async def test_unknown_verbs_are_answered_before_the_limit_is_consulted(limited: Any) -> None:
    client, _, _, service_url = limited
    for _ in range(LIMIT + 3):
        response = await client.post("/api/messages", json=invoke("launch_missiles", service_url=service_url))
        assert (await response.json())["type"] == "application/vnd.microsoft.error"
    allowed = await client.post("/api/messages", json=invoke("start_investigation", service_url=service_url,
                                                             conversation_id="x"))
    assert (await allowed.json())["value"] == t("en", "investigate.started")

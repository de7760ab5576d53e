"""A bare directory name typed by IT staff ("Nobody Here": no command, read as "investigate Nobody Here") reads the
directory like any investigation, so it counts against the same per-person limit; an answer to a pending "which
account?" is not counted a second time (the command that asked was), and a user's bare name reads nothing."""

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
from tests.activities import ISAIAH, MEGAN, message
from tests.connector import RecordingConnector
from tests.fakes import IT_STAFF_GROUP, SECURITY_ADMIN_GROUP, FakeTenant, group

LIMIT = 2
NAME = "Nobody Here"


@pytest.fixture
async def limited(tmp_path: Path) -> AsyncIterator[tuple[TestClient[Any, Any], FakeTenant, RecordingConnector, str]]:
    tenant = FakeTenant(memberships={ISAIAH.aad_object_id: [group(IT_STAFF_GROUP, "IT Staff")]})
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


def texts(recorder: RecordingConnector, conversation: str) -> list[str]:
    return [str(s.body.get("text") or "") for s in recorder.messages() if s.conversation_id == conversation]


async def test_bare_names_past_the_limit_are_refused_like_investigate(limited: Any) -> None:
    client, tenant, recorder, service_url = limited
    for attempt in range(LIMIT + 1):
        response = await client.post("/api/messages", json=message(
            NAME, person=ISAIAH, service_url=service_url, conversation_id=f"bare-{attempt}"))
        assert response.status == 201
    # Each bare name let through looked the text up once (and found nobody: "I didn't understand").
    assert tenant.called("find_users").count((NAME,)) == LIMIT
    assert texts(recorder, "bare-0") == [t("en", "unknown.text")]
    assert texts(recorder, f"bare-{LIMIT}") == [t("en", "ratelimit.wait", limit=LIMIT, seconds=60)]
    # The budget is shared with the typed command: "investigate X" is refused now too.
    await client.post("/api/messages", json=message(f"investigate {NAME}", person=ISAIAH, service_url=service_url,
                                                    conversation_id="typed"))
    assert texts(recorder, "typed") == [t("en", "ratelimit.wait", limit=LIMIT, seconds=60)]
    assert tenant.called("find_users").count((NAME,)) == LIMIT


async def test_a_name_answering_which_account_is_not_counted_twice(limited: Any) -> None:
    client, tenant, recorder, service_url = limited
    # "investigate" (counted) asks which account; the typed name is its answer, not a second investigation.
    await client.post("/api/messages", json=message("investigate", person=ISAIAH, service_url=service_url,
                                                    conversation_id="asked"))
    assert texts(recorder, "asked") == [t("en", "investigate.ask")]
    await client.post("/api/messages", json=message(NAME, person=ISAIAH, service_url=service_url,
                                                    conversation_id="asked"))
    assert tenant.called("find_users").count((NAME,)) == 1
    # So one more bare name still fits in the budget of two, and the next does not.
    await client.post("/api/messages", json=message(NAME, person=ISAIAH, service_url=service_url,
                                                    conversation_id="second"))
    assert tenant.called("find_users").count((NAME,)) == 2
    await client.post("/api/messages", json=message(NAME, person=ISAIAH, service_url=service_url,
                                                    conversation_id="third"))
    assert texts(recorder, "third") == [t("en", "ratelimit.wait", limit=LIMIT, seconds=60)]


async def test_a_users_bare_name_reads_nothing_and_spends_nothing(limited: Any) -> None:
    client, tenant, recorder, service_url = limited
    for attempt in range(LIMIT + 1):
        await client.post("/api/messages", json=message(NAME, person=MEGAN, service_url=service_url,
                                                        conversation_id=f"user-{attempt}"))
        assert texts(recorder, f"user-{attempt}") == [t("en", "unknown.name_user")]
    assert tenant.called("find_users") == []

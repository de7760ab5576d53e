"""The whole app in demo mode: embedded demo tenant over HTTPS, real msal/Graph/Exchange clients, SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot import create_app
from config import Settings
from tests.activities import ALEX, ISAIAH, MEGAN, message
from tests.cardschema import assert_valid_card, texts
from tests.connector import RecordingConnector


@pytest.fixture
async def demo_app(tmp_path: Path) -> AsyncIterator[tuple[TestClient[Any, Any], RecordingConnector, str]]:
    recorder = RecordingConnector()
    service_url = await recorder.start()
    settings = Settings(data_dir=tmp_path)
    assert settings.demo_mode
    client: TestClient[Any, Any] = TestClient(TestServer(create_app(settings)))
    await client.start_server()
    yield client, recorder, service_url
    await client.close()
    await recorder.close()


async def test_ready_in_demo_mode(demo_app: Any) -> None:
    client, _, _ = demo_app
    ready = await client.get("/readyz")
    assert ready.status == 200


async def test_roles_come_from_the_demo_tenant(demo_app: Any) -> None:
    client, recorder, service_url = demo_app
    for person in (ALEX, ISAIAH, MEGAN):
        await client.post("/api/messages", json=message("help", person=person, service_url=service_url,
                                                        conversation_id=f"personal-{person.aad_object_id}"))
    await recorder.wait_for(3)
    alex, isaiah, megan = recorder.cards()
    for card in (alex, isaiah, megan):
        assert_valid_card(card)
    assert any("(security admin)" in t for t in texts(alex))
    assert any("(IT staff)" in t for t in texts(isaiah))
    assert not any("(IT staff)" in t or "(security admin)" in t for t in texts(megan))


async def test_alex_investigates_megan_over_https(demo_app: Any) -> None:
    client, recorder, service_url = demo_app
    await client.post("/api/messages", json=message("investigate MeganB@example.com", service_url=service_url))
    # An exact address: no confirmation question; the progress card, then the findings in its place.
    await recorder.wait_for(2)
    updates = [s for s in recorder.sent if s.method == "PUT"]
    assert len(updates) == 1
    card = updates[0].body["attachments"][0]["content"]
    assert_valid_card(card)
    shown = " ".join(texts(card))
    assert "Compromised" in shown
    assert "exfil@mail-relay.example.net" in shown

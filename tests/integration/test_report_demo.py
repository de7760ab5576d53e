"""The issue's journey over HTTP on the real demo tenant (demo mode: HTTPS, msal, Graph and Exchange clients).

Megan writes "mijn mail wordt geweigerd": a Dutch explanation and a case; IT cannot be reached yet. Alex says
"@Blocked Sender Assistant alerts here" in My Team › General: the watch wakes and the channel gets the alert
for Megan's restriction (a new post, with the findings card replacing it); Megan's next report hears that IT
knows. (The unblock and "you can send mail again" are in test_report_resolved.py.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot import create_app
from config import Settings
from store import Store
from tests.activities import ALEX, BOT_ID, MEGAN, TENANT_ID, message
from tests.cardschema import assert_valid_card, texts
from tests.connector import RecordingConnector

GENERAL = "team-id"  # the Playground's General channel has the team's id


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[tuple[TestClient[Any, Any], RecordingConnector, str, Store]]:
    recorder = RecordingConnector()
    service_url = await recorder.start()
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    settings = Settings(data_dir=tmp_path)
    assert settings.demo_mode
    client: TestClient[Any, Any] = TestClient(TestServer(create_app(settings, store=store)))
    await client.start_server()
    yield client, recorder, service_url, store
    await client.close()
    await store.close()
    await recorder.close()


def in_general(text: str, service_url: str) -> dict[str, Any]:
    activity = message(f"<at>Blocked Sender Assistant</at> {text}", person=ALEX, service_url=service_url,
                       conversation_id=f"{GENERAL};messageid=1764300000000")
    activity["conversation"].update({"conversationType": "channel", "isGroup": True})
    activity["channelData"] = {"tenant": {"id": TENANT_ID}, "channel": {"id": GENERAL, "name": "General"},
                               "team": {"id": GENERAL, "name": "My Team"}}
    activity["entities"] = [{"type": "mention", "text": "<at>Blocked Sender Assistant</at>",
                             "mentioned": {"id": BOT_ID, "name": "Blocked Sender Assistant"}}]
    return activity


async def test_megan_reports_in_dutch_and_the_it_channel_gets_the_alert(demo: Any) -> None:
    client, recorder, service_url, store = demo
    await client.post("/api/messages", json=message("mijn mail wordt geweigerd", person=MEGAN, locale="nl-NL",
                                                    service_url=service_url, conversation_id="personal-chat-megan"))
    sent = await recorder.wait_for(2)
    explanation, status = sent[0].body["attachments"][0]["content"], sent[1].body["attachments"][0]["content"]
    assert_valid_card(explanation)
    shown = " ".join(texts(explanation))
    assert "Microsoft 365 heeft je account geblokkeerd voor het versturen van mail" in shown
    assert "Ik kon IT nu niet bereiken" in shown  # no channel yet, no admin has talked with the bot
    assert "Je melding" in texts(status)
    case = await store.cases.get_open_case(TENANT_ID, MEGAN.aad_object_id)
    assert case is not None

    await client.post("/api/messages", json=in_general("alerts here", service_url))
    # The confirmation in the thread, then the watch's alerts as new posts in General (one per restricted account).
    confirmation = (await recorder.wait_for(3))[2]
    assert confirmation.conversation_id == f"{GENERAL};messageid=1764300000000"
    await recorder.wait_for(3 + 4 + 4, within=60)  # four seeded restrictions: an alert and its findings each
    posts = [s for s in recorder.messages()[3:] if s.method == "POST"]
    assert {p.conversation_id for p in posts} == {GENERAL}
    megan_alert = next(p for p in posts if "MeganB@example.com" in " ".join(texts(p.body)))
    updates = [s for s in recorder.messages() if s.method == "PUT" and s.activity_id == megan_alert.activity_id]
    assert len(updates) == 1
    findings = updates[0].body["attachments"][0]["content"]
    assert_valid_card(findings)
    assert "Compromised" in " ".join(texts(findings))

    before = len(recorder.messages())
    await client.post("/api/messages", json=message("mijn mail komt terug", person=MEGAN, locale="nl-NL",
                                                    service_url=service_url, conversation_id="personal-chat-megan"))
    again = await recorder.wait_for(before + 2)
    assert "IT weet het al" in " ".join(texts(again[before].body))
    assert len(await store.cases.list_cases(tenant_id=TENANT_ID, account_id=MEGAN.aad_object_id)) == 1

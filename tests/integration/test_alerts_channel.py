"""The IT alert channel: "alerts here" (security admins, in a channel), "alerts off", "where do alerts go?".

In the handler with a recording outbox, and once over HTTP with a real @mention and the real Messenger, to
show that the stored reference is the channel's (a new post per alert), not the thread's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from microsoft_agents.activity import ConversationAccount

from bot import COMPONENTS, build_handler, create_app
from config import Settings
from investigation.collect import Limits
from m365.graph import Governor
from store import IT_ALERT_CHANNEL, Store
from teams.reporting import Reporting
from tests.activities import ALEX, BOT_ID, ISAIAH, MEGAN, TENANT_ID, Person, message
from tests.dialog_client import DialogClient, texts_of
from tests.fakes import IT_STAFF_GROUP, SECURITY_ADMIN_GROUP
from tests.report_fakes import CHANNEL_ID, RecordingOutbox, report_tenant

SETTINGS = Settings(it_staff_group_id=IT_STAFF_GROUP, security_admin_group_id=SECURITY_ADMIN_GROUP)
THREAD_ID = f"{CHANNEL_ID};messageid=1700000000123"
CHANNEL_DATA = {"tenant": {"id": TENANT_ID}, "channel": {"id": CHANNEL_ID, "name": "Security"},
                "team": {"id": "19:team@thread.tacv2", "name": "My Team"}}


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    yield opened
    await opened.close()


class Rig:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.fake = report_tenant()
        self.outbox = RecordingOutbox()
        self.bot, parts = build_handler(SETTINGS, tenant=self.fake, store=store, outbox=self.outbox)
        self.reporting: Reporting = parts.reporting

    def channel(self, person: Person, locale: str = "en-US") -> DialogClient:
        client = DialogClient(self.bot, person, locale=locale)
        client.adapter.template.conversation = ConversationAccount(id=THREAD_ID, conversation_type="channel",
                                                                   is_group=True)
        client.adapter.template.channel_data = CHANNEL_DATA
        return client

    def chat(self, person: Person, locale: str = "en-US") -> DialogClient:
        return DialogClient(self.bot, person, locale=locale)


async def said(client: DialogClient, text: str) -> str:
    return " ".join(texts_of(await client.say(text)))


async def test_a_security_admin_sets_the_channel_and_it_is_the_channel_not_the_thread(store: Store) -> None:
    rig = Rig(store)
    assert not rig.reporting.watch.wake_pending
    answer = await said(rig.channel(ALEX), "use this channel for alerts")
    assert "I'll post an alert in this channel" in answer
    value = await store.settings.get(IT_ALERT_CHANNEL)
    assert value["conversation_id"] == CHANNEL_ID
    assert value["reference"]["conversation"]["id"] == CHANNEL_ID
    assert "activityId" not in value["reference"]
    assert (value["channel_name"], value["team_name"], value["locale"]) == ("Security", "My Team", "en-US")
    assert rig.reporting.watch.wake_pending  # the watch runs a round at once, for restrictions that had nowhere to go
    audit = [e for e in await store.audit.list() if e.action == "alerts.channel_set"]
    assert len(audit) == 1 and audit[0].actor_id == ALEX.aad_object_id

    # Alerts now go there, as a new post.
    watch = rig.reporting.watch
    assert (await watch.run_once()).alerted == 1
    assert [s.conversation_id for s in rig.outbox.of("card")] == [CHANNEL_ID]

    where = await said(rig.chat(ISAIAH), "where do alerts go?")
    assert "Alerts go to the channel **Security** of the team **My Team**" in where
    assert "Alex Wilber" in where


@pytest.mark.parametrize("person", [ISAIAH, MEGAN])
async def test_only_security_admins_choose_the_channel(store: Store, person: Person) -> None:
    rig = Rig(store)
    assert "Only security admins" in await said(rig.channel(person), "alerts here")
    assert await store.settings.get(IT_ALERT_CHANNEL) is None
    assert "Only security admins" in await said(rig.channel(person), "alerts off")


async def test_alerts_here_in_a_personal_chat_points_to_a_channel(store: Store) -> None:
    rig = Rig(store)
    assert "Say this in the team channel" in await said(rig.chat(ALEX), "alerts here")
    assert await store.settings.get(IT_ALERT_CHANNEL) is None


async def test_alerts_off_and_where(store: Store) -> None:
    rig = Rig(store)
    alex = rig.chat(ALEX)
    assert "No alert channel was set" in await said(alex, "alerts off")
    before = await said(alex, "where do alerts go")
    assert "direct messages to the security admins" in before and "alerts here" in before
    await said(rig.channel(ALEX), "send alerts here")
    assert "Alerts are off for the channel" in await said(alex, "turn off alerts")
    assert await store.settings.get(IT_ALERT_CHANNEL) is None
    assert "No alert channel is set" in await said(alex, "where are alerts sent?")
    assert [e.action for e in await store.audit.list()] == ["alerts.channel_set", "alerts.channel_removed"]


async def test_a_user_asking_where_alerts_go_is_pointed_at_their_own_report(store: Store) -> None:
    rig = Rig(store)
    assert "That is for IT staff" in await said(rig.chat(MEGAN), "where do alerts go?")


async def test_in_dutch(store: Store) -> None:
    rig = Rig(store)
    assert "Gedaan: ik plaats een melding in dit kanaal" in await said(rig.channel(ALEX, "nl-NL"),
                                                                         "gebruik dit kanaal voor meldingen")
    assert (await store.settings.get(IT_ALERT_CHANNEL))["locale"] == "nl-NL"
    waar = await said(rig.chat(ISAIAH, "nl-NL"), "waar gaan de meldingen heen?")
    assert "Meldingen gaan naar het kanaal **Security** van het team **My Team**" in waar
    assert "Meldingen in het kanaal staan uit" in await said(rig.chat(ALEX, "nl-NL"), "meldingen uit")
    assert "Alleen beveiligingsbeheerders" in await said(rig.channel(ISAIAH, "nl-NL"), "meldingen hier")


# ------------------------------------------------------------------------------------------ over HTTP


@pytest.fixture
async def app(tmp_path: Path, store: Store) -> AsyncIterator[tuple[TestClient[Any, Any], Any, str]]:
    from tests.connector import RecordingConnector

    recorder = RecordingConnector()
    service_url = await recorder.start()
    settings = Settings(data_dir=tmp_path, it_staff_group_id=IT_STAFF_GROUP,
                        security_admin_group_id=SECURITY_ADMIN_GROUP)
    client: TestClient[Any, Any] = TestClient(TestServer(create_app(settings, tenant=report_tenant(), store=store)))
    await client.start_server()
    yield client, recorder, service_url
    await client.close()
    await recorder.close()


async def test_over_http_with_a_mention_then_an_alert_is_a_new_post(app: Any, store: Store) -> None:
    client, recorder, service_url = app
    activity = message("<at>Blocked Sender Assistant</at> use this channel for alerts", service_url=service_url,
                       conversation_id=THREAD_ID)
    activity["conversation"]["conversationType"] = "channel"
    activity["conversation"]["isGroup"] = True
    activity["channelData"] = CHANNEL_DATA
    activity["entities"] = [{"type": "mention", "text": "<at>Blocked Sender Assistant</at>",
                             "mentioned": {"id": BOT_ID, "name": "Blocked Sender Assistant"}}]
    response = await client.post("/api/messages", json=activity)
    assert response.status == 201
    confirmation = (await recorder.wait_for(1))[0]
    assert confirmation.conversation_id == THREAD_ID  # the answer goes to the thread it was asked in
    assert "I'll post an alert in this channel" in confirmation.body["text"]

    # "alerts here" woke the app's own watch: its round posts Megan's restriction alert to the channel at once.
    posts = await recorder.wait_for(2)
    alert = posts[1]
    assert alert.method == "POST" and alert.conversation_id == CHANNEL_ID  # a new post, not a reply in the thread
    assert "replyToId" not in alert.body
    alert_body = alert.body["attachments"][0]["content"]["body"]
    assert alert_body[0]["items"][0]["text"] == "New restriction detected"  # it says it is an alert, first
    assert alert_body[1]["text"] == "Restricted from sending mail"
    # The watch investigates inline and replaces the alert with the findings card.
    update = (await recorder.wait_for(3))[2]
    assert update.method == "PUT" and (update.conversation_id, update.activity_id) == (CHANNEL_ID, alert.activity_id)
    components = client.server.app[COMPONENTS]
    assert components.reporting is not None
    case = await store.cases.get_open_case(TENANT_ID, MEGAN.aad_object_id)
    assert case is not None
    assert [c.activity_id for c in await store.cases.list_cards(case.id)] == [alert.activity_id]


async def test_the_app_has_one_set_of_family_limits_and_one_throttle_governor(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The watch's follow-ups, the dialog, triage and the checker's refresh share Microsoft's throttle windows: the
    running app builds exactly one `Limits` and one `Governor` (the report feature used to build its own)."""
    built: list[str] = []
    for cls in (Limits, Governor):
        original = cls.__init__

        def counting(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> None:
            built.append(type(self).__name__)
            _original(self, *args, **kwargs)

        monkeypatch.setattr(cls, "__init__", counting)
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    client: TestClient[Any, Any] = TestClient(TestServer(create_app(
        Settings(data_dir=tmp_path, it_staff_group_id=IT_STAFF_GROUP, security_admin_group_id=SECURITY_ADMIN_GROUP),
        tenant=report_tenant(), store=store)))
    await client.start_server()
    try:
        assert sorted(built) == ["Governor", "Limits"]
    finally:
        await client.close()
        await store.close()

"""Keeping the user informed: "you can send mail again" when the case resolves, and IT's notes.

The resolution message is checked end to end over HTTP: Megan reports in Dutch, the bot restarts (new app,
new `Store` on the same SQLite file), the remediation checker sees the account off Restricted entities and
resolves the case, and the report feature's listener messages Megan from the reference read back from the
store, in Dutch and in her time zone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot import COMPONENTS, build_handler, create_app
from config import Settings
from core.presses import RemediationConfig
from remediation.checker import CheckerConfig
from store import Store
from teams.reporting import Reporting
from tests.activities import ISAIAH, LYNNE, MEGAN, TENANT_ID, message
from tests.connector import RecordingConnector
from tests.dialog_client import DialogClient
from tests.fakes import IT_STAFF_GROUP, SECURITY_ADMIN_GROUP, FakeTenant
from tests.report_fakes import RecordingOutbox, report_tenant, set_channel

SETTINGS = Settings(it_staff_group_id=IT_STAFF_GROUP, security_admin_group_id=SECURITY_ADMIN_GROUP)
FAST_CHECKER = RemediationConfig(checker=CheckerConfig(base_interval=0.05, scan_interval=0.2))


def database_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"


async def start_app(tmp_path: Path, store: Store, tenant: FakeTenant) -> TestClient[Any, Any]:
    settings = Settings(data_dir=tmp_path, it_staff_group_id=IT_STAFF_GROUP,
                        security_admin_group_id=SECURITY_ADMIN_GROUP)
    client: TestClient[Any, Any] = TestClient(TestServer(create_app(settings, tenant=tenant, store=store,
                                                                    remediation_config=FAST_CHECKER)))
    await client.start_server()
    return client


async def test_after_a_restart_megan_hears_in_dutch_that_she_can_send_again(tmp_path: Path) -> None:
    recorder = RecordingConnector()
    service_url = await recorder.start()
    try:
        # Before the restart: Megan reports in Dutch from her personal chat.
        first_store = await Store.open(database_url(tmp_path))
        first = await start_app(tmp_path, first_store, report_tenant())
        await first.post("/api/messages", json=message("mijn mail komt terug", person=MEGAN, locale="nl-NL",
                                                      service_url=service_url, conversation_id="personal-megan"))
        await recorder.wait_for(2)
        assert "Microsoft 365 heeft je account geblokkeerd" in recorder.cards()[0]["body"][0]["text"]
        await first.close()
        await first_store.close()

        # After the restart: a new app and a new store on the same file; Microsoft 365 has lifted the block.
        store = await Store.open(database_url(tmp_path))
        lifted = report_tenant()
        lifted.blocked.clear()
        second = await start_app(tmp_path, store, lifted)
        try:
            saved = await store.conversations.get(TENANT_ID, MEGAN.aad_object_id)
            assert saved is not None and saved.locale == "nl-NL" and saved.time_zone == "Europe/Amsterdam"
            assert saved.reference["serviceUrl"] == service_url
            case = await store.cases.get_open_case(TENANT_ID, MEGAN.aad_object_id)
            assert case is not None
            before = len(recorder.messages())
            await store.cases.set_status(case.id, "unblock_pending")  # what Alex's "Unblock" does
            components = second.server.app[COMPONENTS]
            components.presses.checker.wake()
            told = (await recorder.wait_for(before + 1))[before]
            assert told.conversation_id == "personal-megan"
            assert told.body["text"].startswith("**Je kunt weer mail versturen.**")
            resolved = await store.cases.get_case(case.id)
            assert resolved is not None and resolved.status == "resolved" and resolved.resolved_at is not None
            local = resolved.resolved_at.astimezone(ZoneInfo("Europe/Amsterdam"))
            assert f"{local:%H:%M} CET" in told.body["text"]
            # Told once: a second call (another instance's listener, a retry) sends nothing.
            assert await components.reporting.notices.notify_resolved(resolved) == 0
            assert len(recorder.messages()) == before + 1
        finally:
            await second.close()
            await store.close()
    finally:
        await recorder.close()


# ------------------------------------------------------------------------------------------ in the handler


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(database_url(tmp_path))
    yield opened
    await opened.close()


class Rig:
    def __init__(self, store: Store, fake: FakeTenant | None = None) -> None:
        self.store = store
        self.fake = fake or report_tenant()
        self.outbox = RecordingOutbox()
        self.bot, parts = build_handler(SETTINGS, tenant=self.fake, store=store, outbox=self.outbox)
        self.reporting: Reporting = parts.reporting

    def chat(self, person: Any, locale: str = "en-US") -> DialogClient:
        client = DialogClient(self.bot, person, locale=locale)
        client.adapter.template.local_timezone = "Europe/Amsterdam"
        return client


async def test_every_subscriber_is_told_once_in_their_own_language(store: Store) -> None:
    rig = Rig(store)
    await rig.chat(MEGAN, "nl-NL").say("mijn mail komt terug")
    await rig.chat(LYNNE, "en-GB").say("hi")  # Lynne follows Megan's case (e.g. her assistant)
    case = await store.cases.get_open_case(TENANT_ID, MEGAN.aad_object_id)
    assert case is not None
    await store.cases.add_subscriber(case.id, LYNNE.aad_object_id)
    await store.cases.add_subscriber(case.id, "no-conversation-with-the-bot")
    resolved = await store.cases.set_status(case.id, "resolved")
    assert resolved is not None
    rig.outbox.fail_for.add(f"personal-{LYNNE.aad_object_id}")
    assert await rig.reporting.notices.notify_resolved(resolved) == 1
    dutch = rig.outbox.of("text", f"personal-{MEGAN.aad_object_id}")
    assert len(dutch) == 1 and "Je kunt weer mail versturen" in dutch[0].text
    assert "MeganB@example\\.com" in dutch[0].text  # tenant text, escaped for Markdown
    # Lynne's chat was unreachable: the next call tells her (and only her).
    rig.outbox.fail_for.clear()
    assert await rig.reporting.notices.notify_resolved(resolved) == 1
    english = rig.outbox.of("text", f"personal-{LYNNE.aad_object_id}")
    assert len(english) == 1 and english[0].text.startswith("**You can send mail again.**")
    assert await rig.reporting.notices.notify_resolved(resolved) == 0


async def test_it_sends_megan_a_note_from_the_findings_card(store: Store) -> None:
    rig = Rig(store)
    await set_channel(store)
    await rig.chat(MEGAN, "nl-NL").say("mijn mail komt terug")
    case = await store.cases.get_open_case(TENANT_ID, MEGAN.aad_object_id)
    assert case is not None
    isaiah = rig.chat(ISAIAH)
    note = "We reset your password. **Call us** at [the desk](https://evil.example) <b>now</b>"
    response = await isaiah.press("send_note", {"caseId": case.id, "note": note})
    assert response.body["value"] == "Sent to 1 person."
    relayed = rig.outbox.of("text", f"personal-{MEGAN.aad_object_id}")
    assert len(relayed) == 1
    text = relayed[0].text
    assert text.startswith("**Een bericht van IT** (Isaiah Langer) over je melding:")
    assert "\\*\\*Call us\\*\\*" in text and "\\[the desk\\]\\(https\\:" in text and "\\<b\\>" in text
    assert "[the desk](https" not in text
    audit = [e for e in await store.audit.list(case_id=case.id) if e.action == "report.note_sent"]
    assert len(audit) == 1 and audit[0].actor_id == ISAIAH.aad_object_id and audit[0].outcome == "succeeded"
    assert audit[0].parameters["recipients"] == 1


async def test_notes_are_for_it_staff_and_real_cases_only(store: Store) -> None:
    rig = Rig(store)
    await rig.chat(MEGAN).say("my mail bounces")
    case = await store.cases.get_open_case(TENANT_ID, MEGAN.aad_object_id)
    assert case is not None
    megan = rig.chat(MEGAN)
    refused = await megan.press("send_note", {"caseId": case.id, "note": "hello"})
    assert refused.body["value"]["message"] == "Only IT staff can send notes to users."
    isaiah = rig.chat(ISAIAH)
    unknown = await isaiah.press("send_note", {"caseId": "no-such-case", "note": "hello"})
    assert "no longer valid" in unknown.body["value"]["message"]
    empty = await isaiah.press("send_note", {"caseId": case.id, "note": "   "})
    assert empty.body["value"]["message"] == "Type a note first."
    long = await isaiah.press("send_note", {"caseId": case.id, "note": "x" * 1001})
    assert "at most 1000 characters" in long.body["value"]["message"]
    assert rig.outbox.of("text") == []


async def test_a_note_reaches_the_account_owner_when_nobody_subscribed(store: Store) -> None:
    rig = Rig(store)
    await rig.chat(LYNNE).say("hi")
    opened = await store.cases.open_or_get_case(TENANT_ID, LYNNE.aad_object_id, LYNNE.upn, LYNNE.name)
    response = await rig.chat(ISAIAH).press("send_note", {"caseId": opened.case.id, "note": "Please call us."})
    assert response.body["value"] == "Sent to 1 person."
    assert len(rig.outbox.of("text", f"personal-{LYNNE.aad_object_id}")) == 1
    # Nobody reachable: IT is told, and the audit says it failed.
    other = await store.cases.open_or_get_case(TENANT_ID, "never-talked", "x@example.com", "X")
    nobody = await rig.chat(ISAIAH).press("send_note", {"caseId": other.case.id, "note": "Hello"})
    assert "never chatted with me" in nobody.body["value"]["message"]
    failed = [e for e in await store.audit.list(case_id=other.case.id) if e.action == "report.note_sent"]
    assert [e.outcome for e in failed] == ["failed"]

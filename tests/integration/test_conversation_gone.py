"""A conversation or message the connector says is gone is dropped quietly (issue 16, the demo's old data).

Through the real `teams.proactive.Messenger` on the Agents SDK adapter, against a recording connector that answers
404 `ConversationNotFound` (as Teams and the Agents Playground do for a chat of an earlier run) or 404
`ActivityNotFoundInConversation` (a deleted message):

- an alert to an admin whose chat is gone drops that stored reference with one INFO line: no traceback, no ERROR,
  nothing posted into the chat ("something went wrong"), and the next alert does not try it again;
- an old card copy that is gone is forgotten when the case's cards are redrawn;
- a reference another user's newer one replaced in the same conversation (the Playground's one personal chat for
  every user) is not used: an old run's admin gets no alerts in the current user's chat.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from core.cases import CaseBook
from core.notices import SYSTEM_ACTOR, AlertOrigin, Notices
from domain.people import Role
from investigation.service import Investigations
from m365.records import BlockedSender
from remediation.views import CaseView
from store import Store
from teams.app import anonymous_connections, new_adapter
from teams.proactive import Messenger
from tests.connector import RecordingConnector
from tests.report_fakes import ALEX, MEGAN, report_tenant, restricted

TENANT = "tenant-1"
GONE_CHAT = "a:old-run-chat"
LIVE_CHAT = "a:live-chat"
NOT_FOUND = {"error": {"code": "ConversationNotFound", "message": "Conversation not found"}}
NO_MESSAGE = {"error": {"code": "ActivityNotFoundInConversation", "message": "Message does not exist in the thread."}}


class GoneConnector(RecordingConnector):
    """A recording connector for which some conversations, or some messages, no longer exist (404)."""

    def __init__(self) -> None:
        super().__init__()
        self.gone: set[str] = set()
        self.gone_messages: set[str] = set()
        self.refused_404: list[str] = []

    async def _post(self, request: web.Request) -> web.Response:
        if request.match_info["conversation"] in self.gone:
            self.refused_404.append(request.match_info["conversation"])
            return web.json_response(NOT_FOUND, status=404)
        return await super()._post(request)

    async def _put(self, request: web.Request) -> web.Response:
        if request.match_info["conversation"] in self.gone:
            self.refused_404.append(request.match_info["conversation"])
            return web.json_response(NOT_FOUND, status=404)
        if request.match_info["activity"] in self.gone_messages:
            self.refused_404.append(request.match_info["activity"])
            return web.json_response(NO_MESSAGE, status=404)
        return await super()._put(request)


def reference(conversation_id: str, user_id: str, service_url: str) -> dict[str, Any]:
    return {"conversation": {"id": conversation_id, "conversationType": "personal", "tenantId": TENANT},
            "user": {"id": f"29:{user_id}", "aadObjectId": user_id}, "bot": {"id": "28:bot", "name": "Bot"},
            "channelId": "msteams", "serviceUrl": service_url}


@pytest.fixture
async def connector() -> AsyncIterator[GoneConnector]:
    connector = GoneConnector()
    await connector.start()
    yield connector
    await connector.close()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    yield store
    await store.close()


async def admins_only(user_id: str) -> Role:
    return Role.SECURITY_ADMIN if user_id == ALEX.aad_object_id else Role.USER


async def notices_for(store: Store) -> tuple[Notices, Messenger, Any]:
    adapter, factory = new_adapter(anonymous_connections())
    messenger = Messenger(adapter, "")
    tenant = report_tenant()
    notices = Notices(tenant_id=TENANT, store=store, investigations=Investigations(tenant), cases=CaseBook(store),
                      outbox=messenger, role_of=admins_only,
                      view=CaseView(store, messenger=messenger, role_of=admins_only), notify_affected_user=False)
    return notices, messenger, factory


async def alert(notices: Notices, store: Store, restriction: BlockedSender) -> None:
    """The watch's way: open (or join) Megan's case and alert her restriction."""
    user = next(u for u in report_tenant().users if u.user_principal_name == MEGAN.upn)
    opened = await store.cases.open_or_get_case(TENANT, user.id, user.user_principal_name, user.display_name,
                                                 SYSTEM_ACTOR)
    await notices.alert_restriction(user, restriction, opened.case, origin=AlertOrigin.WATCH, background=False)


# The SDK's anonymous-mode warning on every connector turn, muted in the bot by `bot.quiet_sdk`.
ANONYMOUS_NOTE = "microsoft_agents.hosting.core.connector.client.user_token_client"


def quiet(caplog: pytest.LogCaptureFixture) -> None:
    """No traceback and nothing above INFO was logged."""
    records = [r for r in caplog.records if r.name != ANONYMOUS_NOTE]
    assert not [r for r in records if r.exc_info], [r.getMessage() for r in records if r.exc_info]
    assert not [r for r in records if r.levelno >= logging.WARNING], [
        f"{r.name}: {r.getMessage()}" for r in records if r.levelno >= logging.WARNING]


async def test_an_alert_to_a_gone_chat_drops_its_reference_with_one_info_line(
        connector: GoneConnector, store: Store, caplog: pytest.LogCaptureFixture) -> None:
    url = str(connector.server.make_url("/")) if connector.server else ""
    connector.gone.add(GONE_CHAT)
    await store.conversations.save(TENANT, ALEX.aad_object_id, reference(GONE_CHAT, ALEX.aad_object_id, url))
    notices, _, factory = await notices_for(store)
    try:
        with caplog.at_level(logging.INFO):
            await alert(notices, store, restricted(MEGAN.upn))
        quiet(caplog)
        dropped = [r for r in caplog.records if "dropped the conversation reference" in r.getMessage()]
        assert len(dropped) == 1 and dropped[0].levelno == logging.INFO
        assert "ConversationNotFound" in dropped[0].getMessage()
        assert await store.conversations.get(TENANT, ALEX.aad_object_id) is None
        assert connector.refused_404 == [GONE_CHAT]
        assert connector.messages() == []  # no "something went wrong" posted anywhere

        # The next alert has nowhere to go and does not knock on the gone chat again.
        caplog.clear()
        await alert(notices, store, restricted(MEGAN.upn, at=datetime(2026, 11, 29, 5, 0, tzinfo=UTC)))
        assert connector.refused_404 == [GONE_CHAT]
    finally:
        await factory.close()


async def test_a_gone_card_copy_is_forgotten_when_the_case_is_redrawn(
        connector: GoneConnector, store: Store, caplog: pytest.LogCaptureFixture) -> None:
    url = str(connector.server.make_url("/")) if connector.server else ""
    await store.conversations.save(TENANT, ALEX.aad_object_id, reference(LIVE_CHAT, ALEX.aad_object_id, url))
    notices, messenger, factory = await notices_for(store)
    try:
        await alert(notices, store, restricted(MEGAN.upn))
        case = (await store.cases.list_cases("open"))[0]
        [copy] = await store.cases.list_cards(case.id)
        connector.gone_messages.add(copy.activity_id)
        view = CaseView(store, messenger=messenger, role_of=admins_only)
        with caplog.at_level(logging.INFO):
            assert await view.update_copies(case) == 0
        quiet(caplog)
        assert any("its copy is forgotten" in r.getMessage() for r in caplog.records)
        assert await store.cases.list_cards(case.id) == []
    finally:
        await factory.close()


async def test_a_reference_replaced_in_the_same_chat_by_another_user_gets_no_alert(
        connector: GoneConnector, store: Store, caplog: pytest.LogCaptureFixture) -> None:
    """The Playground: Alex used `make demo` yesterday, Megan uses `make demo-user` now, in the same chat id."""
    url = str(connector.server.make_url("/")) if connector.server else ""
    await store.conversations.save(TENANT, ALEX.aad_object_id, reference(LIVE_CHAT, ALEX.aad_object_id, url))
    await store.conversations.save(TENANT, MEGAN.aad_object_id, reference(LIVE_CHAT, MEGAN.aad_object_id, url))
    notices, _, factory = await notices_for(store)
    try:
        with caplog.at_level(logging.INFO):
            await alert(notices, store, restricted(MEGAN.upn))
        quiet(caplog)
        assert connector.messages() == []  # Megan's chat did not get the admins' alert
        assert await store.conversations.get(TENANT, ALEX.aad_object_id) is None
        assert await store.conversations.get(TENANT, MEGAN.aad_object_id) is not None
    finally:
        await factory.close()

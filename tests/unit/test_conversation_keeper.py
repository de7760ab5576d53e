"""ConversationKeeper: a personal chat's reference is saved when it is new or changed, not on every turn."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from microsoft_agents.activity import Activity
from microsoft_agents.hosting.core import TurnContext

from domain.people import Role, Speaker
from store import Store
from teams.notify import ConversationKeeper
from tests.activities import ALEX, TENANT_ID, message


class RecordingConversations:
    def __init__(self) -> None:
        self.saved: list[tuple[str, str, dict[str, Any], str | None, str | None]] = []

    async def save(self, tenant_id: str, user_id: str, reference: dict[str, Any], *, locale: str | None = None,
                   time_zone: str | None = None) -> None:
        self.saved.append((tenant_id, user_id, reference, locale, time_zone))


def turn(**changes: Any) -> TurnContext:
    raw = message("help", service_url="https://smba.example/emea/")
    raw.update(changes)
    return TurnContext(cast(Any, SimpleNamespace()), Activity.model_validate(raw))


SPEAKER = Speaker(aad_object_id=ALEX.aad_object_id, name=ALEX.name, tenant_id=TENANT_ID, role=Role.SECURITY_ADMIN)


async def test_an_unchanged_reference_is_saved_once_and_every_change_is_saved() -> None:
    conversations = RecordingConversations()
    keeper = ConversationKeeper(cast(Store, SimpleNamespace(conversations=conversations)))
    await keeper.remember(turn(), SPEAKER)
    await keeper.remember(turn(), SPEAKER)  # a new activity with the same reference
    assert len(conversations.saved) == 1
    _, user, reference, locale, zone = conversations.saved[0]
    assert (user, locale, zone) == (ALEX.aad_object_id, "en-US", "Europe/Amsterdam")
    assert reference["serviceUrl"] == "https://smba.example/emea/" and "activityId" not in reference

    await keeper.remember(turn(serviceUrl="https://smba.example/amer/"), SPEAKER)  # Teams moved the chat
    await keeper.remember(turn(serviceUrl="https://smba.example/amer/", locale="nl-NL"), SPEAKER)
    await keeper.remember(turn(serviceUrl="https://smba.example/amer/", locale="nl-NL",
                               **{"from": {"id": ALEX.teams_id, "name": "Alex W.", "aadObjectId": ALEX.aad_object_id}}),
                          SPEAKER)
    assert [(s[2]["serviceUrl"], s[3], s[2]["user"]["name"]) for s in conversations.saved[1:]] == [
        ("https://smba.example/amer/", "en-US", "Alex Wilber"),
        ("https://smba.example/amer/", "nl-NL", "Alex Wilber"),
        ("https://smba.example/amer/", "nl-NL", "Alex W."),
    ]

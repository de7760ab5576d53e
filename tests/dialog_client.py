"""Driving the real activity handler turn by turn in memory (botbuilder's TestAdapter), like DialogTestClient.

botbuilder-testing's DialogTestClient pins an old pytest, so this is the same idea on botbuilder-core's
`TestAdapter`: each `say()` runs one turn through `BlockedSenderBot.on_turn` (tenant check, speaker, dialogs,
state saving) and returns what the bot sent during it.
"""

from __future__ import annotations

import re
from typing import Any

from botbuilder.core.adapters import TestAdapter
from botbuilder.schema import Activity, ActivityTypes, ChannelAccount, ConversationAccount

from teams.handler import BlockedSenderBot
from tests.activities import BOT_ID, TENANT_ID, Person
from tests.cardschema import texts


class DialogClient:
    """One person's personal chat with the bot."""

    def __init__(self, bot: BlockedSenderBot, person: Person, *, locale: str = "en-US",
                 conversation_id: str | None = None, tenant_id: str = TENANT_ID) -> None:
        self.person = person
        template = Activity(
            channel_id="msteams",
            service_url="https://test.invalid/",
            conversation=ConversationAccount(id=conversation_id or f"personal-{person.aad_object_id}",
                                             conversation_type="personal"),
            from_property=ChannelAccount(id=person.teams_id, name=person.name, aad_object_id=person.aad_object_id),
            recipient=ChannelAccount(id=BOT_ID, name="Blocked Sender Assistant"),
            channel_data={"tenant": {"id": tenant_id}},
            locale=locale,
        )
        self.adapter = TestAdapter(bot.on_turn, template)
        self.locale = locale

    async def say(self, text: str) -> list[Activity]:
        """Send a message; the activities the bot sent in that turn (typing indicators left out)."""
        before = len(self.adapter.updated_activities)
        await self.adapter.receive_activity(Activity(type=ActivityTypes.message, text=text, locale=self.locale))
        sent = []
        while self.adapter.activity_buffer:
            activity = self.adapter.activity_buffer.pop(0)
            if activity.type != ActivityTypes.typing:
                sent.append(activity)
        self.last_updates = self.adapter.updated_activities[before:]
        return sent

    async def press(self, verb: str, data: dict[str, Any] | None = None) -> Any:
        """Press an `Action.Execute` button; returns the invoke response body."""
        activity = Activity(
            type=ActivityTypes.invoke, name="adaptiveCard/action", locale=self.locale,
            value={"action": {"type": "Action.Execute", "verb": verb, "data": {"verb": verb, **(data or {})}}},
        )
        await self.adapter.receive_activity(activity)
        responses = [a for a in self.adapter.activity_buffer if a.type == ActivityTypes.invoke_response]
        self.adapter.activity_buffer = [a for a in self.adapter.activity_buffer
                                        if a.type != ActivityTypes.invoke_response]
        return responses[-1].value if responses else None


def rendered(markdown: str) -> str:
    """What Teams shows for a Markdown text we escaped: backslash escapes removed."""
    return re.sub(r"\\(.)", r"\1", markdown)


def texts_of(activities: list[Activity]) -> list[str]:
    """The texts of messages as shown (escapes removed), and the texts inside Adaptive Card attachments."""
    out: list[str] = []
    for activity in activities:
        if activity.text:
            out.append(rendered(activity.text))
        for attachment in activity.attachments or []:
            content = attachment.content
            if isinstance(content, dict):
                out.extend(texts(content))
            else:  # a HeroCard of a prompt: its text and button titles
                out.extend(rendered(x) for x in (getattr(content, "title", None), getattr(content, "text", None))
                           if x)
                out.extend(str(b.title) for b in (getattr(content, "buttons", None) or []))
    return out


def cards_of(activities: list[Activity]) -> list[dict[str, Any]]:
    """The Adaptive Card contents attached to `activities`."""
    return [a.content for activity in activities for a in (activity.attachments or [])
            if a.content_type == "application/vnd.microsoft.card.adaptive"]

"""Driving the real turn in memory (what botbuilder-testing's DialogTestClient did) on the Agents SDK.

The Agents SDK ships no test adapter, so `RecordingAdapter` is a minimal `ChannelAdapter`: what the bot sends is
recorded in `activity_buffer`, card updates in `updated_activities`, and an invoke response lands where the SDK's
own adapter keeps it (`turn_state[INVOKE_RESPONSE_KEY]`). Each `say()` runs one turn through
`BlockedSenderBot.on_turn` (tenant check, speaker, the `AgentApplication`: routing, dialogs, state loading and
saving) and returns what the bot sent during it.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from microsoft_agents.activity import (
    Activity,
    ActivityTypes,
    ChannelAccount,
    ChannelId,
    ConversationAccount,
    ConversationReference,
    InvokeResponse,
    ResourceResponse,
)
from microsoft_agents.hosting.core import ChannelAdapter, TurnContext

from teams.handler import BlockedSenderBot
from tests.activities import BOT_ID, TENANT_ID, Person
from tests.cardschema import texts


class RecordingAdapter(ChannelAdapter):
    """Runs turns of `bot` for activities built from `template`; records what the bot sends and updates."""

    def __init__(self, bot: BlockedSenderBot, template: Activity) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.bot = bot
        self.template = template
        self.activity_buffer: list[Activity] = []
        self.updated_activities: list[Activity] = []
        self.deleted: list[ConversationReference] = []
        self._ids = itertools.count(1)

    async def send_activities(  # type: ignore[override]  # the SDK's protocol types the context loosely
            self, context: TurnContext, activities: list[Activity]) -> list[ResourceResponse]:
        """Record `activities`; an invoke response is kept for the turn, as the SDK's adapter does."""
        responses = []
        for activity in activities:
            if activity.type == ActivityTypes.invoke_response:
                context.turn_state[self.INVOKE_RESPONSE_KEY] = activity
                responses.append(ResourceResponse())
                continue
            activity.id = f"sent-{next(self._ids)}"
            self.activity_buffer.append(activity)
            responses.append(ResourceResponse(id=activity.id))
        return responses

    async def update_activity(  # type: ignore[override]
            self, context: TurnContext, activity: Activity) -> ResourceResponse:
        """Record a card update."""
        self.updated_activities.append(activity)
        return ResourceResponse(id=activity.id or "")

    async def delete_activity(  # type: ignore[override]
            self, context: TurnContext, reference: ConversationReference) -> None:
        """Record a deletion."""
        self.deleted.append(reference)

    async def receive_activity(self, activity: Activity) -> TurnContext:
        """Run one turn for `activity`, completed from the template (ids, conversation, people, tenant)."""
        incoming = self.template.model_copy(deep=True)
        for name in activity.model_fields_set:
            setattr(incoming, name, getattr(activity, name))
        incoming.id = f"in-{next(self._ids)}"
        context = TurnContext(self, incoming)
        try:
            await self.run_pipeline(context, self.bot.on_turn)
        finally:
            await context._aclose()
        return context


class DialogClient:
    """One person's personal chat with the bot."""

    def __init__(self, bot: BlockedSenderBot, person: Person, *, locale: str = "en-US",
                 conversation_id: str | None = None, tenant_id: str = TENANT_ID) -> None:
        self.person = person
        template = Activity(
            type=ActivityTypes.message,
            channel_id=ChannelId("msteams"),
            service_url="https://test.invalid/",
            conversation=ConversationAccount(id=conversation_id or f"personal-{person.aad_object_id}",
                                             conversation_type="personal"),
            from_property=ChannelAccount(id=person.teams_id, name=person.name, aad_object_id=person.aad_object_id),
            recipient=ChannelAccount(id=BOT_ID, name="Blocked Sender Assistant"),
            channel_data={"tenant": {"id": tenant_id}},
            locale=locale,
        )
        self.adapter = RecordingAdapter(bot, template)
        self.locale = locale
        self.last_updates: list[Activity] = []

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

    async def press(self, verb: str, data: dict[str, Any] | None = None) -> InvokeResponse | None:
        """Press an `Action.Execute` button; returns the invoke response (`status`, `body`)."""
        activity = Activity(
            type=ActivityTypes.invoke, name="adaptiveCard/action", locale=self.locale,
            value={"action": {"type": "Action.Execute", "verb": verb, "data": {"verb": verb, **(data or {})}},
                   "trigger": "manual"},
        )
        context = await self.adapter.receive_activity(activity)
        answer = context.turn_state.get(self.adapter.INVOKE_RESPONSE_KEY)
        if not isinstance(answer, Activity) or answer.value is None:
            return None
        return InvokeResponse.model_validate(answer.value)


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
            if a.content_type == "application/vnd.microsoft.card.adaptive" and isinstance(a.content, dict)]

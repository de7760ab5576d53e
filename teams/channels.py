"""The IT alert channel: "alerts here" in a team channel stores it, "alerts off" forgets it, "where do alerts go?".

The channel is kept as a conversation reference in the runtime settings (`store.IT_ALERT_CHANNEL`), so every
instance posts to the same place; the core reads it back (`core.notices.alert_channel`). It is the channel, not
the thread the command was typed in: Teams gives a channel message the conversation id
`<channel id>;messageid=<post id>`, and a reference to that would put every alert under one old post. With the
`;messageid=` part and the activity id removed, sending to the reference starts a new post in the channel.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from microsoft_agents.activity.teams import TeamsChannelData
from microsoft_agents.hosting.core import TurnContext
from pydantic import ValidationError

from cards.text import md_escape
from core.notices import parse_channel
from dialogs.context import speaker_of
from domain.people import Role
from locales import format_datetime, t
from store import IT_ALERT_CHANNEL, Actor, Store
from teams.proactive import reference_of

log = logging.getLogger(__name__)

_MESSAGE_ID = ";messageid="


def channel_reference(turn_context: TurnContext) -> dict[str, Any]:
    """The JSON reference of the channel this activity came from (not the thread, not the message)."""
    reference: dict[str, Any] = reference_of(turn_context.activity)
    reference.pop("activityId", None)
    conversation = dict(reference.get("conversation") or {})
    conversation_id = str(conversation.get("id") or "")
    conversation["id"] = conversation_id.split(_MESSAGE_ID, 1)[0]
    reference["conversation"] = conversation
    return reference


def is_channel(turn_context: TurnContext) -> bool:
    """True for a message in a team channel (Teams says `conversationType: channel`)."""
    conversation = turn_context.activity.conversation
    return conversation is not None and (conversation.conversation_type or "").lower() == "channel"


def _names(turn_context: TurnContext) -> tuple[str, str]:
    """The channel's and team's names when Teams sends them (it does not always), else empty."""
    raw = turn_context.activity.channel_data
    try:
        data = raw if isinstance(raw, TeamsChannelData) else TeamsChannelData.model_validate(raw or {})
    except ValidationError:
        return "", ""
    channel = getattr(data, "channel", None) if data else None
    team = getattr(data, "team", None) if data else None
    return (str(getattr(channel, "name", None) or ""), str(getattr(team, "name", None) or ""))


class AlertChannels:
    """Handles "alerts here", "alerts off" and "where do alerts go?". Only security admins change the channel."""

    def __init__(self, store: Store, *, on_change: Callable[[], None]) -> None:
        self._store = store
        # Wakes the restriction watch, so alerts that had nowhere to go reach the new channel at once.
        self._on_change = on_change

    async def here(self, turn_context: TurnContext, argument: str = "") -> None:
        """Use the channel this was said in for alerts (security admins, in a team channel)."""
        speaker = speaker_of(turn_context)
        locale = speaker.locale
        if speaker.role < Role.SECURITY_ADMIN:
            await turn_context.send_activity(t(locale, "alerts.admins_only"))
            return
        if not is_channel(turn_context):
            await turn_context.send_activity(t(locale, "alerts.in_channel_only"))
            return
        reference = channel_reference(turn_context)
        conversation_id = str(reference["conversation"].get("id") or "")
        channel_name, team_name = _names(turn_context)
        value = {
            "reference": reference,
            "conversation_id": conversation_id,
            "channel_name": channel_name,
            "team_name": team_name,
            "locale": turn_context.activity.locale or locale,
            "time_zone": speaker.time_zone or "",
            "set_by": speaker.name,
        }
        await self._store.settings.set(IT_ALERT_CHANNEL, value, updated_by=speaker.aad_object_id)
        await self._store.audit.record(
            actor=Actor(id=speaker.aad_object_id, name=speaker.name, upn=speaker.user_principal_name),
            action="alerts.channel_set", target=conversation_id, tenant_id=speaker.tenant_id,
            parameters={"channel": channel_name, "team": team_name},
        )
        log.info("IT alert channel set to %s by %s", conversation_id, speaker.aad_object_id)
        await turn_context.send_activity(t(locale, "alerts.here.done"))
        self._on_change()

    async def off(self, turn_context: TurnContext, argument: str = "") -> None:
        """Stop posting to the channel; alerts go as direct messages to security admins again."""
        speaker = speaker_of(turn_context)
        locale = speaker.locale
        if speaker.role < Role.SECURITY_ADMIN:
            await turn_context.send_activity(t(locale, "alerts.admins_only"))
            return
        removed = await self._store.settings.delete(IT_ALERT_CHANNEL)
        if removed:
            await self._store.audit.record(
                actor=Actor(id=speaker.aad_object_id, name=speaker.name, upn=speaker.user_principal_name),
                action="alerts.channel_removed", target=None, tenant_id=speaker.tenant_id,
            )
            log.info("IT alert channel removed by %s", speaker.aad_object_id)
        await turn_context.send_activity(t(locale, "alerts.off.done" if removed else "alerts.off.none"))

    async def where(self, turn_context: TurnContext, argument: str = "") -> None:
        """Say where alerts go now (IT staff and admins; users are pointed at their own report instead)."""
        speaker = speaker_of(turn_context)
        locale = speaker.locale
        if not speaker.may_investigate:
            await turn_context.send_activity(t(locale, "alerts.staff_only"))
            return
        record = await self._store.settings.get_record(IT_ALERT_CHANNEL)
        channel = parse_channel(record.value) if record is not None else None
        if channel is None or record is None:
            await turn_context.send_activity(t(locale, "alerts.where.dm"))
            return
        # The names are tenant text inside a Markdown message: escaped.
        name = md_escape(channel.channel_name, 80) if channel.channel_name else t(locale, "alerts.where.unnamed")
        team = md_escape(channel.team_name, 80) if channel.team_name else t(locale, "alerts.where.unnamed")
        await turn_context.send_activity(t(
            locale, "alerts.where.channel", channel=name, team=team,
            by=md_escape(channel.set_by, 80) or "—",
            time=format_datetime(record.updated_at, locale, speaker.time_zone),
        ))

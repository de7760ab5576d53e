"""Builders of the Bot Framework activities Teams sends, for tests."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

TENANT_ID = "4f8c2b1e-6d3a-4e5b-9c7d-1a2b3c4d5e6f"
OTHER_TENANT_ID = "99999999-8888-4777-8666-555555555555"
BOT_ID = "28:00000000-0000-0000-0000-00000000b5a1"

_ids = itertools.count(1)


@dataclass(frozen=True)
class Person:
    """A demo-tenant person as Teams presents them."""

    name: str
    aad_object_id: str
    upn: str

    @property
    def teams_id(self) -> str:
        """The Teams user id (`29:...`)."""
        return f"29:{self.aad_object_id}"


ALEX = Person("Alex Wilber", "0d4b2a71-9f3c-4b8e-a1d2-5e6f7a8b9c01", "AlexW@example.com")
ISAIAH = Person("Isaiah Langer", "1e5c3b82-0a4d-4c9f-b2e3-6f7a8b9c0d02", "IsaiahL@example.com")
MEGAN = Person("Megan Bowen", "2f6d4c93-1b5e-4d0a-83f4-7a8b9c0d1e03", "MeganB@example.com")
PATTI = Person("Patti Fernandez", "3a7e5da4-2c6f-4e1b-94a5-8b9c0d1e2f04", "PattiF@example.com")
ADELE = Person("Adele Vance", "4b8f6eb5-3d7a-4f2c-a5b6-9c0d1e2f3a05", "AdeleV@example.com")
LYNNE = Person("Lynne Robbins", "5c9a7fc6-4e8b-4a3d-b6c7-0d1e2f3a4b06", "LynneR@example.com")


def _base(person: Person, service_url: str, conversation_id: str, locale: str, tenant_id: str,
          conversation_type: str = "personal") -> dict[str, Any]:
    return {
        "id": f"act-{next(_ids)}",
        "channelId": "msteams",
        "serviceUrl": service_url,
        "timestamp": "2026-11-28T10:00:00.000Z",
        "localTimestamp": "2026-11-28T11:00:00.000+01:00",
        "localTimezone": "Europe/Amsterdam",
        "locale": locale,
        "from": {"id": person.teams_id, "name": person.name, "aadObjectId": person.aad_object_id},
        "recipient": {"id": BOT_ID, "name": "Blocked Sender Assistant"},
        "conversation": {"id": conversation_id, "conversationType": conversation_type, "tenantId": tenant_id},
        "channelData": {"tenant": {"id": tenant_id}},
    }


def message(text: str, *, person: Person = ALEX, service_url: str, conversation_id: str = "personal-alex",
            locale: str = "en-US", tenant_id: str = TENANT_ID) -> dict[str, Any]:
    """A personal-chat message from `person`."""
    activity = _base(person, service_url, conversation_id, locale, tenant_id)
    activity.update({"type": "message", "text": text, "textFormat": "plain"})
    return activity


def invoke(verb: str, data: dict[str, Any] | None = None, *, person: Person = ALEX, service_url: str,
           conversation_id: str = "personal-alex", locale: str = "en-US", tenant_id: str = TENANT_ID,
           reply_to_id: str | None = None) -> dict[str, Any]:
    """An `adaptiveCard/action` invoke, as Teams sends it for an `Action.Execute` press."""
    activity = _base(person, service_url, conversation_id, locale, tenant_id)
    activity.update({
        "type": "invoke",
        "name": "adaptiveCard/action",
        "value": {"action": {"type": "Action.Execute", "verb": verb, "data": {"verb": verb, **(data or {})}},
                  "trigger": "manual"},
    })
    if reply_to_id:
        activity["replyToId"] = reply_to_id
    return activity


def installed(*, person: Person = ALEX, service_url: str, conversation_id: str = "personal-alex",
              tenant_id: str = TENANT_ID) -> dict[str, Any]:
    """The conversationUpdate Teams sends when the bot is added to a personal chat."""
    activity = _base(person, service_url, conversation_id, "en-US", tenant_id)
    activity.update({"type": "conversationUpdate", "membersAdded": [{"id": BOT_ID}]})
    return activity

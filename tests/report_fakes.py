"""Test support for the report feature: a recording outbox, the demo people as directory users, an IT channel."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from m365.records import BlockedSender, Mailbox, User
from store import IT_ALERT_CHANNEL, Store
from tests.activities import ALEX, ISAIAH, LYNNE, MEGAN
from tests.cardschema import texts
from tests.fakes import IT_STAFF_GROUP, SECURITY_ADMIN_GROUP, FakeTenant, group

CHANNEL_ID = "19:security@thread.tacv2"
RESTRICTED_AT = datetime(2026, 11, 28, 3, 12, 44, tzinfo=UTC)


@dataclass
class Sent:
    """One proactive send: where (conversation id), what (text or card), and the activity id it got."""

    kind: str
    conversation_id: str
    activity_id: str
    text: str = ""
    card: dict[str, Any] | None = None
    reference: dict[str, Any] = field(default_factory=dict)

    def texts(self) -> list[str]:
        """What a person reads: the text, or every text of the card."""
        return [self.text] if self.card is None else texts(self.card)


@dataclass
class RecordingOutbox:
    """Records what goes through the core's `Outbox` port (`core.notices.Notices`, card copies); `fail_for` names
    conversation ids whose sends raise (an unreachable chat)."""

    sent: list[Sent] = field(default_factory=list)
    fail_for: set[str] = field(default_factory=set)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def _conversation(self, reference: Mapping[str, Any]) -> str:
        conversation_id = str((reference.get("conversation") or {}).get("id") or "")
        if conversation_id in self.fail_for:
            raise ConnectionError(f"conversation {conversation_id} unreachable")
        return conversation_id

    async def send(self, reference: Mapping[str, Any], text: str) -> str | None:
        conversation_id = self._conversation(reference)
        sent = Sent("text", conversation_id, f"out-{next(self._ids)}", text=text, reference=dict(reference))
        self.sent.append(sent)
        return sent.activity_id

    async def send_card(self, reference: Mapping[str, Any], card: Mapping[str, Any]) -> str | None:
        conversation_id = self._conversation(reference)
        sent = Sent("card", conversation_id, f"out-{next(self._ids)}", card=dict(card), reference=dict(reference))
        self.sent.append(sent)
        return sent.activity_id

    async def update_card(self, reference: Mapping[str, Any], activity_id: str, card: Mapping[str, Any]) -> None:
        conversation_id = self._conversation(reference)
        self.sent.append(Sent("update", conversation_id, activity_id, card=dict(card), reference=dict(reference)))

    def of(self, kind: str, conversation_id: str | None = None) -> list[Sent]:
        """The sends of one kind ("text", "card", "update"), optionally in one conversation."""
        return [s for s in self.sent
                if s.kind == kind and (conversation_id is None or s.conversation_id == conversation_id)]


def directory_user(person: Any, *, user_type: str = "Member", language: str = "en-US") -> User:
    """A demo person as the directory returns them."""
    return User(id=person.aad_object_id, user_principal_name=person.upn, display_name=person.name, mail=person.upn,
                mail_nickname=person.upn.split("@")[0], user_type=user_type, preferred_language=language,
                assigned_licenses=1)


JOHANNA = User(id="b2f0dd2c-ae4b-4a9d-9c1d-6d7e8f9a0b12", user_principal_name="JohannaL@example.com",
               display_name="Johanna Lorenz", mail="JohannaL@example.com")
JORDAN = User(id="d412ff4e-c06d-4cbf-9e3f-8f9a0b1c2d14",
              user_principal_name="jordan_partner.example#EXT#@example.onmicrosoft.com",
              display_name="Jordan Miller (Partner)", mail="jordan@partner.example", user_type="Guest")


def restricted(address: str, at: datetime = RESTRICTED_AT) -> BlockedSender:
    """A Restricted entities entry for `address` since `at`."""
    return BlockedSender(sender_address=address, reason="OutboundSpamLast24Hours=187;OutboundMailLast24Hours=203;"
                         "OutboundSpamPercent=92", block_type="Spam", created=at, changed=at)


def report_tenant() -> FakeTenant:
    """Alex (security admin), Isaiah (IT staff), Megan (restricted), Lynne (fine), Johanna (no mailbox), a guest."""
    people = [directory_user(p) for p in (ALEX, ISAIAH, MEGAN, LYNNE)] + [JOHANNA, JORDAN]
    fake = FakeTenant(
        users=people,
        memberships={ALEX.aad_object_id: [group(SECURITY_ADMIN_GROUP, "Security Admins")],
                     ISAIAH.aad_object_id: [group(IT_STAFF_GROUP, "IT Staff")]},
    )
    for person in (ALEX, ISAIAH, MEGAN, LYNNE):
        fake.mailboxes[person.upn.lower()] = Mailbox(identity=person.upn, user_principal_name=person.upn,
                                                     primary_smtp_address=person.upn)
    fake.blocked[MEGAN.upn.lower()] = restricted(MEGAN.upn)
    return fake


def channel_reference(conversation_id: str = CHANNEL_ID, service_url: str = "https://test.invalid/") -> dict[str, Any]:
    """A stored reference to the IT channel, as "alerts here" saves it."""
    return {
        "bot": {"id": "28:bot", "name": "Blocked Sender Assistant"},
        "conversation": {"id": conversation_id, "conversationType": "channel", "isGroup": True},
        "channelId": "msteams",
        "serviceUrl": service_url,
        "locale": "en-US",
    }


async def set_channel(store: Store, *, locale: str = "en-US", conversation_id: str = CHANNEL_ID,
                      service_url: str = "https://test.invalid/") -> None:
    """Point IT alerts at a channel, as a security admin's "alerts here" does."""
    await store.settings.set(IT_ALERT_CHANNEL, {
        "reference": channel_reference(conversation_id, service_url), "conversation_id": conversation_id,
        "channel_name": "Security", "team_name": "My Team", "locale": locale, "time_zone": "Europe/Amsterdam",
        "set_by": "Alex Wilber",
    })

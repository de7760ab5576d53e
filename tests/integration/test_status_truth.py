"""A truthful `status`: answered from the speaker's own restriction (Get-BlockedSenderAddress, asked now) and the
report of theirs, never from a case an IT investigation opened for their account.

Through the real handler (tests/dialog_client.py), the recording fake tenant of the report tests and a real
SQLite store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot import build_handler
from cards.report import status_card
from config import Settings
from m365.errors import UpstreamUnavailable
from store import Store
from tests.activities import ALEX, LYNNE, MEGAN, TENANT_ID, Person
from tests.cardschema import assert_valid_card, texts
from tests.dialog_client import DialogClient, cards_of, texts_of
from tests.fakes import IT_STAFF_GROUP, SECURITY_ADMIN_GROUP, FakeTenant
from tests.report_fakes import RecordingOutbox, report_tenant, set_channel

SETTINGS = Settings(it_staff_group_id=IT_STAFF_GROUP, security_admin_group_id=SECURITY_ADMIN_GROUP)
WORKING_ON_IT = ("IT is working on it", "IT is ermee bezig")
ASK_AGAIN = ("I'll message you here when you can send again", "Ik stuur je hier een bericht zodra je weer kunt mailen")
CAN_SEND = {"en-US": "You can send mail.", "nl-NL": "Je kunt mail versturen."}


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    yield opened
    await opened.close()


class Rig:
    """The handler on a fake tenant (Megan restricted, Lynne not), people's chats with it."""

    def __init__(self, store: Store, fake: FakeTenant | None = None) -> None:
        self.fake = fake or report_tenant()
        self.store = store
        self.bot, _ = build_handler(SETTINGS, tenant=self.fake, store=store, outbox=RecordingOutbox())

    def chat(self, person: Person, locale: str = "en-US") -> DialogClient:
        return DialogClient(self.bot, person, locale=locale)


def shown(activities: list[object]) -> str:
    return " ".join(texts_of(activities))  # type: ignore[arg-type]


@pytest.mark.parametrize("locale", ["en-US", "nl-NL"])
async def test_lynne_who_is_not_restricted_is_told_she_can_send(store: Store, locale: str) -> None:
    rig = Rig(store)
    text = "status" if locale == "en-US" else "wat is mijn status"
    answer = shown(await rig.chat(LYNNE, locale).say(text))
    assert CAN_SEND[locale] in answer and "LynneR@example.com" in answer
    assert not any(w in answer for w in WORKING_ON_IT)
    assert rig.fake.called("get_blocked_sender")  # asked of Microsoft 365, not read from a case


async def test_an_it_investigation_is_no_report(store: Store) -> None:
    """Alex investigates Lynne (not restricted): the account gets its case, Lynne gets no report and no promise."""
    rig = Rig(store)
    await rig.chat(ALEX).say("investigate LynneR@example.com")
    case = await store.cases.get_open_case(TENANT_ID, LYNNE.aad_object_id)
    assert case is not None  # the card's record
    assert await store.cases.list_subscribers(case.id) == []
    answer = shown(await rig.chat(LYNNE).say("status"))
    assert CAN_SEND["en-US"] in answer
    assert not any(w in answer for w in WORKING_ON_IT + ASK_AGAIN)


@pytest.mark.parametrize("locale", ["en-US", "nl-NL"])
async def test_investigated_while_restricted_says_blocked_and_that_it_knows_without_a_promise(
        store: Store, locale: str) -> None:
    rig = Rig(store)
    await rig.chat(ALEX).say("investigate MeganB@example.com")
    answer = shown(await rig.chat(MEGAN, locale).say("status"))
    if locale == "en-US":
        assert "stopped your account from sending mail" in answer and "IT is already looking into it" in answer
        assert "my mail bounces" in answer
    else:
        assert "geblokkeerd voor het versturen van mail" in answer and "IT is er al mee bezig" in answer
    assert not any(w in answer for w in ASK_AGAIN)


async def test_after_her_report_the_status_is_the_case(store: Store) -> None:
    rig = Rig(store)
    await set_channel(store)
    megan = rig.chat(MEGAN)
    await megan.say("my mail bounces")
    card = cards_of(await megan.say("status"))[0]
    assert_valid_card(card)
    assert any("IT is working on it" in t for t in texts(card))
    assert any(ASK_AGAIN[0] in t for t in texts(card))


async def test_after_a_restore_the_status_does_not_contradict_itself(store: Store) -> None:
    rig = Rig(store)
    await set_channel(store)
    megan = rig.chat(MEGAN)
    await megan.say("my mail bounces")
    case = await store.cases.get_open_case(TENANT_ID, MEGAN.aad_object_id)
    assert case is not None
    await rig.fake.remove_blocked_sender(MEGAN.upn)
    await store.cases.set_status(case.id, "resolved")
    card = cards_of(await megan.say("status"))[0]
    lines = texts(card)
    assert any("You can send mail again" in t for t in lines)
    assert not any(ASK_AGAIN[0] in t for t in lines)
    assert not any(w in t for t in lines for w in WORKING_ON_IT)


async def test_unblocked_and_already_lifted_reads_as_sending_again(store: Store) -> None:
    """The case still says "unblock pending" (the checker has not looked yet), Microsoft 365 already lifted it."""
    rig = Rig(store)
    await set_channel(store)
    megan = rig.chat(MEGAN, "nl-NL")
    await megan.say("mijn mail komt terug")
    case = await store.cases.get_open_case(TENANT_ID, MEGAN.aad_object_id)
    assert case is not None
    await store.cases.set_status(case.id, "unblock_pending")
    await rig.fake.remove_blocked_sender(MEGAN.upn)
    lines = texts(cards_of(await megan.say("kan ik weer mailen?"))[0])
    assert any("Je kunt weer mail versturen" in t for t in lines)
    assert not any(ASK_AGAIN[1] in t for t in lines)


async def test_blocked_again_after_a_restore_is_not_read_from_the_old_case(store: Store) -> None:
    rig = Rig(store)
    await set_channel(store)
    megan = rig.chat(MEGAN)
    await megan.say("my mail bounces")
    case = await store.cases.get_open_case(TENANT_ID, MEGAN.aad_object_id)
    assert case is not None
    await store.cases.set_status(case.id, "resolved")  # restored… and Microsoft 365 blocked her again since
    answer = shown(await megan.say("status"))
    assert "stopped your account from sending mail" in answer
    assert "You can send mail again" not in answer


async def test_microsoft_365_unreachable_says_so_and_shows_the_last_known_report(store: Store) -> None:
    rig = Rig(store)
    await set_channel(store)
    megan = rig.chat(MEGAN)
    await megan.say("my mail bounces")
    rig.fake.failures["get_blocked_sender"] = UpstreamUnavailable("down", status=503)
    replies = await megan.say("status")
    assert "can't reach Microsoft 365" in shown(replies)
    assert cards_of(replies)


async def test_status_card_promises_a_message_only_while_waiting() -> None:
    moment = datetime(2026, 11, 28, 3, 12, tzinfo=UTC)
    for status, promised in (("open", True), ("unblock_pending", True), ("resolved", False), ("closed", False)):
        card = status_card(account="MeganB@example.com", status=status, opened=moment, updated=moment,
                           resolved=moment if status == "resolved" else None, locale="en-US", time_zone=None)
        assert any(ASK_AGAIN[0] in t for t in texts(card)) is promised, status

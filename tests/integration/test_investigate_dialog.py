"""The investigate dialog through the real handler, a recording fake tenant and a real SQLite store."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot import build_handler
from config import Settings
from m365.errors import UpstreamUnavailable
from m365.records import BlockedSender, User
from store import Store
from tests.activities import ALEX, ISAIAH, MEGAN
from tests.cardschema import assert_valid_card, lines
from tests.dialog_client import DialogClient, cards_of, texts_of
from tests.fakes import IT_STAFF_GROUP, SECURITY_ADMIN_GROUP, FakeTenant, group
from tests.report_fakes import RecordingOutbox


def user(uid: str, name: str, upn: str, department: str | None = "Sales", **kw: object) -> User:
    return User(id=uid, user_principal_name=upn, display_name=name, mail=upn, mail_nickname=upn.split("@")[0],
                department=department, **kw)  # type: ignore[arg-type]


MEGAN_B = user(MEGAN.aad_object_id, "Megan Bowen", "MeganB@example.com", "Marketing")
MEGAN_L = user("7ebc91e8-6a0d-4c5f-98e9-2f3a4b5c6d08", "Megan Lewis", "MeganL@example.com")
MIRIAM = user("8fcda2f9-7b1e-4d6a-a9fa-3a4b5c6d7e09", "Miriam O'Brien", "miriam.o'brien@example.com")
ALEX_U = user(ALEX.aad_object_id, "Alex Wilber", "AlexW@example.com", "IT")


def tenant() -> FakeTenant:
    fake = FakeTenant(
        users=[MEGAN_B, MEGAN_L, MIRIAM, ALEX_U],
        memberships={ALEX.aad_object_id: [group(SECURITY_ADMIN_GROUP, "Security Admins")],
                     ISAIAH.aad_object_id: [group(IT_STAFF_GROUP, "IT Staff")]},
    )
    fake.blocked["meganb@example.com"] = BlockedSender(sender_address="MeganB@example.com", reason="Compromised")
    return fake


SETTINGS = Settings(it_staff_group_id=IT_STAFF_GROUP, security_admin_group_id=SECURITY_ADMIN_GROUP)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    yield opened
    await opened.close()


def client(fake: FakeTenant, store: Store, person: object = ALEX, locale: str = "en-US") -> DialogClient:
    bot, _ = build_handler(SETTINGS, tenant=fake, store=store, outbox=RecordingOutbox())
    return DialogClient(bot, person, locale=locale)  # type: ignore[arg-type]


async def test_investigate_by_exact_address_asks_nothing_and_shows_findings(store: Store) -> None:
    """An exact address names one account: no "Investigate …?" question, the progress card at once."""
    fake = tenant()
    chat = client(fake, store)
    done = await chat.say("investigate MeganB@example.com")
    assert not any("Investigate" in t and "?" in t for t in texts_of(done))
    progress = cards_of(done)
    assert progress and any("Megan Bowen" in t for t in texts_of(done))
    findings = cards_of(chat.last_updates)
    assert len(findings) == 1
    assert_valid_card(findings[0])
    assert fake.called("get_blocked_sender") == [("MeganB@example.com",)]
    case = await store.cases.get_open_case(fake.tenant_id, MEGAN_B.id)
    assert case is not None and case.verdict is not None
    cards = await store.cases.list_cards(case.id)
    assert [c.activity_id for c in cards] == [chat.last_updates[0].id]


async def test_a_partial_match_is_confirmed_first(store: Store) -> None:
    """Only a single partial match ("Miriam" finding Miriam O'Brien) asks before reading someone's sign-ins."""
    chat = client(tenant(), store)
    asked = texts_of(await chat.say("investigate Miriam"))
    assert any("Investigate" in t and "Miriam O'Brien" in t for t in asked)
    assert cards_of(chat.last_updates) == []


async def test_yes_starts_from_the_confirmed_record_and_the_collector_reads_it_again(store: Store) -> None:
    """After "yes" no directory lookup stands between the request and the progress card: the account shown in the
    confirmation is kept in dialog state, and the collector re-reads it alongside the evidence."""
    fake = tenant()
    chat = client(fake, store)
    await chat.say("investigate Miriam")
    # Sign-in was blocked between the confirmation and the "yes": the card shows the account as it is now.
    fake.users[fake.users.index(MIRIAM)] = dataclasses.replace(MIRIAM, account_enabled=False)
    lookups = len(fake.called("get_user"))
    await chat.say("yes")
    assert len(fake.called("get_user")) == lookups + 1  # the collector's, concurrent with the sources
    assert "Sign-in is blocked for this account." in lines(cards_of(chat.last_updates)[0])


async def test_the_investigation_runs_when_the_account_cannot_be_read_again(store: Store) -> None:
    fake = tenant()
    chat = client(fake, store)
    await chat.say("investigate Miriam")
    fake.failures["get_user"] = UpstreamUnavailable("down", status=503)
    progress = await chat.say("yes")
    assert cards_of(progress)
    card = cards_of(chat.last_updates)[0]
    assert_valid_card(card)
    assert any("Miriam O'Brien" in line for line in lines(card))


async def test_several_matches_offer_a_choice(store: Store) -> None:
    chat = client(tenant(), store)
    offered = texts_of(await chat.say("check megan"))
    assert any("Megan Bowen (MeganB@example.com)" in t for t in offered)
    assert any("Megan Lewis (MeganL@example.com)" in t for t in offered)
    # A pick is made with the names in view: the investigation starts, no "Investigate …?" after it.
    await chat.say("2")
    assert any("Megan Lewis" in line for line in lines(cards_of(chat.last_updates)[0]))


async def test_unknown_account_says_so_and_asks_again(store: Store) -> None:
    chat = client(tenant(), store)
    replies = texts_of(await chat.say("investigate nobody@example.com"))
    assert any("nobody@example.com" in t and "find" in t for t in replies)
    again = texts_of(await chat.say("MeganB@example.com"))
    assert any("Megan Bowen" in t for t in again)


async def test_malformed_address_is_explained(store: Store) -> None:
    fake = tenant()
    chat = client(fake, store)
    replies = texts_of(await chat.say("investigate megan@@example"))
    assert any("address" in t for t in replies)
    assert fake.called("find_users") == []


async def test_apostrophe_and_odata_syntax_are_just_text(store: Store) -> None:
    fake = tenant()
    chat = client(fake, store)
    await chat.say("investigate miriam.o'brien@example.com")
    assert any("Miriam O'Brien" in line for line in lines(cards_of(chat.last_updates)[0]))
    await chat.say("investigate x' or startswith(displayName,'a")
    # The text is searched as it is (the "did you mean" searches after it use two letters of it).
    assert ("x' or startswith(displayName,'a",) in fake.called("find_users")


async def test_cancel_ends_the_dialog_at_any_step(store: Store) -> None:
    chat = client(tenant(), store)
    await chat.say("investigate")
    assert any("Cancelled" in t for t in texts_of(await chat.say("cancel")))
    assert any("help" in t for t in texts_of(await chat.say("2")))


async def test_a_user_without_the_role_is_told_politely(store: Store) -> None:
    fake = tenant()
    chat = client(fake, store, person=MEGAN)
    replies = texts_of(await chat.say("investigate PattiF@example.com"))
    assert any("IT staff" in t for t in replies)
    assert fake.called("find_users") == []


async def test_it_staff_may_investigate_but_sees_no_buttons(store: Store) -> None:
    chat = client(tenant(), store, person=ISAIAH)
    await chat.say("investigate MeganB@example.com")
    card = cards_of(chat.last_updates)[0]
    verbs = {a.get("verb") for a in _actions(card)}
    assert "unblock" not in verbs and "refresh" in verbs


async def test_dutch(store: Store) -> None:
    chat = client(tenant(), store, locale="nl-NL")
    progress = texts_of(await chat.say("onderzoek MeganB@example.com"))
    assert any("Megan Bowen" in t for t in progress)
    assert cards_of(chat.last_updates)


async def test_tenant_outage_gets_a_clear_answer(store: Store) -> None:
    fake = tenant()
    fake.failures["find_users"] = UpstreamUnavailable("down", status=503)
    chat = client(fake, store)
    replies = texts_of(await chat.say("investigate MeganB@example.com"))
    assert any("can't reach Microsoft 365" in t for t in replies)


async def test_the_dialog_survives_a_restart(store: Store, tmp_path: Path) -> None:
    fake = tenant()
    first = client(fake, store)
    await first.say("investigate megan")
    # The list is in the stored dialog state: another instance takes the typed name as the pick.
    second = client(fake, store)
    await second.say("Megan Bowen")
    assert any("Megan Bowen" in line for line in lines(cards_of(second.last_updates)[0]))
    await second.say("investigate Miriam")
    # The confirmed account's record is in the stored dialog state: a third instance investigates from it.
    lookups = len(fake.called("get_user"))
    third = client(fake, store)
    await third.say("yes")
    assert len(fake.called("get_user")) == lookups + 1  # only the collector's re-read
    assert any("Miriam O'Brien" in line for line in lines(cards_of(third.last_updates)[0]))


def _actions(card: dict[str, object]) -> list[dict[str, object]]:
    found: list[dict[str, object]] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") == "Action.Execute":
                found.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(card)
    return found

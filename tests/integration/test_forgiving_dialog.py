"""A forgiving dialog, through the real handler (DialogTestClient-like `tests/dialog_client.py`), a recording fake
tenant and a real SQLite store: natural phrasing in English and Dutch, a list answered by name, number or button,
no question for an exact match, any command interrupting a pending question, and "did you mean …?".
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot import build_handler
from config import Settings
from locales import t
from m365.records import BlockedSender, User
from store import Store
from tests.activities import ALEX, ISAIAH, LYNNE, Person
from tests.cardschema import lines
from tests.dialog_client import DialogClient, cards_of, texts_of
from tests.fakes import IT_STAFF_GROUP, SECURITY_ADMIN_GROUP, FakeTenant, group
from tests.report_fakes import RecordingOutbox

SETTINGS = Settings(it_staff_group_id=IT_STAFF_GROUP, security_admin_group_id=SECURITY_ADMIN_GROUP)
DROPPED = {"en-US": "(I dropped the earlier question.)", "nl-NL": "(De vorige vraag heb ik laten vallen.)"}


def user(uid: str, name: str, upn: str, department: str | None = "Sales") -> User:
    return User(id=uid, user_principal_name=upn, display_name=name, mail=upn, mail_nickname=upn.split("@")[0],
                department=department)


MEGAN_B = user("2f6d4c93-1b5e-4d0a-83f4-7a8b9c0d1e03", "Megan Bowen", "MeganB@example.com", "Marketing")
MEGAN_L = user("7ebc91e8-6a0d-4c5f-98e9-2f3a4b5c6d08", "Megan Lewis", "MeganL@example.com")
PATTI = user("3a7e5da4-2c6f-4e1b-94a5-8b9c0d1e2f04", "Patti Fernandez", "PattiF@example.com")
GRADY = user("90debb0a-8c2f-4e7b-bafb-4b5c6d7e8f10", "Grady Archie", "GradyA@example.com")
ALEX_U = user(ALEX.aad_object_id, "Alex Wilber", "AlexW@example.com", "IT")
LYNNE_U = user(LYNNE.aad_object_id, "Lynne Robbins", "LynneR@example.com")


def tenant() -> FakeTenant:
    fake = FakeTenant(
        users=[MEGAN_B, MEGAN_L, PATTI, GRADY, ALEX_U, LYNNE_U],
        memberships={ALEX.aad_object_id: [group(SECURITY_ADMIN_GROUP, "Security Admins")],
                     ISAIAH.aad_object_id: [group(IT_STAFF_GROUP, "IT Staff")]},
    )
    for address in ("MeganB@example.com", "PattiF@example.com", "GradyA@example.com"):
        fake.blocked[address.lower()] = BlockedSender(sender_address=address, reason="Compromised")
    return fake


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    yield opened
    await opened.close()


def client(fake: FakeTenant, store: Store, person: Person = ALEX, locale: str = "en-US") -> DialogClient:
    bot, _ = build_handler(SETTINGS, tenant=fake, store=store, outbox=RecordingOutbox())
    return DialogClient(bot, person, locale=locale)


def findings_of(chat: DialogClient) -> str:
    """The findings card the last turn put in place of its progress card, as one line of text."""
    cards = cards_of(chat.last_updates)
    assert cards, "no findings card"
    return " ".join(lines(cards[-1]))


def asks_to_confirm(texts: list[str]) -> bool:
    return any(("Investigate" in t or "onderzoeken?" in t) and "?" in t for t in texts)


# ------------------------------------------------------------------------------------------ natural phrasing


@pytest.mark.parametrize(("locale", "text"), [
    ("en-US", "is MeganB@example.com compromised?"),
    ("en-US", "has Megan Bowen been hacked?"),
    ("en-US", "Megan Bowen"),                       # a bare directory name, for IT staff
    ("nl-NL", "is MeganB@example.com gehackt?"),
    ("nl-NL", "controleer Megan Bowen"),
    ("nl-NL", "Megan Bowen"),
])
async def test_asking_about_an_account_in_plain_words_reaches_the_findings(
        store: Store, locale: str, text: str) -> None:
    chat = client(tenant(), store, locale=locale)
    replies = texts_of(await chat.say(text))
    assert not asks_to_confirm(replies)  # exact: no question
    assert "Megan Bowen" in findings_of(chat)


@pytest.mark.parametrize(("locale", "text"), [("en-US", "check Megan"), ("nl-NL", "is megan gehackt?"),
                                              ("nl-NL", "controleer Megan")])
async def test_a_partial_name_offers_the_list(store: Store, locale: str, text: str) -> None:
    chat = client(tenant(), store, locale=locale)
    offered = texts_of(await chat.say(text))
    assert any("Megan Bowen (MeganB@example.com)" in t for t in offered)
    assert any("Megan Lewis (MeganL@example.com)" in t for t in offered)
    assert cards_of(chat.last_updates) == []


@pytest.mark.parametrize(("locale", "text", "hint"), [
    ("en-US", "unblock GradyA@example.com", "To unblock, press **Unblock**"),
    ("nl-NL", "deblokkeer GradyA@example.com", "Deblokkeer met **Deblokkeren**"),
    # Patti's card (a restriction, no sign of compromise) requires no step: the hint names none (never a subset).
    ("en-US", "secure PattiF@example.com", "The card above marks no step as required for this account"),
    ("nl-NL", "beveilig PattiF@example.com", "Op de kaart hierboven is voor dit account geen stap verplicht"),
])
async def test_secure_and_unblock_show_the_card_and_point_at_its_buttons(
        store: Store, locale: str, text: str, hint: str) -> None:
    """The typed command never writes: the card's buttons (and their gate) do."""
    fake = tenant()
    chat = client(fake, store, locale=locale)
    sent = await chat.say(text)
    assert any(hint in (a.text or "") for a in sent)
    assert cards_of(chat.last_updates)
    assert fake.called("remove_blocked_sender") == [] and fake.called("revoke_sign_in_sessions") == []


@pytest.mark.parametrize(("locale", "text", "answer"), [("en-US", "unblock Grady", "yes"),
                                                        ("nl-NL", "deblokkeer Grady", "ja"),
                                                        ("en-US", "secure Patti", "yes"),
                                                        ("nl-NL", "beveilig Patti", "ja")])
async def test_a_first_name_is_confirmed_then_the_card_comes(store: Store, locale: str, text: str,
                                                             answer: str) -> None:
    chat = client(tenant(), store, locale=locale)
    assert asks_to_confirm(texts_of(await chat.say(text)))
    sent = await chat.say(answer)
    assert cards_of(chat.last_updates)
    # The hint: the Unblock button by name, or (Patti's card requires no step) that nothing is required.
    assert any("**" in (a.text or "") or a.text == t(locale, "investigate.hint.secure_none") for a in sent)


async def test_it_staff_are_told_who_may_unblock(store: Store) -> None:
    chat = client(tenant(), store, person=ISAIAH)
    sent = texts_of(await chat.say("unblock GradyA@example.com"))
    assert any("Only security admins can secure or unblock" in t for t in sent)


async def test_a_user_typing_a_name_is_told_what_they_can_do_without_a_lookup(store: Store) -> None:
    fake = tenant()
    chat = client(fake, store, person=LYNNE)
    shown = " ".join(texts_of(await chat.say("Megan Bowen")))
    assert "only IT staff can look into other people's accounts" in shown
    assert "unblock" not in shown.lower()
    refused = " ".join(texts_of(await chat.say("unblock Grady")))
    assert "Only IT staff" in refused
    assert fake.called("find_users") == []


async def test_a_bare_word_that_is_nobody_is_not_understood(store: Store) -> None:
    chat = client(tenant(), store)
    shown = " ".join(texts_of(await chat.say("thanks")))
    assert "I didn't understand that" in shown
    assert "couldn't find" not in shown


# ------------------------------------------------------------------------------------------ picking from a list


@pytest.mark.parametrize("answer", ["Megan Bowen", "megan bowen", "1", "MeganB@example.com", "Bowen",
                                    "Megan Bowen (MeganB@example.com)", "the first one"])
async def test_a_list_is_answered_by_name_number_address_or_button(store: Store, answer: str) -> None:
    chat = client(tenant(), store)
    await chat.say("check Megan")
    replies = texts_of(await chat.say(answer))
    assert not asks_to_confirm(replies)  # a pick is made with the names in view
    shown = findings_of(chat)
    assert "Megan Bowen" in shown and "Megan Lewis" not in shown


async def test_an_ambiguous_answer_asks_again_and_guesses_nobody(store: Store) -> None:
    chat = client(tenant(), store)
    await chat.say("check Megan")
    retry = " ".join(texts_of(await chat.say("Megan")))
    assert "by number or name" in retry
    assert cards_of(chat.last_updates) == []
    await chat.say("Megan Lewis")
    assert "Megan Lewis" in findings_of(chat)


async def test_no_to_a_list_cancels(store: Store) -> None:
    chat = client(tenant(), store)
    await chat.say("check Megan")
    assert any("Cancelled" in t for t in texts_of(await chat.say("none of them")))


# ------------------------------------------------------------------------------------------ interruptions


@pytest.mark.parametrize("locale", ["en-US", "nl-NL"])
async def test_help_interrupts_a_pending_yes_no(store: Store, locale: str) -> None:
    chat = client(tenant(), store, locale=locale)
    assert asks_to_confirm(texts_of(await chat.say("investigate Grady")))
    sent = await chat.say("help" if locale == "en-US" else "hulp")
    shown = texts_of(sent)
    assert DROPPED[locale] in shown
    assert cards_of(sent)  # the help card
    assert not any("yes or no" in t or "ja of nee" in t for t in shown)
    # The question is gone: "yes" now answers nothing.
    await chat.say("yes")
    assert cards_of(chat.last_updates) == []


async def test_a_command_interrupts_a_list(store: Store) -> None:
    chat = client(tenant(), store)
    await chat.say("check Megan")
    sent = texts_of(await chat.say("is PattiF@example.com compromised?"))
    assert DROPPED["en-US"] in sent
    assert "Patti Fernandez" in findings_of(chat)


async def test_status_interrupts_a_pending_question(store: Store) -> None:
    chat = client(tenant(), store)
    await chat.say("investigate")
    shown = texts_of(await chat.say("what's my status?"))
    assert DROPPED["en-US"] in shown
    assert any("You can send mail" in t for t in shown)


async def test_investigate_x_after_the_button_is_the_command_not_a_name(store: Store) -> None:
    fake = tenant()
    chat = client(fake, store)
    response = await chat.press("start_investigation")
    assert response is not None
    chat.adapter.activity_buffer.clear()
    sent = texts_of(await chat.say("investigate MeganB@example.com"))
    assert DROPPED["en-US"] not in sent  # it answers the question, said the long way
    assert "Megan Bowen" in findings_of(chat)
    assert ("investigate MeganB@example.com",) not in fake.called("find_users")


async def test_cancel_still_cancels(store: Store) -> None:
    chat = client(tenant(), store)
    await chat.say("investigate Grady")
    assert any("Cancelled" in t for t in texts_of(await chat.say("cancel")))


# ------------------------------------------------------------------------------------------ did you mean


@pytest.mark.parametrize(("locale", "text", "yes", "question"), [
    ("en-US", "investigate Megn Bowen", "yes", "Did you mean this one?"),
    ("nl-NL", "onderzoek Megn Bowen", "ja", "Bedoelde je deze?"),
    ("en-US", "Megn Bowen", "yes", "Did you mean this one?"),   # a bare name with a typo
])
async def test_a_typo_gets_did_you_mean_and_yes_picks_it(store: Store, locale: str, text: str, yes: str,
                                                         question: str) -> None:
    chat = client(tenant(), store, locale=locale)
    offered = texts_of(await chat.say(text))
    assert any(question in t for t in offered)
    assert any("Megan Bowen (MeganB@example.com)" in t for t in offered)
    await chat.say(yes)
    assert "Megan Bowen" in findings_of(chat)


async def test_did_you_mean_can_be_answered_by_typing_the_name(store: Store) -> None:
    chat = client(tenant(), store)
    offered = texts_of(await chat.say("unblock Grdy Archei"))
    assert any("Grady Archie (GradyA@example.com)" in t for t in offered)
    sent = await chat.say("Grady Archie")
    assert "Grady Archie" in findings_of(chat)
    assert any("To unblock" in (a.text or "") for a in sent)


async def test_nothing_close_is_not_found(store: Store) -> None:
    chat = client(tenant(), store)
    shown = " ".join(texts_of(await chat.say("investigate Zzyzx Qwerty")))
    assert "couldn't find an account matching" in shown and "Did you mean" not in shown

"""The user's report through the real handler: a recording fake tenant, a real SQLite store, a recording outbox.

English and Dutch; restricted and not; the case and the one IT alert; bad input (empty, 10,000 characters,
emoji, a bounce naming someone else, repeated reports, no mailbox, a guest, an unknown account).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from microsoft_agents.activity import Activity, ConversationAccount

from bot import build_handler
from config import Settings
from m365.errors import UpstreamUnavailable
from store import Store
from teams.handler import BlockedSenderBot
from teams.reporting import Reporting
from tests.activities import ALEX, ISAIAH, LYNNE, MEGAN, PATTI, TENANT_ID, Person
from tests.cardschema import assert_valid_card, texts
from tests.dialog_client import DialogClient, cards_of, texts_of
from tests.fakes import IT_STAFF_GROUP, SECURITY_ADMIN_GROUP, FakeTenant
from tests.report_fakes import (
    CHANNEL_ID,
    JOHANNA,
    JORDAN,
    RESTRICTED_AT,
    RecordingOutbox,
    report_tenant,
    restricted,
    set_channel,
)

SETTINGS = Settings(it_staff_group_id=IT_STAFF_GROUP, security_admin_group_id=SECURITY_ADMIN_GROUP)
JOHANNA_P = Person(JOHANNA.display_name, JOHANNA.id, JOHANNA.user_principal_name)
JORDAN_P = Person(JORDAN.display_name, JORDAN.id, "jordan@partner.example")
STRANGER = Person("Nobody Known", "eeeeeeee-1111-4222-8333-444444444444", "nobody@example.com")

# An Outlook bounce (English), as a user pastes it: it names the recipient, someone else.
NDR_EN = """Undeliverable: Quarterly figures
Delivery has failed to these recipients or groups:
PattiF@example.com
Your message couldn't be delivered because you weren't recognized as a valid sender. The most common reason
for this is that your email address is suspected of sending spam and it's no longer allowed to send email.
Diagnostic information for administrators:
Generating server: AM0PR02MB1234.eurprd02.prod.outlook.com
Remote Server returned '550 5.1.8 Access denied, bad outbound sender AS(42003)'"""
# The same bounce in Dutch Outlook.
NDR_NL = """Onbestelbaar: Kwartaalcijfers
De bezorging aan deze geadresseerden of groepen is mislukt:
jan@klant.example
Uw bericht kan niet worden bezorgd omdat u niet bent herkend als een geldige afzender.
Externe server heeft '550 5.1.8 Toegang geweigerd, ongeldige uitgaande afzender' geretourneerd"""


@dataclass
class Rig:
    """The handler with its report feature, wired to a recording outbox."""

    fake: FakeTenant
    store: Store
    outbox: RecordingOutbox
    reporting: Reporting
    bot: BlockedSenderBot

    def chat(self, person: Person, locale: str = "en-US", time_zone: str | None = "Europe/Amsterdam") -> DialogClient:
        client = DialogClient(self.bot, person, locale=locale)
        client.adapter.template.local_timezone = time_zone
        return client

    def channel(self, person: Person, locale: str = "en-US") -> DialogClient:
        client = DialogClient(self.bot, person, locale=locale)
        client.adapter.template.conversation = ConversationAccount(
            id=f"{CHANNEL_ID};messageid=1700000000000", conversation_type="channel", is_group=True)
        return client

    async def settle(self) -> None:
        await self.reporting.notices.idle()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    yield opened
    await opened.close()


def make_rig(store: Store, fake: FakeTenant | None = None) -> Rig:
    fake = fake or report_tenant()
    outbox = RecordingOutbox()
    bot, parts = build_handler(SETTINGS, tenant=fake, store=store, outbox=outbox)
    return Rig(fake, store, outbox, parts.reporting, bot)


def drained(client: DialogClient) -> list[Activity]:
    """What the bot sent during a button press (besides the invoke response)."""
    out = list(client.adapter.activity_buffer)
    client.adapter.activity_buffer.clear()
    return [a for a in out if a.type == "message"]


# ------------------------------------------------------------------------------------------ restricted


async def test_restricted_user_gets_the_explanation_a_case_and_it_is_alerted(store: Store) -> None:
    rig = make_rig(store)
    await set_channel(store)
    megan = rig.chat(MEGAN)
    replies = await megan.say("my mail bounces")
    shown = " ".join(texts_of(replies))
    assert "Microsoft 365 has stopped your account from sending mail" in shown
    assert "someone else got hold of your password" in shown
    assert "IT has been told" in shown
    assert "Don't use your old password anywhere else" in shown
    assert "Deny any sign-in or MFA prompt" in shown
    assert "Teams" in shown and "phone" in shown
    assert "28 Nov 2026, 04:12 CET" in shown  # since when, in her time zone
    cards = cards_of(replies)
    assert len(cards) == 2
    for card in cards:
        assert_valid_card(card)
    assert "Your report" in texts(cards[1]) and any("IT is working on it" in t for t in texts(cards[1]))

    case = await store.cases.get_open_case(TENANT_ID, MEGAN.aad_object_id)
    assert case is not None and case.account_upn == MEGAN.upn
    assert await store.cases.list_subscribers(case.id) == [MEGAN.aad_object_id]

    await rig.settle()
    alerts = rig.outbox.of("card", CHANNEL_ID)
    assert len(alerts) == 1
    alert_text = " ".join(alerts[0].texts())
    assert "Restricted from sending mail" in alert_text and alert_text.startswith("Reported by  Megan Bowen")
    assert "Reported in a chat with the bot" in alert_text
    assert "Megan Bowen" in alert_text
    assert_valid_card(alerts[0].card or {})
    updates = rig.outbox.of("update", CHANNEL_ID)
    assert [u.activity_id for u in updates] == [alerts[0].activity_id]
    findings = updates[0].card or {}
    assert_valid_card(findings)
    verbs = {a.get("verb") for a in _actions(findings)}
    assert "unblock" in verbs or "force_password_change" in verbs  # the remediation buttons came with it
    assert [c.conversation_id for c in await store.cases.list_cards(case.id)] == [CHANNEL_ID]
    seen = await store.restrictions.get(TENANT_ID, MEGAN.upn, RESTRICTED_AT)
    assert seen is not None and seen.alerted_at is not None and seen.case_id == case.id


async def test_repeated_reports_make_one_case_and_one_alert(store: Store) -> None:
    rig = make_rig(store)
    await set_channel(store)
    megan = rig.chat(MEGAN)
    await megan.say("my mail bounces")
    second = " ".join(texts_of(await megan.say("I can't send email")))
    assert "IT already knows" in second
    third = " ".join(texts_of(await megan.say(NDR_EN)))
    assert "IT already knows" in third
    # The same person from two chats at once (a phone and a laptop).
    other = DialogClient(rig.bot, MEGAN, conversation_id="personal-megan-phone")
    await asyncio.gather(megan.say("mail bounces"), other.say("my mail is blocked"))
    await rig.settle()
    assert len(rig.outbox.of("card", CHANNEL_ID)) == 1
    cases = await store.cases.list_cases(tenant_id=TENANT_ID, account_id=MEGAN.aad_object_id)
    assert len(cases) == 1
    assert await store.cases.list_subscribers(cases[0].id) == [MEGAN.aad_object_id]


async def test_in_dutch_with_dutch_dates_and_a_dutch_channel(store: Store) -> None:
    rig = make_rig(store)
    await set_channel(store, locale="nl-NL")
    megan = rig.chat(MEGAN, locale="nl-NL")
    replies = await megan.say("mijn mail wordt geweigerd")
    shown = " ".join(texts_of(replies))
    assert "Microsoft 365 heeft je account geblokkeerd voor het versturen van mail" in shown
    assert "IT is gewaarschuwd" in shown
    assert "28 nov 2026, 04:12 CET" in shown
    assert "Je melding" in shown and "IT is ermee bezig" in shown
    await rig.settle()
    alert = rig.outbox.of("card", CHANNEL_ID)[0]
    assert "Geblokkeerd voor het versturen van mail" in " ".join(alert.texts())
    again = " ".join(texts_of(await megan.say(NDR_NL)))
    assert "IT weet het al" in again


async def test_a_pasted_bounce_naming_someone_else_checks_only_the_speaker(store: Store) -> None:
    fake = report_tenant()
    fake.blocked[PATTI.upn.lower()] = restricted(PATTI.upn)
    rig = make_rig(store, fake)
    await set_channel(store)
    shown = " ".join(texts_of(await rig.chat(MEGAN).say(NDR_EN)))
    assert "I checked your own account:  MeganB@example.com" in shown  # label and address: two runs
    assert "not the other addresses in your message" in shown
    assert {args[0].lower() for args in fake.called("get_blocked_sender")} == {MEGAN.upn.lower()}
    assert await store.cases.get_open_case(TENANT_ID, PATTI.aad_object_id) is None
    # Lynne pastes a bounce that names Megan (restricted): Lynne's own account is fine, and that is the answer.
    lynne = " ".join(texts_of(await rig.chat(LYNNE).say("Remote Server returned '550 5.1.8' for MeganB@example.com")))
    assert "Your account can send mail" in lynne


# ------------------------------------------------------------------------------------------ not restricted


async def test_not_restricted_lists_other_causes_and_offers_to_notify_it(store: Store) -> None:
    rig = make_rig(store)
    await set_channel(store)
    lynne = rig.chat(LYNNE)
    replies = await lynne.say("I can't send email to a customer")
    shown = " ".join(texts_of(replies))
    assert "Your account can send mail" in shown
    assert "wrong recipient address" in shown and "mailbox is full" in shown and "refused the message" in shown
    card = cards_of(replies)[0]
    assert_valid_card(card)
    assert [a.get("verb") for a in _actions(card)] == ["notify_it"]
    assert await store.cases.list_cases(tenant_id=TENANT_ID, account_id=LYNNE.aad_object_id) == []

    response = await lynne.press("notify_it")
    assert response.body["value"] == "I've answered in the chat."
    told = " ".join(texts_of(drained(lynne)))
    assert "I've asked IT to take a look" in told
    asks = rig.outbox.of("card", CHANNEL_ID)
    assert len(asks) == 1 and "A user's mail bounces" in asks[0].texts()
    assert_valid_card(asks[0].card or {})
    again = " ".join(texts_of(await lynne.say("notify IT anyway")))
    assert "already has your request" in again
    assert len(rig.outbox.of("card", CHANNEL_ID)) == 1
    entries = [e for e in await store.audit.list() if e.action == "report.asked_it"]
    assert len(entries) == 1 and entries[0].actor_id == LYNNE.aad_object_id


async def test_not_restricted_in_dutch(store: Store) -> None:
    rig = make_rig(store)
    shown = " ".join(texts_of(await rig.chat(LYNNE, locale="nl-NL").say("ik kan niet mailen")))
    assert "Je account kan mail versturen" in shown and "Toch IT waarschuwen" in shown


async def test_notify_it_with_nobody_to_tell_says_so(store: Store) -> None:
    rig = make_rig(store)  # no channel, and no security admin has talked with the bot
    shown = " ".join(texts_of(await rig.chat(LYNNE).say("notify IT anyway")))
    assert "could not reach IT" in shown


# ------------------------------------------------------------------------------------------ status


async def test_status_before_and_after_a_report(store: Store) -> None:
    rig = make_rig(store)
    await set_channel(store)
    megan = rig.chat(MEGAN)
    # Blocked, not reported yet: the status says so (asked of Microsoft 365), and how to report it.
    before = " ".join(texts_of(await megan.say("status")))
    assert "stopped your account from sending mail" in before and "my mail bounces" in before
    assert "IT is working on it" not in before
    await megan.say("my mail bounces")
    replies = await megan.say("status")
    card = cards_of(replies)[0]
    assert_valid_card(card)
    assert any("IT is working on it" in t for t in texts(card))
    assert any("MeganB@example.com" in t for t in texts(card))
    dutch = rig.chat(MEGAN, locale="nl-NL")
    assert any("IT is ermee bezig" in t for t in texts_of(await dutch.say("hoe staat het met mijn melding?")))


# ------------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize("text", ["", "🙂🙂🙂", "🚫📧", "x" * 10_000, "I can't send the report by Friday"])
async def test_input_that_is_no_report_gets_a_clear_answer(store: Store, text: str) -> None:
    rig = make_rig(store)
    shown = " ".join(texts_of(await rig.chat(MEGAN).say(text)))
    assert "I didn't understand that" in shown and "help" in shown
    assert rig.fake.called("get_blocked_sender") == []


async def test_a_ten_thousand_character_bounce_is_still_a_report(store: Store) -> None:
    rig = make_rig(store)
    paste = ("Received: from mail.example.com by relay.example.net; " * 200)[:9_900] + "\n550 5.1.8 bad outbound sender"
    assert len(paste) > 9_900
    shown = " ".join(texts_of(await rig.chat(MEGAN).say(paste)))
    assert "stopped your account from sending mail" in shown


async def test_a_user_without_a_mailbox(store: Store) -> None:
    rig = make_rig(store)
    shown = " ".join(texts_of(await rig.chat(JOHANNA_P).say("my mail bounces")))
    assert "has no mailbox here" in shown


async def test_a_guest_is_sent_to_their_own_it(store: Store) -> None:
    rig = make_rig(store)
    shown = " ".join(texts_of(await rig.chat(JORDAN_P).say("my mail bounces")))
    assert "You are a guest" in shown
    assert rig.fake.called("get_blocked_sender") == []


async def test_an_account_missing_from_the_directory(store: Store) -> None:
    rig = make_rig(store)
    shown = " ".join(texts_of(await rig.chat(STRANGER).say("my mail bounces")))
    assert "can't find your account" in shown


async def test_microsoft_365_unreachable(store: Store) -> None:
    fake = report_tenant()
    fake.failures["get_blocked_sender"] = UpstreamUnavailable("down", status=503)
    rig = make_rig(store, fake)
    shown = " ".join(texts_of(await rig.chat(MEGAN).say("my mail bounces")))
    assert "can't reach Microsoft 365" in shown
    assert await store.cases.get_open_case(TENANT_ID, MEGAN.aad_object_id) is None


async def test_a_report_in_a_channel_is_asked_for_in_private(store: Store) -> None:
    rig = make_rig(store)
    shown = " ".join(texts_of(await rig.channel(MEGAN).say("my mail bounces")))
    assert "personal chat" in shown
    assert rig.fake.called("get_blocked_sender") == []


async def test_the_welcome_button_starts_the_report(store: Store) -> None:
    rig = make_rig(store)
    await set_channel(store)
    megan = rig.chat(MEGAN)
    response = await megan.press("report_bounce")
    assert response.body["value"] == "I've answered in the chat."
    shown = " ".join(texts_of(drained(megan)))
    assert "stopped your account from sending mail" in shown


# ------------------------------------------------------------------------------------------ where alerts go


async def test_without_a_channel_alerts_go_to_security_admins_with_the_bot(store: Store) -> None:
    rig = make_rig(store)
    megan = rig.chat(MEGAN)
    pending = " ".join(texts_of(await megan.say("my mail bounces")))
    assert "could not reach IT just now" in pending  # nobody to tell yet; the watch retries
    await rig.chat(ALEX).say("hi")  # Alex (security admin) has the bot installed now
    await rig.chat(ISAIAH).say("hi")  # Isaiah is IT staff, not an admin: no alert DMs
    watch = rig.reporting.watch
    result = await watch.run_once()
    assert result.alerted == 1
    alex_chat = f"personal-{ALEX.aad_object_id}"
    assert [s.conversation_id for s in rig.outbox.of("card")] == [alex_chat]
    assert [s.conversation_id for s in rig.outbox.of("update")] == [alex_chat]
    assert (await watch.run_once()).alerted == 0
    later = " ".join(texts_of(await megan.say("my mail bounces")))
    assert "IT already knows" in later


async def test_each_personal_turn_saves_the_reference_with_language_and_zone(store: Store) -> None:
    rig = make_rig(store)
    await rig.chat(MEGAN, locale="nl-NL", time_zone="Europe/Amsterdam").say("hallo")
    saved = await store.conversations.get(TENANT_ID, MEGAN.aad_object_id)
    assert saved is not None
    assert (saved.locale, saved.time_zone) == ("nl-NL", "Europe/Amsterdam")
    assert saved.reference["conversation"]["id"] == f"personal-{MEGAN.aad_object_id}"
    assert "activityId" not in saved.reference
    # A channel message is not a way to reach someone privately: nothing is saved for it.
    await rig.channel(LYNNE).say("hi")
    assert await store.conversations.get(TENANT_ID, LYNNE.aad_object_id) is None


def _actions(card: dict[str, object]) -> list[dict[str, object]]:
    """Every Action.Execute in a card, at any depth."""
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

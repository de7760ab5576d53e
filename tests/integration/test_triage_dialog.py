"""Triage through the real handler, dialogs and SQLite store, with a recording fake tenant.

The matrix user / IT staff / security admin for "triage" and its buttons, the bulk unblock through the single
unblock path (claims, audit, case step), and forged, stale and replayed presses. The bulk investigator is a
stand-in that judges each account from a story of `tests/unit/test_verdict.py` (the real one is exercised over
HTTP against the demo tenant in `test_triage_http.py`); `FakeTenant.calls` shows every read and write.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot import build_handler
from config import Settings
from core.triage import fingerprint, shown_at_value
from investigation.collect import Investigation
from m365.errors import UpstreamUnavailable
from m365.records import BlockedSender, User
from store import Store
from tests.activities import ADELE, ALEX, ISAIAH, LYNNE, MEGAN, PATTI, TENANT_ID, Person
from tests.cardschema import assert_valid_card, lines
from tests.dialog_client import DialogClient, cards_of, texts_of
from tests.fakes import IT_STAFF_GROUP, SECURITY_ADMIN_GROUP, FakeTenant, group
from tests.integration.test_remediation_policy import body_of, card_of, investigation_of, message_of
from tests.report_fakes import RecordingOutbox
from tests.unit.test_verdict import adele, megan, patti

SETTINGS = Settings(it_staff_group_id=IT_STAFF_GROUP, security_admin_group_id=SECURITY_ADMIN_GROUP)
WRITES = frozenset({"remove_blocked_sender", "revoke_sign_in_sessions", "force_password_change",
                    "set_inbox_rule_enabled", "remove_mailbox_forwarding", "set_account_enabled",
                    "confirm_compromised", "dismiss_risk"})


def lookalike(person: Person) -> dict[str, Any]:
    """Adele's story (a legitimate bulk mailing: no signs of compromise) told about someone else."""
    story = copy.deepcopy(adele())
    story["user"].update(id=person.aad_object_id, userPrincipalName=person.upn, displayName=person.name,
                         mail=person.upn)
    story["blocked"]["SenderAddress"] = person.upn
    story["alerts"] = []
    return story


STORIES = {MEGAN.aad_object_id: megan(), PATTI.aad_object_id: patti(), ADELE.aad_object_id: adele(),
           LYNNE.aad_object_id: lookalike(LYNNE), ALEX.aad_object_id: lookalike(ALEX)}


class StoryBulk:
    """Stands in for `Investigations.investigate_many`: each account judged from its story, as of now."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    async def investigate_many(self, users: Sequence[User], *, on_progress: Any = None) -> dict[str, Investigation]:
        self.batches.append(sorted(u.id for u in users))
        out: dict[str, Investigation] = {}
        for user in users:
            if user.id in STORIES:
                judged = investigation_of(STORIES[user.id])
                evidence = dataclasses.replace(judged.evidence, now=datetime.now(UTC))
                out[user.id] = dataclasses.replace(judged, evidence=evidence)
        return out


def restrict(fake: FakeTenant, person: Person) -> None:
    story = STORIES[person.aad_object_id]
    fake.users.append(User.from_graph(story["user"]))
    fake.blocked[person.upn.lower()] = BlockedSender.from_exchange(story["blocked"])


def make_tenant(*restricted: Person) -> FakeTenant:
    fake = FakeTenant(memberships={ALEX.aad_object_id: [group(SECURITY_ADMIN_GROUP, "Security Admins")],
                                   ISAIAH.aad_object_id: [group(IT_STAFF_GROUP, "IT Staff")]})
    for person in restricted:
        restrict(fake, person)
    return fake


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    yield opened
    await opened.close()


@pytest.fixture
def bulk(monkeypatch: pytest.MonkeyPatch) -> StoryBulk:
    stand_in = StoryBulk()

    async def investigate_many(service: Any, users: Sequence[User], *,
                               on_progress: Any = None) -> dict[str, Investigation]:
        return await stand_in.investigate_many(users, on_progress=on_progress)

    monkeypatch.setattr("investigation.service.Investigations.investigate_many", investigate_many)
    return stand_in


@pytest.fixture
def fake() -> FakeTenant:
    return make_tenant(MEGAN, PATTI, ADELE)


def chat(fake: FakeTenant, store: Store, person: Person, *, locale: str = "en-US") -> DialogClient:
    bot, _ = build_handler(SETTINGS, tenant=fake, store=store, outbox=RecordingOutbox())
    return DialogClient(bot, person, locale=locale)


def writes(fake: FakeTenant) -> list[tuple[str, tuple[Any, ...]]]:
    return [(name, args) for name, args in fake.calls if name in WRITES]


def names_on(card: dict[str, Any]) -> list[str]:
    return [c["items"][0]["inlines"][0]["text"] for c in card["body"]
            if c.get("type") == "Container" and c.get("separator")]


def verbs_on(card: dict[str, Any]) -> list[str]:
    return [a["data"]["verb"] for a in card.get("actions", [])]


async def triage(client: DialogClient, text: str = "triage") -> dict[str, Any]:
    """Say `text`; the progress card goes out first and the list replaces it."""
    sent = await client.say(text)
    progress = cards_of(sent)
    assert len(progress) == 1 and progress[0]["body"][0]["text"].startswith(("Checking", "Ik controleer")), sent
    updated = cards_of(client.last_updates)
    assert len(updated) == 1 and client.last_updates[0].id  # the progress card's activity, replaced
    assert_valid_card(updated[0])
    return updated[0]


async def test_a_user_gets_a_polite_refusal_and_nothing_is_read(fake: FakeTenant, store: Store,
                                                               bulk: StoryBulk) -> None:
    client = chat(fake, store, LYNNE)
    sent = await client.say("list blocked")
    assert texts_of(sent) == ["Only IT staff and security admins can see the list of restricted accounts. If your "
                              "own mail bounces, tell me \"my mail bounces\" and I will check your account."]
    for verb, data in (("triage", {}), ("triage_page", {"page": "0"}), ("triage_unblock", {}),
                       ("triage_unblock", {"confirm": "1", "list": "a" * 20, "at": "1"})):
        assert "Only IT staff and security admins" in message_of(await client.press(verb, data))
    assert fake.called("list_blocked_senders") == [] and bulk.batches == [] and writes(fake) == []
    dutch = chat(fake, store, LYNNE, locale="nl-NL")
    assert "Alleen IT-medewerkers en beveiligingsbeheerders" in texts_of(await dutch.say("geblokkeerde accounts"))[0]


async def test_it_staff_see_the_list_worst_first_without_the_bulk_button(fake: FakeTenant, store: Store,
                                                                        bulk: StoryBulk) -> None:
    client = chat(fake, store, ISAIAH)
    card = await triage(client)
    assert names_on(card) == ["Megan Bowen", "Patti Fernandez", "Adele Vance"]
    shown = lines(card)
    assert "Restricted accounts (3)" in shown
    assert any(line.startswith("Compromised · restricted since 22 Oct 2024") for line in shown)
    assert any(line.startswith("Suspicious · restricted") for line in shown)
    assert any(line.startswith("No signs of compromise · restricted") for line in shown)
    assert "Only security admins can unblock accounts from this list." in shown
    assert verbs_on(card) == []
    assert bulk.batches == [sorted([MEGAN.aad_object_id, PATTI.aad_object_id, ADELE.aad_object_id])]
    # Each investigation is on its account's case, as a single investigation leaves it.
    cases = {c.account_id: c for c in await store.cases.list_cases("open")}
    assert {k: c.verdict for k, c in cases.items()} == {MEGAN.aad_object_id: "compromised",
                                                       PATTI.aad_object_id: "suspicious",
                                                       ADELE.aad_object_id: "no_signs"}
    assert all(c.summary.get("snapshot") for c in cases.values())
    # IT staff may page, not unblock; nothing was written.
    assert names_on(card_of(await client.press("triage_page", {"page": "0"}))) == names_on(card)
    assert message_of(await client.press("triage_unblock", {})) == (
        "Only security admins can unblock accounts. You can see the list; ask a security admin to unblock.")
    assert writes(fake) == []


async def test_fresh_verdicts_are_not_investigated_again(fake: FakeTenant, store: Store, bulk: StoryBulk) -> None:
    client = chat(fake, store, ISAIAH)
    await triage(client)
    restrict(fake, LYNNE)
    await triage(client, "who is blocked")
    # Only the account without a verdict was investigated the second time.
    assert bulk.batches[1:] == [[LYNNE.aad_object_id]]


async def test_an_admin_unblocks_every_account_with_no_signs_through_the_single_unblock_path(
        store: Store, bulk: StoryBulk) -> None:
    fake = make_tenant(MEGAN, PATTI, ADELE, LYNNE)
    client = chat(fake, store, ALEX)
    card = await triage(client, "list blocked accounts")
    assert [a["title"] for a in card["actions"]] == ["Unblock all with no signs of compromise (2)"]
    confirmation = card_of(await client.press("triage_unblock", {}))
    assert "Unblock 2 accounts with no signs of compromise?" in lines(confirmation)
    assert {"Adele Vance  AdeleV@example.com", "Lynne Robbins  LynneR@example.com"} <= set(lines(confirmation))
    assert not any("Megan" in line or "Patti" in line for line in lines(confirmation))
    assert writes(fake) == []  # the confirmation itself changes nothing
    confirm = confirmation["actions"][0]["data"]

    result = card_of(await client.press("triage_unblock", confirm))
    shown = lines(result)
    assert "Bulk unblock: 2 unblocked, 0 skipped, 0 failed" in shown
    assert shown.count("Unblocked: sending usually resumes within an hour, at most 24 hours.") == 2
    assert sorted(writes(fake)) == [("remove_blocked_sender", ("AdeleV@example.com",)),
                                    ("remove_blocked_sender", ("LynneR@example.com",))]
    for person in (ADELE, LYNNE):
        case = await store.cases.get_open_case(TENANT_ID, person.aad_object_id)
        assert case is not None and case.status == "unblock_pending"
        assert case.steps["unblock:"]["by_id"] == ALEX.aad_object_id
        audit = [(e.action, e.outcome, e.actor_id, e.target) for e in await store.audit.list(case_id=case.id)]
        assert audit == [("unblock", "started", ALEX.aad_object_id, person.upn),
                         ("unblock", "succeeded", ALEX.aad_object_id, person.upn)]
    for person in (MEGAN, PATTI):
        case = await store.cases.get_open_case(TENANT_ID, person.aad_object_id)
        assert case is not None and case.status == "open" and await store.audit.list(case_id=case.id) == []

    # A replayed Confirm while Exchange still lists them (it can take an hour): each is skipped and said.
    listed = dict(fake.blocked)
    for person in (ADELE, LYNNE):
        restrict(fake, person)
    replay = card_of(await client.press("triage_unblock", confirm))
    assert "Bulk unblock: 0 unblocked, 2 skipped, 0 failed" in lines(replay)
    assert any(line.startswith("Skipped: already unblocked by Alex Wilber at ") for line in lines(replay))
    assert len(fake.called("remove_blocked_sender")) == 2
    # The list now shows them pending, and there is nothing left to unblock in bulk.
    after = card_of(await client.press("triage_page", {"page": "0"}))
    assert sum(" · unblock pending" in line for line in lines(after)) == 2
    assert verbs_on(after) == []
    # Once Exchange has lifted them, a replay finds a different list and shows it instead of acting.
    fake.blocked = listed
    gone = card_of(await client.press("triage_unblock", confirm))
    assert "The list changed since you opened it. Check it again before you confirm." in lines(gone)
    assert len(fake.called("remove_blocked_sender")) == 2


async def test_a_failure_on_one_account_does_not_stop_the_others(store: Store, bulk: StoryBulk) -> None:
    class Flaky(FakeTenant):
        async def remove_blocked_sender(self, address: str) -> None:
            if address.lower() == LYNNE.upn.lower():
                self.calls.append(("remove_blocked_sender", (address,)))
                raise UpstreamUnavailable("Exchange is down", status=503)
            await super().remove_blocked_sender(address)

    fake = Flaky(memberships={ALEX.aad_object_id: [group(SECURITY_ADMIN_GROUP, "Security Admins")]})
    for person in (ADELE, LYNNE):
        restrict(fake, person)
    client = chat(fake, store, ALEX)
    await triage(client)
    confirm = card_of(await client.press("triage_unblock", {}))["actions"][0]["data"]
    shown = lines(card_of(await client.press("triage_unblock", confirm)))
    assert "Bulk unblock: 1 unblocked, 0 skipped, 1 failed" in shown
    assert ("Failed: Microsoft 365 did not answer; nothing is known to have changed. Try again later." in shown)
    lynne = await store.cases.get_open_case(TENANT_ID, LYNNE.aad_object_id)
    assert lynne is not None and lynne.status == "open" and "unblock:" not in lynne.steps
    assert [e.outcome for e in await store.audit.list(case_id=lynne.id)] == ["started", "failed"]
    adele_case = await store.cases.get_open_case(TENANT_ID, ADELE.aad_object_id)
    assert adele_case is not None and adele_case.status == "unblock_pending"


async def test_a_changed_list_is_shown_again_instead_of_acting(fake: FakeTenant, store: Store,
                                                              bulk: StoryBulk) -> None:
    client = chat(fake, store, ALEX)
    await triage(client)
    confirm = card_of(await client.press("triage_unblock", {}))["actions"][0]["data"]
    # Another account was judged "no signs" since the confirmation was shown.
    restrict(fake, LYNNE)
    await triage(client)
    again = card_of(await client.press("triage_unblock", confirm))
    shown = lines(again)
    assert "The list changed since you opened it. Check it again before you confirm." in shown
    assert "Unblock 2 accounts with no signs of compromise?" in shown
    assert writes(fake) == []
    # Confirming the new list acts on it.
    result = card_of(await client.press("triage_unblock", again["actions"][0]["data"]))
    assert "Bulk unblock: 2 unblocked, 0 skipped, 0 failed" in lines(result)


async def test_forged_and_stale_presses_change_nothing(fake: FakeTenant, store: Store, bulk: StoryBulk) -> None:
    client = chat(fake, store, ALEX)
    await triage(client)
    confirm = card_of(await client.press("triage_unblock", {}))["actions"][0]["data"]
    bad_data = "This button is no longer valid. Ask me for \"triage\" again for a fresh list."
    for page in ("abc", "-1", "1.5", "99999", "", None, True, "١"):
        assert message_of(await client.press("triage_page", {"page": page})) == bad_data
    # A page past the end (the list shrank) shows the last page.
    assert names_on(card_of(await client.press("triage_page", {"page": "7"}))) == [
        "Megan Bowen", "Patti Fernandez", "Adele Vance"]
    for forged in ({**confirm, "list": "short"}, {**confirm, "at": "soon"}, {**confirm, "list": None}):
        assert message_of(await client.press("triage_unblock", forged)) == bad_data
    changed = "The list changed since you opened it. Check it again before you confirm."
    stale = shown_at_value(datetime.now(UTC) - timedelta(days=2))
    future = shown_at_value(datetime.now(UTC) + timedelta(hours=1))
    # A fingerprint of a list that includes Megan (compromised) is not what the server computes.
    tampered = fingerprint([ADELE.aad_object_id, MEGAN.aad_object_id])
    for forged in ({**confirm, "list": tampered}, {**confirm, "at": stale}, {**confirm, "at": future}):
        assert changed in lines(card_of(await client.press("triage_unblock", forged)))
    body = body_of(await client.press("triage_unblock_everything", {"confirm": "1"}))
    assert (body["statusCode"], body["type"]) == (400, "application/vnd.microsoft.error")
    assert writes(fake) == []


async def test_nobody_unblocks_their_own_account_in_bulk(store: Store, bulk: StoryBulk) -> None:
    fake = make_tenant(MEGAN, ALEX)
    fake.users.append(User(id=ALEX.aad_object_id, user_principal_name=ALEX.upn, display_name=ALEX.name))
    client = chat(fake, store, ALEX)
    card = await triage(client)
    assert names_on(card) == ["Megan Bowen", "Alex Wilber"]
    assert verbs_on(card) == []
    assert "Your own account is left out of the bulk unblock: ask another security admin." in lines(card)
    confirmation = card_of(await client.press("triage_unblock", {}))
    assert "No account with no signs of compromise is waiting to be unblocked." in lines(confirmation)
    # A forged Confirm naming the admin's own account: the list the server computes leaves it out.
    now = shown_at_value(datetime.now(UTC))
    forged = {"confirm": "1", "list": fingerprint([ALEX.aad_object_id]), "at": now}
    assert "The list changed" in " ".join(lines(card_of(await client.press("triage_unblock", forged))))
    assert writes(fake) == []


async def test_dutch_admin(fake: FakeTenant, store: Store, bulk: StoryBulk) -> None:
    client = chat(fake, store, ALEX, locale="nl-NL")
    card = await triage(client, "lijst geblokkeerd")
    shown = lines(card)
    assert "Geblokkeerde accounts (3)" in shown
    assert any(line.startswith("Misbruikt · geblokkeerd sinds 22 okt 2024") for line in shown)
    assert [a["title"] for a in card["actions"]] == ["Alles zonder tekenen van misbruik deblokkeren (1)"]
    confirmation = card_of(await client.press("triage_unblock", {}))
    assert "1 account zonder tekenen van misbruik deblokkeren?" in lines(confirmation)
    result = card_of(await client.press("triage_unblock", confirmation["actions"][0]["data"]))
    assert "Deblokkeren: 1 gedeblokkeerd, 0 overgeslagen, 0 mislukt" in lines(result)


async def test_the_help_button_starts_triage_and_an_unreachable_tenant_is_said(fake: FakeTenant, store: Store,
                                                                              bulk: StoryBulk) -> None:
    client = chat(fake, store, ISAIAH)
    assert message_of(await client.press("triage", {})) == "Listing the restricted accounts…"
    # The press ran the typed command's flow: the progress card went out and the list replaced it.
    posted, client.adapter.activity_buffer = client.adapter.activity_buffer, []
    assert texts_of(posted)[0] == "Checking 3 restricted accounts…"
    assert names_on(cards_of(client.adapter.updated_activities)[-1]) == ["Megan Bowen", "Patti Fernandez",
                                                                         "Adele Vance"]
    fake.failures["list_blocked_senders"] = UpstreamUnavailable("down", status=503)
    sent = await client.say("triage")
    assert texts_of(sent) == ["I couldn't reach Microsoft 365 to list the restricted accounts. Please try again "
                              "in a few minutes."]
    empty = make_tenant()
    empty.memberships = fake.memberships
    quiet = chat(empty, store, ISAIAH)
    card = cards_of(await quiet.say("triage"))[0]
    assert "No account is restricted from sending mail right now." in lines(card)


async def test_a_failed_directory_lookup_leaves_the_account_not_checked(store: Store, bulk: StoryBulk) -> None:
    fake = make_tenant(MEGAN, ADELE)
    fake.failures["find_users"] = UpstreamUnavailable("directory down", status=503)
    card = await triage(chat(fake, store, ALEX))
    shown = lines(card)
    # The addresses stand in for the names; Adele's restriction has no start, so she comes last.
    assert names_on(card) == ["MeganB@example.com", "AdeleV@example.com"]
    assert "Not checked · restricted (since unknown)" in shown
    assert sum(line.startswith("Not checked · restricted") for line in shown) == 2
    assert shown.count("The investigation failed; open the account with \"investigate\" to try again.") == 2
    assert verbs_on(card) == [] and bulk.batches == [] and writes(fake) == []

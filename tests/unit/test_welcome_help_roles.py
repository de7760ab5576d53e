"""The welcome and help cards per role, in English and Dutch: a user sees only what a user can do (no admin
guidance, no responders' playbook), IT staff and security admins get theirs, and every welcome offers Help."""

from __future__ import annotations

from typing import Any

import pytest

from cards.help import GUIDANCE_URL, help_card, welcome_card
from cards.verbs import Verb
from dialogs.intents import Intent
from domain.people import Role
from locales import t
from teams.routes import StartDialog
from tests.activities import ALEX, MEGAN, installed
from tests.cardschema import assert_valid_card, texts
from tests.integration.test_app import app_client, connector, database  # noqa: F401 (the app's fixtures)
from tests.unit.test_routes import table

LOCALES = ("en-US", "nl-NL")


def verbs(card: dict[str, Any]) -> list[str]:
    return [a["data"]["verb"] for a in card.get("actions", []) if a.get("type") == "Action.Execute"]


def urls(card: dict[str, Any]) -> list[str]:
    return [a["url"] for a in card.get("actions", []) if a.get("type") == "Action.OpenUrl"]


def shown(card: dict[str, Any]) -> str:
    return "\n".join(texts(card))


@pytest.mark.parametrize("locale", LOCALES)
def test_a_users_help_card_has_no_admin_guidance(locale: str) -> None:
    card = help_card("Megan Bowen", Role.USER, locale)
    assert_valid_card(card)
    text = shown(card)
    for key in ("help.footer", "help.staff.investigate", "help.staff.triage", "help.staff.note", "help.admin.act",
                "help.admin.triage", "help.admin.alerts", "help.link.guidance"):
        assert t(locale, key) not in text, key
    assert t(locale, "help.user.report") in text and t(locale, "help.user.status") in text
    assert t(locale, "help.user.footer") in text
    assert verbs(card) == [Verb.REPORT_BOUNCE] and urls(card) == []


@pytest.mark.parametrize("locale", LOCALES)
def test_it_staffs_help_card_has_investigate_and_triage_but_not_what_admins_do(locale: str) -> None:
    card = help_card("Isaiah Langer", Role.IT_STAFF, locale)
    assert_valid_card(card)
    text = shown(card)
    for key in ("help.staff.investigate", "help.staff.triage", "help.staff.note", "help.footer"):
        assert t(locale, key) in text, key
    for key in ("help.admin.act", "help.admin.triage", "help.admin.alerts", "help.user.footer"):
        assert t(locale, key) not in text, key
    assert verbs(card) == [Verb.START_INVESTIGATION, Verb.TRIAGE] and urls(card) == [GUIDANCE_URL]


@pytest.mark.parametrize("locale", LOCALES)
def test_a_security_admins_help_card_has_everything_an_admin_does(locale: str) -> None:
    card = help_card("Alex Wilber", Role.SECURITY_ADMIN, locale)
    assert_valid_card(card)
    text = shown(card)
    for key in ("help.staff.investigate", "help.staff.triage", "help.admin.act", "help.admin.triage",
                "help.admin.alerts", "help.footer"):
        assert t(locale, key) in text, key
    # "Securing and unblocking is for security admins" is staff's line, not the admin's.
    assert t(locale, "help.staff.note") not in text and t(locale, "help.user.footer") not in text
    assert verbs(card) == [Verb.START_INVESTIGATION, Verb.TRIAGE] and urls(card) == [GUIDANCE_URL]


@pytest.mark.parametrize("locale", LOCALES)
def test_a_users_welcome_offers_my_mail_bounces_and_help(locale: str) -> None:
    card = welcome_card(locale, Role.USER)
    assert_valid_card(card)
    assert verbs(card) == [Verb.REPORT_BOUNCE, Verb.HELP]
    assert t(locale, "welcome.it_staff") not in shown(card)
    assert welcome_card(locale) == card  # a greeting with no known role is a user's


@pytest.mark.parametrize("role", [Role.IT_STAFF, Role.SECURITY_ADMIN])
@pytest.mark.parametrize("locale", LOCALES)
def test_staffs_and_admins_welcome_offers_investigate_triage_and_help(role: Role, locale: str) -> None:
    card = welcome_card(locale, role)
    assert_valid_card(card)
    assert verbs(card) == [Verb.START_INVESTIGATION, Verb.TRIAGE, Verb.HELP]
    assert t(locale, f"welcome.{role.key}") in shown(card)
    assert t(locale, "help.button.report") not in shown(card)


def test_the_admins_welcome_says_they_can_secure_and_unblock() -> None:
    assert "secure and unblock" in shown(welcome_card("en", Role.SECURITY_ADMIN))
    assert "beveiligen en deblokkeren" in shown(welcome_card("nl-NL", Role.SECURITY_ADMIN))
    assert "unblock" not in shown(welcome_card("en", Role.IT_STAFF))


def test_the_help_button_runs_the_typed_help() -> None:
    routes, _, _ = table()
    route = routes[Verb.HELP]
    assert isinstance(route, StartDialog) and route.intent == Intent.HELP and route.refusal_key == ""


# The whole app: the greeting Teams' conversationUpdate brings is the one for the role of the person who added it.


@pytest.mark.parametrize(("person", "expected"), [
    (ALEX, [Verb.START_INVESTIGATION, Verb.TRIAGE, Verb.HELP]),
    (MEGAN, [Verb.REPORT_BOUNCE, Verb.HELP]),
])
async def test_installing_greets_with_the_installers_welcome(app_client: Any, connector: Any,  # noqa: F811
                                                            person: Any, expected: list[Verb]) -> None:
    client, _ = app_client
    recorder, service_url = connector
    activity = installed(person=person, service_url=service_url, conversation_id=f"personal-{person.teams_id}")
    assert (await client.post("/api/messages", json=activity)).status == 201
    await recorder.wait_for(1)
    assert verbs(recorder.cards()[0]) == expected

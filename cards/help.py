"""The welcome and help cards: each shows a speaker only what their role can do.

A user sees how to report their own bounced mail and ask for its status; IT staff also investigating and the list of
restricted accounts, and security admins securing, unblocking and alerts, with Microsoft's guidance for responders.
"""

from __future__ import annotations

import functools
import json

from microsoft_teams.cards import Action

from cards.base import JsonDict, envelope, execute, heading, open_url, para, tenant_line
from cards.text import clean
from cards.verbs import Verb
from domain.people import Role
from locales import t

# The name on the help card is cleaned (cards.text.clean) to at most this many characters.
NAME_LIMIT = 200
# Stands in for the name in the cached card: plain ASCII that `clean` keeps as it is and no catalog text contains.
_NAME_MARK = "bsa-help-card-name-0b1f4c"

GUIDANCE_URL = (
    "https://learn.microsoft.com/en-us/defender-office-365/responding-to-a-compromised-email-account"
)


def welcome_card(locale: str | None, role: Role = Role.USER) -> JsonDict:
    """Sent once when the bot is installed in a chat or team: what it does and the first things `role` can do.

    A user is offered "My mail bounces"; IT staff and security admins investigating and the list of restricted
    accounts (and admins a line on securing and unblocking); everyone gets Help.
    """
    body = [heading(t(locale, "welcome.title")), para(t(locale, "welcome.body"))]
    if role >= Role.IT_STAFF:
        body.append(para(t(locale, f"welcome.{role.key}")))
        actions = [execute(t(locale, "help.button.investigate"), Verb.START_INVESTIGATION),
                   execute(t(locale, "help.button.triage"), Verb.TRIAGE)]
    else:
        actions = [execute(t(locale, "help.button.report"), Verb.REPORT_BOUNCE)]
    actions.append(execute(t(locale, "help.button.help"), Verb.HELP))
    return envelope(body, actions, fallback_text=t(locale, "welcome.body"))


def help_card(name: str, role: Role, locale: str | None) -> JsonDict:
    """What the bot can do for this speaker: users see the report flow, staff and admins see more.

    The card is the same for every speaker of a role and locale but for the name, so it is built once per
    (role, locale) and the name is filled in (building it with the card models took about 0.4 ms of a turn).
    """
    if not name:
        return help_card_from_models(name, role, locale)  # no name run at all: not the cached shape
    before, after = _help_card_halves(role, locale)
    card: JsonDict = json.loads(before + json.dumps(clean(name, NAME_LIMIT)) + after)
    return card


@functools.lru_cache(maxsize=64)
def _help_card_halves(role: Role, locale: str | None) -> tuple[str, str]:
    """The help card as JSON text, split where the (cleaned) name goes."""
    text = json.dumps(help_card_from_models(_NAME_MARK, role, locale))
    before, mark, after = text.partition(json.dumps(_NAME_MARK))
    if not mark or _NAME_MARK in after:
        raise AssertionError("the help card must show the name exactly once")
    return before, after


def help_card_from_models(name: str, role: Role, locale: str | None) -> JsonDict:
    """The help card built from the card models (`help_card` serves it from a per-role, per-locale copy)."""
    role_line = t(locale, f"help.role.{role.key}", name="\x00")
    before, _, after = role_line.partition("\x00")
    body = [
        heading(t(locale, "help.title")),
        tenant_line((before, False), (name, True), (after, False), subtle=True, limit=NAME_LIMIT),
        para(t(locale, "help.user.report")),
        para(t(locale, "help.user.status")),
    ]
    if role < Role.IT_STAFF:
        # A user sees only what a user can do: no admin guidance, no link to the admins' playbook.
        body.append(para(t(locale, "help.user.footer"), subtle=True, spacing="Medium"))
        actions: list[Action] = [execute(t(locale, "help.button.report"), Verb.REPORT_BOUNCE)]
        return envelope(body, actions, fallback_text=t(locale, "help.title"))
    body += [para(t(locale, "help.staff.investigate")), para(t(locale, "help.staff.triage"))]
    if role >= Role.SECURITY_ADMIN:
        body += [para(t(locale, "help.admin.act")), para(t(locale, "help.admin.triage")),
                 para(t(locale, "help.admin.alerts"))]
    else:
        body.append(para(t(locale, "help.staff.note")))
    body.append(para(t(locale, "help.footer"), subtle=True, spacing="Medium"))
    actions = [
        execute(t(locale, "help.button.investigate"), Verb.START_INVESTIGATION),
        execute(t(locale, "help.button.triage"), Verb.TRIAGE),
        open_url(t(locale, "help.link.guidance"), GUIDANCE_URL),
    ]
    return envelope(body, actions, fallback_text=t(locale, "help.title"))

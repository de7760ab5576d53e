"""The welcome and help cards."""

from __future__ import annotations

from microsoft_teams.cards import Action

from cards.base import JsonDict, envelope, execute, heading, open_url, para, tenant_line
from cards.verbs import Verb
from domain.people import Role
from locales import t

GUIDANCE_URL = (
    "https://learn.microsoft.com/en-us/defender-office-365/responding-to-a-compromised-email-account"
)


def welcome_card(locale: str | None) -> JsonDict:
    """Sent once when the bot is installed in a chat or team."""
    return envelope(
        [heading(t(locale, "welcome.title")), para(t(locale, "welcome.body"))],
        [execute(t(locale, "help.button.report"), Verb.REPORT_BOUNCE)],
        fallback_text=t(locale, "welcome.body"),
    )


def help_card(name: str, role: Role, locale: str | None) -> JsonDict:
    """What the bot can do for this speaker: users see the report flow, staff and admins see more."""
    role_line = t(locale, f"help.role.{role.key}", name="\x00")
    before, _, after = role_line.partition("\x00")
    body = [
        heading(t(locale, "help.title")),
        tenant_line((before, False), (name, True), (after, False), subtle=True),
        para(t(locale, "help.user.report")),
        para(t(locale, "help.user.status")),
    ]
    actions: list[Action] = [execute(t(locale, "help.button.report"), Verb.REPORT_BOUNCE)]
    if role >= Role.IT_STAFF:
        body += [para(t(locale, "help.staff.investigate")), para(t(locale, "help.staff.triage"))]
        actions = [
            execute(t(locale, "help.button.investigate"), Verb.START_INVESTIGATION),
            execute(t(locale, "help.button.triage"), Verb.TRIAGE),
        ]
    if role >= Role.SECURITY_ADMIN:
        body += [para(t(locale, "help.admin.act")), para(t(locale, "help.admin.alerts"))]
    body.append(para(t(locale, "help.footer"), subtle=True, spacing="Medium"))
    actions.append(open_url(t(locale, "help.link.guidance"), GUIDANCE_URL))
    return envelope(body, actions, fallback_text=t(locale, "help.title"))

"""The findings card's line about the account's previous case: an investigation after a restore is a new incident
with a new (empty) case, and the admin should still see that the account was here before, and open that record.

Pure on a plain record (`PreviousCase`, filled by `remediation.views` from the store); the unblocker's name is
tenant text and reaches the card only as a cleaned run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from microsoft_teams.cards import ActionSet, CardElement, Container

from cards.base import catalog_line, execute
from cards.verbs import Verb
from locales import format_datetime, t


@dataclass(frozen=True)
class PreviousCase:
    """The account's latest finished case before this one: its id (for `show_case`), when it ended and who
    unblocked the account (a display name; empty when it ended without the bot's unblock)."""

    case_id: str
    ended_at: datetime | None
    unblocked_by: str = ""


def previous_case_part(previous: PreviousCase | None, locale: str | None,
                       time_zone: str | None) -> list[CardElement]:
    """"Previous case: resolved at … (unblocked by …)" with a button that opens that case's card; nothing when
    the account had no earlier case."""
    if previous is None:
        return []
    when = format_datetime(previous.ended_at, locale, time_zone) if previous.ended_at else "—"
    if previous.unblocked_by:
        line = catalog_line(locale, "case.previous.unblocked", subtle=True, time=when, actor=previous.unblocked_by)
    else:
        line = catalog_line(locale, "case.previous.ended", subtle=True, time=when)
    button = execute(t(locale, "case.previous.button"), Verb.SHOW_CASE, case_id=previous.case_id)
    # Only the button's data travels (the case id): no input of the card rides along, and none blocks it.
    button.associated_inputs = "none"
    return [Container(spacing="Small", items=[line, ActionSet(actions=[button])])]

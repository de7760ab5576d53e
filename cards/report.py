"""The cards a user sees about their own report of bounced mail: restricted, not restricted, case status.

Our own sentences come from the catalog (`report.*` keys); the user's address and name are tenant text and go
into `TextRun`s only (`cards.base.tenant_line`).
"""

from __future__ import annotations

from datetime import datetime

from microsoft_teams.cards import CardElement

from cards.base import JsonDict, envelope, execute, heading, para, tenant_line
from cards.verbs import Verb
from locales import format_datetime, t

# What IT knows, as the user's card says it: told now or before, or not reachable yet (the watch retries).
IT_STATES = ("posted", "already", "pending")
# Case statuses as the store spells them (store.models.CASE_STATUSES); anything else reads as "open".
_STATUSES = ("open", "unblock_pending", "resolved", "closed")


def _split(locale: str | None, key: str, value: str, *, subtle: bool = False) -> CardElement:
    """A catalog sentence with one tenant value in it (`{value}`), the value as a plain TextRun."""
    before, _, after = t(locale, key, value="\x00").partition("\x00")
    return tenant_line((before, False), (value, True), (after, False), subtle=subtle)


def restricted_card(*, address: str, since: datetime | None, it_state: str, locale: str | None,
                    time_zone: str | None, other_addresses: bool = False) -> JsonDict:
    """Your account may not send mail: what happened, what it usually means, what IT knows, what to do now."""
    state = it_state if it_state in IT_STATES else "pending"
    body: list[CardElement] = [
        heading(t(locale, "report.restricted.title")),
        _split(locale, "report.checked", address, subtle=True),
    ]
    if other_addresses:
        body.append(para(t(locale, "report.only_own_account"), subtle=True))
    body += [
        para(t(locale, "report.restricted.what")),
        para(t(locale, "report.restricted.since", since=format_datetime(since, locale, time_zone)) if since
             else t(locale, "report.restricted.since_unknown")),
        para(t(locale, "report.restricted.why")),
        para(t(locale, f"report.it.{state}"), spacing="Medium"),
        heading(t(locale, "report.todo.title"), size="Medium"),
        para(t(locale, "report.todo.password")),
        para(t(locale, "report.todo.mfa")),
        para(t(locale, "report.todo.meanwhile")),
        para(t(locale, "report.todo.later"), subtle=True),
    ]
    return envelope(body, fallback_text=t(locale, "report.restricted.title"))


def not_restricted_card(*, address: str, locale: str | None, other_addresses: bool = False) -> JsonDict:
    """Your account may send mail: the usual other causes of a bounce, and "notify IT anyway"."""
    body: list[CardElement] = [
        heading(t(locale, "report.ok.title")),
        _split(locale, "report.checked", address, subtle=True),
    ]
    if other_addresses:
        body.append(para(t(locale, "report.only_own_account"), subtle=True))
    body += [
        para(t(locale, "report.ok.body")),
        para(t(locale, "report.ok.cause.address")),
        para(t(locale, "report.ok.cause.full")),
        para(t(locale, "report.ok.cause.refused")),
        para(t(locale, "report.ok.next"), spacing="Medium"),
    ]
    return envelope(body, [execute(t(locale, "report.button.notify_it"), Verb.NOTIFY_IT)],
                    fallback_text=t(locale, "report.ok.title"))


def status_card(*, account: str, status: str, opened: datetime, updated: datetime, resolved: datetime | None,
                locale: str | None, time_zone: str | None) -> JsonDict:
    """Where the user's case stands, in plain words (never the findings: those are IT's)."""
    key = status if status in _STATUSES else "open"
    body: list[CardElement] = [
        heading(t(locale, "report.status.title")),
        _split(locale, "report.status.account", account, subtle=True),
        para(t(locale, f"report.status.{key}")),
        para(t(locale, "report.status.opened", time=format_datetime(opened, locale, time_zone)), subtle=True),
    ]
    if resolved is not None:
        body.append(para(t(locale, "report.status.resolved_at", time=format_datetime(resolved, locale, time_zone)),
                         subtle=True))
    else:
        body.append(para(t(locale, "report.status.updated", time=format_datetime(updated, locale, time_zone)),
                         subtle=True))
    if key in ("open", "unblock_pending"):
        # Only while the user still waits: after a restore "I'll message you when you can send" would contradict it.
        body.append(para(t(locale, "report.status.ask_again"), subtle=True, spacing="Medium"))
    return envelope(body, fallback_text=t(locale, f"report.status.{key}"))

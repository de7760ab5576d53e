"""The cards IT gets without asking: a restriction alert, and a user's "look anyway" request.

The restriction alert is posted at once (account, since, reason, who found it) and replaced by the findings
card (`cards.findings.findings_card`, with the remediation buttons) when the investigation finishes. Names,
addresses and Microsoft's reason are tenant text: `TextRun`s only.

Both open with an announcement (`announcement`, `announce`): a card that arrives in an admin's chat or the IT
channel mid-conversation says at once that it is an alert ("New restriction detected", or "Reported by <user>"),
where it came from (the restriction watch, a user's report, a triage run) and when.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from microsoft_teams.cards import CardElement, Container, RichTextBlock

from cards.base import JsonDict, catalog_line, envelope, heading, para
from cards.findings import restriction_reason_runs
from investigation.reason import parse_reason
from locales import format_datetime, t

ORIGINS = ("watch", "report", "triage")


def announcement(*, origin: str, at: datetime | None, reporter: str = "", locale: str | None,
                 time_zone: str | None) -> Container:
    """The first lines of a card IT gets without asking: what it is, where it came from, and when.

    "New restriction detected" (a user's report: "Reported by <reporter>", the name being tenant text), then the
    source and the time in the reader's language and zone. An unknown `origin` reads as the watch's."""
    kind = origin if origin in ORIGINS else "watch"
    when = format_datetime(at, locale, time_zone)
    first: CardElement = (catalog_line(locale, "alert.announce.reported_by", name=reporter)
                          if kind == "report" and reporter else heading(t(locale, "alert.announce.new"), size="Medium"))
    if isinstance(first, RichTextBlock):
        for run in first.inlines or []:
            run.weight = "Bolder"  # type: ignore[union-attr]
            run.size = "Medium"  # type: ignore[union-attr]
    return Container(items=[first, para(t(locale, f"alert.announce.{kind}", time=when), subtle=True,
                                        spacing="None")])


def announce(card: Mapping[str, Any], *, origin: str, at: datetime | None, reporter: str = "",
             locale: str | None, time_zone: str | None) -> JsonDict:
    """`card` (e.g. the findings that replace an alert) with the `announcement` on top, so it still says it is one."""
    header = announcement(origin=origin, at=at, reporter=reporter, locale=locale, time_zone=time_zone)
    out = dict(card)
    out["body"] = [header.model_dump(by_alias=True, exclude_none=True), *list(card.get("body") or [])]
    return out


def restriction_alert_card(*, name: str, upn: str, since: datetime | None, reason: str, origin: str,
                           locale: str | None, time_zone: str | None, at: datetime | None = None,
                           reporter: str = "") -> JsonDict:
    """Microsoft 365 restricted an account: shown at once, replaced by the findings card when they are ready.

    `at` is when the bot noticed (the announcement's time), `reporter` who reported it (origin "report")."""
    body: list[CardElement] = [
        announcement(origin=origin, at=at or since, reporter=reporter, locale=locale, time_zone=time_zone),
        heading(t(locale, "alert.title")),
        catalog_line(locale, "alert.account", name=name, upn=upn),
        para(t(locale, "alert.since", since=format_datetime(since, locale, time_zone)) if since
             else t(locale, "alert.since_unknown")),
    ]
    if reason:
        body.append(RichTextBlock(inlines=restriction_reason_runs(parse_reason(reason), locale)))  # type: ignore[arg-type]
    body.append(para(t(locale, "alert.investigating"), subtle=True, spacing="Medium"))
    return envelope(body, fallback_text=f"{t(locale, 'alert.announce.new')}: {t(locale, 'alert.title')}")


def look_anyway_card(*, name: str, upn: str, checked: datetime, locale: str | None,
                     time_zone: str | None) -> JsonDict:
    """A user whose account is not restricted says their mail bounces and asks IT to look anyway."""
    body: list[CardElement] = [
        heading(t(locale, "alert.anyway.title")),
        catalog_line(locale, "alert.account", name=name, upn=upn),
        para(t(locale, "alert.anyway.body", time=format_datetime(checked, locale, time_zone))),
        para(t(locale, "alert.anyway.next"), subtle=True),
    ]
    return envelope(body, fallback_text=t(locale, "alert.anyway.title"))

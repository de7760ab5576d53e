"""The cards IT gets without asking: a restriction alert, and a user's "look anyway" request.

The restriction alert is posted at once (account, since, reason, who found it) and replaced by the findings
card (`cards.findings.findings_card`, with the remediation buttons) when the investigation finishes. Names,
addresses and Microsoft's reason are tenant text: `TextRun`s only.
"""

from __future__ import annotations

from datetime import datetime

from microsoft_teams.cards import CardElement, RichTextBlock

from cards.base import JsonDict, catalog_line, envelope, heading, para
from cards.findings import restriction_reason_runs
from investigation.reason import parse_reason
from locales import format_datetime, t

ORIGINS = ("watch", "report")


def restriction_alert_card(*, name: str, upn: str, since: datetime | None, reason: str, origin: str,
                           locale: str | None, time_zone: str | None) -> JsonDict:
    """Microsoft 365 restricted an account: shown at once, replaced by the findings card when they are ready."""
    body: list[CardElement] = [
        heading(t(locale, "alert.title")),
        catalog_line(locale, "alert.account", name=name, upn=upn),
        para(t(locale, "alert.since", since=format_datetime(since, locale, time_zone)) if since
             else t(locale, "alert.since_unknown")),
    ]
    if reason:
        body.append(RichTextBlock(inlines=restriction_reason_runs(parse_reason(reason), locale)))  # type: ignore[arg-type]
    body += [
        para(t(locale, f"alert.origin.{origin if origin in ORIGINS else 'watch'}"), subtle=True),
        para(t(locale, "alert.investigating"), subtle=True, spacing="Medium"),
    ]
    return envelope(body, fallback_text=t(locale, "alert.title"))


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

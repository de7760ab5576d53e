"""Alerts announce themselves, and the watch polls every minute within Microsoft's throttles (issue 16).

- The restriction alert and the findings that replace it open with "New restriction detected" (a user's report:
  "Reported by <user>"), where it came from and when, in English and Dutch; schema-valid; the reporter's name
  is tenant text (a TextRun, never Markdown).
- The watch's default interval is one minute, and a round with nothing new costs two requests (the list and one
  Defender alerts read, of Graph's 150 a minute); an alert left over from an unblock is confirmed once, not every
  round.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cards.alerts import announce, restriction_alert_card
from cards.findings import case_unavailable_card
from config import Settings
from core.cases import CaseBook
from core.notices import Notices
from core.watch import RECONFIRM_AFTER, RestrictionWatch
from domain.people import Role
from investigation.service import Investigations
from m365.records import SecurityAlert
from remediation.views import CaseView
from store import Store
from tests.cardschema import assert_valid_card, texts
from tests.report_fakes import RecordingOutbox, report_tenant, set_channel

HOSTILE = "[click](https://evil.example) **urgent**"
AT = datetime(2026, 11, 28, 3, 14, tzinfo=UTC)
REASON = "OutboundSpamLast24Hours=187;OutboundMailLast24Hours=203;OutboundSpamPercent=92"
FIRST_LINE = {"en-US": "New restriction detected", "nl-NL": "Nieuwe blokkering gevonden"}
SOURCE = {
    ("en-US", "watch"): "Found by the restriction watch on Restricted entities, 28 Nov 2026, 04:14 CET.",
    ("nl-NL", "watch"): "Gevonden door de bewaking van Restricted entities, 28 nov 2026, 04:14 CET.",
    ("en-US", "report"): "Reported in a chat with the bot, 28 Nov 2026, 04:14 CET.",
    ("nl-NL", "report"): "Gemeld in een chat met de bot, 28 nov 2026, 04:14 CET.",
    ("en-US", "triage"): "Found by a triage run, 28 Nov 2026, 04:14 CET.",
    ("nl-NL", "triage"): "Gevonden bij een triage, 28 nov 2026, 04:14 CET.",
}


def header(card: dict[str, Any]) -> dict[str, Any]:
    first: dict[str, Any] = card["body"][0]
    assert first["type"] == "Container"
    return first


@pytest.mark.parametrize("locale", ["en-US", "nl-NL"])
@pytest.mark.parametrize("origin", ["watch", "triage"])
def test_the_alert_opens_with_new_restriction_detected_its_source_and_time(locale: str, origin: str) -> None:
    card = restriction_alert_card(name="Megan Bowen", upn="MeganB@example.com", since=AT - timedelta(hours=1),
                                  reason=REASON, origin=origin, locale=locale, time_zone="Europe/Amsterdam", at=AT)
    assert_valid_card(card)
    first, source = header(card)["items"]
    assert first["text"] == FIRST_LINE[locale] and first["weight"] == "Bolder"
    assert source["text"] == SOURCE[(locale, origin)]
    assert FIRST_LINE[locale] in card["fallbackText"]


@pytest.mark.parametrize("locale", ["en-US", "nl-NL"])
def test_a_reported_alert_names_the_reporter_as_tenant_text(locale: str) -> None:
    card = restriction_alert_card(name=HOSTILE, upn="MeganB@example.com", since=AT, reason=REASON, origin="report",
                                  locale=locale, time_zone="Europe/Amsterdam", at=AT, reporter=HOSTILE)
    assert_valid_card(card)
    first, source = header(card)["items"]
    assert first["type"] == "RichTextBlock"
    runs = [run["text"] for run in first["inlines"]]
    assert runs == [{"en-US": "Reported by ", "nl-NL": "Gemeld door "}[locale], HOSTILE]
    assert all(run.get("weight") == "Bolder" for run in first["inlines"])
    assert source["text"] == SOURCE[(locale, "report")]


def test_an_unknown_origin_reads_as_the_watch() -> None:
    card = restriction_alert_card(name="M", upn="m@example.com", since=None, reason="", origin=HOSTILE,
                                  locale="en-US", time_zone=None, at=AT)
    assert_valid_card(card)
    assert header(card)["items"][1]["text"].startswith("Found by the restriction watch")
    assert all("evil" not in t for t in texts(card))


@pytest.mark.parametrize("locale", ["en-US", "nl-NL"])
def test_the_findings_that_replace_the_alert_keep_the_announcement(locale: str) -> None:
    findings = case_unavailable_card(case_id="case-1", name="Megan Bowen", locale=locale)
    card = announce(findings, origin="watch", at=AT, locale=locale, time_zone="Europe/Amsterdam")
    assert_valid_card(card)
    assert header(card)["items"][0]["text"] == FIRST_LINE[locale]
    assert card["body"][1:] == findings["body"]  # the findings themselves unchanged, below it


# ------------------------------------------------------------------------------------------ the watch's budget

def test_the_watch_polls_every_minute_by_default(tmp_path: Path) -> None:
    settings = Settings.from_env({}, dotenv_path=tmp_path / "none.env")
    assert settings.watch_interval == 60.0


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    yield store
    await store.close()


async def nobody(user_id: str) -> Role:
    return Role.USER


async def test_a_quiet_round_costs_the_list_and_one_alerts_read_and_a_left_over_alert_is_confirmed_once(
        store: Store) -> None:
    tenant = report_tenant()
    # A Defender alert about Lynne, whose restriction is already lifted (the alert outlives it).
    lynne = next(u for u in tenant.users if u.user_principal_name.lower().startswith("lynner"))
    tenant.alerts.append(SecurityAlert(id="alert-1", title="User restricted from sending email",
                                       created=datetime.now(UTC), user_upns=(lynne.user_principal_name,)))
    await set_channel(store)
    outbox = RecordingOutbox()
    notices = Notices(tenant_id=tenant.tenant_id, store=store, investigations=Investigations(tenant),
                      cases=CaseBook(store), outbox=outbox, role_of=nobody,
                      view=CaseView(store, messenger=outbox, role_of=nobody), notify_affected_user=False)
    watch = RestrictionWatch(tenant=tenant, store=store, notices=notices,
                             interval_seconds=Settings().watch_interval, initial_delay_seconds=0)
    first = await watch.run_once()
    assert first.alerted == 1  # Megan

    def calls(name: str) -> int:
        return sum(1 for method, _ in tenant.calls if method == name)

    before = {name: calls(name) for name in ("list_blocked_senders", "list_alerts", "get_blocked_sender")}
    rounds = 10
    for _ in range(rounds):
        assert (await watch.run_once()).alerted == 0
    spent = {name: calls(name) - count for name, count in before.items()}
    assert spent == {"list_blocked_senders": rounds, "list_alerts": rounds, "get_blocked_sender": 0}
    # One Defender alerts read a minute at the default interval: well inside Graph's 150 a minute per app.
    assert spent["list_alerts"] / rounds * 60 / watch.interval <= 1 < 150
    assert RECONFIRM_AFTER >= timedelta(minutes=5)

    # Once RECONFIRM_AFTER has passed, the left-over alert is confirmed again (once).
    watch._cleared = {key: at - RECONFIRM_AFTER for key, at in watch._cleared.items()}
    await watch.run_once()
    await watch.run_once()
    assert calls("get_blocked_sender") - before["get_blocked_sender"] == 1

"""Triage over HTTP: messages and invokes POSTed to /api/messages of the whole app, the real bulk investigator
against the demo tenant over HTTPS, SQLite, and a recording Bot Framework connector.

What only the whole stack proves: "triage" posts a progress card and replaces it with the list (a PUT to the
connector); the bulk unblock makes exactly one `Remove-BlockedSenderAddress` per account with no signs of
compromise in the demo tenant's request log, with the audit rows of a single unblock for each.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from demo_tenant.faults import LatencyRule
from tests.activities import ISAIAH, TENANT_ID, message
from tests.cardschema import assert_valid_card, lines
from tests.integration.test_remediation_demo import UNBLOCK
from tests.integration.test_remediation_http import (  # noqa: F401 - `app` is the fixture
    ADELE_ID,
    CONFIG,
    App,
    app,
    wait_until,
)

ALEX_ID = "0d4b2a71-9f3c-4b8e-a1d2-5e6f7a8b9c01"
CARD = "application/vnd.microsoft.card.adaptive"
MESSAGE = "application/vnd.microsoft.activity.message"


def card_in(body: dict[str, Any]) -> dict[str, Any]:
    assert (body["statusCode"], body["type"]) == (200, CARD), body
    assert_valid_card(body["value"])
    return body["value"]  # type: ignore[no-any-return]


def names_on(card: dict[str, Any]) -> list[str]:
    return [c["items"][0]["inlines"][0]["text"] for c in card["body"]
            if c.get("type") == "Container" and c.get("separator")]


async def test_triage_and_bulk_unblock_over_http(app: App) -> None:  # noqa: F811 - the imported fixture
    await app.say("triage")
    posted = [s for s in app.recorder.sent if s.conversation_id == "personal-alex"]
    assert [s.method for s in posted] == ["POST", "PUT"]
    progress = posted[0].body["attachments"][0]["content"]
    assert progress["body"][0]["text"] == "Checking 4 restricted accounts…"
    listing = posted[1].body["attachments"][0]["content"]
    assert posted[1].activity_id == posted[0].activity_id  # the list replaced the progress card
    assert_valid_card(listing)
    # Worst first: the two compromised accounts (longest restricted first), then Grady, then Adele (no signs).
    assert names_on(listing) == ["Patti Fernandez", "Megan Bowen", "Grady Archie", "Adele Vance"]
    shown = lines(listing)
    assert "Restricted accounts (4)" in shown
    assert any(line.startswith("Compromised · restricted since") for line in shown)
    assert any(line.startswith("No signs of compromise · restricted since") for line in shown)
    # Adele's block carries Microsoft's expiry (it lifts by itself): the bulk button says so.
    assert [a["title"] for a in listing["actions"]] == [
        "Unblock all with no signs of compromise (1; lifting by themselves: 1)"]
    # Every investigation is on its account's case, so the single-account cards say the same.
    cases = {c.account_id: c for c in await app.store.cases.list_cases("open")}
    assert cases[ADELE_ID].verdict == "no_signs"
    assert len(cases) == 4

    status, body = await app.press("triage_page", {"page": "0"})
    assert status == 200 and names_on(card_in(body)) == names_on(listing)

    # IT staff may see the list but not unblock from it.
    status, body = await app.press("triage_unblock", {}, person=ISAIAH, conversation_id="personal-isaiah")
    assert status == 200 and (body["statusCode"], body["type"]) == (200, MESSAGE)
    assert body["value"].startswith("Only security admins can unblock accounts.")

    status, body = await app.press("triage_unblock", {})
    confirmation = card_in(body)
    assert "Unblock 1 account with no signs of compromise?" in lines(confirmation)
    assert any(line.startswith("Adele Vance  AdeleV@example.com · lifts by itself on")
               for line in lines(confirmation))
    # Only "all, those too" and Cancel: no account is left once Adele's self-lifting block is left alone.
    assert [a["title"] for a in confirmation["actions"]] == ["Unblock all (1), those too", "Cancel"]
    assert app.server.state.requests.matching(cmdlet=UNBLOCK) == []

    status, body = await app.press("triage_unblock", confirmation["actions"][0]["data"])
    result = card_in(body)
    assert status == 200
    assert "Bulk unblock: 1 unblocked, 0 skipped, 0 failed" in lines(result)
    unblocks = app.server.state.requests.matching(cmdlet=UNBLOCK)
    assert [(r.status, r.parameters) for r in unblocks] == [(200, {"SenderAddress": "AdeleV@example.com"})]
    audit = [(e.action, e.outcome, e.actor_id, e.target) for e in await app.store.audit.list()]
    assert audit == [("unblock", "started", ALEX_ID, "AdeleV@example.com"),
                     ("unblock", "succeeded", ALEX_ID, "AdeleV@example.com")]
    adele = await app.store.cases.get_case(cases[ADELE_ID].id)
    assert adele is not None and adele.status in ("unblock_pending", "resolved")


async def test_a_user_is_refused_over_http(app: App) -> None:  # noqa: F811 - the imported fixture
    activity = message("triage", person=ISAIAH, service_url=app.service_url, conversation_id="personal-isaiah")
    activity["from"] = {"id": "29:5c9a7fc6-4e8b-4a3d-b6c7-0d1e2f3a4b06", "name": "Lynne Robbins",
                        "aadObjectId": "5c9a7fc6-4e8b-4a3d-b6c7-0d1e2f3a4b06"}
    activity["channelData"] = {"tenant": {"id": TENANT_ID}}
    response = await app.client.post("/api/messages", json=activity)
    assert response.status == 201
    sent = await app.recorder.wait_for(1)
    assert sent[0].body["text"].startswith("Only IT staff and security admins can see the list")
    assert app.server.state.requests.matching(cmdlet="Get-BlockedSenderAddress") == []


SLOW_PRESS = replace(CONFIG, refresh_answer_seconds=0.3)


@pytest.mark.parametrize("app", [SLOW_PRESS], indirect=True)
async def test_a_slow_triage_ends_the_turn_and_replaces_the_progress_card_later(app: App) -> None:  # noqa: F811
    """Sign-ins answering in 1.5 s: the turn ends with the progress card; the list replaces it proactively."""
    app.server.state.latency.replace([LatencyRule(match="auditLogs/signIns", latency_ms=1500)])
    await app.say("triage")
    posted = [s for s in app.recorder.sent if s.conversation_id == "personal-alex"]
    assert [s.method for s in posted] == ["POST"]
    progress = posted[0]
    assert progress.body["attachments"][0]["content"]["body"][0]["text"] == "Checking 4 restricted accounts…"

    def replaced() -> list[Any]:
        return [s for s in app.recorder.sent if s.method == "PUT" and s.activity_id == progress.activity_id]

    await wait_until(lambda: bool(replaced()), within=20.0)
    listing = replaced()[0].body["attachments"][0]["content"]
    assert_valid_card(listing)
    assert "Restricted accounts (4)" in lines(listing)
    assert names_on(listing)[:2] == ["Patti Fernandez", "Megan Bowen"]


@pytest.mark.parametrize("app", [SLOW_PRESS], indirect=True)
async def test_a_slow_bulk_unblock_answers_at_once_and_shows_the_result_later(app: App) -> None:  # noqa: F811
    await app.say("triage")
    await wait_until(lambda: any(s.method == "PUT" for s in app.recorder.sent), within=20.0)
    status, body = await app.press("triage_unblock", {})
    confirmation = card_in(body)
    app.server.state.latency.replace([LatencyRule(match="Remove-BlockedSenderAddress", latency_ms=1500)])
    status, body = await app.press("triage_unblock", confirmation["actions"][0]["data"], reply_to_id="triage-1")
    assert status == 200 and (body["statusCode"], body["type"]) == (200, MESSAGE)
    assert body["value"] == "Unblocking 1 account; this card shows the result when it is done."

    def results() -> list[Any]:
        return [s for s in app.recorder.sent if s.method == "PUT" and s.activity_id == "triage-1"]

    await wait_until(lambda: bool(results()), within=20.0)
    result = results()[0].body["attachments"][0]["content"]
    assert_valid_card(result)
    assert "Bulk unblock: 1 unblocked, 0 skipped, 0 failed" in lines(result)
    assert len(app.server.state.requests.matching(cmdlet=UNBLOCK)) == 1

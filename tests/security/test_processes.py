"""Several instances on one PostgreSQL, and crash safety, with real processes (issue 8, items 1 and 2).

One demo tenant runs in its own process (`python -m demo_tenant`); every `bot.py` joins it through
`DEMO_TENANT_ENV`, so all instances act on one tenant and its request log shows every call any of them made.
The instances share a fresh PostgreSQL database and reply to a recording Bot Framework connector in this
process. `kill -9` is a real SIGKILL: no shutdown code runs, no lease is given back, no audit row is written.

- A conversation's turns alternate between two instances; the dialog continues whichever gets the turn.
- Two simultaneous Unblock presses, one per instance, make exactly one `Remove-BlockedSenderAddress`: the
  database claim decides (there is no lock the two processes could share otherwise).
- The restriction watch runs on one instance (the lease); `kill -9` it and the other takes the lease within
  one interval and alerts a restriction made after the kill.
- `kill -9` during an investigation: after the restart the user's next message continues the dialog.
- `kill -9` during an unblock, after the tenant received the call and before the audit's outcome: the audit
  shows `started` alone and the claim stays `in_progress`; after the restart the reconciler reads the
  result back, appends `succeeded` ("reconciled after restart", same correlation id), settles the claim,
  moves the case to `unblock_pending` and redraws the card; the unblock checker then resolves the case.
  Microsoft 365 is called once.

Replies are matched by `replyToId` (the activity they answer), so proactive alerts the watch posts to the
same chat never pass for an answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.activities import ALEX, invoke, message
from tests.cardschema import assert_valid_card
from tests.connector import RecordingConnector, Sent
from tests.integration.test_remediation_policy import shown as card_text
from tests.security.procs import BotProcess, DemoTenantProcess, fresh_database, query, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

UNBLOCK = "Remove-BlockedSenderAddress"
CARD = "application/vnd.microsoft.card.adaptive"
ADELE_UPN = "AdeleV@example.com"
FIRST_NAMES = {ADELE_UPN: "Adele"}
WATCH_INTERVAL = 6  # seconds (WATCH_INTERVAL_SECONDS): the lease lives 3 s, a standby polls every 3 s
RECONCILE_GRACE = 4  # seconds (RECONCILE_GRACE_SECONDS): the reconciler looks every 2 s


def shown(items: list[Sent]) -> str:
    """Texts and the visible text of the cards (hero-card choices too) of the sent activities, as one string."""
    out = []
    for item in items:
        out.append(str(item.body.get("text") or ""))
        for attachment in item.body.get("attachments") or []:
            content = attachment.get("content")
            is_card = attachment.get("contentType") == CARD and isinstance(content, dict)
            out.append(card_text(content) if is_card else str(content))
    return "\n".join(out)


@dataclass
class Cluster:
    """The demo tenant, the database, the connector and the bot processes of one test."""

    tmp_path: Path
    demo: DemoTenantProcess
    database_url: str
    recorder: RecordingConnector
    service_url: str
    session: aiohttp.ClientSession
    bots: list[BotProcess] = field(default_factory=list)

    async def start(self, *names: str, **settings: str) -> list[BotProcess]:
        """Start instances (in parallel) and wait until each is ready."""
        started = [BotProcess.create(name, self.tmp_path, database_url=self.database_url, demo=self.demo, **settings)
                   for name in names]
        for bot in started:
            bot.start()
        self.bots.extend(started)
        await asyncio.gather(*(bot.wait_ready(self.session) for bot in started))
        return started

    async def restart(self, bot: BotProcess) -> None:
        """Start a killed instance again with the same settings."""
        bot.start()
        await bot.wait_ready(self.session)

    def logs(self) -> str:
        """Every process's log tail, for failure messages."""
        return "\n".join([*(bot.tail() for bot in self.bots), "--- demo tenant ---", self.demo.tail()])

    def send(self, bot: BotProcess, text: str) -> tuple[str, asyncio.Task[int]]:
        """Send Alex's message to `bot`: the activity id the replies answer, and the POST (HTTP status).

        The POST answers when the turn ends; replies (the progress card first) reach the connector earlier.
        """
        activity = message(text, person=ALEX, service_url=self.service_url)

        async def post() -> int:
            async with self.session.post(f"{bot.url}/api/messages", json=activity) as response:
                return response.status

        return str(activity["id"]), asyncio.create_task(post())

    def replies(self, activity_id: str) -> list[Sent]:
        """The messages answering `activity_id`, and the later updates of those messages (PUTs)."""
        posted = [s for s in self.recorder.messages() if s.method == "POST" and s.body.get("replyToId") == activity_id]
        ids = {s.activity_id for s in posted}
        return posted + [s for s in self.recorder.messages() if s.method == "PUT" and s.activity_id in ids]

    async def answer(self, bot: BotProcess, text: str, expect: Callable[[str], bool], *,
                     within: float = 30.0) -> list[Sent]:
        """Say `text` to `bot` and wait until its replies (and their updates) satisfy `expect` and the turn ended."""
        activity_id, post = self.send(bot, text)

        async def answered() -> bool:
            return expect(shown(self.replies(activity_id)))

        await wait_until(answered, within=within, what=f"{bot.name}'s answer to {text!r}", logs=self.logs)
        assert await post == 201, (bot.name, self.logs())
        return self.replies(activity_id)

    async def press(self, bot: BotProcess, verb: str, data: dict[str, Any]) -> tuple[int, Any]:
        """Alex presses a card button (an `Action.Execute` invoke) on `bot`."""
        activity = invoke(verb, data, person=ALEX, service_url=self.service_url)
        async with self.session.post(f"{bot.url}/api/messages", json=activity) as response:
            return response.status, await response.json()

    async def investigate(self, first: BotProcess, second: BotProcess, upn: str) -> str:
        """Investigate `upn` (the question to `first`, "yes" to `second`) until the findings card; the case id.

        Asked by first name: an exact address would start at once, a partial name asks "Investigate …?" first."""
        await self.answer(first, f"investigate {FIRST_NAMES[upn]}", lambda text: "Investigate" in text)
        await self.answer(second, "yes", lambda text: "Recommended" in text or "Findings" in text or
                          "Unblock" in text, within=45)
        rows = await query(self.database_url, "SELECT id FROM cases WHERE account_upn = $1", upn)
        assert len(rows) == 1, rows
        return str(rows[0]["id"])

    async def audit(self, case_id: str, action: str) -> list[dict[str, Any]]:
        """The case's audit rows of one action, oldest first, parameters decoded."""
        rows = await query(self.database_url, "SELECT outcome, correlation_id, error, parameters FROM audit_log "
                                              "WHERE case_id = $1 AND action = $2 ORDER BY id", case_id, action)
        out = []
        for row in rows:
            item = dict(row)
            if isinstance(item["parameters"], str):
                item["parameters"] = json.loads(item["parameters"])
            out.append(item)
        return out


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    async with fresh_database() as database_url:
        demo = DemoTenantProcess.start(tmp_path)
        recorder = RecordingConnector()
        service_url = await recorder.start()
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        cluster = Cluster(tmp_path, demo, database_url, recorder, service_url, session)
        try:
            yield cluster
        finally:
            for bot in cluster.bots:
                bot.stop()
            await session.close()
            await recorder.close()
            demo.stop()


async def test_a_dialog_continues_on_whichever_process_gets_the_turn_and_one_unblock_wins(
        cluster: Cluster) -> None:
    a, b = await cluster.start("a", "b")

    # investigate → the list of matches on one process; the pick (it starts the investigation: a choice from the
    # list needs no second question) → findings on the other.
    await cluster.answer(a, "investigate megan", lambda text: "Megan Bowen" in text and "Megan Lewis" in text)
    findings = await cluster.answer(b, "1", lambda text: "Compromised" in text, within=45)
    assert any(item.method == "PUT" for item in findings)  # the progress card became the findings card
    cases = await query(cluster.database_url, "SELECT account_upn, verdict FROM cases")
    assert [(row["account_upn"], row["verdict"]) for row in cases] == [("MeganB@example.com", "compromised")]

    # Two simultaneous Unblock presses on Adele's case, one per process: one tenant call.
    case_id = await cluster.investigate(b, a, ADELE_UPN)
    # The call takes a while, so the second press arrives while the first one is acting.
    await cluster.demo.add_fault(cluster.session, {"match": f"InvokeCommand:{UNBLOCK}", "latency_ms": 1500})
    presses = await asyncio.gather(*(cluster.press(bot, "unblock", {"caseId": case_id, "confirm": "1"})
                                     for bot in (a, b)))
    for status, body in presses:
        assert status == 200, (status, body, cluster.logs())
        assert (body["statusCode"], body["type"]) == (200, CARD)
        assert_valid_card(body["value"])
    texts = [card_text(body["value"]) for _, body in presses]
    assert sum("Already unblocked by Alex Wilber" in text for text in texts) == 1, texts
    assert all("Unblocked by Alex Wilber" in text for text in texts)

    calls = await cluster.demo.requests(cluster.session, UNBLOCK)
    assert [call["status"] for call in calls] == [200]
    audit = await cluster.audit(case_id, "unblock")
    assert [row["outcome"] for row in audit] == ["started", "succeeded"]
    assert len({row["correlation_id"] for row in audit}) == 1
    claims = await query(cluster.database_url, "SELECT action, status FROM action_claims WHERE case_id = $1", case_id)
    assert [(row["action"], row["status"]) for row in claims] == [("unblock", "done")]


async def test_the_watch_runs_on_one_process_and_moves_when_it_is_killed(cluster: Cluster) -> None:
    a, b = await cluster.start("a", "b", WATCH_INTERVAL_SECONDS=str(WATCH_INTERVAL))
    # Alex's personal chat is where alerts go (no IT channel set): the bot remembers it from any turn.
    await cluster.answer(a, "help", lambda text: bool(text))

    async def lease_holder() -> str | None:
        rows = await query(cluster.database_url, "SELECT holder FROM leases WHERE name = 'restriction-watch' "
                                                 "AND expires_at > now()")
        return str(rows[0]["holder"]) if rows else None

    def instance(holder: str | None) -> BotProcess | None:
        return next((bot for bot in (a, b) if holder and f":{bot.pid}:" in holder), None)

    async def seeded_alerted() -> bool:
        rows = await query(cluster.database_url, "SELECT count(*) AS n FROM restriction_seen "
                                                 "WHERE alerted_at IS NOT NULL")
        return int(rows[0]["n"]) >= 4  # Megan, Patti, Adele and Grady are restricted in the seed

    await wait_until(seeded_alerted, within=60, what="the first watch round's alerts", logs=cluster.logs)
    holder = instance(await lease_holder())
    assert holder is not None, await lease_holder()
    survivor = b if holder is a else a
    # Exactly one instance ran the round: each restriction was alerted once.
    alerts = [s for s in cluster.recorder.messages() if s.method == "POST" and "Restricted from sending mail"
              in shown([s])]
    assert len(alerts) == 4, shown(alerts)

    async def round_done() -> bool:
        return "restriction watch: 4 restricted, 4 alerted" in holder.log.read_text()

    await wait_until(round_done, within=30, what="the holder's round summary", logs=cluster.logs)
    assert "restriction watch: " not in survivor.log.read_text()  # the standby never ran a round

    holder.kill()
    killed_at = time.monotonic()
    await cluster.demo.admin(cluster.session, "POST", "restrict", {"address": "LynneR@example.com"})

    async def taken_over() -> bool:
        return instance(await lease_holder()) is survivor

    await wait_until(taken_over, within=WATCH_INTERVAL + 5, what="the survivor taking the watch over",
                     logs=cluster.logs)
    took = time.monotonic() - killed_at
    # Within one interval (plus scheduling slack on a shared machine): lease expiry + one standby poll.
    assert took <= WATCH_INTERVAL + 2, f"takeover after {took:.1f} s"

    def lynne_alerts() -> list[Sent]:
        return [s for s in cluster.recorder.messages() if s.method == "POST" and "Lynne Robbins" in shown([s])]

    async def lynne_alerted() -> bool:
        return bool(lynne_alerts())

    await wait_until(lynne_alerted, within=30, what="the alert about Lynne from the survivor", logs=cluster.logs)
    assert "Restricted from sending mail" in shown(lynne_alerts())

    async def lynne_marked() -> bool:
        # The alert is recorded after it went out (so a failed post is tried again): a moment after the post.
        rows = await query(cluster.database_url, "SELECT count(*) AS n FROM restriction_seen WHERE lower("
                                                 "sender_address) = 'lynner@example.com' AND alerted_at IS NOT NULL")
        return int(rows[0]["n"]) == 1

    await wait_until(lynne_marked, within=10, what="Lynne's alert recorded as sent", logs=cluster.logs)
    assert len(lynne_alerts()) == 1


async def test_kill_9_during_an_investigation_and_during_an_unblock(cluster: Cluster) -> None:
    (bot,) = await cluster.start("a", RECONCILE_GRACE_SECONDS=str(RECONCILE_GRACE))

    # 1. Killed while the investigation waits for the sign-in log.
    await cluster.answer(bot, f"investigate {FIRST_NAMES[ADELE_UPN]}", lambda text: "Investigate" in text)
    slow = await cluster.demo.add_fault(cluster.session, {"match": "GET /v1.0/auditLogs/signIns",
                                                          "latency_ms": 8000, "count": 1})
    activity_id, turn = cluster.send(bot, "yes")

    async def fired(rule: str) -> bool:
        return rule not in await cluster.demo.fault_ids(cluster.session)

    await wait_until(lambda: fired(slow), within=20, what="the sign-in log request", logs=cluster.logs)
    progress = cluster.replies(activity_id)
    assert [item.method for item in progress] == ["POST"], shown(progress)  # the progress card, no findings yet
    bot.kill()
    with contextlib.suppress(aiohttp.ClientError):
        await turn  # the connection died with the process
    await cluster.restart(bot)
    # The turn that died never saved its state: the dialog is still at the confirmation, and "yes" goes on.
    findings = await cluster.answer(bot, "yes", lambda text: "Adele Vance" in text and "Unblock" in text, within=45)
    assert any(item.method == "PUT" for item in findings), shown(findings)
    cases = await query(cluster.database_url, "SELECT id, verdict FROM cases WHERE account_upn = $1", ADELE_UPN)
    assert len(cases) == 1 and cases[0]["verdict"] is not None
    case_id = str(cases[0]["id"])
    copies = await query(cluster.database_url, "SELECT activity_id FROM case_cards WHERE case_id = $1", case_id)
    assert len(copies) == 1
    copy_id = str(copies[0]["activity_id"])

    # 2. Killed after Microsoft 365 received Remove-BlockedSenderAddress and before the audit's outcome.
    hold = await cluster.demo.add_fault(cluster.session, {"match": f"InvokeCommand:{UNBLOCK}", "latency_ms": 3000,
                                                          "count": 1})
    press = asyncio.create_task(cluster.press(bot, "unblock", {"caseId": case_id, "confirm": "1"}))
    await wait_until(lambda: fired(hold), within=20, what="the unblock reaching the tenant", logs=cluster.logs)
    bot.kill()
    with contextlib.suppress(aiohttp.ClientError):
        await press  # the connection died with the process

    async def tenant_done() -> bool:
        return len(await cluster.demo.requests(cluster.session, UNBLOCK)) == 1

    await wait_until(tenant_done, within=15, what="the tenant finishing the unblock", logs=cluster.logs)
    assert [c["status"] for c in await cluster.demo.requests(cluster.session, UNBLOCK)] == [200]
    audit = await cluster.audit(case_id, "unblock")
    assert [row["outcome"] for row in audit] == ["started"]
    claims = await query(cluster.database_url, "SELECT status FROM action_claims WHERE case_id = $1", case_id)
    assert [row["status"] for row in claims] == ["in_progress"]
    puts_before = len([s for s in cluster.recorder.messages() if s.method == "PUT" and s.activity_id == copy_id])

    await cluster.restart(bot)
    # The user's next message gets a sensible answer from the restarted process.
    await cluster.answer(bot, "help", lambda text: "investigate" in text.lower())

    async def claim_status() -> list[str]:
        rows = await query(cluster.database_url, "SELECT status FROM action_claims WHERE case_id = $1", case_id)
        return [row["status"] for row in rows]

    async def reconciled() -> bool:
        # The outcome row first, then the claim: both done in one round of the reconciler.
        return len(await cluster.audit(case_id, "unblock")) == 2 and await claim_status() == ["done"]

    await wait_until(reconciled, within=RECONCILE_GRACE * 5, what="the reconciler", logs=cluster.logs)
    audit = await cluster.audit(case_id, "unblock")
    assert [row["outcome"] for row in audit] == ["started", "succeeded"]
    assert audit[0]["correlation_id"] == audit[1]["correlation_id"]
    assert audit[1]["parameters"]["result"]["reconciled"] == "reconciled after restart"

    def copy_updates() -> list[Sent]:
        return [s for s in cluster.recorder.messages() if s.method == "PUT" and s.activity_id == copy_id][puts_before:]

    async def card_redrawn() -> bool:
        return "Unblocked by Alex Wilber" in shown(copy_updates())

    await wait_until(card_redrawn, within=20, what="the card copy redrawn", logs=cluster.logs)

    # The case went to unblock_pending, so the unblock checker follows it to the end.
    async def restored() -> bool:
        rows = await query(cluster.database_url, "SELECT status FROM cases WHERE id = $1", case_id)
        return bool(rows) and rows[0]["status"] == "resolved" and "Sending restored" in shown(copy_updates())

    await wait_until(restored, within=40, what="the checker resolving the case", logs=cluster.logs)
    for update in copy_updates():
        assert_valid_card(update.body["attachments"][0]["content"])
    # Microsoft 365 was asked to unblock once: the reconciler read the result back, it did not repeat it.
    assert len(await cluster.demo.requests(cluster.session, UNBLOCK)) == 1

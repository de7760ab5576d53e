"""What the restriction watch costs Microsoft 365 per hour at its interval, counted on the demo tenant's request log.

`python -m bench.watch_cost [--polls N] [--restrictions K]`: a demo tenant (in this process, the seed of
`make demo`), the production clients over HTTPS, the watch with a recording outbox and an IT channel, and
`N` rounds (`RestrictionWatch.run_once`, back to back: the interval only spaces them). The first round alerts
and investigates the seed's restrictions (a start-up); then `K` new restrictions (`/_demo/restrict`, Diego and
others) arrive spread over the remaining rounds. Every request the demo tenant answered is counted, by round:

- a quiet round (nothing new): the poll itself, `Get-BlockedSenderAddress` (Exchange `InvokeCommand`) and the
  Defender alerts read (`GET /security/alerts_v2`), plus a confirmation per Defender alert the list missed;
- a round with a new restriction: the poll plus that account's investigation (Graph and Exchange);
- after the last round, an account is unblocked (its Defender alert stays for a day) and `--polls` more rounds
  run: the first confirms the alert's account once with `Get-BlockedSenderAddress -SenderAddress`, the watch
  believes the answer for 15 minutes (`core.watch.RECONFIRM_AFTER`), so the later ones stay at the poll's cost.

Per hour at the interval (`WATCH_INTERVAL_MINUTES`, default 1): 3600 / interval quiet rounds, plus one
investigation per new restriction. -> bench/results/watch_cost.json and the "Restriction watch" section of
docs/PERFORMANCE.md (written by hand from the JSON).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import figure, write_result

SEED = Path(__file__).resolve().parent.parent / "demo_tenant" / "seeds" / "contoso.json"
# Accounts of the seed that are not restricted at the start: the "new" restrictions.
NEW_RESTRICTIONS = ("DiegoS@example.com", "LynneR@example.com", "IsaiahL@example.com", "JohannaL@example.com",
                    "LeeG@example.com", "NestorW@example.com")
# Microsoft's published limit for the Defender alerts the watch reads (Graph "Security detections and incidents
# service limits": any operation on `alert`, 150 requests per minute per app per tenant; throttling-limits.md).
ALERTS_PER_MINUTE_LIMIT = 150


def kind(record: Any) -> str:
    """A request's family in the tables: the cmdlet, the Graph path's first segments, or the token endpoint."""
    if record.api == "exchange":
        return f"exchange {record.cmdlet or record.path}"
    if record.api == "identity":
        return "token"
    parts = [p for p in record.path.split("/") if p][:3]
    return f"graph {record.method} /{'/'.join(parts)}"


async def measure(polls: int, restrictions: int, work: Path) -> dict[str, Any]:
    """Run the watch `polls` times against a fresh demo tenant; the request counts per round."""
    from config import Settings
    from core.cases import CaseBook
    from core.notices import Notices
    from core.watch import RestrictionWatch
    from demo_tenant import DemoTenant, DemoTenantConfig
    from domain.people import Role
    from investigation.service import Investigations
    from m365.http import create_session
    from m365.tenant import create_tenant
    from remediation.views import CaseView
    from store import IT_ALERT_CHANNEL, Store

    class Outbox:
        """Accepts every post and update (the connector's side is not what is measured)."""

        def __init__(self) -> None:
            self.posted = 0

        async def send(self, reference: Any, text: str) -> str:
            self.posted += 1
            return f"a{self.posted}"

        async def send_card(self, reference: Any, card: Any) -> str:
            return await self.send(reference, "")

        async def update_card(self, reference: Any, activity_id: str, card: Any) -> None:
            return None

    async def nobody(user_id: str) -> Role:
        return Role.USER

    server = DemoTenant(DemoTenantConfig(seed_path=SEED, data_dir=work / "demo", host="127.0.0.1", port=0))
    await server.start()
    store = await Store.open(f"sqlite+aiosqlite:///{work / 'bot.db'}")
    try:
        settings = Settings.from_env(server.client_env(), dotenv_path=work / "absent.env")
        session = create_session(settings)
        tenant = await create_tenant(settings, session)
        try:
            channel = {"reference": {"conversation": {"id": "it-channel"}, "serviceUrl": "http://127.0.0.1/"},
                       "conversation_id": "it-channel", "channel_name": "IT", "team_name": "IT", "locale": "en-US"}
            await store.settings.set(IT_ALERT_CHANNEL, channel, updated_by="bench")
            outbox = Outbox()
            notices = Notices(tenant_id=tenant.tenant_id, store=store, investigations=Investigations(tenant),
                              cases=CaseBook(store), outbox=outbox, role_of=nobody,
                              view=CaseView(store, messenger=outbox, role_of=nobody), notify_affected_user=False)
            watch = RestrictionWatch(tenant=tenant, store=store, notices=notices,
                                     interval_seconds=settings.watch_interval, initial_delay_seconds=0)
            known = {str(u.get("mail") or "").lower() for u in server.state.graph.get("users", [])}
            fresh = [a for a in NEW_RESTRICTIONS if a.lower() in known][:restrictions]
            # Spread the new restrictions over rounds 2..polls, one per chosen round.
            at_round = {2 + i * max(1, (polls - 1) // max(1, len(fresh))): a for i, a in enumerate(fresh)}
            rounds: list[dict[str, Any]] = []
            for index in range(1, polls + 1):
                if index in at_round:
                    server.state.restrict(at_round[index])
                before = len(server.state.requests)
                result = await watch.run_once()
                records = list(server.state.requests)[before:]
                rounds.append({"round": index, "alerted": result.alerted, "restricted": result.restricted,
                               "requests": len(records),
                               "by_kind": dict(Counter(kind(r) for r in records if not r.in_batch))})
            # An unblock (the demo tenant lists the sender until its delay passes: none here); its alert stays.
            server.state.unblock_delay_seconds = 0.0
            after: list[int] = []
            if fresh:
                server.state.unblock(fresh[0])
                for _ in range(polls):
                    before = len(server.state.requests)
                    await watch.run_once()
                    after.append(len(server.state.requests) - before)
            await watch.stop()
        finally:
            await tenant.close()
            await session.close()
    finally:
        await store.close()
        await server.stop()
    return {"rounds": rounds, "after_unblock": after, "interval_seconds": settings.watch_interval,
            "new_restrictions": len(fresh)}


def summarise(data: dict[str, Any]) -> dict[str, Any]:
    """Quiet rounds vs rounds with one new restriction, and the hourly figures at the interval."""
    rounds = data["rounds"][1:]  # the first round is the start-up (the seed's restrictions)
    quiet = [r for r in rounds if r["alerted"] == 0]
    busy = [r for r in rounds if r["alerted"] == 1]
    per_quiet = statistics.median(r["requests"] for r in quiet) if quiet else float("nan")
    per_new = (statistics.median(r["requests"] for r in busy) - per_quiet) if busy else float("nan")
    quiet_kinds: Counter[str] = Counter()
    for r in quiet:
        quiet_kinds.update(r["by_kind"])
    polls_per_hour = 3600 / data["interval_seconds"]
    alerts_reads = quiet_kinds.get("graph GET /v1.0/security/alerts_v2", 0) / max(1, len(quiet))
    return {
        "quiet_rounds": len(quiet), "rounds_with_one_new_restriction": len(busy),
        "requests_per_quiet_round": per_quiet, "requests_per_new_restriction": per_new,
        "quiet_round_kinds": {k: v / max(1, len(quiet)) for k, v in sorted(quiet_kinds.items())},
        "polls_per_hour": polls_per_hour, "requests_per_hour_quiet": per_quiet * polls_per_hour,
        "alerts_reads_per_minute": alerts_reads * 60 / data["interval_seconds"],
        "after_unblock": data["after_unblock"],
    }


def main(argv: list[str] | None = None) -> int:
    """Measure and write bench/results/watch_cost.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--polls", type=int, default=20, help="watch rounds to run (the first is the start-up)")
    parser.add_argument("--restrictions", type=int, default=3, help="new restrictions during the rounds")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="watch-cost-") as tmp:
        data = asyncio.run(measure(args.polls, args.restrictions, Path(tmp)))
    s = summarise(data)
    minutes = data["interval_seconds"] / 60
    figures = [
        figure("watch: requests per quiet round (poll)", s["requests_per_quiet_round"], "requests"),
        figure("watch: requests per new restriction (its investigation)", s["requests_per_new_restriction"],
               "requests"),
        figure(f"watch: requests per hour, nothing new (every {minutes:g} min)", s["requests_per_hour_quiet"],
               "requests/h"),
        figure("watch: requests in the rounds after an unblock (alert left over)", sum(s["after_unblock"]),
               "requests", baseline=("quiet rounds x requests per quiet round",
                                     len(s["after_unblock"]) * s["requests_per_quiet_round"])),
        figure("watch: Defender alert reads per minute", s["alerts_reads_per_minute"], "requests/min",
               baseline=("Graph limit on alerts per app per tenant", ALERTS_PER_MINUTE_LIMIT)),
    ]
    notes = (f"{len(data['rounds'])} watch rounds on the demo tenant of `make demo` (its seed; throttles and faults "
             f"off), WATCH_INTERVAL default ({data['interval_seconds']:.0f} s); round 1 alerts the seed's "
             f"restrictions (start-up, not counted); {data['new_restrictions']} new restrictions arrive in later "
             f"rounds. Counted from the demo tenant's request log (outer requests; $batch parts not double-counted). "
             f"A quiet round: {s['quiet_round_kinds']}. Requests per round: {[r['requests'] for r in data['rounds']]}; "
             f"after one of them is unblocked (its Defender alert stays): {s['after_unblock']}.")
    path = write_result("watch_cost", figures, notes)
    for item in figures:
        print(f"{item['metric']}: {item['value']} {item['unit']}")
    print(f"per round: {[r['requests'] for r in data['rounds']]}")
    print(f"quiet round: {s['quiet_round_kinds']}")
    print(f"after an unblock: {s['after_unblock']}")
    print(f"-> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

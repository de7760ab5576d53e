"""Load generator: posts N message activities at concurrency C to a bot's /api/messages, waits for every reply.

Replies arrive at a `LocalConnector` (the activity's `serviceUrl`), so the latency measured is request ->
reply as a Teams user would see it, not just the HTTP 201. Each of the C workers owns one conversation and
one user and sends its messages one after another, as a person in a chat would: concurrent turns never
race on the same conversation state.

    python -m bench.loadgen --url http://127.0.0.1:3978/api/messages -n 2000 -c 50
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp

from bench.common import LocalConnector, bench_user_id, demo_tenant_id, fmt, message_activity, percentile

_run_ids = itertools.count(1)


@dataclass
class LoadResult:
    """What one load run measured. Latencies are request -> reply, in milliseconds."""

    messages: int
    concurrency: int
    elapsed: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)

    @property
    def replied(self) -> int:
        """Messages that got their reply."""
        return len(self.latencies_ms)

    @property
    def throughput(self) -> float:
        """Replied turns per second over the whole run."""
        return self.replied / self.elapsed if self.elapsed else 0.0

    def p(self, pct: float) -> float:
        """Latency percentile in ms."""
        return percentile(self.latencies_ms, pct)

    def summary(self) -> str:
        """One line for the console."""
        return (f"{self.replied}/{self.messages} replies at c={self.concurrency} in {self.elapsed:.2f} s: "
                f"{fmt(self.throughput, 'turns/s')}, p50 {fmt(self.p(50), 'ms')}, p99 {fmt(self.p(99), 'ms')}"
                f"{f', {self.errors} errors {self.error_kinds}' if self.errors else ''}")

    def note_error(self, kind: str) -> None:
        """Count one failed message by kind."""
        self.errors += 1
        self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1


Conversation = Callable[[int, int], tuple[str, str]]
"""(worker index, message index) -> (conversation id, user aadObjectId)."""


def per_worker(tag: str) -> Conversation:
    """Each worker has its own conversation and user (the default)."""
    return lambda worker, _message: (f"bench-{tag}-w{worker}", bench_user_id(worker))


def per_message(tag: str, offset: int = 0) -> Conversation:
    """Every message opens a new conversation with a new user (state rows grow: the memory bench)."""
    return lambda _worker, message: (f"bench-{tag}-m{offset + message}", bench_user_id(1_000_000 + offset + message))


async def run_load(url: str, *, messages: int, concurrency: int, text: str = "help",
                   connector: LocalConnector | None = None, conversation: Conversation | None = None,
                   tenant_id: str | None = None, reply_timeout: float = 30.0) -> LoadResult:
    """Post `messages` activities to `url` with `concurrency` workers; every wait is bounded by `reply_timeout`.

    A message counts as answered when its first non-typing reply reaches the connector. Errors (non-2xx,
    connection errors, missing replies) are counted, never retried, so a slow bot cannot hang the bench.
    """
    tag = f"{int(time.time())}-{next(_run_ids)}"
    conversation = conversation or per_worker(tag)
    tenant_id = tenant_id or demo_tenant_id()
    own_connector = connector is None
    if connector is None:
        connector = LocalConnector()
        await connector.start()
    result = LoadResult(messages=messages, concurrency=concurrency)
    counter = itertools.count()
    limits = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=reply_timeout)
    try:
        async with aiohttp.ClientSession(connector=limits, timeout=timeout) as session:

            async def worker(index: int) -> None:
                assert connector is not None
                while (n := next(counter)) < messages:
                    conversation_id, user_id = conversation(index, n)
                    activity_id = f"{tag}-{n}"
                    body = message_activity(text, activity_id=activity_id, service_url=connector.service_url,
                                            conversation_id=conversation_id, user_id=user_id, tenant_id=tenant_id)
                    reply = connector.expect(activity_id)
                    started = time.perf_counter()
                    try:
                        async with session.post(url, json=body) as response:
                            await response.read()
                            if response.status not in (200, 201, 202):
                                connector.forget(activity_id)
                                result.note_error(f"http {response.status}")
                                continue
                        arrived = await asyncio.wait_for(reply, reply_timeout)
                    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                        connector.forget(activity_id)
                        result.note_error(type(exc).__name__)
                        continue
                    result.latencies_ms.append((arrived - started) * 1000.0)

            started = time.perf_counter()
            await asyncio.gather(*(worker(i) for i in range(concurrency)))
            result.elapsed = time.perf_counter() - started
    finally:
        if own_connector:
            await connector.close()
    return result


def main(argv: list[str] | None = None) -> int:
    """CLI: run one load against a bot that is already listening."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:3978/api/messages")
    parser.add_argument("-n", "--messages", type=int, default=2000)
    parser.add_argument("-c", "--concurrency", type=int, default=50)
    parser.add_argument("--text", default="help")
    parser.add_argument("--warmup", type=int, default=100, help="messages sent first and not measured")
    args = parser.parse_args(argv)

    async def go() -> LoadResult:
        connector = LocalConnector()
        await connector.start()
        try:
            if args.warmup:
                await run_load(args.url, messages=args.warmup, concurrency=args.concurrency, text=args.text,
                               connector=connector)
            return await run_load(args.url, messages=args.messages, concurrency=args.concurrency, text=args.text,
                                  connector=connector)
        finally:
            await connector.close()

    result = asyncio.run(go())
    print(result.summary())
    return 0 if result.errors == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())

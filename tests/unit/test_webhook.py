"""The webhook's signature and settings, and how the deliverer reads each answer of the receiver (2xx, 5xx, 429,
4xx, 3xx, no connection): retried with back-off, given up after `max_refused_attempts`, never redirected."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from config import Settings, SettingsError
from core.events import EventDeliverer, WebhookConfig, sign, verify
from store import Actor, Database, Store
from tests.webhook_receiver import Receiver

SECRET = "s" * 32
TENANT = "4f8c2b1e-6d3a-4e5b-9c7d-1a2b3c4d5e6f"
ALEX = Actor(id="0d4b2a71-9f3c-4b8e-a1d2-5e6f7a8b9c01", name="Alex Wilber", upn="AlexW@example.com")


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    body = b'{"id":"1","type":"case.opened"}'
    expected = hmac.new(SECRET.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign(SECRET, 1700000000, body) == f"sha256={expected}"
    signature = sign(SECRET, 1700000000, body)
    assert verify(SECRET, "1700000000", body, signature, now=1700000010)
    assert not verify(SECRET, "1700000000", body + b" ", signature, now=1700000010)  # body changed
    assert not verify(SECRET, "1700000001", body, signature, now=1700000010)  # timestamp changed
    assert not verify("t" * 32, "1700000000", body, signature, now=1700000010)  # another secret
    assert not verify(SECRET, "1700000000", body, signature, now=1700000000 + 301)  # a replay, too late
    assert not verify(SECRET, "soon", body, signature)


def settings(**env: str) -> Settings:
    return Settings.from_env(env, dotenv_path=Path("/nonexistent/.env"))


def test_webhook_settings() -> None:
    assert settings().webhook_url == ""
    ok = settings(WEBHOOK_URL="https://prod-12.westeurope.logic.azure.com/workflows/x?sig=KEY", WEBHOOK_SECRET=SECRET)
    assert ok.webhook_timeout_seconds == 10.0 and "KEY" not in repr(ok) and SECRET not in repr(ok)
    for loopback in ("http://127.0.0.1:8080/hook", "http://localhost/hook", "http://[::1]:9/hook"):
        assert settings(WEBHOOK_URL=loopback, WEBHOOK_SECRET=SECRET).webhook_url == loopback
    for bad in ("http://hooks.contoso.com/x?sig=KEY", "ftp://hooks.contoso.com/x", "hooks.contoso.com/x",
                "http://10.0.0.5/x"):
        with pytest.raises(SettingsError, match="WEBHOOK_URL must be an https:// URL") as refused:
            settings(WEBHOOK_URL=bad, WEBHOOK_SECRET=SECRET)
        assert "KEY" not in str(refused.value)  # the URL's key is never echoed
    with pytest.raises(SettingsError, match="WEBHOOK_SECRET must be at least 32 characters"):
        settings(WEBHOOK_URL="https://hooks.contoso.com/x", WEBHOOK_SECRET="short")
    with pytest.raises(SettingsError, match="WEBHOOK_SECRET must be at least 32"):
        settings(WEBHOOK_URL="https://hooks.contoso.com/x")
    with pytest.raises(SettingsError, match="WEBHOOK_SECRET is set but WEBHOOK_URL is empty"):
        settings(WEBHOOK_SECRET=SECRET)
    with pytest.raises(SettingsError, match="WEBHOOK_TIMEOUT_SECONDS"):
        settings(WEBHOOK_URL="https://hooks.contoso.com/x", WEBHOOK_SECRET=SECRET, WEBHOOK_TIMEOUT_SECONDS="600")
    with pytest.raises(SettingsError, match="WEBHOOK_TIMEOUT_SECONDS must be a number"):
        settings(WEBHOOK_TIMEOUT_SECONDS="ten")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    try:
        yield r
    finally:
        await r.stop()


async def _events(store: Store, n: int) -> list[str]:
    for i in range(n):
        await store.cases.open_or_get_case(TENANT, f"account-{i}", f"user{i}@example.com", "User", ALEX)
    return [e.id for e in await store.events.list()]


def _deliverer(store: Store, url: str, **config: float) -> EventDeliverer:
    return EventDeliverer(store=store, config=WebhookConfig(
        url=url, secret=SECRET, timeout_seconds=2.0, first_retry_seconds=0.01, max_retry_seconds=0.02,
        max_refused_attempts=int(config.pop("max_refused_attempts", 3)), **config), jitter=lambda: 0.0)


async def _drain(deliverer: EventDeliverer, store: Store, rounds: int = 50) -> None:
    for _ in range(rounds):
        await deliverer.run_once()
        if await store.events.pending_count() == 0:
            return
        due = await store.events.due(1)
        if due and due[0].next_attempt_at > store.db.clock():
            await asyncio.sleep((due[0].next_attempt_at - store.db.clock()).total_seconds())


async def test_delivered_signed_in_order(sqlite_database: Database, receiver: Receiver) -> None:
    store = Store(sqlite_database, events=True)
    ids = await _events(store, 3)
    deliverer = _deliverer(store, receiver.url)
    try:
        result = await deliverer.run_once()
    finally:
        await deliverer.stop()
    assert result.delivered == 3 and await store.events.pending_count() == 0
    assert [r.headers["X-BSA-Delivery"] for r in receiver.received] == ids
    for got in receiver.received:
        assert got.headers["X-BSA-Event"] == "case.opened" and got.headers["Content-Type"] == "application/json"
        assert verify(SECRET, got.headers["X-BSA-Timestamp"], got.body, got.headers["X-BSA-Signature"])
        assert json.loads(got.body)["id"] == got.headers["X-BSA-Delivery"]


async def test_5xx_and_429_are_retried_until_delivered(sqlite_database: Database, receiver: Receiver,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    receiver.answer = lambda n: [(503, {}), (429, {"Retry-After": "0"}), (500, {}), (200, {})][min(n, 3)]
    store = Store(sqlite_database, events=True)
    ids = await _events(store, 2)
    deliverer = _deliverer(store, receiver.url)
    with caplog.at_level(logging.INFO, logger="core.events"):
        try:
            await _drain(deliverer, store)
        finally:
            await deliverer.stop()
    assert [r.headers["X-BSA-Delivery"] for r in receiver.received] == [ids[0]] * 4 + [ids[1]]
    first = (await store.events.list())[0]
    assert first.attempts == 4 and first.delivered_at is not None
    # One warning when the failures begin, one line when they end.
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "deliveries failing (HTTP 503)" in warnings[0].getMessage()
    assert any("deliveries resumed" in r.getMessage() for r in caplog.records)
    assert SECRET not in caplog.text and receiver.url not in caplog.text


async def test_a_refused_event_is_given_up_and_the_next_goes(sqlite_database: Database, receiver: Receiver) -> None:
    receiver.answer = lambda n: (400, {}) if n < 3 else (204, {})
    store = Store(sqlite_database, events=True)
    ids = await _events(store, 2)
    deliverer = _deliverer(store, receiver.url, max_refused_attempts=3)
    try:
        await _drain(deliverer, store)
    finally:
        await deliverer.stop()
    events = await store.events.list()
    assert events[0].failed_at is not None and events[0].attempts == 3 and events[0].last_error == "HTTP 400"
    assert events[1].delivered_at is not None
    assert [r.headers["X-BSA-Delivery"] for r in receiver.received] == [ids[0]] * 3 + [ids[1]]


async def test_a_redirect_is_not_followed(sqlite_database: Database, receiver: Receiver) -> None:
    receiver.answer = lambda n: (307, {})
    store = Store(sqlite_database, events=True)
    await _events(store, 1)
    deliverer = _deliverer(store, receiver.url, max_refused_attempts=1)
    try:
        await deliverer.run_once()
    finally:
        await deliverer.stop()
    assert len(receiver.received) == 1  # the signed body did not follow the Location
    assert (await store.events.list())[0].failed_at is not None


async def test_no_receiver_keeps_the_event(sqlite_database: Database) -> None:
    gone = Receiver()
    await gone.start()
    await gone.stop()  # the port is free again: connections are refused
    store = Store(sqlite_database, events=True)
    await _events(store, 1)
    deliverer = _deliverer(store, gone.url)
    try:
        result = await deliverer.run_once()
    finally:
        await deliverer.stop()
    event = (await store.events.list())[0]
    assert result.waiting and deliverer.failing
    assert event.delivered_at is None and event.failed_at is None and event.attempts == 1
    assert event.next_attempt_at > event.occurred_at and event.last_error


async def test_only_the_lease_holder_delivers(sqlite_database: Database, receiver: Receiver) -> None:
    store = Store(sqlite_database, events=True)
    await _events(store, 1)
    holder, standby = _deliverer(store, receiver.url), _deliverer(store, receiver.url)
    try:
        assert (await holder.run_once()).delivered == 1
        await _events(store, 2)
        assert (await standby.run_once()).skipped == "lease"
    finally:
        await holder.stop()
        await standby.stop()
    assert len(receiver.received) == 1

"""Secrets stay secret: a whole investigation and a tenant write with DEBUG logging, and nothing sensitive in the log.

The bot runs in demo mode exactly as `main()` configures it for `LOG_LEVEL=DEBUG` (`bot.configure_logging`),
with every log record of every logger captured at DEBUG. It talks to the demo tenant over HTTPS with the
real msal, Graph and Exchange clients: client-credentials token requests (the client secret goes over the
wire), bearer tokens on every call, the user's messages in and the bot's replies out. The log must not
contain the client secret, any bearer token the demo tenant issued (whole, or its payload or signature), the
text a user typed, or what the investigation found (names and addresses from the tenant: they belong in the
case, not in a log file).

Two runs: an investigation plus a direct tenant write through the bot's own `m365` client (the
`Remove-BlockedSenderAddress` call the Unblock action makes), and the Unblock button itself, pressed as
"Unblock anyway" with a typed reason (which goes into the audit record, and must not go into the log).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

import bot
from bot import COMPONENTS, THIRD_PARTY_LOG_CAPS, configure_logging, create_app
from config import Settings
from demo_tenant.identity import Identity
from tests.activities import MEGAN, invoke, message
from tests.connector import RecordingConnector

# Letters and digits only, so Markdown escaping in a reply cannot hide it from the search.
MARKER = f"zqprivate{uuid.uuid4().hex}"


@pytest.fixture
def issued_tokens(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every access token the demo tenant signs during the test."""
    tokens: list[str] = []
    original = Identity.issue_access_token

    def recording(self: Identity, resource: str, **kwargs: Any) -> str:
        token = original(self, resource, **kwargs)
        tokens.append(token)
        return token

    monkeypatch.setattr(Identity, "issue_access_token", recording)
    return tokens


@pytest.fixture
def production_logging(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Logging as `main()` sets it up for LOG_LEVEL=DEBUG, with every record that reaches the root captured."""
    names = ["", *THIRD_PARTY_LOG_CAPS]
    saved = {name: logging.getLogger(name).level for name in names}
    configure_logging("DEBUG")
    caplog.set_level(logging.DEBUG)  # the root logger and the capture handler: the caps stay as configured
    yield caplog
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


@pytest.fixture
async def demo_bot(tmp_path: Path, production_logging: pytest.LogCaptureFixture
                   ) -> AsyncIterator[tuple[TestClient[Any, Any], RecordingConnector, str]]:
    recorder = RecordingConnector()
    service_url = await recorder.start()
    client: TestClient[Any, Any] = TestClient(TestServer(create_app(Settings(data_dir=tmp_path, log_level="DEBUG"))))
    await client.start_server()
    yield client, recorder, service_url
    await client.close()
    await recorder.close()


def secrets_of(tmp_path: Path, tokens: list[str]) -> dict[str, str]:
    """What must never be logged, by a name that says what leaked."""
    found = {"client secret": (tmp_path / "demo_tenant" / "client_secret").read_text(encoding="utf-8").strip()}
    for index, token in enumerate(tokens):
        header, payload, signature = token.split(".")
        found[f"token {index}"] = token
        found[f"token {index} payload"] = payload
        found[f"token {index} signature"] = signature
    return found


def assert_not_logged(caplog: pytest.LogCaptureFixture, needles: dict[str, str]) -> None:
    logged = caplog.text + "\n".join(repr(r.args) for r in caplog.records)
    leaks = [name for name, needle in needles.items() if needle and needle in logged]
    assert not leaks, f"found in the DEBUG log: {leaks}"


async def test_an_investigation_and_a_tenant_write_leak_nothing(
        demo_bot: Any, production_logging: pytest.LogCaptureFixture, issued_tokens: list[str],
        tmp_path: Path) -> None:
    client, recorder, service_url = demo_bot
    typed = {
        "investigate command": f"investigate {MEGAN.upn} {MARKER}",
        "free text": f"my colleague said {MARKER} about the weather",
    }
    # A message the bot does not understand, then a whole investigation of Megan (ask, confirm, findings).
    await client.post("/api/messages", json=message(typed["free text"], service_url=service_url))
    await client.post("/api/messages", json=message(f"investigate {MEGAN.upn}", service_url=service_url))
    await client.post("/api/messages", json=message("yes", service_url=service_url))
    updates = [s for s in recorder.sent if s.method == "PUT"]
    assert updates, "the findings card was not posted: the investigation did not run"
    # The prompt for an unresolvable account echoes the text; it must reach the chat, not the log.
    await client.post("/api/messages", json=message(typed["investigate command"], service_url=service_url,
                                                    conversation_id="second"))
    # The tenant write the Unblock action makes, through the bot's own tenant client.
    tenant = client.app[COMPONENTS].tenant
    await tenant.remove_blocked_sender(MEGAN.upn)  # (the demo tenant, like Microsoft, lifts it after a delay)

    assert issued_tokens, "no token was issued: the test did not exercise msal"
    # DEBUG records really were captured (the bot's own HTTP client logs every call at DEBUG).
    assert any(r.levelno == logging.DEBUG and r.name.startswith("m365") for r in production_logging.records)
    needles = secrets_of(tmp_path, issued_tokens)
    needles.update({f"typed: {name}": text for name, text in typed.items()})
    needles["marker"] = MARKER
    # What the investigation found lives in the case and the card, not in the log (SQL parameters are not logged).
    needles["investigated name"] = "Megan Bowen"
    needles["attacker's forwarding address"] = "exfil@mail-relay.example.net"
    assert_not_logged(production_logging, needles)


async def test_an_unblock_press_leaks_nothing(demo_bot: Any, production_logging: pytest.LogCaptureFixture,
                                              issued_tokens: list[str], tmp_path: Path) -> None:
    """Alex unblocks Megan through the card: "Unblock anyway" with a typed reason (she is compromised, so the
    unblock is gated), confirmed. The reason goes into the audit record; it must not go into the log."""
    client, recorder, service_url = demo_bot
    await client.post("/api/messages", json=message(f"investigate {MEGAN.upn}", service_url=service_url))
    await client.post("/api/messages", json=message("yes", service_url=service_url))
    card = next(s for s in recorder.sent if s.method == "PUT").body["attachments"][0]["content"]
    case_id = next(a["data"]["caseId"] for a in elements(card) if a.get("type") == "Action.Execute"
                   and a["data"].get("caseId"))
    reason = f"phoned Megan and reset it together {MARKER}"
    data = {"caseId": case_id, "override": "1", "overrideReason": reason, "confirm": "1"}
    press = await client.post("/api/messages", json=invoke("unblock", data, service_url=service_url))
    assert press.status == 200
    body = await press.json()
    assert body["type"] == "application/vnd.microsoft.card.adaptive", body
    entries = await client.app[COMPONENTS].store.audit.list(case_id=case_id)
    assert any(e.action == "unblock" and e.outcome == "succeeded" for e in entries), entries
    assert any(reason in json.dumps(e.parameters) for e in entries)  # kept where it belongs
    needles = secrets_of(tmp_path, issued_tokens)
    needles.update({"override reason": reason, "marker": MARKER})
    assert_not_logged(production_logging, needles)


def elements(node: Any) -> Iterator[dict[str, Any]]:
    """Every typed element of a card, depth first."""
    if isinstance(node, dict):
        if "type" in node:
            yield node
        for value in node.values():
            yield from elements(value)
    elif isinstance(node, list):
        for item in node:
            yield from elements(item)


def test_third_party_loggers_that_print_requests_are_capped() -> None:
    """Even at LOG_LEVEL=DEBUG, the libraries that log request headers or bodies stay at WARNING."""
    saved = {name: logging.getLogger(name).level for name in ["", *THIRD_PARTY_LOG_CAPS]}
    try:
        configure_logging("DEBUG")
        assert logging.getLogger().level == logging.DEBUG
        for name, level in THIRD_PARTY_LOG_CAPS.items():
            assert logging.getLogger(name).getEffectiveLevel() >= level, name
        assert logging.getLogger("m365").getEffectiveLevel() == logging.DEBUG  # our own loggers say what we choose
        assert bot.log.getEffectiveLevel() == logging.DEBUG
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)

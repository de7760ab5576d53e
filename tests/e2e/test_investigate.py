"""Journey: Alex Wilber (security admin) investigates Megan Bowen in the Agents Playground.

Alex types "investigate MeganB@example.com" (an exact address: no confirmation question), sees "Looking into Megan
Bowen…" and then that very message turn into the findings card: Compromised, with the evidence (the forwarding rule to
exfil@mail-relay.example.net among it). The bot runs in demo mode; this module starts its own bot with the
embedded demo tenant on a known port, so the test can slow the sign-in log down (a fault rule with latency):
the progress card then stays long enough to be seen, whatever the machine's speed.
"""

from __future__ import annotations

import json
import ssl
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from locales import t
from tests.e2e.harness import PlaygroundPage, Service, catalog_title, free_port, start_bot

pytestmark = pytest.mark.e2e

SIGN_IN_DELAY_MS = 3000
PROGRESS = "Looking into Megan Bowen"
INVESTIGATION_TIMEOUT = 45.0  # seconds: the delayed sign-in log plus every other source on a slow machine


def en(key: str, **params: object) -> str:
    return t("en", key, **params)


@pytest.fixture(scope="module")
def bot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bot")


@pytest.fixture(scope="module")
def demo_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def bot(bot_dir: Path, demo_port: int) -> Iterator[Service]:
    """The real bot in demo mode, its embedded demo tenant on a port this module knows (for the admin API)."""
    service = start_bot(bot_dir, {"DEMO_TENANT_PORT": str(demo_port)}, kind="real")
    try:
        yield service
    finally:
        service.stop()


@dataclass(frozen=True)
class DemoAdmin:
    """The embedded demo tenant's admin API (loopback only, no authentication; HTTPS with its own CA)."""

    base_url: str
    ca_file: Path

    def __call__(self, method: str, path: str, body: object | None = None) -> None:
        request = urllib.request.Request(f"{self.base_url}{path}", method=method,
                                         data=json.dumps(body).encode() if body is not None else None,
                                         headers={"Content-Type": "application/json"})
        context = ssl.create_default_context(cafile=str(self.ca_file))
        with urllib.request.urlopen(request, timeout=10, context=context) as response:  # noqa: S310 - loopback
            assert response.status in (200, 201, 204)


@pytest.fixture
def demo(bot: Service, bot_dir: Path, demo_port: int) -> DemoAdmin:
    return DemoAdmin(f"https://127.0.0.1:{demo_port}", bot_dir / "bot-data" / "demo_tenant" / "ca.pem")


async def test_alex_investigates_megan(ui: PlaygroundPage, demo: DemoAdmin) -> None:
    demo("POST", "/_demo/faults", {"match": r"^GET /v1\.0/auditLogs/signIns", "latency_ms": SIGN_IN_DELAY_MS})
    try:
        await ui.open_personal_chat()
        await ui.send("investigate MeganB@example.com")
        progress = await ui.wait_for_card(PROGRESS)
        assert ["Looking into", "Megan Bowen", "…"] == (await ui.card_texts(progress))[:3]

        # The same message becomes the findings card (update_activity): wait on the pinned card itself.
        await progress.filter(has_text="Compromised").wait_for(state="visible", timeout=INVESTIGATION_TIMEOUT * 1000)
        texts = await ui.card_texts(progress)
        shown = " ".join(texts)
        assert "Compromised" in texts
        assert "Megan Bowen" in shown and "MeganB@example.com" in shown
        # The first screen is compact: the verdict and the next step; the findings are folded behind their toggle.
        assert en("steps.next") in texts
        assert "exfil@mail-relay.example.net" not in shown
        await ui.expand(progress, catalog_title("toggle.findings"))
        await ui.expand(progress, catalog_title("toggle.findings"))  # open already: stays open
        shown = " ".join(await ui.card_texts(progress))
        assert "exfil@mail-relay.example.net" in shown
        assert "Mail Sync Pro" in shown
        assert PROGRESS not in shown
        # Replaced, not added: no card in the chat still says "Looking into".
        assert await ui.cards().filter(has_text=PROGRESS).count() == 0
        # The links to Defender's Restricted entities and to the user in Entra.
        assert "Restricted entities" in texts and "User in Entra" in texts
        # Folded again: the card's head (name, restriction, verdict, the next step) in the picture.
        await progress.get_by_role("button", name=catalog_title("toggle.findings")).click()
        await progress.get_by_text("exfil@mail-relay.example.net").first.wait_for(state="detached")
        await progress.evaluate("card => card.scrollIntoView({block: 'start'})")
        await ui.screenshot("findings-card")
    finally:
        demo("DELETE", "/_demo/faults")

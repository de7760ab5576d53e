"""Journey of automatic containment (issue 17), in the Agents Playground against the real bot in demo mode.

This module runs its own bot with `AUTO_CONTAIN=1` and a watch round every few seconds (no alert channel, so IT
alerts go to the personal chat of every security admin the bot can reach), so the containment it does touches no
other module's demo tenant.

Alex Wilber (security admin) says "help" in his personal chat, which makes him reachable. The next watch round
alerts him to the accounts Microsoft 365 restricted; Megan Bowen's investigation says compromised, so the bot
revokes her sessions and blocks her sign-in before anyone reads the alert: her card says "Contained automatically
at …", and its step list (behind "Show all steps (N)") has the block done by automatic containment with "Allow
sign-in again". Alex presses it: the card says sign-in is allowed again, and the demo tenant saw the account
disabled and then enabled again.
"""

from __future__ import annotations

import json
import ssl
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import PlaygroundPage, Service, free_port, start_bot
from tests.e2e.steps import en, show_all_steps

pytestmark = pytest.mark.e2e

SLOW = 45.0  # seconds: a card press on a loaded machine
ALERT_TIMEOUT = 120.0  # the next watch round, the investigations of every restricted account, the containment
MEGAN = "MeganB@example.com"
MEGAN_ID = "2f6d4c93-1b5e-4d0a-83f4-7a8b9c0d1e03"  # demo_tenant/seeds/contoso.json


@pytest.fixture(scope="module")
def bot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bot")


@pytest.fixture(scope="module")
def demo_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def bot(bot_dir: Path, demo_port: int) -> Iterator[Service]:
    """The real bot in demo mode with automatic containment on; the watch every 3 s; a bound that lets every
    compromised account of the seed be contained (the bound itself: tests/integration/test_auto_containment.py)."""
    service = start_bot(bot_dir, {"DEMO_TENANT_PORT": str(demo_port), "AUTO_CONTAIN": "1",
                                  "AUTO_CONTAIN_MAX_PER_HOUR": "20", "WATCH_INTERVAL_SECONDS": "3"}, kind="real")
    try:
        yield service
    finally:
        service.stop()


@dataclass(frozen=True)
class DemoAdmin:
    """The embedded demo tenant's admin API (loopback only, HTTPS with the tenant's own CA)."""

    base_url: str
    ca_file: Path

    def get(self, path: str) -> Any:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        with urllib.request.urlopen(f"{self.base_url}{path}", timeout=10, context=context) as response:  # noqa: S310
            assert response.status == 200
            return json.loads(response.read())


@pytest.fixture
def demo(bot: Service, bot_dir: Path, demo_port: int) -> DemoAdmin:
    return DemoAdmin(f"https://127.0.0.1:{demo_port}", bot_dir / "bot-data" / "demo_tenant" / "ca.pem")


async def text_of(card: Any) -> str:
    """A card's visible text as one line (inline runs joined as the reader sees them)."""
    return " ".join((await card.inner_text()).split())


def sign_in_changes(demo: DemoAdmin) -> list[bool]:
    """Megan's `accountEnabled` writes the demo tenant received, oldest first."""
    return [bool(a["detail"]["enabled"]) for a in demo.get("/_demo/actions")
            if a["kind"] == "set_account_enabled" and a["target"] == MEGAN_ID]


async def test_a_compromised_account_is_contained_and_sign_in_allowed_again(ui: PlaygroundPage,
                                                                           demo: DemoAdmin) -> None:
    await ui.open_personal_chat()
    await ui.send("help")  # Alex's chat is where alerts go now (no alert channel was chosen)
    await ui.wait_for_card("What I can do for you", timeout=SLOW)

    contained = en("notice.contained", time="\0").split("\0")[0]  # "Contained automatically at "
    found = ui.cards().filter(has_text=MEGAN).filter(has_text=contained.strip()).last
    await found.wait_for(state="visible", timeout=ALERT_TIMEOUT * 1000)
    card = await ui.pin(found)
    shown = await text_of(card)
    assert "Megan Bowen" in shown and "Compromised" in shown, shown
    # Done before anyone pressed anything: the sessions revoked, the sign-in blocked.
    actions = demo.get("/_demo/actions")
    assert any(a["kind"] == "revoke_sessions" and a["target"] == MEGAN_ID for a in actions), actions
    assert sign_in_changes(demo) == [False]
    await card.evaluate("card => card.scrollIntoView({block: 'start'})")
    await ui.screenshot("contained-automatically")

    # The block is recorded as the containment's step, with the button that lifts it.
    await show_all_steps(ui, card)
    shown = await text_of(card)
    assert en("step.done", actor=en("actor.automatic_containment"), time="").removesuffix(" at ") in shown, shown
    answer = await ui.click_card_button(card, en("button.allow_sign_in"), timeout=SLOW)
    assert answer.is_card, answer
    shown = await text_of(card)
    assert en("notice.done", action=en("remediation.action.allow_sign_in")) in shown, shown
    assert en("note.sign_in_allowed", actor="Alex Wilber", time="").removesuffix(" at ") in shown, shown
    assert contained.strip() not in shown  # the containment's block no longer holds
    assert sign_in_changes(demo) == [False, True]
    await card.get_by_text(en("note.sign_in_allowed", actor="Alex Wilber", time="").removesuffix(" at ")).first \
        .evaluate("node => node.scrollIntoView({block: 'center'})")
    await ui.screenshot("contained-sign-in-allowed")

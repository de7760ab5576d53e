"""Several instances, one PostgreSQL (issue 8, item 1, the part that exists today): a dialog continues on
whichever instance gets the next turn.

Two real `bot.py` processes (demo mode: each starts its own demo tenant from the same seed, so account ids
agree) share one fresh PostgreSQL database. One conversation's turns alternate between them: "investigate
megan" to A (two Megans: a choice), "1" to B (B must know A's question: the confirm prompt for Megan Bowen),
"yes" to A (A must know B's question: the investigation runs and the findings card replaces the progress
card). Dialog state lives in the database (`teams.storage.SqlStorage` on `store.bot_state`, e-tags), never in a process.

Simultaneous Unblock presses on the two instances, the watch moving when its instance dies and `kill -9` in the
middle of an action are proven with real processes in `tests/security/test_processes.py`.

PostgreSQL comes from TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test): the test creates
its own database next to it and drops it afterwards. Unreachable: skipped locally, a failure when CI is set
(`tests/store_fixtures.py`).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy.engine import make_url

from config import IDENTITY_ENV_NAMES, ROOT
from tests.activities import ALEX, message
from tests.connector import RecordingConnector
from tests.store_fixtures import _asyncpg_dsn, _check_postgres, postgres_url

pytestmark = pytest.mark.slow

STARTUP_SECONDS = 60.0
# Settings that would take an instance out of demo mode or give it an identity: cleared, whatever .env holds.
_CLEARED = (*IDENTITY_ENV_NAMES, "M365_TENANT_ID", "M365_CLIENT_ID",
            "M365_CLIENT_SECRET", "M365_CLIENT_CERTIFICATE_PATH", "DEMO_TENANT_SEED")


@dataclass
class Instance:
    """One `bot.py` process."""

    name: str
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-40:]) if self.log.exists() else ""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def shared_database() -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database for this test (plain postgresql:// URL), dropped afterwards."""
    url = postgres_url()
    await _check_postgres(url)
    name = f"bsa_{uuid.uuid4().hex[:12]}"
    admin_dsn = _asyncpg_dsn(url)
    conn = await asyncpg.connect(admin_dsn, timeout=10)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        conn = await asyncpg.connect(admin_dsn, timeout=10)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


@pytest.fixture
def start_instance(tmp_path: Path) -> Iterator[Any]:
    """Starts `bot.py` processes on `database_url`; stops each one it started (SIGTERM, then SIGKILL)."""
    started: list[Instance] = []

    def start(name: str, database_url: str) -> Instance:
        port = _free_port()
        data_dir = tmp_path / name
        data_dir.mkdir()
        env = {**os.environ, **{key: "" for key in _CLEARED}, "DATABASE_URL": database_url, "DATA_DIR": str(data_dir),
               "HOST": "127.0.0.1", "PORT": str(port), "DEMO_TENANT_PORT": "0", "LOG_LEVEL": "INFO"}
        log = tmp_path / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen([sys.executable, str(ROOT / "bot.py")], cwd=ROOT, env=env, stdout=out,
                                       stderr=subprocess.STDOUT)
        instance = Instance(name, process, f"http://127.0.0.1:{port}", log)
        started.append(instance)
        return instance

    yield start
    for instance in started:
        if instance.process.poll() is None:
            instance.process.send_signal(signal.SIGTERM)
    for instance in started:
        try:
            instance.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            instance.process.kill()
            instance.process.wait(timeout=5)


async def wait_ready(session: aiohttp.ClientSession, instance: Instance) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if instance.process.poll() is not None:
            pytest.fail(f"{instance.name} exited with {instance.process.returncode}:\n{instance.tail()}")
        try:
            async with session.get(f"{instance.url}/readyz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    pytest.fail(f"{instance.name} not ready after {STARTUP_SECONDS} s:\n{instance.tail()}")


async def say(session: aiohttp.ClientSession, instance: Instance, recorder: RecordingConnector, text: str,
              service_url: str, replies: int) -> list[Any]:
    """Send one message to `instance`; wait for `replies` more messages at the connector; return the new ones."""
    before = len(recorder.messages())
    async with session.post(f"{instance.url}/api/messages",
                            json=message(text, person=ALEX, service_url=service_url)) as response:
        assert response.status == 201, (instance.name, response.status, await response.text())
    try:
        await recorder.wait_for(before + replies, within=30)
    except TimeoutError:
        pytest.fail(f"{instance.name} did not answer {text!r}:\n{instance.tail()}")
    return recorder.messages()[before:]


def shown(sent: list[Any]) -> str:
    """The texts, hero-card choices and Adaptive Card texts of the sent activities, as one string."""
    out = []
    for item in sent:
        body = item.body
        out.append(str(body.get("text") or ""))
        for attachment in body.get("attachments") or []:
            out.append(str(attachment.get("content")))
    return "\n".join(out)


async def test_a_dialog_continues_on_whichever_instance_gets_the_next_turn(
        shared_database: str, start_instance: Any) -> None:
    recorder = RecordingConnector()
    service_url = await recorder.start()
    try:
        a = start_instance("a", shared_database)
        b = start_instance("b", shared_database)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
            await asyncio.gather(wait_ready(session, a), wait_ready(session, b))

            choice = await say(session, a, recorder, "investigate megan", service_url, replies=1)
            assert "Megan Bowen" in shown(choice) and "Megan Lewis" in shown(choice)

            # The pick, on the other instance, continues the dialog instance a stored and starts the investigation
            # (a choice from the list needs no second question): the progress card, then the findings in its place.
            progress = await say(session, b, recorder, "1", service_url, replies=2)
            assert any(item.method == "PUT" for item in progress), shown(progress)
            findings = next(item for item in progress if item.method == "PUT")
            assert "Compromised" in shown([findings])

        conn = await asyncpg.connect(_asyncpg_dsn(shared_database), timeout=10)
        try:
            cases = await conn.fetch("SELECT account_upn, verdict FROM cases")
        finally:
            await conn.close()
        assert [(row["account_upn"], row["verdict"]) for row in cases] == [("MeganB@example.com", "compromised")]
    finally:
        await recorder.close()

"""`make demo` as a process (tools/run_demo.py): it stops cleanly, says which port is taken, and resets its store.

The runner is started for real (the bot on the demo tenant and the Agents Playground under node), then stopped
with SIGTERM or Ctrl-C (SIGINT): afterwards no process it started is alive and neither port listens. A port
already in use is named with the setting that changes it, at once. `--reset` (`make demo-reset`) deletes the
SQLite store and its `.created` marker and says so.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from config import ROOT
from tests.security.procs import CLEARED, free_port
from tools.run_demo import PLAYGROUND_CLI, port_in_use, reset

pytestmark = pytest.mark.slow
STARTUP_SECONDS = 90.0


def demo_env(data_dir: Path) -> dict[str, str]:
    """The environment of a demo run in `data_dir`, whatever .env holds (demo mode: no identity)."""
    return {**os.environ, **{key: "" for key in CLEARED}, "DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1",
            "DEMO_TENANT_PORT": "0"}


def descendants(pid: int) -> set[int]:
    """Every live process whose parent chain leads to `pid`, or whose process group or session is one of theirs
    (the runner's children run in their own sessions)."""
    parents: dict[int, int] = {}
    groups: dict[int, tuple[int, int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] == "Z":
            continue  # a zombie holds no port and runs no code
        parents[int(entry.name)] = int(fields[1])
        groups[int(entry.name)] = (int(fields[2]), int(fields[3]))
    found = {pid}
    changed = True
    while changed:
        changed = False
        for child, parent in parents.items():
            if child not in found and (parent in found or groups[child][0] in found or groups[child][1] in found):
                found.add(child)
                changed = True
    found.discard(pid)
    return {p for p in found if p in parents}


@pytest.fixture
def ports() -> Iterator[tuple[int, int]]:
    yield free_port(), free_port()


def start(tmp_path: Path, bot_port: int, ui_port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tools.run_demo", "--port", str(bot_port), "--ui-port", str(ui_port)],
        cwd=ROOT, env=demo_env(tmp_path / "data"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def wait_running(runner: subprocess.Popen[str]) -> str:
    """The runner's output up to its "running" line (fails with the output when it exits first)."""
    assert runner.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        line = runner.stdout.readline()
        if not line and runner.poll() is not None:
            break
        seen.append(line)
        if "is running on the demo tenant" in line:
            return "".join(seen)
    runner.kill()
    pytest.fail("the demo did not start:\n" + "".join(seen[-40:]))


@pytest.mark.skipif(not PLAYGROUND_CLI.is_file(), reason="the Agents Playground is not installed (npm ci)")
@pytest.mark.parametrize("stop_with", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "ctrl-c"])
def test_a_stop_signal_stops_the_bot_the_demo_tenant_and_the_playground(
        tmp_path: Path, ports: tuple[int, int], stop_with: signal.Signals) -> None:
    bot_port, ui_port = ports
    runner = start(tmp_path, bot_port, ui_port)
    try:
        wait_running(runner)
        children = descendants(runner.pid)
        assert len(children) >= 2  # the bot and node (the Playground), at least
        assert port_in_use(bot_port) and port_in_use(ui_port)
        runner.send_signal(stop_with)
        output, _ = runner.communicate(timeout=30)
    finally:
        if runner.poll() is None:
            runner.kill()
    assert runner.returncode == 0, output
    assert "Stopped the bot, its demo tenant and the Agents Playground." in output
    alive = {p for p in children if Path(f"/proc/{p}").exists() and "Z" not in _state(p)}
    assert not alive, f"still running after the stop: {alive}"
    assert not port_in_use(bot_port) and not port_in_use(ui_port)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


@pytest.mark.skipif(not PLAYGROUND_CLI.is_file(), reason="the Agents Playground is not installed (npm ci)")
@pytest.mark.parametrize("taken", ["bot", "playground"])
def test_a_taken_port_is_named_with_the_setting_that_changes_it(tmp_path: Path, ports: tuple[int, int],
                                                                 taken: str) -> None:
    bot_port, ui_port = ports
    port = bot_port if taken == "bot" else ui_port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        runner = start(tmp_path, bot_port, ui_port)
        output, _ = runner.communicate(timeout=20)
    assert runner.returncode == 1
    assert f"Port {port} (" in output and "already in use" in output
    assert ("PORT=" if taken == "bot" else "PLAYGROUND_PORT=") in output
    assert "is running" not in output
    assert not (tmp_path / "data").exists()  # nothing was started


def test_reset_deletes_the_store_and_its_marker_and_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                             ports: tuple[int, int]) -> None:
    data = tmp_path / "data"
    data.mkdir()
    names = ("bot.db", "bot.db-wal", "bot.db.created")
    for name in names:
        (data / name).write_bytes(b"x")
    (data / "keep.txt").write_text("not the store")
    env = {**demo_env(data), "PORT": str(ports[0])}
    assert reset(env) == 0
    said = capsys.readouterr().out
    for name in names:
        assert not (data / name).exists()
        assert name in said
    assert (data / "keep.txt").exists()
    assert reset(env) == 0
    assert "Nothing to remove" in capsys.readouterr().out


def test_reset_refuses_postgresql(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "bot.db").write_bytes(b"x")
    postgres = {**demo_env(data), "DATABASE_URL": "postgresql://u@127.0.0.1/db"}
    assert reset(postgres) == 1
    assert "nothing was removed" in capsys.readouterr().err
    assert (data / "bot.db").exists()


def test_reset_refuses_while_a_demo_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         ports: tuple[int, int]) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "bot.db").write_bytes(b"x")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as bot:
        bot.bind(("127.0.0.1", ports[0]))
        bot.listen()
        assert reset({**demo_env(data), "PORT": str(ports[0])}) == 1
    assert "stop the running `make demo` first" in capsys.readouterr().err
    assert (data / "bot.db").exists()

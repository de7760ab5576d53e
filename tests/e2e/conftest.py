"""Fixtures for the end-to-end tests: one bot and one Playground per test module, a fresh browser per test.

`E2E_BOT=real|echo` picks the bot (default below). `E2E_SCREENSHOTS_DIR` is where `PlaygroundPage.screenshot`
saves (default: pytest's temporary directory). On a failure the page is saved as `FAILED-<test>.png` next to
the test's temporary files and the bot's log tail is printed.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.e2e.harness import (
    DEFAULT_CONFIG,
    PlaygroundPage,
    Service,
    bot_kind,
    open_playground,
    start_bot,
    start_playground,
)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Remember each phase's report on the test item, so fixtures can tell whether the test failed."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"e2e_report_{report.when}", report)


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The bot, started for this test module (fresh data directory, so fresh dialog state)."""
    service = start_bot(tmp_path_factory.mktemp("bot"), kind=bot_kind())
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture(scope="module")
def playground(bot: Service, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The Agents Playground with the default configuration (Alex Wilber, security admin), for this module."""
    service = start_playground(bot.url, DEFAULT_CONFIG, work_dir=tmp_path_factory.mktemp("playground"))
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: `$E2E_SCREENSHOTS_DIR` or a session temporary directory."""
    configured = os.environ.get("E2E_SCREENSHOTS_DIR")
    return Path(configured) if configured else tmp_path_factory.getbasetemp() / "screenshots"


@pytest_asyncio.fixture
async def ui(playground: Service, bot: Service, tmp_path: Path, screenshots: Path,
             request: pytest.FixtureRequest) -> AsyncIterator[PlaygroundPage]:
    """A fresh headless Chromium on the Playground (the UI keeps no history across page loads)."""
    async with open_playground(playground.url, tmp_path / "chromium", screenshots=screenshots) as page:
        try:
            yield page
        finally:
            report = getattr(request.node, "e2e_report_call", None)
            if report is not None and report.failed:
                path = tmp_path / f"FAILED-{request.node.name}.png"
                await page.page.screenshot(path=str(path))
                print(f"\nscreenshot of the failure: {path}\nbot log {bot.log_path}:\n{bot.log_tail(30)}")

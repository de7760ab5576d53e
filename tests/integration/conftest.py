"""Fixtures the demo-tenant integration modules share: one demo data directory per module (the demo CA and keys
are made once) and a fresh demo stack per test. A module that needs its own defines fixtures of the same names."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.demo_stack import DemoStack, demo_stack


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data directory per module."""
    return tmp_path_factory.mktemp("demo_tenant")


@pytest.fixture
async def stack(demo_dir: Path) -> AsyncIterator[DemoStack]:
    """The demo tenant and a collector over it, fresh for each test."""
    async with demo_stack(demo_dir) as running:
        yield running

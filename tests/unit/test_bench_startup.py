"""What the start path skips (issue 14): Alembic when the schema is current, RSA checks of the demo tenant's keys."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from bench.common import ROOT
from demo_tenant.pki import ensure_pki
from store.db import declared_head, head_revision


def test_the_head_read_from_the_migration_files_is_alembics() -> None:
    assert declared_head() == head_revision() is not None


def test_importing_the_store_does_not_import_alembic() -> None:
    code = "import sys, store; print('alembic' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_demo_tenants_keys_are_reused_quickly_on_a_restart(tmp_path: Path) -> None:
    first = ensure_pki(tmp_path)
    started = time.perf_counter()
    again = ensure_pki(tmp_path)
    # Three 2048-bit keys: generating them takes ~0.2 s, OpenSSL's consistency checks ~0.15 s; loading ~1 ms.
    assert time.perf_counter() - started < 0.1
    assert again.kid == first.kid and again.client_secret == first.client_secret

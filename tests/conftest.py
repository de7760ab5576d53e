"""Session-wide test setup: shared fixtures, and the Graph contract check over every demo tenant the suite starts.

`pytest_configure` points `DEMO_TENANT_CONTRACT_LOG` at a fresh directory, so every demo tenant (in-process, and in
bot subprocesses, which inherit the environment) appends each Graph request it answers there. At the end of the
session every logged request is resolved again against Microsoft's Graph v1.0 metadata, and the session fails when
one does not resolve or a served body carried a property v1.0 does not declare. A test that sends an invalid request
on purpose (to see the refusal) says so with `@pytest.mark.graph_contract_exempt`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

pytest_plugins = ["tests.store_fixtures"]

_CONTRACT_ENV = "DEMO_TENANT_CONTRACT_LOG"
_EXEMPT_MARK = "graph_contract_exempt"
_state: dict[str, object] = {}


def pytest_configure(config: pytest.Config) -> None:
    """Register the exemption marker and open a fresh contract log directory for this session."""
    config.addinivalue_line("markers", f"{_EXEMPT_MARK}: the test sends Graph requests v1.0 refuses, on purpose")
    if hasattr(config, "workerinput"):
        return  # an xdist worker: the controller owns the directory (its environment is inherited)
    directory = Path(tempfile.mkdtemp(prefix="graph-contract-"))
    _state["dir"] = directory
    _state["previous"] = os.environ.get(_CONTRACT_ENV)
    os.environ[_CONTRACT_ENV] = str(directory)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Remember which tests may send invalid Graph requests on purpose."""
    _state["exempt"] = {item.nodeid for item in items if item.get_closest_marker(_EXEMPT_MARK) is not None}


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the session when a logged Graph request does not hold to the v1.0 metadata."""
    directory = _state.get("dir")
    if not isinstance(directory, Path):
        return
    try:
        if not any(directory.glob("graph-*.jsonl")):
            return
        from demo_tenant.contract import check_logs

        exempt = _state.get("exempt")
        violations = check_logs(directory, exempt if isinstance(exempt, set) else set())
        if not violations:
            return
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = [f"Graph contract check: {len(violations)} request(s) do not hold to Microsoft Graph v1.0 metadata:"]
        for v in violations[:50]:
            lines.append(f"  {v.method} {v.path}{'?' + v.query if v.query else ''}\n    -> {v.reason}"
                         f"{f'  (from {v.test})' if v.test else ''}")
        text = "\n".join(lines)
        if reporter is not None:
            reporter.write_line(text, red=True)
        else:
            print(text)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    finally:
        shutil.rmtree(directory, ignore_errors=True)
        previous = _state.get("previous")
        if isinstance(previous, str):
            os.environ[_CONTRACT_ENV] = previous
        else:
            os.environ.pop(_CONTRACT_ENV, None)

"""The tenant pre-flight (`make check-tenant`, `diagnose` in chat) against the demo tenant.

All green on the seed; with a licence, a permission, an Exchange role or message-trace provisioning taken away
through the demo tenant's `/_demo/` switches, it names exactly what is missing and the features that turns off.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot import build_handler
from cards.diagnose import diagnose_card
from config import IDENTITY_ENV_NAMES
from core.preflight import FEATURE_KEYS, Licence, ProblemKind, Report, for_tenant, render_text
from store import Store
from tests.activities import ALEX, ISAIAH
from tests.cardschema import assert_valid_card
from tests.demo_stack import DemoStack, demo_stack
from tests.dialog_client import DialogClient, cards_of, texts_of
from tests.report_fakes import RecordingOutbox

REPO = Path(__file__).resolve().parents[2]
DEMO_ENV = {name: "" for name in (
    *IDENTITY_ENV_NAMES, "M365_TENANT_ID", "M365_CLIENT_ID",
    "M365_CLIENT_SECRET", "M365_CLIENT_CERTIFICATE_PATH", "M365_CA_FILE", "IT_STAFF_GROUP_ID",
    "SECURITY_ADMIN_GROUP_ID", "DATABASE_URL", "DEMO_TENANT_SEED",
)} | {"DEMO_TENANT_PORT": "0", "LOG_LEVEL": "WARNING"}


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("demo_tenant")


@pytest.fixture
async def stack(demo_dir: Path) -> AsyncIterator[DemoStack]:
    async with demo_stack(demo_dir) as running:
        yield running


async def switch(stack: DemoStack, what: str, body: dict[str, bool]) -> dict[str, Any]:
    """PUT /_demo/{what}; before the first token is fetched, so the tokens carry the change."""
    async with stack.session.put(f"{stack.server.base_url}/_demo/{what}", json=body) as response:
        assert response.status == 200, await response.text()
        answer: dict[str, Any] = await response.json()
        return answer


async def preflight(stack: DemoStack) -> Report:
    runner = for_tenant(stack.tenant)
    assert runner is not None
    return await runner.run()


def unavailable(report: Report) -> set[str]:
    return {s.feature.key for s in report.features if not s.available}


async def test_the_demo_tenant_is_all_green_and_read_only(stack: DemoStack) -> None:
    report = await preflight(stack)
    assert report.ok, render_text(report)
    assert [s.feature.key for s in report.features] == list(FEATURE_KEYS)
    assert report.licences() == {lic: True for lic in Licence}
    assert not stack.server.state.actions, "the pre-flight wrote something"
    graph = {(r.method, r.path) for r in stack.requests(api="graph")}
    assert ("GET", "/v1.0/subscribedSkus") in graph and ("GET", "/v1.0/admin/exchange/tracing/messageTraces") in graph
    assert {r.method for r in stack.requests(api="graph")} == {"GET"}
    cmdlets = {r.cmdlet for r in stack.requests(api="exchange")}
    assert cmdlets == {"Get-BlockedSenderAddress", "Get-Mailbox", "Get-InboxRule", "Search-UnifiedAuditLog",
                       "Get-TransportRule", "Get-MessageTraceV2"}


async def test_without_entra_id_p2_it_names_the_licence_and_the_sources_it_disables(stack: DemoStack) -> None:
    await switch(stack, "licenses", {"entraIdP2": False})
    report = await preflight(stack)
    assert not report.ok
    assert unavailable(report) == {"risky_users", "risk_detections"}
    assert report.missing() == {Licence.ENTRA_ID_P2.value: ["risky_users", "risk_detections"]}
    assert report.licences()[Licence.ENTRA_ID_P2] is False and report.licences()[Licence.ENTRA_ID_P1] is True
    text = render_text(report)
    assert "Microsoft Entra ID P2 -> turns off risky_users, risk_detections" in text
    assert 'docs/DEPLOY.md 2.2, row "user risk" (licence)' in text


async def test_without_audit_log_permission_it_names_it_and_the_features_it_turns_off(stack: DemoStack) -> None:
    answer = await switch(stack, "permissions", {"AuditLog.Read.All": False})
    assert "AuditLog.Read.All" not in answer["grantedPermissions"]
    report = await preflight(stack)
    assert unavailable(report) == {"sign_ins", "app_changes", "directory_audits", "mfa_registration"}
    assert report.missing() == {"AuditLog.Read.All": ["sign_ins", "app_changes", "directory_audits",
                                                      "mfa_registration"]}
    status = next(s for s in report.features if s.feature.key == "sign_ins")
    assert [p.kind for p in status.problems] == [ProblemKind.PERMISSION]
    assert status.fix == 'docs/DEPLOY.md 2.2, row "sign-in log"'


async def test_without_the_exchange_roles_the_reads_and_writes_are_named(stack: DemoStack) -> None:
    await switch(stack, "permissions", {"Security Administrator": False, "Exchange Administrator": False})
    report = await preflight(stack)
    assert unavailable(report) == {"restriction", "unblock", "forwarding", "remove_forwarding", "hidden_inbox_rules",
                                   "mailbox_delegates", "audit_changes", "transport_rules"}
    unblock = next(s for s in report.features if s.feature.key == "unblock")
    assert {p.kind for p in unblock.problems} == {ProblemKind.EXCHANGE_ROLE, ProblemKind.ENTRA_ROLE}
    assert "2.3" in unblock.fix


async def test_message_trace_not_provisioned_is_read_through_exchange(stack: DemoStack) -> None:
    # The investigation falls back to Get-MessageTraceV2 when Graph answers 401: the feature works, and says how.
    await switch(stack, "licenses", {"messageTraceProvisioned": False})
    report = await preflight(stack)
    assert unavailable(report) == set()
    status = next(s for s in report.features if s.feature.key == "message_trace")
    assert status.available and status.via == "Get-MessageTraceV2"
    assert status.fallback is not None and status.fallback.kind == ProblemKind.NOT_PROVISIONED
    assert "provision message trace" in status.fix
    line = next(line for line in render_text(report).splitlines() if line.startswith("message_trace"))
    assert "read through Get-MessageTraceV2 (message trace not provisioned in the tenant)" in line, line
    card = diagnose_card(report, "en-US")
    assert "available (read through Get-MessageTraceV2)" in json.dumps(card)


async def test_message_trace_not_provisioned_and_no_exchange_role(stack: DemoStack) -> None:
    await switch(stack, "licenses", {"messageTraceProvisioned": False})
    await switch(stack, "permissions", {"Security Administrator": False, "Exchange Administrator": False})
    report = await preflight(stack)
    assert "message_trace" in unavailable(report)
    [problem] = next(s for s in report.features if s.feature.key == "message_trace").problems
    assert problem.kind == ProblemKind.NOT_PROVISIONED


async def test_the_switches_refuse_unknown_names(stack: DemoStack) -> None:
    async with stack.session.put(f"{stack.server.base_url}/_demo/licenses", json={"entraIdP3": False}) as response:
        assert response.status == 400
    async with stack.session.put(f"{stack.server.base_url}/_demo/permissions", json=["x"]) as response:
        assert response.status == 400


# -- in chat -------------------------------------------------------------------------------------------------


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    yield opened
    await opened.close()


def shown_text(card: dict[str, Any]) -> str:
    """What a reader sees, one line per element: a RichTextBlock's runs joined as Teams renders them."""
    lines = []
    for element in card["body"]:
        if element["type"] == "RichTextBlock":
            lines.append("".join(run["text"] for run in element["inlines"]))
        elif element["type"] == "TextBlock":
            lines.append(element["text"])
        elif element["type"] == "FactSet":
            lines.extend(f"{f['title']}: {f['value']}" for f in element["facts"])
    return "\n".join(lines)


async def test_diagnose_shows_a_security_admin_the_card(stack: DemoStack, store: Store) -> None:
    await switch(stack, "licenses", {"entraIdP2": False})
    bot, _ = build_handler(stack.settings, tenant=stack.tenant, store=store, outbox=RecordingOutbox())
    sent = await DialogClient(bot, ALEX).say("diagnose")
    [card] = cards_of(sent)
    assert_valid_card(card)
    text = shown_text(card)
    assert f"2 of {len(FEATURE_KEYS)} features are not available" in text
    assert "no Microsoft Entra ID P2 licence" in text and "User risk (Identity Protection)" in text
    sent = await DialogClient(bot, ALEX, locale="nl-NL").say("controleer de tenant")
    [card] = cards_of(sent)
    assert_valid_card(card)
    assert "geen licentie Microsoft Entra ID P2" in shown_text(card)


async def test_diagnose_is_refused_to_it_staff(stack: DemoStack, store: Store) -> None:
    bot, _ = build_handler(stack.settings, tenant=stack.tenant, store=store, outbox=RecordingOutbox())
    sent = await DialogClient(bot, ISAIAH).say("diagnose tenant")
    assert texts_of(sent) == ["Only security admins can check the tenant (diagnose)."]
    assert not cards_of(sent)
    assert not stack.requests(path_contains="subscribedSkus")


# -- make check-tenant ---------------------------------------------------------------------------------------


def test_check_tenant_cli_exits_0_on_the_demo_tenant(tmp_path: Path) -> None:
    env = {**os.environ, **DEMO_ENV, "DATA_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "tools.check_tenant", "--json"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert data["ok"] is True and data["missing"] == {}
    assert [f["feature"] for f in data["features"]] == list(FEATURE_KEYS)
    assert "eyJ" not in result.stdout + result.stderr  # no token (a JWT starts with eyJ) is ever printed

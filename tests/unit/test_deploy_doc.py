"""docs/DEPLOY.md stays in step with the code: every message the bot can show has a troubleshooting row, and
the permission tables agree with the bot's route table (m365/graph.py) and the demo tenant's (which tests enforce).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from demo_tenant.permissions import EXCHANGE_APP_PERMISSION, EXCHANGE_CMDLET_ROLES, GRAPH_ROUTES
from locales import CATALOGS
from m365.exchange import CMDLET_ROLES
from m365.graph import ROUTE_PERMISSIONS

DOC = (Path(__file__).resolve().parents[2] / "docs" / "DEPLOY.md").read_text(encoding="utf-8")

# Message keys a person can see when something is wrong or refused. A new key with one of these prefixes (or
# listed here) needs a row in DEPLOY.md's troubleshooting section, written as [`key`].
ERROR_PREFIXES = ("error.", "unavailable.", "source.", "ratelimit.", "remediation.refused.", "remediation.refresh.",
                  "notice.failed.")
ERROR_KEYS = frozenset({
    "card.unknown_action", "unknown.text", "cancel.nothing",
    "investigate.not_allowed", "investigate.not_found", "investigate.empty", "investigate.too_long",
    "investigate.malformed_address", "investigate.giving_up", "investigate.vanished",
    "restriction.unknown", "reason.incomplete_no_signs", "reason.incomplete_with_signs", "step.note.block_unknown",
    # remediation
    "gate.secure_first", "gate.generic", "gate.required", "gate.password_and_sessions", "gate.missing",
    "remediation.permission_unknown", "notice.still_listed", "notice.in_progress", "notice.other_failed",
    "notice.gated", "notice.reason_missing", "notice.closed", "case.unavailable", "note.failed",
    "note.failed_action", "note.unblock_expired",
    # user reports, the IT channel, notes to users
    "report.private_only", "report.unknown_user", "report.no_account", "report.guest", "report.no_mailbox",
    "report.only_own_account", "report.it.pending", "report.anyway.pending", "report.status.none",
    "alerts.admins_only", "alerts.staff_only", "alerts.in_channel_only", "alerts.off.none",
    "sendnote.not_allowed", "sendnote.empty", "sendnote.too_long", "sendnote.nobody",
})


def error_keys() -> list[str]:
    return sorted(key for key in CATALOGS["en"] if key.startswith(ERROR_PREFIXES) or key in ERROR_KEYS)


@pytest.mark.parametrize("key", error_keys())
def test_every_error_message_has_a_troubleshooting_row(key: str) -> None:
    assert f"[`{key}`]" in DOC, f"docs/DEPLOY.md has no troubleshooting row for message {key!r}"


def test_graph_permissions_named_by_the_bot_are_documented() -> None:
    for method, pattern, permission in ROUTE_PERMISSIONS:
        assert f"`{permission}`" in DOC, f"{method} {pattern.pattern}: {permission} is not in docs/DEPLOY.md"


def test_every_route_the_demo_tenant_serves_has_a_documented_permission_it_accepts() -> None:
    documented = set(re.findall(r"`([A-Z][A-Za-z]+(?:\.[A-Za-z]+)+)`", DOC))
    for route in GRAPH_ROUTES:
        if route.permissions:
            assert documented & set(route.permissions), f"{route.method} {route.pattern}: none of {route.permissions}"


def test_exchange_cmdlets_and_roles_are_documented() -> None:
    assert f"`{EXCHANGE_APP_PERMISSION}`" in DOC
    for cmdlet in CMDLET_ROLES:
        assert f"`{cmdlet}" in DOC, cmdlet
    # The role the guide assigns for each cmdlet is one the demo tenant accepts for it.
    assert "Security Administrator" in EXCHANGE_CMDLET_ROLES["Remove-BlockedSenderAddress"]
    for cmdlet in ("Get-BlockedSenderAddress", "Get-Mailbox", "Get-CASMailbox"):
        assert "Security Administrator" in EXCHANGE_CMDLET_ROLES[cmdlet]
    assert "Exchange Administrator" in EXCHANGE_CMDLET_ROLES["Set-Mailbox"]


def test_links_to_microsoft_are_https_learn_pages() -> None:
    links = re.findall(r"\]\((https?://[^)]+)\)", DOC)
    assert links
    for link in links:
        assert link.startswith("https://learn.microsoft.com/en-us/"), link


def test_every_setting_is_mentioned() -> None:
    config = (Path(__file__).resolve().parents[2] / "config.py").read_text(encoding="utf-8")
    names = set(re.findall(r"\bget\(\"([A-Za-z0-9_]+)\"", config))
    assert "PUBLIC_HOSTNAME" in names
    missing = sorted(name for name in names if f"`{name}" not in DOC)
    assert not missing, f"settings not mentioned in docs/DEPLOY.md: {missing}"

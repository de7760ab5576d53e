"""Well-known folders and unverified apps through the production client against the demo tenant, from Graph v1.0
only: a Dutch mailbox (Lynne Robbins, nl-NL) whose default folders have Dutch display names, well-known names
asked for by path segment inside one `$batch`, and service principals judged by `verifiedPublisher` and
`appOwnerOrganizationId`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from config import Settings
from demo_tenant import DemoTenant, DemoTenantConfig
from investigation.service import Investigations
from m365.graph import HIDING_WELL_KNOWN_FOLDERS
from m365.http import RetryPolicy, create_session
from m365.tenant import M365Tenant, create_tenant

SEED = Path(__file__).resolve().parents[2] / "demo_tenant" / "seeds" / "contoso.json"
TENANT_ID = "4f8c2b1e-6d3a-4e5b-9c7d-1a2b3c4d5e6f"
LYNNE = "5c9a7fc6-4e8b-4a3d-b6c7-0d1e2f3a4b06"
MEGAN = "2f6d4c93-1b5e-4d0a-83f4-7a8b9c0d1e03"
FAST_RETRY = RetryPolicy(max_attempts=2, budget_seconds=5.0, base_delay_seconds=0.05, max_delay_seconds=0.2)


@dataclass
class Demo:
    server: DemoTenant
    session: aiohttp.ClientSession
    tenant: M365Tenant


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[Demo]:
    server = DemoTenant(DemoTenantConfig(seed_path=SEED, data_dir=tmp_path / "demo", host="127.0.0.1", port=0))
    await server.start()
    try:
        settings = Settings.from_env(server.client_env(), dotenv_path=tmp_path / "absent.env")
        session = create_session(settings)
        tenant = await create_tenant(settings, session, retry=FAST_RETRY)
        try:
            yield Demo(server, session, tenant)
        finally:
            await tenant.close()
            await session.close()
    finally:
        await server.stop()


def _folder_id(demo: Demo, user_id: str, display_name: str) -> str:
    return next(str(f["id"]) for f in demo.server.state.iter_user_map("mailFolders", user_id)
                if f["displayName"] == display_name)


async def test_dutch_mailbox_folders_are_named_by_well_known_name_in_one_batch(demo: Demo) -> None:
    demo.server.state.requests.clear()
    folders = {f.display_name: f.well_known_name for f in await demo.tenant.list_mail_folders(LYNNE)}
    assert folders["Verwijderde items"] == "deleteditems"
    assert folders["Ongewenste e-mail"] == "junkemail"
    assert folders["Archief"] == "archive"
    assert folders["Gespreksgeschiedenis"] == "conversationhistory"
    assert folders["Postvak IN"] is None and folders["Planner"] is None
    graph = [r for r in demo.server.state.requests if r.api == "graph"]
    assert [r.path for r in graph if not r.in_batch] == ["/v1.0/$batch"]
    inner = sorted(r.path.rsplit("/", 1)[-1] for r in graph if r.in_batch)
    assert inner == sorted(["mailFolders", *HIDING_WELL_KNOWN_FOLDERS])
    assert all(r.status == 200 for r in graph)


async def test_a_mailbox_without_an_archive_folder_is_still_checked(demo: Demo) -> None:
    archive = _folder_id(demo, LYNNE, "Archief")
    del demo.server.state.exchange["wellKnownFolders"][archive]
    folders = await demo.tenant.list_mail_folders(LYNNE)
    assert [f.well_known_name for f in folders if f.id == archive] == [None]
    assert {f.well_known_name for f in folders} >= {"deleteditems", "junkemail", "conversationhistory"}
    assert any(r.status == 404 and r.path.endswith("/mailFolders/archive") for r in demo.server.state.requests)


async def test_hiding_rule_in_a_dutch_mailbox_is_found_by_well_known_name_not_display_name(demo: Demo) -> None:
    state = demo.server.state
    history = _folder_id(demo, LYNNE, "Gespreksgeschiedenis")
    # A display name no list of ours knows: only the id the well-known name resolved to can tell.
    next(f for f in state.iter_user_map("mailFolders", LYNNE) if f["id"] == history)["displayName"] = "Chatverloop"
    state.graph["messageRules"][LYNNE].append({
        "id": "AQAAAJ5dZqA=", "displayName": "Facturen", "sequence": 2, "isEnabled": True, "hasError": False,
        "isReadOnly": False, "conditions": {"subjectContains": ["factuur", "betaling"]},
        "actions": {"moveToFolder": history, "markAsRead": True, "stopProcessingRules": True}, "exceptions": {},
    })
    user = await demo.tenant.get_user(LYNNE)
    assert user is not None
    investigation = await Investigations(demo.tenant).investigate(user)
    hiding = [f for f in investigation.findings if f.code == "rule_hides_mail"]
    assert [f.params["folder"] for f in hiding] == ["Chatverloop"]
    assert ("action", "move_to_folder") in hiding[0].evidence
    # Her own Planner rule moves mail to an ordinary folder and stays silent.
    assert [f.params["rule"] for f in hiding] == ["Facturen"]


async def test_unverified_foreign_app_from_v1_fields(demo: Demo) -> None:
    grants = await demo.tenant.list_oauth_grants(MEGAN)
    principals = {sp.display_name: sp for sp in await demo.tenant.get_service_principals([g.client_id for g in grants])}
    sync = principals["Mail Sync Pro"]
    assert (sync.is_verified, sync.is_foreign, sync.read_in_tenant) == (False, True, TENANT_ID)
    requests = [r for r in demo.server.state.requests if r.in_batch and "/servicePrincipals/" in r.path]
    assert requests and all("publisherName" not in r.query.get("$select", "") for r in requests)
    user = await demo.tenant.get_user(MEGAN)
    assert user is not None
    investigation = await Investigations(demo.tenant).investigate(user)
    [consent] = [f for f in investigation.findings if f.code == "consent_unverified_app"]
    assert consent.params["app"] == "Mail Sync Pro"
    # Megan consented for her own account (consentType "Principal", said in words on the card).
    assert [v for k, v in consent.evidence if k == "marker"] == ["no_verified_publisher", "foreign_owner",
                                                                 "consent_by_user"]

"""Well-known folders and app publishers from Graph v1.0 only.

`wellKnownName` (mailFolder) and `publisherName` (servicePrincipal) are beta-only properties; v1.0 resolves a
well-known folder by path segment (`/users/{id}/mailFolders/junkemail`) and says who stands behind an app with
`verifiedPublisher` and `appOwnerOrganizationId`. These tests cover the client's side: which requests it sends,
how it reads the answers (a well-known folder the mailbox lacks is no error), and the records it builds.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest

from m365.errors import M365Error, PermissionDenied
from m365.graph import (
    HIDING_WELL_KNOWN_FOLDERS,
    BatchResponse,
    mail_folder_requests,
    merge_mail_folders,
    read_mail_folder_answers,
)
from m365.records import WELL_KNOWN_FOLDER_NAMES, MailFolder, ServicePrincipal

CSDL = Path(__file__).resolve().parents[2] / "demo_tenant" / "metadata" / "v1.0-Prod.csdl"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "microsoft" / "graph"
USER = "5c9a7fc6-4e8b-4a3d-b6c7-0d1e2f3a4b06"

# A Dutch mailbox: Outlook names the default folders in the mailbox language.
LIST = {"value": [
    {"id": "AAMkInbox", "displayName": "Postvak IN"},
    {"id": "AAMkDeleted", "displayName": "Verwijderde items"},
    {"id": "AAMkJunk", "displayName": "Ongewenste e-mail"},
    {"id": "AAMkHistory", "displayName": "Gespreksgeschiedenis"},
    {"id": "AAMkPlanner", "displayName": "Planner"},
]}
BY_NAME = {"deleteditems": "AAMkDeleted", "junkemail": "AAMkJunk", "conversationhistory": "AAMkHistory"}


def _answers(*, archive_status: int = 404, list_status: int = 200) -> list[BatchResponse]:
    """Answers in `mail_folder_requests` order: the list, then one per hiding well-known name."""
    out = [BatchResponse("list", list_status, {}, LIST if list_status == 200 else _error(list_status))]
    for name in HIDING_WELL_KNOWN_FOLDERS:
        if name in BY_NAME:
            folder = next(f for f in LIST["value"] if f["id"] == BY_NAME[name])
            out.append(BatchResponse(name, 200, {}, folder))
        else:
            out.append(BatchResponse(name, archive_status, {}, _error(archive_status)))
    return out


def _declared(entity: str) -> set[str]:
    """The properties Graph v1.0's metadata declares on `entity` (plus the key `id` every entity inherits)."""
    match = re.search(rf'<EntityType Name="{entity}"[^>]*>(.*?)</EntityType>', CSDL.read_text(encoding="utf-8"), re.S)
    assert match is not None, entity
    return set(re.findall(r'<Property Name="(\w+)"', match.group(1))) | {"id"}


def _error(status: int) -> dict[str, Any]:
    if status == 404:
        return {"error": {"code": "ErrorItemNotFound", "message": "The specified object was not found in the store."}}
    return {"error": {"code": "ErrorAccessDenied", "message": "Access is denied. Check credentials and try again."}}


def test_requests_are_the_list_and_each_hiding_well_known_folder_with_v1_properties_only() -> None:
    requests = mail_folder_requests(USER)
    assert [r.url.split("?")[0] for r in requests] == [f"/users/{USER}/mailFolders"] + [
        f"/users/{USER}/mailFolders/{name}" for name in HIDING_WELL_KNOWN_FOLDERS]
    assert all("$select=id,displayName" in r.url and "wellKnownName" not in r.url for r in requests)
    assert len({r.id for r in requests}) == len(requests)
    assert set(HIDING_WELL_KNOWN_FOLDERS) <= WELL_KNOWN_FOLDER_NAMES
    # Every $select property exists on microsoft.graph.mailFolder in v1.0.
    declared = _declared("mailFolder")
    assert set(MailFolder.SELECT.split(",")) <= declared
    assert "wellKnownName" not in declared and "sizeInBytes" not in declared


def test_well_known_names_mark_folders_by_id_whatever_their_display_name() -> None:
    listed, well_known = read_mail_folder_answers(mail_folder_requests(USER), _answers())
    folders = {f.id: f for f in merge_mail_folders(listed["value"], well_known)}
    assert {i: f.well_known_name for i, f in folders.items()} == {
        "AAMkInbox": None, "AAMkDeleted": "deleteditems", "AAMkJunk": "junkemail",
        "AAMkHistory": "conversationhistory", "AAMkPlanner": None,
    }
    assert folders["AAMkHistory"].display_name == "Gespreksgeschiedenis"


def test_a_missing_well_known_folder_is_not_an_error() -> None:
    # This mailbox has no Archive folder yet: Graph answers 404 for `/mailFolders/archive`.
    listed, well_known = read_mail_folder_answers(mail_folder_requests(USER), _answers(archive_status=404))
    assert "archive" not in well_known
    assert len(merge_mail_folders(listed["value"], well_known)) == len(LIST["value"])


def test_a_refused_well_known_folder_or_list_fails_the_source() -> None:
    with pytest.raises(PermissionDenied):
        read_mail_folder_answers(mail_folder_requests(USER), _answers(archive_status=403))
    with pytest.raises(M365Error):
        read_mail_folder_answers(mail_folder_requests(USER), _answers(list_status=403))


def test_a_well_known_folder_missing_from_the_list_is_still_known_by_id() -> None:
    folders = merge_mail_folders([], {"junkemail": {"id": "AAMkJunk", "displayName": "Junk-E-Mail"}})
    assert folders == [MailFolder("AAMkJunk", "Junk-E-Mail", "junkemail")]


def test_mail_folder_ignores_the_beta_property() -> None:
    folder = MailFolder.from_graph({"id": "x", "displayName": "Archief", "wellKnownName": "archive"})
    assert folder.well_known_name is None


# ------------------------------------------------------------------------------------ service principals

def test_service_principal_from_microsofts_v1_example() -> None:
    fixture = json.loads((FIXTURES / "serviceprincipal-get.json").read_text(encoding="utf-8"))
    sp = ServicePrincipal.from_graph(fixture["response"])
    assert sp.is_verified
    assert (sp.verified_publisher, sp.verified_publisher_id) == ("publisher_contoso", "9999999")
    assert sp.verified_publisher_added is not None and sp.verified_publisher_added.year == 2021
    assert sp.app_owner_organization_id == "65415bb1-9267-4313-bbf5-ae259732ee12"


@pytest.mark.parametrize(("owner", "read_in", "foreign"), [
    ("3e9f1a2b-5c7d-4e8f-a0b1-c2d3e4f5a6b7", "4f8c2b1e-6d3a-4e5b-9c7d-1a2b3c4d5e6f", True),
    ("4F8C2B1E-6D3A-4E5B-9C7D-1A2B3C4D5E6F", "4f8c2b1e-6d3a-4e5b-9c7d-1a2b3c4d5e6f", False),
    (None, "4f8c2b1e-6d3a-4e5b-9c7d-1a2b3c4d5e6f", None),
    ("3e9f1a2b-5c7d-4e8f-a0b1-c2d3e4f5a6b7", None, None),
])
def test_foreign_owner_from_app_owner_organization_id(owner: str | None, read_in: str | None,
                                                      foreign: bool | None) -> None:
    body = {"id": "sp", "appId": "app", "displayName": "Mail Sync Pro", "appOwnerOrganizationId": owner,
            "verifiedPublisher": {"displayName": None, "verifiedPublisherId": None, "addedDateTime": None}}
    sp = dataclasses.replace(ServicePrincipal.from_graph(body), read_in_tenant=read_in)
    assert not sp.is_verified
    assert sp.is_foreign is foreign


def test_service_principal_select_is_v1_only() -> None:
    declared = _declared("servicePrincipal")
    assert set(ServicePrincipal.SELECT.split(",")) <= declared
    assert "publisherName" not in declared


def test_a_mailbox_s_folder_batch_never_runs_more_than_outlook_allows_at_once() -> None:
    from m365.graph import OUTLOOK_CONCURRENCY, mail_folder_requests

    requests = mail_folder_requests("u1", prefix="a-")
    at_once = [r for r in requests if not r.depends_on]
    assert len(requests) == 5 and len(at_once) == OUTLOOK_CONCURRENCY == 4
    waiting = [r for r in requests if r.depends_on]
    assert [r.depends_on for r in waiting] == [("a-list",)]
    assert waiting[0].as_json()["dependsOn"] == ["a-list"]

""""Export report" over HTTP (issue 17, item 8): the findings card's button sends Teams' file consent card, the
user's Allow (`fileConsent/invoke`) makes the bot PUT the PDF to the upload URL, and the PDF's text has the
timeline and the actions. A forged Allow naming another tenant's case uploads nothing; a user may not export."""

# ruff: noqa: F811 - `app` is the fixture of test_remediation_http, imported and used by name
from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pypdf import PdfReader

from store import Actor
from teams.files import CONSENT_CONTENT_TYPE, FILE_INFO_CONTENT_TYPE
from tests.activities import ALEX, PATTI, invoke
from tests.connector import Sent
from tests.integration.test_remediation_http import App, app, investigate_adele_twice  # noqa: F401 - the fixture

ADELE_TENANT = "4f8c2b1e-6d3a-4e5b-9c7d-1a2b3c4d5e6f"


class Uploads:
    """A stand-in for OneDrive's upload session: records every PUT."""

    def __init__(self) -> None:
        self.puts: list[tuple[dict[str, str], bytes]] = []

    async def put(self, request: web.Request) -> web.Response:
        self.puts.append((dict(request.headers), await request.read()))
        return web.json_response({"id": "file-1"}, status=201)


@pytest.fixture
async def uploads() -> AsyncIterator[tuple[Uploads, str]]:
    recorder = Uploads()
    server_app = web.Application()
    server_app.router.add_put("/upload/{name}", recorder.put)
    server = TestServer(server_app, host="127.0.0.1")
    await server.start_server()
    try:
        yield recorder, str(server.make_url("/upload/report.pdf"))
    finally:
        await server.close()


def consent_answer(app: App, context: dict[str, Any], upload_url: str, *, action: str = "accept",
                   person: Any = ALEX) -> dict[str, Any]:
    """The invoke Teams sends when the person chooses Allow (or Decline) on the file consent card."""
    activity = invoke("x", service_url=app.service_url, person=person)
    activity["name"] = "fileConsent/invoke"
    activity["value"] = {"type": "fileUpload", "action": action, "context": context}
    if action == "accept":
        activity["value"]["uploadInfo"] = {
            "name": "incident.pdf", "uploadUrl": upload_url, "contentUrl": "https://contoso-my.sharepoint.com/x.pdf",
            "uniqueId": "1150D938-8870-4044-9F2C-5BBDEBA70C8C", "fileType": "pdf"}
    return activity


def attachments(sent: list[Sent], content_type: str) -> list[dict[str, Any]]:
    return [a for s in sent for a in s.body.get("attachments") or [] if a.get("contentType") == content_type]


def pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages)


async def test_export_sends_consent_and_uploads_the_pdf_on_accept(app: App, uploads: tuple[Uploads, str]) -> None:
    recorder, upload_url = uploads
    case = await investigate_adele_twice(app)
    status, body = await app.press("revoke_sessions", {"caseId": case.id})
    assert status == 200 and body["statusCode"] == 200

    before = len(app.recorder.sent)
    status, body = await app.press("export_report", {"caseId": case.id})
    assert status == 200 and body["type"] == "application/vnd.microsoft.activity.message"
    assert "sent you the report" in body["value"]
    await app.recorder.wait_for(before + 1)
    consent = attachments(app.recorder.sent[before:], CONSENT_CONTENT_TYPE)
    assert len(consent) == 1
    content = consent[0]["content"]
    assert consent[0]["name"].endswith(".pdf") and content["sizeInBytes"] > 1000
    assert content["acceptContext"] == {"caseId": case.id, "format": "pdf"} == content["declineContext"]

    before = len(app.recorder.sent)
    response = await app.client.post("/api/messages", json=consent_answer(app, content["acceptContext"], upload_url))
    assert response.status == 200
    assert len(recorder.puts) == 1
    headers, data = recorder.puts[0]
    assert headers["Content-Range"] == f"bytes 0-{len(data) - 1}/{len(data)}"
    text = pdf_text(data)
    assert "Timeline" in text and "Adele Vance" in text
    assert "Sign out everywhere: done — by Alex Wilber" in text
    await app.recorder.wait_for(before + 1)
    info = attachments(app.recorder.sent[before:], FILE_INFO_CONTENT_TYPE)
    assert info and info[0]["content"]["uniqueId"] == "1150D938-8870-4044-9F2C-5BBDEBA70C8C"
    exported = [e for e in await app.store.audit.list(case_id=case.id) if e.action == "report_exported"]
    assert [(e.outcome, e.actor_name) for e in exported] == [("succeeded", "Alex Wilber")]


async def test_a_forged_accept_for_another_tenants_case_uploads_nothing(app: App,
                                                                         uploads: tuple[Uploads, str]) -> None:
    recorder, upload_url = uploads
    other = await app.store.cases.open_or_get_case("11111111-2222-3333-4444-555555555555", "someone",
                                                   "x@other.example", "X", Actor(id="a"))
    response = await app.client.post("/api/messages", json=consent_answer(
        app, {"caseId": other.case.id, "format": "pdf"}, upload_url))
    assert response.status == 403
    response = await app.client.post("/api/messages", json=consent_answer(
        app, {"caseId": "no-such-case", "format": "pdf"}, upload_url))
    assert response.status == 403
    assert recorder.puts == []


async def test_an_upload_url_off_loopback_is_refused_in_anonymous_mode(app: App) -> None:
    case = await investigate_adele_twice(app)
    response = await app.client.post("/api/messages", json=consent_answer(
        app, {"caseId": case.id, "format": "pdf"}, "https://evil.example/upload"))
    assert response.status == 400
    assert not [e for e in await app.store.audit.list(case_id=case.id) if e.action == "report_exported"]


async def test_decline_says_so_and_a_user_may_not_export(app: App, uploads: tuple[Uploads, str]) -> None:
    recorder, upload_url = uploads
    case = await investigate_adele_twice(app)
    before = len(app.recorder.sent)
    response = await app.client.post("/api/messages", json=consent_answer(
        app, {"caseId": case.id, "format": "pdf"}, upload_url, action="decline"))
    assert response.status == 200
    await app.recorder.wait_for(before + 1)
    assert any("haven't saved the report" in (s.body.get("text") or "") for s in app.recorder.sent[before:])
    status, body = await app.press("export_report", {"caseId": case.id}, person=PATTI)
    assert status == 200 and "Only IT staff" in body["value"]
    # Patti's forged Allow is refused too: the role is checked again at accept time.
    response = await app.client.post("/api/messages", json=consent_answer(
        app, {"caseId": case.id, "format": "pdf"}, upload_url, person=PATTI))
    assert response.status == 403
    assert recorder.puts == []


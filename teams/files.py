""""Export report": a case's incident report handed to a person through Teams' file consent flow.

Microsoft's flow ("Send and receive files using bots",
https://learn.microsoft.com/en-us/microsoftteams/platform/bots/how-to/bots-filesv4), in a personal chat only:

1. The bot sends a file consent card: an attachment `application/vnd.microsoft.teams.card.file.consent` with the
   file's `name` and `content` {`description`, `sizeInBytes`, `acceptContext`, `declineContext`}. Our contexts carry
   ids only (`caseId`, `format`); the server re-reads everything else.
2. The person chooses Allow or Decline. Teams sends an invoke `fileConsent/invoke` whose value is {`type`:
   "fileUpload", `action`: "accept" | "decline", `context`, `uploadInfo`: {`name`, `uploadUrl`, `contentUrl`,
   `uniqueId`, `fileType`}}.
3. On accept the bot PUTs the bytes to `uploadUrl` (OneDrive's upload session: `Content-Length` and
   `Content-Range: bytes 0-<size-1>/<size>`, as in Microsoft's sample), then sends a file info card
   (`application/vnd.microsoft.teams.card.file.info`: `name`, `contentUrl`, `content` {`uniqueId`, `fileType`}), and
   answers the invoke with 200. On decline it says so in one line.

A press in a channel or group chat sends the consent card to the presser's personal chat (its stored reference,
`teams.notify.ConversationKeeper`) and the card answer says so. The press and the accept are both checked: the
presser's role (`remediation.policy.decide` with `Verb.EXPORT_REPORT`: IT staff and security admins) and the case's
tenant, so a forged accept naming another case, or a case of another tenant, uploads nothing. The upload URL must be
https; an anonymous bot (local and test mode, where nothing vouches for the activity) uploads only to loopback, as it
replies only to a loopback serviceUrl (`bot.messages`). An export is no remediation step: no claim, one audit row
`report_exported` (succeeded with the file's name, or failed with the error type).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

import aiohttp
from microsoft_agents.activity import Activity, ActivityTypes, Attachment, InvokeResponse
from microsoft_agents.hosting.core import MessageFactory, TurnContext

from cards.verbs import Verb
from core.presses import Answer, Press
from domain.net import is_loopback_host
from domain.people import Speaker
from incident.pdf import render_pdf
from incident.report import EXPORT_ACTION, IncidentReport, ReportRefused, build_report
from locales import t
from remediation import policy
from store import Actor, CaseRecord, Store, StoreUnavailable

log = logging.getLogger(__name__)

CONSENT_CONTENT_TYPE = "application/vnd.microsoft.teams.card.file.consent"
FILE_INFO_CONTENT_TYPE = "application/vnd.microsoft.teams.card.file.info"
FILE_CONSENT_INVOKE = "fileConsent/invoke"
PDF = "pdf"
UPLOAD_TIMEOUT_SECONDS = 60.0


@runtime_checkable
class AttachmentPoster(Protocol):
    """Posts one attachment into a stored conversation (`teams.proactive.Messenger`)."""

    async def send_attachment(self, reference: Mapping[str, Any], attachment: Mapping[str, Any]) -> str | None:
        """Post `attachment` (JSON: `contentType`, `name`, `content`); the new activity's id."""
        ...


def file_name(report: IncidentReport) -> str:
    """The file's name: the account's UPN reduced to safe characters, and the case id's start."""
    stem = "".join(c if c.isascii() and (c.isalnum() or c in "-_.@") else "_" for c in report.account_upn)
    return f"incident-{stem or 'account'}-{report.case_id[:8]}.{PDF}"


def consent_attachment(report: IncidentReport, size: int, locale: str | None) -> dict[str, Any]:
    """The file consent card (Microsoft's shape, see the module docstring); contexts hold ids only."""
    context = {"caseId": report.case_id, "format": PDF}
    return {
        "contentType": CONSENT_CONTENT_TYPE,
        "name": file_name(report),
        "content": {
            "description": t(locale, "incident.export.description", name=report.display_name or report.account_upn),
            "sizeInBytes": size,
            "acceptContext": context,
            "declineContext": context,
        },
    }


def is_personal(reference: Mapping[str, Any] | None) -> bool:
    """True when the referenced conversation is a personal (one-to-one) chat."""
    conversation = reference.get("conversation") if reference is not None else None
    kind = conversation.get("conversationType") if isinstance(conversation, Mapping) else None
    return isinstance(kind, str) and kind.lower() == "personal"


def upload_url_allowed(url: str, *, anonymous: bool) -> bool:
    """https only; an anonymous bot uploads only to loopback (where http is allowed too, for the tests' server)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return False
    loopback = is_loopback_host(host)
    if anonymous:
        return loopback and parts.scheme in ("https", "http")
    return parts.scheme == "https" and bool(host)


class ReportExports:
    """The "Export report" button and the file consent answers that follow it."""

    def __init__(self, *, store: Store, tenant_id: str, poster: AttachmentPoster | None, anonymous: bool) -> None:
        self._store = store
        self._tenant_id = tenant_id
        self._poster = poster
        self._anonymous = anonymous

    async def _report(self, speaker: Speaker, case_id: object) -> IncidentReport | str:
        """The report of the case, or the message key that says why the speaker gets none."""
        if not isinstance(case_id, str) or not case_id:
            return "incident.refused.not_found"
        case: CaseRecord | None = await self._store.cases.get_case(case_id)
        if case is None:
            return "incident.refused.not_found"
        decision = policy.decide(speaker, Verb.EXPORT_REPORT, case)
        if not decision.allowed:
            return decision.reason or "remediation.refused.staff_only"
        try:
            return await build_report(self._store, self._tenant_id, case_id, locale=speaker.locale)
        except ReportRefused as refused:
            return refused.key

    async def press(self, press: Press) -> Answer:
        """The button: the consent card into the presser's personal chat (this one, or proactively)."""
        speaker = press.speaker
        locale = speaker.locale
        report = await self._report(speaker, press.data.get("caseId"))
        if isinstance(report, str):
            return Answer.message(t(locale, report))
        if self._poster is None:
            return Answer.message(t(locale, "incident.export.failed"))
        here = is_personal(press.conversation)
        reference: Mapping[str, Any] | None = press.conversation if here else None
        if reference is None:
            stored = await self._store.conversations.get(speaker.tenant_id, speaker.aad_object_id)
            reference = stored.reference if stored is not None else None
        if reference is None:
            return Answer.message(t(locale, "incident.export.no_personal_chat"))
        size = len(render_pdf(report))
        await self._poster.send_attachment(reference, consent_attachment(report, size, locale))
        log.info("sent the report consent card of case %s to %s", report.case_id, speaker.aad_object_id)
        return Answer.message(t(locale, "incident.export.sent_here" if here else "incident.export.sent_personal"))

    async def on_consent(self, context: TurnContext, speaker: Speaker) -> None:
        """A `fileConsent/invoke`: upload on accept (after checking role and tenant again), a line on decline."""
        value = context.activity.value if isinstance(context.activity.value, dict) else {}
        locale = speaker.locale
        if value.get("action") != "accept":
            await _answer(context, 200)
            await context.send_activity(t(locale, "incident.export.declined"))
            return
        consent_context = value.get("context")
        case_id = consent_context.get("caseId") if isinstance(consent_context, dict) else None
        upload = value.get("uploadInfo")
        upload_url = upload.get("uploadUrl") if isinstance(upload, dict) else None
        if not isinstance(upload, dict) or not isinstance(upload_url, str) or not upload_url_allowed(
                upload_url, anonymous=self._anonymous):
            log.warning("refused a file consent answer of %s: no acceptable upload URL", speaker.aad_object_id)
            await _answer(context, 400)
            return
        try:
            report = await self._report(speaker, case_id)
        except StoreUnavailable:
            await _answer(context, 503)
            return
        if isinstance(report, str):
            log.warning("refused a file consent answer of %s for case %s: %s", speaker.aad_object_id, case_id, report)
            await _answer(context, 403)
            await context.send_activity(t(locale, report))
            return
        data = render_pdf(report)
        actor = Actor(id=speaker.aad_object_id, name=speaker.name, upn=speaker.user_principal_name)
        try:
            await put_file(upload_url, data)
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("could not upload the report of case %s: %s", report.case_id, type(exc).__name__)
            await self._audit(actor, report, "failed", error=type(exc).__name__)
            await _answer(context, 200)
            await context.send_activity(t(locale, "incident.export.failed"))
            return
        await self._audit(actor, report, "succeeded", name=str(upload.get("name") or file_name(report)))
        await _answer(context, 200)
        await context.send_activity(MessageFactory.attachment(Attachment(
            content_type=FILE_INFO_CONTENT_TYPE,
            content_url=str(upload.get("contentUrl") or ""),
            name=str(upload.get("name") or file_name(report)),
            content={"uniqueId": str(upload.get("uniqueId") or ""), "fileType": str(upload.get("fileType") or PDF)},
        )))

    async def _audit(self, actor: Actor, report: IncidentReport, outcome: str, *, name: str = "",
                     error: str | None = None) -> None:
        await self._store.audit.record(
            actor=actor, action=EXPORT_ACTION, target=report.account_upn, outcome=outcome, tenant_id=report.tenant_id,
            case_id=report.case_id, parameters={"format": PDF, **({"file": name} if name else {})}, error=error)


async def put_file(url: str, data: bytes) -> None:
    """PUT `data` to an upload URL Teams gave (a OneDrive upload session: one request with the whole range)."""
    headers = {"Content-Length": str(len(data)), "Content-Range": f"bytes 0-{len(data) - 1}/{len(data)}"}
    timeout = aiohttp.ClientTimeout(total=UPLOAD_TIMEOUT_SECONDS)
    async with aiohttp.ClientSession(timeout=timeout) as session, session.put(url, data=data, headers=headers) as r:
        r.raise_for_status()


async def _answer(context: TurnContext, status: int) -> None:
    """Answer the invoke (the adapter writes it once, as the HTTP response)."""
    await context.send_activity(Activity(type=ActivityTypes.invoke_response, value=InvokeResponse(status=status)))

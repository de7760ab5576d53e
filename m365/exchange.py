"""Exchange Online admin API client: the REST endpoint behind the ExchangeOnlineManagement v3 module.

`invoke(cmdlet, parameters)` POSTs `{"CmdletInput": {"CmdletName": …, "Parameters": …}}` to
`/adminapi/beta/{tenantId}/InvokeCommand` and returns the cmdlet's output objects, following
`@odata.nextLink` (the same body is POSTed to it) up to a page cap. Exchange routes app-only calls by the
`X-AnchorMailbox` header, which names the tenant's system mailbox on its initial domain.

Exchange error messages look like `|Microsoft.Exchange….ManagementObjectNotFoundException|text` (sometimes
with an error id before the first `|`); `exchange_error` maps them to `m365.errors` and strips the type.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import aiohttp
from yarl import URL

from m365.auth import EXCHANGE_SCOPE
from m365.errors import M365Error, NotFound, PermissionDenied, UnblockLimitReached
from m365.http import (
    AccessTokens,
    ErrorMapper,
    HttpResponse,
    RetryPolicy,
    Sleep,
    Transport,
    build_url,
    error_fields,
    path_segment,
    standard_error,
)
from m365.records import (
    AuditChange,
    BlockedSender,
    CasMailbox,
    GrantKind,
    InboxRule,
    Mailbox,
    MailboxGrant,
    MessageTrace,
    OutboundSpamPolicy,
    TransportRule,
)

log = logging.getLogger(__name__)

SERVICE = "Exchange Online"
DEFAULT_MAX_PAGES = 50
ANCHOR_MAILBOX = "APP:SystemMailbox{{bb558c35-97f1-4cb9-8ff7-d53741dc928c}}@{domain}"
APP_PERMISSION = "Exchange.ManageAsApp"

# The role (an Entra role assigned to the app, or an Exchange role group) each cmdlet needs, for "permission" messages.
# Every role named here is one the cmdlet reference accepts for it (demo_tenant/cmdlets.py holds Microsoft's table;
# tests/unit/test_exchange_cmdlets.py checks the two agree).
CMDLET_ROLES: Mapping[str, str] = {
    "Get-BlockedSenderAddress": "Security Reader, Security Administrator or Organization Management",
    "Remove-BlockedSenderAddress": "Security Administrator or Organization Management",
    "Get-Mailbox": "View-Only Recipients (Global Reader or Exchange Recipient Administrator)",
    "Get-CASMailbox": "View-Only Recipients (Global Reader or Exchange Recipient Administrator)",
    "Set-Mailbox": "Mail Recipients (Exchange Recipient Administrator or Exchange Administrator)",
    "Set-CASMailbox": "Mail Recipients (Exchange Recipient Administrator or Exchange Administrator)",
    "Remove-MailboxPermission": "Mail Recipients (Exchange Recipient Administrator or Exchange Administrator)",
    "Remove-RecipientPermission": "Mail Recipients (Exchange Recipient Administrator or Exchange Administrator)",
    "Remove-MailboxFolderPermission": "Mail Recipients (Exchange Recipient Administrator or Exchange "
                                      "Administrator)",
    # Not Global Reader nor View-Only Organization Management: "This cmdlet doesn't work for members of" them.
    "Get-InboxRule": "Mail Recipients (Exchange Recipient Administrator or Exchange Administrator)",
    "Disable-InboxRule": "Mail Recipients (Exchange Recipient Administrator or Exchange Administrator)",
    "Remove-InboxRule": "Mail Recipients (Exchange Recipient Administrator or Exchange Administrator)",
    # "View-Only Audit Logs or Audit Logs role" (Microsoft Purview, "Search the audit log"): Organization Management
    # and Compliance Management hold them; the Exchange Administrator role is a member of Organization Management.
    "Search-UnifiedAuditLog": "View-Only Audit Logs (Organization Management or Exchange Administrator)",
    "Get-TransportRule": "View-Only Configuration (Global Reader or Exchange Administrator)",
    "Get-MailboxPermission": "View-Only Recipients (Global Reader or Exchange Recipient Administrator)",
    # Not View-Only: Microsoft lists Mail Recipients (Recipient Management) for reading SendAs.
    "Get-RecipientPermission": "Mail Recipients (Exchange Recipient Administrator or Exchange Administrator)",
    "Get-MailboxFolderPermission": "View-Only Recipients (Global Reader or Exchange Recipient Administrator)",
    "Get-MessageTraceV2": "Message Tracking (Security Reader, Global Reader or Exchange Administrator)",
    "Get-HostedOutboundSpamFilterPolicy": "Security Reader, Security Administrator or Organization Management",
}
# Get-MessageTraceV2 returns at most 5,000 rows per query (its -ResultSize, 1 to 5000) and has no paging.
MESSAGE_TRACE_MAX_RESULTS = 5000

# Search-UnifiedAuditLog's -ResultSize maximum (its reference: "The default value is 100, maximum is 5,000").
AUDIT_MAX_RESULTS = 5000

# `[error id]|Full.Type.Name|human text`
_TYPED_MESSAGE = re.compile(r"^[^|\s]*\|([A-Za-z0-9_.]+)\|(.*)$", re.DOTALL)
# A grant that is not there is "not found" too: Remove-MailboxPermission's "Can't remove the access control entry
# ... because the ACE doesn't exist on the object" (its reference, -BypassMasterAccountSid), which
# Remove-RecipientPermission shares, and Remove-MailboxFolderPermission's "There is no existing permission entry found
# for user" (UserNotFoundInPermissionEntryException).
_NOT_FOUND = re.compile(r"couldn't be found|could not be found|ManagementObjectNotFound|ACE doesn't exist|"
                        r"no existing permission entry", re.IGNORECASE)
_UNBLOCK_LIMIT = re.compile(r"maximum number of times", re.IGNORECASE)
_NOT_ALLOWED = re.compile(r"is not allowed to call", re.IGNORECASE)


def split_exchange_message(message: str) -> tuple[str | None, str]:
    """`("Microsoft….ValidationException", "text")` from `"|Microsoft….ValidationException|text"`."""
    match = _TYPED_MESSAGE.match(message.strip())
    if match:
        return match.group(1), match.group(2).strip()
    return None, message.strip()


def exchange_error(response: HttpResponse, *, cmdlet: str) -> M365Error:
    """The typed error for a failed InvokeCommand response of `cmdlet`; the message loses its `|Type|` prefix."""
    code, raw_message, request_id = error_fields(response.body)
    request_id = request_id or response.header("request-id")
    error_type, text = split_exchange_message(raw_message or code or f"HTTP {response.status}")
    status = response.status
    error_code = (error_type.rsplit(".", 1)[-1] if error_type else None) or code or None
    if _UNBLOCK_LIMIT.search(text):
        return UnblockLimitReached(text, status=status, code=error_code, request_id=request_id)
    if (error_type and error_type.endswith("ManagementObjectNotFoundException")) or _NOT_FOUND.search(text):
        return NotFound(text, status=status, code=error_code, request_id=request_id)
    # Exchange Online's REST endpoint refuses a cmdlet none of the app's roles holds with 401 "User is not allowed
    # to call <cmdlet>" (MicrosoftDocs/office-docs-powershell issue #7970): a missing role, not a bad token.
    if status == 403 or (status == 401 and _NOT_ALLOWED.search(text)):
        if APP_PERMISSION.lower() in text.lower():
            role: str | None = APP_PERMISSION
            what = f"the application permission {APP_PERMISSION}"
        else:
            role = CMDLET_ROLES.get(cmdlet)
            what = f"the Exchange role {role}" if role else "an Exchange role"
        return PermissionDenied(f"The app lacks {what} for {cmdlet}: {text}", permission=role, status=status,
                                code=error_code, request_id=request_id)
    return standard_error(response, SERVICE, text, code=error_code, request_id=request_id)


class ExchangeClient:
    """Exchange Online cmdlets over REST, over one shared `aiohttp.ClientSession`. See the module docstring.

    `anchor_domain` is the tenant's initial domain (`contoso.onmicrosoft.com`); pass it, or pass
    `anchor_domain_source`, an async callable asked once, on first use (e.g. from Graph `/organization`).
    While the source fails (an `M365Error`), `anchor_fallback` (if given) anchors the call instead and the source
    is asked again next time: one Graph failure must not take every Exchange call down with it.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        tokens: AccessTokens,
        *,
        tenant_id: str,
        base_url: str = "https://outlook.office365.com",
        anchor_domain: str | None = None,
        anchor_domain_source: Callable[[], Awaitable[str]] | None = None,
        anchor_fallback: str | None = None,
        timeout_seconds: float = 20.0,
        retry: RetryPolicy | None = None,
        max_pages: int = DEFAULT_MAX_PAGES,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if not anchor_domain and anchor_domain_source is None:
            raise ValueError("ExchangeClient needs anchor_domain or anchor_domain_source")
        self.tenant_id = tenant_id
        self.base_url = base_url.rstrip("/")
        self._base = URL(self.base_url)
        self._anchor_domain = anchor_domain
        self._anchor_source = anchor_domain_source
        self._anchor_fallback = anchor_fallback
        self._anchor_lock = asyncio.Lock()
        self.max_pages = max_pages
        self._transport = Transport(session, tokens, EXCHANGE_SCOPE, service=SERVICE,
                                    timeout_seconds=timeout_seconds, retry=retry, sleep=sleep)

    @property
    def endpoint(self) -> URL:
        """`{base}/adminapi/beta/{tenantId}/InvokeCommand`."""
        return build_url(self.base_url, f"/adminapi/beta/{path_segment(self.tenant_id)}/InvokeCommand")

    async def anchor_mailbox(self) -> str:
        """The `X-AnchorMailbox` value (resolves the initial domain on first use)."""
        if self._anchor_domain is None:
            async with self._anchor_lock:
                if self._anchor_domain is None:
                    assert self._anchor_source is not None  # checked in __init__
                    try:
                        self._anchor_domain = await self._anchor_source()
                    except M365Error as exc:
                        if not self._anchor_fallback:
                            raise
                        log.warning("Exchange anchor domain unknown (%s); anchoring this call on %s",
                                    type(exc).__name__, self._anchor_fallback)
                        return ANCHOR_MAILBOX.format(domain=self._anchor_fallback)
        return ANCHOR_MAILBOX.format(domain=self._anchor_domain)

    async def invoke(
        self,
        cmdlet: str,
        parameters: Mapping[str, Any] | None = None,
        *,
        max_pages: int | None = None,
        timeout_seconds: float | None = None,
        idempotent: bool = True,
    ) -> list[dict[str, Any]]:
        """Run `cmdlet` with `parameters` (JSON values; None is `$null`) and return its output objects.

        `idempotent=False` limits retries to failures that prove the cmdlet did not run (see `Transport.send`).
        """
        body = {"CmdletInput": {"CmdletName": cmdlet, "Parameters": dict(parameters or {})}}
        headers = {"X-AnchorMailbox": await self.anchor_mailbox()}
        mapper = _mapper(cmdlet)
        page_cap = max_pages or self.max_pages
        items: list[dict[str, Any]] = []
        url: URL | None = self.endpoint
        pages = 0
        while url is not None:
            response = await self._transport.send("POST", url, map_error=mapper, json_body=body, headers=headers,
                                                  timeout_seconds=timeout_seconds, idempotent=idempotent)
            pages += 1
            answer = response.body if isinstance(response.body, Mapping) else {}
            value = answer.get("value")
            if isinstance(value, list):
                items.extend(v for v in value if isinstance(v, dict))
            next_link = answer.get("@odata.nextLink")
            if not isinstance(next_link, str) or not next_link:
                break
            if pages >= page_cap:
                log.warning("Exchange %s: stopped after %d pages (%d objects); more exist", cmdlet, pages, len(items))
                break
            url = self._next_url(next_link)
        log.debug("Exchange %s -> %d objects in %d pages", cmdlet, len(items), pages)
        return items

    def _next_url(self, next_link: str) -> URL:
        url = URL(next_link, encoded=True)
        if not url.is_absolute():
            url = URL(self.base_url + "/" + next_link.lstrip("/"), encoded=True)
        # The token goes wherever the link points: never off the Exchange host.
        if url.origin() != self._base.origin():
            raise M365Error(f"Exchange returned a nextLink to another host ({url.host}); not followed")
        return url

    # -- typed cmdlets ---------------------------------------------------------------------------------

    async def get_blocked_senders(self, address: str | None = None) -> list[BlockedSender]:
        """`Get-BlockedSenderAddress [-SenderAddress address]`."""
        parameters = {"SenderAddress": address} if address else {}
        return [BlockedSender.from_exchange(o) for o in await self.invoke("Get-BlockedSenderAddress", parameters)]

    async def remove_blocked_sender(self, address: str) -> None:
        """`Remove-BlockedSenderAddress -SenderAddress address`; raises `UnblockLimitReached`."""
        # Microsoft counts unblocks toward a limit: never repeat one that may already have happened.
        await self.invoke("Remove-BlockedSenderAddress", {"SenderAddress": address}, idempotent=False)

    async def get_mailbox(self, identity: str) -> Mailbox:
        """`Get-Mailbox -Identity identity`; raises `NotFound` when there is no such mailbox."""
        objects = await self.invoke("Get-Mailbox", {"Identity": identity})
        if not objects:
            raise NotFound(f"No mailbox {identity!r}")
        return Mailbox.from_exchange(objects[0])

    async def get_cas_mailbox(self, identity: str) -> CasMailbox:
        """`Get-CASMailbox -Identity identity`; raises `NotFound` when there is no such mailbox."""
        objects = await self.invoke("Get-CASMailbox", {"Identity": identity})
        if not objects:
            raise NotFound(f"No mailbox {identity!r}")
        return CasMailbox.from_exchange(objects[0])

    async def get_inbox_rules(self, mailbox: str, *, include_hidden: bool = True) -> list[InboxRule]:
        """`Get-InboxRule -Mailbox mailbox [-IncludeHidden]`; raises `NotFound` when there is no such mailbox.

        With `include_hidden` Exchange also returns the rules hidden from Outlook and Graph (`messageRules`).
        """
        parameters: dict[str, Any] = {"Mailbox": mailbox}
        if include_hidden:
            parameters["IncludeHidden"] = True
        return [InboxRule.from_exchange(o) for o in await self.invoke("Get-InboxRule", parameters)]

    # Disable-InboxRule and Remove-InboxRule (MicrosoftDocs/office-docs-powershell exchange/exchange-ps/
    # ExchangePowerShell/Disable-InboxRule.md @942e8c0254c863cf82faf6d4ca8f782ea25ead4c, Remove-InboxRule.md
    # @b93ee2cb893321cf66bbf64b664d259c712fbf28): -Identity takes the rule's RuleIdentity and -Mailbox the mailbox
    # that holds it (both documented; Get-InboxRule -IncludeHidden returns hidden rules with their RuleIdentity, and
    # CIPP's BEC remediation disables those rules through this same REST endpoint with `Confirm = $false; Identity`).
    # Both cmdlets have a built-in pause, hence -Confirm:$false. -AlwaysDeleteOutlookRulesBlob is left out: it only
    # hides a warning (which REST returns in `adminapi.warnings`), and Outlook's client-side rules go either way ("When
    # you create, modify, remove, enable, or disable an Inbox rule in Exchange PowerShell, any client-side rules
    # created by Microsoft Outlook are removed"). A rule that is not there is Exchange's
    # ManagementObjectNotFoundException "couldn't be found" (`exchange_error` → `NotFound`).

    async def disable_inbox_rule(self, mailbox: str, rule_identity: str) -> None:
        """`Disable-InboxRule -Mailbox mailbox -Identity rule_identity -Confirm:$false`; `NotFound` when it is gone."""
        await self.invoke("Disable-InboxRule", {"Identity": rule_identity, "Mailbox": mailbox, "Confirm": False})

    async def remove_inbox_rule(self, mailbox: str, rule_identity: str) -> None:
        """`Remove-InboxRule -Mailbox mailbox -Identity rule_identity -Confirm:$false`; `NotFound` when it is gone."""
        await self.invoke("Remove-InboxRule", {"Identity": rule_identity, "Mailbox": mailbox, "Confirm": False},
                          idempotent=False)

    async def get_mailbox_permissions(self, identity: str) -> list[MailboxGrant]:
        """`Get-MailboxPermission -Identity identity`: the direct FullAccess grants to others (inherited entries and
        NT AUTHORITY\\SELF left out); raises `NotFound` when there is no such mailbox."""
        objects = await self.invoke("Get-MailboxPermission", {"Identity": identity})
        return [g for g in map(MailboxGrant.from_mailbox_permission, objects) if g is not None]

    async def get_recipient_permissions(self, identity: str) -> list[MailboxGrant]:
        """`Get-RecipientPermission -Identity identity -AccessRights SendAs`: the direct SendAs grants to others."""
        objects = await self.invoke("Get-RecipientPermission", {"Identity": identity, "AccessRights": ["SendAs"]})
        return [g for g in map(MailboxGrant.from_recipient_permission, objects) if g is not None]

    async def get_mailbox_folder_permissions(self, identity: str, folder: str = "Inbox") -> list[MailboxGrant]:
        """`Get-MailboxFolderPermission -Identity identity:\\folder`: the entries that grant something (Default and
        Anonymous with None left out); raises `NotFound` when the mailbox or the folder does not exist."""
        objects = await self.invoke("Get-MailboxFolderPermission", {"Identity": f"{identity}:\\{folder}"})
        return [g for g in (MailboxGrant.from_folder_permission(o, folder) for o in objects) if g is not None]

    async def get_message_trace(self, sender: str, start: datetime, end: datetime, *,
                                limit: int = MESSAGE_TRACE_MAX_RESULTS) -> tuple[list[MessageTrace], bool]:
        """`Get-MessageTraceV2 -SenderAddress sender -StartDate start -EndDate end -ResultSize n`, at most `limit` rows
        (5,000 at most: the cmdlet does not page); and whether the cap may have cut it short."""
        size = max(1, min(limit, MESSAGE_TRACE_MAX_RESULTS))
        objects = await self.invoke("Get-MessageTraceV2", {
            "SenderAddress": sender,
            "StartDate": _utc(start),
            "EndDate": _utc(end),
            "ResultSize": size,
        })
        return [MessageTrace.from_exchange(o) for o in objects[:size]], len(objects) >= size

    async def search_unified_audit_log(self, start: datetime, end: datetime, operations: Sequence[str], *,
                                       result_size: int = AUDIT_MAX_RESULTS) -> list[AuditChange]:
        """`Search-UnifiedAuditLog -StartDate -EndDate -Operations … -ResultSize n`: one synchronous search of
        the unified audit log (records appear 30 minutes to 24 hours after the event), newest first.

        Without -SessionCommand the cmdlet returns at most -ResultSize (5,000) records, sorted by date; the
        operations asked for (rule, forwarding, permission and transport rule changes) keep a week of a tenant's
        records far below that, and the log names the cap when it was reached.
        """
        parameters: dict[str, Any] = {
            "StartDate": start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "EndDate": end.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Operations": list(operations),
            "ResultSize": result_size,
        }
        objects = await self.invoke("Search-UnifiedAuditLog", parameters)
        changes = [AuditChange.from_exchange(o) for o in objects]
        if len(changes) >= result_size:
            log.warning("Search-UnifiedAuditLog returned its cap of %d records; older ones unseen", result_size)
        return sorted(changes, key=lambda c: c.time or datetime.min.replace(tzinfo=UTC), reverse=True)

    async def get_outbound_spam_policies(self) -> list[OutboundSpamPolicy]:
        """`Get-HostedOutboundSpamFilterPolicy` (no -Identity: every policy, as its Example 1 runs it)."""
        return [OutboundSpamPolicy.from_exchange(o)
                for o in await self.invoke("Get-HostedOutboundSpamFilterPolicy", {})]

    async def get_transport_rules(self) -> list[TransportRule]:
        """`Get-TransportRule`: every mail flow rule of the organisation."""
        return [TransportRule.from_exchange(o) for o in await self.invoke("Get-TransportRule", {})]

    async def remove_mailbox_forwarding(self, identity: str) -> None:
        """`Set-Mailbox -Identity identity -ForwardingSmtpAddress $null -ForwardingAddress $null
        -DeliverToMailboxAndForward $false`."""
        await self.invoke("Set-Mailbox", {
            "Identity": identity,
            "ForwardingSmtpAddress": None,
            "ForwardingAddress": None,
            "DeliverToMailboxAndForward": False,
        })

    async def remove_mailbox_grant(self, identity: str, grant: MailboxGrant) -> None:
        """Take one grant off the mailbox with the cmdlet of its kind (each reference's Example 1, with
        `-Confirm:$false` where the cmdlet would pause); raises `NotFound` when Exchange says it is not there.

        SendOnBehalf is a multi-valued property of the mailbox: the REST endpoint takes PowerShell's
        `@{Remove="x"}` as an object typed `#Exchange.GenericHashTable`, which removes `x` and keeps the others."""
        if grant.kind == GrantKind.full_access:
            await self._remove_full_access(identity, grant.trustee)
        elif grant.kind == GrantKind.send_as:
            await self._remove_send_as(identity, grant.trustee)
        elif grant.kind == GrantKind.send_on_behalf:
            await self._remove_send_on_behalf(identity, grant.trustee)
        else:
            await self._remove_folder_permission(identity, grant.folder or "Inbox", grant.trustee)

    async def _remove_full_access(self, identity: str, trustee: str) -> None:
        await self.invoke("Remove-MailboxPermission", {
            "Identity": identity, "User": trustee, "AccessRights": ["FullAccess"], "Confirm": False})

    async def _remove_send_as(self, identity: str, trustee: str) -> None:
        await self.invoke("Remove-RecipientPermission", {
            "Identity": identity, "Trustee": trustee, "AccessRights": ["SendAs"], "Confirm": False})

    async def _remove_send_on_behalf(self, identity: str, trustee: str) -> None:
        await self.invoke("Set-Mailbox", {"Identity": identity, "GrantSendOnBehalfTo": _hashtable(remove=trustee)})

    async def _remove_folder_permission(self, identity: str, folder: str, trustee: str) -> None:
        await self.invoke("Remove-MailboxFolderPermission", {
            "Identity": f"{identity}:\\{folder}", "User": trustee, "Confirm": False})

    async def disable_legacy_protocols(self, identity: str, protocols: Sequence[str]) -> None:
        """`Set-CASMailbox -Identity identity` with `-ImapEnabled $false`, `-PopEnabled $false` and
        `-SmtpClientAuthenticationDisabled $true` for the protocols named (`imap`, `pop`, `smtp_auth`) only."""
        parameters: dict[str, Any] = {"Identity": identity}
        for name in protocols:
            if name not in LEGACY_PROTOCOL_PARAMETERS:
                raise ValueError(f"unknown legacy protocol {name!r}")
            parameter, value = LEGACY_PROTOCOL_PARAMETERS[name]
            parameters[parameter] = value
        await self.invoke("Set-CASMailbox", parameters)


# `prevention_steps`' protocol names → the Set-CASMailbox parameter and value that turn the protocol off.
LEGACY_PROTOCOL_PARAMETERS: Mapping[str, tuple[str, bool]] = {
    "imap": ("ImapEnabled", False),
    "pop": ("PopEnabled", False),
    "smtp_auth": ("SmtpClientAuthenticationDisabled", True),
}


def _hashtable(*, remove: str) -> dict[str, Any]:
    """PowerShell's `@{Remove="x"}` for a multi-valued parameter, as the REST endpoint takes it: an object typed
    `#Exchange.GenericHashTable` (how the ExchangeOnlineManagement module serialises a hashtable; CIPP's
    Set-CIPPMailboxPermission sends GrantSendOnBehalfTo the same way)."""
    return {"@odata.type": "#Exchange.GenericHashTable", "Remove": remove}


def _utc(moment: datetime) -> str:
    # ISO 8601 in UTC: unambiguous whatever short-date format the service would assume for a local string.
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _mapper(cmdlet: str) -> ErrorMapper:
    def mapper(response: HttpResponse) -> M365Error:
        return exchange_error(response, cmdlet=cmdlet)

    return mapper

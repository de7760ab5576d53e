"""Exchange Online admin API stand-in: `POST /adminapi/beta/{tenant}/InvokeCommand`.

Bodies are `{"CmdletInput": {"CmdletName": ..., "Parameters": {...}}}`; answers are
`{"@odata.context", "adminapi.warnings@odata.type", "adminapi.warnings", "value", "@odata.nextLink"?}` and
errors `{"error": {"code", "message"}}` with the message prefixed by the .NET exception type between bars,
as Exchange writes them. Which cmdlets exist, their parameters and parameter sets, the roles that may run them and
the properties of their output come from one table, `demo_tenant.cmdlets` (Microsoft's cmdlet reference): a
parameter the reference does not list is refused as PowerShell refuses it, a role that does not hold the cmdlet gets
Exchange's 401 "User is not allowed to call <cmdlet>", and output objects carry only the listed properties.
`Get-InboxRule` returns the seed's hidden rules only with `-IncludeHidden`.

Choices where the real service is not documented (and the client must not care):

- an unknown identity is HTTP 404 with code `NotFound` and `ManagementObjectNotFoundException`;
- `Remove-BlockedSenderAddress` for an address that is not blocked succeeds and changes nothing;
- `Get-BlockedSenderAddress -SenderAddress` for an address that is not blocked returns an empty `value`.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from demo_tenant import message_traces
from demo_tenant.apitypes import ApiError, ApiResponse, Sleeper
from demo_tenant.cmdlets import Cmdlet
from demo_tenant.cmdlets import cmdlet as cmdlet_spec
from demo_tenant.faults import TIMEOUT_SECONDS, RequestRecord
from demo_tenant.permissions import EXCHANGE_APP_PERMISSION, EXCHANGE_CMDLET_ROLES
from demo_tenant.state import DemoState, Json, UnblockLimitError
from demo_tenant.timeutil import parse_iso

log = logging.getLogger(__name__)

SERVER_NAME = "EURP123A001.PROD.OUTLOOK.COM"  # where Exchange says it looked for an object
UNBLOCK_LIMIT_MESSAGE = (
    "|Microsoft.Exchange.Management.Tasks.ValidationException|The sender has been unblocked the maximum number of "
    "times allowed. To unblock this sender, contact Microsoft support."
)
# Seed section of the rules `Get-InboxRule` returns only with -IncludeHidden (hidden from Outlook, OWA, Graph's
# messageRules and Get-InboxRule without the switch): served objects carry no "hidden" property; Exchange's do not.
# Cmdlets whose whole output is one answer (their reference says they do not page).
UNPAGED_CMDLETS = frozenset({"Get-MessageTraceV2"})
HIDDEN_RULES_SECTION = "Get-InboxRule -IncludeHidden"
_FAULT_BODIES = {
    429: ("TooManyRequests", "|Microsoft.Exchange.Admin.OData.Core.ODataServiceException|Too many concurrent requests. "
                             "Please retry the request later."),
    500: ("InternalServerError", "|System.Exception|An internal server error occurred. The operation failed."),
    502: ("BadGateway", "|System.Exception|Bad gateway."),
    503: ("ServiceUnavailable", "|System.Exception|The service is temporarily unavailable. Please retry later."),
    504: ("GatewayTimeout", "|System.TimeoutException|The request timed out."),
}


# Seed sections with each mailbox's delegation, keyed by the mailbox's UPN (Get-MailboxFolderPermission's entries name
# their folder in FolderName); their objects carry the output properties `demo_tenant.cmdlets` lists for each cmdlet
# (and cites). The seed's story: MeganB's intruder gave the partner's guest account FullAccess and SendAs; PattiF's
# sales associate MeganL sends on her behalf (Get-Mailbox GrantSendOnBehalfTo) and reads her inbox (Reviewer).
DELEGATION_SECTIONS = ("Get-MailboxPermission", "Get-RecipientPermission", "Get-MailboxFolderPermission")
_DEMO_FOLDERS = frozenset({"inbox", "calendar"})


def _built_in_entries(cmdlet: str, mailbox: Mapping[str, Any], folder: str | None) -> list[Json]:
    """What Exchange Online lists on every mailbox before anyone shares it: NT AUTHORITY\\SELF's FullAccess and
    ReadPermission (Get-MailboxPermission's reference: "FullAccess and ReadPermission are directly assigned to NT
    AUTHORITY\\SELF"), SELF's SendAs, and a folder's Default and Anonymous entries with AccessRights None."""
    identity = str(mailbox.get("Identity") or mailbox.get("Name") or "")
    if cmdlet == "Get-MailboxPermission":
        return [{"Identity": identity, "User": "NT AUTHORITY\\SELF", "AccessRights": ["FullAccess", "ReadPermission"],
                 "IsInherited": False, "Deny": False, "InheritanceType": "All"}]
    if cmdlet == "Get-RecipientPermission":
        return [{"Identity": identity, "Trustee": "NT AUTHORITY\\SELF", "AccessControlType": "Allow",
                 "AccessRights": ["SendAs"], "IsInherited": False, "InheritanceType": "None"}]
    name = (folder or "Inbox").strip("\\")
    return [{"Identity": f"{identity}:\\{name}", "FolderName": name, "User": user, "AccessRights": ["None"],
             "SharingPermissionFlags": None} for user in ("Default", "Anonymous")]


def exchange_error_body(code: str, message: str) -> dict[str, Any]:
    """Exchange's error body."""
    return {"error": {"code": code, "message": message}}


def _not_found(identity: str) -> ApiError:
    return ApiError(404, "NotFound",
                    "|Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException|The operation couldn't "
                    f"be performed because object '{identity}' couldn't be found on '{SERVER_NAME}'.")


# Each removal cmdlet: the seed section of the Get- cmdlet that lists the grant, the property naming the trustee
# there, and the removal's parameter naming it.
_REMOVALS: Mapping[str, tuple[str, str, str]] = {
    "Remove-MailboxPermission": ("Get-MailboxPermission", "User", "User"),
    "Remove-RecipientPermission": ("Get-RecipientPermission", "Trustee", "Trustee"),
    "Remove-MailboxFolderPermission": ("Get-MailboxFolderPermission", "User", "User"),
}


def _absent_grant(cmdlet: str, identity: str, trustee: str) -> ApiError:
    """What Exchange answers when the grant to remove is not there. Remove-MailboxPermission's reference quotes the
    error (-BypassMasterAccountSid: "Can't remove the access control entry on the object ... because the ACE doesn't
    exist on the object"); Remove-RecipientPermission is given the same words, and Remove-MailboxFolderPermission
    Exchange Online's UserNotFoundInPermissionEntryException (neither is quoted on its page: a choice here). The status
    (400) and the exception types are choices too; the client reads the words."""
    if cmdlet == "Remove-MailboxFolderPermission":
        return ApiError(400, "BadRequest",
                        "|Microsoft.Exchange.StoreTasks.UserNotFoundInPermissionEntryException|There is no existing "
                        f"permission entry found for user: {trustee}.")
    return ApiError(400, "BadRequest",
                    "|Microsoft.Exchange.Management.Tasks.InvalidOperationException|Can't remove the access control "
                    f"entry on the object \"{identity}\" for account \"{trustee}\" because the ACE doesn't exist on "
                    "the object.")


def _bad_parameter(message: str) -> ApiError:
    return ApiError(400, "BadRequest", f"|System.Management.Automation.ParameterBindingException|{message}")


def _bind(spec: Cmdlet, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Bind `raw` to `spec` as PowerShell does: names case-insensitively, one parameter set, mandatory ones present."""
    parameters: dict[str, Any] = {}
    for key, value in raw.items():
        parameter = spec.parameter(str(key))
        if parameter is None:
            raise _bad_parameter(f"A parameter cannot be found that matches parameter name '{key}'.")
        if parameter.is_switch and value is not None and _truthy(value) is None:
            raise _bad_parameter(f"Cannot convert '{value}' to the type 'System.Management.Automation.SwitchParameter' "
                                 f"required by parameter '{parameter.name}'.")
        parameters[parameter.name] = value
    named = [p for p in spec.parameters if p.name in parameters]
    candidates = [s for s in spec.parameter_sets if all(p.in_set(s) for p in named)]
    if not candidates:
        raise _bad_parameter("Parameter set cannot be resolved using the specified named parameters. One or more "
                             "parameters issued cannot be used together or an insufficient number of parameters were "
                             "provided.")
    # PowerShell settles on a set whose mandatory parameters are all present; failing that it names what the first
    # remaining set misses.
    missing_by_set = [[p.name for p in spec.parameters
                       if p.mandatory and p.in_set(s) and parameters.get(p.name) in (None, "")] for s in candidates]
    if all(missing_by_set):
        raise _bad_parameter("Cannot process command because of one or more missing mandatory parameters: "
                             f"{' '.join(missing_by_set[0])}.")
    return parameters


def _project(spec: Cmdlet | None, values: list[Json]) -> list[Json]:
    """Each output object with only the properties the cmdlet table lists for it (Exchange's object shape)."""
    if spec is None or not spec.output:
        return values
    allowed = spec.output
    projected = []
    for value in values:
        extra = [k for k in value if k not in allowed]
        if extra:
            log.debug("exchange %s: dropping properties the cmdlet does not output: %s", spec.name, extra)
        projected.append({k: v for k, v in value.items() if k in allowed})
    return projected


def _multi_valued(value: object, current: list[Any]) -> list[Any]:
    """A MultiValuedProperty parameter applied to `current`: `$null` clears it, a list or string replaces it, and
    `@{Add=…; Remove=…}` (over REST an object typed `#Exchange.GenericHashTable`; keys case-insensitive as in
    PowerShell) adds and removes entries and keeps the others. Removing an entry that is not there changes nothing
    (Exchange then warns "The command completed successfully but no settings of '…' have been modified")."""
    if value is None:
        return []
    if isinstance(value, dict):
        keys = {str(k).lower(): v for k, v in value.items() if k != "@odata.type"}
        unknown = set(keys) - {"add", "remove"}
        if unknown or value.get("@odata.type") != "#Exchange.GenericHashTable":
            raise _bad_parameter("Cannot convert the hash table to MultiValuedProperty: only Add and Remove keys "
                                 "are allowed.")

        def items(raw: object) -> list[str]:
            return [str(v) for v in (raw if isinstance(raw, list) else [raw]) if v is not None]

        removed = {v.lower() for v in items(keys.get("remove"))}
        kept = [v for v in current if str(v).lower() not in removed]
        return kept + [v for v in items(keys.get("add")) if v.lower() not in {str(k).lower() for k in kept}]
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _truthy(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower().lstrip("$") in ("true", "false"):
        return value.strip().lower().lstrip("$") == "true"
    return None


def _skiptoken(cmdlet: str, offset: int) -> str:
    return base64.urlsafe_b64encode(f"demo-exo:{cmdlet}:{offset}".encode()).decode().rstrip("=")


def _read_skiptoken(token: str, cmdlet: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        prefix, name, offset = text.split(":")
        if prefix != "demo-exo" or name.lower() != cmdlet.lower():
            raise ValueError(text)
        return max(0, int(offset))
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "BadRequest",
                       "|Microsoft.Exchange.Admin.OData.Core.ODataServiceException|The skip token is not valid for "
                       "this request.") from None


class ExchangeApi:
    """Answers InvokeCommand requests from a `DemoState`."""

    def __init__(self, state: DemoState, *, base_url: Callable[[], str], sleep: Sleeper) -> None:
        self.state = state
        self._base_url = base_url
        self._sleep = sleep

    def _endpoint(self, tenant_segment: str) -> str:
        return f"{self._base_url()}/adminapi/beta/{tenant_segment}/InvokeCommand"

    async def invoke(self, tenant_segment: str, body: object, claims: Mapping[str, Any], skiptoken: str | None,
                     request_id: str) -> ApiResponse:
        """Run one cmdlet: faults, permission and role checks, then the cmdlet; logs the request."""
        started = time.monotonic()
        cmdlet: str = ""
        parameters: dict[str, Any] = {}
        fired: tuple[str, ...] = ()
        try:
            cmdlet, parameters = self._parse(body)
            key = f"InvokeCommand:{cmdlet}"
            outcome = self.state.faults.evaluate(key)
            fired = outcome.fired
            latency = self.state.latency.latency_ms(key) + outcome.latency_ms
            if latency:
                await self._sleep(latency / 1000)
            if outcome.failing is not None:
                rule = outcome.failing
                headers = {"Retry-After": str(math.ceil(rule.retry_after))} if rule.retry_after is not None else {}
                if rule.timeout:
                    await self._sleep(TIMEOUT_SECONDS)
                    raise ApiError(504, *_FAULT_BODIES[504], headers)
                if rule.permission is not None or rule.status == 403:
                    raise self._denied(cmdlet, headers)
                if rule.status is not None:
                    if rule.status == 429 and not headers:
                        headers = {"Retry-After": "1"}
                    raise ApiError(rule.status, *_FAULT_BODIES[rule.status], headers)
            self._authorize(cmdlet, claims)
            values = _project(cmdlet_spec(cmdlet), self._run(cmdlet, parameters))
            response = self._page(tenant_segment, cmdlet, values, skiptoken)
        except ApiError as err:
            response = ApiResponse(err.status, exchange_error_body(err.code, err.message), dict(err.headers))
        response.fault_ids = fired
        response.headers.setdefault("request-id", request_id)
        self.state.requests.append(RequestRecord(
            time=datetime.now(UTC), api="exchange", method="POST",
            path=f"/adminapi/beta/{tenant_segment}/InvokeCommand", query={"$skiptoken": skiptoken} if skiptoken else {},
            status=response.status, duration_ms=round((time.monotonic() - started) * 1000, 1), cmdlet=cmdlet or None,
            parameters=copy.deepcopy(parameters), faults=fired, request_id=request_id,
        ))
        log.debug("exchange %s -> %s", cmdlet, response.status)
        return response

    def log_rejected(self, tenant_segment: str, status: int, request_id: str, body: object) -> None:
        """Record a request refused before it reached a cmdlet (token, anchor mailbox)."""
        cmdlet = None
        if isinstance(body, dict) and isinstance(body.get("CmdletInput"), dict):
            name = body["CmdletInput"].get("CmdletName")
            cmdlet = name if isinstance(name, str) else None
        self.state.requests.append(RequestRecord(
            time=datetime.now(UTC), api="exchange", method="POST",
            path=f"/adminapi/beta/{tenant_segment}/InvokeCommand", query={}, status=status, duration_ms=0.0,
            cmdlet=cmdlet, request_id=request_id,
        ))

    # --- parsing and checks ----------------------------------------------------------------------------

    @staticmethod
    def _parse(body: object) -> tuple[str, dict[str, Any]]:
        cmdlet_input = body.get("CmdletInput") if isinstance(body, dict) else None
        if not isinstance(cmdlet_input, dict) or not isinstance(cmdlet_input.get("CmdletName"), str):
            raise ApiError(400, "BadRequest",
                           "|Microsoft.Exchange.Admin.OData.Core.ODataServiceException|The request body must be "
                           '{"CmdletInput":{"CmdletName":...,"Parameters":{...}}}.')
        name = cmdlet_input["CmdletName"]
        spec = cmdlet_spec(name)
        if spec is None:
            raise ApiError(400, "BadRequest",
                           f"|System.Management.Automation.CommandNotFoundException|The term '{name}' is not "
                           "recognized as a name of a cmdlet, function, script file, or executable program.")
        raw = cmdlet_input.get("Parameters") or {}
        if not isinstance(raw, dict):
            raise _bad_parameter("Parameters must be an object.")
        return spec.name, _bind(spec, raw)

    def _denied(self, cmdlet: str, headers: Mapping[str, str] | None = None) -> ApiError:
        # What Exchange Online's REST endpoint answers when no role of the caller holds the cmdlet: 401, not 403
        # (MicrosoftDocs/office-docs-powershell issue #7970: {"error":{"code":"Unauthorized","message":"User is not
        # allowed to call Get-Mailbox",...}}). The roles that would do are in demo_tenant/cmdlets.py.
        return ApiError(401, "Unauthorized", f"User is not allowed to call {cmdlet}", headers)

    def _authorize(self, cmdlet: str, claims: Mapping[str, Any]) -> None:
        roles = claims.get("roles") or []
        if EXCHANGE_APP_PERMISSION not in roles:
            raise ApiError(403, "Forbidden",
                           "|Microsoft.Exchange.Configuration.Tasks.ManagementAccessDeniedException|The application "
                           f"'{self.state.client_id}' doesn't have the {EXCHANGE_APP_PERMISSION} permission of Office "
                           "365 Exchange Online.")
        if not set(self.state.exchange_roles()) & set(EXCHANGE_CMDLET_ROLES.get(cmdlet, ())):
            raise self._denied(cmdlet)

    def _page(self, tenant_segment: str, cmdlet: str, values: list[Json], skiptoken: str | None) -> ApiResponse:
        offset = _read_skiptoken(skiptoken, cmdlet) if skiptoken else 0
        # "Pagination isn't supported in this cmdlet" (Get-MessageTraceV2): its -ResultSize rows come in one answer.
        size = max(1, len(values)) if cmdlet in UNPAGED_CMDLETS else self.state.page_size
        body: Json = {
            "@odata.context": f"{self._base_url()}/adminapi/beta/{tenant_segment}/$metadata#Collection("
                              "Exchange.GenericHashTable)",
            "adminapi.warnings@odata.type": "#Collection(String)",
            "adminapi.warnings": [],
        }
        if offset + size < len(values):
            body["@odata.nextLink"] = f"{self._endpoint(tenant_segment)}?$skiptoken={_skiptoken(cmdlet, offset + size)}"
        body["value"] = [copy.deepcopy(v) for v in values[offset:offset + size]]
        return ApiResponse(200, body)

    # --- cmdlets ---------------------------------------------------------------------------------------

    def _run(self, cmdlet: str, p: dict[str, Any]) -> list[Json]:
        if cmdlet == "Get-BlockedSenderAddress":
            address = p.get("SenderAddress")
            entries = self.state.blocked_senders()
            if isinstance(address, str) and address:
                entries = [e for e in entries if str(e.get("SenderAddress", "")).lower() == address.lower()]
            return entries
        if cmdlet == "Remove-BlockedSenderAddress":
            address = str(p["SenderAddress"])
            try:
                self.state.unblock(address, str(p.get("Reason") or "") or None)
            except UnblockLimitError:
                raise ApiError(400, "BadRequest", UNBLOCK_LIMIT_MESSAGE) from None
            return []
        if cmdlet == "Get-Mailbox":
            return self._limit(self._mailboxes(p), p)
        if cmdlet == "Get-CASMailbox":
            identity = p.get("Identity")
            if identity:
                cas = self.state.cas_mailbox(str(identity))
                if cas is None:
                    raise _not_found(str(identity))
                return [cas]
            return self._limit(self.state.xlist("Get-CASMailbox"), p)
        if cmdlet == "Get-InboxRule":
            return self._inbox_rules(p)
        if cmdlet == "Search-UnifiedAuditLog":
            return self._audit_search(p)
        if cmdlet == "Get-TransportRule":
            return self._transport_rules(p)
        if cmdlet == "Get-HostedOutboundSpamFilterPolicy":
            return self._outbound_spam_policies(p)
        if cmdlet == "Get-MessageTraceV2":
            return self._message_trace(p)
        if cmdlet in DELEGATION_SECTIONS:
            return self._delegation(cmdlet, p)
        if cmdlet in _REMOVALS:
            return self._remove_grant(cmdlet, p)
        if cmdlet == "Set-CASMailbox":
            return self._set_cas_mailbox(p)
        if cmdlet in ("Disable-InboxRule", "Remove-InboxRule"):
            return self._change_inbox_rule(cmdlet, p)
        return self._set_mailbox(p)

    def _mailboxes(self, p: Mapping[str, Any]) -> list[Json]:
        identity = p.get("Identity")
        if identity:
            mailbox = self.state.mailbox(str(identity))
            if mailbox is None:
                raise _not_found(str(identity))
            return [mailbox]
        mailboxes = self.state.mailboxes()
        kinds = p.get("RecipientTypeDetails")
        if kinds:
            wanted = {k.lower() for k in (kinds if isinstance(kinds, list) else str(kinds).split(","))}
            mailboxes = [m for m in mailboxes if str(m.get("RecipientTypeDetails", "")).lower() in wanted]
        return mailboxes

    @staticmethod
    def _limit(items: list[Json], p: Mapping[str, Any]) -> list[Json]:
        size = p.get("ResultSize")
        if size is None or (isinstance(size, str) and size.lower() == "unlimited"):
            return items
        try:
            return items[: int(size)]
        except (TypeError, ValueError):
            raise _bad_parameter(f"Cannot bind parameter 'ResultSize'. Cannot convert value \"{size}\" to type "
                                 "\"Microsoft.Exchange.Data.Unlimited`1[System.UInt32]\".") from None

    def _inbox_rules(self, p: Mapping[str, Any]) -> list[Json]:
        mailbox_id = p.get("Mailbox")
        identity = p.get("Identity")
        if not mailbox_id and isinstance(identity, str) and "\\" in identity:
            mailbox_id = identity.split("\\", 1)[0]
        if not mailbox_id:
            raise _bad_parameter("Cannot process command because of one or more missing mandatory parameters: "
                                 "Mailbox.")
        mailbox = self.state.mailbox(str(mailbox_id))
        if mailbox is None:
            raise _not_found(str(mailbox_id))
        rules = self.state.inbox_rules(mailbox)
        # A switch is on when named, unless bound to $false (`-IncludeHidden:$false`).
        if "IncludeHidden" in p and _truthy(p["IncludeHidden"]) is not False:
            rules = sorted(rules + self._hidden_rules(mailbox), key=lambda r: int(r.get("Priority") or 0))
        if identity:
            text = str(identity)
            rules = [r for r in rules if text.lower() in (str(r.get("Identity", "")).lower(),
                                                          str(r.get("Name", "")).lower(),
                                                          str(r.get("RuleIdentity", "")).lower())]
            if not rules:
                raise _not_found(text)
        return rules

    def _change_inbox_rule(self, cmdlet: str, p: Mapping[str, Any]) -> list[Json]:
        """Disable-InboxRule (the rule's Enabled goes false) or Remove-InboxRule (the rule leaves the seed) on the one
        rule -Identity names in the mailbox -Mailbox names (or `alias\\RuleIdentity`): a Name, a RuleIdentity or an
        Identity, hidden rules included (only listing them needs Get-InboxRule's -IncludeHidden). A rule or mailbox
        that is not there is ManagementObjectNotFoundException; a name two rules share is Exchange's
        ManagementObjectAmbiguousException, and neither writes then. Both return nothing (their references: no
        output)."""
        identity = str(p["Identity"])
        mailbox_id, rule_key = p.get("Mailbox"), identity
        if not mailbox_id and "\\" in identity:
            mailbox_id, _, rule_key = identity.partition("\\")
        mailbox = self.state.mailbox(str(mailbox_id)) if mailbox_id else None
        if mailbox is None:
            raise _not_found(identity)
        owners = {str(mailbox.get("UserPrincipalName", "")).lower(), str(mailbox.get("PrimarySmtpAddress", "")).lower()}
        found: list[tuple[list[Json], Json]] = []
        for section in ("Get-InboxRule", HIDDEN_RULES_SECTION):
            for key, rules in (self.state.exchange.get(section) or {}).items():
                if str(key).lower() in owners:
                    found.extend((rules, r) for r in rules if rule_key.lower() in (
                        str(r.get("Name", "")).lower(), str(r.get("RuleIdentity", "")).lower(),
                        str(r.get("Identity", "")).lower()))
        if not found:
            raise _not_found(identity)
        if len(found) > 1:
            raise ApiError(400, "BadRequest",
                           "|Microsoft.Exchange.Configuration.Tasks.ManagementObjectAmbiguousException|The operation "
                           f"couldn't be performed because '{identity}' matches multiple entries.")
        [(rules, rule)] = found
        upn = str(mailbox.get("UserPrincipalName") or identity)
        if cmdlet == "Remove-InboxRule":
            rules.remove(rule)
            self.state.record_action("remove_inbox_rule", upn, rule=rule.get("RuleIdentity"), name=rule.get("Name"))
        else:
            rule["Enabled"] = False
            self.state.record_action("disable_inbox_rule", upn, rule=rule.get("RuleIdentity"), name=rule.get("Name"))
        return []

    def _hidden_rules(self, mailbox: Mapping[str, Any]) -> list[Json]:
        section = self.state.exchange.get(HIDDEN_RULES_SECTION) or {}
        for key, value in section.items():
            if key.lower() in (str(mailbox.get("UserPrincipalName", "")).lower(),
                               str(mailbox.get("PrimarySmtpAddress", "")).lower()):
                return list(value)
        return []

    def _delegation(self, cmdlet: str, p: Mapping[str, Any]) -> list[Json]:
        """Get-MailboxPermission, Get-RecipientPermission, Get-MailboxFolderPermission: the entries Exchange puts on
        every mailbox (`_built_in_entries`), then the seed's grants for it (section `cmdlet`, keyed by UPN)."""
        identity = str(p.get("Identity") or "")
        folder = None
        if cmdlet == "Get-MailboxFolderPermission":
            mailbox_id, _, folder = identity.partition(":\\")
            # Only the inbox has seeded permissions; the other default folders exist with the built-in entries only.
            if not folder or folder.strip("\\").lower() not in _DEMO_FOLDERS:
                raise _not_found(identity)
            identity = mailbox_id
        if not identity:
            # "The value $null ... for the Identity parameter returns all objects": not needed by the bot, refused
            # here so a client that forgets it fails in the tests.
            raise _bad_parameter("Cannot process command because of one or more missing mandatory parameters: "
                                 "Identity.")
        mailbox = self.state.mailbox(identity)
        if mailbox is None:
            raise _not_found(str(p.get("Identity")))
        upn = str(mailbox.get("UserPrincipalName", "")).lower()
        seeded = {str(k).lower(): v for k, v in (self.state.exchange.get(cmdlet) or {}).items()}
        entries = _built_in_entries(cmdlet, mailbox, folder) + [copy.deepcopy(e) for e in seeded.get(upn, [])]
        if cmdlet == "Get-MailboxFolderPermission":
            entries = [e for e in entries if str(e.get("FolderName", "Inbox")).lower() == str(folder).lower()]
        return entries

    def _remove_grant(self, cmdlet: str, p: Mapping[str, Any]) -> list[Json]:
        """Remove-MailboxPermission, Remove-RecipientPermission, Remove-MailboxFolderPermission: take the trustee's
        entry out of the seed's section of the matching Get- cmdlet; an entry that is not there is Exchange's error
        (`_absent_grant`)."""
        section, trustee_key, trustee_parameter = _REMOVALS[cmdlet]
        identity = str(p["Identity"])
        folder = None
        if cmdlet == "Remove-MailboxFolderPermission":
            identity, _, folder = identity.partition(":\\")
            if not folder or folder.strip("\\").lower() not in _DEMO_FOLDERS:
                raise _not_found(str(p["Identity"]))
        mailbox = self.state.mailbox(identity)
        if mailbox is None:
            raise _not_found(str(p["Identity"]))
        trustee = str(p[trustee_parameter])
        upn = str(mailbox.get("UserPrincipalName", "")).lower()
        grants: list[Json] = next(
            (v for k, v in (self.state.exchange.get(section) or {}).items() if str(k).lower() == upn), [])
        if cmdlet == "Remove-MailboxPermission":
            rights = {str(r).lower() for r in (p["AccessRights"] if isinstance(p["AccessRights"], list)
                                                else str(p["AccessRights"]).split(","))}
        else:
            rights = set()
        kept = [g for g in grants if not (
            str(g.get(trustee_key, "")).lower() == trustee.lower()
            and (folder is None or str(g.get("FolderName", "Inbox")).lower() == folder.strip("\\").lower())
            and (not rights or rights & {str(r).lower() for r in g.get("AccessRights") or []}))]
        if len(kept) == len(grants):
            raise _absent_grant(cmdlet, identity, trustee)
        grants[:] = kept
        self.state.record_action(cmdlet.lower(), upn, trustee=trustee, **({"folder": folder} if folder else {}))
        return []

    def _set_cas_mailbox(self, p: Mapping[str, Any]) -> list[Json]:
        """Set-CASMailbox: the Boolean protocol switches the demo implements (`demo_tenant.cmdlets`)."""
        identity = str(p["Identity"])
        cas = self.state.cas_mailbox(identity)
        if cas is None:
            raise _not_found(identity)
        changes: dict[str, Any] = {}
        for name in ("ImapEnabled", "PopEnabled", "SmtpClientAuthenticationDisabled"):
            if name in p:
                flag = _truthy(p[name])
                if flag is None:
                    raise _bad_parameter(f"Cannot process argument transformation on parameter '{name}'. Cannot "
                                         "convert value to type System.Boolean.")
                changes[name] = flag
        cas.update(changes)
        if changes:
            self.state.record_action("set_cas_mailbox", str(cas.get("PrimarySmtpAddress") or identity), **changes)
        return []

    def _message_trace(self, p: Mapping[str, Any]) -> list[Json]:
        """Get-MessageTraceV2 over the generated traces: sender(s), period (10 days at most; 48 h by default),
        -ResultSize (1 to 5000, default 1000), newest first as Exchange lists them."""
        bounds = tuple(parse_iso(str(p[name])) if p.get(name) else None for name in ("StartDate", "EndDate"))
        try:
            start, end = message_traces.period((bounds[0], bounds[1]), datetime.now(UTC))
        except ValueError as exc:
            raise ApiError(400, "BadRequest", f"|System.ArgumentException|{exc}") from None
        size_text = p.get("ResultSize", 1000)
        try:
            size = int(size_text)
        except (TypeError, ValueError):
            size = 0
        if not 1 <= size <= 5000:
            raise _bad_parameter(f"Cannot validate argument on parameter 'ResultSize'. The {size_text} argument is "
                                 "greater than the maximum allowed range of 5000. Supply an argument that is less "
                                 "than or equal to 5000 and then try the command again.")
        senders = p.get("SenderAddress")
        wanted = {str(a).strip().lower() for a in (senders if isinstance(senders, list) else
                                                   str(senders or "").split(",")) if str(a).strip()}
        every = ([r for a in sorted(wanted) for r in self.state.traces.rows(a)] if wanted
                 else self.state.traces.rows())
        rows = message_traces.in_period(every, start, end)
        rows = sorted(rows, key=lambda r: str(r.get("receivedDateTime")), reverse=True)
        return [message_traces.as_exchange(r) for r in rows[:size]]

    def _audit_search(self, p: Mapping[str, Any]) -> list[Json]:
        """`Search-UnifiedAuditLog`: the seed's records between -StartDate and -EndDate, filtered by -Operations,
        -UserIds and -RecordType, newest first, at most -ResultSize (default 100, at most 5,000: the reference).

        The seed keeps each record's AuditData as an object so its times shift with the seed; Exchange returns it
        as a JSON string, and so does this."""
        start, end = parse_iso(str(p["StartDate"])), parse_iso(str(p["EndDate"]))
        if start is None or end is None:
            raise _bad_parameter("Cannot bind parameter 'StartDate' or 'EndDate'. Cannot convert value to type "
                                 "\"Microsoft.Exchange.ExchangeSystem.ExDateTime\".")

        def values(name: str) -> set[str]:
            raw = p.get(name)
            items = raw if isinstance(raw, list) else str(raw).split(",") if raw else []
            return {str(v).strip().lower() for v in items if str(v).strip()}

        operations, users = values("Operations"), values("UserIds")
        record_type = str(p.get("RecordType") or "").lower()
        try:
            size = int(p.get("ResultSize") or 100)
        except (TypeError, ValueError):
            raise _bad_parameter("Cannot bind parameter 'ResultSize'.") from None
        if not 1 <= size <= 5000:
            raise _bad_parameter(f"Cannot validate argument on parameter 'ResultSize'. The {size} argument is not in "
                                 "the range 1 to 5000.")
        found: list[tuple[datetime, Json]] = []
        for record in self.state.exchange.get("Search-UnifiedAuditLog") or []:
            when = parse_iso(str(record.get("CreationDate") or ""))
            if when is None or not start <= when <= end:
                continue
            if operations and str(record.get("Operations", "")).lower() not in operations:
                continue
            if users and str(record.get("UserIds", "")).lower() not in users:
                continue
            if record_type and str(record.get("RecordType", "")).lower() != record_type:
                continue
            found.append((when, record))
        found.sort(key=lambda pair: pair[0], reverse=True)
        out: list[Json] = []
        for index, (_, record) in enumerate(found[:size], start=1):
            served = dict(record)
            data = served.get("AuditData")
            if not isinstance(data, str):
                served["AuditData"] = json.dumps(data, separators=(",", ":"))
            served["ResultIndex"] = index
            served["ResultCount"] = len(found)
            out.append(served)
        return out

    def _transport_rules(self, p: Mapping[str, Any]) -> list[Json]:
        rules: list[Json] = list(self.state.exchange.get("Get-TransportRule") or [])
        identity = p.get("Identity")
        if identity:
            rules = [r for r in rules if str(identity).lower() in (str(r.get("Name", "")).lower(),
                                                                   str(r.get("Identity", "")).lower(),
                                                                   str(r.get("Guid", "")).lower())]
            if not rules:
                raise _not_found(str(identity))
        state = p.get("State")
        if state:
            rules = [r for r in rules if str(r.get("State", "")).lower() == str(state).lower()]
        return self._limit(rules, p)

    def _outbound_spam_policies(self, p: Mapping[str, Any]) -> list[Json]:
        policies: list[Json] = list(self.state.exchange.get("Get-HostedOutboundSpamFilterPolicy") or [])
        identity = p.get("Identity")
        if identity is None:
            # "a value of $null ... returns all objects, as if you ran the Get- command without Identity" (reference).
            return policies
        found = [x for x in policies if str(identity).lower() in (str(x.get("Name", "")).lower(),
                                                                    str(x.get("Identity", "")).lower())]
        if not found:
            raise _not_found(str(identity))
        return found

    def _set_mailbox(self, p: Mapping[str, Any]) -> list[Json]:
        identity = str(p["Identity"])
        mailbox = self.state.mailbox(identity)
        if mailbox is None:
            raise _not_found(identity)
        changes: dict[str, Any] = {}
        if "ForwardingSmtpAddress" in p:
            value = p["ForwardingSmtpAddress"]
            if value not in (None, "") and not isinstance(value, str):
                raise _bad_parameter("Cannot bind parameter 'ForwardingSmtpAddress' to the target.")
            if isinstance(value, str) and value and ":" not in value:
                value = f"smtp:{value}"
            changes["ForwardingSmtpAddress"] = value or None
        if "ForwardingAddress" in p:
            value = p["ForwardingAddress"]
            if value not in (None, ""):
                if not isinstance(value, str) or self.state.mailbox(value) is None:
                    raise _not_found(str(value))
            changes["ForwardingAddress"] = value or None
        if "DeliverToMailboxAndForward" in p:
            flag = _truthy(p["DeliverToMailboxAndForward"])
            if flag is None:
                raise _bad_parameter("Cannot bind parameter 'DeliverToMailboxAndForward'. Cannot convert value to type "
                                     "System.Boolean.")
            changes["DeliverToMailboxAndForward"] = flag
        if "GrantSendOnBehalfTo" in p:
            changes["GrantSendOnBehalfTo"] = _multi_valued(p["GrantSendOnBehalfTo"],
                                                           list(mailbox.get("GrantSendOnBehalfTo") or []))
        mailbox.update(changes)
        if changes:
            self.state.record_action("set_mailbox", str(mailbox.get("UserPrincipalName") or identity), **changes)
        return []

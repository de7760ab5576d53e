"""Typed, frozen records of what Microsoft 365 returns.

Each record has a `from_graph` / `from_exchange` constructor that takes the response object exactly as
Microsoft sends it (Graph camelCase JSON, Exchange cmdlet output in PascalCase) and tolerates missing or
null properties. Strings in these records come from the tenant and may be written by an attacker:
whoever shows them must escape them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any

Json = Mapping[str, Any]
_MS_DATE = re.compile(r"^/Date\((-?\d+)(?:[+-]\d{4})?\)/$")


def parse_datetime(value: object) -> datetime | None:
    """Parse Graph's ISO 8601 or Exchange's `/Date(ms)/` and ISO forms into an aware UTC datetime."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    match = _MS_DATE.match(text)
    if match:
        try:
            return datetime.fromtimestamp(int(match.group(1)) / 1000, tz=UTC)
        except (ValueError, OverflowError, OSError):
            return None
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    # Graph sends up to 7 fractional digits; Python accepts at most 6.
    if "." in text:
        head, _, tail = text.partition(".")
        frac = ""
        rest = ""
        for i, ch in enumerate(tail):
            if not ch.isdigit():
                rest = tail[i:]
                break
            frac += ch
        text = f"{head}.{frac[:6]}{rest}" if frac else f"{head}{rest}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    # Exchange may send a local offset; callers compare and render in UTC.
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _str(obj: Json, key: str) -> str:
    value = obj.get(key)
    return value if isinstance(value, str) else ""


def _opt_str(obj: Json, key: str) -> str | None:
    value = obj.get(key)
    return value if isinstance(value, str) and value else None


def _bool(obj: Json, key: str, default: bool = False) -> bool:
    value = obj.get(key)
    return value if isinstance(value, bool) else default


def _opt_bool(obj: Json, key: str) -> bool | None:
    value = obj.get(key)
    return value if isinstance(value, bool) else None


def _map(obj: Json, key: str) -> Json:
    value = obj.get(key)
    return value if isinstance(value, Mapping) else {}


def _key_values(value: object) -> tuple[tuple[str, str], ...]:
    """Graph's `[{"key": …, "value": …}]` lists as (key, value) pairs; entries without a key are left out."""
    if not isinstance(value, list):
        return ()
    return tuple((_str(item, "key"), _str(item, "value")) for item in value
                 if isinstance(item, Mapping) and _str(item, "key"))


def _strs(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,) if value else ()
    if isinstance(value, Sequence):
        return tuple(v for v in value if isinstance(v, str))
    return ()


def _recipients(obj: Json, key: str) -> tuple[str, ...]:
    """Graph `recipient[]` → addresses."""
    items = obj.get(key)
    if not isinstance(items, Sequence) or isinstance(items, str):
        return ()
    out: list[str] = []
    for item in items:
        if isinstance(item, Mapping):
            address = _str(_map(item, "emailAddress"), "address")
            if address:
                out.append(address)
    return tuple(out)


@dataclass(frozen=True)
class User:
    """An Entra user (`/users/{id}`)."""

    id: str
    user_principal_name: str
    display_name: str
    mail: str | None = None
    mail_nickname: str | None = None
    department: str | None = None
    job_title: str | None = None
    account_enabled: bool = True
    user_type: str = "Member"
    on_premises_sync_enabled: bool = False
    proxy_addresses: tuple[str, ...] = ()
    usage_location: str | None = None
    preferred_language: str | None = None
    assigned_licenses: int = 0
    # `createdDateTime` (v1.0 user property; null for accounts created before 2018): an account made shortly before
    # it was handed rights to another mailbox is a delegation finding (investigation.delegation).
    created: datetime | None = None

    SELECT = (
        "id,userPrincipalName,displayName,mail,mailNickname,department,jobTitle,accountEnabled,userType,"
        "onPremisesSyncEnabled,proxyAddresses,usageLocation,preferredLanguage,assignedLicenses,createdDateTime"
    )

    @property
    def is_guest(self) -> bool:
        """True for B2B guests (`userType` Guest or an `#EXT#` UPN)."""
        return self.user_type.lower() == "guest" or "#EXT#" in self.user_principal_name.upper()

    @property
    def smtp_address(self) -> str:
        """The primary SMTP address (mail, else the primary proxy address, else the UPN)."""
        if self.mail:
            return self.mail
        for proxy in self.proxy_addresses:
            if proxy.startswith("SMTP:"):
                return proxy[5:]
        return self.user_principal_name

    @classmethod
    def from_graph(cls, obj: Json) -> User:
        """Build from a Graph user object."""
        licenses = obj.get("assignedLicenses")
        return cls(
            id=_str(obj, "id"),
            user_principal_name=_str(obj, "userPrincipalName"),
            display_name=_str(obj, "displayName"),
            mail=_opt_str(obj, "mail"),
            mail_nickname=_opt_str(obj, "mailNickname"),
            department=_opt_str(obj, "department"),
            job_title=_opt_str(obj, "jobTitle"),
            account_enabled=_bool(obj, "accountEnabled", True),
            user_type=_str(obj, "userType") or "Member",
            on_premises_sync_enabled=_bool(obj, "onPremisesSyncEnabled"),
            proxy_addresses=_strs(obj.get("proxyAddresses")),
            usage_location=_opt_str(obj, "usageLocation"),
            preferred_language=_opt_str(obj, "preferredLanguage"),
            assigned_licenses=len(licenses) if isinstance(licenses, list) else 0,
            created=parse_datetime(obj.get("createdDateTime")),
        )


@dataclass(frozen=True)
class BlockedSender:
    """One entry of `Get-BlockedSenderAddress` (the Restricted entities list)."""

    sender_address: str
    reason: str = ""
    block_type: str = ""
    created: datetime | None = None
    changed: datetime | None = None
    temporary_block: bool = False
    internal_only: bool = False
    expires: datetime | None = None

    @classmethod
    def from_exchange(cls, obj: Json) -> BlockedSender:
        """Build from a cmdlet output object."""
        return cls(
            sender_address=_str(obj, "SenderAddress"),
            reason=_str(obj, "Reason"),
            block_type=_str(obj, "BlockType"),
            created=parse_datetime(obj.get("CreatedDatetime")),
            changed=parse_datetime(obj.get("ChangedDatetime")),
            temporary_block=_bool(obj, "TemporaryBlock"),
            internal_only=_bool(obj, "InternalOnly"),
            expires=parse_datetime(obj.get("ExpireDatetime")),
        )


@dataclass(frozen=True)
class Mailbox:
    """`Get-Mailbox`: the properties that matter for forwarding and mailbox type."""

    identity: str
    user_principal_name: str
    primary_smtp_address: str
    display_name: str = ""
    recipient_type_details: str = "UserMailbox"
    forwarding_smtp_address: str | None = None
    forwarding_address: str | None = None
    deliver_to_mailbox_and_forward: bool = False
    external_directory_object_id: str | None = None
    email_addresses: tuple[str, ...] = ()
    # `GrantSendOnBehalfTo`: the recipients (as Exchange names them: their Name/alias) who may send on behalf of the
    # mailbox. Tenant text.
    grant_send_on_behalf_to: tuple[str, ...] = ()

    @property
    def is_shared(self) -> bool:
        """True for shared mailboxes."""
        return self.recipient_type_details == "SharedMailbox"

    @property
    def forwarding_target(self) -> str | None:
        """The SMTP forwarding target without its `smtp:` prefix, else the internal forwarding recipient."""
        if self.forwarding_smtp_address:
            value = self.forwarding_smtp_address
            return value.split(":", 1)[1] if value.lower().startswith("smtp:") else value
        return self.forwarding_address

    @classmethod
    def from_exchange(cls, obj: Json) -> Mailbox:
        """Build from a cmdlet output object."""
        return cls(
            identity=_str(obj, "Identity") or _str(obj, "Name"),
            user_principal_name=_str(obj, "UserPrincipalName"),
            primary_smtp_address=_str(obj, "PrimarySmtpAddress"),
            display_name=_str(obj, "DisplayName"),
            recipient_type_details=_str(obj, "RecipientTypeDetails") or "UserMailbox",
            forwarding_smtp_address=_opt_str(obj, "ForwardingSmtpAddress"),
            forwarding_address=_opt_str(obj, "ForwardingAddress"),
            deliver_to_mailbox_and_forward=_bool(obj, "DeliverToMailboxAndForward"),
            external_directory_object_id=_opt_str(obj, "ExternalDirectoryObjectId"),
            email_addresses=_strs(obj.get("EmailAddresses")),
            grant_send_on_behalf_to=_strs(obj.get("GrantSendOnBehalfTo")),
        )


@dataclass(frozen=True)
class CasMailbox:
    """`Get-CASMailbox`: client access protocols enabled on the mailbox."""

    identity: str
    imap_enabled: bool = True
    pop_enabled: bool = True
    activesync_enabled: bool = True
    smtp_client_authentication_disabled: bool | None = None

    @classmethod
    def from_exchange(cls, obj: Json) -> CasMailbox:
        """Build from a cmdlet output object."""
        return cls(
            identity=_str(obj, "Identity") or _str(obj, "Name"),
            imap_enabled=_bool(obj, "ImapEnabled", True),
            pop_enabled=_bool(obj, "PopEnabled", True),
            activesync_enabled=_bool(obj, "ActiveSyncEnabled", True),
            smtp_client_authentication_disabled=_opt_bool(obj, "SmtpClientAuthenticationDisabled"),
        )


class GrantKind(StrEnum):
    """How another account may use a mailbox (see `MailboxGrant`)."""

    full_access = "FullAccess"  # Get-MailboxPermission: open the mailbox and read everything in it
    send_as = "SendAs"  # Get-RecipientPermission: send mail that appears to come from the mailbox
    send_on_behalf = "SendOnBehalf"  # Get-Mailbox GrantSendOnBehalfTo: send "on behalf of" the mailbox
    folder = "Folder"  # Get-MailboxFolderPermission on the inbox: read (or more) one folder


# Exchange's own principals on every mailbox (Get-MailboxPermission's reference: "FullAccess and ReadPermission are
# directly assigned to NT AUTHORITY\SELF"); Get-RecipientPermission lists SELF's SendAs the same way.
_SELF_PRINCIPALS = frozenset({"nt authority\\self", "self"})


def _rights(value: object) -> tuple[str, ...]:
    """AccessRights as a list (`["FullAccess"]`) or as PowerShell's joined string (`"FullAccess, ReadPermission"`)."""
    out: list[str] = []
    for item in _strs(value):
        out.extend(part.strip() for part in item.split(",") if part.strip())
    return tuple(out)


def _principal(value: object) -> str:
    """A trustee as a string; a serialised principal object gives its display name or identity."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, Mapping):
        for key in ("DisplayName", "RecipientPrincipal", "UserPrincipalName", "Identity", "Name"):
            text = value.get(key)
            if isinstance(text, str) and text.strip():
                return text.strip()
    return ""


@dataclass(frozen=True)
class MailboxGrant:
    """One right another principal holds on a mailbox, directly assigned (inherited and default entries are left
    out by the parsers, which return None for them).

    `trustee` is how Exchange names the principal: a UPN for FullAccess and SendAs, a recipient name (alias) for
    SendOnBehalf, a display name for folder permissions. Tenant text. `folder` is the folder of a folder permission.
    """

    kind: GrantKind
    trustee: str
    rights: tuple[str, ...] = ()
    folder: str | None = None
    sharing_flags: tuple[str, ...] = ()

    @property
    def subject_id(self) -> str:
        """Identifies the grant for a later remediation button: kind, trustee and (for folders) the folder."""
        return f"{self.kind.value}:{self.trustee}" + (f":{self.folder}" if self.folder else "")

    @classmethod
    def from_mailbox_permission(cls, obj: Json) -> MailboxGrant | None:
        """A `Get-MailboxPermission` object; None unless it is a direct, allowed FullAccess of someone else."""
        user = _principal(obj.get("User"))
        rights = _rights(obj.get("AccessRights"))
        if (not user or user.lower() in _SELF_PRINCIPALS or _bool(obj, "IsInherited") or _bool(obj, "Deny")
                or not any(r.lower() == "fullaccess" for r in rights)):
            return None
        return cls(GrantKind.full_access, user, rights)

    @classmethod
    def from_recipient_permission(cls, obj: Json) -> MailboxGrant | None:
        """A `Get-RecipientPermission` object; None unless it is a direct, allowed SendAs of someone else."""
        trustee = _principal(obj.get("Trustee"))
        rights = _rights(obj.get("AccessRights"))
        if (not trustee or trustee.lower() in _SELF_PRINCIPALS or _bool(obj, "IsInherited")
                or _str(obj, "AccessControlType").lower() == "deny"
                or not any(r.lower() == "sendas" for r in rights)):
            return None
        return cls(GrantKind.send_as, trustee, rights)

    @classmethod
    def from_folder_permission(cls, obj: Json, folder: str) -> MailboxGrant | None:
        """A `Get-MailboxFolderPermission` object of `folder`; None for an entry that grants nothing (AccessRights
        None, as Default and Anonymous have unless someone shared the folder)."""
        user = _principal(obj.get("User"))
        rights = _rights(obj.get("AccessRights"))
        # Default and Anonymous always appear; with None (their usual value) they, like anyone, grant nothing.
        if not user or not rights or all(r.lower() == "none" for r in rights):
            return None
        return cls(GrantKind.folder, user, rights, folder=folder,
                   sharing_flags=tuple(f for f in _rights(obj.get("SharingPermissionFlags")) if f.lower() != "none"))

    @classmethod
    def send_on_behalf(cls, mailbox: Mailbox) -> tuple[MailboxGrant, ...]:
        """The mailbox's `GrantSendOnBehalfTo` entries as grants."""
        return tuple(cls(GrantKind.send_on_behalf, name.strip(), ("SendOnBehalf",))
                     for name in mailbox.grant_send_on_behalf_to if name.strip())


# Graph's well-known folder names: path segments (`/users/{id}/mailFolders/deleteditems`) valid in v1.0 in every
# mailbox language. Source: microsoftgraph/microsoft-graph-docs-contrib api-reference/v1.0/resources/mailfolder.md
# @4e38ed8c6596121d0121ac8ad1cb2930bc8f7434 ("Well-known folder names"). `wellKnownName` as a property is beta only.
WELL_KNOWN_FOLDER_NAMES: frozenset[str] = frozenset({
    "archive", "clutter", "conflicts", "conversationhistory", "deleteditems", "drafts", "inbox", "junkemail",
    "localfailures", "msgfolderroot", "outbox", "recoverableitemsdeletions", "scheduled", "searchfolders",
    "sentitems", "serverfailures", "syncissues",
})


@dataclass(frozen=True)
class MailFolder:
    """A mail folder (`/users/{id}/mailFolders`), to name a rule's move target.

    `well_known_name` is the well-known name (`WELL_KNOWN_FOLDER_NAMES`) that resolved to this folder's id when
    asked for by path segment; Graph v1.0 has no property that says it, so `from_graph` never sets it.
    """

    id: str
    display_name: str
    well_known_name: str | None = None

    SELECT = "id,displayName"

    @classmethod
    def from_graph(cls, obj: Json, *, well_known_name: str | None = None) -> MailFolder:
        """Build from a Graph mailFolder (v1.0 properties only); `well_known_name` is the path segment it was
        read by, when it was read by one."""
        return cls(id=_str(obj, "id"), display_name=_str(obj, "displayName"), well_known_name=well_known_name)


# Get-InboxRule condition properties and the Graph `messageRulePredicates` property each corresponds to.
_EXCHANGE_RULE_CONDITIONS: tuple[tuple[str, str], ...] = (
    ("From", "fromAddresses"),
    ("FromAddressContainsWords", "senderContains"),
    ("SentTo", "sentToAddresses"),
    ("SubjectContainsWords", "subjectContains"),
    ("BodyContainsWords", "bodyContains"),
    ("SubjectOrBodyContainsWords", "bodyOrSubjectContains"),
    ("HeaderContainsWords", "headerContains"),
    ("RecipientAddressContainsWords", "recipientContains"),
)
_SMTP_IN_BRACKETS = re.compile(r"\[SMTP:([^\]]+)\]", re.IGNORECASE)


def _exchange_recipients(value: object) -> tuple[str, ...]:
    """Exchange's recipient strings (`"Name" [SMTP:a@b]`, or a bare address) as addresses."""
    out: list[str] = []
    for item in _strs(value):
        match = _SMTP_IN_BRACKETS.search(item)
        address = match.group(1) if match else item.strip().strip('"')
        if address:
            out.append(address)
    return tuple(out)


# The item id of an inbox rule only Exchange can address (hidden from Graph): `exo:` + its `RuleIdentity`, a UInt64
# written in decimal (Get-InboxRule's Identity is `<mailbox alias>\<RuleIdentity>`, e.g. `rzaher\16752869479666417665`
# in the Disable-InboxRule / Remove-InboxRule references, MicrosoftDocs/office-docs-powershell
# exchange/exchange-ps/ExchangePowerShell/Disable-InboxRule.md @942e8c0254c863cf82faf6d4ca8f782ea25ead4c).
EXCHANGE_RULE_PREFIX = "exo:"
_RULE_IDENTITY = re.compile(r"[1-9][0-9]{0,19}")


def exchange_rule_identity(item_id: str | None) -> str | None:
    """The `RuleIdentity` in an `exo:<RuleIdentity>` item id (`InboxRule.item_id`), or None when `item_id` is not one
    (a Graph rule id). Strict: decimal digits of a UInt64 only, so nothing else reaches the cmdlet's -Identity;
    an `exo:` id that is not such a number raises `ValueError` (a forged or damaged id, never a Graph id)."""
    if not item_id or not item_id.startswith(EXCHANGE_RULE_PREFIX):
        return None
    value = item_id[len(EXCHANGE_RULE_PREFIX):]
    if not (value.isascii() and _RULE_IDENTITY.fullmatch(value) and int(value) < 2**64):
        raise ValueError("not an Exchange RuleIdentity")
    return value


@dataclass(frozen=True)
class InboxRule:
    """An inbox rule: a Graph `messageRule`, or an Exchange `Get-InboxRule` object (`from_exchange`).

    `id` is Graph's rule id (empty for a rule only Exchange returned: Graph cannot address it);
    `rule_identity` is Exchange's `RuleIdentity`. `hidden` is set when Exchange's `-IncludeHidden` returned the
    rule and Graph did not (see `investigation.rules.merge_rules`): Outlook, OWA and Graph do not show it.
    """

    id: str
    display_name: str
    sequence: int = 0
    is_enabled: bool = True
    has_error: bool = False
    forward_to: tuple[str, ...] = ()
    forward_as_attachment_to: tuple[str, ...] = ()
    redirect_to: tuple[str, ...] = ()
    delete: bool = False
    permanent_delete: bool = False
    mark_as_read: bool = False
    move_to_folder: str | None = None
    stop_processing_rules: bool = False
    conditions: Json = field(default_factory=dict)
    rule_identity: str | None = None
    source: str = "graph"  # "graph", "exchange", or "both" once merged
    hidden: bool = False

    @property
    def external_targets(self) -> tuple[str, ...]:
        """Every address the rule sends mail to (forward, attachment-forward, redirect)."""
        return self.forward_to + self.forward_as_attachment_to + self.redirect_to

    @property
    def item_id(self) -> str:
        """What the bot acts on the rule by: Graph's id, else (a rule only Exchange returned, e.g. a hidden one)
        `exo:<RuleIdentity>` (`exchange_rule_identity`); "" when it has neither."""
        if self.id:
            return self.id
        identity = self.rule_identity or ""
        return (f"{EXCHANGE_RULE_PREFIX}{identity}" if identity.isascii() and _RULE_IDENTITY.fullmatch(identity)
                and int(identity) < 2**64 else "")

    @classmethod
    def from_graph(cls, obj: Json) -> InboxRule:
        """Build from a Graph messageRule."""
        actions = _map(obj, "actions")
        sequence = obj.get("sequence")
        return cls(
            id=_str(obj, "id"),
            display_name=_str(obj, "displayName"),
            sequence=sequence if isinstance(sequence, int) else 0,
            is_enabled=_bool(obj, "isEnabled", True),
            has_error=_bool(obj, "hasError"),
            forward_to=_recipients(actions, "forwardTo"),
            forward_as_attachment_to=_recipients(actions, "forwardAsAttachmentTo"),
            redirect_to=_recipients(actions, "redirectTo"),
            delete=_bool(actions, "delete"),
            permanent_delete=_bool(actions, "permanentDelete"),
            mark_as_read=_bool(actions, "markAsRead"),
            move_to_folder=_opt_str(actions, "moveToFolder"),
            stop_processing_rules=_bool(actions, "stopProcessingRules"),
            conditions=dict(_map(obj, "conditions")),
        )

    @classmethod
    def from_exchange(cls, obj: Json) -> InboxRule:
        """Build from a `Get-InboxRule` output object (PascalCase; recipients as `"Name" [SMTP:address]`).

        Conditions are renamed to Graph's `messageRulePredicates` names so both kinds read alike;
        `MoveToFolder` (`"Owner Name:\\Folder"`) keeps the folder's name.
        """
        priority = obj.get("Priority")
        folder = _opt_str(obj, "MoveToFolder")
        if folder and ":\\" in folder:
            folder = folder.split(":\\", 1)[1] or folder
        conditions: dict[str, Any] = {}
        for exchange_name, graph_name in _EXCHANGE_RULE_CONDITIONS:
            value = obj.get(exchange_name)
            if exchange_name in ("From", "SentTo"):
                value = list(_exchange_recipients(value))
            elif isinstance(value, str):
                value = [value]
            if isinstance(value, list) and value:
                conditions[graph_name] = [v for v in value if isinstance(v, str)]
        return cls(
            id="",
            display_name=_str(obj, "Name"),
            sequence=priority if isinstance(priority, int) else 0,
            is_enabled=_bool(obj, "Enabled", True),
            has_error=_bool(obj, "InError"),
            forward_to=_exchange_recipients(obj.get("ForwardTo")),
            forward_as_attachment_to=_exchange_recipients(obj.get("ForwardAsAttachmentTo")),
            redirect_to=_exchange_recipients(obj.get("RedirectTo")),
            delete=_bool(obj, "DeleteMessage"),
            mark_as_read=_bool(obj, "MarkAsRead"),
            move_to_folder=folder,
            stop_processing_rules=_bool(obj, "StopProcessingRules"),
            conditions=conditions,
            rule_identity=_opt_str(obj, "RuleIdentity"),
            source="exchange",
        )


@dataclass(frozen=True)
class SignIn:
    """An Entra sign-in (`/auditLogs/signIns`)."""

    id: str
    created: datetime | None
    user_id: str
    user_principal_name: str = ""
    app_display_name: str = ""
    client_app_used: str = ""
    ip_address: str = ""
    city: str = ""
    country: str = ""
    error_code: int = 0
    failure_reason: str = ""
    risk_level_during_sign_in: str = "none"
    risk_state: str = "none"
    is_interactive: bool = True
    # Entra's own risk verdict on this sign-in (v1.0 `signIn`): present whatever the licence, so a risky
    # sign-in can be told even when Identity Protection's detections list cannot be read.
    risk_level_aggregated: str = "none"
    risk_detail: str = "none"
    risk_event_types: tuple[str, ...] = ()
    conditional_access_status: str = ""
    # `status.additionalDetails`: how MFA went ("MFA denied; user declined the authentication", "MFA completed
    # in Azure AD"); v1.0 has no `authenticationRequirement`, so this is where the sign-in log says it.
    additional_details: str = ""
    # `location.geoCoordinates` (None when Graph sends none); `deviceDetail` (device claims Entra attests).
    latitude: float | None = None
    longitude: float | None = None
    device_id: str = ""
    device_name: str = ""
    device_compliant: bool | None = None
    device_managed: bool | None = None
    device_trust_type: str = ""
    operating_system: str = ""

    @property
    def succeeded(self) -> bool:
        """True when Entra's `status.errorCode` is 0."""
        return self.error_code == 0

    @classmethod
    def from_graph(cls, obj: Json) -> SignIn:
        """Build from a Graph signIn."""
        location = _map(obj, "location")
        status = _map(obj, "status")
        device = _map(obj, "deviceDetail")
        code = status.get("errorCode")
        return cls(
            id=_str(obj, "id"),
            created=parse_datetime(obj.get("createdDateTime")),
            user_id=_str(obj, "userId"),
            user_principal_name=_str(obj, "userPrincipalName"),
            app_display_name=_str(obj, "appDisplayName"),
            client_app_used=_str(obj, "clientAppUsed"),
            ip_address=_str(obj, "ipAddress"),
            city=_str(location, "city"),
            country=_str(location, "countryOrRegion"),
            error_code=code if isinstance(code, int) else 0,
            failure_reason=_str(status, "failureReason"),
            risk_level_during_sign_in=_str(obj, "riskLevelDuringSignIn") or "none",
            risk_state=_str(obj, "riskState") or "none",
            is_interactive=_bool(obj, "isInteractive", True),
            risk_level_aggregated=_str(obj, "riskLevelAggregated") or "none",
            risk_detail=_str(obj, "riskDetail") or "none",
            # `riskEventTypes_v2` (strings) supersedes the enum `riskEventTypes`, which lacks newer types;
            # read both so an older-style record still counts, each type once.
            risk_event_types=tuple(dict.fromkeys(
                t for t in _strs(obj.get("riskEventTypes_v2")) + _strs(obj.get("riskEventTypes"))
                if t and t.lower() not in ("none", "unknownfuturevalue")
            )),
            conditional_access_status=_str(obj, "conditionalAccessStatus"),
            additional_details=_str(status, "additionalDetails"),
            latitude=_coordinate(_map(location, "geoCoordinates"), "latitude", 90.0),
            longitude=_coordinate(_map(location, "geoCoordinates"), "longitude", 180.0),
            device_id=_str(device, "deviceId").strip(),
            device_name=_str(device, "displayName"),
            device_compliant=_opt_bool(device, "isCompliant"),
            device_managed=_opt_bool(device, "isManaged"),
            device_trust_type=_str(device, "trustType"),
            operating_system=_str(device, "operatingSystem"),
        )


def _coordinate(obj: Json, key: str, bound: float) -> float | None:
    """A latitude or longitude (Edm.Double), None when absent, not a number or out of range."""
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if -bound <= number <= bound else None


@dataclass(frozen=True)
class RiskyUser:
    """Identity Protection's view of a user (`/identityProtection/riskyUsers/{id}`)."""

    id: str
    risk_level: str = "none"
    risk_state: str = "none"
    risk_detail: str = "none"
    risk_last_updated: datetime | None = None

    @classmethod
    def from_graph(cls, obj: Json) -> RiskyUser:
        """Build from a Graph riskyUser."""
        return cls(
            id=_str(obj, "id"),
            risk_level=_str(obj, "riskLevel") or "none",
            risk_state=_str(obj, "riskState") or "none",
            risk_detail=_str(obj, "riskDetail") or "none",
            risk_last_updated=parse_datetime(obj.get("riskLastUpdatedDateTime")),
        )


@dataclass(frozen=True)
class RiskDetection:
    """An Identity Protection risk detection (`/identityProtection/riskDetections`)."""

    id: str
    user_id: str
    risk_event_type: str
    risk_level: str = "none"
    risk_state: str = "none"
    detected: datetime | None = None
    ip_address: str = ""
    city: str = ""
    country: str = ""
    activity: str = ""
    request_id: str = ""
    # Why the risk state is what it is (`userPerformedSecuredPasswordReset`, `adminDismissedAllRiskForUser`, …).
    risk_detail: str = "none"

    @classmethod
    def from_graph(cls, obj: Json) -> RiskDetection:
        """Build from a Graph riskDetection."""
        location = _map(obj, "location")
        return cls(
            id=_str(obj, "id"),
            user_id=_str(obj, "userId"),
            risk_event_type=_str(obj, "riskEventType"),
            risk_level=_str(obj, "riskLevel") or "none",
            risk_state=_str(obj, "riskState") or "none",
            detected=parse_datetime(obj.get("detectedDateTime")),
            ip_address=_str(obj, "ipAddress"),
            city=_str(location, "city"),
            country=_str(location, "countryOrRegion"),
            activity=_str(obj, "activity"),
            request_id=_str(obj, "requestId"),
            risk_detail=_str(obj, "riskDetail") or "none",
        )


@dataclass(frozen=True)
class AuthMethod:
    """A registered authentication method (`/users/{id}/authentication/methods`)."""

    id: str
    kind: str
    display_name: str = ""
    created: datetime | None = None

    @property
    def is_password(self) -> bool:
        """True for the password method, which is not a second factor."""
        return self.kind == "passwordAuthenticationMethod"

    @classmethod
    def from_graph(cls, obj: Json, kind: str = "") -> AuthMethod:
        """Build from a Graph authenticationMethod; `kind` is the @odata.type without its namespace.

        `kind` names the type when the object has no `@odata.type` (a typed endpoint such as
        `/authentication/phoneMethods/{id}` may omit it). The v1.0 metadata declares a nullable
        `createdDateTime` on the base type; Microsoft's examples show it for the authenticator, Windows Hello
        and FIDO2 keys (older FIDO2 examples spell it `creationDateTime`) and never for phone, email or OATH
        methods, so `created` is None whenever Graph does not say when a method was registered.
        """
        odata = _str(obj, "@odata.type").removeprefix("#microsoft.graph.") or kind
        name = _str(obj, "displayName") or _str(obj, "phoneNumber") or _str(obj, "emailAddress")
        created = parse_datetime(obj.get("createdDateTime")) or parse_datetime(obj.get("creationDateTime"))
        return cls(id=_str(obj, "id"), kind=odata, display_name=name, created=created)

    @property
    def item_id(self) -> str:
        """The id a card and a case carry for this method: `<kind>:<id>`, so the removal knows its Graph path
        (`METHOD_COLLECTIONS`); "" for a kind Graph offers no removal of (the password)."""
        return f"{self.kind}:{self.id}" if self.kind in METHOD_COLLECTIONS and self.id else ""


# authenticationMethod type → the v1.0 collection of `/users/{id}/authentication` that deletes it (one page each
# under microsoft-graph-docs api-reference/v1.0/api: microsoftauthenticatorauthenticationmethod-delete.md,
# phoneauthenticationmethod-delete.md, emailauthenticationmethod-delete.md, fido2authenticationmethod-delete.md,
# softwareoathauthenticationmethod-delete.md, temporaryaccesspassauthenticationmethod-delete.md,
# windowshelloforbusinessauthenticationmethod-delete.md, platformcredentialauthenticationmethod-delete.md;
# each checked against the v1.0 CSDL). The password method has none: it is changed, never removed.
METHOD_COLLECTIONS: Mapping[str, str] = MappingProxyType({
    "microsoftAuthenticatorAuthenticationMethod": "microsoftAuthenticatorMethods",
    "phoneAuthenticationMethod": "phoneMethods",
    "emailAuthenticationMethod": "emailMethods",
    "fido2AuthenticationMethod": "fido2Methods",
    "softwareOathAuthenticationMethod": "softwareOathMethods",
    "temporaryAccessPassAuthenticationMethod": "temporaryAccessPassMethods",
    "windowsHelloForBusinessAuthenticationMethod": "windowsHelloForBusinessMethods",
    "platformCredentialAuthenticationMethod": "platformCredentialMethods",
})
# A method id as Graph gives them: GUIDs, and base64url ids for FIDO2 keys and Windows Hello (`-2_GRUg2-HYz6_1Y…`).
_METHOD_ID = re.compile(r"[A-Za-z0-9_\-=]{1,200}")


def parse_method_item(item_id: str) -> tuple[str, str] | None:
    """`(collection, method id)` of an `AuthMethod.item_id`, or None for anything that is not exactly one (an
    unknown kind, an empty or odd id): the id goes into a DELETE's path, so it is checked strictly."""
    kind, sep, method_id = item_id.partition(":")
    collection = METHOD_COLLECTIONS.get(kind)
    if not sep or collection is None or not _METHOD_ID.fullmatch(method_id):
        return None
    return collection, method_id


@dataclass(frozen=True)
class RegistrationDetails:
    """`/reports/authenticationMethods/userRegistrationDetails/{id}`."""

    id: str
    is_mfa_registered: bool = False
    is_mfa_capable: bool = False
    is_admin: bool = False
    methods_registered: tuple[str, ...] = ()

    @classmethod
    def from_graph(cls, obj: Json) -> RegistrationDetails:
        """Build from a Graph userRegistrationDetails."""
        return cls(
            id=_str(obj, "id"),
            is_mfa_registered=_bool(obj, "isMfaRegistered"),
            is_mfa_capable=_bool(obj, "isMfaCapable"),
            is_admin=_bool(obj, "isAdmin"),
            methods_registered=_strs(obj.get("methodsRegistered")),
        )


@dataclass(frozen=True)
class ModifiedProperty:
    """One changed property of a directory audit's target."""

    name: str
    old_value: str
    new_value: str


@dataclass(frozen=True)
class DirectoryAudit:
    """An Entra audit record (`/auditLogs/directoryAudits`)."""

    id: str
    activity: str
    activity_time: datetime | None
    category: str = ""
    result: str = ""
    initiated_by_user_id: str = ""
    initiated_by_upn: str = ""
    initiated_by_app: str = ""
    initiated_by_ip: str = ""
    target_ids: tuple[str, ...] = ()
    target_names: tuple[str, ...] = ()
    modified_properties: tuple[ModifiedProperty, ...] = ()
    # `additionalDetails` as (key, value): "Method", "Device Name" of a security-info registration, for example.
    details: tuple[tuple[str, str], ...] = ()

    def detail(self, key: str) -> str:
        """The value of an `additionalDetails` entry (key compared ignoring case), or ""."""
        wanted = key.lower()
        return next((value for name, value in self.details if name.lower() == wanted), "")

    @classmethod
    def from_graph(cls, obj: Json) -> DirectoryAudit:
        """Build from a Graph directoryAudit."""
        initiated = _map(obj, "initiatedBy")
        user = _map(initiated, "user")
        app = _map(initiated, "app")
        ids: list[str] = []
        names: list[str] = []
        props: list[ModifiedProperty] = []
        targets = obj.get("targetResources")
        if isinstance(targets, list):
            for target in targets:
                if not isinstance(target, Mapping):
                    continue
                ids.append(_str(target, "id"))
                names.append(_str(target, "userPrincipalName") or _str(target, "displayName"))
                mods = target.get("modifiedProperties")
                if isinstance(mods, list):
                    for mod in mods:
                        if isinstance(mod, Mapping):
                            props.append(ModifiedProperty(_str(mod, "displayName"), _str(mod, "oldValue"),
                                                          _str(mod, "newValue")))
        return cls(
            id=_str(obj, "id"),
            activity=_str(obj, "activityDisplayName"),
            activity_time=parse_datetime(obj.get("activityDateTime")),
            category=_str(obj, "category"),
            result=_str(obj, "result"),
            initiated_by_user_id=_str(user, "id"),
            initiated_by_upn=_str(user, "userPrincipalName"),
            initiated_by_app=_str(app, "displayName"),
            initiated_by_ip=_str(user, "ipAddress"),
            target_ids=tuple(ids),
            target_names=tuple(names),
            modified_properties=tuple(props),
            details=_key_values(obj.get("additionalDetails")),
        )


@dataclass(frozen=True)
class OAuthGrant:
    """A delegated permission grant (`/users/{id}/oauth2PermissionGrants`)."""

    id: str
    client_id: str
    consent_type: str
    principal_id: str | None
    resource_id: str
    scopes: tuple[str, ...]

    @classmethod
    def from_graph(cls, obj: Json) -> OAuthGrant:
        """Build from a Graph oAuth2PermissionGrant."""
        return cls(
            id=_str(obj, "id"),
            client_id=_str(obj, "clientId"),
            consent_type=_str(obj, "consentType"),
            principal_id=_opt_str(obj, "principalId"),
            resource_id=_str(obj, "resourceId"),
            scopes=tuple(_str(obj, "scope").split()),
        )


@dataclass(frozen=True)
class ServicePrincipal:
    """The application behind a grant (`/servicePrincipals/{id}`), from v1.0 properties only.

    `publisherName` is beta only; v1.0 says who stands behind an app with `verifiedPublisher` (set once the
    publisher passed Microsoft's verification) and `appOwnerOrganizationId` (the tenant the app is registered in).
    """

    id: str
    app_id: str
    display_name: str
    verified_publisher: str | None = None
    verified_publisher_id: str | None = None
    verified_publisher_added: datetime | None = None
    app_owner_organization_id: str | None = None
    # The tenant the principal was read in (set by the client, not a Graph property), to tell our apps from others.
    read_in_tenant: str | None = None

    SELECT = "id,appId,displayName,verifiedPublisher,appOwnerOrganizationId"

    @property
    def is_verified(self) -> bool:
        """True when the publisher is verified (Microsoft Partner Network): Graph sends `verifiedPublisherId`."""
        return bool(self.verified_publisher_id or self.verified_publisher)

    @property
    def is_foreign(self) -> bool | None:
        """True when the app is registered in another organisation than the one it was read in (Graph's
        `appOwnerOrganizationId`), False for our own; None when either tenant is unknown."""
        owner = (self.app_owner_organization_id or "").strip().lower()
        ours = (self.read_in_tenant or "").strip().lower()
        if not owner or not ours:
            return None
        return owner != ours

    @classmethod
    def from_graph(cls, obj: Json) -> ServicePrincipal:
        """Build from a Graph v1.0 servicePrincipal."""
        verified = _map(obj, "verifiedPublisher")
        return cls(
            id=_str(obj, "id"),
            app_id=_str(obj, "appId"),
            display_name=_str(obj, "displayName"),
            verified_publisher=_opt_str(verified, "displayName"),
            verified_publisher_id=_opt_str(verified, "verifiedPublisherId"),
            verified_publisher_added=parse_datetime(verified.get("addedDateTime")),
            app_owner_organization_id=_opt_str(obj, "appOwnerOrganizationId"),
        )


@dataclass(frozen=True)
class DirectoryObject:
    """A group or directory role the user belongs to (`/users/{id}/transitiveMemberOf`)."""

    id: str
    kind: str
    display_name: str = ""
    role_template_id: str | None = None

    @property
    def is_role(self) -> bool:
        """True for directory roles (admin roles)."""
        return self.kind == "directoryRole"

    @classmethod
    def from_graph(cls, obj: Json) -> DirectoryObject:
        """Build from a Graph directoryObject; `kind` is the @odata.type without its namespace."""
        return cls(
            id=_str(obj, "id"),
            kind=_str(obj, "@odata.type").removeprefix("#microsoft.graph."),
            display_name=_str(obj, "displayName"),
            role_template_id=_opt_str(obj, "roleTemplateId"),
        )


@dataclass(frozen=True)
class RoleMember:
    """A principal assigned a directory role (`GET /directoryRoles/{id}/members`, Graph v1.0
    directoryrole-list-members.md): users, service principals or groups; `account_enabled` is None for what is not
    a user (only users sign in with a password the bot could block)."""

    id: str
    kind: str
    account_enabled: bool | None = None

    @classmethod
    def from_graph(cls, obj: Json) -> RoleMember:
        """Build from a Graph directoryObject; `kind` is the @odata.type without its namespace."""
        return cls(id=_str(obj, "id"), kind=_str(obj, "@odata.type").removeprefix("#microsoft.graph."),
                   account_enabled=_opt_bool(obj, "accountEnabled"))


@dataclass(frozen=True)
class SecurityAlert:
    """A Defender alert (`/security/alerts_v2`)."""

    id: str
    title: str
    severity: str = "unknown"
    status: str = "new"
    category: str = ""
    created: datetime | None = None
    service_source: str = ""
    description: str = ""
    user_upns: tuple[str, ...] = ()
    user_ids: tuple[str, ...] = ()

    @classmethod
    def from_graph(cls, obj: Json) -> SecurityAlert:
        """Build from a Graph security alert; the users are every address or id its evidence names.

        Evidence shapes (microsoft.graph.security, v1.0): any evidence's `userAccount` (userPrincipalName,
        azureAdUserId) — user, process, mailbox evidence; `mailboxEvidence` primaryAddress / upn;
        `mailboxConfigurationEvidence` mailboxPrimaryAddress / upn / externalDirectoryObjectId;
        `analyzedMessageEvidence` recipientEmailAddress and the p1/p2 sender addresses (an outbound-spam
        alert names the user only as the sender).
        """
        upns: list[str] = []
        ids: list[str] = []
        evidence = obj.get("evidence")
        if isinstance(evidence, list):
            for item in evidence:
                if not isinstance(item, Mapping):
                    continue
                account = _map(item, "userAccount")
                upns.extend(v for v in (
                    _str(account, "userPrincipalName"), _str(item, "primaryAddress"), _str(item, "upn"),
                    _str(item, "mailboxPrimaryAddress"), _str(item, "recipientEmailAddress"),
                    _str(_map(item, "p1Sender"), "emailAddress"), _str(_map(item, "p2Sender"), "emailAddress"),
                ) if v)
                ids.extend(v for v in (_str(account, "azureAdUserId"), _str(item, "externalDirectoryObjectId")) if v)
        upns = list(dict.fromkeys(upns))
        ids = list(dict.fromkeys(ids))
        return cls(
            id=_str(obj, "id"),
            title=_str(obj, "title"),
            severity=_str(obj, "severity") or "unknown",
            status=_str(obj, "status") or "new",
            category=_str(obj, "category"),
            created=parse_datetime(obj.get("createdDateTime")),
            service_source=_str(obj, "serviceSource"),
            description=_str(obj, "description"),
            user_upns=tuple(upns),
            user_ids=tuple(ids),
        )


class ThresholdAction(StrEnum):
    """`ActionWhenThresholdReached` of an outbound spam policy (Set-HostedOutboundSpamFilterPolicy's values)."""

    # "Prevent the user from sending email messages until the following day" (the default).
    block_user_for_today = "BlockUserForToday"
    # "Prevent the user from sending email messages": stays until an admin unblocks.
    block_user = "BlockUser"
    # "No action, alert only."
    alert = "Alert"
    unknown = "unknown"


class Release(StrEnum):
    """How a restriction that the policy's limits caused ends."""

    next_utc_day = "next_utc_day"
    admin = "admin"
    not_blocked = "not_blocked"
    unknown = "unknown"


_RELEASE = {ThresholdAction.block_user_for_today: Release.next_utc_day, ThresholdAction.block_user: Release.admin,
            ThresholdAction.alert: Release.not_blocked}


def _limit(obj: Json, key: str) -> int | None:
    # 0 means "the service defaults are used" (the cmdlet reference); a missing or garbled value says nothing.
    value = obj.get(key)
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int) and 0 < value <= 10_000:
        return value
    return None


@dataclass(frozen=True)
class OutboundSpamPolicy:
    """`Get-HostedOutboundSpamFilterPolicy`: what happens when a sender reaches the policy's recipient limits.

    The limits are None where the policy uses the service defaults (Microsoft's value 0).
    """

    name: str
    is_default: bool = False
    enabled: bool = True
    action: ThresholdAction = ThresholdAction.unknown
    external_per_hour: int | None = None
    internal_per_hour: int | None = None
    per_day: int | None = None

    @property
    def release(self) -> Release:
        """`next_utc_day` for BlockUserForToday, `admin` for BlockUser, `not_blocked` for Alert."""
        return _RELEASE.get(self.action, Release.unknown)

    @classmethod
    def from_exchange(cls, obj: Json) -> OutboundSpamPolicy:
        """Build from a cmdlet output object; an unknown action is `ThresholdAction.unknown`."""
        raw = _str(obj, "ActionWhenThresholdReached").strip().lower()
        action = next((a for a in ThresholdAction if a.value.lower() == raw), ThresholdAction.unknown)
        return cls(
            name=_str(obj, "Name") or _str(obj, "Identity"),
            is_default=_bool(obj, "IsDefault"),
            enabled=_bool(obj, "Enabled", default=True),
            action=action,
            external_per_hour=_limit(obj, "RecipientLimitExternalPerHour"),
            internal_per_hour=_limit(obj, "RecipientLimitInternalPerHour"),
            per_day=_limit(obj, "RecipientLimitPerDay"),
        )


@dataclass(frozen=True)
class MessageTrace:
    """One row of a message trace: one message to one recipient, as Exchange Online received it.

    Graph v1.0 `exchangeMessageTrace` (`GET /admin/exchange/tracing/messageTraces`; microsoft-graph-docs-contrib
    api-reference/v1.0/resources/exchangemessagetrace.md) or Exchange's `Get-MessageTraceV2` output (the same facts
    in PascalCase: Received, SenderAddress, RecipientAddress, Subject, Status, FromIP, ToIP, Size, MessageId,
    MessageTraceId). `from_ip` is where the message entered Exchange Online: for mail a client submitted, the
    client's public address. The subject is tenant text.
    """

    id: str
    received: datetime | None
    sender: str
    recipient: str
    subject: str = ""
    status: str = ""
    from_ip: str = ""
    to_ip: str = ""
    size: int = 0
    message_id: str = ""

    @classmethod
    def from_graph(cls, obj: Json) -> MessageTrace:
        """Build from a Graph `exchangeMessageTrace`."""
        size = obj.get("size")
        return cls(
            id=_str(obj, "id"),
            received=parse_datetime(obj.get("receivedDateTime")),
            sender=_str(obj, "senderAddress"),
            recipient=_str(obj, "recipientAddress"),
            subject=_str(obj, "subject"),
            status=_str(obj, "status"),
            from_ip=_str(obj, "fromIP"),
            to_ip=_str(obj, "toIP"),
            size=size if isinstance(size, int) and not isinstance(size, bool) else 0,
            message_id=_str(obj, "messageId"),
        )

    @classmethod
    def from_exchange(cls, obj: Json) -> MessageTrace:
        """Build from a `Get-MessageTraceV2` output object (its Status is PascalCase: `Delivered`, `FilteredAsSpam`)."""
        size = obj.get("Size")
        status = _str(obj, "Status")
        return cls(
            id=_str(obj, "MessageTraceId"),
            received=parse_datetime(obj.get("Received")),
            sender=_str(obj, "SenderAddress"),
            recipient=_str(obj, "RecipientAddress"),
            subject=_str(obj, "Subject"),
            # One spelling for both sources: Graph's camelCase enum member.
            status=status[:1].lower() + status[1:],
            from_ip=_str(obj, "FromIP"),
            to_ip=_str(obj, "ToIP"),
            size=size if isinstance(size, int) and not isinstance(size, bool) else 0,
            message_id=_str(obj, "MessageId"),
        )


@dataclass(frozen=True)
class MessageTraces:
    """What one message-trace read returned: the rows (oldest first), whether the cap cut it short, and the way it
    was read (`graph` or `exchange`, the `Get-MessageTraceV2` fallback)."""

    # Not kept in an investigation's snapshot (`investigation.snapshot`): up to 5,000 rows, summarised by the findings.
    rows: tuple[MessageTrace, ...] = field(default=(), metadata={"transient": True})
    since: datetime | None = None
    # The moment of reading: two reads of the same mail are equal whenever they were made.
    until: datetime | None = field(default=None, compare=False)
    capped: bool = False
    cap: int = 0
    via: str = "graph"


# -- the unified audit log and mail flow rules (investigation.changes, investigation.tenant_traps) ----------------

_IPV4_PORT = re.compile(r"^(\d{1,3}(?:\.\d{1,3}){3}):\d+$")
_BRACKETED_IPV6 = re.compile(r"^\[([0-9A-Fa-f:.]+)\](?::\d+)?$")


def _client_ip(value: object) -> str:
    """The address of an audit record's `ClientIP`/`ClientIPAddress`: Exchange writes `1.2.3.4:5678` and
    `[2001:db8::1]:5678` as well as bare addresses; the port is noise for matching sign-ins."""
    if not isinstance(value, str):
        return ""
    text = value.strip()
    match = _IPV4_PORT.match(text) or _BRACKETED_IPV6.match(text)
    return match.group(1) if match else text


def _name_values(value: object) -> tuple[tuple[str, str], ...]:
    """The Management Activity schema's `Collection(Common.NameValuePair)` (`[{"Name": …, "Value": …}]`)."""
    if not isinstance(value, list):
        return ()
    out: list[tuple[str, str]] = []
    for item in value:
        if isinstance(item, Mapping) and isinstance(item.get("Name"), str):
            raw = item.get("Value")
            out.append((item["Name"], raw if isinstance(raw, str) else "" if raw is None else str(raw)))
    return tuple(out)


@dataclass(frozen=True)
class AuditChange:
    """One record of the unified audit log as `Search-UnifiedAuditLog` returns it, its `AuditData` JSON parsed.

    Shapes: the cmdlet's output object (`RecordType`, `CreationDate`, `UserIds`, `Operations`, `AuditData`,
    `ResultIndex`, `ResultCount`, `Identity`) and, inside `AuditData`, the Office 365 Management Activity API schema
    (MicrosoftDocs/office-365-management-api office-365-management-activity-api-schema.md
    @8a539d33bd3f05032e3c2b49c7951aa94bd80555): the common schema (`Id`, `CreationTime`, `Operation`, `UserId`,
    `ClientIP`, `ObjectId`, `ResultStatus`, `RecordType`), the Exchange Admin schema (`Parameters`, a
    `Collection(Common.NameValuePair)` of the cmdlet's parameters; `ModifiedObjectResolvedName`; `ExternalAccess`)
    and the Exchange Mailbox schema (`MailboxOwnerUPN`, `ClientIPAddress`, `OperationProperties`). `parameters`
    holds `Parameters` and `OperationProperties` alike (an `UpdateInboxRules` record from Outlook names its rule
    there). `actor` is who did it (`UserId`, a UPN, or a system account); all strings are tenant text.
    """

    id: str
    operation: str
    time: datetime | None
    actor: str
    client_ip: str = ""
    object_id: str = ""
    record_type: str = ""
    result: str = ""
    parameters: tuple[tuple[str, str], ...] = ()
    mailbox_owner: str = ""
    object_name: str = ""
    external_access: bool = False

    def parameter(self, name: str) -> str:
        """The value of a cmdlet parameter or operation property (name compared ignoring case), or ""."""
        wanted = name.lower()
        return next((value for key, value in self.parameters if key.lower() == wanted), "")

    def has_parameter(self, name: str) -> bool:
        """True when the cmdlet was run with `name` (even with an empty value: `-ForwardingSmtpAddress $null`)."""
        wanted = name.lower()
        return any(key.lower() == wanted for key, _ in self.parameters)

    @property
    def target(self) -> str:
        """The object acted on: the mailbox (or `mailbox\\rule`) an Exchange cmdlet named, else the ObjectId."""
        return (self.parameter("Identity") or self.parameter("Mailbox") or self.mailbox_owner or self.object_name
                or self.object_id)

    def names(self) -> tuple[str, ...]:
        """Every way this record names the mailbox it changed (lower case): the parameters' identity, the owner,
        ObjectId and its last path segment before a `\\rule` or `:\\folder` part."""
        out: list[str] = []
        for raw in (self.parameter("Identity"), self.parameter("Mailbox"), self.mailbox_owner, self.object_name,
                    self.object_id):
            text = raw.strip().lower()
            if not text:
                continue
            out.append(text)
            # `mailbox\\rule`, `mailbox:\\Inbox` (a folder), `…/contoso.onmicrosoft.com/mailbox`.
            head = text.split("\\", 1)[0].rstrip(":")
            out += [head, head.rsplit("/", 1)[-1]]
        return tuple(dict.fromkeys(x for x in out if x))

    @classmethod
    def from_exchange(cls, obj: Json) -> AuditChange:
        """Build from one `Search-UnifiedAuditLog` output object (its `AuditData` is a JSON string)."""
        import json  # only the audit records carry nested JSON

        raw = obj.get("AuditData")
        data: Json = {}
        if isinstance(raw, str) and raw.strip():
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = {}
            data = parsed if isinstance(parsed, Mapping) else {}
        elif isinstance(raw, Mapping):
            data = raw
        record_type = obj.get("RecordType", data.get("RecordType"))
        external = data.get("ExternalAccess")
        return cls(
            id=_str(data, "Id") or _str(obj, "Identity"),
            operation=_str(data, "Operation") or _str(obj, "Operations"),
            time=parse_datetime(data.get("CreationTime")) or parse_datetime(obj.get("CreationDate")),
            actor=_str(data, "UserId") or _str(obj, "UserIds"),
            client_ip=_client_ip(data.get("ClientIP") or data.get("ClientIPAddress")),
            object_id=_str(data, "ObjectId"),
            record_type=str(record_type) if isinstance(record_type, str | int) else "",
            result=str(data.get("ResultStatus") or ""),
            parameters=_name_values(data.get("Parameters")) + _name_values(data.get("OperationProperties")),
            mailbox_owner=_str(data, "MailboxOwnerUPN"),
            object_name=_str(data, "ModifiedObjectResolvedName"),
            external_access=external is True or (isinstance(external, str) and external.lower() == "true"),
        )


@dataclass(frozen=True)
class TransportRule:
    """A mail flow (transport) rule from `Get-TransportRule` (MicrosoftDocs/office-docs-powershell
    exchange/exchange-ps/ExchangePowerShell/Get-TransportRule.md; its properties are New-TransportRule's
    parameters of the same names). Addresses and the name are tenant text."""

    name: str
    identity: str = ""
    state: str = ""
    mode: str = ""
    priority: int = 0
    when_changed: datetime | None = None
    redirect_to: tuple[str, ...] = ()
    blind_copy_to: tuple[str, ...] = ()
    add_to_recipients: tuple[str, ...] = ()
    copy_to: tuple[str, ...] = ()
    outbound_connector: str = ""
    comments: str = ""

    @property
    def enforced(self) -> bool:
        """Enabled and in Enforce mode (the test modes only log; Mode is absent in older output)."""
        return self.state.lower() == "enabled" and self.mode.lower() in ("", "enforce")

    @property
    def recipients(self) -> tuple[str, ...]:
        """Every address the rule sends mail to: redirect, Bcc, To and Cc additions."""
        return tuple(dict.fromkeys(self.redirect_to + self.blind_copy_to + self.add_to_recipients + self.copy_to))

    @classmethod
    def from_exchange(cls, obj: Json) -> TransportRule:
        """Build from a `Get-TransportRule` output object."""
        priority = obj.get("Priority")
        return cls(
            name=_str(obj, "Name"),
            identity=_str(obj, "Identity") or _str(obj, "Guid"),
            state=_str(obj, "State"),
            mode=_str(obj, "Mode"),
            priority=priority if isinstance(priority, int) and not isinstance(priority, bool) else 0,
            when_changed=parse_datetime(obj.get("WhenChanged")),
            redirect_to=_exchange_recipients(obj.get("RedirectMessageTo")),
            blind_copy_to=_exchange_recipients(obj.get("BlindCopyTo")),
            add_to_recipients=_exchange_recipients(obj.get("AddToRecipients")),
            copy_to=_exchange_recipients(obj.get("CopyTo")),
            outbound_connector=_str(obj, "RouteMessageOutboundConnector"),
            comments=_str(obj, "Comments"),
        )

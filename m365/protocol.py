"""`Tenant`: what the rest of the bot may ask of Microsoft 365. `m365.tenant.M365Tenant` implements it.

Reads return frozen records (`m365.records`); failures raise `m365.errors.M365Error` subclasses.
Lookups of one object return None for "does not exist"; lists return an empty tuple.

`BulkTenant` adds reads over many users at once (an outbreak's triage, `investigation.outbreak`): each answers
per user, with the failure as a value instead of an exception.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from m365.errors import M365Error
from m365.records import (
    AuditChange,
    AuthMethod,
    BlockedSender,
    CasMailbox,
    DirectoryAudit,
    DirectoryObject,
    InboxRule,
    Mailbox,
    MailboxGrant,
    MailFolder,
    MessageTraces,
    OAuthGrant,
    OutboundSpamPolicy,
    RegistrationDetails,
    RiskDetection,
    RiskyUser,
    RoleMember,
    SecurityAlert,
    ServicePrincipal,
    SignIn,
    TransportRule,
    User,
)


class Tenant(Protocol):
    """One Microsoft 365 tenant, seen through app-only Graph and Exchange Online permissions."""

    @property
    def tenant_id(self) -> str:
        """The Entra tenant id (GUID)."""
        ...

    async def ping(self) -> None:
        """A cheap authenticated call that raises `M365Error` when the tenant cannot be reached."""
        ...

    # Directory
    async def get_user(self, id_or_upn: str) -> User | None:
        """The user with this object id or UPN, or None."""
        ...

    async def find_users(self, text: str, *, top: int = 10) -> tuple[User, ...]:
        """Users whose UPN, mail, alias or proxy address equals `text`, or whose display name matches it."""
        ...

    async def list_verified_domains(self) -> tuple[str, ...]:
        """The tenant's verified domains (lower case), to judge what is outside the tenant."""
        ...

    async def list_memberships(self, user_id: str) -> tuple[DirectoryObject, ...]:
        """Groups and directory roles the user belongs to, transitively."""
        ...

    # Restriction (Exchange)
    async def get_blocked_sender(self, address: str) -> BlockedSender | None:
        """The Restricted entities entry for this address, or None when it may send."""
        ...

    async def list_blocked_senders(self) -> tuple[BlockedSender, ...]:
        """Every restricted sender of the tenant."""
        ...

    async def remove_blocked_sender(self, address: str) -> None:
        """Take the address off Restricted entities. Raises `UnblockLimitReached` past Microsoft's limit."""
        ...

    # Mailbox (Exchange)
    async def get_mailbox(self, identity: str) -> Mailbox | None:
        """`Get-Mailbox`, or None when the user has no mailbox."""
        ...

    async def get_cas_mailbox(self, identity: str) -> CasMailbox | None:
        """`Get-CASMailbox`, or None when the user has no mailbox."""
        ...

    async def remove_mailbox_forwarding(self, identity: str) -> None:
        """`Set-Mailbox` with forwarding cleared."""
        ...

    async def list_mailbox_grants(self, identity: str) -> tuple[MailboxGrant, ...]:
        """Who else may read or send as the mailbox: direct FullAccess (`Get-MailboxPermission`), SendAs
        (`Get-RecipientPermission`) and inbox folder permissions (`Get-MailboxFolderPermission`), one Exchange call
        each, per mailbox (Exchange has no many-mailbox form of these). SendOnBehalf is
        `Mailbox.grant_send_on_behalf_to` (Get-Mailbox). Raises `NotFound` when the user has no mailbox."""
        ...

    async def remove_mailbox_grant(self, identity: str, grant: MailboxGrant) -> None:
        """Take one grant off the mailbox, by its kind: `Remove-MailboxPermission` (FullAccess),
        `Remove-RecipientPermission` (SendAs), `Set-Mailbox -GrantSendOnBehalfTo @{Remove=…}` (SendOnBehalf),
        `Remove-MailboxFolderPermission` (a folder). Raises `NotFound` when Exchange says the grant is not there."""
        ...

    async def disable_legacy_protocols(self, identity: str, protocols: Sequence[str]) -> None:
        """`Set-CASMailbox` turning off the named protocols (`imap`, `pop`, `smtp_auth`) and no others."""
        ...

    # Mailbox (Graph)
    async def list_inbox_rules(self, user_id: str) -> tuple[InboxRule, ...]:
        """The inbox rules of the user's mailbox."""
        ...

    async def set_inbox_rule_enabled(self, user_id: str, rule_id: str, enabled: bool) -> None:
        """Enable or disable one inbox rule."""
        ...

    async def delete_inbox_rule(self, user_id: str, rule_id: str) -> None:
        """Delete one inbox rule. Raises `NotFound` when the rule is not there (any more)."""
        ...

    # Inbox rules (Exchange)
    async def get_inbox_rules(self, identity: str) -> tuple[InboxRule, ...]:
        """`Get-InboxRule -Mailbox identity -IncludeHidden`: every rule, hidden ones too (Graph omits those);
        an empty tuple when the user has no mailbox."""
        ...

    async def disable_exchange_inbox_rule(self, identity: str, rule_identity: str) -> None:
        """`Disable-InboxRule -Mailbox identity -Identity rule_identity -Confirm:$false`: a rule Graph cannot address
        (hidden). Raises `NotFound` when the rule (or the mailbox) is not there."""
        ...

    async def remove_exchange_inbox_rule(self, identity: str, rule_identity: str) -> None:
        """`Remove-InboxRule -Mailbox identity -Identity rule_identity -Confirm:$false`. Raises `NotFound` when the
        rule (or the mailbox) is not there (any more)."""
        ...

    async def get_auto_reply_enabled(self, user_id: str) -> bool:
        """Whether the mailbox's automatic replies are on (always or scheduled); `NotFound` without a mailbox."""
        ...

    async def list_mail_folders(self, user_id: str) -> tuple[MailFolder, ...]:
        """Top-level mail folders, to name the target of a move rule. Folders that Graph's well-known names
        (`deleteditems`, `junkemail`, `archive`, `conversationhistory`) resolve to carry that name in
        `well_known_name`, whatever the mailbox language; a well-known folder the mailbox lacks is no error."""
        ...

    # Sign-ins and audit (Graph, throttled hard)
    async def list_sign_ins(self, user_id: str, since: datetime, *, limit: int = 500) -> tuple[SignIn, ...]:
        """Sign-ins of the user since `since`, newest first."""
        ...

    async def list_directory_audits(self, user_id: str, since: datetime, *, limit: int = 200) -> tuple[
        DirectoryAudit, ...
    ]:
        """Directory audit records that target the user since `since`."""
        ...

    # Message trace (Graph, falling back to Exchange's Get-MessageTraceV2)
    async def list_message_traces(self, sender: str, since: datetime, until: datetime, *,
                                  limit: int = 5000) -> MessageTraces:
        """The mail `sender` sent between `since` and `until` (at most 10 days: the API's limit), one row per
        recipient, oldest first, at most `limit` rows (`capped` says more existed). Raises `NotProvisioned` when
        Graph's message-trace service principal is missing and the Exchange fallback cannot be run either."""
        ...

    # Changes and tenant-wide traps (investigation.changes, investigation.tenant_traps): tenant-wide reads, made once
    # per investigation or per outbreak and filtered per account by the caller.
    async def list_audit_changes(self, since: datetime) -> tuple[AuditChange, ...]:
        """Rule, forwarding, permission and transport rule changes since `since` from the unified audit log
        (`Search-UnifiedAuditLog`, synchronous, bounded), tenant-wide, newest first. Raises `LicenseRequired`
        when auditing is off or unlicensed."""
        ...

    async def list_transport_rules(self) -> tuple[TransportRule, ...]:
        """Every mail flow (transport) rule of the organisation (`Get-TransportRule`)."""
        ...

    async def list_outbound_spam_policies(self) -> tuple[OutboundSpamPolicy, ...]:
        """Every outbound spam policy of the organisation (`Get-HostedOutboundSpamFilterPolicy`), Default included."""
        ...

    async def list_app_audits(self, since: datetime) -> tuple[DirectoryAudit, ...]:
        """Entra audit records since `since` of new service principals, new app credentials, consents and app role
        assignments, tenant-wide (`/auditLogs/directoryAudits` filtered on activityDisplayName)."""
        ...

    # Identity Protection (Entra ID P2)
    async def get_risky_user(self, user_id: str) -> RiskyUser | None:
        """The user's risk, or None when Identity Protection has no record of them."""
        ...

    async def list_risk_detections(self, user_id: str, since: datetime) -> tuple[RiskDetection, ...]:
        """Risk detections of the user since `since`."""
        ...

    async def confirm_compromised(self, user_id: str) -> None:
        """Mark the user confirmed compromised (risk high)."""
        ...

    async def dismiss_risk(self, user_id: str) -> None:
        """Dismiss the user's risk."""
        ...

    # Authentication methods
    async def list_auth_methods(self, user_id: str) -> tuple[AuthMethod, ...]:
        """Registered authentication methods, the password included."""
        ...

    async def get_registration_details(self, user_id: str) -> RegistrationDetails | None:
        """MFA registration summary from the authentication methods report."""
        ...

    async def remove_auth_method(self, user_id: str, item_id: str) -> None:
        """Remove one authentication method (`item_id` = `AuthMethod.item_id`, `<kind>:<id>`); `NotFound` when it
        is gone already, `ValueError` for an id that names no removable method."""
        ...

    async def get_auth_method(self, user_id: str, item_id: str) -> AuthMethod | None:
        """One authentication method (`AuthMethod.item_id`), or None when it is gone."""
        ...

    # Consents
    async def list_oauth_grants(self, user_id: str) -> tuple[OAuthGrant, ...]:
        """Delegated permission grants the user consented to."""
        ...

    async def revoke_consent(self, user_id: str, grant_id: str) -> None:
        """Revoke the user's own delegated grant `grant_id` and the user's app role assignments to that app.
        `NotFound` when the grant is gone already; `ValueError` when it is not this user's own consent (a
        tenant-wide grant is never revoked here). Safe to repeat."""
        ...

    async def get_oauth_grant(self, grant_id: str) -> OAuthGrant | None:
        """One delegated permission grant, or None when it is gone."""
        ...

    async def get_service_principals(self, ids: Sequence[str]) -> tuple[ServicePrincipal, ...]:
        """The service principals with these ids (unknown ids are left out), from v1.0 properties only, each
        with `read_in_tenant` set to this tenant's id."""
        ...

    # Defender
    async def list_alerts(self, since: datetime, *, user_upn: str | None = None) -> tuple[SecurityAlert, ...]:
        """Defender alerts since `since`, for one user when `user_upn` is given."""
        ...

    # Account writes (Graph)
    async def revoke_sign_in_sessions(self, user_id: str) -> None:
        """Invalidate the user's refresh tokens and session cookies."""
        ...

    async def set_account_enabled(self, user_id: str, enabled: bool) -> None:
        """Block or allow sign-in. Raises `OnPremisesMastered` for synced users."""
        ...

    async def list_role_members(self, role_template_id: str) -> tuple[RoleMember, ...]:
        """The principals assigned the directory role with this template id (users with `accountEnabled`)."""
        ...

    async def remove_role_member(self, role_id: str, user_id: str) -> None:
        """Take the directory role `role_id` (its object id) from the user. Raises `NotFound` when the user does
        not hold it (any more)."""
        ...

    async def force_password_change(self, user_id: str) -> None:
        """Require a password change at next sign-in. Raises `OnPremisesMastered` for synced users."""
        ...


@runtime_checkable
class BulkTenant(Tenant, Protocol):
    """A `Tenant` that reads the evidence of many users per request (an outbreak's triage).

    Every method takes many user ids and answers for each of them: the records, None where a single lookup
    would say "there is none", or the `M365Error` that request failed with (a failure never raises, so one
    bad chunk or batch does not lose the other users). Each answer equals what the single-user method of
    `Tenant` would give for that user.
    """

    async def users_by_id(self, user_ids: Sequence[str]) -> dict[str, User | None | M365Error]:
        """`get_user` for each id."""
        ...

    async def sign_ins_by_user(
        self, user_ids: Sequence[str], since: datetime, *, limit_per_user: int = 500
    ) -> dict[str, tuple[SignIn, ...] | M365Error]:
        """`list_sign_ins` for each id, many users per request."""
        ...

    async def directory_audits_by_user(
        self, user_ids: Sequence[str], since: datetime, *, limit_per_user: int = 200
    ) -> dict[str, tuple[DirectoryAudit, ...] | M365Error]:
        """`list_directory_audits` for each id, many users per request."""
        ...

    async def risky_users_by_user(self, user_ids: Sequence[str]) -> dict[str, RiskyUser | None | M365Error]:
        """`get_risky_user` for each id, many users per request."""
        ...

    async def risk_detections_by_user(
        self, user_ids: Sequence[str], since: datetime
    ) -> dict[str, tuple[RiskDetection, ...] | M365Error]:
        """`list_risk_detections` for each id, many users per request."""
        ...

    async def registration_by_user(self, user_ids: Sequence[str]) -> dict[str, RegistrationDetails | None | M365Error]:
        """`get_registration_details` for each id, many users per request."""
        ...

    async def inbox_rules_by_user(self, user_ids: Sequence[str]) -> dict[str, tuple[InboxRule, ...] | M365Error]:
        """`list_inbox_rules` for each id."""
        ...

    async def mail_folders_by_user(self, user_ids: Sequence[str]) -> dict[str, tuple[MailFolder, ...] | M365Error]:
        """`list_mail_folders` for each id."""
        ...

    async def auth_methods_by_user(self, user_ids: Sequence[str]) -> dict[str, tuple[AuthMethod, ...] | M365Error]:
        """`list_auth_methods` for each id."""
        ...

    async def oauth_grants_by_user(self, user_ids: Sequence[str]) -> dict[str, tuple[OAuthGrant, ...] | M365Error]:
        """`list_oauth_grants` for each id."""
        ...

    async def memberships_by_user(self, user_ids: Sequence[str]) -> dict[str, tuple[DirectoryObject, ...] | M365Error]:
        """`list_memberships` for each id."""
        ...

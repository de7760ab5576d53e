"""A recording in-memory `Tenant` for unit and dialog tests (integration tests use the real demo tenant)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from m365.errors import NotFound
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
    MessageTrace,
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
    ThresholdAction,
    TransportRule,
    User,
    parse_method_item,
)

TENANT_ID = "4f8c2b1e-6d3a-4e5b-9c7d-1a2b3c4d5e6f"
IT_STAFF_GROUP = "6e1a2b3c-4d5e-4f60-8172-839405a6b7c8"
SECURITY_ADMIN_GROUP = "7f2b3c4d-5e6f-4071-8283-94a5b6c7d8e9"


@dataclass
class FakeTenant:
    """Holds records per user id; every call is appended to `calls` as (method, args)."""

    users: list[User] = field(default_factory=list)
    memberships: dict[str, list[DirectoryObject]] = field(default_factory=dict)
    # Members of a directory role per role template id (`list_role_members`).
    role_members: dict[str, list[RoleMember]] = field(default_factory=dict)
    blocked: dict[str, BlockedSender] = field(default_factory=dict)
    mailboxes: dict[str, Mailbox] = field(default_factory=dict)
    cas: dict[str, CasMailbox] = field(default_factory=dict)
    rules: dict[str, list[InboxRule]] = field(default_factory=dict)
    # `Get-InboxRule -IncludeHidden` per UPN (lower case); a mailbox not listed gives Exchange's view of `rules`.
    exchange_rules: dict[str, list[InboxRule]] = field(default_factory=dict)
    folders: dict[str, list[MailFolder]] = field(default_factory=dict)
    auto_replies: set[str] = field(default_factory=set)  # user ids whose automatic replies are on
    # FullAccess, SendAs and inbox folder grants per UPN (lower case); a mailbox not listed has none.
    mailbox_grants: dict[str, list[MailboxGrant]] = field(default_factory=dict)
    sign_ins: dict[str, list[SignIn]] = field(default_factory=dict)
    risky: dict[str, RiskyUser] = field(default_factory=dict)
    detections: dict[str, list[RiskDetection]] = field(default_factory=dict)
    methods: dict[str, list[AuthMethod]] = field(default_factory=dict)
    registration: dict[str, RegistrationDetails] = field(default_factory=dict)
    audits: dict[str, list[DirectoryAudit]] = field(default_factory=dict)
    grants: dict[str, list[OAuthGrant]] = field(default_factory=dict)
    principals: dict[str, ServicePrincipal] = field(default_factory=dict)
    alerts: list[SecurityAlert] = field(default_factory=list)
    # Tenant-wide: unified audit log changes (newest first is not required: the tenant sorts), mail flow rules and
    # the Entra audits of app changes (investigation.changes, investigation.tenant_traps).
    audit_changes: list[AuditChange] = field(default_factory=list)
    transport_rules: list[TransportRule] = field(default_factory=list)
    app_audits: list[DirectoryAudit] = field(default_factory=list)
    # Message-trace rows per sender address (lower case).
    traces: dict[str, list[MessageTrace]] = field(default_factory=dict)
    domains: tuple[str, ...] = ("example.com", "example.onmicrosoft.com")
    # Get-HostedOutboundSpamFilterPolicy: the Default policy with Microsoft's documented defaults.
    outbound_policies: tuple[OutboundSpamPolicy, ...] = (
        OutboundSpamPolicy("Default", is_default=True, action=ThresholdAction.block_user_for_today),)
    failures: dict[str, Exception] = field(default_factory=dict)
    calls: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)

    @property
    def tenant_id(self) -> str:
        """The fake tenant's id (the demo tenant's)."""
        return TENANT_ID

    def _call(self, name: str, *args: Any) -> None:
        self.calls.append((name, args))
        failure = self.failures.get(name)
        if failure is not None:
            raise failure

    def called(self, name: str) -> list[tuple[Any, ...]]:
        """The argument tuples of every call to `name`."""
        return [args for method, args in self.calls if method == name]

    async def ping(self) -> None:
        self._call("ping")

    async def get_user(self, id_or_upn: str) -> User | None:
        self._call("get_user", id_or_upn)
        key = id_or_upn.lower()
        return next((u for u in self.users if key in (u.id.lower(), u.user_principal_name.lower())), None)

    async def find_users(self, text: str, *, top: int = 10) -> tuple[User, ...]:
        self._call("find_users", text)
        key = text.lower()
        exact = [
            u
            for u in self.users
            if key in (u.user_principal_name.lower(), (u.mail or "").lower(), (u.mail_nickname or "").lower())
        ]
        if exact:
            return tuple(exact[:top])
        return tuple(u for u in self.users if key in u.display_name.lower())[:top]

    async def list_verified_domains(self) -> tuple[str, ...]:
        self._call("list_verified_domains")
        return self.domains

    async def list_outbound_spam_policies(self) -> tuple[OutboundSpamPolicy, ...]:
        self._call("list_outbound_spam_policies")
        return self.outbound_policies

    async def list_memberships(self, user_id: str) -> tuple[DirectoryObject, ...]:
        self._call("list_memberships", user_id)
        return tuple(self.memberships.get(user_id, ()))

    async def get_blocked_sender(self, address: str) -> BlockedSender | None:
        self._call("get_blocked_sender", address)
        return self.blocked.get(address.lower())

    async def list_blocked_senders(self) -> tuple[BlockedSender, ...]:
        self._call("list_blocked_senders")
        return tuple(self.blocked.values())

    async def remove_blocked_sender(self, address: str) -> None:
        self._call("remove_blocked_sender", address)
        self.blocked.pop(address.lower(), None)

    async def get_mailbox(self, identity: str) -> Mailbox | None:
        self._call("get_mailbox", identity)
        return self.mailboxes.get(identity.lower())

    async def get_cas_mailbox(self, identity: str) -> CasMailbox | None:
        self._call("get_cas_mailbox", identity)
        return self.cas.get(identity.lower())

    async def remove_mailbox_forwarding(self, identity: str) -> None:
        self._call("remove_mailbox_forwarding", identity)

    async def list_mailbox_grants(self, identity: str) -> tuple[MailboxGrant, ...]:
        self._call("list_mailbox_grants", identity)
        return tuple(self.mailbox_grants.get(identity.lower(), ()))

    async def remove_mailbox_grant(self, identity: str, grant: MailboxGrant) -> None:
        self._call("remove_mailbox_grant", identity, grant)
        grants = self.mailbox_grants.get(identity.lower(), [])
        if grant in grants:
            grants.remove(grant)
        mailbox = self.mailboxes.get(identity.lower())
        if mailbox is not None and grant.trustee in mailbox.grant_send_on_behalf_to:
            self.mailboxes[identity.lower()] = dataclasses.replace(mailbox, grant_send_on_behalf_to=tuple(
                t for t in mailbox.grant_send_on_behalf_to if t != grant.trustee))

    async def disable_legacy_protocols(self, identity: str, protocols: Sequence[str]) -> None:
        self._call("disable_legacy_protocols", identity, tuple(protocols))
        cas = self.cas.get(identity.lower())
        if cas is not None:
            self.cas[identity.lower()] = dataclasses.replace(
                cas, imap_enabled=cas.imap_enabled and "imap" not in protocols,
                pop_enabled=cas.pop_enabled and "pop" not in protocols,
                smtp_client_authentication_disabled=(True if "smtp_auth" in protocols
                                                     else cas.smtp_client_authentication_disabled))

    async def get_auto_reply_enabled(self, user_id: str) -> bool:
        self._call("get_auto_reply_enabled", user_id)
        return user_id in self.auto_replies

    async def list_inbox_rules(self, user_id: str) -> tuple[InboxRule, ...]:
        self._call("list_inbox_rules", user_id)
        return tuple(self.rules.get(user_id, ()))

    async def get_inbox_rules(self, identity: str) -> tuple[InboxRule, ...]:
        self._call("get_inbox_rules", identity)
        key = identity.lower()
        if key in self.exchange_rules:
            return tuple(self.exchange_rules[key])
        user = next((u for u in self.users if key in (u.id.lower(), u.user_principal_name.lower())), None)
        # The same rules as Graph's, as Exchange shows them (no Graph id, a RuleIdentity instead).
        return tuple(dataclasses.replace(r, id="", rule_identity=f"{1000 + i}", source="exchange")
                     for i, r in enumerate(self.rules.get(user.id, ()) if user else ()))

    async def set_inbox_rule_enabled(self, user_id: str, rule_id: str, enabled: bool) -> None:
        self._call("set_inbox_rule_enabled", user_id, rule_id, enabled)

    def _exchange_rule(self, identity: str, rule_identity: str) -> tuple[list[InboxRule], InboxRule]:
        # As Exchange: a rule that is not there is ManagementObjectNotFoundException "couldn't be found".
        rules = self.exchange_rules.get(identity.lower(), [])
        rule = next((r for r in rules if r.rule_identity == rule_identity), None)
        if rule is None:
            raise NotFound(f"The operation couldn't be performed because object '{rule_identity}' couldn't be found")
        return rules, rule

    async def disable_exchange_inbox_rule(self, identity: str, rule_identity: str) -> None:
        self._call("disable_exchange_inbox_rule", identity, rule_identity)
        rules, rule = self._exchange_rule(identity, rule_identity)
        rules[rules.index(rule)] = dataclasses.replace(rule, is_enabled=False)

    async def remove_exchange_inbox_rule(self, identity: str, rule_identity: str) -> None:
        self._call("remove_exchange_inbox_rule", identity, rule_identity)
        rules, rule = self._exchange_rule(identity, rule_identity)
        rules.remove(rule)

    async def delete_inbox_rule(self, user_id: str, rule_id: str) -> None:
        # As Graph: a rule that is not there is a 404 (messagerule-delete.md).
        self._call("delete_inbox_rule", user_id, rule_id)
        rules = self.rules.get(user_id, [])
        if not any(r.id == rule_id for r in rules):
            raise NotFound("ErrorItemNotFound", status=404)
        self.rules[user_id] = [r for r in rules if r.id != rule_id]

    async def list_mail_folders(self, user_id: str) -> tuple[MailFolder, ...]:
        self._call("list_mail_folders", user_id)
        return tuple(self.folders.get(user_id, ()))

    async def list_sign_ins(self, user_id: str, since: datetime, *, limit: int = 500) -> tuple[SignIn, ...]:
        self._call("list_sign_ins", user_id, since)
        return tuple(self.sign_ins.get(user_id, ()))[:limit]

    async def list_directory_audits(
        self, user_id: str, since: datetime, *, limit: int = 200
    ) -> tuple[DirectoryAudit, ...]:
        self._call("list_directory_audits", user_id, since)
        return tuple(self.audits.get(user_id, ()))[:limit]

    async def list_message_traces(self, sender: str, since: datetime, until: datetime, *,
                                  limit: int = 5000) -> MessageTraces:
        self._call("list_message_traces", sender, since, until)
        rows = sorted((r for r in self.traces.get(sender.lower(), ())
                       if r.received is not None and since <= r.received <= until), key=lambda r: r.received or since)
        return MessageTraces(rows=tuple(rows[:limit]), since=since, until=until, capped=len(rows) > limit, cap=limit)

    async def get_risky_user(self, user_id: str) -> RiskyUser | None:
        self._call("get_risky_user", user_id)
        return self.risky.get(user_id)

    async def list_risk_detections(self, user_id: str, since: datetime) -> tuple[RiskDetection, ...]:
        self._call("list_risk_detections", user_id, since)
        return tuple(self.detections.get(user_id, ()))

    async def confirm_compromised(self, user_id: str) -> None:
        self._call("confirm_compromised", user_id)

    async def dismiss_risk(self, user_id: str) -> None:
        self._call("dismiss_risk", user_id)

    async def list_auth_methods(self, user_id: str) -> tuple[AuthMethod, ...]:
        self._call("list_auth_methods", user_id)
        return tuple(self.methods.get(user_id, ()))

    async def get_registration_details(self, user_id: str) -> RegistrationDetails | None:
        self._call("get_registration_details", user_id)
        return self.registration.get(user_id)

    async def list_oauth_grants(self, user_id: str) -> tuple[OAuthGrant, ...]:
        self._call("list_oauth_grants", user_id)
        return tuple(self.grants.get(user_id, ()))

    async def remove_auth_method(self, user_id: str, item_id: str) -> None:
        # As `M365Tenant`: the id names a removable kind; a method that is gone is Graph's 404.
        self._call("remove_auth_method", user_id, item_id)
        if parse_method_item(item_id) is None:
            raise ValueError("not a removable authentication method id")
        methods = self.methods.get(user_id, [])
        if not any(m.item_id == item_id for m in methods):
            raise NotFound("Request_ResourceNotFound", status=404)
        self.methods[user_id] = [m for m in methods if m.item_id != item_id]

    async def get_auth_method(self, user_id: str, item_id: str) -> AuthMethod | None:
        self._call("get_auth_method", user_id, item_id)
        return next((m for m in self.methods.get(user_id, ()) if m.item_id == item_id), None)

    async def revoke_consent(self, user_id: str, grant_id: str) -> None:
        self._call("revoke_consent", user_id, grant_id)
        grants = self.grants.get(user_id, [])
        grant = next((g for g in grants if g.id == grant_id), None)
        if grant is None:
            raise NotFound("Request_ResourceNotFound", status=404)
        if grant.consent_type.lower() != "principal":
            raise ValueError("not this user's own consent")
        self.grants[user_id] = [g for g in grants if g.id != grant_id]

    async def get_oauth_grant(self, grant_id: str) -> OAuthGrant | None:
        self._call("get_oauth_grant", grant_id)
        return next((g for grants in self.grants.values() for g in grants if g.id == grant_id), None)

    async def get_service_principals(self, ids: Sequence[str]) -> tuple[ServicePrincipal, ...]:
        self._call("get_service_principals", tuple(ids))
        # As `M365Tenant`: each principal says which tenant it was read in.
        return tuple(dataclasses.replace(self.principals[i], read_in_tenant=TENANT_ID)
                     for i in ids if i in self.principals)

    async def list_alerts(self, since: datetime, *, user_upn: str | None = None) -> tuple[SecurityAlert, ...]:
        self._call("list_alerts", since, user_upn)
        if user_upn is None:
            return tuple(self.alerts)
        return tuple(a for a in self.alerts if user_upn.lower() in (u.lower() for u in a.user_upns))

    async def list_audit_changes(self, since: datetime) -> tuple[AuditChange, ...]:
        self._call("list_audit_changes", since)
        return tuple(c for c in self.audit_changes if c.time is None or c.time >= since)

    async def list_transport_rules(self) -> tuple[TransportRule, ...]:
        self._call("list_transport_rules")
        return tuple(self.transport_rules)

    async def list_app_audits(self, since: datetime) -> tuple[DirectoryAudit, ...]:
        self._call("list_app_audits", since)
        return tuple(a for a in self.app_audits if a.activity_time is None or a.activity_time >= since)

    async def revoke_sign_in_sessions(self, user_id: str) -> None:
        self._call("revoke_sign_in_sessions", user_id)

    async def set_account_enabled(self, user_id: str, enabled: bool) -> None:
        self._call("set_account_enabled", user_id, enabled)

    async def list_role_members(self, role_template_id: str) -> tuple[RoleMember, ...]:
        self._call("list_role_members", role_template_id)
        return tuple(self.role_members.get(role_template_id, ()))

    async def remove_role_member(self, role_id: str, user_id: str) -> None:
        # As Graph (directoryrole-delete-member.md): the membership goes; a principal not holding it is a 404.
        self._call("remove_role_member", role_id, user_id)
        held = self.memberships.get(user_id, [])
        if not any(m.id == role_id for m in held):
            raise NotFound("Request_ResourceNotFound", status=404)
        self.memberships[user_id] = [m for m in held if m.id != role_id]

    async def force_password_change(self, user_id: str) -> None:
        self._call("force_password_change", user_id)

    # Bulk reads (`m365.protocol.BulkTenant`): one recorded call for many users; a failure set for the bulk
    # method or for its single-user counterpart is answered for every user (never raised), as the real tenant does.
    async def _each(self, name: str, single: str, user_ids: Sequence[str], read: Any) -> dict[str, Any]:
        self.calls.append((name, (tuple(user_ids),)))
        failure = self.failures.get(name) or self.failures.get(single)
        return {i: failure if failure is not None else read(i) for i in dict.fromkeys(user_ids)}

    async def users_by_id(self, user_ids: Sequence[str]) -> dict[str, Any]:
        by_id = {u.id: u for u in self.users}
        return await self._each("users_by_id", "get_user", user_ids, by_id.get)

    async def sign_ins_by_user(self, user_ids: Sequence[str], since: datetime, *,
                               limit_per_user: int = 500) -> dict[str, Any]:
        return await self._each("sign_ins_by_user", "list_sign_ins", user_ids,
                                lambda i: tuple(self.sign_ins.get(i, ()))[:limit_per_user])

    async def directory_audits_by_user(self, user_ids: Sequence[str], since: datetime, *,
                                       limit_per_user: int = 200) -> dict[str, Any]:
        return await self._each("directory_audits_by_user", "list_directory_audits", user_ids,
                                lambda i: tuple(self.audits.get(i, ()))[:limit_per_user])

    async def risky_users_by_user(self, user_ids: Sequence[str]) -> dict[str, Any]:
        return await self._each("risky_users_by_user", "get_risky_user", user_ids, self.risky.get)

    async def risk_detections_by_user(self, user_ids: Sequence[str], since: datetime) -> dict[str, Any]:
        return await self._each("risk_detections_by_user", "list_risk_detections", user_ids,
                                lambda i: tuple(self.detections.get(i, ())))

    async def registration_by_user(self, user_ids: Sequence[str]) -> dict[str, Any]:
        return await self._each("registration_by_user", "get_registration_details", user_ids, self.registration.get)

    async def inbox_rules_by_user(self, user_ids: Sequence[str]) -> dict[str, Any]:
        return await self._each("inbox_rules_by_user", "list_inbox_rules", user_ids,
                                lambda i: tuple(self.rules.get(i, ())))

    async def mail_folders_by_user(self, user_ids: Sequence[str]) -> dict[str, Any]:
        return await self._each("mail_folders_by_user", "list_mail_folders", user_ids,
                                lambda i: tuple(self.folders.get(i, ())))

    async def auth_methods_by_user(self, user_ids: Sequence[str]) -> dict[str, Any]:
        return await self._each("auth_methods_by_user", "list_auth_methods", user_ids,
                                lambda i: tuple(self.methods.get(i, ())))

    async def oauth_grants_by_user(self, user_ids: Sequence[str]) -> dict[str, Any]:
        return await self._each("oauth_grants_by_user", "list_oauth_grants", user_ids,
                                lambda i: tuple(self.grants.get(i, ())))

    async def memberships_by_user(self, user_ids: Sequence[str]) -> dict[str, Any]:
        return await self._each("memberships_by_user", "list_memberships", user_ids,
                                lambda i: tuple(self.memberships.get(i, ())))


def group(group_id: str, name: str) -> DirectoryObject:
    """A security group membership record."""
    return DirectoryObject(id=group_id, kind="group", display_name=name)


def directory_role(template_id: str, name: str) -> DirectoryObject:
    """A directory role membership record."""
    return DirectoryObject(id=f"role-{template_id[:8]}", kind="directoryRole", display_name=name,
                           role_template_id=template_id)


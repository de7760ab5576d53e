"""The evidence about one account: what each source returned, or why it could not be read.

`Evidence` is the single input of the indicators and the verdict. The collector fills it; everything
downstream only reads it. The rule that matters: a source is either *checked* (its records, possibly
empty) or *unavailable* (listed in `Evidence.unavailable` with a reason). Indicators must be able to tell
"no inbox rules" from "we could not read the inbox rules", because only the first one lets the bot say
"no signs of compromise".

How a source is represented:

- Collections (`inbox_rules`, `sign_ins`, ...) are a tuple when checked (empty means "none found") and
  `None` when not checked.
- Single records (`mailbox`, `cas_mailbox`, `risky_user`, `registration`) are `None` both for "checked,
  there is none" (no Identity Protection record, for example) and for "not checked". They are therefore
  available unless the collector lists them in `unavailable` — the collector must list every source it
  could not read.
- The restriction has its own marker, `restricted`: True/False when `Get-BlockedSenderAddress` answered,
  None when it did not.
- `auto_reply_enabled` is True/False when checked, None when not.

All strings in the records come from the tenant and may be attacker-written; nothing here renders them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from investigation.sources import CHECKED_BY, SourceName, UnavailableReason
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
    SecurityAlert,
    ServicePrincipal,
    SignIn,
    TransportRule,
    User,
)

__all__ = ["Evidence", "SourceName", "Unavailable", "UnavailableReason"]


@dataclass(frozen=True)
class Unavailable:
    """A source that could not be read, and why (`detail`: e.g. the missing permission's name)."""

    source: SourceName
    reason_code: UnavailableReason
    detail: str = ""


@dataclass(frozen=True)
class Evidence:
    """Everything gathered about one account at `now`, over the last `window_days` days.

    See the module docstring for how "checked" and "not checked" are told apart per source.
    `verified_domains` are the tenant's verified domains (lower case); an address in one of them, or in a
    subdomain of one, is inside the tenant.
    """

    user: User
    now: datetime
    window_days: int = 7
    verified_domains: tuple[str, ...] = ()
    restriction: BlockedSender | None = None
    restricted: bool | None = None
    mailbox: Mailbox | None = None
    cas_mailbox: CasMailbox | None = None
    inbox_rules: tuple[InboxRule, ...] | None = None
    mail_folders: tuple[MailFolder, ...] | None = None
    sign_ins: tuple[SignIn, ...] | None = None
    risky_user: RiskyUser | None = None
    risk_detections: tuple[RiskDetection, ...] | None = None
    auth_methods: tuple[AuthMethod, ...] | None = None
    registration: RegistrationDetails | None = None
    directory_audits: tuple[DirectoryAudit, ...] | None = None
    oauth_grants: tuple[OAuthGrant, ...] | None = None
    service_principals: tuple[ServicePrincipal, ...] | None = None
    memberships: tuple[DirectoryObject, ...] | None = None
    alerts: tuple[SecurityAlert, ...] | None = None
    auto_reply_enabled: bool | None = None
    # Audit log changes about the account in the window (investigation.changes), newest first; None: not checked.
    mailbox_audit: tuple[AuditChange, ...] | None = None
    # Tenant-wide (investigation.tenant_traps): every mail flow rule, and the Entra audit records of new apps, app
    # credentials and consents in the window; None: not checked.
    transport_rules: tuple[TransportRule, ...] | None = None
    app_changes: tuple[DirectoryAudit, ...] | None = None
    # The sent mail of the window (message trace); None when not checked. Its rows are tenant text.
    message_traces: MessageTraces | None = None
    # Direct FullAccess, SendAs and inbox folder grants to others (None: not checked); `delegates` are the directory
    # users those grants name, as far as they could be looked up (SendOnBehalf is `mailbox.grant_send_on_behalf_to`).
    mailbox_grants: tuple[MailboxGrant, ...] | None = None
    delegates: tuple[User, ...] = ()
    # The tenant's outbound spam policies (Get-HostedOutboundSpamFilterPolicy), read once per investigation or bulk
    # read; None: not checked. Says when a restriction lifts by itself (investigation.resume).
    outbound_spam_policies: tuple[OutboundSpamPolicy, ...] | None = None
    unavailable: tuple[Unavailable, ...] = ()

    def __post_init__(self) -> None:
        # A restriction record means restricted, whatever the caller passed: one fact, one answer.
        if self.restriction is not None and self.restricted is not True:
            object.__setattr__(self, "restricted", True)
        # Naive datetimes would make every window comparison raise; treat them as UTC like the records do.
        if self.now.tzinfo is None:
            object.__setattr__(self, "now", self.now.replace(tzinfo=UTC))

    @property
    def window_start(self) -> datetime:
        """The start of the look-back window (`now - window_days`)."""
        return self.now - timedelta(days=self.window_days)

    def in_window(self, when: datetime | None) -> bool:
        """True when `when` lies in the window. Unknown times are not in it."""
        return when is not None and self.window_start <= when <= self.now + timedelta(minutes=5)

    def unavailable_reason(self, source: SourceName) -> Unavailable | None:
        """Why `source` could not be read, or None when nothing was recorded for it."""
        for item in self.unavailable:
            if item.source == source:
                return item
        return None

    def is_available(self, source: SourceName) -> bool:
        """True when `source` was checked, so an empty answer really means "none"."""
        if self.unavailable_reason(source) is not None:
            return False
        checked_by = CHECKED_BY.get(source)
        if checked_by is not None:
            # A collection or flag left None without a recorded reason was simply not checked.
            return getattr(self, checked_by) is not None
        return True

    @property
    def missing_sources(self) -> tuple[SourceName, ...]:
        """Every source that was not checked, in `SourceName` order."""
        return tuple(source for source in SourceName if not self.is_available(source))

"""When a restricted account can send again without anyone acting: `when_sending_resumes(evidence)`.

Pure, from the restriction (`Get-BlockedSenderAddress`: its reason and `ExpireDatetime`) and the tenant's outbound
spam policies (`Get-HostedOutboundSpamFilterPolicy`, source `outbound_spam_policy`). The rules, in order:

1. Not restricted (or not known to be): nothing to say (None).
2. The entry carries an expiry (`ExpireDatetime`) still ahead: sending resumes then, by itself.
3. The reason says the account hit a recipient limit (`EmailSendingLimitExceeded`, an external, internal or rate
   limit): the outbound spam policy's `ActionWhenThresholdReached` decides (defender-docs
   defender-office-365/outbound-spam-policies-configure.md @0602f3faf483a2b51eee06672cb9924fdf4a827f,
   "Restriction placed on users who reach the message limit"):
   - `BlockUserForToday` (the default): "the user is unable to send any more messages until the following day,
     based on UTC time" — sending resumes at the next 00:00 UTC after the restriction began, by itself.
   - `BlockUser`: "the user can't send email until they're removed from Restricted users by an admin".
   - `Alert`: the policy does not block, so this restriction came from elsewhere: unknown.
   Which policy applies: the tenant's enabled policies when they all take the same action (the Default policy
   applies to everyone no custom policy covers); when custom policies take another action than the Default, who is
   covered by which (`Get-HostedOutboundSpamFilterRule`) is not read, so the answer is unknown.
4. The reason is outbound spam (Microsoft's spam verdict on the mail) or says "Compromised": only an admin's unblock
   lifts it (defender-docs defender-office-365/outbound-spam-restore-restricted-users.md, "Remove blocked users from
   the Restricted entities page").
5. Otherwise (no policy read, a reason we cannot place): unknown — never a guessed time.

An unblock spends one of a limited number Microsoft allows per account ("There's a limit to the number of times you
can unblock a Microsoft 365 account. If you exceed the unblock limit for a user, you get an error, and you need to
contact Microsoft Support": office-docs-powershell exchange/exchange-ps/ExchangePowerShell/
Remove-BlockedSenderAddress.md @ff69d5de298c72239fbe9c6018d4d2f14256d1c5; Microsoft publishes no number).
`Resume.lifts_by_itself` tells the Unblock confirmation to say so before it spends one on a block that ends anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum

from investigation.evidence import Evidence, SourceName
from investigation.reason import LimitType, parse_reason
from m365.records import OutboundSpamPolicy, Release, ThresholdAction

POLICIES_URL = "https://learn.microsoft.com/defender-office-365/outbound-spam-policies-configure"
UNBLOCK_LIMIT_URL = "https://learn.microsoft.com/powershell/module/exchangepowershell/remove-blockedsenderaddress"

_RECIPIENT_LIMITS = frozenset({LimitType.external_recipient_limit, LimitType.internal_recipient_limit,
                               LimitType.recipient_rate_limit})


class ResumeKind(StrEnum):
    """How the restriction ends."""

    by_itself = "by_itself"  # at `Resume.at`, without anyone acting
    admin = "admin"  # only an admin's unblock (Restricted entities) ends it
    unknown = "unknown"  # the policy could not be read, or does not say


@dataclass(frozen=True)
class Resume:
    """When sending resumes: the kind, the time for `by_itself`, the policy that said so (its name) and why
    (`basis`: "expiry", "policy", "spam", "no_policy", "policies_differ", "alert_only", "reason_unknown")."""

    kind: ResumeKind
    at: datetime | None = None
    policy: str = ""
    basis: str = ""

    def lifts_by_itself(self, now: datetime) -> bool:
        """True when the block ends by itself later than `now`: an unblock now would spend one for nothing."""
        return self.kind == ResumeKind.by_itself and self.at is not None and self.at > now


def next_utc_day(when: datetime) -> datetime:
    """00:00 UTC of the day after `when` (a naive time is taken as UTC, as the records do)."""
    utc = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return datetime.combine(utc.date() + timedelta(days=1), time(0, 0), tzinfo=UTC)


def applicable_policy(policies: Sequence[OutboundSpamPolicy]) -> tuple[OutboundSpamPolicy | None, str]:
    """The policy whose action applies to every sender, or None with why ("no_policy", "policies_differ")."""
    enabled = [p for p in policies if p.enabled or p.is_default]
    if not enabled:
        return None, "no_policy"
    actions = {p.action for p in enabled}
    if len(actions) > 1:
        return None, "policies_differ"
    default = next((p for p in enabled if p.is_default), enabled[0])
    return default, ""


def when_sending_resumes(evidence: Evidence) -> Resume | None:
    """When the account can send again without action (see the module docstring); None when not restricted."""
    record = evidence.restriction
    if evidence.restricted is not True or record is None:
        return None
    if record.expires is not None and record.expires > evidence.now:
        return Resume(ResumeKind.by_itself, record.expires, basis="expiry")
    reason = parse_reason(record.reason)
    if reason.limit_type in (LimitType.outbound_spam, LimitType.compromised) or reason.compromised_flag:
        return Resume(ResumeKind.admin, basis="spam")
    if reason.limit_type not in _RECIPIENT_LIMITS:
        return Resume(ResumeKind.unknown, basis="reason_unknown")
    policies = evidence.outbound_spam_policies
    if policies is None or not evidence.is_available(SourceName.outbound_spam_policy):
        return Resume(ResumeKind.unknown, basis="no_policy")
    policy, why = applicable_policy(policies)
    if policy is None:
        return Resume(ResumeKind.unknown, basis=why)
    if policy.release == Release.next_utc_day:
        began = record.created or record.changed or evidence.now
        return Resume(ResumeKind.by_itself, next_utc_day(began), policy=policy.name, basis="policy")
    if policy.release == Release.admin:
        return Resume(ResumeKind.admin, policy=policy.name, basis="policy")
    basis = "alert_only" if policy.action == ThresholdAction.alert else "reason_unknown"
    return Resume(ResumeKind.unknown, policy=policy.name, basis=basis)

"""Delegation: who else may read the mailbox or send as it, and which of those grants are signs.

Evidence: `Evidence.mailbox_grants` (Exchange `Get-MailboxPermission` FullAccess, `Get-RecipientPermission` SendAs,
`Get-MailboxFolderPermission` on the inbox; inherited entries, NT AUTHORITY\\SELF and Default/Anonymous with None
already left out by the parsers), `Evidence.mailbox.grant_send_on_behalf_to` (Get-Mailbox) and `Evidence.delegates`
(the directory users the trustees resolved to).

Judgement, one finding per grant, the first rule that applies:

1. **Outside the organisation** (`delegate_outside`, high): the trustee is a guest (`#EXT#` in its name or UPN, or
   `userType` Guest once resolved) or an address outside the verified domains. Someone outside reading the mailbox
   (FullAccess, the inbox) or sending as it (SendAs, SendOnBehalf) is how a business-email compromise keeps access
   after the password is reset; legitimate cross-organisation delegation goes through shared mailboxes of the other
   tenant, not guest accounts in this one.
2. **To an account created recently** (`delegate_new_account`, medium): the trustee's `createdDateTime` lies within
   `NEW_ACCOUNT_DAYS` of now. An intruder with directory rights creates a helper account and hands it the mailbox;
   a new assistant gets the same, which is why it is "needs a look", not a sign on its own.
3. Otherwise ordinary delegation (an assistant with SendOnBehalf for years): listed, not judged, in one
   `delegates_listed` finding (low: context for the admin) so the card shows who has access.

**When was it granted.** None of the cmdlets says; the audit log does (`investigation.changes`, the unified audit
log's Add-MailboxPermission, Add-RecipientPermission, Add-/Set-MailboxFolderPermission and Set-Mailbox
-GrantSendOnBehalfTo records). A grant made in the window is a finding of that module (`permission_granted`: medium,
high to an outsider, with who, when and from which IP), not of this one: one grant, one "recently granted" finding.
Here the date (`granted_at`) is an evidence row of the grant's finding; unknown when the audit log was not read or
the grant is older than the window.

Every per-grant finding carries `subject_id` = `MailboxGrant.subject_id` (kind, trustee, folder), so a later
remediation button ("remove this delegate") can target exactly that grant. Trustee names are tenant text: they go
into params and evidence rows, which the card makes inert.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from investigation.changes import _about_user, grant_changes
from investigation.evidence import Evidence, SourceName
from investigation.indicators import Finding, Severity, _finding, _iso, _join, is_external
from m365.records import GrantKind, MailboxGrant, User

# An account at most this old when it holds rights on someone else's mailbox is "created recently".
NEW_ACCOUNT_DAYS = 30
# Ordinary delegates shown on the card at most (the count says how many there are).
MAX_LISTED = 10


def grants_of(evidence: Evidence) -> tuple[MailboxGrant, ...]:
    """Every grant on the mailbox the evidence holds: the delegation source's and Get-Mailbox's SendOnBehalf."""
    grants = list(evidence.mailbox_grants or ())
    if evidence.mailbox is not None:
        grants.extend(MailboxGrant.send_on_behalf(evidence.mailbox))
    return tuple(dict.fromkeys(grants))


def trustee_user(grant: MailboxGrant, evidence: Evidence) -> User | None:
    """The directory user the grant's trustee resolved to (by UPN, address, alias, display name or id), or None."""
    wanted = grant.trustee.strip().lower()
    for user in evidence.delegates:
        names = (user.id, user.user_principal_name, user.mail or "", user.mail_nickname or "", user.display_name)
        if wanted in (n.lower() for n in names if n):
            return user
    return None


def is_outside(grant: MailboxGrant, evidence: Evidence) -> bool:
    """True when the trustee is a guest or an address outside the organisation's verified domains."""
    if "#EXT#" in grant.trustee.upper():
        return True
    user = trustee_user(grant, evidence)
    if user is not None and user.is_guest:
        return True
    return is_external(grant.trustee, evidence)


def granted_at(grant: MailboxGrant, evidence: Evidence) -> datetime | None:
    """When the grant was made in the window, from the audit log (`investigation.changes.grant_changes`); None when
    unknown. The audit names the trustee as whoever ran the cmdlet typed it, so every name the trustee resolved to
    is tried. SendOnBehalf, which `grant_changes` does not cover, is dated by Set-Mailbox -GrantSendOnBehalfTo."""
    user = trustee_user(grant, evidence)
    names = {grant.trustee.lower()}
    if user is not None:
        names |= {n.lower() for n in (user.id, user.user_principal_name, user.mail or "", user.mail_nickname or "",
                                       user.display_name) if n}
    if grant.kind == GrantKind.send_on_behalf:
        return _send_on_behalf_set(names, evidence)
    mailbox = evidence.user.user_principal_name.lower()
    times = [when for (owner, trustee, kind), when in grant_changes(evidence).items()
             if owner == mailbox and kind == grant.kind.value.lower() and trustee in names]
    return max(times) if times else None


def _send_on_behalf_set(names: set[str], evidence: Evidence) -> datetime | None:
    # The parameter's value is as typed: "LynneR", "@{Add=\"LynneR\"}", a list; the trustee's name inside it counts.
    times = [change.time for change in evidence.mailbox_audit or ()
             if change.time is not None and change.operation.lower() == "set-mailbox"
             and evidence.in_window(change.time) and _about_user(change, evidence)
             and any(name in change.parameter("GrantSendOnBehalfTo").lower() for name in names)]
    return max(times, default=None)


def _recently_created(user: User | None, evidence: Evidence) -> datetime | None:
    """When the trustee's account was created, if that was within `NEW_ACCOUNT_DAYS`; else None."""
    created = user.created if user is not None else None
    if created is not None and evidence.now - timedelta(days=NEW_ACCOUNT_DAYS) <= created <= evidence.now + timedelta(
            minutes=5):
        return created
    return None


def access_text(grant: MailboxGrant) -> str:
    """What the grant allows, in Exchange's words: `FullAccess`, `SendAs`, `SendOnBehalf`, `Inbox: Reviewer`."""
    if grant.kind == GrantKind.folder:
        return f"{grant.folder or 'Inbox'}: {_join(grant.rights)}"
    return grant.kind.value


def _rows(grant: MailboxGrant, user: User | None, when: datetime | None) -> list[tuple[str, str]]:
    rows = [("trustee", grant.trustee), ("access", access_text(grant))]
    if user is not None and user.user_principal_name and user.user_principal_name != grant.trustee:
        rows.append(("account", user.user_principal_name))
    if user is not None and user.created is not None:
        rows.append(("created", _iso(user.created)))
    if when is not None:
        rows.append(("time", _iso(when)))
    return rows


def _listed(grants: Iterable[MailboxGrant]) -> list[Finding]:
    ordinary = list(grants)
    if not ordinary:
        return []
    rows: list[tuple[str, str]] = []
    for grant in ordinary[:MAX_LISTED]:
        rows += [("trustee", grant.trustee), ("access", access_text(grant))]
    # One grant is one subject; several share the finding, so none of them is its subject.
    subject = ordinary[0].subject_id if len(ordinary) == 1 else None
    return [_finding("delegates_listed", Severity.low, SourceName.delegation, rows,
                     {"delegates": _join(g.trustee for g in ordinary), "count": str(len(ordinary))},
                     subject_id=subject)]


def delegation(evidence: Evidence) -> list[Finding]:
    """The module docstring's rules, one finding per grant that is a sign, then the rest listed as context."""
    findings: list[Finding] = []
    ordinary: list[MailboxGrant] = []
    for grant in grants_of(evidence):
        user = trustee_user(grant, evidence)
        when = granted_at(grant, evidence)
        rows = _rows(grant, user, when)
        params = {"trustee": grant.trustee, "access": access_text(grant)}
        if is_outside(grant, evidence):
            findings.append(_finding("delegate_outside", Severity.high, SourceName.delegation, rows, params,
                                     subject_id=grant.subject_id))
        elif (created := _recently_created(user, evidence)) is not None:
            findings.append(_finding("delegate_new_account", Severity.medium, SourceName.delegation, rows,
                                     {**params, "created": _iso(created)}, subject_id=grant.subject_id))
        else:
            ordinary.append(grant)
    return findings + _listed(ordinary)

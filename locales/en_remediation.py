"""English messages of the remediation feature (refusals, outcomes, confirmations, the card's new parts)."""

MESSAGES: dict[str, str] = {
    # Refusals (remediation.policy and the press handling)
    "remediation.refused.other_tenant": "This card belongs to another organisation; I can't act on it here.",
    "remediation.refused.staff_only": "Only IT staff can use this button.",
    "remediation.refused.unknown_verb": "This button is no longer valid. Ask me again for a fresh card.",
    "remediation.refused.admin_only": "Only security admins can change accounts. You can investigate and refresh; "
    "ask a security admin to take this step.",
    "remediation.refused.user": "Only security admins can change accounts. If your own mail bounces, tell me "
    "\"my mail bounces\" and I will check your account.",
    "remediation.refused.own_account": "You can't act on your own account: ask another security admin. This "
    "keeps a compromised admin account from unblocking itself.",
    "remediation.refused.dismiss_compromised": "This account was judged compromised, so its user risk stays "
    "until the account is secure.",
    "remediation.refused.unknown_case": "I don't know this case. Ask me again for a fresh card.",
    "remediation.refused.rule_unknown": "That inbox rule is not one the investigation found. Refresh the card "
    "and try again.",
    "remediation.refused.not_restricted": "The last check found this account not restricted, so there is "
    "nothing to unblock. Refresh to check again.",
    "remediation.refused.closed": "This case is closed.",
    "remediation.refused.no_snapshot": "I no longer have the details of this case. Refresh the card first.",
    "remediation.refresh.account_gone": "This account no longer exists in the directory.",
    "remediation.refresh.running": "Still investigating (Microsoft 365 is slow to answer). This card updates when "
    "the findings are in.",
    "remediation.refresh.failed": "I couldn't reach Microsoft 365 to investigate again. Please try again in a "
    "few minutes.",
    "remediation.permission_unknown": "a permission or role",
    "remediation.working": "Working on it — this card will update: Microsoft 365 is slow to answer, and the card "
    "shows the outcome when it is in.",
    "remediation.store.not_recorded": "Could not record the action, so nothing was done: the bot's database is "
    "not available right now. Please try again in a minute.",
    "remediation.store.outcome_not_recorded": "{action} was sent to Microsoft 365, but its outcome could not be "
    "recorded: the bot's database is not available. The bot checks the outcome and records it when the database "
    "is back; refresh the card later.",
    # Notices under the card's header
    "notice.done": "Done: {action}.",
    "notice.pending": "Unblocked by {actor} at {time}. Sending usually resumes within an hour, at most 24 hours; "
    "this card changes when it has.",
    "notice.restored": "Sending restored at {time}: the account is no longer on Restricted entities.",
    "notice.still_listed": "Still on Restricted entities 24 hours after the unblock at {time}. Check Restricted "
    "entities in Microsoft Defender, or contact Microsoft support.",
    "notice.already_unblocked": "Already unblocked by {actor} at {time}; nothing was sent to Microsoft 365 again.",
    "notice.already_done": "{action}: already done by {actor} at {time}; nothing was done again.",
    "notice.in_progress": "Someone else is doing this right now. Refresh in a moment to see the result.",
    "notice.other_failed": "Someone else just tried this and it failed (see the latest actions).",
    "notice.gated": "Unblocking is held back until the required steps are done. Still to do: {steps}. Or give a "
    "reason to unblock anyway.",
    "notice.reason_missing": "Give a reason to unblock anyway; it is kept in the audit log.",
    "notice.reason_too_short": "The reason is too short: write at least {count} visible characters (spaces and "
    "invisible characters do not count). It is kept in the audit log.",
    "notice.closed": "This case is closed.",
    "notice.support_link": "Open a Microsoft support request",
    "notice.failed.unblock_limit": "Microsoft refused the unblock: this account was unblocked the maximum number "
    "of times. Only Microsoft support can unblock this account now.",
    "notice.failed.on_premises": "{action} was refused: this account is synced from on-premises Active "
    "Directory, so Microsoft 365 cannot change it. Reset the password (or disable the account) in on-premises "
    "Active Directory; the change reaches Microsoft 365 with the next sync.",
    "notice.failed.permission": "{action} failed: the bot's app lacks {permission}. An administrator must grant "
    "it (Entra ID app permissions or Exchange role), then try again.",
    "notice.failed.license": "{action} failed: the tenant lacks the licence it needs ({license}).",
    "notice.failed.throttled": "{action} failed: Microsoft 365 asked the bot to slow down. Nothing changed; try "
    "again in a few minutes.",
    "notice.failed.upstream": "{action} failed: Microsoft 365 did not answer after several tries. Nothing is "
    "confirmed as changed; try again in a few minutes.",
    "notice.failed.unconfirmed": "{action}: Microsoft 365 did not confirm it in time, so it may or may not have "
    "happened. Check in Microsoft 365 (or refresh the card) before trying again.",
    "notice.failed.not_found": "{action} failed: Microsoft 365 no longer knows the account or the rule. Refresh "
    "the card.",
    "notice.failed.rejected": "{action} failed: Microsoft 365 refused the request.",
    "notice.failed.error": "{action} failed. The details are in the bot's log and the audit log.",
    # Latest actions
    "note.failed_action": "{action} by {actor} failed at {time}",
    "note.unknown_action": "{action} by {actor} at {time} was not confirmed; whether it took effect is unknown. "
    "Check in Microsoft 365 before trying again",
    "note.restored": "Sending restored, confirmed at {time}",
    "note.unblock_expired": "Still restricted 24 hours after the unblock, checked at {time}",
    # The gate
    "gate.missing": "Still to do: {steps}",
    "gate.step.disable_rule": "Disable inbox rule “{rule}”",
    # "Done, I checked": steps a person does in a Microsoft portal (investigation.verdict.PERSON_STEPS)
    "button.review_mfa_methods": "Done, I checked",
    "button.review_consents": "Done, I checked",
    "remediation.action.review_mfa_methods": "Review the MFA methods",
    "remediation.action.review_consents": "Review the app consents",
    "note.mfa_methods_reviewed": "MFA methods checked by {actor} at {time}",
    "note.consents_reviewed": "App consents checked by {actor} at {time}",
    "remediation.refused.step_unknown": "That step is not one the investigation asked for. Refresh the card and "
    "try again.",
    "restriction.restored": "Sending restored at {time}: the account is no longer restricted",
    # Buttons and lines the card gained
    "step.dismiss_risk": "Identity Protection rates this user at risk ({level}), and the investigation does not "
    "confirm a compromise: dismiss the risk if you agree.",
    # The IT note to the user
    "itnote.title": "Message to the user",
    "itnote.label": "A note for the account's owner (the bot sends it in their chat)",
    "itnote.placeholder": "For example: we secured your account; choose a new password when you next sign in.",
    "itnote.button": "Send to the user",
    # Confirmation card
    "confirm.title": "Please confirm",
    "confirm.cancel": "Cancel",
    "confirm.override_label": "Reason to unblock anyway (kept in the audit log)",
    "confirm.open_steps": "Required steps still open (the audit log keeps them with your reason): {steps}",
    "case.unavailable": "I no longer have the details of this case. Refresh to investigate the account again.",
    # cards/history.py: an investigation after a restore opens a new case; the card points at the one before.
    "case.previous.unblocked": "Previous case: resolved at {time} (unblocked by {actor}).",
    "case.previous.ended": "Previous case: closed at {time}.",
    "case.previous.button": "Open previous case",
    # Issue #17: mailbox delegation and legacy protocols (remediation.actions)
    "notice.already_removed": "{action}: Microsoft 365 shows it is already gone, so nothing was changed.",
    "step.remove_delegation": "Remove the mailbox access of {delegate}",
    "button.remove_delegation": "Remove {delegate}",
    "gate.step.remove_delegation": "Remove the mailbox access of {delegate}",
    "remediation.action.remove_delegation": "Remove mailbox access",
    "note.delegation_removed": "Mailbox access removed by {actor} at {time}",
    "button.disable_legacy_protocols": "Turn off legacy protocols",
    "remediation.action.disable_legacy_protocols": "Turn off legacy protocols",
    "note.legacy_protocols_disabled": "Legacy protocols turned off by {actor} at {time}",
    "confirm.disable_legacy_protocols": "Turn off IMAP, POP and SMTP AUTH for {name} ({upn})? A printer, scanner "
    "or older mail app that sends or reads mail with this account's password stops working until it uses a modern "
    "sign-in.",
    "confirm.button.disable_legacy_protocols": "Yes, turn them off",
}

"""English messages of triage: the list of every restricted account and the bulk unblock of the false positives."""

MESSAGES: dict[str, str] = {
    "triage.title": "Restricted accounts ({count})",
    "triage.empty": "No account is restricted from sending mail right now.",
    "triage.summary": "{compromised} compromised · {suspicious} suspicious · {not_checked} not checked · "
    "{no_signs} no signs of compromise",
    "triage.page": "Page {page} of {pages} · worst first, then the longest restricted first",
    "triage.verdict.compromised": "Compromised",
    "triage.verdict.suspicious": "Suspicious",
    "triage.verdict.not_checked": "Not checked",
    "triage.verdict.no_signs": "No signs of compromise",
    "triage.since": " · restricted since {since}",
    "triage.since_unknown": " · restricted (since unknown)",
    "triage.pending": " · unblock pending",
    "triage.reason.no_account": "No account in the directory sends as this address.",
    "triage.reason.not_investigated": "Not investigated yet: ask for \"triage\" again to check it.",
    "triage.reason.failed": "The investigation failed; open the account with \"investigate\" to try again.",
    "triage.staff_note": "Only security admins can unblock accounts from this list.",
    "triage.own_left_out": "Your own account is left out of the bulk unblock: ask another security admin.",
    "triage.button.next": "Next",
    "triage.button.previous": "Previous",
    "triage.button.unblock_all": "Unblock all with no signs of compromise ({count})",
    "triage.button.back": "Back to the list",
    "triage.button.unblock_all_lifting": "Unblock all with no signs of compromise ({count}; lifting by "
    "themselves: {lifting})",
    "triage.button.open": "Open",
    "triage.button.unblock": "Unblock",
    "triage.lifts": "The block lifts by itself on {time}.",
    "triage.confirm.lifting": "These blocks lift by themselves; consider leaving them: Microsoft allows only a few "
    "unblocks per account, and unblocking now spends one.",
    "triage.confirm.lifts_at": " · lifts by itself on {time}",
    "triage.confirm.button_rest": "Leave those, unblock the rest ({count})",
    "triage.confirm.button_all": "Unblock all ({count}), those too",
    "triage.fallback": "Restricted accounts: {count}",
    "triage.progress.title": "Checking {count} restricted accounts…",
    "triage.progress.title_any": "Checking the restricted accounts…",
    "triage.progress.sources": "For each account I read the restriction, inbox rules and forwarding, sign-ins, "
    "Identity Protection, MFA methods, app consents and Defender alerts. This card becomes the list when done.",
    "triage.unblock.running": "Unblocking {count} accounts; this card shows the result when all are done.",
    "triage.started": "Listing the restricted accounts…",
    "triage.unreachable": "I couldn't reach Microsoft 365 to list the restricted accounts. Please try again in a "
    "few minutes.",
    # Refusals
    "triage.refused.user": "Only IT staff and security admins can see the list of restricted accounts. If your "
    "own mail bounces, tell me \"my mail bounces\" and I will check your account.",
    "triage.refused.admin_only": "Only security admins can unblock accounts. You can see the list; ask a security "
    "admin to unblock.",
    "triage.refused.bad_data": "This button is no longer valid. Ask me for \"triage\" again for a fresh list.",
    # Confirmation
    "triage.confirm.title": "Unblock {count} accounts with no signs of compromise?",
    "triage.confirm.body": "Each account below is taken off Restricted entities, checked and audited like a "
    "single unblock. Microsoft allows only a few unblocks per account, so look at the list first.",
    "triage.confirm.more": "… and {count} more.",
    "triage.confirm.changed": "The list changed since you opened it. Check it again before you confirm.",
    "triage.confirm.none": "No account with no signs of compromise is waiting to be unblocked.",
    "triage.confirm.button": "Yes, unblock {count}",
    "triage.confirm.cancel": "Cancel",
    # Result
    "triage.result.title": "Bulk unblock: {unblocked} unblocked, {skipped} skipped, {failed} failed",
    "triage.result.unblocked": "Unblocked: sending usually resumes within an hour, at most 24 hours.",
    "triage.result.skipped": "Skipped: already unblocked by {actor} at {time}.",
    "triage.result.skipped_unknown": "Skipped: already unblocked.",
    "triage.result.failed": "Failed: {reason}",
    "triage.failed.unblock_limit": "Microsoft's unblock limit is reached; only Microsoft support can unblock it.",
    "triage.failed.permission": "the bot's app lacks the permission or role to unblock.",
    "triage.failed.throttled": "Microsoft 365 asked the bot to slow down; try again in a few minutes.",
    "triage.failed.upstream": "Microsoft 365 did not answer; nothing is known to have changed. Try again later.",
    "triage.failed.not_found": "Microsoft 365 no longer knows this address.",
    "triage.failed.rejected": "Microsoft 365 refused the request.",
    "triage.failed.error": "something went wrong; the details are in the bot's log and the audit log.",
    "triage.failed.unknown": "not unblocked; open the account's card to see why.",
    "triage.failed.unconfirmed": "Microsoft 365 did not confirm the unblock in time, so it may or may not have "
    "happened; open the account's card (refresh) before trying again.",
    "triage.failed.list_unreachable": "I couldn't reach Microsoft 365 to check the list again, so nothing was "
    "done. Try again in a few minutes.",
    # Help (security admins)
    "help.admin.triage": "In **triage** you can also unblock every account with no signs of compromise in one "
    "go, after a confirmation that lists them.",
}

# The singular form of the messages above that take a count (`locales.t` picks it when the count is 1).
ONE: dict[str, str] = {
    "triage.confirm.lifting": "This block lifts by itself; consider leaving it: Microsoft allows only a few "
    "unblocks per account, and unblocking now spends one.",
    "triage.progress.title": "Checking {count} restricted account…",
    "triage.unblock.running": "Unblocking {count} account; this card shows the result when it is done.",
    "triage.confirm.title": "Unblock {count} account with no signs of compromise?",
}

"""English messages of the report feature: users' reports, the IT channel, alerts, notes, "send again"."""

MESSAGES: dict[str, str] = {
    # The user's report (dialogs/report.py, cards/report.py)
    "report.checked": "I checked your own account: {value}",
    "report.only_own_account": "I only ever check your own account, not the other addresses in your message.",
    "report.restricted.title": "Microsoft 365 has stopped your account from sending mail",
    "report.restricted.what": "Every message you send now bounces with the error **5.1.8**. You can still "
    "**receive** mail as usual.",
    "report.restricted.since": "Blocked since {since}.",
    "report.restricted.since_unknown": "Microsoft 365 did not say since when.",
    "report.restricted.why": "This usually means that **someone else got hold of your password** and sent spam "
    "from your account. Microsoft 365 stopped it to protect others.",
    "report.it.posted": "**IT has been told** and will secure your account, then unblock it.",
    "report.it.already": "**IT already knows** and is working on it. You don't need to report it again.",
    "report.it.pending": "I could not reach IT just now; I keep trying. If it is urgent, call the service desk.",
    "report.todo.title": "What to do now",
    "report.todo.password": "1. **Don't use your old password anywhere else.** IT will ask you to choose a new "
    "one; never send a password by mail.",
    "report.todo.mfa": "2. **Deny any sign-in or MFA prompt that you did not start yourself**, and tell IT "
    "about it.",
    "report.todo.meanwhile": "3. Until you can send again, use **Teams** or the **phone** for anything urgent.",
    "report.todo.later": "Once IT unblocks your account, sending usually works again within an hour (at most "
    "24 hours). I'll tell you here when it does. Type **status** to see how it is going.",
    "report.ok.title": "Your account can send mail",
    "report.ok.body": "Microsoft 365 has not blocked your account, so the bounce has another cause. The usual ones:",
    "report.ok.cause.address": "- **A wrong recipient address**: check it for typos, or ask the person for it "
    "again.",
    "report.ok.cause.full": "- **The recipient's mailbox is full**: try again later, or reach them another way.",
    "report.ok.cause.refused": "- **The other organisation refused the message** (their spam filter or rules): "
    "the bounce usually names their server; ask them to look.",
    "report.ok.next": "If none of these fits, I can pass it on to IT.",
    "report.button.notify_it": "Notify IT anyway",
    "report.button.answered": "I've answered in the chat.",
    "report.status.title": "Your report",
    "report.status.account": "Account: {value}",
    "report.status.open": "**IT is working on it.** Your account is still blocked from sending mail.",
    "report.status.unblock_pending": "**IT has unblocked your account.** Microsoft 365 is lifting the block; this "
    "usually takes up to an hour (at most 24 hours).",
    "report.status.resolved": "**You can send mail again.**",
    "report.status.closed": "This report is closed.",
    "report.status.opened": "Reported {time}",
    "report.status.updated": "Last change {time}",
    "report.status.resolved_at": "Sending restored {time}",
    "report.status.ask_again": "I'll message you here when you can send again.",
    "report.status.none": "You have no report with me. If your mail bounces, tell me **my mail bounces** or paste "
    "the bounce message.",
    "report.status.can_send": "**You can send mail.** Microsoft 365 has not blocked your account ({address}); I "
    "just checked. If a message bounces, tell me **my mail bounces**.",
    "report.status.blocked": "**Microsoft 365 has stopped your account from sending mail.**",
    "report.status.blocked_it_knows": "IT is already looking into it.",
    "report.status.blocked_report": "Tell me **my mail bounces** and I'll make sure IT knows, and message you here "
    "when you can send again.",
    "report.private_only": "Please tell me in our **personal chat**: your account is nobody else's business.",
    "report.unknown_user": "I can't tell who you are in this chat, so I can't check an account. Please write to me "
    "from Microsoft Teams.",
    "report.no_account": "I can't find your account in the directory. Please contact the service desk.",
    "report.guest": "You are a guest in this organisation: your mail is sent by your own organisation, so I can't "
    "check it here. Please ask your own IT department.",
    "report.no_mailbox": "Your account has no mailbox here, so Microsoft 365 cannot have blocked mail from it. If "
    "you expected one, please contact the service desk.",
    "report.anyway.posted": "Done: I've asked IT to take a look. They'll get in touch with you.",
    "report.anyway.already": "IT already has your request from today; they'll get in touch with you.",
    "report.anyway.pending": "I could not reach IT just now. Please try again later, or call the service desk.",
    "report.resolved": "**You can send mail again.** Microsoft 365 lifted the block on {address} ({time}). If a "
    "message still bounces within the next hour, wait a little and try again; tell me if it keeps bouncing.",
    "report.note": "**A message from IT** ({name}) about your report:\n\n{note}",
    # The IT alert cards (cards/alerts.py)
    "alert.title": "Restricted from sending mail",
    "alert.account": "{name} ({upn})",
    "alert.since": "Restricted since {since}.",
    "alert.since_unknown": "Microsoft 365 did not say since when.",
    # The announcement that opens a card IT gets without asking (cards/alerts.py `announcement`)
    "alert.announce.new": "New restriction detected",
    "alert.announce.reported_by": "Reported by {name}",
    "alert.announce.watch": "Found by the restriction watch on Restricted entities, {time}.",
    "alert.announce.report": "Reported in a chat with the bot, {time}.",
    "alert.announce.triage": "Found by a triage run, {time}.",
    "alert.investigating": "Investigating… the findings and the actions replace this card in a moment.",
    "alert.anyway.title": "A user's mail bounces",
    "alert.anyway.body": "Their account is **not** restricted (checked {time}), but they asked IT to take a look.",
    "alert.anyway.next": "Ask them for the bounce message: it names the server that refused the mail.",
    # The IT channel (teams/channels.py)
    "alerts.admins_only": "Only security admins can choose where alerts go.",
    "alerts.staff_only": "That is for IT staff. If your own mail bounces, tell me **my mail bounces**.",
    "alerts.in_channel_only": "Say this in the team channel where the alerts should go, and mention me there "
    "(@Blocked Sender Assistant alerts here).",
    "alerts.here.done": "Done: I'll post an alert in this channel whenever Microsoft 365 restricts an account. "
    "**alerts off** stops them.",
    "alerts.off.done": "Alerts are off for the channel. I'll send them as direct messages to the security admins "
    "who have me installed.",
    "alerts.off.none": "No alert channel was set. Alerts go as direct messages to the security admins who have me "
    "installed.",
    "alerts.where.channel": "Alerts go to the channel **{channel}** of the team **{team}** (chosen by {by}, {time}).",
    "alerts.where.dm": "No alert channel is set: alerts go as direct messages to the security admins who have me "
    "installed. A security admin can say **alerts here** in a team channel (mention me) to use that channel.",
    "alerts.where.unnamed": "(name not known)",
    # IT's note to the user (the findings card's "Send" button)
    "sendnote.not_allowed": "Only IT staff can send notes to users.",
    "sendnote.empty": "Type a note first.",
    "sendnote.too_long": "The note is too long: at most {limit} characters.",
    "sendnote.nobody": "I can't reach the user: they have never chatted with me.",
    "sendnote.sent": "Sent to {count} people.",
    # Issue #17: automatic containment (AUTO_CONTAIN) and the tenant's last Global Administrator
    "notice.contained": "Contained automatically at {time}: sessions revoked, sign-in blocked. Allow sign-in again "
    "once the account is secure.",
    "notice.contain_paused": "Automatic containment paused: {count} accounts in the last hour. Nothing was done to "
    "this account; contain it yourself if it needs it.",
    "notice.contain_failed": "Automatic containment did not finish: see the latest actions. Contain the account "
    "yourself.",
    "notice.refused.last_global_admin": "Not done: this account is the tenant's last Global Administrator, and "
    "nobody could manage the tenant without it. Add another Global Administrator first.",
    "actor.automatic_containment": "automatic containment",
}

# The singular form of the messages above that take a count (`locales.t` picks it when the count is 1).
ONE: dict[str, str] = {
    "sendnote.sent": "Sent to {count} person.",
    "notice.contain_paused": "Automatic containment paused: {count} account in the last hour. Nothing was done to "
    "this account; contain it yourself if it needs it.",
}

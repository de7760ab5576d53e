"""English messages of `diagnose`: the tenant pre-flight shown to security admins in chat."""

MESSAGES: dict[str, str] = {
    "diagnose.title": "Tenant check",
    "diagnose.summary.ok": "Everything the bot needs is there: all {count} features are available.",
    # {count} is the number MISSING (the plural form agrees with it), {total} the number checked.
    "diagnose.summary.missing": "{count} of {total} features are not available. Each row says why and which "
    "row of docs/DEPLOY.md fixes it.",
    "diagnose.licences": "Licences: {licences}",
    "diagnose.licence.yes": "{name} yes",
    "diagnose.licence.no": "{name} **no**",
    "diagnose.licence.unknown": "{name} unknown",
    "diagnose.status.available": "available",
    "diagnose.status.unavailable": "not available",
    "diagnose.fix": "fix: {fix}",
    "diagnose.problem.token": "no token ({missing})",
    "diagnose.problem.permission": "permission {missing} not granted",
    "diagnose.problem.licence": "no {missing} licence",
    "diagnose.problem.exchange_role": "the app's Exchange role may not run {missing}",
    "diagnose.problem.entra_role": "Entra role {missing} not assigned to the app",
    "diagnose.problem.not_provisioned": "message trace is not provisioned in the tenant",
    "diagnose.problem.unknown": "could not check {missing}",
    "diagnose.footer": "Checked read-only just now. The command line gives the same table: make check-tenant.",
    "diagnose.fallback": "Tenant check: {count} of {total} features not available",
    "diagnose.refused": "Only security admins can check the tenant (diagnose).",
    "diagnose.not_supported": "This tenant cannot be checked from the chat; run make check-tenant on the server.",
    "diagnose.feature.find_account": "Find the account",
    "diagnose.feature.tenant_domains": "Tenant domains",
    "diagnose.feature.restriction": "Restriction status",
    "diagnose.feature.unblock": "Unblock",
    "diagnose.feature.forwarding": "Mailbox forwarding",
    "diagnose.feature.remove_forwarding": "Remove forwarding",
    "diagnose.feature.inbox_rules": "Inbox rules",
    "diagnose.feature.hidden_inbox_rules": "Hidden inbox rules",
    "diagnose.feature.mailbox_delegates": "Mailbox delegates",
    "diagnose.feature.audit_changes": "Changes from the audit log",
    "diagnose.feature.transport_rules": "Mail flow rules",
    "diagnose.feature.app_changes": "New apps and consents",
    "diagnose.feature.mail_folders": "Mail folders",
    "diagnose.feature.sign_ins": "Sign-in log",
    "diagnose.feature.directory_audits": "Directory audit log",
    "diagnose.feature.risky_users": "User risk (Identity Protection)",
    "diagnose.feature.risk_detections": "Risk detections (Identity Protection)",
    "diagnose.feature.mfa_methods": "MFA methods",
    "diagnose.feature.mfa_registration": "MFA registration",
    "diagnose.feature.app_consents": "App consents",
    "diagnose.feature.admin_roles": "Admin roles and groups",
    "diagnose.feature.alerts": "Defender alerts",
    "diagnose.feature.revoke_sessions": "Sign out everywhere",
    "diagnose.feature.block_sign_in": "Block sign-in",
    "diagnose.feature.force_password_change": "Require a new password",
    "diagnose.feature.message_trace": "Message trace",
}

# The singular forms (see locales/__init__.py): chosen when exactly one feature is missing.
ONE: dict[str, str] = {
    "diagnose.summary.missing": "{count} of {total} features is not available. The row says why and which row of "
    "docs/DEPLOY.md fixes it.",
}

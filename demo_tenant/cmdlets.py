"""The one table of the Exchange Online cmdlets the bot runs: parameters, roles, output properties.

Taken from Microsoft's cmdlet reference, repository MicrosoftDocs/office-docs-powershell, files
`exchange/exchange-ps/exchange/<Cmdlet>.md` (published as https://learn.microsoft.com/powershell/module/exchange/<cmdlet>);
the commit each entry was read at is in its `source`. Only parameters marked "Applicable: Exchange Online" are listed
(on-premises-only ones such as -DomainController are refused, as Exchange Online's REST endpoint refuses them).
PowerShell's common parameters (-Verbose, -ErrorAction, ...) are not accepted by InvokeCommand's `Parameters`
object and are left out; -Confirm and -WhatIf appear only where the reference lists them (Set-Mailbox does;
Remove-BlockedSenderAddress does not: "Remove-BlockedSenderAddress -SenderAddress <SmtpAddress> [-Reason <String>]").

Roles are the Microsoft Entra roles and Exchange Online role groups whose members may run the cmdlet, from the
pages each entry cites ("Find the permissions required to run any Exchange cmdlet" resolves them per tenant:
https://learn.microsoft.com/powershell/exchange/find-exchange-cmdlet-permissions). Where Microsoft names no role
for a read we list the roles that hold the Exchange management role the cmdlet belongs to.

The demo tenant imports nothing from the bot: `m365/exchange.py` keeps its own human-readable role hints and a unit
test checks they agree with this table.
"""

from __future__ import annotations

from dataclasses import dataclass

ALL_SETS = "(All)"


@dataclass(frozen=True)
class Parameter:
    """One cmdlet parameter as the reference's YAML block describes it."""

    name: str
    type: str
    mandatory: bool = False
    sets: tuple[str, ...] = (ALL_SETS,)

    @property
    def is_switch(self) -> bool:
        """A SwitchParameter: present means on; `$true`/`$false` bind to it too."""
        return self.type == "SwitchParameter"

    def in_set(self, name: str) -> bool:
        """True when the parameter belongs to parameter set `name`."""
        return ALL_SETS in self.sets or name in self.sets


@dataclass(frozen=True)
class Cmdlet:
    """One cmdlet: its parameter sets, the roles that may run it and the properties of its output objects."""

    name: str
    source: str
    parameters: tuple[Parameter, ...]
    roles: tuple[str, ...]
    output: tuple[str, ...]
    parameter_sets: tuple[str, ...] = (ALL_SETS,)

    def parameter(self, name: str) -> Parameter | None:
        """The parameter called `name`, case-insensitively (as PowerShell binds them), or None."""
        lowered = name.lower()
        return next((p for p in self.parameters if p.name.lower() == lowered), None)


_DOCS = "MicrosoftDocs/office-docs-powershell"

# Entra roles and EXO role groups (https://learn.microsoft.com/exchange/permissions-exo/permissions-exo).
_ORG_ADMIN = ("Global Administrator", "Exchange Administrator", "Organization Management")
_RECIPIENT_ADMIN = ("Exchange Recipient Administrator", "Recipient Management")
_VIEW_ONLY = ("Global Reader", "View-Only Organization Management")

# The properties of an InboxRule object (Get-InboxRule | Format-List); conditions and actions are the parameters
# of New-InboxRule (exchange/exchange-ps/exchange/New-InboxRule.md) under the same names.
_INBOX_RULE_OUTPUT = (
    "Name", "Identity", "RuleIdentity", "MailboxOwnerId", "Enabled", "Priority", "Description", "InError",
    "ErrorType", "IsValid", "SupportedByTask", "Legacy", "ObjectState",
    # conditions
    "From", "FromAddressContainsWords", "SentTo", "SentOnlyToMe", "MyNameInToBox", "MyNameInCcBox",
    "MyNameInToOrCcBox", "MyNameNotInToBox", "SubjectContainsWords", "BodyContainsWords",
    "SubjectOrBodyContainsWords", "HeaderContainsWords", "RecipientAddressContainsWords", "HasAttachment",
    "MessageTypeMatches", "WithImportance", "WithSensitivity", "FlaggedForAction", "HasClassification",
    "ReceivedAfterDate", "ReceivedBeforeDate", "WithinSizeRangeMaximum", "WithinSizeRangeMinimum", "FromSubscription",
    # actions
    "ApplyCategory", "CopyToFolder", "DeleteMessage", "SoftDeleteMessage", "ForwardAsAttachmentTo", "ForwardTo",
    "MarkAsRead", "MarkImportance", "MoveToFolder", "PinMessage", "RedirectTo", "SendTextMessageNotificationTo",
    "StopProcessingRules",
)

CMDLETS: dict[str, Cmdlet] = {c.name: c for c in (
    Cmdlet(
        "Get-BlockedSenderAddress",
        f"{_DOCS} exchange/exchange-ps/exchange/Get-BlockedSenderAddress.md @02d336ca76964f1e29a841040ef047157d0c6491; "
        "roles: MicrosoftDocs/defender-docs defender-office-365/outbound-spam-restore-restricted-users.md "
        "@04088ff0b6e157f57c7bac0a300b32a2ade76815 (read-only: Global Reader, Security Reader, View-Only "
        "Organization Management; Entra Global/Security Administrator and Global/Security Reader)",
        (Parameter("SenderAddress", "SmtpAddress"),),
        _ORG_ADMIN + ("Security Administrator", "Security Reader") + _VIEW_ONLY,
        ("SenderAddress", "Reason", "BlockType", "CreatedDatetime", "ChangedDatetime", "TemporaryBlock",
         "InternalOnly", "ExpireDatetime"),
    ),
    Cmdlet(
        "Remove-BlockedSenderAddress",
        f"{_DOCS} exchange/exchange-ps/exchange/Remove-BlockedSenderAddress.md "
        "@11e013620e18475ce024b396fed751cddf51b76a; roles: outbound-spam-restore-restricted-users.md (above): "
        "Organization Management or Security Administrator role groups; Entra "
        "Global Administrator or Security Administrator",
        (Parameter("SenderAddress", "SmtpAddress", mandatory=True), Parameter("Reason", "String")),
        ("Global Administrator", "Security Administrator", "Organization Management", "Exchange Administrator"),
        (),
    ),
    Cmdlet(
        "Get-Mailbox",
        f"{_DOCS} exchange/exchange-ps/exchange/Get-Mailbox.md @02f8881a23497f83c9d6d790a623f917302b48db "
        "(Exchange Online parameters of the AnrSet, Identity and MailboxPlanSet sets); roles: View-Only Recipients",
        (
            Parameter("Identity", "MailboxIdParameter", sets=("Identity",)),
            Parameter("Anr", "String", sets=("AnrSet",)),
            Parameter("MailboxPlan", "MailboxPlanIdParameter", sets=("MailboxPlanSet",)),
            Parameter("Archive", "SwitchParameter"),
            Parameter("Filter", "String"),
            Parameter("GroupMailbox", "SwitchParameter"),
            Parameter("InactiveMailboxOnly", "SwitchParameter", sets=("AnrSet", "Identity", "MailboxPlanSet")),
            Parameter("IncludeInactiveMailbox", "SwitchParameter", sets=("AnrSet", "Identity", "MailboxPlanSet")),
            Parameter("Migration", "SwitchParameter"),
            Parameter("PublicFolder", "SwitchParameter"),
            Parameter("RecipientTypeDetails", "RecipientTypeDetails[]"),
            Parameter("RemoteArchive", "SwitchParameter", sets=("AnrSet", "Identity")),
            Parameter("ResultSize", "Unlimited"),
            Parameter("SoftDeletedMailbox", "SwitchParameter", sets=("AnrSet", "Identity", "MailboxPlanSet")),
            Parameter("SortBy", "String"),
        ),
        _ORG_ADMIN + _RECIPIENT_ADMIN + ("Security Administrator", "Security Reader") + _VIEW_ONLY,
        ("Name", "Alias", "DisplayName", "Identity", "Id", "DistinguishedName", "Guid", "ExchangeGuid",
         "ExternalDirectoryObjectId", "UserPrincipalName", "PrimarySmtpAddress", "WindowsEmailAddress",
         "EmailAddresses", "RecipientType", "RecipientTypeDetails", "ForwardingAddress", "ForwardingSmtpAddress",
         "DeliverToMailboxAndForward", "GrantSendOnBehalfTo", "HiddenFromAddressListsEnabled", "IsMailboxEnabled",
         "AccountDisabled", "LitigationHoldEnabled", "AuditEnabled", "UsageLocation", "WhenMailboxCreated",
         "WhenCreated", "WhenChanged", "ProhibitSendQuota", "RecoverableItemsQuota"),
        ("AnrSet", "Identity", "MailboxPlanSet"),
    ),
    Cmdlet(
        "Set-Mailbox",
        f"{_DOCS} exchange/exchange-ps/exchange/Set-Mailbox.md @002930ecf290634dbaf5269afe2c006d3319b5b1 "
        "(Identity set; only the parameters the demo tenant implements, all listed there); roles: Mail Recipients",
        (
            Parameter("Identity", "MailboxIdParameter", mandatory=True),
            Parameter("ForwardingAddress", "RecipientIdParameter"),
            Parameter("ForwardingSmtpAddress", "ProxyAddress"),
            Parameter("DeliverToMailboxAndForward", "Boolean"),
            # MultiValuedProperty: a list replaces the whole value; `@{Add=…; Remove=…}` (over REST an object typed
            # "#Exchange.GenericHashTable") adds or removes entries and keeps the others.
            Parameter("GrantSendOnBehalfTo", "MultiValuedProperty"),
            Parameter("Force", "SwitchParameter"),
            Parameter("Confirm", "SwitchParameter"),
            Parameter("WhatIf", "SwitchParameter"),
        ),
        _ORG_ADMIN + _RECIPIENT_ADMIN,
        (),
    ),
    Cmdlet(
        "Get-CASMailbox",
        f"{_DOCS} exchange/exchange-ps/exchange/Get-CASMailbox.md @09c89e9aac875b6ca3ea95cd3fafa3d8184fff5d "
        "(sets Set1 = Identity, Set2 = Anr); roles: View-Only Recipients",
        (
            Parameter("Identity", "MailboxIdParameter", sets=("Set1",)),
            Parameter("Anr", "String", sets=("Set2",)),
            Parameter("ActiveSyncDebugLogging", "SwitchParameter"),
            Parameter("Filter", "String"),
            Parameter("IgnoreDefaultScope", "SwitchParameter"),
            Parameter("OrganizationalUnit", "OrganizationalUnitIdParameter"),
            Parameter("ProtocolSettings", "SwitchParameter"),
            Parameter("RecalculateHasActiveSyncDevicePartnership", "SwitchParameter"),
            Parameter("ReadIsOptimizedForAccessibility", "SwitchParameter"),
            Parameter("ResultSize", "Unlimited"),
            Parameter("SortBy", "String"),
        ),
        _ORG_ADMIN + _RECIPIENT_ADMIN + ("Security Administrator", "Security Reader") + _VIEW_ONLY,
        ("Name", "Identity", "DisplayName", "PrimarySmtpAddress", "ExternalDirectoryObjectId", "Guid",
         "ActiveSyncEnabled", "OWAEnabled", "OWAforDevicesEnabled", "ECPEnabled", "PopEnabled",
         "PopUseProtocolDefaults", "ImapEnabled", "ImapUseProtocolDefaults", "MAPIEnabled", "EwsEnabled",
         "UniversalOutlookEnabled", "OutlookMobileEnabled", "MacOutlookEnabled", "SmtpClientAuthenticationDisabled"),
        ("Set1", "Set2"),
    ),
    Cmdlet(
        "Get-InboxRule",
        f"{_DOCS} exchange/exchange-ps/exchange/Get-InboxRule.md @0a0e5b9055852d67ae2db3c78b9ca0f51b8d28f7 and "
        "https://learn.microsoft.com/powershell/module/exchange/get-inboxrule (adds -ResultSize, -SkipCount, "
        "-UseCustomRouting); \"This cmdlet doesn't work for members of View-Only Organization Management role group "
        "in Exchange Online or the Global Reader role\": roles holding Mail Recipients",
        (
            Parameter("Identity", "InboxRuleIdParameter"),
            Parameter("BypassScopeCheck", "SwitchParameter"),
            Parameter("DescriptionTimeFormat", "String"),
            Parameter("DescriptionTimeZone", "ExTimeZoneValue"),
            Parameter("IncludeHidden", "SwitchParameter"),
            Parameter("Mailbox", "MailboxIdParameter"),
            Parameter("ResultSize", "Unlimited"),
            Parameter("SkipCount", "Int32"),
            Parameter("UseCustomRouting", "SwitchParameter"),
        ),
        _ORG_ADMIN + _RECIPIENT_ADMIN,
        _INBOX_RULE_OUTPUT,
    ),
    Cmdlet(
        "Disable-InboxRule",
        f"{_DOCS} exchange/exchange-ps/ExchangePowerShell/Disable-InboxRule.md "
        "@942e8c0254c863cf82faf6d4ca8f782ea25ead4c (one set; -Identity mandatory, position 1: Name, RuleIdentity or "
        "`MailboxAlias\\RuleIdentity`; -DomainController is on-premises only; \"This cmdlet has a built-in pause, so "
        "use -Confirm:$false\"; output: none). The page names no role; the roles are Get-InboxRule's (Mail Recipients)",
        (
            Parameter("Identity", "InboxRuleIdParameter", mandatory=True),
            Parameter("AlwaysDeleteOutlookRulesBlob", "SwitchParameter"),
            Parameter("Force", "SwitchParameter"),
            Parameter("Mailbox", "MailboxIdParameter"),
            Parameter("Confirm", "SwitchParameter"),
            Parameter("WhatIf", "SwitchParameter"),
        ),
        _ORG_ADMIN + _RECIPIENT_ADMIN,
        (),
    ),
    Cmdlet(
        "Remove-InboxRule",
        f"{_DOCS} exchange/exchange-ps/ExchangePowerShell/Remove-InboxRule.md "
        "@b93ee2cb893321cf66bbf64b664d259c712fbf28 (one set; the same parameters as Disable-InboxRule; a Remove- "
        "cmdlet pauses: -Confirm:$false; output: none). The page names no role; the roles are Get-InboxRule's",
        (
            Parameter("Identity", "InboxRuleIdParameter", mandatory=True),
            Parameter("AlwaysDeleteOutlookRulesBlob", "SwitchParameter"),
            Parameter("Force", "SwitchParameter"),
            Parameter("Mailbox", "MailboxIdParameter"),
            Parameter("Confirm", "SwitchParameter"),
            Parameter("WhatIf", "SwitchParameter"),
        ),
        _ORG_ADMIN + _RECIPIENT_ADMIN,
        (),
    ),
    Cmdlet(
        "Get-MessageTraceV2",
        f"{_DOCS} exchange/exchange-ps/ExchangePowerShell/Get-MessageTraceV2.md "
        "@daf4424225970147dc8892af410cc006972e8026 (every parameter is in all sets; -ResultSize 1 to 5000, default "
        "1000; no paging; 10 days per query; without dates the last 48 hours). The page names no role (\"Find the "
        "permissions required to run any Exchange cmdlet\"); message trace is the Message Tracking management role, "
        "held by Organization Management, Compliance Management and Records Management, and reached by the Entra "
        "Exchange Administrator, Global Reader, Security Administrator and Security Reader roles. Output: the "
        "reference has no table; the properties its parameters and description name (see "
        "demo_tenant/message_traces.py)",
        (
            Parameter("EndDate", "DateTime"),
            Parameter("FromIP", "String"),
            Parameter("MessageId", "MultiValuedProperty"),
            Parameter("MessageTraceId", "Guid"),
            Parameter("RecipientAddress", "MultiValuedProperty"),
            Parameter("ResultSize", "Int32"),
            Parameter("SenderAddress", "MultiValuedProperty"),
            Parameter("StartDate", "DateTime"),
            Parameter("StartingRecipientAddress", "String"),
            Parameter("Status", "MultiValuedProperty"),
            Parameter("SubjectFilterType", "String"),
            Parameter("Subject", "String"),
            Parameter("ToIP", "String"),
        ),
        _ORG_ADMIN + ("Compliance Management", "Records Management", "Security Administrator", "Security Reader",
                      "Global Reader"),
        ("Received", "SenderAddress", "RecipientAddress", "Subject", "Status", "ToIP", "FromIP", "Size", "MessageId",
         "MessageTraceId"),
    ),
    Cmdlet(
        "Search-UnifiedAuditLog",
        f"{_DOCS} exchange/exchange-ps/ExchangePowerShell/Search-UnifiedAuditLog.md "
        "@dd55fbb621c1b79d87a97f7b3834db1bd469fdd5 (one parameter set; -StartDate and -EndDate required; "
        "-ResultSize \"default value is 100, maximum is 5,000\"). Roles: Microsoft Purview \"Search the audit log\" "
        "(https://learn.microsoft.com/purview/audit-search): the View-Only Audit Logs or Audit Logs role, held by the "
        "Organization Management and Compliance Management role groups (Entra Global Administrator, Exchange "
        "Administrator, Compliance Administrator). Output: the reference has no table; the properties of the "
        "exported records (https://learn.microsoft.com/purview/audit-log-export-records: CreationDate, UserIds, "
        "Operations, AuditData, RecordType, ResultIndex, ResultCount, Identity); AuditData is a JSON string in the "
        "Office 365 Management Activity API schema (MicrosoftDocs/office-365-management-api "
        "office-365-management-api/office-365-management-activity-api-schema.md "
        "@8a539d33bd3f05032e3c2b49c7951aa94bd80555)",
        (
            Parameter("EndDate", "ExDateTime", mandatory=True),
            Parameter("StartDate", "ExDateTime", mandatory=True),
            Parameter("Formatted", "SwitchParameter"),
            Parameter("FreeText", "String"),
            Parameter("HighCompleteness", "SwitchParameter"),
            Parameter("IPAddresses", "String[]"),
            Parameter("LegacyFlow", "SwitchParameter"),
            Parameter("LongerRetentionEnabled", "String"),
            Parameter("ObjectIds", "String[]"),
            Parameter("Operations", "String[]"),
            Parameter("RecordType", "AuditRecordType"),
            Parameter("ResultSize", "Int32"),
            Parameter("SessionCommand", "UnifiedAuditSessionCommand"),
            Parameter("SessionId", "String"),
            Parameter("SiteIds", "String[]"),
            Parameter("UserIds", "String[]"),
        ),
        _ORG_ADMIN + ("Compliance Management", "Compliance Administrator"),
        ("RecordType", "CreationDate", "UserIds", "Operations", "AuditData", "ResultIndex", "ResultCount",
         "Identity", "IsValid", "ObjectState"),
    ),
    Cmdlet(
        "Get-TransportRule",
        f"{_DOCS} exchange/exchange-ps/ExchangePowerShell/Get-TransportRule.md "
        "@0ce0a1b29deae9ee0ade5f2fdc415d04090e6f1a (Exchange Online parameters; -DomainController is on-premises "
        "only). Output: a rule's properties are New-TransportRule's parameters of the same names "
        "(exchange/exchange-ps/ExchangePowerShell/New-TransportRule.md @5fff4ea010dd9e196e3d82c00184096e868e5ab5) "
        "plus Name, Identity, Guid, Priority, State, Mode, WhenChanged, Description. Roles: Transport Rules and "
        "View-Only Configuration (Organization Management, View-Only Organization Management, Compliance Management, "
        "Records Management; Entra Global Administrator, Exchange Administrator, Global Reader)",
        (
            Parameter("Identity", "RuleIdParameter"),
            Parameter("State", "RuleState"),
            Parameter("DlpPolicy", "String"),
            Parameter("ExcludeConditionActionDetails", "Boolean"),
            Parameter("Filter", "String"),
            Parameter("ResultSize", "Unlimited"),
        ),
        _ORG_ADMIN + _VIEW_ONLY + ("Compliance Management", "Records Management"),
        ("Name", "Identity", "Guid", "Priority", "State", "Mode", "WhenChanged", "Description", "Comments",
         "FromScope", "SentToScope", "RedirectMessageTo", "BlindCopyTo", "AddToRecipients", "CopyTo",
         "AddManagerAsRecipientType", "RouteMessageOutboundConnector", "ModerateMessageByUser",
         "ApplyHtmlDisclaimerText", "ApplyHtmlDisclaimerLocation", "StopRuleProcessing"),
    ),
    Cmdlet(
        "Get-HostedOutboundSpamFilterPolicy",
        f"{_DOCS} exchange/exchange-ps/exchange/Get-HostedOutboundSpamFilterPolicy.md "
        "@13e71582b34a2ea6356f2380fc7025cfdd380de8 and https://learn.microsoft.com/powershell/module/exchange/"
        "get-hostedoutboundspamfilterpolicy (-Identity, position 1; marked required there, yet its Example 1 runs "
        "without it, which lists every policy); roles: Security Administrator/Reader, Organization Management",
        (Parameter("Identity", "HostedOutboundSpamFilterPolicyIdParameter"),),
        _ORG_ADMIN + ("Security Administrator", "Security Reader") + _VIEW_ONLY,
        ("Name", "Identity", "Id", "Guid", "DistinguishedName", "AdminDisplayName", "IsDefault", "Enabled",
         "ActionWhenThresholdReached", "RecipientLimitExternalPerHour", "RecipientLimitInternalPerHour",
         "RecipientLimitPerDay", "AutoForwardingMode", "NotifyOutboundSpam", "NotifyOutboundSpamRecipients",
         "BccSuspiciousOutboundMail", "BccSuspiciousOutboundAdditionalRecipients", "WhenCreated", "WhenChanged"),
    ),
    # Delegation (Who else may read or send as a mailbox). The references list no output type; the properties are
    # the ones each page's DESCRIPTION names (Get-MailboxPermission: "The output of this cmdlet shows ... Identity,
    # User, AccessRights, IsInherited, Deny") and the properties of the objects Exchange returns
    # (RecipientPermission: https://learn.microsoft.com/previous-versions/office/exchange-server-api/gg274941(v=exchg.150);
    # MailboxFolderPermission: Add-MailboxFolderPermission.md's -AccessRights and -SharingPermissionFlags). Roles:
    # the Exchange management roles Microsoft's own Microsoft365DSC 1.26.211.1 lists for reading them (settings.json
    # of EXOMailboxPermission and EXOMailboxFolderPermission: View-Only Recipients or Mail Recipients; of
    # EXORecipientPermission: Mail Recipients only), and the Entra roles and role groups that hold those roles.
    Cmdlet(
        "Get-MailboxPermission",
        f"{_DOCS} exchange/exchange-ps/ExchangePowerShell/Get-MailboxPermission.md "
        "@daf4424225970147dc8892af410cc006972e8026 (sets Owner and AccessRights; Exchange Online parameters; "
        "-Credential left out: a PSCredential cannot travel in InvokeCommand's JSON); roles: View-Only Recipients",
        (
            Parameter("Identity", "MailboxIdParameter", mandatory=True),
            Parameter("Owner", "SwitchParameter", sets=("Owner",)),
            Parameter("User", "SecurityPrincipalIdParameter", sets=("AccessRights",)),
            Parameter("SoftDeletedMailbox", "SwitchParameter", sets=("AccessRights",)),
            Parameter("IncludeSoftDeletedUserPermissions", "SwitchParameter", sets=("AccessRights",)),
            Parameter("IncludeUnresolvedPermissions", "SwitchParameter", sets=("AccessRights",)),
            Parameter("GroupMailbox", "SwitchParameter"),
            Parameter("IncludeUserWithDisplayName", "SwitchParameter"),
            Parameter("ReadFromDomainController", "SwitchParameter"),
            Parameter("ResultSize", "Unlimited"),
            Parameter("UseCustomRouting", "SwitchParameter"),
        ),
        _ORG_ADMIN + _RECIPIENT_ADMIN + _VIEW_ONLY,
        ("Identity", "User", "AccessRights", "IsInherited", "Deny", "InheritanceType"),
        ("Owner", "AccessRights"),
    ),
    Cmdlet(
        "Get-RecipientPermission",
        f"{_DOCS} exchange/exchange-ps/ExchangePowerShell/Get-RecipientPermission.md "
        "@4d291b907b6a02282e397834a2506e864cfcd7b8 (one set; \"The only valid value for this parameter is SendAs\"); "
        "roles: Mail Recipients (not View-Only: Global Reader cannot read SendAs)",
        (
            Parameter("Identity", "RecipientIdParameter"),
            Parameter("AccessRights", "MultiValuedProperty"),
            Parameter("IncludeTrusteeWithPrimarySmtpAddress", "SwitchParameter"),
            Parameter("ReadFromDomainController", "SwitchParameter"),
            Parameter("ResultSize", "Unlimited"),
            Parameter("Trustee", "SecurityPrincipalIdParameter"),
        ),
        _ORG_ADMIN + _RECIPIENT_ADMIN,
        ("Identity", "Trustee", "AccessControlType", "AccessRights", "IsInherited", "InheritanceType"),
    ),
    Cmdlet(
        "Get-MailboxFolderPermission",
        f"{_DOCS} exchange/exchange-ps/ExchangePowerShell/Get-MailboxFolderPermission.md "
        "@0544b4345e8e0e95619461b3935c6e2ccef8c67e (Identity `MailboxID:\\ParentFolder[\\SubFolder]`); "
        "roles: View-Only Recipients or Mail Recipients",
        (
            Parameter("Identity", "MailboxFolderIdParameter", mandatory=True),
            Parameter("GroupMailbox", "SwitchParameter"),
            Parameter("ResultSize", "Unlimited"),
            Parameter("SkipCount", "Int32"),
            Parameter("UseCustomRouting", "SwitchParameter"),
            Parameter("User", "MailboxFolderUserIdParameter"),
        ),
        _ORG_ADMIN + _RECIPIENT_ADMIN + _VIEW_ONLY,
        ("Identity", "FolderName", "User", "AccessRights", "SharingPermissionFlags"),
    ),
    # Removing a delegate (remediation `remove_delegation`) and turning off legacy protocols
    # (`disable_legacy_protocols`). Roles: the Mail Recipients management role (Recipient Management; Entra Exchange
    # Recipient Administrator, Exchange Administrator) as for the writes above; Microsoft365DSC 1.26.211.1's
    # settings.json of EXOMailboxPermission, EXORecipientPermission, EXOMailboxFolderPermission and EXOCASMailboxPlan
    # lists Mail Recipients for the update too. None of them returns objects.
    Cmdlet(
        "Remove-MailboxPermission",
        f"{_DOCS} exchange/exchange-ps/ExchangePowerShell/Remove-MailboxPermission.md "
        "@5137565dfcb55b49c5ee307dafc3aa7d7f5d4b60 (sets AccessRights, Owner, ClearAutoMapping, ResetDefault; "
        "-Instance and -DomainController are on-premises only); an ACE that is not there is an error: \"Can't "
        "remove the access control entry on the object ... because the ACE doesn't exist on the object\" "
        "(-BypassMasterAccountSid)",
        (
            Parameter("Identity", "MailboxIdParameter", mandatory=True,
                      sets=("AccessRights", "Owner", "ClearAutoMapping", "ResetDefault")),
            Parameter("AccessRights", "MailboxRights[]", mandatory=True, sets=("AccessRights",)),
            Parameter("User", "SecurityPrincipalIdParameter", mandatory=True, sets=("AccessRights",)),
            Parameter("ClearAutoMapping", "SwitchParameter", mandatory=True, sets=("ClearAutoMapping",)),
            Parameter("ResetDefault", "SwitchParameter", mandatory=True, sets=("ResetDefault",)),
            Parameter("BypassMasterAccountSid", "SwitchParameter", sets=("AccessRights", "Owner", "ClearAutoMapping")),
            Parameter("Deny", "SwitchParameter", sets=("AccessRights",)),
            Parameter("GroupMailbox", "SwitchParameter", sets=("AccessRights", "Owner")),
            Parameter("IgnoreDefaultScope", "SwitchParameter"),
            Parameter("InheritanceType", "ActiveDirectorySecurityInheritance", sets=("AccessRights",)),
            Parameter("SoftDeletedMailbox", "SwitchParameter", sets=("AccessRights",)),
            Parameter("Confirm", "SwitchParameter"),
            Parameter("WhatIf", "SwitchParameter"),
        ),
        _ORG_ADMIN + _RECIPIENT_ADMIN,
        (),
        ("AccessRights", "Owner", "ClearAutoMapping", "ResetDefault"),
    ),
    Cmdlet(
        "Remove-RecipientPermission",
        f"{_DOCS} exchange/exchange-ps/ExchangePowerShell/Remove-RecipientPermission.md "
        "@302954c6054609e2e00c2b7a6a18d1b672925542 (one set; -AccessRights: \"The only valid value for this "
        "parameter is SendAs\")",
        (
            Parameter("Identity", "RecipientIdParameter", mandatory=True),
            Parameter("AccessRights", "MultiValuedProperty", mandatory=True),
            Parameter("Trustee", "SecurityPrincipalIdParameter", mandatory=True),
            Parameter("Deny", "SwitchParameter"),
            Parameter("MultiTrustees", "MultiValuedProperty"),
            Parameter("SkipDomainValidationForMailContact", "SwitchParameter"),
            Parameter("SkipDomainValidationForMailUser", "SwitchParameter"),
            Parameter("SkipDomainValidationForSharedMailbox", "SwitchParameter"),
            Parameter("Confirm", "SwitchParameter"),
            Parameter("WhatIf", "SwitchParameter"),
        ),
        _ORG_ADMIN + _RECIPIENT_ADMIN,
        (),
    ),
    Cmdlet(
        "Remove-MailboxFolderPermission",
        f"{_DOCS} exchange/exchange-ps/ExchangePowerShell/Remove-MailboxFolderPermission.md "
        "@1e5e9caf94705436df1894ee90bd389396e093da (sets Default, Identity, ResetDelegateUserCollection; "
        "-DomainController is on-premises only; Identity `Mailbox:\\Folder`)",
        (
            Parameter("Identity", "MailboxFolderIdParameter", mandatory=True),
            Parameter("User", "MailboxFolderUserIdParameter", mandatory=True, sets=("Default", "Identity")),
            Parameter("ResetDelegateUserCollection", "SwitchParameter", sets=("ResetDelegateUserCollection",)),
            Parameter("Force", "SwitchParameter", sets=("Identity", "ResetDelegateUserCollection")),
            Parameter("SendNotificationToUser", "Boolean", sets=("Identity", "ResetDelegateUserCollection")),
            Parameter("Confirm", "SwitchParameter"),
            Parameter("WhatIf", "SwitchParameter"),
        ),
        _ORG_ADMIN + _RECIPIENT_ADMIN,
        (),
        ("Default", "Identity", "ResetDelegateUserCollection"),
    ),
    Cmdlet(
        "Set-CASMailbox",
        f"{_DOCS} exchange/exchange-ps/ExchangePowerShell/Set-CASMailbox.md "
        "@68a31aa4ee66e25a61de33df00399f3309a6dd30 (one set; only the Exchange Online parameters the demo tenant "
        "implements: -ImapEnabled, -PopEnabled, -SmtpClientAuthenticationDisabled, all Boolean; Example 1 turns POP "
        "off with -PopEnabled $false)",
        (
            Parameter("Identity", "MailboxIdParameter", mandatory=True),
            Parameter("ImapEnabled", "Boolean"),
            Parameter("PopEnabled", "Boolean"),
            Parameter("SmtpClientAuthenticationDisabled", "Boolean"),
            Parameter("Confirm", "SwitchParameter"),
            Parameter("WhatIf", "SwitchParameter"),
        ),
        _ORG_ADMIN + _RECIPIENT_ADMIN,
        (),
    ),
)}


def cmdlet(name: str) -> Cmdlet | None:
    """The table entry for `name`, case-insensitively, or None for a cmdlet Exchange would not recognise here."""
    lowered = name.lower()
    return next((c for c in CMDLETS.values() if c.name.lower() == lowered), None)

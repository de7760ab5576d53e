"""The one table of what the demo tenant serves and what each route needs.

Graph: each route names the application permissions that allow it (any one is enough, as in Microsoft's
permission reference, where the higher `ReadWrite`/`Directory.*` permissions also allow reads), its family
(which decides the 403 wording, licence and throttle), and the method of `GraphApi` that answers it.
Exchange: each cmdlet names the roles (assigned to the app's service principal) that allow it; every
cmdlet also needs the `Exchange.ManageAsApp` application permission in the token.
"""

from __future__ import annotations

from dataclasses import dataclass

from demo_tenant.cmdlets import CMDLETS

_USER_READ = ("User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All")
_DIRECTORY_READ = ("Directory.Read.All", "Directory.ReadWrite.All")
_AUDIT = ("AuditLog.Read.All",)
_RISKY_READ = ("IdentityRiskyUser.Read.All", "IdentityRiskyUser.ReadWrite.All")
_RISKY_WRITE = ("IdentityRiskyUser.ReadWrite.All",)
_RISK_EVENTS = ("IdentityRiskEvent.Read.All", "IdentityRiskEvent.ReadWrite.All")
_MAIL_FOLDERS = ("Mail.ReadBasic.All", "Mail.ReadBasic", "Mail.Read", "Mail.ReadWrite")
_RULES_READ = ("MailboxSettings.Read", "MailboxSettings.ReadWrite")
_RULES_WRITE = ("MailboxSettings.ReadWrite",)
_AUTH_METHODS = ("UserAuthenticationMethod.Read.All", "UserAuthenticationMethod.ReadWrite.All")
_MEMBERSHIP = ("GroupMember.Read.All", "Group.Read.All", "Directory.Read.All", "Directory.ReadWrite.All")
_GRANTS = ("DelegatedPermissionGrant.Read.All", "Directory.Read.All", "Directory.ReadWrite.All")
_APPS = ("Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All")
_ALERTS = ("SecurityAlert.Read.All", "SecurityAlert.ReadWrite.All")
_REVOKE = ("User.RevokeSessions.All", "User.ReadWrite.All", "Directory.ReadWrite.All")
_ENABLE = ("User.EnableDisableAccount.All", "User.ReadWrite.All", "Directory.ReadWrite.All")
_PASSWORD_PROFILE = ("User.ReadWrite.All", "Directory.ReadWrite.All")
_ORG = ("Organization.Read.All", "Organization.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All")
# messagetracingroot-list-messagetraces (microsoft-graph-docs-contrib); the only permission Microsoft lists.
_MESSAGE_TRACE = ("ExchangeMessageTrace.Read.All",)
# directoryrole-list-members.md and directoryrole-delete-member.md (Graph v1.0): reading a role's members, and
# taking a role from a member (RoleManagement.ReadWrite.Directory is the only application permission listed).
_ROLE_MEMBERS = ("RoleManagement.Read.Directory", "RoleManagement.ReadWrite.Directory", "Directory.Read.All",
                 "Directory.ReadWrite.All")
_ROLE_MEMBER_REMOVE = ("RoleManagement.ReadWrite.Directory",)
# Graph v1.0 api-reference pages: microsoftauthenticatorauthenticationmethod-delete.md and the seven sibling
# `*authenticationmethod-delete.md` pages (UserAuthenticationMethod.ReadWrite.All, the only application permission);
# oauth2permissiongrant-delete.md (DelegatedPermissionGrant.ReadWrite.All; Directory.ReadWrite.All higher);
# user-list-approleassignments.md (Directory.Read.All; AppRoleAssignment.ReadWrite.All, Directory.ReadWrite.All
# higher); user-delete-approleassignments.md (AppRoleAssignment.ReadWrite.All only).
_AUTH_METHODS_WRITE = ("UserAuthenticationMethod.ReadWrite.All",)
_GRANTS_WRITE = ("DelegatedPermissionGrant.ReadWrite.All", "Directory.ReadWrite.All")
_APP_ROLE_READ = ("Directory.Read.All", "AppRoleAssignment.ReadWrite.All", "Directory.ReadWrite.All")
_APP_ROLE_WRITE = ("AppRoleAssignment.ReadWrite.All",)
_DOMAINS = ("Domain.Read.All", "Domain.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All")

# Entra roles an app needs (besides User.ReadWrite.All) to change another user's password profile.
PASSWORD_ADMIN_ROLES = ("User Administrator", "Privileged Authentication Administrator", "Global Administrator")


@dataclass(frozen=True)
class RouteSpec:
    """One Graph route: `pattern` segments after /v1.0, `{name}` being a parameter."""

    method: str
    pattern: str
    handler: str
    permissions: tuple[str, ...]  # any one of them; () = any valid token
    family: str  # directory, mail, auditLogs, identityProtection, reports, security
    license: str | None = None  # entraIdP1 / entraIdP2 when the API needs it

    @property
    def segments(self) -> tuple[str, ...]:
        """The pattern split into segments."""
        return tuple(self.pattern.split("/"))


GRAPH_ROUTES: tuple[RouteSpec, ...] = (
    RouteSpec("GET", "users", "list_users", _USER_READ, "directory"),
    RouteSpec("GET", "users/{user}", "get_user", _USER_READ, "directory"),
    # PATCH needs more when the body has passwordProfile (see _PASSWORD_PROFILE and PASSWORD_ADMIN_ROLES).
    RouteSpec("PATCH", "users/{user}", "patch_user", tuple(dict.fromkeys(_ENABLE + _PASSWORD_PROFILE)), "directory"),
    RouteSpec("POST", "users/{user}/revokeSignInSessions", "revoke_sessions", _REVOKE, "directory"),
    RouteSpec("GET", "users/{user}/transitiveMemberOf", "member_of", _MEMBERSHIP, "directory"),
    RouteSpec("GET", "users/{user}/transitiveMemberOf/{cast}", "member_of", _MEMBERSHIP, "directory"),
    RouteSpec("GET", "directoryRoles/{role}/members", "role_members", _ROLE_MEMBERS, "directory"),
    RouteSpec("DELETE", "directoryRoles/{role}/members/{member}/$ref", "remove_role_member", _ROLE_MEMBER_REMOVE,
              "directory"),
    RouteSpec("GET", "users/{user}/mailFolders", "list_folders", _MAIL_FOLDERS, "mail"),
    RouteSpec("GET", "users/{user}/mailFolders/{folder}", "get_folder", _MAIL_FOLDERS, "mail"),
    RouteSpec("GET", "users/{user}/mailFolders/{folder}/messageRules", "list_rules", _RULES_READ, "mail"),
    RouteSpec("GET", "users/{user}/mailboxSettings/automaticRepliesSetting", "auto_replies", _RULES_READ, "mail"),
    RouteSpec("GET", "users/{user}/mailFolders/{folder}/messageRules/{rule}", "get_rule", _RULES_READ, "mail"),
    RouteSpec("PATCH", "users/{user}/mailFolders/{folder}/messageRules/{rule}", "patch_rule", _RULES_WRITE, "mail"),
    # messagerule-delete.md (Graph v1.0): MailboxSettings.ReadWrite, the only application permission listed.
    RouteSpec("DELETE", "users/{user}/mailFolders/{folder}/messageRules/{rule}", "delete_rule", _RULES_WRITE,
              "mail"),
    RouteSpec("GET", "users/{user}/authentication/methods", "auth_methods", _AUTH_METHODS, "directory"),
    RouteSpec("GET", "users/{user}/authentication/{collection}/{method}", "get_auth_method", _AUTH_METHODS,
              "directory"),
    RouteSpec("DELETE", "users/{user}/authentication/{collection}/{method}", "delete_auth_method",
              _AUTH_METHODS_WRITE, "directory"),
    RouteSpec("GET", "users/{user}/oauth2PermissionGrants", "user_grants", _GRANTS, "directory"),
    RouteSpec("GET", "oauth2PermissionGrants/{grant}", "get_grant", _GRANTS, "directory"),
    RouteSpec("DELETE", "oauth2PermissionGrants/{grant}", "delete_grant", _GRANTS_WRITE, "directory"),
    RouteSpec("GET", "users/{user}/appRoleAssignments", "user_app_roles", _APP_ROLE_READ, "directory"),
    RouteSpec("DELETE", "users/{user}/appRoleAssignments/{assignment}", "delete_user_app_role", _APP_ROLE_WRITE,
              "directory"),
    RouteSpec("GET", "oauth2PermissionGrants", "list_grants", _GRANTS, "directory"),
    RouteSpec("GET", "servicePrincipals", "list_service_principals", _APPS, "directory"),
    RouteSpec("GET", "servicePrincipals/{sp}", "get_service_principal", _APPS, "directory"),
    RouteSpec("GET", "organization", "list_organization", _ORG, "directory"),
    RouteSpec("GET", "domains", "list_domains", _DOMAINS, "directory"),
    RouteSpec("GET", "auditLogs/signIns", "list_sign_ins", _AUDIT, "auditLogs", "entraIdP1"),
    RouteSpec("GET", "auditLogs/signIns/{id}", "get_sign_in", _AUDIT, "auditLogs", "entraIdP1"),
    RouteSpec("GET", "auditLogs/directoryAudits", "list_audits", _AUDIT, "auditLogs"),
    RouteSpec("GET", "auditLogs/directoryAudits/{id}", "get_audit", _AUDIT, "auditLogs"),
    RouteSpec("GET", "identityProtection/riskyUsers", "list_risky_users", _RISKY_READ, "identityProtection",
              "entraIdP2"),
    RouteSpec("GET", "identityProtection/riskyUsers/{id}", "get_risky_user", _RISKY_READ, "identityProtection",
              "entraIdP2"),
    RouteSpec("POST", "identityProtection/riskyUsers/confirmCompromised", "confirm_compromised", _RISKY_WRITE,
              "identityProtection", "entraIdP2"),
    RouteSpec("POST", "identityProtection/riskyUsers/dismiss", "dismiss_risk", _RISKY_WRITE, "identityProtection",
              "entraIdP2"),
    RouteSpec("GET", "identityProtection/riskDetections", "list_risk_detections", _RISK_EVENTS, "identityProtection",
              "entraIdP2"),
    RouteSpec("GET", "reports/authenticationMethods/userRegistrationDetails", "list_registrations", _AUDIT,
              "reports", "entraIdP1"),
    RouteSpec("GET", "reports/authenticationMethods/userRegistrationDetails/{id}", "get_registration", _AUDIT,
              "reports", "entraIdP1"),
    RouteSpec("GET", "security/alerts_v2", "list_alerts", _ALERTS, "security"),
    RouteSpec("GET", "security/alerts_v2/{id}", "get_alert", _ALERTS, "security"),
    RouteSpec("GET", "me", "me", (), "directory"),
    RouteSpec("GET", "subscribedSkus", "list_subscribed_skus", _ORG, "directory"),
    RouteSpec("GET", "admin/exchange/tracing/messageTraces", "list_message_traces", _MESSAGE_TRACE, "directory"),
)

# Service plans (`servicePlanName` in `GET /subscribedSkus`) behind each `tenant.licenses` switch, as Microsoft's
# "Product names and service plan identifiers for licensing" lists them:
# https://learn.microsoft.com/en-us/entra/identity/users/licensing-service-plan-reference
LICENSE_SERVICE_PLANS: dict[str, tuple[str, ...]] = {
    "entraIdP1": ("AAD_PREMIUM",),
    "entraIdP2": ("AAD_PREMIUM_P2",),
    "defenderForOffice365": ("ATP_ENTERPRISE", "THREAT_INTELLIGENCE"),
}

ENABLE_PERMISSIONS = _ENABLE
PASSWORD_PROFILE_PERMISSIONS = _PASSWORD_PROFILE

# Exchange Online: roles (Entra roles or Exchange role groups assigned to the app) that allow each cmdlet; from the
# one cmdlet table (demo_tenant/cmdlets.py, Microsoft's cmdlet reference).
EXCHANGE_CMDLET_ROLES: dict[str, tuple[str, ...]] = {name: spec.roles for name, spec in CMDLETS.items()}
EXCHANGE_APP_PERMISSION = "Exchange.ManageAsApp"

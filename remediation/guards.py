"""Guards: checks that refuse an action before any write, because carrying it out would harm the tenant itself.

`locks_out_tenant` keeps the tenant's last enabled Global Administrator: blocking that account's sign-in, or taking
the Global Administrator role from it, would leave nobody who can manage the tenant (Microsoft asks for at least two
Global Administrators for exactly this reason: "Best practices for Microsoft Entra roles", and recovering from
it takes a support case). A press that the guard stops is refused on the card ("the last Global Administrator: add
another first") and audited as refused, with no write to the tenant; automatic containment skips such an account.

The guard reads the tenant (the role's members, `GET /directoryRoles(roleTemplateId='…')/members`); when that read
fails, the answer is "it would lock the tenant out" (fail closed): an action that might remove the last
administrator is not worth the risk, and the person can try again.
"""

from __future__ import annotations

import logging

from m365.errors import M365Error, NotFound
from m365.protocol import Tenant

log = logging.getLogger(__name__)

# The Global Administrator role's template id: the same in every tenant ("Microsoft Entra built-in roles",
# learn.microsoft.com/entra/identity/role-based-access-control/permissions-reference).
GLOBAL_ADMIN_TEMPLATE_ID = "62e90394-69f5-4237-9190-012177145e10"


async def locks_out_tenant(tenant: Tenant, account_id: str, *, removing_role: str | None) -> bool:
    """True when the action would leave the tenant without an enabled Global Administrator: `account_id` is the
    last enabled user holding that role, and the action blocks its sign-in (`removing_role` None) or takes the
    Global Administrator role from it (`removing_role`: the template id of the role taken, the same in every
    tenant). Any other role: False at once, without asking the tenant."""
    if removing_role is not None and removing_role.lower() != GLOBAL_ADMIN_TEMPLATE_ID:
        return False
    try:
        members = await tenant.list_role_members(GLOBAL_ADMIN_TEMPLATE_ID)
    except NotFound:
        return False  # the role was never activated in the tenant: nobody holds it, so nobody is the last
    except M365Error as exc:
        log.warning("could not read the Global Administrators (%s); refusing to risk removing the last one",
                    type(exc).__name__)
        return True
    # Only enabled users count: a service principal cannot sign in to the portals to add another administrator.
    enabled_users = {m.id.lower() for m in members if m.kind == "user" and m.account_enabled is True}
    return enabled_users == {account_id.lower()}

"""Who is speaking to the bot and what their role lets them do."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class Role(IntEnum):
    """Roles in increasing power; comparisons (`role >= Role.IT_STAFF`) are meaningful."""

    USER = 0
    IT_STAFF = 1
    SECURITY_ADMIN = 2

    @property
    def key(self) -> str:
        """The role's name as used in message keys (`user`, `it_staff`, `security_admin`)."""
        return self.name.lower()


@dataclass(frozen=True)
class Speaker:
    """The person behind an activity, as Teams identified them and the tenant classified them."""

    aad_object_id: str
    name: str
    tenant_id: str
    role: Role = Role.USER
    locale: str = "en-US"
    time_zone: str | None = None
    user_principal_name: str = ""
    # True when the role could not be looked up (Microsoft 365 unreachable): `role` is then USER (fail closed),
    # and what needs more than USER is answered "I can't reach Microsoft 365", not "you may not".
    role_unknown: bool = False

    @property
    def may_investigate(self) -> bool:
        """IT staff and security admins may investigate accounts."""
        return self.role >= Role.IT_STAFF

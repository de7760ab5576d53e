"""Who is speaking: the speaker's tenant, Entra object id and role (from group and directory-role membership).

Roles fail closed: when the lookup fails (Microsoft 365 unreachable, the token endpoint down, no answer within
`LOOKUP_TIMEOUT_SECONDS`) the speaker is a plain user for `FAILED_LOOKUP_CACHE_SECONDS`, never the role they had
before. The failure is logged once per outage (WARNING), not once per speaker and turn; the recovery once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from microsoft_agents.hosting.core import TurnContext

from domain.people import Role, Speaker
from m365.errors import M365Error
from m365.protocol import Tenant

log = logging.getLogger(__name__)

# Entra built-in role template ids that may act (DESIGN.md: Security, Exchange and Global Administrator).
ADMIN_ROLE_TEMPLATE_IDS = frozenset(
    {
        "194ae4cb-b126-40b2-bd5b-6091b380977d",  # Security Administrator
        "29232cdf-9323-42fd-ade2-1d097af3e4de",  # Exchange Administrator
        "62e90394-69f5-4237-9190-012177145e10",  # Global Administrator
    }
)
ROLE_CACHE_SECONDS = 300.0
# A failed lookup is retried sooner: the speaker is treated as a plain user meanwhile (fail closed).
FAILED_LOOKUP_CACHE_SECONDS = 30.0
# A role lookup that has not answered by then is a failure: a hanging token endpoint or Graph must not hold every
# turn (help included) for the HTTP timeout.
LOOKUP_TIMEOUT_SECONDS = 5.0


def activity_tenant_id(turn_context: TurnContext) -> str | None:
    """The tenant of the activity: Teams channel data first (what Teams always sends), else `conversation.tenantId`.

    Inbound channel data is the JSON as it arrived (a dict): the one field is read instead of validating all of it
    into `TeamsChannelData` on every turn.
    """
    activity = turn_context.activity
    raw = activity.channel_data
    tenant = raw.get("tenant") if isinstance(raw, Mapping) else getattr(raw, "tenant", None)
    tenant_id = tenant.get("id") if isinstance(tenant, Mapping) else getattr(tenant, "id", None)
    if not tenant_id and activity.conversation is not None:
        tenant_id = activity.conversation.tenant_id
    return tenant_id if isinstance(tenant_id, str) and tenant_id else None


@dataclass
class _Cached:
    role: Role
    expires: float
    failed: bool = False  # USER because the lookup failed


class RoleResolver:
    """Resolves a user's role from Graph `transitiveMemberOf`, cached for at most five minutes."""

    def __init__(
        self,
        tenant: Tenant,
        *,
        it_staff_group_id: str,
        security_admin_group_id: str,
        ttl_seconds: float = ROLE_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        lookup_timeout: float = LOOKUP_TIMEOUT_SECONDS,
    ) -> None:
        self._tenant = tenant
        self._it_group = it_staff_group_id.lower()
        self._admin_group = security_admin_group_id.lower()
        self._ttl = min(ttl_seconds, ROLE_CACHE_SECONDS)
        self._clock = clock
        self._lookup_timeout = lookup_timeout
        self._cache: dict[str, _Cached] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._failing = False  # in an outage: log its first failure only

    async def role_of(self, aad_object_id: str) -> Role:
        """The role of the user with this Entra object id; `Role.USER` when unknown or on lookup failure."""
        if not aad_object_id:
            return Role.USER
        now = self._clock()
        cached = self._cache.get(aad_object_id)
        if cached and cached.expires > now:
            return cached.role
        lock = self._locks.setdefault(aad_object_id, asyncio.Lock())
        async with lock:
            cached = self._cache.get(aad_object_id)
            if cached and cached.expires > self._clock():
                return cached.role
            try:
                async with asyncio.timeout(self._lookup_timeout):
                    role = await self._lookup(aad_object_id)
                ttl, failed = self._ttl, False
            except (M365Error, TimeoutError) as exc:
                self._failed(aad_object_id, exc)
                role, ttl, failed = Role.USER, min(self._ttl, FAILED_LOOKUP_CACHE_SECONDS), True
            except Exception as exc:  # noqa: BLE001 - a bug here must not open a door nor stop the turn
                self._failed(aad_object_id, exc, unexpected=True)
                role, ttl, failed = Role.USER, min(self._ttl, FAILED_LOOKUP_CACHE_SECONDS), True
            else:
                if self._failing:
                    self._failing = False
                    log.warning("role lookups answer again")
            self._cache[aad_object_id] = _Cached(role, self._clock() + ttl, failed=failed)
            if len(self._locks) > 10_000:
                self._locks.clear()
            return role

    def _failed(self, aad_object_id: str, exc: BaseException, *, unexpected: bool = False) -> None:
        """Log a failed lookup: the first of an outage at WARNING (with a traceback when unexpected), then DEBUG."""
        if self._failing:
            log.debug("role lookup failed for %s: %s", aad_object_id, type(exc).__name__)
            return
        self._failing = True
        log.warning("role lookups fail (%s): speakers are treated as users for %.0f s at a time until they answer",
                    type(exc).__name__, min(self._ttl, FAILED_LOOKUP_CACHE_SECONDS), exc_info=unexpected)

    def failed(self, aad_object_id: str) -> bool:
        """True while this user's role is USER because the lookup failed (not because they are a user)."""
        cached = self._cache.get(aad_object_id)
        return cached is not None and cached.failed and cached.expires > self._clock()

    def forget(self, aad_object_id: str) -> None:
        """Drop a cached role (after a change in membership, for tests and admins)."""
        self._cache.pop(aad_object_id, None)

    async def _lookup(self, aad_object_id: str) -> Role:
        memberships = await self._tenant.list_memberships(aad_object_id)
        ids = {m.id.lower() for m in memberships}
        templates = {(m.role_template_id or "").lower() for m in memberships if m.is_role}
        if (self._admin_group and self._admin_group in ids) or templates & ADMIN_ROLE_TEMPLATE_IDS:
            return Role.SECURITY_ADMIN
        if self._it_group and self._it_group in ids:
            return Role.IT_STAFF
        return Role.USER


async def identify(turn_context: TurnContext, resolver: RoleResolver, tenant_id: str) -> Speaker:
    """The speaker of this activity with their resolved role."""
    activity = turn_context.activity
    sender = activity.from_property
    aad_id = (getattr(sender, "aad_object_id", None) or "") if sender else ""
    name = (getattr(sender, "name", None) or "") if sender else ""
    role = await resolver.role_of(aad_id)
    time_zone = getattr(activity, "local_timezone", None)
    return Speaker(
        aad_object_id=aad_id,
        name=name,
        tenant_id=tenant_id,
        role=role,
        locale=activity.locale or "en-US",
        time_zone=time_zone if isinstance(time_zone, str) else None,
        role_unknown=resolver.failed(aad_id),
    )

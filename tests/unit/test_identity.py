"""Role resolution: groups and admin roles, the five-minute cache, failing closed."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from microsoft_agents.activity import Activity, ConversationAccount
from microsoft_agents.activity.teams import TeamsChannelData, TenantInfo
from microsoft_agents.hosting.core import TurnContext

from domain.people import Role
from m365.errors import UpstreamUnavailable
from teams.identity import RoleResolver, activity_tenant_id
from tests.fakes import IT_STAFF_GROUP, SECURITY_ADMIN_GROUP, FakeTenant, directory_role, group

ALEX, ISAIAH, MEGAN, GA = "alex", "isaiah", "megan", "global-admin"


def resolver(tenant: FakeTenant, clock: list[float]) -> RoleResolver:
    return RoleResolver(tenant, it_staff_group_id=IT_STAFF_GROUP, security_admin_group_id=SECURITY_ADMIN_GROUP,
                        clock=lambda: clock[0])


def fake() -> FakeTenant:
    return FakeTenant(memberships={
        ALEX: [group(SECURITY_ADMIN_GROUP, "Security Admins")],
        ISAIAH: [group(IT_STAFF_GROUP, "IT Staff"), group("x", "All staff")],
        MEGAN: [group("x", "All staff")],
        GA: [directory_role("62e90394-69f5-4237-9190-012177145e10", "Global Administrator")],
    })


async def test_roles_from_groups_and_directory_roles() -> None:
    roles = resolver(fake(), [0.0])
    assert await roles.role_of(ALEX) == Role.SECURITY_ADMIN
    assert await roles.role_of(ISAIAH) == Role.IT_STAFF
    assert await roles.role_of(MEGAN) == Role.USER
    assert await roles.role_of(GA) == Role.SECURITY_ADMIN
    assert await roles.role_of("") == Role.USER


async def test_cached_for_at_most_five_minutes() -> None:
    tenant, clock = fake(), [0.0]
    roles = resolver(tenant, clock)
    await roles.role_of(ISAIAH)
    clock[0] = 299.0
    await roles.role_of(ISAIAH)
    assert len(tenant.called("list_memberships")) == 1
    tenant.memberships[ISAIAH] = [group(SECURITY_ADMIN_GROUP, "Security Admins")]
    clock[0] = 301.0
    assert await roles.role_of(ISAIAH) == Role.SECURITY_ADMIN
    assert len(tenant.called("list_memberships")) == 2


async def test_lookup_failure_means_user_and_is_retried_soon() -> None:
    tenant, clock = fake(), [0.0]
    tenant.failures["list_memberships"] = UpstreamUnavailable("down", status=503)
    roles = resolver(tenant, clock)
    assert await roles.role_of(ALEX) == Role.USER
    del tenant.failures["list_memberships"]
    clock[0] = 31.0
    assert await roles.role_of(ALEX) == Role.SECURITY_ADMIN


def test_activity_tenant_id_from_channel_data_as_sent_as_a_model_or_from_the_conversation() -> None:
    def tenant_of(channel_data: object, conversation_tenant: str | None = None) -> str | None:
        activity = Activity(type="message", channel_data=channel_data,
                            conversation=ConversationAccount(id="c", tenant_id=conversation_tenant))
        return activity_tenant_id(TurnContext(cast(Any, SimpleNamespace()), activity))

    assert tenant_of({"tenant": {"id": "t-1"}, "team": {"id": "x"}}) == "t-1"
    assert tenant_of(TeamsChannelData(tenant=TenantInfo(id="t-2"))) == "t-2"
    assert tenant_of({"tenant": "t-3"}) is None  # malformed: refused, never an error
    assert tenant_of({"tenant": {"id": 3}}) is None
    assert tenant_of({"Tenant": {"id": "t-4"}}) is None  # JSON keys are case-sensitive, as the SDK reads them
    assert tenant_of({}, "t-5") == "t-5"
    assert tenant_of(None, "t-6") == "t-6"
    assert tenant_of(None) is None

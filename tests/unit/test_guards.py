"""The last-Global-Administrator guard (`remediation.guards`) and the automatic-containment settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import Settings, SettingsError
from m365.errors import NotFound, UpstreamUnavailable
from m365.records import RoleMember
from remediation.guards import GLOBAL_ADMIN_TEMPLATE_ID, locks_out_tenant
from tests.fakes import FakeTenant

MEGAN = "2f6d4c93-1b5e-4d0a-83f4-7a8b9c0d1e03"
ALEX = "0d4b2a71-9f3c-4b8e-a1d2-5e6f7a8b9c01"
EXCHANGE_ADMIN_TEMPLATE = "29232cdf-9323-42fd-ade2-1d097af3e4de"


def admins(*members: RoleMember) -> FakeTenant:
    return FakeTenant(role_members={GLOBAL_ADMIN_TEMPLATE_ID: list(members)})


async def test_blocking_the_only_enabled_global_admin_locks_the_tenant_out() -> None:
    tenant = admins(RoleMember(MEGAN, "user", True))
    assert await locks_out_tenant(tenant, MEGAN, removing_role=None) is True
    assert await locks_out_tenant(tenant, MEGAN.upper(), removing_role=GLOBAL_ADMIN_TEMPLATE_ID) is True
    assert tenant.called("list_role_members") == [(GLOBAL_ADMIN_TEMPLATE_ID,), (GLOBAL_ADMIN_TEMPLATE_ID,)]


async def test_another_enabled_global_admin_makes_it_safe() -> None:
    tenant = admins(RoleMember(MEGAN, "user", True), RoleMember(ALEX, "user", True))
    assert await locks_out_tenant(tenant, MEGAN, removing_role=None) is False


@pytest.mark.parametrize("other", [RoleMember(ALEX, "user", False),  # a disabled admin cannot sign in to help
                                   RoleMember("sp-1", "servicePrincipal", None)])  # nor can an app, in a portal
async def test_only_enabled_users_count_as_another_admin(other: RoleMember) -> None:
    tenant = admins(RoleMember(MEGAN, "user", True), other)
    assert await locks_out_tenant(tenant, MEGAN, removing_role=None) is True


async def test_an_account_that_is_no_global_admin_is_never_the_last() -> None:
    tenant = admins(RoleMember(ALEX, "user", True))
    assert await locks_out_tenant(tenant, MEGAN, removing_role=None) is False


async def test_another_role_is_answered_without_asking_the_tenant() -> None:
    tenant = admins(RoleMember(MEGAN, "user", True))
    assert await locks_out_tenant(tenant, MEGAN, removing_role=EXCHANGE_ADMIN_TEMPLATE) is False
    assert tenant.calls == []


async def test_a_role_never_activated_has_no_last_member() -> None:
    tenant = FakeTenant(failures={"list_role_members": NotFound("no role", status=404)})
    assert await locks_out_tenant(tenant, MEGAN, removing_role=None) is False


async def test_an_unreadable_role_fails_closed() -> None:
    tenant = FakeTenant(failures={"list_role_members": UpstreamUnavailable("down", status=503)})
    assert await locks_out_tenant(tenant, MEGAN, removing_role=None) is True


def test_automatic_containment_is_off_by_default_with_a_bound_of_three(tmp_path: Path) -> None:
    settings = Settings.from_env({}, dotenv_path=tmp_path / "none.env")
    assert (settings.auto_contain, settings.auto_contain_max_per_hour) == (False, 3)
    on = Settings.from_env({"AUTO_CONTAIN": "true", "AUTO_CONTAIN_MAX_PER_HOUR": "1"}, dotenv_path=tmp_path / "x")
    assert (on.auto_contain, on.auto_contain_max_per_hour) == (True, 1)


@pytest.mark.parametrize(("env", "message"), [
    ({"AUTO_CONTAIN": "sometimes"}, "AUTO_CONTAIN must be true or false"),
    ({"AUTO_CONTAIN_MAX_PER_HOUR": "0"}, "AUTO_CONTAIN_MAX_PER_HOUR must be between 1 and 100"),
    ({"AUTO_CONTAIN_MAX_PER_HOUR": "many"}, "AUTO_CONTAIN_MAX_PER_HOUR must be an integer"),
])
def test_bad_containment_settings_name_the_setting(env: dict[str, str], message: str, tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env, dotenv_path=tmp_path / "none.env")
    with pytest.raises(SettingsError, match="AUTO_CONTAIN_MAX_PER_HOUR"):
        Settings.from_env({}, dotenv_path=tmp_path / "none.env").replace(auto_contain_max_per_hour=0)

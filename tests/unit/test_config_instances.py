"""Settings for several instances and crash safety: the watch's seconds override, the reconciler's grace period,
and joining a running demo tenant (`DEMO_TENANT_ENV`), which must never point an anonymous bot at a real tenant."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import Settings, SettingsError, read_demo_tenant_env

ABSENT = Path("/nonexistent/.env")
DEMO_ENV = {
    "M365_TENANT_ID": "4f8c2b1e-6d3a-4e5b-9c7d-1a2b3c4d5e6f",
    "M365_CLIENT_ID": "5a9d3c2f-7e4b-4f6c-8d9e-2b3c4d5e6f70",
    "M365_CLIENT_SECRET": "demo-secret",
    "M365_AUTHORITY_HOST": "https://127.0.0.1:8443",
    "M365_GRAPH_URL": "https://127.0.0.1:8443",
    "M365_EXCHANGE_URL": "https://127.0.0.1:8443",
    "M365_CA_FILE": "/tmp/ca.pem",
}


def settings(**env: str) -> Settings:
    return Settings.from_env(env, dotenv_path=ABSENT)


def test_defaults() -> None:
    s = settings()
    assert (s.watch_interval_seconds, s.watch_interval, s.reconcile_grace_seconds, s.demo_tenant_env) == (
        0, 60.0, 600, "")


@pytest.mark.parametrize(("env", "interval"), [
    ({"WATCH_INTERVAL_SECONDS": "6"}, 6.0),
    ({"WATCH_INTERVAL_SECONDS": "6", "WATCH_INTERVAL_MINUTES": "10"}, 6.0),
    ({"WATCH_INTERVAL_SECONDS": "", "WATCH_INTERVAL_MINUTES": "10"}, 600.0),
    ({"WATCH_INTERVAL_SECONDS": "0", "WATCH_INTERVAL_MINUTES": "2"}, 120.0),
])
def test_the_watch_interval_in_seconds_replaces_the_minutes(env: dict[str, str], interval: float) -> None:
    assert settings(**env).watch_interval == interval


@pytest.mark.parametrize(("name", "raw"), [
    ("WATCH_INTERVAL_SECONDS", "1"), ("WATCH_INTERVAL_SECONDS", "-5"), ("WATCH_INTERVAL_SECONDS", "86401"),
    ("WATCH_INTERVAL_SECONDS", "2.5"), ("RECONCILE_GRACE_SECONDS", "0"), ("RECONCILE_GRACE_SECONDS", "86401"),
    ("RECONCILE_GRACE_SECONDS", "soon"),
])
def test_bad_values_are_refused_with_the_name(name: str, raw: str) -> None:
    with pytest.raises(SettingsError, match=name):
        settings(**{name: raw})


def test_a_direct_bad_value_is_refused_too() -> None:
    with pytest.raises(SettingsError, match="WATCH_INTERVAL_SECONDS"):
        Settings().replace(watch_interval_seconds=1)
    with pytest.raises(SettingsError, match="RECONCILE_GRACE_SECONDS"):
        Settings().replace(reconcile_grace_seconds=0)


def _write(path: Path, env: dict[str, str]) -> Path:
    path.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    return path


def test_the_demo_tenant_env_file_is_read(tmp_path: Path) -> None:
    admins = "7f2b3c4d-5e6f-4071-8283-94a5b6c7d8e9"
    path = _write(tmp_path / "demo.env", {**DEMO_ENV, "SECURITY_ADMIN_GROUP_ID": admins})
    assert settings(DEMO_TENANT_ENV=str(path)).demo_tenant_env == str(path)
    env = read_demo_tenant_env(path)
    assert env["M365_CLIENT_SECRET"] == "demo-secret" and env["SECURITY_ADMIN_GROUP_ID"].startswith("7f2b")


def test_the_demo_tenant_env_must_exist_and_stay_in_demo_mode(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="is not a file"):
        settings(DEMO_TENANT_ENV=str(tmp_path / "missing.env"))
    path = _write(tmp_path / "demo.env", DEMO_ENV)
    with pytest.raises(SettingsError, match="DEMO_TENANT_ENV joins a demo tenant"):
        settings(DEMO_TENANT_ENV=str(path), M365_TENANT_ID=DEMO_ENV["M365_TENANT_ID"],
                 M365_CLIENT_ID=DEMO_ENV["M365_CLIENT_ID"], M365_CLIENT_SECRET="x")


@pytest.mark.parametrize("url", ["https://login.microsoftonline.com", "http://127.0.0.1:8443",
                                 "https://graph.microsoft.com", "https://10.0.0.5:8443"])
def test_an_anonymous_demo_never_joins_anything_but_loopback(tmp_path: Path, url: str) -> None:
    """Demo mode serves without Bot Framework authentication: the file must not lead to a real tenant."""
    path = _write(tmp_path / "demo.env", {**DEMO_ENV, "M365_GRAPH_URL": url})
    with pytest.raises(SettingsError, match="M365_GRAPH_URL"):
        read_demo_tenant_env(path)


def test_an_incomplete_demo_tenant_env_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path / "demo.env", {k: v for k, v in DEMO_ENV.items() if k != "M365_CA_FILE"})
    with pytest.raises(SettingsError, match="M365_CA_FILE"):
        read_demo_tenant_env(path)

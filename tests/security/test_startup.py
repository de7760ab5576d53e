"""Production mode refuses to start without Bot Framework JWT validation; the security settings are validated."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from microsoft_agents.hosting.core.authorization.auth_types import AuthTypes

import bot
from bot import create_app
from config import BOT_FRAMEWORK_OPENID_METADATA_URL, Settings, SettingsError
from teams.auth import BotAuthenticator, auth_configuration, connection_manager

TENANT = "4f8c2b1e-6d3a-4e5b-9c7d-1a2b3c4d5e6f"
CLIENT = "22222222-3333-4444-8555-666666666666"
APP_ID = "11111111-2222-4333-8444-555555555555"
M365 = {"m365_tenant_id": TENANT, "m365_client_id": CLIENT, "m365_client_secret": "m365-secret"}


def test_a_real_tenant_without_bot_authentication_is_refused(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, **M365)
    assert not settings.demo_mode and not settings.bot_auth_enabled
    with pytest.raises(SettingsError, match=r"CLIENTID \(MicrosoftAppId\) is empty"):
        settings.check_can_serve()
    with pytest.raises(SettingsError, match=r"CLIENTID \(MicrosoftAppId\) is empty"):
        create_app(settings)


def test_main_exits_with_the_reason(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                    tmp_path: Path) -> None:
    for name, value in (("M365_TENANT_ID", TENANT), ("M365_CLIENT_ID", CLIENT), ("M365_CLIENT_SECRET", "s"),
                        ("MicrosoftAppId", ""), ("MicrosoftAppPassword", ""), ("DATA_DIR", str(tmp_path)),
                        ("CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID", "")):
        monkeypatch.setenv(name, value)
    assert bot.main([]) == 2
    assert "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID (MicrosoftAppId) is empty" in capsys.readouterr().err


def test_main_warns_once_about_the_botbuilder_setting_names(monkeypatch: pytest.MonkeyPatch,
                                                            caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    for name, value in (("MicrosoftAppId", APP_ID), ("MicrosoftAppPassword", "legacy-secret"),
                        ("MicrosoftAppType", "MultiTenant"), ("DATA_DIR", str(tmp_path))):
        monkeypatch.setenv(name, value)
    for name in ("CLIENTID", "CLIENTSECRET", "TENANTID", "AUTHTYPE"):
        monkeypatch.delenv(f"CONNECTIONS__SERVICE_CONNECTION__SETTINGS__{name}", raising=False)
    served: list[Settings] = []
    monkeypatch.setattr(bot, "create_app", lambda settings: served.append(settings))
    monkeypatch.setattr(bot.web, "run_app", lambda *args, **kwargs: None)
    with caplog.at_level(logging.WARNING):
        assert bot.main([]) == 0
    assert served[0].app_id == APP_ID and served[0].app_password == "legacy-secret"
    warnings = [r.getMessage() for r in caplog.records if "deprecated setting names" in r.getMessage()]
    assert len(warnings) == 1 and "\n" not in warnings[0]
    assert "MicrosoftAppId -> CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID" in warnings[0]
    assert "legacy-secret" not in caplog.text


def test_a_real_tenant_with_bot_authentication_may_serve(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, app_id=APP_ID, app_password="p", **M365)
    settings.check_can_serve()
    create_app(settings)  # builds nothing until started: no tenant or database is contacted


def test_the_demo_stays_anonymous(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.demo_mode and not settings.bot_auth_enabled
    settings.check_can_serve()


def test_command_line_tools_still_read_m365_only_settings() -> None:
    """Only serving is refused: `python -m investigation` and `python -m tools.audit` need no bot identity."""
    settings = Settings.from_env({"M365_TENANT_ID": TENANT, "M365_CLIENT_ID": CLIENT, "M365_CLIENT_SECRET": "s"},
                                 dotenv_path=Path("/nonexistent"))
    assert not settings.demo_mode


@pytest.mark.parametrize("url", ["http://login.botframework.com/v1/.well-known/openidconfiguration",
                                 "ftp://127.0.0.1/x", "https://", "login.botframework.com", "http://10.0.0.1/x",
                                 "http://127.0.0.1.evil.example/x"])
def test_the_metadata_url_must_be_https_except_on_loopback(url: str) -> None:
    with pytest.raises(SettingsError, match="BOT_OPENID_METADATA_URL"):
        Settings.from_env({"BOT_OPENID_METADATA_URL": url}, dotenv_path=Path("/nonexistent"))


@pytest.mark.parametrize("url", ["https://login.botframework.com/v1/.well-known/openidconfiguration",
                                 "http://127.0.0.1:8123/v1/.well-known/openidconfiguration",
                                 "http://localhost:1/x", "http://[::1]:1/x"])
def test_accepted_metadata_urls(url: str) -> None:
    settings = Settings.from_env({"BOT_OPENID_METADATA_URL": url}, dotenv_path=Path("/nonexistent"))
    assert settings.bot_openid_metadata_url == url


def test_the_metadata_url_defaults_to_microsofts_and_reaches_the_authenticator() -> None:
    settings = Settings.from_env({}, dotenv_path=Path("/nonexistent"))
    assert settings.bot_openid_metadata_url == BOT_FRAMEWORK_OPENID_METADATA_URL
    authenticator = BotAuthenticator(settings.replace(app_id=APP_ID, app_password="p",
                                                      bot_openid_metadata_url="https://example.test/meta"))
    assert authenticator.metadata_url == "https://example.test/meta"
    assert not authenticator.anonymous


def test_the_sdk_connection_is_anonymous_only_without_an_app_id() -> None:
    anonymous = connection_manager(Settings()).get_default_connection_configuration()
    assert anonymous.ANONYMOUS_ALLOWED and not anonymous.CLIENT_ID
    secured = connection_manager(Settings(app_id=APP_ID, app_password="p")).get_default_connection_configuration()
    assert not secured.ANONYMOUS_ALLOWED
    assert (secured.CLIENT_ID, secured.CLIENT_SECRET, secured.AUTH_TYPE) == (APP_ID, "p", AuthTypes.client_secret)
    # No tenant = a multi-tenant bot: outbound tokens from the botframework.com tenant, as botbuilder did.
    assert secured.TENANT_ID == "botframework.com"


def test_the_sdk_connection_follows_the_auth_type(tmp_path: Path) -> None:
    pfx = tmp_path / "bot.pfx"
    pfx.write_bytes(b"not read until a token is needed")
    cert = auth_configuration(Settings(app_id=APP_ID, app_tenant_id=TENANT, auth_type="certificate",
                                       cert_pfx_file=str(pfx), send_x5c=True))
    assert (cert.AUTH_TYPE, cert.CERT_PFX_FILE, cert.SEND_X5C, cert.TENANT_ID) == (AuthTypes.certificate, str(pfx),
                                                                                   True, TENANT)
    assert cert.CLIENT_SECRET is None
    msi = auth_configuration(Settings(app_id=APP_ID, auth_type="UserManagedIdentity"))
    assert (msi.AUTH_TYPE, msi.CLIENT_ID) == (AuthTypes.user_managed_identity, APP_ID)
    federated = auth_configuration(Settings(app_id=APP_ID, app_tenant_id=TENANT, auth_type="FederatedCredentials",
                                            federated_client_id=CLIENT))
    assert (federated.AUTH_TYPE, federated.FEDERATED_CLIENT_ID) == (AuthTypes.federated_credentials, CLIENT)


def test_the_secret_is_not_in_the_settings_repr() -> None:
    assert "bot-secret" not in repr(Settings(app_id=APP_ID, app_password="bot-secret"))


@pytest.mark.parametrize(("raw", "expected"), [("", 20), ("0", 0), ("5", 5), ("10000", 10_000)])
def test_rate_limit_setting(raw: str, expected: int) -> None:
    environ = {"RATE_LIMIT_PER_MINUTE": raw} if raw else {}
    assert Settings.from_env(environ, dotenv_path=Path("/nonexistent")).rate_limit_per_minute == expected


@pytest.mark.parametrize("raw", ["-1", "10001", "ten", "1.5"])
def test_bad_rate_limit_setting(raw: str) -> None:
    with pytest.raises(SettingsError, match="RATE_LIMIT_PER_MINUTE"):
        Settings.from_env({"RATE_LIMIT_PER_MINUTE": raw}, dotenv_path=Path("/nonexistent"))

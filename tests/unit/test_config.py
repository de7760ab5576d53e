"""Settings: defaults, every validation error, .env handling."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import Settings, SettingsError, async_database_url

APP_ID = "11111111-2222-4333-8444-555555555555"
TENANT = "4f8c2b1e-6d3a-4e5b-9c7d-1a2b3c4d5e6f"


def test_defaults_are_demo_mode_with_anonymous_bot(tmp_path: Path) -> None:
    settings = Settings.from_env({}, dotenv_path=tmp_path / "none.env")
    assert settings.demo_mode and not settings.bot_auth_enabled
    assert settings.port == 3978
    assert settings.effective_database_url.startswith("sqlite+aiosqlite:///")
    assert settings.effective_database_url.endswith("data/bot.db")


def test_full_production_configuration(tmp_path: Path) -> None:
    env = {
        "MicrosoftAppId": APP_ID, "MicrosoftAppPassword": "pw", "MicrosoftAppType": "SingleTenant",
        "MicrosoftAppTenantId": TENANT, "M365_TENANT_ID": TENANT, "M365_CLIENT_ID": APP_ID,
        "M365_CLIENT_SECRET": "s3cret", "DATABASE_URL": "postgresql://u@db:5432/bot", "PORT": "8080",
    }
    settings = Settings.from_env(env, dotenv_path=tmp_path / "none.env")
    assert settings.bot_auth_enabled and not settings.demo_mode
    assert settings.effective_database_url == "postgresql+asyncpg://u@db:5432/bot"
    assert settings.port == 8080
    assert "s3cret" not in repr(settings) and "'pw'" not in repr(settings)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MicrosoftAppId": APP_ID}, "MicrosoftAppPassword is empty"),
        ({"MicrosoftAppPassword": "x"}, "MicrosoftAppId is empty"),
        ({"MicrosoftAppId": "not-a-guid", "MicrosoftAppPassword": "x"}, "must be a GUID"),
        ({"MicrosoftAppType": "Weird"}, "MicrosoftAppType"),
        ({"MicrosoftAppId": APP_ID, "MicrosoftAppPassword": "x", "MicrosoftAppType": "SingleTenant"},
         "MicrosoftAppTenantId"),
        ({"M365_TENANT_ID": TENANT}, "half-configured"),
        ({"M365_TENANT_ID": TENANT, "M365_CLIENT_ID": APP_ID}, "M365_CLIENT_SECRET"),
        ({"M365_TENANT_ID": TENANT, "M365_CLIENT_ID": APP_ID, "M365_CLIENT_SECRET": "a",
          "M365_CLIENT_CERTIFICATE_PATH": "/nonexistent.pem"}, "not both"),
        ({"PORT": "eighty"}, "PORT must be an integer"),
        ({"PORT": "70000"}, "PORT must be between"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"IT_STAFF_GROUP_ID": "IT Staff"}, "IT_STAFF_GROUP_ID"),
        ({"M365_GRAPH_URL": "http://graph.example"}, "https://"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"HTTP_TIMEOUT_SECONDS": "0"}, "HTTP_TIMEOUT_SECONDS"),
        ({"PUBLIC_HOSTNAME": "https://bot.contoso.com"}, "PUBLIC_HOSTNAME"),
        ({"PUBLIC_HOSTNAME": "bot.contoso.com/api/messages"}, "PUBLIC_HOSTNAME"),
        ({"PUBLIC_HOSTNAME": "bot.contoso.com:443"}, "PUBLIC_HOSTNAME"),
        ({"PUBLIC_HOSTNAME": "bot"}, "PUBLIC_HOSTNAME"),
        ({"PUBLIC_HOSTNAME": "-bot.contoso.com"}, "PUBLIC_HOSTNAME"),
    ],
)
def test_bad_values_name_the_setting(env: dict[str, str], message: str, tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env, dotenv_path=tmp_path / "none.env")


def test_dotenv_is_read_and_environment_wins(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("PORT=4000\nLOG_LEVEL=debug\n")
    settings = Settings.from_env({"PORT": "5000"}, dotenv_path=dotenv)
    assert settings.port == 5000
    assert settings.log_level == "DEBUG"


def test_public_hostname_is_normalised(tmp_path: Path) -> None:
    assert Settings.from_env({}, dotenv_path=tmp_path / "none.env").public_hostname == ""
    settings = Settings.from_env({"PUBLIC_HOSTNAME": " Blocked-Sender.AzureWebsites.net. "},
                                 dotenv_path=tmp_path / "none.env")
    assert settings.public_hostname == "blocked-sender.azurewebsites.net"


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(AttributeError):
        settings.port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///data/x.db", "sqlite+aiosqlite:///data/x.db"),
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+asyncpg://u@h/db"),
    ],
)
def test_async_database_url(url: str, expected: str) -> None:
    assert async_database_url(url) == expected

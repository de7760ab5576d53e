"""Settings: defaults, every validation error, .env handling."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import Settings, SettingsError, async_database_url

APP_ID = "11111111-2222-4333-8444-555555555555"
TENANT = "4f8c2b1e-6d3a-4e5b-9c7d-1a2b3c4d5e6f"
MSI = "33333333-4444-4555-8666-777777777777"
S = "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__"


def test_defaults_are_demo_mode_with_anonymous_bot(tmp_path: Path) -> None:
    settings = Settings.from_env({}, dotenv_path=tmp_path / "none.env")
    assert settings.demo_mode and not settings.bot_auth_enabled
    assert settings.port == 3978
    assert settings.effective_database_url.startswith("sqlite+aiosqlite:///")
    assert settings.effective_database_url.endswith("data/bot.db")


def test_full_production_configuration(tmp_path: Path) -> None:
    env = {
        f"{S}CLIENTID": APP_ID, f"{S}CLIENTSECRET": "pw", f"{S}TENANTID": TENANT, f"{S}AUTHTYPE": "ClientSecret",
        "M365_TENANT_ID": TENANT, "M365_CLIENT_ID": APP_ID,
        "M365_CLIENT_SECRET": "s3cret", "DATABASE_URL": "postgresql://u@db:5432/bot", "PORT": "8080",
    }
    settings = Settings.from_env(env, dotenv_path=tmp_path / "none.env")
    assert settings.bot_auth_enabled and not settings.demo_mode
    assert (settings.app_id, settings.app_password, settings.app_tenant_id, settings.auth_type) == (
        APP_ID, "pw", TENANT, "ClientSecret")
    assert settings.deprecation_notice() == ""
    assert settings.effective_database_url == "postgresql+asyncpg://u@db:5432/bot"
    assert settings.port == 8080
    assert "s3cret" not in repr(settings) and "'pw'" not in repr(settings)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({f"{S}CLIENTID": APP_ID}, f"{S}CLIENTSECRET \\(MicrosoftAppPassword\\) is empty"),
        ({f"{S}CLIENTSECRET": "x"}, f"{S}CLIENTID \\(MicrosoftAppId\\) is empty"),
        ({f"{S}CLIENTID": "not-a-guid", f"{S}CLIENTSECRET": "x"}, "CLIENTID must be a GUID"),
        ({f"{S}CLIENTID": APP_ID, f"{S}CLIENTSECRET": "x", f"{S}TENANTID": "contoso.onmicrosoft.com"},
         "TENANTID must be a GUID"),
        ({f"{S}AUTHTYPE": "Password"}, "AUTHTYPE must be one of ClientSecret, certificate"),
        ({f"{S}AUTHTYPE": "CertificateSubjectName"}, "AUTHTYPE must be one of"),
        ({f"{S}CLIENTID": APP_ID, f"{S}AUTHTYPE": "certificate"}, "CERTPFXFILE is empty"),
        ({f"{S}CLIENTID": APP_ID, f"{S}AUTHTYPE": "certificate", f"{S}CERTPFXFILE": "/nonexistent.pfx"},
         "CERTPFXFILE '/nonexistent.pfx' is not a file"),
        ({f"{S}CLIENTID": APP_ID, f"{S}AUTHTYPE": "UserManagedIdentity", f"{S}CLIENTSECRET": "x"},
         "CLIENTSECRET is set but .*AUTHTYPE is UserManagedIdentity"),
        ({f"{S}CLIENTID": APP_ID, f"{S}AUTHTYPE": "FederatedCredentials"}, "FEDERATEDCLIENTID"),
        ({f"{S}CLIENTID": APP_ID, f"{S}AUTHTYPE": "FederatedCredentials", f"{S}FEDERATEDCLIENTID": "mi"},
         "FEDERATEDCLIENTID must be"),
        ({f"{S}CLIENTID": APP_ID, f"{S}AUTHTYPE": "WorkloadIdentity"}, "FEDERATEDTOKENFILE"),
        ({f"{S}CLIENTID": APP_ID, f"{S}CLIENTSECRET": "x", f"{S}SENDX5C": "true"}, "SENDX5C"),
        ({f"{S}SENDX5C": "maybe"}, "SENDX5C must be true or false"),
        # The botbuilder names: still read, still checked.
        ({"MicrosoftAppId": APP_ID}, "MicrosoftAppPassword"),
        ({"MicrosoftAppPassword": "x"}, "MicrosoftAppId"),
        ({"MicrosoftAppId": "not-a-guid", "MicrosoftAppPassword": "x"}, "must be a GUID"),
        ({"MicrosoftAppType": "Weird"}, "MicrosoftAppType"),
        ({"MicrosoftAppId": APP_ID, "MicrosoftAppPassword": "x", "MicrosoftAppType": "SingleTenant"},
         "MicrosoftAppType=SingleTenant needs the tenant id"),
        ({"MicrosoftAppId": APP_ID, f"{S}CLIENTID": MSI, "MicrosoftAppPassword": "x"}, "both set, differently"),
        ({"MicrosoftAppType": "UserAssignedMSI", f"{S}AUTHTYPE": "ClientSecret"}, "both set, differently"),
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


def test_the_botbuilder_names_still_work_with_one_deprecation_line(tmp_path: Path) -> None:
    legacy = Settings.from_env({"MicrosoftAppId": APP_ID, "MicrosoftAppPassword": "pw",
                                "MicrosoftAppType": "SingleTenant", "MicrosoftAppTenantId": TENANT},
                               dotenv_path=tmp_path / "none.env")
    current = Settings.from_env({f"{S}CLIENTID": APP_ID, f"{S}CLIENTSECRET": "pw", f"{S}TENANTID": TENANT},
                                dotenv_path=tmp_path / "none.env")
    assert legacy == current  # the same bot, whichever names configure it
    notice = legacy.deprecation_notice()
    assert "\n" not in notice
    for old, new in (("MicrosoftAppId", "CLIENTID"), ("MicrosoftAppPassword", "CLIENTSECRET"),
                     ("MicrosoftAppTenantId", "TENANTID"), ("MicrosoftAppType", "AUTHTYPE")):
        assert f"{old} -> {S}{new}" in notice
    assert "pw" not in notice and APP_ID not in notice


@pytest.mark.parametrize(("legacy_type", "auth_type"), [("MultiTenant", "ClientSecret"),
                                                         ("singletenant", "ClientSecret"),
                                                         ("UserAssignedMSI", "UserManagedIdentity")])
def test_the_botbuilder_app_types_map_to_auth_types(legacy_type: str, auth_type: str, tmp_path: Path) -> None:
    env = {"MicrosoftAppId": APP_ID, "MicrosoftAppType": legacy_type, "MicrosoftAppTenantId": TENANT}
    if auth_type == "ClientSecret":
        env["MicrosoftAppPassword"] = "pw"
    assert Settings.from_env(env, dotenv_path=tmp_path / "none.env").auth_type == auth_type


def test_the_same_value_under_both_names_is_accepted(tmp_path: Path) -> None:
    settings = Settings.from_env({"MicrosoftAppId": APP_ID, f"{S}CLIENTID": APP_ID, f"{S}CLIENTSECRET": "pw"},
                                 dotenv_path=tmp_path / "none.env")
    assert settings.app_id == APP_ID and settings.legacy_names == ("MicrosoftAppId",)


@pytest.mark.parametrize("spelling", ["certificate", "Certificate", "CERTIFICATE"])
def test_auth_type_is_spelled_as_the_sdk_spells_it(spelling: str, tmp_path: Path) -> None:
    pfx = tmp_path / "bot.pfx"
    pfx.write_bytes(b"x")
    settings = Settings.from_env({f"{S}CLIENTID": APP_ID, f"{S}AUTHTYPE": spelling, f"{S}CERTPFXFILE": str(pfx),
                                  f"{S}SENDX5C": "true"}, dotenv_path=tmp_path / "none.env")
    assert (settings.auth_type, settings.cert_pfx_file, settings.send_x5c) == ("certificate", str(pfx), True)


@pytest.mark.parametrize("auth_type", ["UserManagedIdentity", "SystemManagedIdentity"])
def test_managed_identities_need_no_secret(auth_type: str, tmp_path: Path) -> None:
    settings = Settings.from_env({f"{S}CLIENTID": APP_ID, f"{S}AUTHTYPE": auth_type, f"{S}TENANTID": TENANT},
                                 dotenv_path=tmp_path / "none.env")
    assert settings.bot_auth_enabled and settings.app_password == ""


def test_federated_and_workload_identities(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("jwt")
    federated = Settings.from_env({f"{S}CLIENTID": APP_ID, f"{S}AUTHTYPE": "FederatedCredentials",
                                   f"{S}FEDERATEDCLIENTID": MSI, f"{S}TENANTID": TENANT},
                                  dotenv_path=tmp_path / "none.env")
    assert federated.federated_client_id == MSI
    workload = Settings.from_env({f"{S}CLIENTID": APP_ID, f"{S}AUTHTYPE": "workloadidentity",
                                  f"{S}FEDERATEDTOKENFILE": str(token_file), f"{S}TENANTID": TENANT},
                                 dotenv_path=tmp_path / "none.env")
    assert (workload.auth_type, workload.federated_token_file) == ("WorkloadIdentity", str(token_file))


def test_the_bot_identity_is_read_from_dotenv(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text(f"{S}CLIENTID={APP_ID}\n{S}CLIENTSECRET=from-dotenv\n")
    settings = Settings.from_env({}, dotenv_path=dotenv)
    assert (settings.app_id, settings.app_password) == (APP_ID, "from-dotenv")


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

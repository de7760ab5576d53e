"""Settings: the one place the process environment (and `.env`) is read.

`Settings.from_env()` is called once, in `bot.main()`; everything else receives the frozen object.
A bad value raises `SettingsError` with the variable's name and what is wrong with it.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

from domain.net import is_loopback_host

ROOT = Path(__file__).resolve().parent
DEFAULT_DATA_DIR = ROOT / "data"

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# The bot's identity, named as the Microsoft 365 Agents SDK and its toolkit name it.
CONNECTION = "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__"
CLIENT_ID_ENV = CONNECTION + "CLIENTID"
CLIENT_SECRET_ENV = CONNECTION + "CLIENTSECRET"
TENANT_ID_ENV = CONNECTION + "TENANTID"
AUTH_TYPE_ENV = CONNECTION + "AUTHTYPE"
CERT_PFX_FILE_ENV = CONNECTION + "CERTPFXFILE"
SEND_X5C_ENV = CONNECTION + "SENDX5C"
FEDERATED_CLIENT_ID_ENV = CONNECTION + "FEDERATEDCLIENTID"
FEDERATED_TOKEN_FILE_ENV = CONNECTION + "FEDERATEDTOKENFILE"
# The AUTHTYPE values `MsalConnectionManager` 1.9.0 can acquire an outbound token with, spelled as the SDK's
# `AuthTypes` spells them (`certificate` is lower-case there). CertificateSubjectName, IdentityProxyManager and
# EntraAuthSideCar exist in the enum but MsalAuth cannot build a client-credentials app from them.
AUTH_TYPES = ("ClientSecret", "certificate", "UserManagedIdentity", "SystemManagedIdentity", "FederatedCredentials",
              "WorkloadIdentity")
_MANAGED_IDENTITY = ("UserManagedIdentity", "SystemManagedIdentity")
# A multi-tenant bot (botbuilder's MicrosoftAppType=MultiTenant) gets its outbound token from this Entra tenant.
MULTI_TENANT = "botframework.com"
# The botbuilder names still read (one deprecation warning at start) and the new name each maps to.
LEGACY_NAMES = {"MicrosoftAppId": CLIENT_ID_ENV, "MicrosoftAppPassword": CLIENT_SECRET_ENV,
                "MicrosoftAppTenantId": TENANT_ID_ENV, "MicrosoftAppType": AUTH_TYPE_ENV}
# Every variable that gives the bot an identity, new and old names: what a demo-mode child process must see empty.
IDENTITY_ENV_NAMES = (CLIENT_ID_ENV, CLIENT_SECRET_ENV, TENANT_ID_ENV, AUTH_TYPE_ENV, CERT_PFX_FILE_ENV, SEND_X5C_ENV,
                      FEDERATED_CLIENT_ID_ENV, FEDERATED_TOKEN_FILE_ENV, *LEGACY_NAMES)
# botbuilder's MicrosoftAppType values → AUTHTYPE (single vs multi tenant is now TENANTID, set or empty).
_LEGACY_APP_TYPES = {"multitenant": "ClientSecret", "singletenant": "ClientSecret",
                     "userassignedmsi": "UserManagedIdentity"}
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# A DNS host name: labels of letters, digits and inner hyphens, at least two of them (bot.contoso.com).
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOSTNAME = re.compile(rf"^(?=.{{1,253}}$)(?:{_LABEL}\.)+{_LABEL}$")
# Where Bot Framework publishes the keys that sign the tokens Teams sends with every activity.
BOT_FRAMEWORK_OPENID_METADATA_URL = "https://login.botframework.com/v1/.well-known/openidconfiguration"
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
# HMAC-SHA256 keys shorter than this are guessable offline from one signed delivery.
WEBHOOK_SECRET_MIN_CHARS = 32
# Default listening addresses: authenticated mode serves Teams (every interface), anonymous mode this machine only.
ANY_HOST = "0.0.0.0"
LOOPBACK_HOST = "127.0.0.1"


class SettingsError(ValueError):
    """A setting is missing, malformed or inconsistent with another one."""


@dataclass(frozen=True)
class Settings:
    """All configuration of the bot. Build it with `from_env()`; tests build it directly."""

    # The bot's identity, the Azure Bot's app registration (CONNECTIONS__SERVICE_CONNECTION__SETTINGS__*; formerly
    # MicrosoftApp*). Empty app id = anonymous local mode. Empty tenant = a multi-tenant bot (botframework.com).
    app_id: str = ""  # CLIENTID
    app_password: str = field(default="", repr=False)  # CLIENTSECRET
    app_tenant_id: str = ""  # TENANTID
    auth_type: str = "ClientSecret"  # AUTHTYPE, one of AUTH_TYPES
    cert_pfx_file: str = ""  # CERTPFXFILE (AUTHTYPE=certificate)
    send_x5c: bool = False  # SENDX5C (certificate: send the public certificate, for subject-name/issuer auth)
    federated_client_id: str = ""  # FEDERATEDCLIENTID (AUTHTYPE=FederatedCredentials: the managed identity)
    federated_token_file: str = ""  # FEDERATEDTOKENFILE (AUTHTYPE=WorkloadIdentity)
    # The botbuilder-era names this configuration was read from (`deprecation_notice()`); not a setting.
    legacy_names: tuple[str, ...] = field(default=(), repr=False, compare=False)
    # The OpenID metadata document whose keys must sign inbound Bot Framework tokens (tests point it at a stand-in).
    bot_openid_metadata_url: str = BOT_FRAMEWORK_OPENID_METADATA_URL
    # The Microsoft 365 tenant the bot works on, and its Entra app (client credentials).
    m365_tenant_id: str = ""
    m365_client_id: str = ""
    m365_client_secret: str = field(default="", repr=False)
    m365_client_certificate_path: str = ""
    # Endpoints; only the demo tenant and tests change them.
    m365_authority_host: str = "https://login.microsoftonline.com"
    m365_graph_url: str = "https://graph.microsoft.com"
    m365_exchange_url: str = "https://outlook.office365.com"
    m365_ca_file: str = ""
    # Roles.
    it_staff_group_id: str = ""
    security_admin_group_id: str = ""
    # Persistence and serving.
    database_url: str = ""
    # The interface to listen on. Empty = by mode: all interfaces with Bot Framework authentication, loopback only
    # in anonymous mode (anyone who reaches an anonymous bot acts as any user, security admins included).
    # `__post_init__` fills it, so `host` is always the address served.
    host: str = ""
    port: int = 3978
    # The public host name Teams reaches the bot at (https://<it>/api/messages); the app package's validDomains.
    public_hostname: str = ""
    data_dir: Path = DEFAULT_DATA_DIR
    log_level: str = "INFO"
    # Embedded demo tenant (used only when no tenant credentials are configured).
    demo_tenant_port: int = 0
    demo_tenant_seed: str = ""
    # A demo tenant already running (`python -m demo_tenant --print-env > FILE`): demo mode joins it instead of
    # starting its own, so several bot instances share one demo tenant. Its URLs must be https on loopback.
    demo_tenant_env: str = ""
    # Upstream behaviour.
    http_timeout_seconds: float = 20.0
    # The restriction watch: minutes between rounds (1: a new restriction is alerted within a minute, at ~60
    # Get-BlockedSenderAddress + ~60 Defender alert reads an hour, docs/PERFORMANCE.md "Restriction watch").
    watch_interval_minutes: int = 1
    # Seconds between watch rounds, replacing the minutes when set (tests and demos; 0 = use the minutes).
    watch_interval_seconds: int = 0
    # How old an action must be before the reconciler treats it as interrupted (audit `started`, no outcome):
    # far longer than any tenant call may take, or a live press would be judged while it still runs.
    reconcile_grace_seconds: int = 600
    notify_affected_user: bool = False
    # Automatic containment (off by default): the watch revokes the sessions and blocks the sign-in of a newly
    # restricted account whose verdict is compromised, at most this many accounts an hour (then it pauses and only
    # alerts), never the tenant's last Global Administrator. Needs User.RevokeSessions.All and
    # User.EnableDisableAccount.All (docs/DEPLOY.md).
    auto_contain: bool = False
    auto_contain_max_per_hour: int = 3
    # Investigations and card actions one person may start per minute (0 = no limit).
    rate_limit_per_minute: int = 20
    # Events out (case opened, verdict, action taken, unblocked, restored) as signed JSON POSTs: empty = no events
    # are written at all. https only (http on loopback for tests); the URL may carry a key (Power Automate's `sig`),
    # so it is never logged or shown in full. The secret signs every delivery (HMAC-SHA256, at least 32 characters).
    webhook_url: str = field(default="", repr=False)
    webhook_secret: str = field(default="", repr=False)
    webhook_timeout_seconds: float = 10.0

    def __post_init__(self) -> None:
        if not self.host:
            # Frozen: the one assignment, at construction, of the mode's default.
            object.__setattr__(self, "host", ANY_HOST if self.app_id else LOOPBACK_HOST)

    def exposure_warning(self) -> str:
        """The warning `bot.main` logs when an anonymous bot listens beyond loopback ("" when it does not)."""
        if self.bot_auth_enabled or self.host.strip("[]").lower() in _LOOPBACK_HOSTS:
            return ""
        return (f"anonymous mode (no {CLIENT_ID_ENV}) listening on {self.host}: anyone who can reach port "
                f"{self.port} can talk to the bot as any user of the tenant, security admins included. Unset HOST "
                "to listen on 127.0.0.1 only.")

    @property
    def bot_auth_enabled(self) -> bool:
        """True when Bot Framework JWTs are validated (an app id is configured)."""
        return bool(self.app_id)

    def deprecation_notice(self) -> str:
        """The one warning line for botbuilder-era setting names ("" when none is used); `bot.main` logs it."""
        if not self.legacy_names:
            return ""
        renamed = ", ".join(f"{old} -> {LEGACY_NAMES[old]}" for old in self.legacy_names)
        return f"deprecated setting names, rename them (they still work for now): {renamed}"

    @property
    def watch_interval(self) -> float:
        """Seconds between restriction-watch rounds (`WATCH_INTERVAL_SECONDS`, else the minutes)."""
        return float(self.watch_interval_seconds or self.watch_interval_minutes * 60)

    @property
    def demo_mode(self) -> bool:
        """True when no Microsoft 365 credentials are configured: the embedded demo tenant is used."""
        return not self.m365_client_id

    @property
    def effective_database_url(self) -> str:
        """The SQLAlchemy async URL: `DATABASE_URL` with its async driver, or SQLite under `data_dir`."""
        url = self.database_url or f"sqlite:///{self.data_dir / 'bot.db'}"
        return async_database_url(url)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, dotenv_path: Path | None = None) -> Settings:
        """Read settings from `environ` (default: `os.environ`) over the values of a `.env` file.

        Real environment variables win over `.env`, as with docker and most twelve-factor tools.
        """
        values: dict[str, str] = {}
        env_file = dotenv_path if dotenv_path is not None else ROOT / ".env"
        if env_file.is_file():
            from dotenv import dotenv_values

            values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
        values.update(os.environ if environ is None else environ)

        def get(name: str, default: str = "") -> str:
            return values.get(name, default).strip()

        identity = _bot_identity(get)
        settings = cls(
            **identity._asdict(),
            cert_pfx_file=get(CERT_PFX_FILE_ENV),
            send_x5c=_bool(SEND_X5C_ENV, get(SEND_X5C_ENV, "false")),
            federated_client_id=get(FEDERATED_CLIENT_ID_ENV),
            federated_token_file=get(FEDERATED_TOKEN_FILE_ENV),
            bot_openid_metadata_url=get("BOT_OPENID_METADATA_URL") or BOT_FRAMEWORK_OPENID_METADATA_URL,
            m365_tenant_id=get("M365_TENANT_ID"),
            m365_client_id=get("M365_CLIENT_ID"),
            m365_client_secret=get("M365_CLIENT_SECRET"),
            m365_client_certificate_path=get("M365_CLIENT_CERTIFICATE_PATH"),
            m365_authority_host=get("M365_AUTHORITY_HOST", cls.m365_authority_host).rstrip("/"),
            m365_graph_url=get("M365_GRAPH_URL", cls.m365_graph_url).rstrip("/"),
            m365_exchange_url=get("M365_EXCHANGE_URL", cls.m365_exchange_url).rstrip("/"),
            m365_ca_file=get("M365_CA_FILE"),
            it_staff_group_id=get("IT_STAFF_GROUP_ID"),
            security_admin_group_id=get("SECURITY_ADMIN_GROUP_ID"),
            database_url=get("DATABASE_URL"),
            host=get("HOST"),
            port=_int("PORT", get("PORT", str(cls.port)), low=0, high=65535),
            public_hostname=get("PUBLIC_HOSTNAME").lower().rstrip("."),
            data_dir=Path(get("DATA_DIR") or DEFAULT_DATA_DIR),
            log_level=get("LOG_LEVEL", cls.log_level).upper(),
            demo_tenant_port=_int("DEMO_TENANT_PORT", get("DEMO_TENANT_PORT", "0"), low=0, high=65535),
            demo_tenant_seed=get("DEMO_TENANT_SEED"),
            demo_tenant_env=get("DEMO_TENANT_ENV"),
            http_timeout_seconds=_float("HTTP_TIMEOUT_SECONDS", get("HTTP_TIMEOUT_SECONDS", "20"), low=0.1),
            watch_interval_minutes=_int("WATCH_INTERVAL_MINUTES", get("WATCH_INTERVAL_MINUTES", "1"), low=1,
                                        high=1440),
            watch_interval_seconds=_int("WATCH_INTERVAL_SECONDS", get("WATCH_INTERVAL_SECONDS") or "0", low=0,
                                        high=86_400),
            reconcile_grace_seconds=_int("RECONCILE_GRACE_SECONDS", get("RECONCILE_GRACE_SECONDS") or "600", low=1,
                                         high=86_400),
            notify_affected_user=_bool("NOTIFY_AFFECTED_USER", get("NOTIFY_AFFECTED_USER", "false")),
            auto_contain=_bool("AUTO_CONTAIN", get("AUTO_CONTAIN", "false")),
            auto_contain_max_per_hour=_int("AUTO_CONTAIN_MAX_PER_HOUR", get("AUTO_CONTAIN_MAX_PER_HOUR") or "3", low=1,
                                           high=100),
            rate_limit_per_minute=_int("RATE_LIMIT_PER_MINUTE", get("RATE_LIMIT_PER_MINUTE", "20"), low=0, high=10_000),
            webhook_url=get("WEBHOOK_URL"),
            webhook_secret=get("WEBHOOK_SECRET"),
            webhook_timeout_seconds=_float("WEBHOOK_TIMEOUT_SECONDS", get("WEBHOOK_TIMEOUT_SECONDS") or "10", low=1.0),
        )
        settings.validate()
        return settings

    def replace(self, **changes: object) -> Settings:
        """A copy with some fields changed, validated again."""
        new = dataclasses.replace(self, **changes)  # type: ignore[arg-type]
        new.validate()
        return new

    def validate(self) -> None:
        """Raise `SettingsError` for a bad or inconsistent value."""
        self._validate_bot_identity()
        for name, value in (
            ("M365_TENANT_ID", self.m365_tenant_id),
            ("M365_CLIENT_ID", self.m365_client_id),
        ):
            if value and not _GUID.match(value):
                raise SettingsError(f"{name} must be a GUID, not {value!r}")
        if not 1 <= self.auto_contain_max_per_hour <= 100:
            raise SettingsError("AUTO_CONTAIN_MAX_PER_HOUR must be between 1 and 100, not "
                                f"{self.auto_contain_max_per_hour}")
        m365_parts = {
            "M365_TENANT_ID": self.m365_tenant_id,
            "M365_CLIENT_ID": self.m365_client_id,
            "M365_CLIENT_SECRET or M365_CLIENT_CERTIFICATE_PATH": self.m365_client_secret
            or self.m365_client_certificate_path,
        }
        if any(m365_parts.values()) and not all(m365_parts.values()):
            missing = ", ".join(k for k, v in m365_parts.items() if not v)
            raise SettingsError(f"Microsoft 365 credentials are half-configured: missing {missing}")
        if self.m365_client_secret and self.m365_client_certificate_path:
            raise SettingsError("Set M365_CLIENT_SECRET or M365_CLIENT_CERTIFICATE_PATH, not both")
        if self.m365_client_certificate_path and not Path(self.m365_client_certificate_path).is_file():
            raise SettingsError(f"M365_CLIENT_CERTIFICATE_PATH {self.m365_client_certificate_path!r} is not a file")
        if self.m365_ca_file and not Path(self.m365_ca_file).is_file():
            raise SettingsError(f"M365_CA_FILE {self.m365_ca_file!r} is not a file")
        for name, url in (
            ("M365_AUTHORITY_HOST", self.m365_authority_host),
            ("M365_GRAPH_URL", self.m365_graph_url),
            ("M365_EXCHANGE_URL", self.m365_exchange_url),
        ):
            if not url.startswith("https://"):
                raise SettingsError(f"{name} must be an https:// URL, not {url!r}")
        for name, value in (
            ("IT_STAFF_GROUP_ID", self.it_staff_group_id),
            ("SECURITY_ADMIN_GROUP_ID", self.security_admin_group_id),
        ):
            if value and not _GUID.match(value):
                raise SettingsError(f"{name} must be the object id (GUID) of an Entra group, not {value!r}")
        if self.database_url and self.database_url.split(":", 1)[0].split("+", 1)[0] not in ("sqlite", "postgresql",
                                                                                             "postgres"):
            raise SettingsError("DATABASE_URL must start with sqlite:// or postgresql://")
        if self.public_hostname and not _HOSTNAME.match(self.public_hostname):
            raise SettingsError("PUBLIC_HOSTNAME must be a host name such as bot.contoso.com (no https://, path or "
                                f"port), not {self.public_hostname!r}")
        if self.log_level not in _LOG_LEVELS:
            raise SettingsError(f"LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}, not {self.log_level!r}")
        if self.demo_tenant_seed and not Path(self.demo_tenant_seed).is_file():
            raise SettingsError(f"DEMO_TENANT_SEED {self.demo_tenant_seed!r} is not a file")
        if not 1 <= self.watch_interval_minutes <= 1440:
            raise SettingsError(f"WATCH_INTERVAL_MINUTES must be between 1 and 1440, not {self.watch_interval_minutes}")
        if self.watch_interval_seconds != 0 and not 2 <= self.watch_interval_seconds <= 86_400:
            raise SettingsError("WATCH_INTERVAL_SECONDS must be 0 (use WATCH_INTERVAL_MINUTES) or between 2 and 86400, "
                                f"not {self.watch_interval_seconds}")
        if not 1 <= self.reconcile_grace_seconds <= 86_400:
            raise SettingsError("RECONCILE_GRACE_SECONDS must be between 1 and 86400, not "
                                f"{self.reconcile_grace_seconds}")
        if self.demo_tenant_env:
            if not self.demo_mode:
                raise SettingsError("DEMO_TENANT_ENV joins a demo tenant; it cannot be combined with M365_CLIENT_ID")
            if not Path(self.demo_tenant_env).is_file():
                raise SettingsError(f"DEMO_TENANT_ENV {self.demo_tenant_env!r} is not a file")
        # The keys in this document decide who may talk to the bot: plain http only on loopback (tests).
        metadata = urlsplit(self.bot_openid_metadata_url)
        if not metadata.hostname or not (
            metadata.scheme == "https" or (metadata.scheme == "http" and metadata.hostname in _LOOPBACK_HOSTS)
        ):
            raise SettingsError("BOT_OPENID_METADATA_URL must be an https:// URL (http:// only on loopback), not "
                                f"{self.bot_openid_metadata_url!r}")
        if not 0 <= self.rate_limit_per_minute <= 10_000:
            raise SettingsError(f"RATE_LIMIT_PER_MINUTE must be between 0 and 10000, not {self.rate_limit_per_minute}")
        self._validate_webhook()

    def _validate_webhook(self) -> None:
        """WEBHOOK_*: an https URL (http on loopback only) with a secret of at least 32 characters, or nothing."""
        if not self.webhook_url:
            if self.webhook_secret:
                raise SettingsError("WEBHOOK_SECRET is set but WEBHOOK_URL is empty: set the receiver's URL too, or "
                                    "clear both (no events)")
            return
        try:
            parts = urlsplit(self.webhook_url)
            host = (parts.hostname or "").lower()
        except ValueError:
            parts, host = None, ""
        # Only the scheme and host are echoed: the rest of the URL may hold the receiver's key.
        shown = f"{parts.scheme}://{host}/…" if parts is not None and host else "a value that is not a URL"
        if parts is None or not host or not (parts.scheme == "https"
                                             or (parts.scheme == "http" and is_loopback_host(host))):
            raise SettingsError(f"WEBHOOK_URL must be an https:// URL (http:// only on loopback), not {shown}")
        if len(self.webhook_secret) < WEBHOOK_SECRET_MIN_CHARS:
            raise SettingsError(f"WEBHOOK_SECRET must be at least {WEBHOOK_SECRET_MIN_CHARS} characters when "
                                "WEBHOOK_URL is set (e.g. python -c \"import secrets; print(secrets.token_hex(32))\")")
        if not 1 <= self.webhook_timeout_seconds <= 120:
            raise SettingsError("WEBHOOK_TIMEOUT_SECONDS must be between 1 and 120, not "
                                f"{self.webhook_timeout_seconds}")

    def _validate_bot_identity(self) -> None:
        """The CONNECTIONS__SERVICE_CONNECTION__SETTINGS__* rules: a whole identity for its AUTHTYPE, or none."""
        if self.auth_type not in AUTH_TYPES:
            raise SettingsError(f"{AUTH_TYPE_ENV} must be one of {', '.join(AUTH_TYPES)}, not {self.auth_type!r}")
        if self.app_id and not _GUID.match(self.app_id):
            raise SettingsError(f"{CLIENT_ID_ENV} must be a GUID (the Azure Bot's app registration id), "
                                f"not {self.app_id!r}")
        if self.app_tenant_id and self.app_tenant_id != MULTI_TENANT and not _GUID.match(self.app_tenant_id):
            raise SettingsError(f"{TENANT_ID_ENV} must be a GUID (the Directory (tenant) ID), or empty for a "
                                f"multi-tenant bot, not {self.app_tenant_id!r}")
        credentials = {
            CLIENT_SECRET_ENV: self.app_password,
            CERT_PFX_FILE_ENV: self.cert_pfx_file,
            FEDERATED_CLIENT_ID_ENV: self.federated_client_id,
            FEDERATED_TOKEN_FILE_ENV: self.federated_token_file,
        }
        if not self.app_id:
            given = [name for name, value in credentials.items() if value]
            if given:
                raise SettingsError(f"{given[0]} is set but {CLIENT_ID_ENV} (MicrosoftAppId) is empty: "
                                    "set the bot's app id too, or clear both for anonymous local mode")
            return
        needed = {"ClientSecret": CLIENT_SECRET_ENV, "certificate": CERT_PFX_FILE_ENV,
                  "FederatedCredentials": FEDERATED_CLIENT_ID_ENV,
                  "WorkloadIdentity": FEDERATED_TOKEN_FILE_ENV}.get(self.auth_type)
        if needed and not credentials[needed]:
            legacy = " (MicrosoftAppPassword)" if needed == CLIENT_SECRET_ENV else ""
            raise SettingsError(f"{CLIENT_ID_ENV} is set but {needed}{legacy} is empty: "
                                f"{AUTH_TYPE_ENV}={self.auth_type} needs it")
        # A credential the AUTHTYPE does not use is a mistake (a secret left behind after moving to a certificate).
        for name, value in credentials.items():
            if value and name != needed:
                raise SettingsError(f"{name} is set but {AUTH_TYPE_ENV} is {self.auth_type}, which does not use it")
        if self.federated_client_id and not _GUID.match(self.federated_client_id):
            raise SettingsError(f"{FEDERATED_CLIENT_ID_ENV} must be the managed identity's client id (a GUID)")
        for name, path in ((CERT_PFX_FILE_ENV, self.cert_pfx_file), (FEDERATED_TOKEN_FILE_ENV,
                                                                       self.federated_token_file)):
            if path and not Path(path).is_file():
                raise SettingsError(f"{name} {path!r} is not a file")
        if self.send_x5c and self.auth_type != "certificate":
            raise SettingsError(f"{SEND_X5C_ENV} applies to {AUTH_TYPE_ENV}=certificate only")

    def check_can_serve(self) -> None:
        """Raise `SettingsError` when serving these settings would be unsafe.

        With Microsoft 365 credentials configured (production, not the demo tenant) the bot must validate the
        Bot Framework JWT on every activity: an anonymous bot would let anyone who can reach `/api/messages`
        pose as any user of the tenant, security admins included. The demo stays anonymous (its tenant is fake).
        Only serving is refused: the command-line tools (`python -m investigation`, `python -m tools.audit`)
        read the same settings and do not accept activities.
        """
        if not self.demo_mode and not self.bot_auth_enabled:
            raise SettingsError(
                f"Microsoft 365 credentials are configured (M365_CLIENT_ID) but {CLIENT_ID_ENV} (MicrosoftAppId) "
                "is empty: the bot would accept activities without a Bot Framework token. Set the Azure Bot's app "
                f"registration ({CLIENT_ID_ENV}, {CLIENT_SECRET_ENV}, {TENANT_ID_ENV}), or clear the M365_* "
                "settings for the demo."
            )


class _BotIdentity(NamedTuple):
    app_id: str
    app_password: str
    app_tenant_id: str
    auth_type: str
    legacy_names: tuple[str, ...]


def _bot_identity(get: Callable[[str], str]) -> _BotIdentity:
    """The bot identity fields from the new names, else from botbuilder's MicrosoftApp* names (recorded in
    `legacy_names` for the one deprecation line). Both spellings of one setting must agree."""
    fields = {"app_id": CLIENT_ID_ENV, "app_password": CLIENT_SECRET_ENV, "app_tenant_id": TENANT_ID_ENV}
    legacy_of = {new: old for old, new in LEGACY_NAMES.items()}
    identity: dict[str, str] = {}
    used: list[str] = []
    for attribute, name in fields.items():
        new, old = get(name), get(legacy_of[name])
        if new and old and new != old:
            raise SettingsError(f"{name} and the deprecated {legacy_of[name]} are both set, differently: "
                                f"keep {name} only")
        if old:
            used.append(legacy_of[name])
        identity[attribute] = new or old
    raw_type = get(AUTH_TYPE_ENV)
    legacy_type = get("MicrosoftAppType")
    if legacy_type:
        used.append("MicrosoftAppType")
        mapped = _LEGACY_APP_TYPES.get(legacy_type.lower())
        if mapped is None:
            raise SettingsError(f"MicrosoftAppType (deprecated; now {AUTH_TYPE_ENV}) must be MultiTenant, "
                                f"SingleTenant or UserAssignedMSI, not {legacy_type!r}")
        if legacy_type.lower() == "singletenant" and identity["app_id"] and not identity["app_tenant_id"]:
            raise SettingsError(f"MicrosoftAppType=SingleTenant needs the tenant id: {TENANT_ID_ENV} "
                                "(or the deprecated MicrosoftAppTenantId)")
        if raw_type and _auth_type(raw_type) != mapped:
            raise SettingsError(f"{AUTH_TYPE_ENV} and the deprecated MicrosoftAppType are both set, differently: "
                                f"keep {AUTH_TYPE_ENV} only")
        raw_type = raw_type or mapped
    return _BotIdentity(**identity, auth_type=_auth_type(raw_type or "ClientSecret"),
                        legacy_names=tuple(name for name in LEGACY_NAMES if name in used))


def _auth_type(raw: str) -> str:
    """AUTHTYPE spelled as the SDK's `AuthTypes` value (case-insensitive: `Certificate` → `certificate`)."""
    for value in AUTH_TYPES:
        if value.lower() == raw.lower():
            return value
    raise SettingsError(f"{AUTH_TYPE_ENV} must be one of {', '.join(AUTH_TYPES)}, not {raw!r}")


_DEMO_TENANT_KEYS = ("M365_TENANT_ID", "M365_CLIENT_ID", "M365_CLIENT_SECRET", "M365_AUTHORITY_HOST",
                     "M365_GRAPH_URL", "M365_EXCHANGE_URL", "M365_CA_FILE")


def read_demo_tenant_env(path: str | Path) -> dict[str, str]:
    """The client environment of a running demo tenant, from the KEY=VALUE lines `--print-env` wrote.

    Demo mode serves without Bot Framework authentication, so the file may only point at loopback: every
    endpoint must be an https:// URL on 127.0.0.1, ::1 or localhost, never a real tenant.
    """
    from dotenv import dotenv_values

    env = {k: v.strip() for k, v in dotenv_values(Path(path)).items() if v is not None}
    missing = [key for key in _DEMO_TENANT_KEYS if not env.get(key)]
    if missing:
        raise SettingsError(f"DEMO_TENANT_ENV {str(path)!r} lacks {', '.join(missing)}")
    for key in ("M365_AUTHORITY_HOST", "M365_GRAPH_URL", "M365_EXCHANGE_URL"):
        parts = urlsplit(env[key])
        if parts.scheme != "https" or parts.hostname not in _LOOPBACK_HOSTS:
            raise SettingsError(f"DEMO_TENANT_ENV: {key} must be an https:// URL on loopback, not {env[key]!r}")
    return env


def async_database_url(url: str) -> str:
    """Map a plain database URL to the async driver SQLAlchemy should use for it."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise SettingsError(f"DATABASE_URL {url!r} is not a URL")
    base = scheme.split("+", 1)[0]
    if base in ("postgresql", "postgres"):
        return f"postgresql+asyncpg://{rest}"
    if base == "sqlite":
        return f"sqlite+aiosqlite://{rest}"
    raise SettingsError(f"DATABASE_URL scheme {scheme!r} is not supported (sqlite or postgresql)")


def _int(name: str, raw: str, *, low: int, high: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, not {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, not {value}")
    return value


_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off", "")


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise SettingsError(f"{name} must be true or false, not {raw!r}")


def _float(name: str, raw: str, *, low: float) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, not {raw!r}") from None
    if value < low:
        raise SettingsError(f"{name} must be at least {low}, not {value}")
    return value

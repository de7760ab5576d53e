"""Who may talk to the bot: the Bot Framework JWT of every inbound activity, checked before the SDK sees it.

We check the token ourselves instead of using the Agents SDK's `jwt_authorization_middleware` because, in
1.9.0, that middleware (a) trusts the Emulator / first-party Entra issuers whatever `VALIDATE_ISSUER` says, so
anyone holding the bot's own app secret could mint an inbound token for any user; (b) answers an unsigned
token without a key id with a 500 and a traceback; (c) has no OpenID metadata URL setting, so the security
tests could not stand in for Bot Framework's keys without patching a module global. The rules are Microsoft's
for a channel token: RS256 only, issuer `https://api.botframework.com` only, audience = our app id, expiry and
not-before with Microsoft's 5 minutes of leeway, a signing key from the Bot Framework OpenID metadata whose
`endorsements` include the activity's channel, and the `serviceurl` claim equal to the activity's serviceUrl.

Also here: the SDK's connection manager built from `Settings` (it gets outbound tokens for replies), with no
environment read.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import jwt
from microsoft_agents.activity import Activity
from microsoft_agents.authentication.msal import MsalConnectionManager
from microsoft_agents.hosting.core import AgentAuthConfiguration, ClaimsIdentity
from microsoft_agents.hosting.core.authorization.auth_types import AuthTypes

from config import MULTI_TENANT, Settings

log = logging.getLogger(__name__)

# The only issuer of the tokens the Bot Framework channel service (Teams) sends with an activity.
CHANNEL_ISSUER = "https://api.botframework.com"
# Microsoft's clock-skew allowance for Bot Framework tokens (botbuilder and the Agents SDK both use 5 minutes).
LEEWAY_SECONDS = 300
# A real token is about 1.5 KB; anything far larger is refused before it is parsed.
MAX_TOKEN_CHARS = 16 * 1024
# Bot Framework rotates its signing keys over weeks and publishes new ones well ahead. The keys are refreshed daily,
# and on a key id we do not know, at most every KEYS_MIN_REFRESH_SECONDS (so a stream of tokens with made-up key ids
# cannot become a stream of requests to Microsoft; while we hold no key at all, every KEYS_RETRY_EMPTY_SECONDS).
# If refreshing keeps failing, the keys we have stay trusted for KEYS_MAX_AGE_SECONDS (botbuilder's 5 days).
KEYS_REFRESH_SECONDS = 24 * 3600.0
KEYS_MAX_AGE_SECONDS = 5 * 24 * 3600.0
KEYS_MIN_REFRESH_SECONDS = 300.0
KEYS_RETRY_EMPTY_SECONDS = 10.0
KEYS_TIMEOUT_SECONDS = 10.0
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class Unauthorized(Exception):
    """The activity's Bot Framework token is missing or invalid. The message says why, for the log only: it
    never contains the token."""


@dataclass(frozen=True)
class _SigningKey:
    key: Any  # the RSA public key PyJWT verifies with
    endorsements: frozenset[str]  # the channels this key may sign for ("msteams", ...)


class BotAuthenticator:
    """Turns an `Authorization` header and the activity it came with into the SDK's `ClaimsIdentity`.

    Anonymous mode (no app id configured: local demo only, `Settings.check_can_serve` refuses it for a real
    tenant) returns an empty `ClaimsIdentity()`, which the SDK treats as anonymous: no outbound token either.
    """

    def __init__(self, settings: Settings) -> None:
        self._app_id = settings.app_id
        self._metadata_url = settings.bot_openid_metadata_url
        self._keys: dict[str, _SigningKey] = {}
        self._fetched_at = float("-inf")  # when the keys we hold were fetched
        self._attempted_at = float("-inf")  # when a fetch was last tried, successful or not
        self._lock = asyncio.Lock()

    @property
    def metadata_url(self) -> str:
        """The OpenID metadata document the signing keys come from (`BOT_OPENID_METADATA_URL`)."""
        return self._metadata_url

    @property
    def anonymous(self) -> bool:
        """True when no app id is configured: activities are not authenticated."""
        return not self._app_id

    async def authenticate(self, authorization: str | None, activity: Activity) -> ClaimsIdentity:
        """The claims of a valid channel token for this bot and this activity; `Unauthorized` otherwise."""
        if self.anonymous:
            return ClaimsIdentity()
        token = _bearer_token(authorization)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthorized("malformed token") from None
        # Checked before any key is looked up: `none` and HS256 (keyed with the public key) are the classic forgeries.
        if header.get("alg") != "RS256":
            raise Unauthorized(f"token algorithm {str(header.get('alg'))[:20]!r} is not RS256")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthorized("token has no key id")
        signing_key = await self._signing_key(kid)
        channel_id = str(activity.channel_id or "")
        if channel_id and channel_id not in signing_key.endorsements:
            raise Unauthorized(f"signing key is not endorsed for channel {channel_id[:40]!r}")
        try:
            claims: dict[str, Any] = jwt.decode(
                token, signing_key.key, algorithms=["RS256"], audience=self._app_id, issuer=CHANNEL_ISSUER,
                leeway=LEEWAY_SECONDS, options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"token rejected: {type(exc).__name__}") from None
        service_url = claims.get("serviceurl")
        if not service_url or service_url != activity.service_url:
            # Otherwise a token captured for one conversation service could steer the bot's replies elsewhere.
            raise Unauthorized("serviceurl claim does not match the activity's serviceUrl")
        return ClaimsIdentity(claims)

    async def _signing_key(self, kid: str) -> _SigningKey:
        key = self._keys.get(kid)
        if key is None or time.monotonic() - self._fetched_at >= KEYS_REFRESH_SECONDS:
            async with self._lock:  # one fetch for all the requests that arrive while the keys are missing
                key = await self._refreshed(kid)
        if key is None:
            raise Unauthorized("token signed with an unknown key")
        if time.monotonic() - self._fetched_at >= KEYS_MAX_AGE_SECONDS:
            raise Unauthorized("signing keys too old: refreshing them keeps failing")
        return key

    async def _refreshed(self, kid: str) -> _SigningKey | None:
        """The key `kid` after refreshing the keys if they are due (and a refresh may be tried now)."""
        now = time.monotonic()
        key = self._keys.get(kid)
        due = key is None or now - self._fetched_at >= KEYS_REFRESH_SECONDS
        gap = KEYS_MIN_REFRESH_SECONDS if self._keys else KEYS_RETRY_EMPTY_SECONDS
        if not due or now - self._attempted_at < gap:
            return key
        self._attempted_at = now
        try:
            self._keys = await self._fetch_keys()
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            # The keys we hold stay in use (a Microsoft outage should not lock Teams out) until KEYS_MAX_AGE_SECONDS.
            log.warning("Bot Framework signing keys unavailable (%s); keeping %d known keys",
                        type(exc).__name__, len(self._keys))
        else:
            self._fetched_at = time.monotonic()
        return self._keys.get(kid)

    async def _fetch_keys(self) -> dict[str, _SigningKey]:
        """The signing keys the OpenID metadata points at (ValueError for a document that is not one)."""
        timeout = aiohttp.ClientTimeout(total=KEYS_TIMEOUT_SECONDS)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.get(self._metadata_url) as response:
                response.raise_for_status()
                metadata = await response.json(content_type=None)
            jwks_uri = metadata.get("jwks_uri") if isinstance(metadata, dict) else None
            if not isinstance(jwks_uri, str) or not _trusted_url(jwks_uri, self._metadata_url):
                raise ValueError("OpenID metadata without a usable jwks_uri")
            async with session.get(jwks_uri) as response:
                response.raise_for_status()
                jwks = await response.json(content_type=None)
        entries = jwks.get("keys") if isinstance(jwks, dict) else None
        if not isinstance(entries, list):
            raise ValueError("JWKS without keys")
        keys: dict[str, _SigningKey] = {}
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str) or entry.get("kty") != "RSA":
                continue
            try:
                public_key = jwt.PyJWK(entry, algorithm="RS256").key
            except jwt.PyJWTError:
                continue
            endorsements = entry.get("endorsements")
            keys[entry["kid"]] = _SigningKey(public_key, frozenset(
                e for e in (endorsements if isinstance(endorsements, list) else []) if isinstance(e, str)))
        log.info("Bot Framework signing keys loaded: %d", len(keys))
        return keys


def _bearer_token(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme != "Bearer" or not token or " " in token:
        raise Unauthorized("no Bearer token")
    if len(token) > MAX_TOKEN_CHARS:
        raise Unauthorized("token too long")
    return token


def _trusted_url(url: str, metadata_url: str) -> bool:
    """The JWKS must come over https, or plain http on loopback when the metadata itself is there (tests)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return True
    return (parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS
            and urlsplit(metadata_url).hostname in _LOOPBACK_HOSTS)


def auth_configuration(settings: Settings) -> AgentAuthConfiguration:
    """The SDK's SERVICE_CONNECTION, from `Settings` (never from the environment).

    Anonymous mode is `anonymous_allowed=True` with no client id: the SDK does not infer it from a missing id.
    An empty tenant is a multi-tenant bot, whose outbound token comes from the botframework.com tenant (what
    botbuilder's MicrosoftAppType=MultiTenant did).
    """
    if not settings.app_id:
        return AgentAuthConfiguration(anonymous_allowed=True, connection_name="SERVICE_CONNECTION")
    return AgentAuthConfiguration(
        auth_type=AuthTypes(settings.auth_type),
        client_id=settings.app_id,
        tenant_id=settings.app_tenant_id or MULTI_TENANT,
        client_secret=settings.app_password or None,
        cert_pfx_file=settings.cert_pfx_file or None,
        send_x5c=settings.send_x5c,
        federated_client_id=settings.federated_client_id or None,
        federated_token_file=settings.federated_token_file or None,
        connection_name="SERVICE_CONNECTION",
        anonymous_allowed=False,
    )


def connection_manager(settings: Settings) -> MsalConnectionManager:
    """The SDK's connection manager (outbound tokens for replies and proactive messages) for `settings`."""
    return MsalConnectionManager(connections_configurations={"SERVICE_CONNECTION": auth_configuration(settings)})

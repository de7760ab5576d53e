"""App-only access tokens for Microsoft Graph and Exchange Online, through msal (client credentials).

`TokenProvider.token(scope)` returns a bearer token, cached per scope until shortly before it expires;
concurrent callers of one scope share one token request. msal is synchronous, so every msal call runs
in a worker thread (`asyncio.to_thread`) and never blocks the event loop.

Secrets and tokens are never logged or put into exception messages: logs carry the scope, the expiry
and Entra's AADSTS error codes only.

When the token endpoint fails (a 5xx, which msal raises as `MsalServiceError`; a timeout; a refused connection;
an answer that is not JSON; an OAuth `temporarily_unavailable`), `token()` raises one typed error,
`m365.errors.TokenUnavailable` (an `UpstreamUnavailable`: "Microsoft 365 unreachable" to every caller), and
keeps answering it without a new request for `FAILURE_HOLD_SECONDS`, so a hanging endpoint costs one timeout,
not one per turn. The outage is logged once when it starts and once when the endpoint answers again.
A refusal (wrong secret, unknown app or tenant) is `TokenRefused`, an `AuthenticationFailed`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import msal
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from msal.exceptions import MsalError, MsalServiceError

from m365.errors import M365Error, TokenRefused, TokenUnavailable

log = logging.getLogger(__name__)

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
EXCHANGE_SCOPE = "https://outlook.office365.com/.default"
PUBLIC_AUTHORITY_HOST = "https://login.microsoftonline.com"
DEFAULT_REFRESH_MARGIN_SECONDS = 300.0
# After the token endpoint failed, further callers get the same error without a request for this long: a hanging
# endpoint would otherwise cost every turn a full timeout. msal itself holds a 5xx for its Retry-After (5 s).
FAILURE_HOLD_SECONDS = 5.0
# OAuth errors Entra answers while it is failing, not refusing (RFC 6749 section 5.2 and 4.1.2.1; AADSTS90033 is
# "A transient error has occurred").
_TRANSIENT_OAUTH_ERRORS = frozenset({"temporarily_unavailable", "server_error"})
_TRANSIENT_AADSTS = frozenset({"AADSTS90033"})
_HTTP_STATUS = re.compile(r"\b([45]\d\d)\b")

_AADSTS = re.compile(r"AADSTS\d+")
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.+?-----END \1-----", re.DOTALL)


class MsalApp(Protocol):
    """The part of `msal.ConfidentialClientApplication` this module uses (tests substitute a fake)."""

    def acquire_token_for_client(self, scopes: list[str]) -> dict[str, Any]:
        """Client-credentials token request; msal answers a dict with `access_token` or `error`."""
        ...


class M365Settings(Protocol):
    """The settings `m365` reads. `config.Settings` has them; `m365` does not import `config` (see DESIGN.md)."""

    @property
    def m365_tenant_id(self) -> str:
        """Entra tenant id (GUID)."""
        ...

    @property
    def m365_client_id(self) -> str:
        """Application (client) id of the app registration."""
        ...

    @property
    def m365_client_secret(self) -> str:
        """Client secret, or empty when a certificate is used."""
        ...

    @property
    def m365_client_certificate_path(self) -> str:
        """PEM file with private key and certificate, or empty when a secret is used."""
        ...

    @property
    def m365_authority_host(self) -> str:
        """`https://login.microsoftonline.com`, or the demo tenant."""
        ...

    @property
    def m365_graph_url(self) -> str:
        """`https://graph.microsoft.com`, or the demo tenant."""
        ...

    @property
    def m365_exchange_url(self) -> str:
        """`https://outlook.office365.com`, or the demo tenant."""
        ...

    @property
    def m365_ca_file(self) -> str:
        """A CA bundle to trust instead of the system's, or empty."""
        ...

    @property
    def http_timeout_seconds(self) -> float:
        """Default timeout of one HTTP request."""
        ...


AppFactory = Callable[[str], MsalApp]
"""Builds the msal app for one authority URL (`https://login.microsoftonline.com/{tenant}`)."""


@dataclass(frozen=True)
class CertificateCredential:
    """A client certificate as msal wants it: PEM private key, SHA-1 thumbprint (hex), PEM certificate."""

    private_key: str
    thumbprint: str
    public_certificate: str

    def as_msal(self) -> dict[str, str]:
        """The `client_credential` dict of `ConfidentialClientApplication`."""
        return {
            "private_key": self.private_key,
            "thumbprint": self.thumbprint,
            "public_certificate": self.public_certificate,
        }

    def __repr__(self) -> str:  # the private key must not reach logs through a repr
        return f"CertificateCredential(thumbprint={self.thumbprint!r})"


def load_certificate(path: str | Path) -> CertificateCredential:
    """Read a PEM file holding an unencrypted private key and its certificate (in any order).

    The thumbprint Entra matches against the uploaded certificate is the SHA-1 of the certificate's DER.
    """
    data = Path(path).read_bytes()
    key_pem: bytes | None = None
    cert_pem: bytes | None = None
    for match in _PEM_BLOCK.finditer(data):
        label = match.group(1)
        if label == b"CERTIFICATE" and cert_pem is None:
            cert_pem = match.group(0)
        elif label.endswith(b"PRIVATE KEY") and key_pem is None:
            key_pem = match.group(0)
    if cert_pem is None or key_pem is None:
        raise ValueError(f"{path}: expected a PEM file with a private key and a certificate")
    try:
        serialization.load_pem_private_key(key_pem, password=None)
    except TypeError:
        raise ValueError(f"{path}: the private key is encrypted; store it without a passphrase") from None
    cert = x509.load_pem_x509_certificate(cert_pem)
    thumbprint = cert.fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303 - SHA-1 is what Entra's x5t uses
    return CertificateCredential(
        private_key=key_pem.decode("ascii"),
        thumbprint=thumbprint,
        public_certificate=cert_pem.decode("ascii"),
    )


class _CaPinnedSession(requests.Session):
    """A requests session that verifies TLS against `ca_file` whatever the environment says.

    requests lets `REQUESTS_CA_BUNDLE`/`CURL_CA_BUNDLE` override a session's `verify` unless each request
    passes it explicitly; on hosts that set those variables `M365_CA_FILE` would silently be ignored.
    Proxies from the environment still apply.
    """

    def __init__(self, ca_file: str | None) -> None:
        super().__init__()
        self._ca_file = ca_file
        if ca_file:
            self.verify = ca_file

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        """`requests.Session.request` with `verify` pinned to the CA file when one is configured."""
        if self._ca_file:
            kwargs["verify"] = self._ca_file
        return super().request(*args, **kwargs)


@dataclass
class _CachedToken:
    value: str
    refresh_at: float  # clock() time after which a new token is fetched


@dataclass
class _Failure:
    error: TokenUnavailable
    until: float  # clock() time before which the failure is answered again without a request


@dataclass(frozen=True)
class TokenHealth:
    """What the provider last saw of the token endpoint (for `/readyz` and logs).

    `state` is "ok" (the last request got a token, or none was needed yet: "unknown"), "unavailable" (failing:
    5xx, timeout, unreachable) or "refused" (Entra refused the app). `since` is the clock() time the state began.
    """

    state: str
    since: float | None = None
    detail: str = ""


class TokenProvider:
    """Client-credentials tokens for one Entra app, cached per (tenant, scope).

    One msal app is built per authority and kept for the provider's life (msal discovers the authority's
    endpoints when the app is built, so rebuilding it per call would double the requests). Call `close()`
    when done: it closes the HTTP sessions the provider opened for msal.
    """

    def __init__(
        self,
        settings: M365Settings,
        *,
        refresh_margin_seconds: float = DEFAULT_REFRESH_MARGIN_SECONDS,
        app_factory: AppFactory | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not settings.m365_client_id:
            raise ValueError("TokenProvider needs M365_CLIENT_ID")
        if not settings.m365_tenant_id:
            raise ValueError("TokenProvider needs M365_TENANT_ID")
        self._settings = settings
        self._margin = refresh_margin_seconds
        self._clock = clock
        self._app_factory: AppFactory = app_factory or self._build_msal_app
        self._apps: dict[tuple[str, str], MsalApp] = {}
        self._app_lock = asyncio.Lock()
        self._tokens: dict[tuple[str, str], _CachedToken] = {}
        self._failures: dict[tuple[str, str], _Failure] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._health = TokenHealth("unknown")
        self._http_sessions: list[requests.Session] = []
        # Read the certificate now, so a bad file fails at startup rather than on the first request.
        self._credential: str | dict[str, str] = (
            load_certificate(settings.m365_client_certificate_path).as_msal()
            if settings.m365_client_certificate_path
            else settings.m365_client_secret
        )

    @property
    def tenant_id(self) -> str:
        """The default tenant tokens are requested for."""
        return self._settings.m365_tenant_id

    def authority(self, tenant_id: str | None = None) -> str:
        """`{authority host}/{tenant id}`."""
        return f"{self._settings.m365_authority_host.rstrip('/')}/{tenant_id or self.tenant_id}"

    @property
    def health(self) -> TokenHealth:
        """The token endpoint's state as last seen (no request is made)."""
        return self._health

    async def token(self, scope: str, *, tenant_id: str | None = None) -> str:
        """A bearer token for `scope` (e.g. `GRAPH_SCOPE`).

        Raises `TokenRefused` when Entra refuses the app, `TokenUnavailable` when the endpoint is failing.
        """
        key = (tenant_id or self.tenant_id, scope)
        cached = self._tokens.get(key)
        if cached is not None and self._clock() < cached.refresh_at:
            return cached.value
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            # Another caller may have fetched it while this one waited for the lock.
            cached = self._tokens.get(key)
            if cached is not None and self._clock() < cached.refresh_at:
                return cached.value
            failure = self._failures.get(key)
            if failure is not None and self._clock() < failure.until:
                raise _again(failure.error)
            started = self._clock()
            try:
                app = await self._app(self.authority(key[0]))
                result = await asyncio.to_thread(self._acquire, app, scope)
                value, expires_in = self._check(result, scope)
            except TokenUnavailable as exc:
                self._failures[key] = _Failure(exc, self._clock() + FAILURE_HOLD_SECONDS)
                self._outage(exc)
                raise
            except TokenRefused as exc:
                self._set_health(TokenHealth("refused", self._clock(), exc.code or ""))
                raise
            self._failures.pop(key, None)
            self._recovered()
            refresh_at = started + max(0.0, expires_in - self._margin)
            self._tokens[key] = _CachedToken(value, refresh_at)
            log.info("token acquired for %s, expires in %.0f s", scope, expires_in)
            return value

    def _outage(self, exc: TokenUnavailable) -> None:
        """Log the start of an outage once; later failures of the same outage only at DEBUG."""
        if self._health.state != "unavailable":
            log.warning("Entra ID token endpoint unavailable: %s; the bot answers without Microsoft 365 until it "
                        "recovers", exc.message)
            self._set_health(TokenHealth("unavailable", self._clock(), exc.message))
        else:
            log.debug("Entra ID token endpoint still unavailable: %s", exc.message)

    def _recovered(self) -> None:
        if self._health.state == "unavailable" and self._health.since is not None:
            log.warning("Entra ID token endpoint answers again after %.0f s", self._clock() - self._health.since)
        if self._health.state != "ok":
            self._set_health(TokenHealth("ok", self._clock()))

    def _set_health(self, health: TokenHealth) -> None:
        self._health = health

    def invalidate(self, scope: str, token: str, *, tenant_id: str | None = None) -> None:
        """Forget `token` (the resource answered 401 with it) so the next `token()` call fetches a new one.

        Only the token that failed is dropped: when several requests fail with the same token, the first
        one's refresh is kept by the others. msal's own cache would hand the same token back, so it is
        purged there too.
        """
        key = (tenant_id or self.tenant_id, scope)
        cached = self._tokens.get(key)
        if cached is None or cached.value != token:
            return
        del self._tokens[key]
        app = self._apps.get((self.authority(key[0]), self._settings.m365_client_id))
        cache = getattr(app, "token_cache", None)
        if isinstance(cache, msal.TokenCache):
            for entry in list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN, target=[scope])):
                if entry.get("secret") == token:
                    cache.remove_at(entry)
        log.info("token for %s invalidated after a 401", scope)

    def close(self) -> None:
        """Close the HTTP sessions opened for msal. Tokens are forgotten."""
        for session in self._http_sessions:
            session.close()
        self._http_sessions.clear()
        self._apps.clear()
        self._tokens.clear()

    # -- internals -------------------------------------------------------------------------------------

    async def _app(self, authority: str) -> MsalApp:
        key = (authority, self._settings.m365_client_id)
        app = self._apps.get(key)
        if app is not None:
            return app
        async with self._app_lock:
            app = self._apps.get(key)
            if app is None:
                # Building an msal app fetches the authority's OpenID configuration: network, so a thread.
                app = await asyncio.to_thread(self._guarded, self._app_factory, authority)
                self._apps[key] = app
            return app

    def _build_msal_app(self, authority: str) -> MsalApp:
        settings = self._settings
        session = _CaPinnedSession(settings.m365_ca_file or None)
        self._http_sessions.append(session)
        # Instance discovery asks login.microsoftonline.com which hosts are Microsoft's; a demo or test
        # authority is not one of them, and must not cause a call to Microsoft.
        public = settings.m365_authority_host.rstrip("/").lower() == PUBLIC_AUTHORITY_HOST
        app: MsalApp = msal.ConfidentialClientApplication(
            settings.m365_client_id,
            client_credential=self._credential,
            authority=authority,
            http_client=session,
            timeout=settings.http_timeout_seconds,
            instance_discovery=None if public else False,
        )
        return app

    def _guarded(self, factory: AppFactory, authority: str) -> MsalApp:
        try:
            return factory(authority)
        except M365Error:
            raise
        except requests.exceptions.SSLError:
            raise TokenUnavailable(f"Entra ID ({authority}): TLS certificate not trusted; is M365_CA_FILE right?"
                                   ) from None
        except json.JSONDecodeError:
            raise TokenUnavailable(f"Entra ID ({authority}) answered its OpenID configuration with something that "
                                   "is not JSON") from None
        except ValueError as exc:
            # msal raises ValueError when the authority (tenant) cannot be discovered: a 4xx, Entra's answer.
            log.warning("msal could not use authority %s: %s", authority, type(exc).__name__)
            raise TokenRefused(
                f"Entra ID has no usable OpenID configuration at {authority}: is M365_TENANT_ID right?"
            ) from None
        except (requests.RequestException, MsalError, RuntimeError, OSError) as exc:
            # A 5xx of the discovery (msal: MsalServiceError, or RuntimeError when it cannot tell), a timeout.
            raise _unavailable(exc, f"Entra ID ({authority})") from None

    def _acquire(self, app: MsalApp, scope: str) -> Mapping[str, Any]:
        try:
            return app.acquire_token_for_client(scopes=[scope])
        except (requests.RequestException, MsalError, ValueError, RuntimeError, OSError) as exc:
            # msal raises MsalServiceError for a 5xx (and answers it again from its cache for the Retry-After),
            # requests' exceptions for the network, ValueError for an answer that is not JSON.
            raise _unavailable(exc, f"Entra ID token request for {scope}") from None

    def _check(self, result: Mapping[str, Any], scope: str) -> tuple[str, float]:
        token = result.get("access_token")
        if isinstance(token, str) and token:
            expires_in = result.get("expires_in")
            return token, float(expires_in) if isinstance(expires_in, (int, float)) else 0.0
        error = str(result.get("error") or "unknown_error")
        description = _first_line(str(result.get("error_description") or ""))
        codes = result.get("error_codes")
        code_match = _AADSTS.search(description)
        if code_match:
            code = code_match.group(0)
        elif isinstance(codes, list) and codes:
            code = f"AADSTS{codes[0]}"
        else:
            code = error
        secret = self._settings.m365_client_secret
        if secret and secret in description:  # Entra never echoes it; this keeps it that way in logs
            description = description.replace(secret, "***")
        if error in _TRANSIENT_OAUTH_ERRORS or code in _TRANSIENT_AADSTS:
            raise TokenUnavailable(f"Entra ID could not issue a token for {scope} now ({code})", code=code)
        log.warning("token request for %s refused: %s (%s)", scope, code, error)
        message = f"Entra ID refused a token for {scope}: {description or error}"
        if code not in message:
            message = f"{message} ({code})"
        raise TokenRefused(message, code=code)


def _unavailable(exc: BaseException, what: str) -> TokenUnavailable:
    """The one error for a failing token endpoint, with the HTTP status when msal's error names one.

    Only the exception's class and status go into the message: msal's texts can carry the endpoint's answer.
    """
    if isinstance(exc, requests.Timeout | TimeoutError):
        return TokenUnavailable(f"{what} did not answer in time")
    status = None
    if isinstance(exc, MsalServiceError | RuntimeError):
        match = _HTTP_STATUS.search(str(exc))
        status = int(match.group(1)) if match else None
    if status is not None:
        return TokenUnavailable(f"{what} failed: HTTP {status}", status=status)
    if isinstance(exc, ValueError):
        return TokenUnavailable(f"{what} failed: the answer is not JSON")
    return TokenUnavailable(f"{what} failed: {type(exc).__name__}")


def _again(error: TokenUnavailable) -> TokenUnavailable:
    """A fresh copy of a held failure (an exception object must not be raised from several tasks at once)."""
    return TokenUnavailable(error.message, status=error.status, code=error.code)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0].strip() if text.strip() else ""

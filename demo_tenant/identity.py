"""The Entra ID stand-in: OpenID discovery, JWKS, the client-credentials token endpoint, and token checks.

Tokens are v1.0 app tokens shaped like the ones Entra issues for Graph and Exchange Online (`aud` is the
resource of the requested `/.default` scope, `iss` is `https://sts.windows.net/{tenant}/`, `roles` are the
app's granted application permissions for that resource), signed RS256 with the demo key (`kid` = `x5t`).
Errors use Entra's AADSTS body shape.
"""

from __future__ import annotations

import base64
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from demo_tenant.pki import Pki, load_app_certificates, thumbprint, thumbprint_s256
from demo_tenant.state import DemoState

GRAPH_RESOURCE = "https://graph.microsoft.com"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
EXCHANGE_RESOURCE = "https://outlook.office365.com"
EXCHANGE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
# Both spellings of each resource are accepted, in scopes and as `aud`, as Entra and the APIs do.
RESOURCES = {
    GRAPH_RESOURCE: GRAPH_RESOURCE,
    GRAPH_APP_ID: GRAPH_RESOURCE,
    "https://graph.microsoft.com/": GRAPH_RESOURCE,
    EXCHANGE_RESOURCE: EXCHANGE_RESOURCE,
    EXCHANGE_APP_ID: EXCHANGE_RESOURCE,
    "https://outlook.office365.com/": EXCHANGE_RESOURCE,
}
GRAPH_AUDIENCES = (GRAPH_RESOURCE, GRAPH_APP_ID, GRAPH_RESOURCE + "/")
EXCHANGE_AUDIENCES = (EXCHANGE_RESOURCE, EXCHANGE_APP_ID, EXCHANGE_RESOURCE + "/")
# Application permissions of the "Office 365 Exchange Online" API; every other granted permission is Graph's.
EXCHANGE_PERMISSIONS = frozenset({"Exchange.ManageAsApp", "full_access_as_app", "Exchange.ManageAsAppV2"})
_RESERVED_SCOPES = {"openid", "profile", "offline_access"}
# Role template ids of the Entra built-in roles the app may hold ("Microsoft Entra built-in roles",
# learn.microsoft.com/en-us/entra/identity/role-based-access-control/permissions-reference). Entra puts the
# template ids of the service principal's directory roles in app-only tokens as `wids`; Exchange role groups
# (Organization Management) are Exchange's own and never appear there.
ROLE_TEMPLATE_IDS = {
    "Global Administrator": "62e90394-69f5-4237-9190-012177145e10",
    "Exchange Administrator": "29232cdf-9323-42fd-ade2-1d097af3e4de",
    "Security Administrator": "194ae4cb-b126-40b2-bd5b-6091b380977d",
    "Security Reader": "5d6b6bb7-de71-4623-b4af-96380a352509",
    "Global Reader": "f2ef992c-3afb-46b9-b7cf-a126ee74c451",
    "User Administrator": "fe930be7-5e62-47db-91af-98c3a49a38b1",
    "Privileged Authentication Administrator": "7be44c8a-adaf-4e2a-84d6-ab2649e08a13",
}
CLOCK_SKEW_SECONDS = 300  # Entra and the resource APIs tolerate five minutes of clock skew


class TokenError(Exception):
    """An access token the API refuses; `message` is the API's wording."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class AadError:
    """An Entra token-endpoint error: HTTP status, OAuth error, AADSTS code and message."""

    status: int
    error: str
    code: int
    message: str


def aad_error_body(err: AadError, *, base_url: str, correlation_id: str | None = None) -> dict[str, Any]:
    """Entra's error body, with the Trace ID / Correlation ID / Timestamp trailer in the description."""
    trace_id = str(uuid.uuid4())
    correlation = correlation_id or str(uuid.uuid4())
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return {
        "error": err.error,
        "error_description": (
            f"AADSTS{err.code}: {err.message}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation}\r\n"
            f"Timestamp: {stamp}"
        ),
        "error_codes": [err.code],
        "timestamp": stamp,
        "trace_id": trace_id,
        "correlation_id": correlation,
        "error_uri": f"{base_url}/error?code={err.code}",
    }


def _thumb(value: object) -> str | None:
    """A certificate thumbprint header as unpadded base64url (msal pads it; some clients send base64)."""
    if not isinstance(value, str) or not value:
        return None
    return value.replace("+", "-").replace("/", "_").rstrip("=")


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class Identity:
    """Issues and checks the demo tenant's tokens."""

    def __init__(self, state: DemoState, pki: Pki, *, data_dir: Path, client_secret: str,
                 token_lifetime_seconds: int) -> None:
        self.state = state
        self.pki = pki
        self.data_dir = data_dir
        self.client_secret = client_secret
        self.token_lifetime_seconds = token_lifetime_seconds
        self._public_key = pki.signing_key.public_key()

    # --- discovery ---------------------------------------------------------------------------------------

    def known_tenant(self, segment: str) -> bool:
        """True for the tenant id or one of its verified domains."""
        return segment.lower() in self.state.tenant_names()

    def openid_configuration(self, base_url: str, tenant_segment: str) -> dict[str, Any]:
        """The v2.0 OpenID configuration msal reads (issuer on our host so msal's issuer check passes)."""
        tid = self.state.tenant_id if self.known_tenant(tenant_segment) else "{tenantid}"
        return {
            "token_endpoint": f"{base_url}/{tid}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{base_url}/{tid}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{base_url}/{tid}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{base_url}/oidc/userinfo",
            "authorization_endpoint": f"{base_url}/{tid}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base_url}/{tid}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{base_url}/{tid}/oauth2/v2.0/logout",
            "claims_supported": [
                "sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name",
                "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid",
                "ver", "at_hash", "c_hash", "email",
            ],
            "kerberos_endpoint": f"{base_url}/{tid}/kerberos",
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        }

    @staticmethod
    def instance_discovery(base_url: str, authorization_endpoint: str | None) -> dict[str, Any]:
        """`/common/discovery/instance`: says our host is its own, only alias (msal tolerates it either way)."""
        host = base_url.split("://", 1)[1]
        tenant = "common"
        if authorization_endpoint:
            parts = authorization_endpoint.split("://", 1)[-1].split("/")
            if len(parts) > 1 and parts[1]:
                tenant = parts[1]
        return {
            "tenant_discovery_endpoint": f"{base_url}/{tenant}/v2.0/.well-known/openid-configuration",
            "api-version": "1.1",
            "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
        }

    def jwks(self) -> dict[str, Any]:
        """The signing key set, as Entra publishes it (`kid` = `x5t`, with the certificate in `x5c`)."""
        numbers = self._public_key.public_numbers()
        cert_der = self.pki.signing_cert.public_bytes(serialization.Encoding.DER)
        return {
            "keys": [{
                "kty": "RSA",
                "use": "sig",
                "kid": self.pki.kid,
                "x5t": self.pki.kid,
                "n": _b64url_uint(numbers.n),
                "e": _b64url_uint(numbers.e),
                "x5c": [base64.b64encode(cert_der).decode()],
                "issuer": f"https://login.microsoftonline.com/{self.state.tenant_id}/v2.0",
            }]
        }

    # --- tokens ------------------------------------------------------------------------------------------

    def roles_for(self, resource: str) -> list[str]:
        """The app's granted application permissions that belong to `resource`."""
        granted = self.state.granted_permissions()
        if resource == EXCHANGE_RESOURCE:
            return [p for p in granted if p in EXCHANGE_PERMISSIONS]
        return [p for p in granted if p not in EXCHANGE_PERMISSIONS]

    def role_template_ids(self) -> list[str]:
        """The `wids` claim: template ids of the Entra roles assigned to the app (role groups have none)."""
        names = self.state.exchange_roles() + self.state.directory_roles()
        return list(dict.fromkeys(ROLE_TEMPLATE_IDS[n] for n in names if n in ROLE_TEMPLATE_IDS))

    def issue_access_token(self, resource: str, *, lifetime_seconds: int | None = None,
                           roles: list[str] | None = None, audience: str | None = None,
                           tenant_id: str | None = None, appidacr: str = "1") -> str:
        """Sign an app token for `resource`. Tests use the keyword arguments to make bad tokens on purpose."""
        now = int(time.time())
        lifetime = self.token_lifetime_seconds if lifetime_seconds is None else lifetime_seconds
        tid = tenant_id or self.state.tenant_id
        app_oid = str(self.state.app.get("servicePrincipalId") or uuid.uuid5(uuid.NAMESPACE_URL, self.state.client_id))
        claims: dict[str, Any] = {
            "aud": audience or resource,
            "iss": f"https://sts.windows.net/{tid}/",
            "iat": min(now, now + lifetime) - 5,
            "nbf": min(now, now + lifetime) - 5,
            "exp": now + lifetime,
            "aio": base64.b64encode(secrets.token_bytes(48)).decode(),
            "app_displayname": self.state.app.get("displayName", ""),
            "appid": self.state.client_id,
            "appidacr": appidacr,
            "idp": f"https://sts.windows.net/{tid}/",
            "idtyp": "app",
            "oid": app_oid,
            "rh": "0.A" + base64.urlsafe_b64encode(secrets.token_bytes(36)).rstrip(b"=").decode(),
            "roles": self.roles_for(resource) if roles is None else roles,
            "wids": self.role_template_ids(),
            "sub": app_oid,
            "tenant_region_scope": "EU",
            "tid": tid,
            "uti": base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode(),
            "ver": "1.0",
        }
        headers = {"typ": "JWT", "kid": self.pki.kid, "x5t": self.pki.kid}
        return jwt.encode(claims, self.pki.signing_key, algorithm="RS256", headers=headers)

    def validate(self, authorization: str | None, audiences: tuple[str, ...]) -> dict[str, Any]:
        """Check a `Bearer` header for one of `audiences`; returns the claims or raises `TokenError`."""
        if not authorization or not authorization.strip():
            raise TokenError("Access token is empty.")
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise TokenError("Access token is empty.")
        if token.count(".") != 2:
            raise TokenError(
                "IDX14100: JWT is not well formed, there are no dots (.).\nThe token needs to be in JWS or JWE "
                "Compact Serialization Format. (JWS): 'EncodedHeader.EndcodedPayload.EncodedSignature'."
            )
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._public_key,
                algorithms=["RS256"],
                options={"verify_aud": False, "require": ["exp", "nbf", "iat", "aud", "tid"]},
                leeway=CLOCK_SKEW_SECONDS,
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("Lifetime validation failed, the token is expired.") from None
        except jwt.ImmatureSignatureError:
            raise TokenError("Lifetime validation failed, the token is not yet valid.") from None
        except jwt.InvalidSignatureError:
            raise TokenError("Access token validation failure. Invalid signature.") from None
        except jwt.InvalidTokenError:
            raise TokenError("Access token validation failure.") from None
        if claims.get("aud") not in audiences:
            raise TokenError("Access token validation failure. Invalid audience.")
        if str(claims.get("tid", "")).lower() != self.state.tenant_id.lower() or claims.get("iss") != (
            f"https://sts.windows.net/{self.state.tenant_id}/"
        ):
            raise TokenError("Access token validation failure. Invalid issuer.")
        return claims

    # --- the token endpoint ------------------------------------------------------------------------------

    def token_endpoint(self, tenant_segment: str, form: Mapping[str, str], base_url: str) -> tuple[int, dict[str, Any]]:
        """Answer `POST /{tenant}/oauth2/v2.0/token` (client credentials only)."""
        err = self._check_token_request(tenant_segment, form, base_url)
        if isinstance(err, AadError):
            return err.status, aad_error_body(err, base_url=base_url, correlation_id=form.get("client-request-id"))
        resource = err
        token = self.issue_access_token(resource, appidacr="2" if "client_assertion" in form else "1")
        return 200, {
            "token_type": "Bearer",
            "expires_in": self.token_lifetime_seconds,
            "ext_expires_in": self.token_lifetime_seconds,
            "access_token": token,
        }

    def _check_token_request(self, tenant_segment: str, form: Mapping[str, str], base_url: str) -> AadError | str:
        """The resource to issue a token for, or the error Entra would answer."""
        if tenant_segment.lower() in ("common", "organizations", "consumers"):
            return AadError(400, "invalid_request", 50194,
                            f"Application '{form.get('client_id', '')}'({self.state.app.get('displayName', '')}) is "
                            "not configured as a multi-tenant application. Usage of the /common endpoint is not "
                            "supported for such applications created after '10/15/2018'. Use a tenant-specific "
                            "endpoint or configure the application to be multi-tenant.")
        if not self.known_tenant(tenant_segment):
            return AadError(400, "invalid_tenant", 90002,
                            f"Tenant '{tenant_segment}' not found. Check to make sure you have the correct tenant ID "
                            "and are signing into the correct cloud. Check with your subscription administrator, this "
                            "may happen if there are no active subscriptions for the tenant.")
        grant_type = form.get("grant_type", "")
        if grant_type != "client_credentials":
            return AadError(400, "unsupported_grant_type", 70003,
                            "The app requested an unsupported grant type '"
                            f"{grant_type}'." if grant_type else "The request body must contain the following "
                            "parameter: 'grant_type'.")
        client_id = form.get("client_id", "")
        if not client_id:
            return AadError(400, "invalid_request", 900144,
                            "The request body must contain the following parameter: 'client_id'.")
        if client_id.lower() != self.state.client_id.lower():
            return AadError(400, "unauthorized_client", 700016,
                            f"Application with identifier '{client_id}' was not found in the directory "
                            f"'{self.state.tenant.get('displayName', '')}'. This can happen if the application has "
                            "not been installed by the administrator of the tenant or consented to by any user in "
                            "the tenant. You may have sent your authentication request to the wrong tenant.")
        if "client_assertion" in form:
            assertion_error = self._check_assertion(form, tenant_segment, base_url)
            if assertion_error is not None:
                return assertion_error
        elif "client_secret" in form:
            if not secrets.compare_digest(form["client_secret"].encode(), self.client_secret.encode()):
                return AadError(401, "invalid_client", 7000215,
                                "Invalid client secret provided. Ensure the secret being sent in the request is the "
                                "client secret value, not the client secret ID, for a secret added to app "
                                f"'{self.state.client_id}'.")
        else:
            return AadError(401, "invalid_client", 7000216,
                            "'client_assertion', 'client_secret' or 'request' is required for the "
                            "'client_credentials' grant type.")
        return self._resource_from_scope(form.get("scope", ""))

    def _resource_from_scope(self, scope: str) -> AadError | str:
        scopes = [s for s in scope.split() if s not in _RESERVED_SCOPES]
        if not scopes:
            return AadError(400, "invalid_request", 900144,
                            "The request body must contain the following parameter: 'scope'.")
        if len(scopes) > 1 or not scopes[0].endswith("/.default"):
            return AadError(400, "invalid_scope", 1002012,
                            f"The provided value for scope {' '.join(scopes)} is not valid. Client credential flows "
                            "must have a scope value with /.default suffixed to the resource identifier (application "
                            "ID URI).")
        resource_text = scopes[0][: -len("/.default")]
        resource = RESOURCES.get(resource_text) or RESOURCES.get(resource_text.rstrip("/"))
        if resource is None:
            return AadError(400, "invalid_resource", 500011,
                            f"The resource principal named {resource_text} was not found in the tenant named "
                            f"{self.state.tenant.get('displayName', '')}. This can happen if the application has not "
                            "been installed by the administrator of the tenant or consented to by any user in the "
                            "tenant. You might have sent your authentication request to the wrong tenant.")
        return resource

    def _check_assertion(self, form: Mapping[str, str], tenant_segment: str, base_url: str) -> AadError | None:
        """Verify a certificate client assertion against `data_dir/app_certificates/*.pem`."""
        if form.get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
            return AadError(400, "invalid_request", 50027,
                            "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer.")
        assertion = form.get("client_assertion", "")
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.InvalidTokenError:
            return AadError(400, "invalid_request", 50027, "JWT token is invalid or malformed.")
        certs = load_app_certificates(self.data_dir / "app_certificates")
        wanted_s1, wanted_s256 = _thumb(header.get("x5t")), _thumb(header.get("x5t#S256"))
        cert: x509.Certificate | None = next(
            (c for c in certs if thumbprint(c) == wanted_s1 or thumbprint_s256(c) == wanted_s256), None
        )
        if cert is None:
            return AadError(401, "invalid_client", 700027,
                            "Client assertion contains an invalid signature. [Reason - The key was not found., "
                            f"Thumbprint of key used by client: '{wanted_s1 or wanted_s256 or ''}', Please visit the "
                            "Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id "
                            f"'{self.state.client_id}'.]")
        public_key = cert.public_key()
        if not isinstance(public_key, rsa.RSAPublicKey):
            return AadError(401, "invalid_client", 700027, "Client assertion contains an invalid signature.")
        audiences = [f"{base_url}/{name}/oauth2/v2.0/token" for name in (tenant_segment, self.state.tenant_id)]
        try:
            claims = jwt.decode(assertion, public_key, algorithms=["RS256", "PS256"], audience=audiences,
                                leeway=CLOCK_SKEW_SECONDS, options={"require": ["exp", "aud", "iss", "sub"]})
        except jwt.InvalidAudienceError:
            return AadError(401, "invalid_client", 700023,
                            "Client assertion audience claim does not match Realm issuer.")
        except jwt.ExpiredSignatureError:
            return AadError(401, "invalid_client", 700024, "Client assertion is not within its valid time range.")
        except jwt.InvalidTokenError:
            return AadError(401, "invalid_client", 700027, "Client assertion contains an invalid signature.")
        if str(claims.get("iss", "")).lower() != self.state.client_id.lower() or str(
                claims.get("sub", "")).lower() != self.state.client_id.lower():
            return AadError(401, "invalid_client", 700021,
                            "Client assertion application identifier doesn't match 'client_id' parameter.")
        return None

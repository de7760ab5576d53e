"""A local stand-in for Bot Framework's token signing: an OpenID metadata document, its JWKS and the private key.

The bot's `BOT_OPENID_METADATA_URL` points here (teams/auth.py fetches it with aiohttp). The stand-in serves from
its own thread, so it needs no event loop and one instance serves a whole test module.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

CHANNEL_ISSUER = "https://api.botframework.com"
# An Emulator token's issuer (the botframework.com Entra tenant, v1 tokens): the Agents SDK trusts it, we do not.
EMULATOR_ISSUER = "https://sts.windows.net/d6d49420-f39b-4df7-a1dc-d59a935871db/"
METADATA_PATH = "/v1/.well-known/openidconfiguration"
KEYS_PATH = "/v1/.well-known/keys"


def new_key() -> rsa.RSAPrivateKey:
    """A fresh 2048-bit RSA signing key."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _b64(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class BotFrameworkStandIn:
    """Serves `METADATA_PATH` and `KEYS_PATH` on loopback and signs tokens with the key it publishes."""

    key: rsa.RSAPrivateKey = field(default_factory=new_key)
    kid: str = "test-signing-key"
    endorsements: tuple[str, ...] = ("msteams",)
    requests_seen: list[str] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def metadata_url(self) -> str:
        """The URL of the OpenID metadata document (the bot's BOT_OPENID_METADATA_URL)."""
        assert self._server is not None, "start() first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{METADATA_PATH}"

    def jwks(self) -> dict[str, Any]:
        """The published key set: one RSA key with Bot Framework's `endorsements` extension."""
        jwk = RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        jwk.update({"kid": self.kid, "use": "sig", "alg": "RS256", "endorsements": list(self.endorsements)})
        return {"keys": [jwk]}

    def start(self) -> None:
        """Serve on a free loopback port in a daemon thread."""
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                stand_in.requests_seen.append(self.path)
                base = stand_in.metadata_url.removesuffix(METADATA_PATH)
                if self.path == METADATA_PATH:
                    body: dict[str, Any] = {
                        "issuer": CHANNEL_ISSUER,
                        "authorization_endpoint": "https://invalid.example/",
                        "jwks_uri": base + KEYS_PATH,
                        "id_token_signing_alg_values_supported": ["RS256"],
                        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
                    }
                elif self.path == KEYS_PATH:
                    body = stand_in.jwks()
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet test output
                del format, args

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True, name="botframework-stand-in").start()

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def claims(self, *, audience: str, service_url: str, **overrides: Any) -> dict[str, Any]:
        """The claims of a channel token as Bot Framework issues them, with `overrides` applied (None removes)."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "serviceurl": service_url,
            "nbf": now - 60,
            "exp": now + 3600,
            "iss": CHANNEL_ISSUER,
            "aud": audience,
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def sign(self, claims: dict[str, Any], *, key: rsa.RSAPrivateKey | None = None, kid: str | None = None,
             algorithm: str = "RS256") -> str:
        """A JWT over `claims` signed with `key` (default: the published one) under key id `kid`."""
        return jwt.encode(claims, key or self.key, algorithm=algorithm,
                          headers={"kid": kid if kid is not None else self.kid})

    def unsigned(self, claims: dict[str, Any], *, kid: str | None = None) -> str:
        """An `alg: none` token: a valid-looking header and payload and an empty signature."""
        header = {"alg": "none", "typ": "JWT", "kid": kid if kid is not None else self.kid}
        return f"{_b64(header)}.{_b64(claims)}."

    def hmac_with_public_key(self, claims: dict[str, Any]) -> str:
        """The classic algorithm-confusion forgery: HS256 keyed with the (public) verification key's PEM."""
        secret = self.key.public_key().public_bytes(serialization.Encoding.PEM,
                                                    serialization.PublicFormat.SubjectPublicKeyInfo)
        signing_input = f"{_b64({'alg': 'HS256', 'typ': 'JWT', 'kid': self.kid})}.{_b64(claims)}"
        signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{_b64(signature)}"

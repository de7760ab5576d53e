"""`m365.auth.TokenProvider`: caching, single flight, renewal, msal errors, certificate credentials."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from pathlib import Path
from typing import Any

import msal
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from config import Settings
from m365.auth import EXCHANGE_SCOPE, GRAPH_SCOPE, TokenProvider, load_certificate
from m365.errors import AuthenticationFailed

TENANT = "4f8c2b1e-6d3a-4e5b-9c7d-1a2b3c4d5e6f"
CLIENT = "b7e3c1d2-8a4f-4c6e-9b1d-2e3f4a5b6c7d"
SECRET = "s3cr3t-value-never-shown"


def settings(**changes: Any) -> Settings:
    values: dict[str, Any] = {"m365_tenant_id": TENANT, "m365_client_id": CLIENT, "m365_client_secret": SECRET,
                              "m365_authority_host": "https://login.example.test"}
    values.update(changes)
    return Settings(**values)


class FakeApp:
    """Stands in for msal's ConfidentialClientApplication: counts token requests, answers after a short delay."""

    def __init__(self, *, expires_in: int = 3600, result: dict[str, Any] | None = None) -> None:
        self.calls: list[list[str]] = []
        self.expires_in = expires_in
        self.result = result
        self._lock = threading.Lock()

    def acquire_token_for_client(self, scopes: list[str]) -> dict[str, Any]:
        time.sleep(0.02)  # long enough for concurrent callers to pile up on the lock
        with self._lock:
            self.calls.append(scopes)
            n = len(self.calls)
        if self.result is not None:
            return self.result
        return {"access_token": f"token-{n}", "token_type": "Bearer", "expires_in": self.expires_in}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def provider(app: FakeApp, clock: Clock | None = None, **kwargs: Any) -> tuple[TokenProvider, list[str]]:
    authorities: list[str] = []

    def factory(authority: str) -> FakeApp:
        authorities.append(authority)
        return app

    return TokenProvider(settings(), app_factory=factory, clock=clock or Clock(), **kwargs), authorities


async def test_concurrent_callers_share_one_request() -> None:
    app = FakeApp()
    tokens, authorities = provider(app)
    results = await asyncio.gather(*(tokens.token(GRAPH_SCOPE) for _ in range(10)))
    assert set(results) == {"token-1"}
    assert app.calls == [[GRAPH_SCOPE]]
    assert authorities == [f"https://login.example.test/{TENANT}"]


async def test_cache_per_scope_and_renewal_before_expiry() -> None:
    app = FakeApp(expires_in=3600)
    clock = Clock()
    tokens, authorities = provider(app, clock, refresh_margin_seconds=300)
    assert await tokens.token(GRAPH_SCOPE) == "token-1"
    assert await tokens.token(EXCHANGE_SCOPE) == "token-2"
    clock.now += 3299
    assert await tokens.token(GRAPH_SCOPE) == "token-1"
    clock.now += 2  # now within the 5-minute margin
    assert await tokens.token(GRAPH_SCOPE) == "token-3"
    assert await tokens.token(GRAPH_SCOPE) == "token-3"
    assert len(app.calls) == 3
    assert len(authorities) == 1  # one msal app for the authority


async def test_short_lived_token_is_not_cached_past_expiry() -> None:
    app = FakeApp(expires_in=2)
    clock = Clock()
    tokens, _ = provider(app, clock, refresh_margin_seconds=0)
    assert await tokens.token(GRAPH_SCOPE) == "token-1"
    clock.now += 1
    assert await tokens.token(GRAPH_SCOPE) == "token-1"
    clock.now += 1.5
    assert await tokens.token(GRAPH_SCOPE) == "token-2"


async def test_invalidate_drops_only_the_rejected_token() -> None:
    app = FakeApp()
    tokens, _ = provider(app)
    first = await tokens.token(GRAPH_SCOPE)
    tokens.invalidate(GRAPH_SCOPE, "some-older-token")
    assert await tokens.token(GRAPH_SCOPE) == first
    tokens.invalidate(GRAPH_SCOPE, first)
    assert await tokens.token(GRAPH_SCOPE) == "token-2"


async def test_msal_error_becomes_authentication_failed_without_secret() -> None:
    app = FakeApp(result={
        "error": "invalid_client",
        "error_description": f"AADSTS7000215: Invalid client secret provided ({SECRET}).\r\nTrace ID: abc\r\n",
        "error_codes": [7000215],
    })
    tokens, _ = provider(app)
    with pytest.raises(AuthenticationFailed) as info:
        await tokens.token(GRAPH_SCOPE)
    assert info.value.code == "AADSTS7000215"
    assert "AADSTS7000215" in str(info.value)
    assert SECRET not in str(info.value)
    assert "Trace ID" not in str(info.value)
    # A failure is not cached: the next call asks again.
    with pytest.raises(AuthenticationFailed):
        await tokens.token(GRAPH_SCOPE)
    assert len(app.calls) == 2


async def test_msal_error_without_description_uses_error_codes() -> None:
    tokens, _ = provider(FakeApp(result={"error": "unauthorized_client", "error_codes": [700016]}))
    with pytest.raises(AuthenticationFailed) as info:
        await tokens.token(GRAPH_SCOPE)
    assert info.value.code == "AADSTS700016"


def test_settings_without_ids_are_refused() -> None:
    with pytest.raises(ValueError):
        TokenProvider(settings(m365_client_id=""))


def _write_certificate(path: Path) -> x509.Certificate:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bsa-test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    # Certificate first, key second: the order must not matter.
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + key_pem)
    return cert


def test_load_certificate_computes_sha1_thumbprint(tmp_path: Path) -> None:
    pem = tmp_path / "app.pem"
    cert = _write_certificate(pem)
    credential = load_certificate(pem)
    assert credential.thumbprint == cert.fingerprint(hashes.SHA1()).hex().upper()
    assert credential.private_key.startswith("-----BEGIN PRIVATE KEY-----")
    assert credential.public_certificate.startswith("-----BEGIN CERTIFICATE-----")
    assert "PRIVATE" not in repr(credential)
    assert set(credential.as_msal()) == {"private_key", "thumbprint", "public_certificate"}


def test_load_certificate_rejects_incomplete_file(tmp_path: Path) -> None:
    pem = tmp_path / "only-cert.pem"
    cert = _write_certificate(tmp_path / "full.pem")
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    with pytest.raises(ValueError, match="private key"):
        load_certificate(pem)


class RecordingMsal:
    """Replaces msal.ConfidentialClientApplication to see how the provider builds it (no network)."""

    made: list[dict[str, Any]] = []

    def __init__(self, client_id: str, **kwargs: Any) -> None:
        RecordingMsal.made.append({"client_id": client_id, **kwargs})

    def acquire_token_for_client(self, scopes: list[str]) -> dict[str, Any]:
        return {"access_token": "t", "expires_in": 3600}


@pytest.mark.parametrize("public", [True, False])
async def test_msal_app_construction(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, public: bool) -> None:
    RecordingMsal.made = []
    monkeypatch.setattr(msal, "ConfidentialClientApplication", RecordingMsal)
    pem = tmp_path / "app.pem"
    cert = _write_certificate(pem)
    ca = tmp_path / "ca.pem"
    ca.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    host = "https://login.microsoftonline.com" if public else "https://127.0.0.1:4443"
    tokens = TokenProvider(settings(m365_client_secret="", m365_client_certificate_path=str(pem),
                                    m365_authority_host=host, m365_ca_file=str(ca)))
    try:
        assert await tokens.token(GRAPH_SCOPE) == "t"
        assert await tokens.token(EXCHANGE_SCOPE) == "t"
    finally:
        tokens.close()
    assert len(RecordingMsal.made) == 1
    made = RecordingMsal.made[0]
    assert made["client_id"] == CLIENT
    assert made["authority"] == f"{host}/{TENANT}"
    assert made["client_credential"]["thumbprint"] == cert.fingerprint(hashes.SHA1()).hex().upper()
    assert made["instance_discovery"] is (None if public else False)
    assert made["http_client"].verify == str(ca)

"""The demo tenant's keys and certificates: a local CA, a server certificate for loopback, a token-signing key.

Everything lives in the data directory and is made on first start, then reused: clients keep trusting
the same `ca.pem` across restarts. A file that is unreadable, expired (or about to expire) or no longer
matches its issuer is made again. Private keys are written with mode 0600.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import logging
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

log = logging.getLogger(__name__)

CA_COMMON_NAME = "Blocked Sender Assistant demo CA"
SERVER_COMMON_NAME = "Blocked Sender Assistant demo tenant"
SIGNING_COMMON_NAME = "Blocked Sender Assistant demo token signing"

# Regenerate a certificate this long before it expires, so a running demo never serves an expired one.
_RENEW_MARGIN = timedelta(days=7)
_CA_LIFETIME = timedelta(days=3650)
# Browsers and Apple platforms cap server certificates at 398 days; stay under it.
_LEAF_LIFETIME = timedelta(days=397)


@dataclass(frozen=True)
class Pki:
    """Paths and material the server needs after `ensure_pki`."""

    ca_file: Path
    server_cert_file: Path
    server_key_file: Path
    signing_key: rsa.RSAPrivateKey
    signing_cert: x509.Certificate
    kid: str
    client_secret: str


def write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path` readable by the owner only (0600), replacing it atomically."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)  # umask or a pre-existing tmp file could have left other bits
    os.replace(tmp, path)


def _write_public(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load_key(path: Path) -> rsa.RSAPrivateKey | None:
    try:
        # Skipping OpenSSL's RSA consistency check (about 50 ms a key, three keys at every start): these are keys
        # this module generated and wrote owner-only, and each is still matched against its certificate below.
        key = serialization.load_pem_private_key(path.read_bytes(), password=None,
                                                 unsafe_skip_rsa_key_validation=True)
    except (OSError, ValueError, TypeError):
        return None
    return key if isinstance(key, rsa.RSAPrivateKey) else None


def _load_cert(path: Path) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return None


def _fresh(cert: x509.Certificate, now: datetime) -> bool:
    return cert.not_valid_before_utc <= now and cert.not_valid_after_utc - _RENEW_MARGIN > now


def _matches(cert: x509.Certificate, key: rsa.RSAPrivateKey) -> bool:
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return cert.public_key().public_bytes(*spki) == key.public_key().public_bytes(*spki)


def _signed_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    if cert.issuer != ca.subject:
        return False
    public = ca.public_key()
    if not isinstance(public, rsa.RSAPublicKey) or cert.signature_hash_algorithm is None:
        return False
    try:
        public.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), cert.signature_hash_algorithm)
    except Exception:  # cryptography raises InvalidSignature; anything else also means "not ours"
        return False
    return True


def _make_ca(key: rsa.RSAPrivateKey, now: datetime) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_COMMON_NAME)])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + _CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )


def _make_server_cert(
    key: rsa.RSAPrivateKey, ca_key: rsa.RSAPrivateKey, ca: x509.Certificate, now: datetime
) -> x509.Certificate:
    san = x509.SubjectAlternativeName([
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ])
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SERVER_COMMON_NAME)]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + _LEAF_LIFETIME)
        .add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=True, data_encipherment=False,
                key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )


def _make_signing_cert(key: rsa.RSAPrivateKey, now: datetime) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SIGNING_COMMON_NAME)])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + _CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


def thumbprint(cert: x509.Certificate) -> str:
    """Base64url SHA-1 of the DER certificate: what Entra uses as `kid`/`x5t` and msal sends as `x5t`."""
    return base64.urlsafe_b64encode(cert.fingerprint(hashes.SHA1())).rstrip(b"=").decode()


def thumbprint_s256(cert: x509.Certificate) -> str:
    """Base64url SHA-256 of the DER certificate (`x5t#S256`)."""
    der = cert.public_bytes(serialization.Encoding.DER)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


def ensure_pki(data_dir: Path) -> Pki:
    """Create or reuse the CA, server certificate, token-signing key and client secret in `data_dir`."""
    data_dir.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    ca_file, ca_key_file = data_dir / "ca.pem", data_dir / "ca.key"
    cert_file, key_file = data_dir / "server.pem", data_dir / "server.key"
    signing_key_file, signing_cert_file = data_dir / "signing.key", data_dir / "signing.pem"
    secret_file = data_dir / "client_secret"

    ca_key, ca = _load_key(ca_key_file), _load_cert(ca_file)
    ca_renewed = False
    if ca_key is None or ca is None or not _fresh(ca, now) or not _matches(ca, ca_key):
        log.info("creating the demo CA in %s", data_dir)
        ca_key = _new_key()
        ca = _make_ca(ca_key, now)
        write_private(ca_key_file, _key_pem(ca_key))
        _write_public(ca_file, ca.public_bytes(serialization.Encoding.PEM))
        ca_renewed = True

    key, cert = _load_key(key_file), _load_cert(cert_file)
    if (ca_renewed or key is None or cert is None or not _fresh(cert, now) or not _matches(cert, key)
            or not _signed_by(cert, ca)):
        log.info("creating the demo server certificate in %s", data_dir)
        key = _new_key()
        cert = _make_server_cert(key, ca_key, ca, now)
        write_private(key_file, _key_pem(key))
        _write_public(cert_file, cert.public_bytes(serialization.Encoding.PEM))

    signing_key, signing_cert = _load_key(signing_key_file), _load_cert(signing_cert_file)
    if (signing_key is None or signing_cert is None or not _fresh(signing_cert, now)
            or not _matches(signing_cert, signing_key)):
        log.info("creating the demo token-signing key in %s", data_dir)
        signing_key = _new_key()
        signing_cert = _make_signing_cert(signing_key, now)
        write_private(signing_key_file, _key_pem(signing_key))
        _write_public(signing_cert_file, signing_cert.public_bytes(serialization.Encoding.PEM))

    try:
        client_secret = secret_file.read_text(encoding="utf-8").strip()
    except OSError:
        client_secret = ""
    if len(client_secret) < 32:
        # Shaped like an Entra secret value (40 characters, with the `~` Entra puts in them).
        client_secret = secrets.token_urlsafe(27)[:3] + "8Q~" + secrets.token_urlsafe(30)[:34]
        write_private(secret_file, client_secret.encode())
    for private in (ca_key_file, key_file, signing_key_file, secret_file):
        os.chmod(private, 0o600)

    return Pki(
        ca_file=ca_file,
        server_cert_file=cert_file,
        server_key_file=key_file,
        signing_key=signing_key,
        signing_cert=signing_cert,
        kid=thumbprint(signing_cert),
        client_secret=client_secret,
    )


def load_app_certificates(directory: Path) -> list[x509.Certificate]:
    """Certificates registered for the app (`app_certificates/*.pem`), for client assertions."""
    certs: list[x509.Certificate] = []
    if not directory.is_dir():
        return certs
    for path in sorted(directory.glob("*.pem")):
        try:
            certs.extend(x509.load_pem_x509_certificates(path.read_bytes()))
        except (OSError, ValueError):
            log.warning("ignoring unreadable app certificate %s", path.name)
    return certs

"""Key material helpers for the sandbox: RSA keys, self-signed certs, fingerprints, JWKs."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificatePublicKeyTypes,
    PrivateKeyTypes,
)
from cryptography.x509.oid import NameOID


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: PrivateKeyTypes) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


API_KEY_LABEL = b"OCI_API_KEY"  # the oci CLI's PRIVATE_KEY_LABEL (oci_cli/cli_setup.py)


def api_key_file(key: PrivateKeyTypes) -> bytes:
    """An API-key file as ``oci setup keys`` / ``oci session authenticate`` write it: the PKCS#8
    PEM, then the label line ``OCI_API_KEY`` (no newline after it). The oci CLI warns about a
    key file without the label; PEM loaders ignore it."""
    return private_pem(key) + API_KEY_LABEL


def labelled(data: bytes) -> bytes:
    """``data`` (a PEM key file) with the label added when it lacks one."""
    return data if data.rstrip().endswith(API_KEY_LABEL) else data + API_KEY_LABEL


def public_pem(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> str:
    pub = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
    return pub.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def load_private_pem(data: bytes) -> rsa.RSAPrivateKey:
    """A key the sandbox generated itself (its own 0600 state files). cryptography's RSA
    consistency check is skipped: ~60 ms of CPU per load, and the sandbox loads its session and
    signing keys at every start (docs/benchmarks.md, "Start-up (issue 22)")."""
    key = serialization.load_pem_private_key(
        data, password=None, unsafe_skip_rsa_key_validation=True
    )
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def fingerprint(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> str:
    """OCI API-key fingerprint: colon-separated MD5 of the DER SubjectPublicKeyInfo."""
    pub = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
    der = pub.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = hashlib.md5(der).hexdigest()  # noqa: S324 - OCI defines the fingerprint as MD5
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def cert_builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: CertificatePublicKeyTypes,
    backdate: dt.timedelta,
    lifetime: dt.timedelta,
) -> x509.CertificateBuilder:
    """A certificate builder with a random serial, valid from ``now - backdate`` (clock skew) to
    ``now + lifetime``; extensions and signing are the caller's."""
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - backdate)
        .not_valid_after(now + lifetime)
    )


def key_usage(
    *, digital_signature: bool = False, key_cert_sign: bool = False, crl_sign: bool = False
) -> x509.KeyUsage:
    """A KeyUsage extension value with only the named bits set."""
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def self_signed_cert(key: rsa.RSAPrivateKey, common_name: str) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = cert_builder(
        name, name, key.public_key(), dt.timedelta(days=1), dt.timedelta(days=3650)
    ).sign(key, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.PEM)


def b64url(raw: bytes) -> str:
    """Unpadded base64url (JOSE)."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64url_uint(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def rsa_jwk(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> dict[str, Any]:
    """Public JWK members ``kty``, ``n``, ``e``."""
    pub = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
    numbers = pub.public_numbers()
    return {"kty": "RSA", "n": b64url_uint(numbers.n), "e": b64url_uint(numbers.e)}

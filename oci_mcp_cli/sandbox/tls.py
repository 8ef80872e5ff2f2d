"""The sandbox's local CA and the TLS server context of its https front (one certificate per
emulated hostname, picked by SNI).

The CA is created at first start in ``<state dir>/tls/`` (``ca.pem`` and ``ca-key.pem``, 0600) and
reused on every later start (also across ``--reset``), so a trust set up once keeps working. Host
certificates are issued in memory when a client first asks for the name, signed by the CA, and
only for names the :class:`~oci_mcp_cli.sandbox.hosts.HostMap` emulates; any other SNI name (or
none) aborts the handshake with ``unrecognized_name``.
"""

from __future__ import annotations

import datetime as dt
import ssl
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from oci_mcp_cli.core.files import ensure_private_dir, write_private

TLS_DIR = "tls"
CA_CERT = "ca.pem"
CA_KEY = "ca-key.pem"
CA_DAYS = 3650
LEAF_DAYS = 90
RENEW_BEFORE_DAYS = 30


class LocalCA:
    """An EC P-256 CA kept in ``<state dir>/tls``; ``issue(host)`` returns (cert PEM, key PEM)."""

    def __init__(self, state_dir: Path):
        self.dir = Path(state_dir) / TLS_DIR
        self.cert_file = self.dir / CA_CERT
        self.key_file = self.dir / CA_KEY
        self._cert: Any = None
        self._key: Any = None
        self._leaf_key: Any = None

    def load_or_create(self) -> LocalCA:
        """Reuse the CA on disk while it is valid for another 30 days; else create a new one."""
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        ensure_private_dir(self.dir)
        if self.cert_file.exists() and self.key_file.exists():
            try:
                cert = x509.load_pem_x509_certificate(self.cert_file.read_bytes())
                key = serialization.load_pem_private_key(self.key_file.read_bytes(), None)
                fresh = cert.not_valid_after_utc - dt.datetime.now(dt.UTC) > dt.timedelta(
                    days=RENEW_BEFORE_DAYS
                )
                if fresh and cert.public_key() == key.public_key():
                    self._cert, self._key = cert, key
                    return self
            except ValueError:
                pass  # unreadable: replaced below
        self._create()
        return self

    def _create(self) -> None:
        import os

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        from oci_mcp_cli.sandbox.keys import cert_builder, key_usage, private_pem

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "oci-mcp sandbox"),
                x509.NameAttribute(
                    NameOID.COMMON_NAME, f"oci-mcp sandbox local CA {os.urandom(4).hex()}"
                ),
            ]
        )
        cert = (
            cert_builder(
                name, name, key.public_key(), dt.timedelta(hours=1), dt.timedelta(days=CA_DAYS)
            )
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(key_usage(key_cert_sign=True, crl_sign=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        write_private(self.key_file, private_pem(key))
        write_private(self.cert_file, cert.public_bytes(serialization.Encoding.PEM))
        self._cert, self._key = cert, key

    def issue(self, host: str) -> tuple[bytes, bytes]:
        """A server certificate for ``host`` (SAN ``DNS:host``) and its key, both PEM."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        from oci_mcp_cli.sandbox.keys import cert_builder, key_usage, private_pem

        if self._cert is None:
            self.load_or_create()
        if self._leaf_key is None:
            self._leaf_key = ec.generate_private_key(ec.SECP256R1())
        key = self._leaf_key
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
        cert = (
            cert_builder(
                subject,
                self._cert.subject,
                key.public_key(),
                dt.timedelta(hours=1),
                dt.timedelta(days=LEAF_DAYS),
            )
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(key_usage(digital_signature=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), False
            )
            .sign(self._key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM), private_pem(key)


def _context_for(cert_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
    """A server context holding one certificate (``load_cert_chain`` only reads files: a private
    temporary file, deleted at once)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    with tempfile.NamedTemporaryFile("wb", suffix=".pem") as handle:  # created 0600
        handle.write(cert_pem + key_pem)
        handle.flush()
        context.load_cert_chain(handle.name)
    return context


def server_context(ca: LocalCA, allowed: Callable[[str], bool]) -> ssl.SSLContext:
    """The https front's context: per-host certificates by SNI, unknown names refused."""
    cache: dict[str, ssl.SSLContext] = {}
    lock = threading.Lock()

    def pick(sock: ssl.SSLObject | ssl.SSLSocket, name: str | None, _: ssl.SSLContext) -> Any:
        host = (name or "").lower().rstrip(".")
        if not host or not allowed(host):
            return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
        with lock:
            if host not in cache:
                cache[host] = _context_for(*ca.issue(host))
            sock.context = cache[host]
        return None

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.sni_callback = pick
    return context

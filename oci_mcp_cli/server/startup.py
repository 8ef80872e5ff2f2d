"""The start-up work that waits for no import: done in a thread while the server imports FastMCP
and the SDK (issue 22, docs/benchmarks.md "Start-up (issue 22)").

Three things a start needs that are network round trips or C code running without the GIL:

- the JWT signing key FastMCP derives from ``MCP_JWT_SIGNING_KEY`` (PBKDF2-HMAC-SHA256, a million
  iterations: ~0.15 s of CPU in OpenSSL, which releases the GIL);
- the identity domain's OIDC discovery document (``OIDCProxy`` needs it to be built);
- its JWKS, fetched anonymously to tell the operator when sign-ins cannot be verified
  (``auth.check_jwks``);
- the TLS context of the verifier's JWKS client (loading the CA bundle: ~0.06 s in OpenSSL).

:class:`Prefetch` starts them at once on one thread and one HTTP client; the server takes each
result when it needs it (joining the thread), so ``/health`` still answers only once everything
is ready, and each is fetched once per start. A failure is kept and raised to the caller that
needs the result, exactly as if it had fetched it there. The client is httpx2's, the library
FastMCP fetches discovery and the JWKS with, on the verifier's TLS context: one CA load per
start, and no second HTTP library (httpx) imported (stop 20: tests/test_serve_start_imports.py).
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from typing import Any

from oci_mcp_cli.core.urls import discovery_url, jwks_url
from oci_mcp_cli.server.config import ServerSettings

# fastmcp.server.auth.jwt_issuer.derive_jwt_key(low_entropy_material=…): its salt and iteration
# count (the server checks both against FastMCP's own before it uses the key:
# auth.signing_key_bytes; tests/test_serve_startup.py compares the keys).
SIGNING_KEY_SALT = "fastmcp-jwt-signing-key"
KDF_ITERATIONS = 1_000_000
DISCOVERY_TIMEOUT_S = 5.0  # httpx's default, which FastMCP's own discovery fetch uses
JWKS_TIMEOUT_S = 10.0
JOIN_TIMEOUT_S = 60.0  # bounded: both fetches have their own timeouts well below it


# pydantic's spelling of true, which FastMCP's settings use to read FASTMCP_TEST_MODE
_PYDANTIC_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})


def fastmcp_test_mode() -> bool:
    """``FASTMCP_TEST_MODE`` as ``fastmcp.settings.test_mode`` reads it, without importing
    FastMCP. In test mode FastMCP derives the signing key with 10 rounds, not 10⁶
    (auth.signing_key_bytes then uses FastMCP's derivation, so the prefetch skips its own)."""
    return os.environ.get("FASTMCP_TEST_MODE", "").lower() in _PYDANTIC_TRUE


def derive_signing_key(material: str, iterations: int = KDF_ITERATIONS) -> bytes:
    """FastMCP's key for a low-entropy ``jwt_signing_key`` string (URL-safe base64 of 32 bytes)."""
    raw = hashlib.pbkdf2_hmac(
        "sha256", material.encode(), SIGNING_KEY_SALT.encode(), iterations, 32
    )
    return base64.urlsafe_b64encode(raw)


def _default_tls_context() -> Any:
    """What ``httpx2`` builds for ``verify=True`` (FastMCP's HTTP client), shared
    (core/tlscontext.py)."""
    from oci_mcp_cli.core.tlscontext import httpx2_verify

    return httpx2_verify()


class Prefetch:
    """The signing key, the discovery document and the JWKS status of ``settings``' domain,
    worked out on a background thread started by :meth:`start`."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.discovery_url = discovery_url(settings.domain_url)
        self.jwks_url = jwks_url(settings.domain_url)
        self._results: dict[str, Any] = {}
        self._thread = threading.Thread(target=self._run, name="oci-mcp-prefetch", daemon=True)

    def start(self) -> Prefetch:
        # httpx2 and what it imports lazily, imported here: a first import of a package in two
        # threads at once is what server/imports.py guards against for the SDK.
        import ssl  # noqa: F401

        import httpcore2  # noqa: F401
        import httpx2  # noqa: F401

        self._thread.start()
        return self

    def _run(self) -> None:
        import httpx2

        self._keep("tls", _default_tls_context)
        try:
            # the round trips next (their wait is not CPU), on the context just built
            with httpx2.Client(verify=self.tls_context()) as http:
                self._keep("discovery", self._discovery, http)
                self._keep("jwks", lambda: http.get(self.jwks_url, timeout=JWKS_TIMEOUT_S))
        except Exception as exc:  # the context or the client: reported to whoever needs a fetch
            self._results.setdefault("discovery", (False, exc))
            self._results.setdefault("jwks", (False, exc))
        if not fastmcp_test_mode():
            self._keep("signing_key", derive_signing_key, self.settings.jwt_signing_key)

    def _discovery(self, http: Any) -> Any:
        response = http.get(self.discovery_url, timeout=DISCOVERY_TIMEOUT_S)
        response.raise_for_status()
        return response.json()

    def _keep(self, name: str, work: Any, *args: Any) -> None:
        try:
            self._results[name] = (True, work(*args))
        except Exception as exc:
            self._results[name] = (False, exc)

    def _result(self, name: str) -> Any:
        if threading.current_thread() is not self._thread:
            self._thread.join(JOIN_TIMEOUT_S)
        ok, value = self._results.get(name, (False, TimeoutError(f"start-up {name} not done")))
        if not ok:
            raise value
        return value

    def signing_key(self) -> bytes:
        """The derived key (with :data:`KDF_ITERATIONS`); derived here if the prefetch skipped
        it (FastMCP's test mode)."""
        if threading.current_thread() is not self._thread:
            self._thread.join(JOIN_TIMEOUT_S)
        if not self._thread.is_alive() and "signing_key" not in self._results:
            return derive_signing_key(self.settings.jwt_signing_key)
        return bytes(self._result("signing_key"))

    def discovery(self) -> dict[str, Any]:
        """The discovery document's JSON; raises what fetching it raised (``httpx2`` errors, a
        ``ValueError`` for a body that is not JSON)."""
        return dict(self._result("discovery"))

    def jwks_response(self) -> Any:
        """The anonymous JWKS response; raises the ``httpx2`` error fetching it raised."""
        return self._result("jwks")

    def tls_context(self) -> Any:
        """An ``ssl.SSLContext`` as ``httpx2.AsyncClient(verify=True)`` would build it."""
        return self._result("tls")

"""One client TLS context per HTTP library and trust source, shared by the HTTP clients we build.

httpx and httpx2 build a new ``ssl.SSLContext`` for every client made with ``verify=True``, and
each one loads the whole CA bundle (≈ 40 ms of CPU in OpenSSL, with the GIL held): `oci-mcp
demo` loaded it 11 times (docs/benchmarks.md, "The demo (stop 19)"). The contexts here are built
by each library's own ``create_ssl_context()`` — so they trust exactly what that library would
(``SSL_CERT_FILE``, else ``SSL_CERT_DIR``, else certifi for httpx and the system store for
httpx2) — once per value of those variables, and then passed as ``verify=``. An ``SSLContext``
may be shared by threads and connections (each client of a library already shares one).
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ssl

TRUST_ENV = ("SSL_CERT_FILE", "SSL_CERT_DIR")  # what both libraries read for verify=True
_lock = threading.Lock()
_contexts: dict[tuple[str, tuple[str | None, ...]], ssl.SSLContext] = {}


def _shared(library: str) -> ssl.SSLContext:
    key = (library, tuple(os.environ.get(name) for name in TRUST_ENV))
    with _lock:  # one build per key, whichever thread asks first
        ctx = _contexts.get(key)
        if ctx is None:
            if library == "httpx":
                import httpx

                ctx = httpx.create_ssl_context()
            else:
                import httpx2

                ctx = httpx2.create_ssl_context()
            _contexts[key] = ctx
        return ctx


def httpx_verify() -> ssl.SSLContext:
    """What ``httpx.Client(verify=True)`` builds, built once per trust source."""
    return _shared("httpx")


def httpx2_verify() -> ssl.SSLContext:
    """What ``httpx2.AsyncClient(verify=True)`` builds, built once per trust source."""
    return _shared("httpx2")


def clear() -> None:
    """Forget the built contexts (tests that count CA bundle loads)."""
    with _lock:
        _contexts.clear()

"""Runtime context shared by the sandbox's handlers: state store, tunables, base URL, test hooks.

Handlers record who called and, on the token endpoint, which grant, by setting
``request.state.principal`` and ``request.state.grant_type``; the request-log middleware reads them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from oci_mcp_cli.sandbox.store import StateStore


@dataclass
class SandboxConfig:
    """Tunables (tests need short lifetimes). Changeable at runtime via POST /_sandbox/config."""

    access_token_ttl_s: int = 3600
    refresh_token_ttl_s: int = 7 * 24 * 3600
    upst_ttl_s: int = 3600  # capped at 3600 like OCI
    auth_code_ttl_s: int = 300
    clock_skew_s: int = 300  # OCI request signatures: ±300 s on `date`


@dataclass
class Fault:
    method: str
    path: str  # exact path or prefix ending with '*'
    status: int
    count: int = 1
    delay_s: float = 0.0


@dataclass
class SandboxContext:
    store: StateStore
    config: SandboxConfig = field(default_factory=SandboxConfig)
    base_url: str = ""  # "http://127.0.0.1:PORT", set once the socket is bound
    request_log: list[dict[str, Any]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)
    # Each domain also listens on its own loopback port, because IdentityDomainsClient (oci
    # 2.189.0) rejects a service_endpoint with a path: guid -> port. The middleware rewrites a
    # request on a domain port to the /<guid>/... route, so every route is written path-first.
    domain_ports: dict[str, int] = field(default_factory=dict)
    host: str = "127.0.0.1"  # host part of the URLs we hand out

    def domain_url(self, guid: str) -> str:
        """The domain's base URL: ``http://127.0.0.1:<domain port>`` (path form as fallback)."""
        port = self.domain_ports.get(guid)
        if port is not None:
            return f"http://{self.host}:{port}"
        return f"{self.base_url}/{guid}"

    def guid_for_port(self, port: int | None) -> str | None:
        return next((g for g, p in self.domain_ports.items() if p == port), None)

"""Runtime context shared by the sandbox's handlers: state store, tunables, base URL, test hooks.

Handlers record who called and, on the token endpoint, which grant, by setting
``request.state.principal`` and ``request.state.grant_type``; the request-log middleware reads them.
"""

from __future__ import annotations

import threading
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from oci_mcp_cli.sandbox.hosts import https_domain_url
from oci_mcp_cli.sandbox.ledger import OAuthLedger
from oci_mcp_cli.sandbox.store import StateStore

if TYPE_CHECKING:
    from oci_mcp_cli.sandbox.hosts import HostMap

# True while a request that came in on the https front (a real OCI hostname) is handled: the URLs
# the sandbox hands out in answers (discovery, list_domains, Location, aud) then take that form.
VIA_HTTPS: ContextVar[bool] = ContextVar("oci_mcp_sandbox_via_https", default=False)


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
    hosts: HostMap | None = None  # the real OCI hostnames served on the https front
    # Refresh tokens and revocations: in memory + an append log (loaded by the runner).
    oauth: OAuthLedger = field(init=False)

    def __post_init__(self) -> None:
        self.oauth = OAuthLedger(self.store.dir)

    def domain_url(self, guid: str, *, port_443: bool = False) -> str:
        """The domain's base URL as the current request reached it: on the https front
        ``https://idcs-<guid>.identity.oraclecloud.com`` (``:443`` appended with ``port_443``,
        as OCI writes it in discovery and ``Domain.url``), else ``http://127.0.0.1:<domain
        port>`` (path form as fallback)."""
        if VIA_HTTPS.get():
            url = https_domain_url(guid)
            return f"{url}:443" if port_443 else url
        return self.loopback_domain_url(guid)

    def loopback_domain_url(self, guid: str) -> str:
        port = self.domain_ports.get(guid)
        if port is not None:
            return f"http://{self.host}:{port}"
        return f"{self.base_url}/{guid}"

    def domain_urls(self, guid: str) -> set[str]:
        """Every base URL of the domain (loopback and, with the https front, the real form)."""
        urls = {self.loopback_domain_url(guid)}
        if self.hosts is not None:
            urls.add(https_domain_url(guid))
        return urls

    def guid_for_port(self, port: int | None) -> str | None:
        return next((g for g, p in self.domain_ports.items() if p == port), None)

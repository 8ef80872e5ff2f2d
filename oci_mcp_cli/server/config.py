"""Server settings: everything `serve` needs, read from ``.env`` (flags override)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from oci_mcp_cli.core import envfile as ef
from oci_mcp_cli.core.errors import UserError
from oci_mcp_cli.core.urls import is_loopback_host
from oci_mcp_cli.server.signers import DEFAULT_CACHE_SIZE

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclass(frozen=True)
class ServerSettings:
    """Resolved server configuration. Secrets live here only; never log this object."""

    domain_url: str
    client_id: str
    client_secret: str
    exchange_client_id: str
    exchange_client_secret: str
    server_url: str
    redirect_path: str
    jwt_signing_key: str
    region: str | None = None
    service_endpoint: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    storage_dir: Path | None = None
    log_level: str = "INFO"
    cache_size: int = DEFAULT_CACHE_SIZE
    jwks_retry_s: float = 10.0  # wait before retrying a failed JWKS fetch (FastMCP default: 30)

    def __repr__(self) -> str:  # never show secrets, even in tracebacks
        return f"ServerSettings(server_url={self.server_url!r}, domain_url={self.domain_url!r})"

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in logs or tool output."""
        return tuple(
            s for s in (self.client_secret, self.exchange_client_secret, self.jwt_signing_key) if s
        )


def default_port(server_url: str) -> int:
    """The port of ``MCP_SERVER_URL`` (8000 when it has none)."""
    return urlsplit(server_url).port or 8000


def port_mismatch_warning(settings: ServerSettings, requested_port: int | None) -> str | None:
    """One line when ``--port`` differs from ``MCP_SERVER_URL``'s port: the identity domain
    still redirects sign-ins to the URL. Not for an https URL without a port (a TLS proxy in
    front maps 443 to the server's port)."""
    parts = urlsplit(settings.server_url)
    if requested_port is None or (parts.scheme == "https" and parts.port is None):
        return None
    url_port = default_port(settings.server_url)
    if requested_port == url_port:
        return None
    return (
        f"warning: serving on port {requested_port}, but MCP_SERVER_URL is "
        f"{settings.server_url}: sign-in redirects still go to port {url_port} (change it with "
        "`oci-mcp init --server-url`, or put a proxy in front)"
    )


def load_settings(
    env_file: Path | str = ef.DEFAULT_ENV_FILE,
    *,
    host: str | None = None,
    port: int | None = None,
    storage_dir: Path | None = None,
    log_level: str = "INFO",
    cache_size: int = DEFAULT_CACHE_SIZE,
) -> ServerSettings:
    """Read and validate ``.env``; a missing/invalid key raises one UserError pointing at init."""
    env = ef.load_env(env_file)
    env.require()
    level = log_level.upper()
    if level not in LOG_LEVELS:
        raise UserError(
            f"unknown --log-level {log_level!r}", hint=f"use one of {', '.join(LOG_LEVELS)}"
        )
    if cache_size < 1:
        raise UserError(f"--cache-size must be at least 1 (got {cache_size})")
    if port is not None and not 0 < port < 65536:
        raise UserError(f"--port {port} is out of range", hint="use a port between 1 and 65535")
    server_url = env.server_url
    url_host = urlsplit(server_url).hostname
    bind = host or ("127.0.0.1" if is_loopback_host(url_host) else "0.0.0.0")
    if urlsplit(server_url).scheme == "http" and not is_loopback_host(bind):
        # Sign-ins and bearer tokens would cross the network in plaintext. Binding every
        # interface is fine behind a TLS proxy, i.e. with an https MCP_SERVER_URL.
        raise UserError(
            f"--host {bind} exposes the plain-http server {server_url} beyond this machine",
            hint="bind a loopback address (127.0.0.1), or put TLS in front and set an https "
            "MCP_SERVER_URL in .env (http is only allowed on loopback)",
        )
    return ServerSettings(
        domain_url=env.domain_url,
        client_id=env.get(ef.IAM_CLIENT_ID) or "",
        client_secret=env.get(ef.IAM_CLIENT_SECRET) or "",
        exchange_client_id=env.exchange_client_id or "",
        exchange_client_secret=env.exchange_client_secret or "",
        server_url=server_url,
        redirect_path=env.redirect_path,
        jwt_signing_key=env.get(ef.MCP_JWT_SIGNING_KEY) or "",
        region=env.get(ef.OCI_REGION),
        service_endpoint=(env.get(ef.OCI_SERVICE_ENDPOINT) or "").rstrip("/") or None,
        host=bind,
        port=port if port is not None else default_port(server_url),
        storage_dir=Path(storage_dir).expanduser() if storage_dir else None,
        log_level=level,
        cache_size=cache_size,
    )

"""Server settings: everything `serve` needs, read from ``.env`` (flags override)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from oci_mcp_cli.core import envfile as ef
from oci_mcp_cli.core.access import AccessRecord
from oci_mcp_cli.core.errors import UserError
from oci_mcp_cli.core.urls import is_loopback_host
from oci_mcp_cli.server.signers import (
    DEFAULT_CACHE_SIZE,
    DEFAULT_REVALIDATE_AFTER_S,
    OUTAGE_POLICIES,
)

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS = ("text", "json")
DEFAULT_TOOL_TIMEOUT_S = 30.0
DEFAULT_OCI_WORKERS = 8


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
    storage_url: str | None = None  # redis[s]://… shared by replicas (server/storage.py)
    log_level: str = "INFO"
    cache_size: int = DEFAULT_CACHE_SIZE
    jwks_retry_s: float = 10.0  # wait before retrying a failed JWKS fetch (FastMCP default: 30)
    # OAuth surface (server/oauth_guard.py, server/storage.py; docs/security.md)
    allowed_redirects: tuple[str, ...] = ()  # redirect URI patterns; () = the default policy
    rate_limit: float = 60.0  # anonymous OAuth requests per minute per client address; 0 = off
    rate_burst: int = 10
    ipv6_rate_limit_prefix: int = 64  # IPv6 clients share a rate-limit bucket per such network
    trusted_proxies: tuple[str, ...] = ()  # take the client address from X-Forwarded-For of these
    allowed_hosts: tuple[str, ...] = ()  # Host names accepted besides MCP_SERVER_URL's and loopback
    allowed_origins: tuple[str, ...] = ()  # browser Origins accepted besides MCP_SERVER_URL's
    max_sessions_per_user: int = 16
    cull_interval_s: float = 600.0  # expired OAuth state is removed at startup and this often
    # Deadlines, bulkhead and revalidation (server/clients.py, server/signers.py)
    tool_timeout: float = DEFAULT_TOOL_TIMEOUT_S  # overall deadline of one tool call
    oci_workers: int = DEFAULT_OCI_WORKERS  # threads per tool pool (bulkhead)
    revalidate_after: float = DEFAULT_REVALIDATE_AFTER_S  # re-exchange cached signers this old
    revalidation_outage: str = "closed"  # domain unreachable while revalidating: fail the call
    # Observability (server/telemetry.py, server/audit.py; docs/operations.md)
    audit_log: str | None = None  # JSON lines: a path, "-" (stdout) or None (off; serve: "-")
    log_format: str = "text"  # the ordinary log: text or json (one object per line)
    access_log: bool = False  # uvicorn's access line for every request (else logs.RequestLog)
    # Prometheus metrics on their own listener (server/metrics.py); None = off
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    metrics_explicit: bool = False  # asked for (flag, env, .env): a busy port is an error
    # What a user the app's access control refuses reads (core/access.py; "" = the fallback)
    not_granted: str = ""

    def __repr__(self) -> str:  # never show secrets, even in tracebacks
        return f"ServerSettings(server_url={self.server_url!r}, domain_url={self.domain_url!r})"

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in logs or tool output."""
        from oci_mcp_cli.server.storage import storage_password

        values = (
            self.client_secret,
            self.exchange_client_secret,
            self.jwt_signing_key,
            storage_password(self.storage_url),
        )
        return tuple(s for s in values if s)

    @property
    def replica_mode(self) -> bool:
        """Shared network storage: replicas behind a load balancer that does not stick, so MCP
        sessions are stateless (every request stands alone) and ``--port`` differing from
        ``MCP_SERVER_URL`` is expected."""
        return self.storage_url is not None

    @property
    def storage_label(self) -> str:
        """Where the OAuth state lives, safe to print (no password)."""
        from oci_mcp_cli.server.storage import mask_storage_url

        if self.storage_url:
            return mask_storage_url(self.storage_url)
        if self.storage_dir:
            return Path(self.storage_dir).resolve().as_uri()
        return "FastMCP's default file store"


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
    if settings.replica_mode:  # one replica of several behind the load balancer at the URL
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
    storage: str | None = None,
    log_level: str = "INFO",
    cache_size: int = DEFAULT_CACHE_SIZE,
    tool_timeout: float = DEFAULT_TOOL_TIMEOUT_S,
    oci_workers: int = DEFAULT_OCI_WORKERS,
    revalidate_after: float = DEFAULT_REVALIDATE_AFTER_S,
    revalidation_outage: str = "closed",
    audit_log: str | None = None,
    log_format: str = "text",
    access_log: bool = False,
    metrics_port: str | None = "off",
    metrics_host: str | None = None,
    **guard: Any,
) -> ServerSettings:
    """Read and validate ``.env``; a missing/invalid key raises one UserError pointing at init.

    ``storage``: ``--storage URL`` (else ``--storage-dir``, else ``OCI_MCP_STORAGE`` in
    ``.env``). ``guard``: the OAuth-surface settings (``allowed_redirects``, ``rate_limit``,
    ``rate_burst``, ``ipv6_rate_limit_prefix``, ``trusted_proxies``, ``allowed_hosts``,
    ``allowed_origins``, ``max_sessions_per_user``). ``audit_log``: a path, ``-`` (stdout),
    ``off`` or None (no audit trail). ``access_log``: uvicorn's access line for every request
    (default: none for a request whose tool call logged its own line, ``logs.RequestLog``).
    ``metrics_port``: a port, ``off`` (the default: in-process
    servers have no metrics unless asked) or None (``serve``'s default: ``OCI_MCP_METRICS_PORT``
    in ``.env``, else 9464, which is skipped with a warning when busy)."""
    env = ef.load_env(env_file)
    env.require()
    storage_dir, storage_url = resolve_storage(storage, storage_dir, env.get(ef.OCI_MCP_STORAGE))
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
        storage_url=storage_url,
        log_level=level,
        access_log=access_log,
        cache_size=cache_size,
        not_granted=AccessRecord.from_env(env).refusal(),
        **guard_settings(**guard),
        **resilience_settings(tool_timeout, oci_workers, revalidate_after, revalidation_outage),
        **observability_settings(audit_log, log_format),
        **metrics_settings(
            metrics_port if metrics_port is not None else env.get(ef.OCI_MCP_METRICS_PORT),
            metrics_host or env.get(ef.OCI_MCP_METRICS_HOST),
        ),
    )


def metrics_settings(port: str | None, host: str | None) -> dict[str, Any]:
    """Validated ``--metrics-port`` (a port, 0 for any free one, ``off``; None: the default
    port, not insisted on) and ``--metrics-host``."""
    from oci_mcp_cli.server.metrics import DEFAULT_METRICS_HOST, DEFAULT_METRICS_PORT

    bind = (host or "").strip() or DEFAULT_METRICS_HOST
    text = (port or "").strip().lower()
    if port is None or text == "":
        return {"metrics_port": DEFAULT_METRICS_PORT, "metrics_host": bind}
    if text == "off":
        return {"metrics_port": None, "metrics_host": bind}
    if not text.isdigit() or int(text) > 65535:
        raise UserError(
            f"--metrics-port {port!r} is not a port",
            hint="pass a port between 1 and 65535 (0 picks a free one), or off",
        )
    return {"metrics_port": int(text), "metrics_host": bind, "metrics_explicit": True}


def observability_settings(audit_log: str | None, log_format: str) -> dict[str, Any]:
    """Validated ``--audit-log`` (a path whose directory exists, ``-``, ``off``) and
    ``--log-format`` (text or json)."""
    import os

    fmt = log_format.lower()
    if fmt not in LOG_FORMATS:
        raise UserError(
            f"unknown --log-format {log_format!r}", hint=f"use one of {', '.join(LOG_FORMATS)}"
        )
    target = (audit_log or "").strip()
    if target.lower() in ("", "off"):
        return {"audit_log": None, "log_format": fmt}
    if target != "-":
        path = Path(target).expanduser().resolve()
        writable = os.access(path, os.W_OK) if path.exists() else os.access(path.parent, os.W_OK)
        if path.is_dir() or not path.parent.is_dir() or not writable:
            raise UserError(
                f"--audit-log {target}: not a writable file in an existing directory",
                hint="pass a file path whose directory exists, - for standard output, or off",
            )
        target = str(path)
    return {"audit_log": target, "log_format": fmt}


def resolve_storage(
    flag: str | None, storage_dir: Path | None, from_env: str | None
) -> tuple[Path | None, str | None]:
    """``(directory, redis_url)`` from ``--storage``, ``--storage-dir`` and ``OCI_MCP_STORAGE``
    (flags win over ``.env``); the two flags together must name the same directory."""
    from oci_mcp_cli.server.storage import parse_storage_url

    if flag and storage_dir:
        target = parse_storage_url(flag)
        chosen = Path(storage_dir).expanduser().resolve()
        same = target.directory is not None and target.directory.resolve() == chosen
        if not same:
            raise UserError(
                "--storage and --storage-dir name different stores",
                hint="pass one of them (--storage file:///path is --storage-dir /path)",
            )
    if storage_dir:
        return Path(storage_dir), None
    target = parse_storage_url(flag or from_env)
    return target.directory, target.redis_url


def resilience_settings(
    tool_timeout: float, oci_workers: int, revalidate_after: float, revalidation_outage: str
) -> dict[str, Any]:
    """Validated deadline/bulkhead/revalidation settings (docs/security.md)."""
    if not tool_timeout > 0:
        raise UserError(f"--tool-timeout must be more than 0 seconds (got {tool_timeout:g})")
    if oci_workers < 1:
        raise UserError(f"--oci-workers must be at least 1 (got {oci_workers})")
    if revalidate_after < 0:
        raise UserError(
            f"--revalidate-after must be 0 (every call) or more (got {revalidate_after:g})"
        )
    outage = revalidation_outage.lower()
    if outage not in OUTAGE_POLICIES:
        raise UserError(
            f"unknown --revalidation-outage {revalidation_outage!r}",
            hint="closed (fail the call, the default) or open (keep using the cached signer)",
        )
    return {
        "tool_timeout": float(tool_timeout),
        "oci_workers": int(oci_workers),
        "revalidate_after": float(revalidate_after),
        "revalidation_outage": outage,
    }


def guard_settings(
    *,
    allowed_redirects: Any = (),
    rate_limit: float = 60.0,
    rate_burst: int = 10,
    ipv6_rate_limit_prefix: int = 64,
    trusted_proxies: Any = (),
    allowed_hosts: Any = (),
    allowed_origins: Any = (),
    max_sessions_per_user: int = 16,
) -> dict[str, Any]:
    """Validated OAuth-surface settings (the serve flags of docs/security.md)."""
    if rate_limit < 0 or rate_burst < 1:
        raise UserError(
            "--rate-limit must be 0 (off) or more and --rate-burst at least 1",
            hint="e.g. --rate-limit 60 --rate-burst 10",
        )
    if not 1 <= ipv6_rate_limit_prefix <= 128:
        raise UserError(
            f"--ipv6-rate-limit-prefix must be between 1 and 128 (got {ipv6_rate_limit_prefix})",
            hint="the prefix length of the IPv6 network that shares one rate-limit bucket; "
            "64 (the default) is one site, 128 keys every address on its own",
        )
    if max_sessions_per_user < 1:
        raise UserError(f"--max-sessions-per-user must be at least 1 (got {max_sessions_per_user})")
    from oci_mcp_cli.server.oauth_guard import expand_redirect_patterns

    return {
        "allowed_redirects": expand_redirect_patterns(allowed_redirects or ()),
        "rate_limit": float(rate_limit),
        "rate_burst": int(rate_burst),
        "ipv6_rate_limit_prefix": int(ipv6_rate_limit_prefix),
        "trusted_proxies": tuple(trusted_proxies or ()),
        "allowed_hosts": tuple(allowed_hosts or ()),
        "allowed_origins": tuple(o.rstrip("/") for o in allowed_origins or ()),
        "max_sessions_per_user": int(max_sessions_per_user),
    }

"""URL rules shared by every command: loopback-only http, domain URL forms, the IAM GUID."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit, urlunsplit

from oci_mcp_cli.core.errors import UserError

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}
_GUID_RE = re.compile(r"^idcs-[0-9a-f]{32}$")


def is_loopback_host(host: str | None) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1."""
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_secure_url(url: str, *, what: str) -> str:
    """Validate an http(s) URL: https anywhere, http only on loopback. Returns it unchanged."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError(
            f"{what} {url!r} is not a valid http(s) URL",
            hint="give a full URL such as https://mcp.example.com or http://localhost:8000",
        )
    require_valid_port(url, what=what)
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise UserError(
            f"{what} {url!r} uses http on a non-loopback host",
            hint="use https (http is only allowed for localhost/127.0.0.1/[::1])",
        )
    return url


def url_port(url: str) -> int | None:
    """The explicit port of ``url`` (None when it has none); a UserError when it is not a port
    number between 1 and 65535."""
    try:
        port = urlsplit(url).port
    except ValueError:  # not a number, or out of 0-65535
        port = -1
    if port is not None and not 1 <= port <= 65535:
        netloc = urlsplit(url).netloc
        given = netloc.rsplit(":", 1)[-1] if ":" in netloc.rsplit("]", 1)[-1] else "?"
        raise UserError(
            f"{url!r} has an invalid port {given!r} (ports are 1-65535)",
            hint="use a port between 1 and 65535 (e.g. :8000), or none for the default port",
        )
    return port


def require_valid_port(url: str, *, what: str) -> None:
    """``url``'s port, if any, is 1-65535; else a UserError naming ``what``."""
    try:
        url_port(url)
    except UserError as exc:
        raise UserError(f"{what} {exc.message}", hint=exc.hint) from None


def normalize_server_url(url: str) -> str:
    """A public MCP server base URL without trailing slash; https unless loopback."""
    require_secure_url(url.strip(), what="server URL")
    return url.strip().rstrip("/")


def normalize_domain_url(value: str) -> str:
    """Canonical identity-domain URL: scheme added if missing, ``:443`` and trailing ``/`` dropped.

    Accepts ``idcs-….identity.oraclecloud.com``, ``host:443``, ``https://host:443/`` and loopback
    sandbox URLs with a path (``http://127.0.0.1:PORT/idcs-…``).
    """
    raw = value.strip()
    if not raw:
        raise UserError(
            "the identity domain URL is empty",
            hint="pass --domain-url https://idcs-….identity.oraclecloud.com",
        )
    if "://" not in raw:
        raw = "https://" + raw
    parts = urlsplit(raw)
    if not parts.hostname:
        raise UserError(f"identity domain URL {value!r} has no host")
    require_secure_url(raw, what="identity domain URL")
    netloc = parts.netloc
    if parts.scheme == "https" and parts.port == 443:
        netloc = netloc.rsplit(":", 1)[0]
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def domain_guid(domain_url: str) -> str:
    """The IAM GUID (``idcs-<32 hex>``): the first DNS label, or the sandbox's path segment."""
    parts = urlsplit(normalize_domain_url(domain_url))
    label = (parts.hostname or "").split(".")[0]
    if _GUID_RE.match(label):
        return label
    for segment in parts.path.split("/"):
        if _GUID_RE.match(segment):
            return segment
    return label


def jwks_url(domain_url: str) -> str:
    """The domain's JWKS URL (``/admin/v1/SigningCert/jwk``)."""
    return normalize_domain_url(domain_url) + "/admin/v1/SigningCert/jwk"


def discovery_url(domain_url: str) -> str:
    """The domain's OIDC discovery URL."""
    return normalize_domain_url(domain_url) + "/.well-known/openid-configuration"

"""Admin session: credentials + the identity-domain SCIM client, every call's errors explained."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from oci_mcp_cli.core.ociconfig import (
    OciAuth,
    identity_domains_client,
    load_oci_auth,
    to_remote_error,
)

T = TypeVar("T")


def oci_call(operation: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run one SDK call; SDK/transport failures become errors that name ``operation``."""
    from oci_mcp_cli.core.errors import OciMcpError

    try:
        return fn(*args, **kwargs)
    except OciMcpError:
        raise
    except Exception as exc:  # SDK exceptions are many types; to_remote_error classifies them
        raise to_remote_error(exc, operation) from exc


def is_status(exc: BaseException, *statuses: int) -> bool:
    """True when ``exc`` (or its cause) is an OCI ServiceError with one of ``statuses``."""
    return any(getattr(candidate, "status", None) in statuses for candidate in (exc, exc.__cause__))


def resolve_auth(
    config_file: str | None,
    profile: str | None,
    auth: str,
    recorded: dict[str, str | None] | None = None,
) -> OciAuth:
    """Load admin credentials: flag, then OCI_CLI_* env vars, then what ``.env`` recorded."""
    recorded = recorded or {}
    if config_file is None and not os.environ.get("OCI_CLI_CONFIG_FILE"):
        config_file = recorded.get("config_file")
    if profile is None and not os.environ.get("OCI_CLI_PROFILE"):
        profile = recorded.get("profile")
    return load_oci_auth(config_file, profile, auth)


@dataclass
class DomainSession:
    """One identity domain reached with admin credentials."""

    auth: OciAuth
    domain_url: str
    _client: Any = None

    @property
    def client(self) -> Any:
        """The IdentityDomainsClient (built lazily)."""
        if self._client is None:
            self._client = identity_domains_client(self.auth, self.domain_url)
        return self._client

    def call(self, operation: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call ``IdentityDomainsClient.<method>`` and return ``.data``."""
        return oci_call(operation, getattr(self.client, method), *args, **kwargs).data


def recorded_credentials(env: Any) -> dict[str, str | None]:
    """The OCI config file/profile a previous ``init`` recorded in ``.env``."""
    from oci_mcp_cli.core.envfile import OCI_CONFIG_FILE, OCI_PROFILE

    return {"config_file": env.get(OCI_CONFIG_FILE), "profile": env.get(OCI_PROFILE)}


def session_from_env(
    env: Any,
    *,
    config_file: str | None,
    profile: str | None,
    auth: str,
    domain_url: str | None = None,
) -> DomainSession:
    """A session on ``--domain-url`` or the ``.env``'s IAM_DOMAIN, with flag-or-recorded creds."""
    from oci_mcp_cli.core.envfile import IAM_DOMAIN
    from oci_mcp_cli.core.errors import UserError
    from oci_mcp_cli.core.urls import normalize_domain_url

    url = domain_url or env.get(IAM_DOMAIN)
    if not url:
        where = f"{env.path} has no {IAM_DOMAIN}" if env.exists else f"{env.path} does not exist"
        raise UserError(
            f"no identity domain given: {where}",
            hint="pass --domain-url, or run `oci-mcp init` first",
        )
    credentials = resolve_auth(config_file, profile, auth, recorded_credentials(env))
    return DomainSession(credentials, normalize_domain_url(url))

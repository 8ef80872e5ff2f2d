"""Admin session: credentials + the identity-domain SCIM client, every call's errors explained."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from oci_mcp_cli.core.envfile import DEFAULT_ENV_FILE
from oci_mcp_cli.core.ociconfig import (
    OciAuth,
    identity_domains_client,
    load_oci_auth,
    to_remote_error,
)

if TYPE_CHECKING:
    from oci.identity_domains import IdentityDomainsClient
    from oci.response import Response

    from oci_mcp_cli.core.envfile import EnvFile

T = TypeVar("T")
VERBS = {"patch": "update"}  # SDK verb → the word an operator reads


def operation_name(method: Callable[..., Any], what: str | None = None) -> str:
    """``list Apps (IdentityDomainsClient.list_apps)`` for the bound method ``list_apps``:
    ``what`` (what the call does, for people) then the SDK call. Without ``what``, it is read
    from the method's name: the verb, then the resource in the SDK's own CamelCase."""
    name = getattr(method, "__name__", repr(method))
    owner = getattr(method, "__self__", None)
    qualified = f"{type(owner).__name__}.{name}" if owner is not None else name
    if what is None:
        verb, _, resource = name.partition("_")
        noun = "".join(word.capitalize() for word in resource.split("_"))
        what = f"{VERBS.get(verb, verb)} {noun}".strip()
    return f"{what} ({qualified})"


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


def load_admin_auth(config_file: str | None, profile: str | None, auth: str) -> OciAuth:
    """:func:`load_oci_auth`, plus what oci-cli checks first: an expired session token is a
    clear error (exit 2) before any call, not a 401 on the first one."""
    import time

    import jwt

    from oci_mcp_cli.core.errors import UserError

    loaded = load_oci_auth(config_file, profile, auth)
    if loaded.mode != "security_token":
        return loaded
    token = str(getattr(loaded.signer, "api_key", "")).removeprefix("ST$")
    try:
        expires = jwt.decode(token, options={"verify_signature": False}).get("exp")
    except jwt.PyJWTError:
        return loaded  # not a JWT we can read: the service will judge it
    if isinstance(expires, int | float) and expires <= time.time():
        raise UserError(
            f"the session token of profile [{loaded.profile}] in {loaded.config_file} has expired",
            hint=f"run `oci session refresh --profile {loaded.profile}` "
            "(or `oci session authenticate` again)",
        )
    return loaded


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
    return load_admin_auth(config_file, profile, auth)


def create_or_adopt(create: Callable[[], T], find: Callable[[], T | None]) -> tuple[T, bool]:
    """``create()``; on 409 (a retried POST that did land, or a concurrent create) adopt what
    ``find()`` returns instead. Returns (resource, created)."""
    from oci_mcp_cli.core.errors import OciMcpError

    try:
        return create(), True
    except OciMcpError as exc:
        if not is_status(exc, 409):
            raise
        found = find()
        if found is None:
            raise
        return found, False


@dataclass
class TargetOptions:
    """Inputs every provisioning command shares: the .env, the admin credentials, the domain."""

    env_file: Path = DEFAULT_ENV_FILE
    config_file: str | None = None
    profile: str | None = None
    auth: str = "config"
    domain_url: str | None = None


@dataclass
class DomainSession:
    """One identity domain reached with admin credentials."""

    auth: OciAuth
    domain_url: str
    _client: IdentityDomainsClient | None = None

    @property
    def client(self) -> IdentityDomainsClient:
        """The IdentityDomainsClient (built lazily)."""
        if self._client is None:
            self._client = identity_domains_client(self.auth, self.domain_url)
        return self._client

    def call(
        self,
        method: Callable[..., Response],
        *args: Any,
        what: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Call one bound client method (``session.client.list_apps``) and return ``.data``
        (an SDK model); failures name the call (:func:`operation_name`) and the domain."""
        # the domain URL in every message: a mistyped --domain-url shows itself
        where = f"{operation_name(method, what)} on {self.domain_url}"
        return oci_call(where, method, *args, **kwargs).data


def recorded_credentials(env: EnvFile) -> dict[str, str | None]:
    """The OCI config file/profile a previous ``init`` recorded in ``.env``."""
    from oci_mcp_cli.core.envfile import OCI_CONFIG_FILE, OCI_PROFILE

    return {"config_file": env.get(OCI_CONFIG_FILE), "profile": env.get(OCI_PROFILE)}


def session_from_env(env: EnvFile, options: TargetOptions) -> DomainSession:
    """A session on ``--domain-url`` or the ``.env``'s IAM_DOMAIN, with flag-or-recorded creds."""
    from oci_mcp_cli.core.envfile import IAM_DOMAIN
    from oci_mcp_cli.core.errors import UserError
    from oci_mcp_cli.core.urls import normalize_domain_url

    url = options.domain_url or env.get(IAM_DOMAIN)
    if not url:
        where = f"{env.path} has no {IAM_DOMAIN}" if env.exists else f"{env.path} does not exist"
        raise UserError(
            f"no identity domain given: {where}",
            hint="pass --domain-url, or run `oci-mcp init` first",
        )
    credentials = resolve_auth(
        options.config_file, options.profile, options.auth, recorded_credentials(env)
    )
    return DomainSession(credentials, normalize_domain_url(url))


def open_domain(options: TargetOptions) -> tuple[EnvFile, DomainSession]:
    """Load the ``.env`` and open a session on its (or ``--domain-url``'s) domain."""
    from oci_mcp_cli.core.envfile import load_env

    env = load_env(options.env_file)
    return env, session_from_env(env, options)

"""OCI SDK clients for the *signed-in user*: ``oci_client(ObjectStorageClient)`` in one line.

For tool authors::

    from oci.object_storage import ObjectStorageClient
    from oci_mcp_cli.server.clients import oci_client

    @mcp.tool
    def my_tool() -> str:                      # a sync tool: FastMCP runs it in a worker thread
        return oci_client(ObjectStorageClient).get_namespace().data

The signer comes from the server's UPST cache (one token exchange per upstream token). This is
blocking: call it from a sync tool, or from an async one via ``anyio.to_thread.run_sync``.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from oci_mcp_cli.server.config import ServerSettings
from oci_mcp_cli.server.signers import SignerCache

C = TypeVar("C")

_RUNTIMES: weakref.WeakKeyDictionary[Any, Runtime] = weakref.WeakKeyDictionary()


@dataclass
class Runtime:
    """Per-server state the tools need: settings and the signer cache."""

    settings: ServerSettings
    signers: SignerCache


@dataclass(frozen=True)
class CurrentUser:
    """The upstream (identity domain) access token of the caller and its claims."""

    token: str
    claims: Mapping[str, Any]

    @property
    def name(self) -> str:
        return str(self.claims.get("sub") or self.claims.get("user_displayname") or "?")


def attach_runtime(server: Any, runtime: Runtime) -> None:
    """Bind ``runtime`` to a FastMCP server instance."""
    _RUNTIMES[server] = runtime


def current_runtime() -> Runtime:
    """The runtime of the server handling the current request."""
    from fastmcp.server.dependencies import get_server

    runtime = _RUNTIMES.get(get_server())
    if runtime is None:
        if len(_RUNTIMES) == 1:  # a mounted/child server: the one oci-mcp runtime of this process
            return next(iter(_RUNTIMES.values()))
        raise RuntimeError("this FastMCP server was not built with oci_mcp_cli.server.build_server")
    return runtime


def current_user() -> CurrentUser:
    """The caller's upstream token; ToolError when the request carries none."""
    from fastmcp.exceptions import ToolError
    from fastmcp.server.dependencies import get_access_token

    access = get_access_token()
    if access is None or not access.token:
        raise ToolError("not signed in: this tool needs an OCI IAM sign-in")
    return CurrentUser(token=access.token, claims=dict(access.claims or {}))


def user_signer() -> Any:
    """The cached UPST signer of the current user (exchanges the token on first use). Blocking."""
    from oci_mcp_cli.server.errors import exchange_error

    user = current_user()
    try:
        return current_runtime().signers.get(user.token, user.claims)
    except Exception as exc:
        raise exchange_error(exc) from None


def oci_client(client_cls: type[C], region: str | None = None) -> C:
    """An OCI SDK client acting as the current user (region defaults to ``OCI_REGION``)."""
    from oci_mcp_cli.core.ociconfig import OciAuth
    from oci_mcp_cli.core.ociconfig import oci_client as build

    settings = current_runtime().settings
    signer = user_signer()
    tenancy = _upst_claims(signer).get("tenant", "")
    auth = OciAuth(
        config={"region": region or settings.region or "us-ashburn-1", "tenancy": tenancy},
        signer=signer,
        service_endpoint=settings.service_endpoint,
        mode="upst",
    )
    return build(client_cls, auth)


def _upst_claims(signer: Any) -> dict[str, Any]:
    container = getattr(signer, "security_token_container", None)
    if container is None:
        return {}
    try:
        return dict(container.get_jwt())
    except Exception:
        return {}


def upst_claims() -> dict[str, Any]:
    """Claims of the current user's UPST (``sub`` = user OCID, ``tenant`` = tenancy OCID)."""
    return _upst_claims(user_signer())

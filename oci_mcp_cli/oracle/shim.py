"""Bootstrap for an Oracle OCI MCP server: ``python shim.py <module> [args…]``.

Runs in the server's own Python ≥ 3.13 environment and imports nothing of oci-mcp. The server's
code is run unchanged (``<module>.main()``); before that, unless ``OCI_MCP_ORACLE_AS_PUBLISHED=1``,
FastMCP's ``OCIProvider`` is taught to send resource scopes **fully qualified** (IDCS_AUDIENCE +
scope) on the requests that reach the identity domain (``/authorize``, the refresh grant), while
the server keeps verifying the bare scope the access token carries. An identity domain recognises a
resource scope only in that qualified form; the published servers (object-storage 2.0.2,
identity 3.0.3) send it bare, so without this no one can sign in (later oracle/mcp servers do the
same qualification themselves, in ``oracle-mcp-common``). See docs/oracle-mcp.md.
"""

from __future__ import annotations

import importlib
import os
import sys

# OIDC / IDCS scopes that are never a resource app's.
PLAIN = {
    "openid", "profile", "email", "offline_access", "address", "phone", "groups", "get_groups",
    "approles", "get_approles",
}


def qualify(scopes: list[str], audience: str) -> list[str]:
    out = []
    for scope in scopes:
        plain = scope in PLAIN or scope.startswith(("urn:", audience)) or "://" in scope
        out.append(scope if plain else audience + scope)
    return out


def install(audience: str) -> None:
    from fastmcp.server.auth.providers.oci import OCIProvider

    build = OCIProvider._build_upstream_authorize_url
    refresh = OCIProvider._prepare_scopes_for_upstream_refresh

    def build_qualified(self, txn_id, transaction):  # noqa: ANN001, ANN202
        scopes = transaction.get("scopes") or self.required_scopes or []
        return build(self, txn_id, {**transaction, "scopes": qualify(list(scopes), audience)})

    def refresh_qualified(self, scopes):  # noqa: ANN001, ANN202
        return qualify(list(refresh(self, scopes)), audience)

    # patched on the class: the published servers build their own OCIProvider
    setattr(OCIProvider, "_build_upstream_authorize_url", build_qualified)  # noqa: B010
    setattr(OCIProvider, "_prepare_scopes_for_upstream_refresh", refresh_qualified)  # noqa: B010


def main() -> None:
    module = sys.argv[1]
    sys.argv = [module, *sys.argv[2:]]
    audience = os.environ.get("IDCS_AUDIENCE", "")
    if audience and os.environ.get("OCI_MCP_ORACLE_AS_PUBLISHED") != "1":
        install(audience)
    importlib.import_module(module).main()


if __name__ == "__main__":
    main()

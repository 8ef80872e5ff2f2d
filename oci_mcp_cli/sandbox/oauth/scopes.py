"""Custom (resource-app) scopes in access tokens (reference §9).

A client requests a resource scope fully qualified — the resource app's primary audience and the
scope value concatenated — at ``/authorize`` and ``/token`` (only ``allowedScopes[].fqs`` pass
:func:`oci_mcp_cli.sandbox.oauth.clients.parse_scope`). The access token then carries the scope
**bare** in ``scope`` and the resource app's primary audience as ``aud`` (the domain's own
audiences only when no resource scope was granted). The stored grant keeps the qualified form, so
a refresh narrows it with qualified scopes too.
"""

from __future__ import annotations

from typing import Any

from oci_mcp_cli.sandbox.models import Domain


def resource_scopes(domain: Domain) -> dict[str, tuple[str, str]]:
    """``fqs`` → (primary audience, bare value), for the domain's active resource apps."""
    out: dict[str, tuple[str, str]] = {}
    for app in domain.apps.values():
        if app.get("isOAuthResource") is not True or not app.get("active"):
            continue
        for scope in app.get("scopes") or []:
            if isinstance(scope, dict) and scope.get("fqs"):
                out[str(scope["fqs"])] = (str(app["audience"]), str(scope["value"]))
    return out


def token_scope_claims(domain: Domain, scope: str, default_aud: Any) -> dict[str, Any]:
    """``scope`` (bare resource scopes) and ``aud`` for an access token granting ``scope``."""
    index = resource_scopes(domain)
    out_scopes: list[str] = []
    audiences: list[str] = []
    for item in scope.split():
        if item in index:
            aud, bare = index[item]
            out_scopes.append(bare)
            if aud not in audiences:
                audiences.append(aud)
        else:
            out_scopes.append(item)
    if not audiences:
        return {"scope": scope, "aud": default_aud}
    claim_aud: str | list[str] = audiences[0] if len(audiences) == 1 else audiences
    return {"scope": " ".join(out_scopes), "aud": claim_aud}

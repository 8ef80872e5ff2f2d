"""Resource apps and custom scopes (reference §2.2): ``isOAuthResource``, ``audience``,
``scopes[].value`` with the read-only ``fqs`` (= audience + value), and clients'
``allowedScopes[].fqs``.

Called from :func:`oci_mcp_cli.sandbox.scim.resources.validate_app` on every create/PUT/PATCH.
Stricter readings (UNCONFIRMED in the reference): a resource app needs a non-empty primary
audience, unique among the domain's resource apps (409); scope values are non-empty and unique
within the app; ``scopes`` without ``isOAuthResource: true`` is refused; an ``allowedScopes``
entry must name the ``fqs`` of a scope some resource app of this domain defines (400).
"""

from __future__ import annotations

from typing import Any

from oci_mcp_cli.sandbox.models import Domain
from oci_mcp_cli.sandbox.wire import ScimError

INVALID = "error.common.validation.invalidValue"
MISSING = "error.common.validation.missingReqAttributes"
UNIQUE = "error.common.validation.uniqueness"


def defined_scopes(domain: Domain, *, exclude_id: str | None = None) -> dict[str, dict[str, Any]]:
    """``fqs`` → the resource app defining it (every resource app of the domain)."""
    out: dict[str, dict[str, Any]] = {}
    for app in domain.apps.values():
        if app.get("id") == exclude_id or app.get("isOAuthResource") is not True:
            continue
        for scope in app.get("scopes") or []:
            if isinstance(scope, dict) and scope.get("fqs"):
                out[str(scope["fqs"])] = app
    return out


def _check_resource(domain: Domain, app: dict[str, Any]) -> None:
    scopes = app.get("scopes")
    if app.get("isOAuthResource") is not True:
        if scopes:
            raise ScimError(
                400, "scopes can only be defined by a resource app (isOAuthResource: true).",
                INVALID,
            )
        return
    audience = app.get("audience")
    if not isinstance(audience, str) or not audience.strip():
        raise ScimError(
            400, "A resource app (isOAuthResource: true) needs a primary audience.", MISSING
        )
    for other in domain.apps.values():
        ours = other.get("id") == app.get("id")
        if not ours and other.get("isOAuthResource") is True and other.get("audience") == audience:
            raise ScimError(
                409, f"Another resource app already has the audience {audience!r}.", UNIQUE
            )
    seen: set[str] = set()
    for scope in scopes or []:
        value = scope.get("value") if isinstance(scope, dict) else None
        if not isinstance(value, str) or not value.strip():
            raise ScimError(400, "Every scope needs a non-empty value.", MISSING)
        if value in seen:
            raise ScimError(400, f"The scope {value!r} is defined twice.", UNIQUE)
        seen.add(value)
        scope["fqs"] = audience + value  # read-only, always computed (POST/PUT ignore it)


def _check_allowed(domain: Domain, app: dict[str, Any]) -> None:
    allowed = app.get("allowedScopes")
    if not allowed:
        return
    defined = defined_scopes(domain, exclude_id=app.get("id"))
    if app.get("isOAuthResource") is True:  # an app may also be allowed its own scopes
        defined |= {s["fqs"]: app for s in app.get("scopes") or [] if s.get("fqs")}
    for entry in allowed:
        fqs = entry.get("fqs") if isinstance(entry, dict) else None
        if not isinstance(fqs, str) or fqs not in defined:
            raise ScimError(
                400,
                f"Invalid allowedScopes value {fqs!r}: no resource app of this domain defines "
                "that fully qualified scope (audience + scope).",
                INVALID,
            )
        entry["idOfDefiningApp"] = defined[fqs]["id"]  # read-only, computed


def validate_scopes(domain: Domain, app: dict[str, Any]) -> None:
    """Resource-app and allowed-scope rules; fills the read-only ``fqs``/``idOfDefiningApp``."""
    _check_resource(domain, app)
    _check_allowed(domain, app)

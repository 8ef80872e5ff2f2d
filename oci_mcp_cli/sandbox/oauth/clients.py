"""Client (app) lookup, client authentication and scope rules of the token/authorize endpoints."""

from __future__ import annotations

import base64
import secrets
from typing import Any
from urllib.parse import unquote_plus

from starlette.requests import Request

from oci_mcp_cli.sandbox.models import Domain
from oci_mcp_cli.sandbox.oauth.errors import invalid_client, invalid_request, invalid_scope

MYSCOPES = "urn:opc:idm:__myscopes__"
OIDC_SCOPES = (
    "openid",
    "profile",
    "offline_access",
    "email",
    "address",
    "phone",
    "groups",
    "get_groups",
    "approles",
    "get_approles",
)
FORM_TYPE = "application/x-www-form-urlencoded"


def find_app(domain: Domain, client_id: str) -> dict[str, Any] | None:
    """The OAuth app whose ``name`` (the client id) matches."""
    return next((a for a in domain.apps.values() if a.get("name") == client_id), None)


def usable_client(app: dict[str, Any] | None) -> bool:
    return bool(app and app.get("isOAuthClient") and app.get("active"))


def has_grant(app: dict[str, Any], grant: str) -> bool:
    return grant in (app.get("allowedGrants") or [])


async def read_form(request: Request) -> dict[str, str]:
    """The form body (``application/x-www-form-urlencoded`` only); repeated keys are refused."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != FORM_TYPE:
        raise invalid_request(f"the request body must be {FORM_TYPE}")
    form = await request.form()
    keys = [k for k, _ in form.multi_items()]
    dupes = {k for k in keys if keys.count(k) > 1}
    if dupes:
        raise invalid_request(f"parameters repeated: {', '.join(sorted(dupes))}")
    return {k: str(v) for k, v in form.items()}


def uses_basic(request: Request) -> bool:
    """Did the caller send HTTP Basic client credentials (a 401 then carries the challenge)?"""
    return request.headers.get("authorization", "").lower().startswith("basic ")


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        raw = base64.b64decode(value.strip(), validate=True).decode()
    except Exception as exc:
        raise invalid_client("the Basic authorization header is malformed") from exc
    client_id, sep, secret = raw.partition(":")
    if not sep:
        raise invalid_client("the Basic authorization header is malformed")
    return unquote_plus(client_id), unquote_plus(secret)


def authenticate_client(request: Request, form: dict[str, str], domain: Domain) -> dict[str, Any]:
    """The calling app: client_secret_basic or client_secret_post; public clients send only
    ``client_id``."""
    basic = _basic_credentials(request)
    secret: str | None
    if basic and "client_secret" in form:
        raise invalid_request("use one client authentication method, not Basic and client_secret")
    if basic:
        client_id, secret = basic
        if form.get("client_id") not in (None, client_id):
            raise invalid_client("client_id in the body differs from the Basic credentials")
    else:
        client_id, secret = form.get("client_id") or "", form.get("client_secret")
    if not client_id:
        raise invalid_client(
            "client authentication is required (HTTP Basic or client_id/client_secret)"
        )
    app = find_app(domain, client_id)
    if app is None or not app.get("isOAuthClient"):
        raise invalid_client(f"client {client_id} is not an OAuth client of this identity domain")
    if not app.get("active"):
        raise invalid_client(f"client {client_id} is not active")
    if app.get("clientType") == "public":
        if secret:
            raise invalid_client(f"client {client_id} is a public client and has no secret")
        return app
    expected = app.get("clientSecret") or ""
    if not secret or not expected or not secrets.compare_digest(secret, expected):
        raise invalid_client(f"client authentication failed for client {client_id}: wrong secret")
    return app


def allowed_scopes(app: dict[str, Any]) -> set[str]:
    extra = {s.get("fqs") for s in app.get("allowedScopes") or [] if s.get("fqs")}
    return set(OIDC_SCOPES) | {MYSCOPES} | extra


def parse_scope(app: dict[str, Any], scope: str | None, *, required: bool = True) -> list[str]:
    """Split and validate a space-separated scope against what the app may request."""
    requested = [s for s in (scope or "").split(" ") if s]
    if not requested:
        if required:
            raise invalid_scope("the scope parameter is required")
        return []
    unknown = [s for s in requested if s not in allowed_scopes(app)]
    if unknown:
        raise invalid_scope(f"scope not allowed for client {app.get('name')}: {' '.join(unknown)}")
    return list(dict.fromkeys(requested))

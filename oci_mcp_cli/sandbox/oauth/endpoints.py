"""``/oauth2/v1/userinfo`` (RFC 6750 bearer), ``/introspect`` (RFC 7662), ``/revoke`` (RFC 7009)
and ``/userlogout``."""

from __future__ import annotations

from typing import Any

import jwt
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from oci_mcp_cli.sandbox.models import User
from oci_mcp_cli.sandbox.oauth import pages, tokens
from oci_mcp_cli.sandbox.oauth.authorize import with_query
from oci_mcp_cli.sandbox.oauth.clients import authenticate_client, find_app, read_form, uses_basic
from oci_mcp_cli.sandbox.oauth.errors import (
    OAuthError,
    bearer_error,
    invalid_request,
    unauthorized_client,
)
from oci_mcp_cli.sandbox.oauth.runtime import (
    OAuthRuntime,
    check_access_token,
    delete_refresh_token,
    find_refresh_token,
    live_refresh_token,
    revoke_jti,
    revoke_refresh_family,
)
from oci_mcp_cli.sandbox.oauth.tokens import DomainScope


def _bearer(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


async def userinfo(rt: OAuthRuntime, request: Request, guid: str) -> Response:
    token = _bearer(request)
    if not token:
        return bearer_error("invalid_request", "a Bearer access token is required")
    with rt.ctx.store.read() as state:
        domain = state.domains[guid]
        try:
            claims = check_access_token(DomainScope(rt.ctx, state, domain), token)
        except tokens.TokenInvalid as exc:
            return bearer_error("invalid_token", str(exc))
        if claims.get("sub_type") != "user" or "openid" not in str(claims.get("scope", "")).split():
            return bearer_error(
                "insufficient_scope", "userinfo needs a user token with scope openid", status=403
            )
        user = domain.users.get(claims.get("user_id", ""))
        if user is None or not user.active:
            return bearer_error("invalid_token", "the token's user no longer exists or is inactive")
        request.state.principal = user.user_name
        return JSONResponse(_userinfo(user, int(claims["iat"])))


def _userinfo(user: User, updated_at: int) -> dict[str, Any]:
    """Exactly the field set of the reference §8.5 sample (``updated_at``: the sandbox keeps no
    modification time per user, so it is the token's issue time)."""
    given, _, family = user.display_name.partition(" ")
    return {
        "birthdate": "",
        "email": user.email,
        "email_verified": False,
        "family_name": family or given,
        "gender": "",
        "given_name": given,
        "appRoles": [],
        "name": user.display_name,
        "preferred_username": user.user_name,
        "sub": user.user_name,
        "updated_at": updated_at,
        "website": "",
    }


async def _client_form(request: Request, rt: OAuthRuntime, guid: str) -> tuple[dict, dict]:
    form = await read_form(request)
    with rt.ctx.store.read() as state:
        app = authenticate_client(request, form, state.domains[guid])
    request.state.principal = app["name"]
    if not form.get("token"):
        raise invalid_request("token is required")
    return app, form


async def introspect(rt: OAuthRuntime, request: Request, guid: str) -> Response:
    """Needs ``allowedOperations: ["introspect"]`` on the calling app."""
    used_basic = uses_basic(request)
    try:
        app, form = await _client_form(request, rt, guid)
        if "introspect" not in (app.get("allowedOperations") or []):
            raise unauthorized_client("the client's allowedOperations does not include introspect")
    except OAuthError as exc:
        return exc.response(basic_challenge=used_basic)
    token = form["token"]
    with rt.ctx.store.read() as state:
        domain = state.domains[guid]
        record = live_refresh_token(rt.ctx.oauth, token, guid)
        if record is not None:
            return JSONResponse(
                {
                    "active": True,
                    "token_type": "refresh_token",
                    "client_id": record["client_id"],
                    "scope": record["scope"],
                    "exp": int(record["exp"]),
                }
            )
        try:
            claims = check_access_token(DomainScope(rt.ctx, state, domain), token)
        except tokens.TokenInvalid:
            return JSONResponse({"active": False})
    extra = {"username": claims["sub"]} if claims.get("sub_type") == "user" else {}
    return JSONResponse({"active": True, "token_type": "Bearer", **extra, **claims})


async def revoke(rt: OAuthRuntime, request: Request, guid: str) -> Response:
    """A refresh token revokes its whole family (RFC 7009 §2.1: and the access tokens issued with
    it); an access token's ``jti`` is blocked; unknown tokens are a no-op."""
    used_basic = uses_basic(request)
    try:
        app, form = await _client_form(request, rt, guid)
        token = form["token"]
        with rt.ctx.store.read() as state, rt.ctx.oauth.lock:
            ledger = rt.ctx.oauth
            record = find_refresh_token(ledger, token)
            if record is not None and record["guid"] == guid:
                if record["client_id"] != app["name"]:
                    raise unauthorized_client("the token was issued to another client")
                # The family first: its records name the access tokens issued with them.
                revoke_refresh_family(ledger, record.get("family"))
                delete_refresh_token(ledger, token)
                return Response(status_code=200)
            material = tokens.domain_material(rt.ctx, state.domains[guid])
            try:
                claims = tokens.verify_domain_token(material, token)
            except tokens.TokenInvalid:
                return Response(status_code=200)
            if claims.get("client_id") != app["name"]:
                raise unauthorized_client("the token was issued to another client")
            revoke_jti(ledger, claims["jti"], claims.get("exp", 0))
    except OAuthError as exc:
        return exc.response(basic_challenge=used_basic)
    return Response(status_code=200)


async def userlogout(rt: OAuthRuntime, request: Request, guid: str) -> Response:
    """The sandbox keeps no sign-in session; this only validates and follows the redirect."""
    target = request.query_params.get("post_logout_redirect_uri")
    if not target:
        return HTMLResponse(pages.error_page("Signed out", "You have signed out."))
    client_id = request.query_params.get("client_id")
    hint = request.query_params.get("id_token_hint")
    with rt.ctx.store.read() as state:
        domain = state.domains[guid]
        if hint:
            try:
                claims = tokens.verify_domain_token(tokens.domain_material(rt.ctx, domain), hint)
                client_id = claims.get("azp") or claims.get("client_id")
            except (tokens.TokenInvalid, jwt.PyJWTError):
                client_id = None
        app = find_app(domain, client_id or "")
        if app is None or target not in (app.get("postLogoutRedirectUris") or []):
            return HTMLResponse(
                pages.error_page(
                    "Sign-out error",
                    f"The post_logout_redirect_uri {target} is not registered for the client.",
                ),
                status_code=400,
            )
    return RedirectResponse(with_query(target, {"state": request.query_params.get("state")}), 302)

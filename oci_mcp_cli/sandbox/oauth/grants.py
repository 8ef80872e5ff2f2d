"""``/oauth2/v1/token``: client authentication, then one handler per grant type."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from oci_mcp_cli.sandbox.models import Domain, SandboxState, User
from oci_mcp_cli.sandbox.oauth import tokens
from oci_mcp_cli.sandbox.oauth.clients import (
    OIDC_SCOPES,
    authenticate_client,
    has_grant,
    parse_scope,
    read_form,
)
from oci_mcp_cli.sandbox.oauth.errors import (
    OAuthError,
    invalid_grant,
    invalid_request,
    invalid_scope,
    unauthorized_client,
)
from oci_mcp_cli.sandbox.oauth.exchange import TOKEN_EXCHANGE, exchange_for_upst
from oci_mcp_cli.sandbox.oauth.runtime import (
    OAuthRuntime,
    delete_refresh_token,
    find_refresh_token,
    save_refresh_token,
)

NOT_EMULATED = ("password", "implicit", "urn:ietf:params:oauth:grant-type:jwt-bearer")
GrantHandler = Callable[
    [OAuthRuntime, SandboxState, Domain, dict[str, Any], dict[str, str]], dict[str, Any]
]


def _b64url_sha256(value: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(value.encode()).digest()).rstrip(b"=").decode()


def _token_response(
    rt: OAuthRuntime,
    state: SandboxState,
    domain: Domain,
    app: dict[str, Any],
    user: User | None,
    scope: str,
    gtp: str,
    *,
    nonce: str | None = None,
    auth_time: int | None = None,
    sid: str | None = None,
) -> dict[str, Any]:
    """``{"access_token","token_type","expires_in"[,"id_token","refresh_token"]}``."""
    ctx = rt.ctx
    sid = sid or secrets.token_hex(16)
    material = tokens.domain_material(ctx, domain)
    claims = tokens.access_token_claims(ctx, state, domain, app, user, scope, gtp, sid=sid)
    access_token = tokens.sign_domain_token(material, claims)
    body: dict[str, Any] = {
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": ctx.config.access_token_ttl_s,
    }
    scopes = scope.split()
    if user is not None and "openid" in scopes:
        id_claims = tokens.id_token_claims(
            ctx,
            state,
            domain,
            app,
            user,
            access_token=access_token,
            nonce=nonce,
            auth_time=auth_time or claims["iat"],
            sid=sid,
        )
        body["id_token"] = tokens.sign_domain_token(material, id_claims)
    if user is not None and "offline_access" in scopes and has_grant(app, "refresh_token"):
        body["refresh_token"] = save_refresh_token(
            state,
            {
                "guid": domain.guid,
                "client_id": app["name"],
                "user_id": user.id,
                "scope": scope,
                "sid": sid,
                "exp": time.time() + ctx.config.refresh_token_ttl_s,
            },
        )
    return body


def _live_user(domain: Domain, user_id: str) -> User:
    user = domain.users.get(user_id)
    if user is None or not user.active:
        raise invalid_grant("the user of this grant no longer exists or is not active")
    return user


def authorization_code(
    rt: OAuthRuntime, state: SandboxState, domain: Domain, app: dict[str, Any], form: dict[str, str]
) -> dict[str, Any]:
    if not has_grant(app, "authorization_code"):
        raise unauthorized_client("the client is not allowed the authorization_code grant")
    code = form.get("code")
    if not code:
        raise invalid_request("code is required")
    if "scope" in form:
        raise invalid_scope("scope must not be sent with the authorization_code grant")
    record = rt.redeem_code(code, domain.guid, app["name"])
    if "redirect_uri" not in form:
        raise invalid_request("redirect_uri is required (the authorize request had one)")
    if form["redirect_uri"] != record.redirect_uri:
        raise invalid_grant("redirect_uri does not match the one of the authorize request")
    verifier = form.get("code_verifier")
    if record.code_challenge:
        if not verifier:
            raise invalid_grant("code_verifier is required: the authorize request used PKCE")
        computed = verifier if record.code_challenge_method == "plain" else _b64url_sha256(verifier)
        if not secrets.compare_digest(computed, record.code_challenge):
            raise invalid_grant("code_verifier does not match the code_challenge (PKCE)")
    elif verifier:
        raise invalid_grant("code_verifier sent but the authorize request had no code_challenge")
    user = _live_user(domain, record.user_id)
    return _token_response(
        rt,
        state,
        domain,
        app,
        user,
        record.scope,
        "azc",
        nonce=record.nonce,
        auth_time=record.auth_time,
        sid=record.sid,
    )


def refresh_token(
    rt: OAuthRuntime, state: SandboxState, domain: Domain, app: dict[str, Any], form: dict[str, str]
) -> dict[str, Any]:
    """Rotating refresh tokens: each use returns a new one and invalidates the old."""
    if not has_grant(app, "refresh_token"):
        raise unauthorized_client("the client is not allowed the refresh_token grant")
    token = form.get("refresh_token")
    if not token:
        raise invalid_request("refresh_token is required")
    record = find_refresh_token(state, token)
    if record is None or record["guid"] != domain.guid:
        raise invalid_grant("the refresh token is unknown, revoked or already used")
    if record["client_id"] != app["name"]:
        raise invalid_grant("the refresh token was issued to another client")
    if time.time() >= record["exp"]:
        delete_refresh_token(state, token)
        raise invalid_grant("the refresh token has expired")
    granted = record["scope"].split()
    requested = form.get("scope", "").split() or granted
    extra = [s for s in requested if s not in granted]
    if extra:
        raise invalid_scope(f"scope exceeds the original grant: {' '.join(extra)}")
    user = _live_user(domain, record["user_id"])
    delete_refresh_token(state, token)
    return _token_response(
        rt, state, domain, app, user, " ".join(requested), "rt", sid=record.get("sid")
    )


def client_credentials(
    rt: OAuthRuntime, state: SandboxState, domain: Domain, app: dict[str, Any], form: dict[str, str]
) -> dict[str, Any]:
    if app.get("clientType") == "public" or not has_grant(app, "client_credentials"):
        raise unauthorized_client("the client is not allowed the client_credentials grant")
    scopes = parse_scope(app, form.get("scope"))
    user_scopes = [s for s in scopes if s in OIDC_SCOPES]
    if user_scopes:
        raise invalid_scope(
            f"user scopes need a user; not with client_credentials: {' '.join(user_scopes)}"
        )
    return _token_response(rt, state, domain, app, None, " ".join(scopes), "cc")


def token_exchange(
    rt: OAuthRuntime, state: SandboxState, domain: Domain, app: dict[str, Any], form: dict[str, str]
) -> dict[str, Any]:
    return {"token": exchange_for_upst(rt.ctx, state, domain, app, form)}


GRANTS: dict[str, GrantHandler] = {
    "authorization_code": authorization_code,
    "refresh_token": refresh_token,
    "client_credentials": client_credentials,
    TOKEN_EXCHANGE: token_exchange,
}


async def token_endpoint(rt: OAuthRuntime, request: Request, guid: str) -> Response:
    """Form-encoded; client_secret_basic or client_secret_post; RFC 6749 JSON errors."""
    used_basic = request.headers.get("authorization", "").lower().startswith("basic ")
    try:
        form = await read_form(request)
        grant = form.get("grant_type")
        request.state.grant_type = grant
        with rt.ctx.store.mutate() as state:
            domain = state.domains[guid]
            client = authenticate_client(request, form, domain)
            request.state.principal = client.app["name"]
            if not grant:
                raise invalid_request("grant_type is required")
            handler = GRANTS.get(grant)
            if handler is None:
                why = (
                    "is not emulated by the sandbox"
                    if grant in NOT_EMULATED
                    else "is not supported"
                )
                raise OAuthError("unsupported_grant_type", f"grant_type {grant} {why}")
            body = handler(rt, state, domain, client.app, form)
    except OAuthError as exc:
        return exc.response(basic_challenge=used_basic)
    return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

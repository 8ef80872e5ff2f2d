"""``/oauth2/v1/token``: client authentication, then one handler per grant type."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

import oci_mcp_cli.sandbox.keys as keys
from oci_mcp_cli.sandbox.models import Domain, User, is_granted
from oci_mcp_cli.sandbox.oauth import tokens
from oci_mcp_cli.sandbox.oauth.clients import (
    OIDC_SCOPES,
    authenticate_client,
    find_app,
    has_grant,
    parse_scope,
    read_form,
    uses_basic,
)
from oci_mcp_cli.sandbox.oauth.errors import (
    NO_STORE,
    OAuthError,
    invalid_client,
    invalid_grant,
    invalid_request,
    invalid_scope,
    not_granted,
    unauthorized_client,
)
from oci_mcp_cli.sandbox.oauth.exchange import TOKEN_EXCHANGE, UPST_TOKEN_TYPE, exchange_for_upst
from oci_mcp_cli.sandbox.oauth.runtime import (
    AuthCode,
    CodeReplayed,
    OAuthRuntime,
    delete_refresh_token,
    find_refresh_token,
    revoke_issued,
    revoke_refresh_family,
    save_refresh_token,
    spend_refresh_token,
)
from oci_mcp_cli.sandbox.oauth.tokens import DomainScope, Grant

REFRESH = "refresh_token"

NOT_EMULATED = ("password", "implicit", "urn:ietf:params:oauth:grant-type:jwt-bearer")
GrantHandler = Callable[[OAuthRuntime, DomainScope, dict[str, Any], dict[str, str]], dict[str, Any]]


@dataclass
class Issued:
    body: dict[str, Any]
    jti: str
    exp: float
    refresh_token: str | None


def _s256(verifier: str) -> str:
    """PKCE S256: BASE64URL(SHA256(verifier))."""
    return keys.b64url(hashlib.sha256(verifier.encode()).digest())


def require_grant(app: dict[str, Any], grant: str) -> None:
    if not has_grant(app, grant):
        raise unauthorized_client(f"the client is not allowed the {grant} grant")


def _issue(
    ds: DomainScope, grant: Grant, *, granted: str | None = None, family: str | None = None
) -> Issued:
    """``{"access_token","token_type","expires_in"[,"id_token","refresh_token"]}``.

    ``granted`` is the scope of the sign-in (the refresh token keeps it, RFC 6749 §6); a refresh
    token is issued when it holds ``offline_access`` and the app has the refresh_token grant.
    """
    claims = tokens.access_token_claims(ds, grant)
    access_token = ds.sign(claims)
    body: dict[str, Any] = {
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": ds.ctx.config.access_token_ttl_s,
    }
    user, granted = grant.user, granted or grant.scope
    if user is not None and "openid" in grant.scope.split():
        auth_time = grant.auth_time or claims["iat"]
        id_claims = tokens.id_token_claims(ds, grant, user, access_token, auth_time)
        body["id_token"] = ds.sign(id_claims)
    refresh = None
    if user is not None and "offline_access" in granted.split() and has_grant(grant.app, REFRESH):
        refresh = body["refresh_token"] = save_refresh_token(
            ds.ctx.oauth,
            {
                "guid": ds.domain.guid,
                "client_id": grant.app["name"],
                "user_id": user.id,
                "scope": granted,
                "sid": grant.sid,
                "auth_time": grant.auth_time or claims["iat"],
                "family": family or tokens.new_jti(),
                "at_jti": claims["jti"],
                "at_exp": claims["exp"],
                "exp": time.time() + ds.ctx.config.refresh_token_ttl_s,
            },
        )
    return Issued(body, claims["jti"], claims["exp"], refresh)


def _live_user(domain: Domain, user_id: str) -> User:
    user = domain.users.get(user_id)
    if user is None or not user.active:
        raise invalid_grant("the user of this grant no longer exists or is not active")
    return user


def _redeem(rt: OAuthRuntime, ds: DomainScope, code: str, client_id: str) -> AuthCode:
    try:
        return rt.redeem_code(code, ds.domain.guid, client_id)
    except CodeReplayed as exc:
        revoke_issued(ds.ctx.oauth, exc.record)
        raise invalid_grant(
            "the authorization code has already been used; the tokens issued for it are revoked"
        ) from None


def _check_pkce(record: AuthCode, verifier: str | None) -> None:
    if record.code_challenge:
        if not verifier:
            raise invalid_grant("code_verifier is required: the authorize request used PKCE")
        computed = verifier if record.code_challenge_method == "plain" else _s256(verifier)
        if not secrets.compare_digest(computed, record.code_challenge):
            raise invalid_grant("code_verifier does not match the code_challenge (PKCE)")
    elif verifier:
        raise invalid_grant("code_verifier sent but the authorize request had no code_challenge")


def authorization_code(
    rt: OAuthRuntime, ds: DomainScope, app: dict[str, Any], form: dict[str, str]
) -> dict[str, Any]:
    require_grant(app, "authorization_code")
    code = form.get("code")
    if not code:
        raise invalid_request("code is required")
    if "scope" in form:
        raise invalid_scope("scope must not be sent with the authorization_code grant")
    record = _redeem(rt, ds, code, app["name"])
    if "redirect_uri" not in form:
        raise invalid_request("redirect_uri is required (the authorize request had one)")
    if form["redirect_uri"] != record.redirect_uri:
        raise invalid_grant("redirect_uri does not match the one of the authorize request")
    _check_pkce(record, form.get("code_verifier"))
    user = _live_user(ds.domain, record.user_id)
    grant = Grant(app, user, record.scope, "azc", record.sid, record.auth_time, record.nonce)
    issued = _issue(ds, grant)
    record.issued_jti, record.issued_exp = issued.jti, issued.exp
    record.issued_refresh = issued.refresh_token
    return issued.body


def refresh_token(
    rt: OAuthRuntime, ds: DomainScope, app: dict[str, Any], form: dict[str, str]
) -> dict[str, Any]:
    """Rotating refresh tokens: each use returns a new one and spends the old; presenting a spent
    one revokes the whole family (every refresh token of that sign-in and their access tokens)."""
    require_grant(app, REFRESH)
    token = form.get("refresh_token")
    if not token:
        raise invalid_request("refresh_token is required")
    record = find_refresh_token(ds.ctx.oauth, token)
    if record is None or record["guid"] != ds.domain.guid:
        raise invalid_grant("the refresh token is unknown or revoked")
    if record["client_id"] != app["name"]:
        raise invalid_grant("the refresh token was issued to another client")
    if record.get("used"):
        revoke_refresh_family(ds.ctx.oauth, record.get("family"))
        raise invalid_grant(
            "refresh token reuse detected: it was already used, so every token of this sign-in "
            "is now revoked"
        )
    if tokens.is_expired(record):
        delete_refresh_token(ds.ctx.oauth, token)
        raise invalid_grant("the refresh token has expired")
    granted = record["scope"].split()
    requested = list(dict.fromkeys(form.get("scope", "").split())) or granted
    extra = [s for s in requested if s not in granted]
    if extra:
        raise invalid_scope(f"scope exceeds the original grant: {' '.join(extra)}")
    user = _live_user(ds.domain, record["user_id"])
    if not is_granted(ds.domain, app, user):
        raise not_granted()
    spend_refresh_token(ds.ctx.oauth, token)
    grant = Grant(app, user, " ".join(requested), "rt", record["sid"], record.get("auth_time"))
    return _issue(ds, grant, granted=record["scope"], family=record.get("family")).body


def client_credentials(
    rt: OAuthRuntime, ds: DomainScope, app: dict[str, Any], form: dict[str, str]
) -> dict[str, Any]:
    require_confidential(app, "client_credentials")
    scopes = parse_scope(app, form.get("scope"))
    user_scopes = [s for s in scopes if s in OIDC_SCOPES]
    if user_scopes:
        raise invalid_scope(
            f"user scopes need a user; not with client_credentials: {' '.join(user_scopes)}"
        )
    return _issue(ds, Grant(app, None, " ".join(scopes), "cc", tokens.new_jti())).body


def token_exchange(
    rt: OAuthRuntime, ds: DomainScope, app: dict[str, Any], form: dict[str, str]
) -> dict[str, Any]:
    # Stricter reading of reference §2.3: the exchange client is confidential and has the
    # client_credentials grant (the documented set-up).
    require_confidential(app, "client_credentials", purpose="the UPST token exchange")
    return {"token": exchange_for_upst(ds, app, form)}


def require_confidential(app: dict[str, Any], grant: str, *, purpose: str | None = None) -> None:
    purpose = purpose or f"the {grant} grant"
    if app.get("clientType") == "public":
        raise unauthorized_client(f"{purpose} needs a confidential client; this one is public")
    if not has_grant(app, grant):
        raise unauthorized_client(f"{purpose} needs the {grant} grant on the client")


GRANTS: dict[str, GrantHandler] = {
    "authorization_code": authorization_code,
    "refresh_token": refresh_token,
    "client_credentials": client_credentials,
    TOKEN_EXCHANGE: token_exchange,
}


async def token_endpoint(rt: OAuthRuntime, request: Request, guid: str) -> Response:
    """Form-encoded; client_secret_basic, client_secret_post, or (UPST exchange only) an OCI
    request signature; RFC 6749 JSON errors.

    Nothing here rewrites ``state.json``: refresh tokens and revocations go to the in-memory
    ledger (``ctx.oauth``, an append log), codes live in memory."""
    used_basic = uses_basic(request)
    raw = await request.body()  # before the form: a signed request is verified over these bytes
    try:
        form = await read_form(request)
    except OAuthError as exc:
        return exc.response(basic_challenge=used_basic)
    grant = form.get("grant_type")
    request.state.grant_type = grant
    # Errors are caught inside the block so that what a failed request changed (reuse/replay
    # revocations, a spent code) is recorded too.
    with rt.ctx.store.read() as state, rt.ctx.oauth.lock:
        try:
            ds = DomainScope(rt.ctx, state, state.domains[guid])
            if uses_signature(request):
                app = signed_exchange_client(ds, request, raw, form)
            else:
                app = authenticate_client(request, form, ds.domain)
                request.state.principal = app["name"]
            body = _grant(rt, ds, app, form)
        except OAuthError as exc:
            return exc.response(basic_challenge=used_basic)
    return JSONResponse(body, headers=NO_STORE)


def _grant(rt: OAuthRuntime, ds: DomainScope, app: dict[str, Any], form: dict[str, str]) -> dict:
    grant = form.get("grant_type")
    if not grant:
        raise invalid_request("grant_type is required")
    handler = GRANTS.get(grant)
    if handler is None:
        why = "is not emulated by the sandbox" if grant in NOT_EMULATED else "is not supported"
        raise OAuthError("unsupported_grant_type", f"grant_type {grant} {why}")
    return handler(rt, ds, app, form)


def uses_signature(request: Request) -> bool:
    return request.headers.get("authorization", "").lower().startswith("signature ")


def signed_exchange_client(
    ds: DomainScope, request: Request, raw: bytes, form: dict[str, str]
) -> dict[str, Any]:
    """The OCI-signed form of the UPST exchange (Oracle: the token exchange API "accepts both
    standard OAuth based authentication headers/payload, and OCI Signatures").

    Stricter reading (docs/sandbox.md, Assumptions): only for ``requested_token_type``
    ``urn:oci:token-type:oci-upst``; the signature is verified exactly as on the OCI APIs (body
    hash, ``host``, ``date``); the signer must be allowed to administer this domain (the tenancy
    admin, or an Identity Domain Administrator of it); ``client_id`` names the app the trust's
    ``oauthClients`` must list, and no ``client_secret`` may accompany the signature."""
    from oci_mcp_cli.sandbox.scim.routes import authorize
    from oci_mcp_cli.sandbox.signatures import NotAuthenticated, authenticate
    from oci_mcp_cli.sandbox.wire import ScimError

    exchange = (form.get("grant_type"), form.get("requested_token_type"))
    if exchange != (TOKEN_EXCHANGE, UPST_TOKEN_TYPE):
        raise invalid_client(
            "an OCI request signature authenticates only the JWT to UPST token exchange "
            f"(grant_type {TOKEN_EXCHANGE}, requested_token_type {UPST_TOKEN_TYPE}); "
            "authenticate other grants with the client's credentials"
        )
    if "client_secret" in form:
        raise invalid_request("use one client authentication method, not an OCI signature and "
                              "client_secret")
    try:
        principal = authenticate(request, raw, ds.ctx)
    except NotAuthenticated as exc:
        raise invalid_client(f"the OCI request signature was not accepted: {exc}") from None
    try:
        authorize(ds.state, ds.domain, principal)
    except ScimError:
        raise invalid_client(
            f"{principal.user_name} may not sign token exchanges for identity domain "
            f"{ds.domain.display_name}: that needs the tenancy administrator or the Identity "
            "Domain Administrator role in this domain"
        ) from None
    client_id = form.get("client_id")
    if not client_id:
        raise invalid_request(
            "client_id is required with an OCI-signed exchange: it names the app that the "
            "identity propagation trust lists in oauthClients"
        )
    app = find_app(ds.domain, client_id)
    if app is None or not app.get("isOAuthClient"):
        raise invalid_client(f"client {client_id} is not an OAuth client of this identity domain")
    if not app.get("active"):
        raise invalid_client(f"client {client_id} is not active")
    return app

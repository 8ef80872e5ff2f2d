"""``/oauth2/v1/authorize``: request validation, the HTML sign-in page, and the code redirect.

Errors before a registered ``redirect_uri`` is known (unknown/inactive client, unregistered or
non-https redirect) render an error page; later errors go back to the redirect_uri
(RFC 6749 §4.1.2.1). A signed-in user who is not granted an app with ``allowAccessControl``
gets the domain's 403 page, not a redirect (docs/sandbox.md, "Groups, grants and app access").
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from oci_mcp_cli.sandbox.models import Domain, is_granted
from oci_mcp_cli.sandbox.oauth import pages
from oci_mcp_cli.sandbox.oauth.clients import find_app, has_grant, parse_scope
from oci_mcp_cli.sandbox.oauth.errors import OAuthError
from oci_mcp_cli.sandbox.oauth.runtime import OAuthRuntime
from oci_mcp_cli.sandbox.oauth.users import find_user

AUTHZ_PARAMS = (
    "client_id",
    "response_type",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "resource",
    "prompt",
)
PKCE_RE = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")
BAD_CREDENTIALS = "You entered an incorrect user name or password."
TOO_MANY_FAILURES = (
    "Too many failed sign-in attempts. Start the sign-in again from the application."
)
EXPIRED_TXN = (
    "This sign-in page has expired or was already used. "
    "Start the sign-in again from the application."
)
# Sign-in and error pages: never cached, never framed (clickjacking).
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
}
_DUMMY_PASSWORD = secrets.token_bytes(32)  # compared against when the user name is unknown


class PageError(Exception):
    """Shown to the user as an error page (no redirect: the redirect_uri is not trusted)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


class RedirectError(Exception):
    def __init__(self, redirect_uri: str, error: str, description: str, state: str | None):
        super().__init__(description)
        self.redirect_uri, self.error, self.description, self.state = (
            redirect_uri,
            error,
            description,
            state,
        )


@dataclass
class AuthzRequest:
    app: dict[str, Any]
    redirect_uri: str
    scope: list[str]
    state: str | None
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None


def with_query(uri: str, params: dict[str, str | None]) -> str:
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(k, v) for k, v in params.items() if v is not None]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def _client_and_redirect(
    domain: Domain, params: dict[str, str], repeated: set[str]
) -> tuple[dict[str, Any], str]:
    trusted = sorted(repeated & {"client_id", "redirect_uri"})
    if trusted:
        raise PageError(f"The request has parameters repeated: {', '.join(trusted)}.")
    client_id = params.get("client_id")
    if not client_id:
        raise PageError("The request has no client_id.")
    app = find_app(domain, client_id)
    if app is None or not app.get("isOAuthClient"):
        raise PageError(f"Client {client_id} is not an OAuth client of this identity domain.")
    if not app.get("active"):
        raise PageError(f"Client {client_id} is not active.")
    redirect_uri = params.get("redirect_uri")
    if not redirect_uri:
        raise PageError("The request has no redirect_uri.")
    if redirect_uri not in (app.get("redirectUris") or []):
        raise PageError(
            f"The redirect_uri {redirect_uri} is not registered for client {client_id}."
        )
    if urlsplit(redirect_uri).scheme.lower() != "https" and not app.get("allUrlSchemesAllowed"):
        raise PageError(
            f"The redirect_uri {redirect_uri} is not https and client {client_id} does not allow "
            "other URL schemes (allUrlSchemesAllowed is false)."
        )
    return app, redirect_uri


def validate(
    domain: Domain, params: dict[str, str], repeated: set[str] | frozenset[str] = frozenset()
) -> AuthzRequest:
    """Validate an authorize request; raises PageError or RedirectError. ``repeated``: parameter
    names that came more than once (RFC 6749 §3.1: refused)."""
    app, redirect_uri = _client_and_redirect(domain, params, set(repeated))
    state = params.get("state")

    def fail(error: str, description: str) -> RedirectError:
        return RedirectError(redirect_uri, error, description, state)

    if repeated:
        raise fail("invalid_request", f"parameters repeated: {', '.join(sorted(repeated))}")
    response_type = params.get("response_type")
    if not response_type:
        raise fail("invalid_request", "response_type is required")
    if response_type != "code":
        raise fail("unsupported_response_type", f"response_type {response_type} is not supported")
    if not has_grant(app, "authorization_code"):
        raise fail("unauthorized_client", "the client is not allowed the authorization_code grant")
    try:
        scope = parse_scope(app, params.get("scope"))
    except OAuthError as exc:
        raise fail(exc.error, exc.description) from exc
    challenge = params.get("code_challenge")
    method = params.get("code_challenge_method")
    if challenge:
        method = method or "plain"
        if method not in ("plain", "S256"):
            raise fail("invalid_request", f"code_challenge_method {method} is not supported")
        if not PKCE_RE.match(challenge):
            raise fail("invalid_request", "code_challenge is malformed (RFC 7636: 43-128 chars)")
    elif method:
        raise fail("invalid_request", "code_challenge_method given without code_challenge")
    elif app.get("clientType") == "public":
        raise fail("invalid_request", "public clients must use PKCE (code_challenge)")
    if params.get("prompt") == "none":
        raise fail("login_required", "the sandbox keeps no sign-in session; prompt=none fails")
    return AuthzRequest(app, redirect_uri, scope, state, params.get("nonce"), challenge, method)


def _error_response(exc: PageError | RedirectError) -> Response:
    if isinstance(exc, PageError):
        return HTMLResponse(
            pages.error_page("Sign-in error", exc.message),
            status_code=exc.status,
            headers=PAGE_HEADERS,
        )
    target = with_query(
        exc.redirect_uri,
        {"error": exc.error, "error_description": exc.description, "state": exc.state},
    )
    return RedirectResponse(target, status_code=302)


def _sign_in(
    rt: OAuthRuntime,
    domain: Domain,
    app: dict[str, Any],
    hidden: dict[str, str],
    *,
    status: int = 200,
    username: str = "",
    error: str | None = None,
) -> HTMLResponse:
    html = pages.sign_in_page(
        action=f"{rt.ctx.domain_url(domain.guid)}/oauth2/v1/authorize",
        domain_name=domain.display_name,
        app_name=app.get("displayName") or app.get("name", ""),
        hidden=hidden,
        username=username,
        error=error,
    )
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


def other_domain_hint(domains: Iterable[Domain], here: Domain, username: str) -> str:
    """SANDBOX-ONLY: the user name is not in this domain but in another domain of the sandbox.

    A real identity domain only says "incorrect user name or password"; the sandbox adds which
    of its domains the user belongs to (docs/sandbox.md), e.g. carol lives in Secondary.
    """
    for other in domains:
        if other.guid != here.guid and find_user(other, "userName", username) is not None:
            return (
                f" [sandbox hint: {username} is a user of identity domain "
                f"{other.display_name}, not {here.display_name}]"
            )
    return ""


def _authz_params(items: list[tuple[str, Any]]) -> tuple[dict[str, str], set[str]]:
    """The known authorize parameters, and the names of those that came more than once."""
    names = [k for k, _ in items if k in AUTHZ_PARAMS]
    params = {k: str(v) for k, v in items if k in AUTHZ_PARAMS}
    return params, {k for k in names if names.count(k) > 1}


def start(rt: OAuthRuntime, request: Request, guid: str, items: list[tuple[str, Any]]) -> Response:
    """Validate and render the sign-in page with a fresh sign-in transaction id."""
    params, repeated = _authz_params(items)
    with rt.ctx.store.read() as state:
        domain = state.domains[guid]
        try:
            authz = validate(domain, params, repeated)
        except (PageError, RedirectError) as exc:
            return _error_response(exc)
        request.state.principal = authz.app["name"]
        txn = rt.new_txn(guid, params)
        return _sign_in(rt, domain, authz.app, {**params, "txn": txn})


async def authorize_get(rt: OAuthRuntime, request: Request, guid: str) -> Response:
    return start(rt, request, guid, request.query_params.multi_items())


async def authorize_post(rt: OAuthRuntime, request: Request, guid: str) -> Response:
    """The sign-in form submit (``txn`` + credentials); a POST without ``txn`` is a form-post
    authorize request and renders the page."""
    raw = await request.form()
    if "txn" not in raw:
        return start(rt, request, guid, raw.multi_items())
    form = {k: str(v) for k, v in raw.items()}
    txn = rt.get_txn(form["txn"], guid)
    if txn is None:
        return _error_response(PageError(EXPIRED_TXN))
    username, password = form.get("username", "").strip(), form.get("password", "")
    with rt.ctx.store.read() as state:
        domain = state.domains[guid]
        try:
            authz = validate(domain, txn.params)
        except (PageError, RedirectError) as exc:
            rt.drop_txn(txn.txn)
            return _error_response(exc)
        request.state.principal = authz.app["name"]
        user = find_user(domain, "userName", username) if username else None
        # Always one constant-time comparison, so an unknown user name takes as long.
        expected = user.password.encode() if user is not None else _DUMMY_PASSWORD
        matches = secrets.compare_digest(password.encode(), expected)
        if not matches or user is None or not user.active:
            if rt.sign_in_failed(txn.txn):
                return _error_response(PageError(TOO_MANY_FAILURES))
            hint = other_domain_hint(state.domains.values(), domain, username) if not user else ""
            return _sign_in(
                rt,
                domain,
                authz.app,
                {**txn.params, "txn": txn.txn},
                status=401,
                username=username,
                error=BAD_CREDENTIALS + hint,
            )
        request.state.principal = user.user_name
        if not rt.drop_txn(txn.txn):  # one code per transaction, even for concurrent submits
            return _error_response(PageError(EXPIRED_TXN))
        if not is_granted(domain, authz.app, user):
            # The domain's own page: 403, no code and no redirect back to the client.
            page = pages.not_granted_page(authz.app.get("displayName") or authz.app["name"])
            return HTMLResponse(page, status_code=403, headers=PAGE_HEADERS)
        code = rt.issue_code(
            guid=guid,
            client_id=authz.app["name"],
            redirect_uri=authz.redirect_uri,
            user_id=user.id,
            scope=" ".join(authz.scope),
            nonce=authz.nonce,
            code_challenge=authz.code_challenge,
            code_challenge_method=authz.code_challenge_method,
            auth_time=int(time.time()),
            sid=secrets.token_hex(16),
        )
    return RedirectResponse(
        with_query(authz.redirect_uri, {"code": code, "state": authz.state}), status_code=302
    )

"""OIDC discovery document and the JWKS (``/admin/v1/SigningCert/jwk``) of a domain."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from oci_mcp_cli.sandbox.context import SandboxContext
from oci_mcp_cli.sandbox.models import Domain
from oci_mcp_cli.sandbox.oauth import tokens
from oci_mcp_cli.sandbox.oauth.clients import OIDC_SCOPES
from oci_mcp_cli.sandbox.oauth.runtime import check_access_token
from oci_mcp_cli.sandbox.wire import json_response, scim_error_body

UNAUTHORIZED_MESSAGE_ID = "error.common.exception.unauthorizedAccess"


def jwks_uri(ctx: SandboxContext, guid: str) -> str:
    return f"{ctx.domain_url(guid, port_443=True)}/admin/v1/SigningCert/jwk"


def jwks_uris(ctx: SandboxContext, guid: str) -> set[str]:
    """This domain's JWKS URL in every form it is served under (loopback; https with and without
    ``:443``): a trust's ``publicKeyEndpoint`` may name any of them."""
    forms = set()
    for base in ctx.domain_urls(guid):
        forms.add(f"{base}/admin/v1/SigningCert/jwk")
        if base.startswith("https://"):
            forms.add(f"{base}:443/admin/v1/SigningCert/jwk")
    return forms


def discovery_document(ctx: SandboxContext, guid: str) -> dict[str, Any]:
    """Shaped like the real document (reference §8.1): generic issuer, no registration_endpoint,
    no code_challenge_methods_supported, token exchange not listed. Reached on its real https
    hostname, the endpoints are ``https://idcs-<guid>.identity.oraclecloud.com:443/...``."""
    oauth = f"{ctx.domain_url(guid, port_443=True)}/oauth2/v1"
    return {
        "issuer": tokens.ISSUER,
        "authorization_endpoint": f"{oauth}/authorize",
        "token_endpoint": f"{oauth}/token",
        "userinfo_endpoint": f"{oauth}/userinfo",
        "revocation_endpoint": f"{oauth}/revoke",
        "introspection_endpoint": f"{oauth}/introspect",
        "end_session_endpoint": f"{oauth}/userlogout",
        "jwks_uri": jwks_uri(ctx, guid),
        "scopes_supported": list(OIDC_SCOPES),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "claims_supported": ["aud", "exp", "iat", "iss", "jti", "sub"],
        "grant_types_supported": ["client_credentials", "refresh_token", "authorization_code"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "userinfo_signing_alg_values_supported": ["none"],
        "ui_locales_supported": ["en"],
        "claims_parameter_supported": False,
        "http_logout_supported": True,
        "logout_session_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "require_request_uri_registration": False,
        "idcs_id_token": "supported",
        "idcs_logout_v3": "supported",
    }


def _jwks_caller_allowed(
    ctx: SandboxContext, request: Request, body: bytes, domain: Domain
) -> bool:
    """Anonymous callers only with signingCertPublicAccess; otherwise a valid OCI signature or a
    valid Bearer access token of this domain."""
    if domain.settings.get("signingCertPublicAccess") is True:
        return True
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        with ctx.store.read() as state:
            try:
                claims = check_access_token(tokens.DomainScope(ctx, state, domain), value.strip())
            except tokens.TokenInvalid:
                return False
        request.state.principal = claims.get("sub")
        return True
    if scheme.lower() == "signature":
        from oci_mcp_cli.sandbox.signatures import NotAuthenticated, authenticate

        try:
            principal = authenticate(request, body, ctx)
        except NotAuthenticated:
            return False
        request.state.principal = principal.user_name
        return True
    return False


async def jwks(ctx: SandboxContext, request: Request, domain: Domain) -> Response:
    body = await request.body()
    if not _jwks_caller_allowed(ctx, request, body, domain):
        detail = (
            "You are not authorized to access the signing certificate: enable "
            'signingCertPublicAccess ("Configure client access") or authenticate.'
        )
        error = scim_error_body(401, detail, UNAUTHORIZED_MESSAGE_ID)
        return json_response(request, error, 401)  # with opc-request-id, like every IDCS answer
    return json_response(request, {"keys": [tokens.domain_material(ctx, domain).jwk()]})

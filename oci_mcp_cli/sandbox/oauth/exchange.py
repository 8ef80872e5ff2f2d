"""The JWT → UPST token exchange (reference §10): each failed rule is an OAuth error naming it.

Rule order: grant/token types → ``public_key`` → subject token readable → an **active** JWT trust
of this domain whose ``issuer`` equals the token's ``iss`` and whose ``oauthClients`` holds the
caller → the trust's ``publicKeyEndpoint`` is this domain's JWKS → signature → an access token →
expiry (+ the trust's ``clockSkewSeconds``) → revocation → client claim → subject mapping → active
user → the user is granted the subject token's app (its ``client_id``) when that app has
``allowAccessControl``. (Before all that the token endpoint requires a confidential client with
client_credentials.)
"""

from __future__ import annotations

from typing import Any

import jwt

from oci_mcp_cli.sandbox.models import Domain, User, is_granted
from oci_mcp_cli.sandbox.oauth import tokens
from oci_mcp_cli.sandbox.oauth.clients import find_app
from oci_mcp_cli.sandbox.oauth.discovery import jwks_uri, jwks_uris
from oci_mcp_cli.sandbox.oauth.errors import invalid_grant, invalid_request, not_granted
from oci_mcp_cli.sandbox.oauth.runtime import is_revoked
from oci_mcp_cli.sandbox.oauth.tokens import DomainScope
from oci_mcp_cli.sandbox.oauth.users import UnknownAttribute, find_user

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
UPST_TOKEN_TYPE = "urn:oci:token-type:oci-upst"


def _find_trust(domain: Domain, issuer: str, client_id: str) -> dict[str, Any]:
    same_issuer = [t for t in domain.trusts.values() if t.get("issuer") == issuer]
    if not same_issuer:
        raise invalid_grant(f"no identity propagation trust in this domain has issuer {issuer}")
    active = [t for t in same_issuer if t.get("active") is True]
    if not active:
        raise invalid_grant(
            f"no active identity propagation trust for issuer {issuer} and client {client_id}: "
            f"the trust {same_issuer[0].get('name')!r} is inactive"
        )
    trust = next((t for t in active if client_id in (t.get("oauthClients") or [])), None)
    if trust is None:
        raise invalid_grant(
            f"no active identity propagation trust for issuer {issuer} and client {client_id}: "
            f"client {client_id} is not in the trust's oauthClients"
        )
    if trust.get("type") != "JWT":
        raise invalid_grant(
            f"identity propagation trust {trust.get('name')!r} has type "
            f"{trust.get('type')}; subject_token_type jwt needs a JWT trust"
        )
    return trust


def _verified_subject_claims(ds: DomainScope, trust: dict[str, Any], token: str) -> dict[str, Any]:
    jwks = jwks_uri(ds.ctx, ds.domain.guid)
    endpoint = (trust.get("publicKeyEndpoint") or "").rstrip("/")
    if endpoint not in jwks_uris(ds.ctx, ds.domain.guid):
        raise invalid_grant(
            f"identity propagation trust {trust.get('name')!r} publicKeyEndpoint "
            f"{endpoint or '(unset)'} is not this domain's JWKS {jwks}; the sandbox verifies "
            "subject tokens only against it"
        )
    try:
        claims = ds.verify(token)
    except tokens.TokenInvalid as exc:
        raise invalid_grant(f"subject_token signature check failed: {exc}") from exc
    if claims.get("tok_type") != "AT":
        # Stricter reading: of this domain's tokens only access tokens are subject tokens.
        raise invalid_grant(
            f"subject_token is not an access token (tok_type {claims.get('tok_type')!r})"
        )
    skew = trust.get("clockSkewSeconds") or 0
    if tokens.is_expired(claims, leeway_s=skew if isinstance(skew, int) else 0):
        raise invalid_grant("subject_token has expired")
    if is_revoked(ds.ctx.oauth, claims.get("jti")):
        raise invalid_grant("subject_token has been revoked")
    return claims


def _check_client_claim(trust: dict[str, Any], claims: dict[str, Any]) -> None:
    name = trust.get("clientClaimName")
    if not name:
        return
    values = trust.get("clientClaimValues") or []
    actual = claims.get(name)
    present = actual if isinstance(actual, list) else [actual] if actual is not None else []
    if not any(v in values for v in present):
        raise invalid_grant(
            f"client claim check failed: claim {name!r} of the subject_token is "
            f"{actual!r}, not one of the trust's clientClaimValues {values}"
        )


def _map_subject(domain: Domain, trust: dict[str, Any], claims: dict[str, Any]) -> User:
    claim = trust.get("subjectClaimName") or "sub"
    subject = claims.get(claim)
    if not isinstance(subject, str) or not subject:
        raise invalid_grant(f"subject_token has no {claim!r} claim (the trust's subjectClaimName)")
    subject_type = trust.get("subjectType") or "User"
    if subject_type != "User":
        raise invalid_grant(f"subjectType {subject_type} is not emulated; the sandbox maps Users")
    attribute = trust.get("subjectMappingAttribute") or "userName"
    try:
        user = find_user(domain, attribute, subject)
    except UnknownAttribute:
        raise invalid_grant(
            f"subjectMappingAttribute {attribute!r} is not a user attribute the sandbox can "
            "match (userName, emails.value, id, ocid)"
        ) from None
    if user is None:
        raise invalid_grant(
            f"no user in this domain has {attribute} = {subject!r} (subject mapping failed)"
        )
    if not user.active:
        raise invalid_grant(f"user {user.user_name!r} is not active")
    return user


def exchange_for_upst(ds: DomainScope, app: dict[str, Any], form: dict[str, str]) -> str:
    """Validate the exchange request for the authenticated client ``app``; return the UPST."""
    if form.get("requested_token_type") != UPST_TOKEN_TYPE:
        raise invalid_request(f"requested_token_type must be {UPST_TOKEN_TYPE}")
    subject_token = form.get("subject_token")
    if not subject_token:
        raise invalid_request("subject_token is required")
    if form.get("subject_token_type") != "jwt":
        raise invalid_request("subject_token_type must be jwt (saml/spnego/aws are not emulated)")
    if not form.get("public_key"):
        raise invalid_request("public_key is required (base64 DER SubjectPublicKeyInfo)")
    try:
        session_key = tokens.load_session_public_key(form["public_key"])
    except tokens.TokenInvalid as exc:
        raise invalid_request(str(exc)) from exc
    try:
        unverified = jwt.decode(subject_token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise invalid_grant("subject_token is not a JWT") from exc
    issuer = unverified.get("iss")
    if not isinstance(issuer, str):
        raise invalid_grant("subject_token has no iss claim")
    trust = _find_trust(ds.domain, issuer, app["name"])
    claims = _verified_subject_claims(ds, trust, subject_token)
    _check_client_claim(trust, claims)
    user = _map_subject(ds.domain, trust, claims)
    subject_app = find_app(ds.domain, str(claims.get("client_id") or ""))
    if subject_app is not None and not is_granted(ds.domain, subject_app, user):
        raise not_granted()
    return tokens.mint_upst(ds, user, session_key)

"""Minting and verifying the sandbox's RS256 tokens: domain access/ID tokens and OCI UPSTs.

Domain tokens carry the header ``{"kid": "SIGNING_KEY", "alg": "RS256", "x5t", "x5t#S256"}`` and
the claims of reference §9; UPSTs are signed with the sandbox's "authService" key
(``state.upst_key_file``) and carry the session public key as a JSON *string* in ``jwk`` (§10).
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

import oci_mcp_cli.sandbox.keys as keys
from oci_mcp_cli.sandbox.context import SandboxContext
from oci_mcp_cli.sandbox.models import Domain, SandboxState, User
from oci_mcp_cli.sandbox.oauth.scopes import token_scope_claims
from oci_mcp_cli.sandbox.seed import write_domain_signing_key

ISSUER = "https://identity.oraclecloud.com/"
SIGNING_KID = "SIGNING_KEY"
UPST_ISSUER = "authService.oracle.com"
UPST_MAX_TTL_S = 3600
AMR = ["USERNAME_PASSWORD"]


class TokenInvalid(Exception):
    """A token failed verification; the message says which check."""


@dataclass(frozen=True)
class SigningMaterial:
    """A domain's RS256 signing key and its self-signed certificate (DER)."""

    key: rsa.RSAPrivateKey
    cert_der: bytes

    @property
    def x5t(self) -> str:
        return keys.b64url(hashlib.sha1(self.cert_der).digest())  # noqa: S324 - x5t is defined as SHA-1

    @property
    def x5t_s256(self) -> str:
        return keys.b64url(hashlib.sha256(self.cert_der).digest())

    def jwk(self) -> dict[str, Any]:
        """The JWKS entry, shaped like the real ``/admin/v1/SigningCert/jwk`` one."""
        return {
            **keys.rsa_jwk(self.key),
            "kid": SIGNING_KID,
            "alg": "RS256",
            "x5c": [base64.b64encode(self.cert_der).decode()],
            "x5t": self.x5t,
            "x5t#S256": self.x5t_s256,
            "key_ops": ["encrypt", "sign"],
        }


@lru_cache(maxsize=64)
def _load_material(key_path: str, cert_path: str, _mtime_ns: int) -> SigningMaterial:
    key = keys.load_private_pem(Path(key_path).read_bytes())
    cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    return SigningMaterial(key, cert.public_bytes(serialization.Encoding.DER))


@lru_cache(maxsize=16)
def load_key(path: str, _mtime_ns: int) -> rsa.RSAPrivateKey:
    return keys.load_private_pem(Path(path).read_bytes())


_making_keys = threading.Lock()


def domain_material(ctx: SandboxContext, domain: Domain) -> SigningMaterial:
    """The domain's signing key and certificate; made (once, kept in the state dir) the first
    time the domain needs them (seed.write_domain_signing_key)."""
    key_path = ctx.store.dir / domain.signing_key_file
    cert_path = ctx.store.dir / domain.signing_cert_file
    if not cert_path.exists():
        with _making_keys:
            if not cert_path.exists():
                write_domain_signing_key(ctx.store, domain)
    return _load_material(str(key_path), str(cert_path), key_path.stat().st_mtime_ns)


def upst_key(ctx: SandboxContext, state: SandboxState) -> rsa.RSAPrivateKey:
    path = ctx.store.dir / state.upst_key_file
    return load_key(str(path), path.stat().st_mtime_ns)


def new_jti() -> str:
    return uuid.uuid4().hex


def upst_kid(ctx: SandboxContext, state: SandboxState) -> str:
    """The UPST header's ``kid`` in the observed authService form ``asw_<region key>_<serial>``
    (e.g. ``asw_phx_1715632587076``): the home region's key, lowercase, and the millisecond
    timestamp of the sandbox's UPST signing key file (fixed for that key)."""
    region = next(
        (r["key"] for r in state.regions if r.get("name") == state.home_region), "iad"
    ).lower()
    path = ctx.store.dir / state.upst_key_file
    return f"asw_{region}_{path.stat().st_mtime_ns // 1_000_000}"


# --- domain tokens -------------------------------------------------------------------------------


def sign_domain_token(material: SigningMaterial, claims: dict[str, Any]) -> str:
    headers = {"kid": SIGNING_KID, "x5t": material.x5t, "x5t#S256": material.x5t_s256}
    return jwt.encode(claims, material.key, algorithm="RS256", headers=headers)


def verify_domain_token(material: SigningMaterial, token: str) -> dict[str, Any]:
    """Check signature (RS256, this domain's key) and issuer. Expiry is the caller's check."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise TokenInvalid("the token is not a JWT") from exc
    if header.get("alg") != "RS256":
        raise TokenInvalid(f"the token is signed with {header.get('alg')!r}, not RS256")
    try:
        claims = jwt.decode(
            token,
            material.key.public_key(),
            algorithms=["RS256"],
            options={
                "verify_exp": False,
                "verify_aud": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.InvalidSignatureError as exc:
        raise TokenInvalid(
            "the token signature is not valid for this domain's signing key"
        ) from exc
    except jwt.PyJWTError as exc:
        raise TokenInvalid(f"the token cannot be decoded: {exc}") from exc
    if claims.get("iss") != ISSUER:
        raise TokenInvalid(f"the token issuer {claims.get('iss')!r} is not {ISSUER!r}")
    return claims


def is_expired(claims: dict[str, Any], leeway_s: float = 0) -> bool:
    """Expired once ``now >= exp + leeway`` (a TTL of 0 gives an already-expired token)."""
    exp = claims.get("exp")
    return not isinstance(exp, int | float) or time.time() >= exp + leeway_s


@dataclass(frozen=True)
class DomainScope:
    """One identity domain of one state snapshot: what minting and checking its tokens needs."""

    ctx: SandboxContext
    state: SandboxState
    domain: Domain

    @property
    def url(self) -> str:
        return self.ctx.domain_url(self.domain.guid)

    def material(self) -> SigningMaterial:
        return domain_material(self.ctx, self.domain)

    def sign(self, claims: dict[str, Any]) -> str:
        return sign_domain_token(self.material(), claims)

    def verify(self, token: str) -> dict[str, Any]:
        return verify_domain_token(self.material(), token)


def base_claims(ds: DomainScope, ttl_s: int) -> dict[str, Any]:
    """Claims shared by every domain token."""
    now = int(time.time())
    domain, state = ds.domain, ds.state
    return {
        "iss": ISSUER,
        "iat": now,
        "exp": now + ttl_s,
        "jti": new_jti(),
        "tenant": domain.guid,
        "tenant_iss": ds.url,
        "domain": domain.display_name,
        "domain_id": domain.ocid,
        "domain_home": state.home_region,
        "ca_ocid": state.tenancy_id,
        "ca_name": state.tenancy_name,
        "client_tenantname": domain.guid,
    }


def client_claims(app: dict[str, Any]) -> dict[str, Any]:
    return {
        "client_id": app["name"],
        "client_name": app.get("displayName", ""),
        "client_guid": app["id"],
        "client_ocid": app.get("ocid", ""),
    }


def user_claims(domain: Domain, user: User) -> dict[str, Any]:
    return {
        "sub": user.user_name,
        "sub_type": "user",
        "sub_mappingattr": "userName",
        "user_id": user.id,
        "user_ocid": user.ocid,
        "user_displayname": user.display_name,
        "user_tenantname": domain.guid,
        "user_lang": "en",
        "user_locale": "en",
        "user_tz": "UTC",
    }


def audience(ds: DomainScope) -> list[str]:
    return [ds.url, f"urn:opc:lbaas:logicalguid={ds.domain.guid}"]


@dataclass(frozen=True)
class Grant:
    """What a token is issued for: client, user (None for a client token), scope, grant type
    (``gtp``) and the sign-in it came from (``sid``, ``auth_time``, ``nonce``)."""

    app: dict[str, Any]
    user: User | None
    scope: str
    gtp: str
    sid: str
    auth_time: int | None = None
    nonce: str | None = None


def access_token_claims(ds: DomainScope, grant: Grant) -> dict[str, Any]:
    """A user access token (``grant.user`` set) or a client token (``sub`` = client id)."""
    app, user = grant.app, grant.user
    claims = base_claims(ds, ds.ctx.config.access_token_ttl_s)
    claims.update(client_claims(app))
    claims.update({"aud": audience(ds), "scope": grant.scope, "tok_type": "AT", "gtp": grant.gtp})
    # Resource-app scopes: bare in ``scope``, their primary audience as ``aud`` (oauth/scopes.py).
    claims.update(token_scope_claims(ds.domain, grant.scope, claims["aud"]))
    if user is not None:
        claims.update(user_claims(ds.domain, user))
        claims.update({"amr": AMR, "idp_name": "localIDP", "idp_type": "LOCAL", "sid": grant.sid})
    else:
        claims.update(
            {"sub": app["name"], "sub_type": "client", "clientAppRoles": ["Authenticated Client"]}
        )
    return claims


def id_token_claims(
    ds: DomainScope, grant: Grant, user: User, access_token: str, auth_time: int
) -> dict[str, Any]:
    """OIDC ID token: ``aud``/``azp`` = client id, ``at_hash``, ``nonce`` echoed when given."""
    claims = base_claims(ds, ds.ctx.config.access_token_ttl_s)
    claims.update(user_claims(ds.domain, user))
    digest = hashlib.sha256(access_token.encode()).digest()
    claims.update(
        {
            "aud": grant.app["name"],
            "azp": grant.app["name"],
            "tok_type": "IT",
            "auth_time": auth_time,
            "session_exp": claims["exp"],
            "sid": grant.sid,
            "amr": AMR,
            "at_hash": keys.b64url(digest[: len(digest) // 2]),
        }
    )
    if grant.nonce:
        claims["nonce"] = grant.nonce
    return claims


# --- UPST --------------------------------------------------------------------------------


def load_session_public_key(value: str) -> rsa.RSAPublicKey:
    """Parse ``public_key``: base64 DER SubjectPublicKeyInfo of an RSA key (≥ 2048 bits)."""
    try:
        der = base64.b64decode(value.strip(), validate=True)
        key = serialization.load_der_public_key(der)
    except Exception as exc:  # binascii.Error, ValueError, UnsupportedAlgorithm
        raise TokenInvalid("public_key is not a base64 DER SubjectPublicKeyInfo") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise TokenInvalid("public_key is not an RSA key")
    if key.key_size < 2048:
        raise TokenInvalid(f"public_key is a {key.key_size}-bit RSA key; at least 2048 bits needed")
    return key


def upst_ttl(ctx: SandboxContext, domain: Domain, requested_s: int | None = None) -> int:
    """min(``requested_s`` or ctx.config.upst_ttl_s, 3600, the domain's iamUpstSessionExpiry)."""
    wanted = ctx.config.upst_ttl_s if requested_s is None else requested_s
    ttl = min(int(wanted), UPST_MAX_TTL_S)
    session_max = domain.settings.get("iamUpstSessionExpiry")
    if isinstance(session_max, int) and session_max > 0:
        ttl = min(ttl, session_max)
    return ttl


def mint_upst(
    ds: DomainScope, user: User, session_key: rsa.RSAPublicKey, ttl_s: int | None = None
) -> str:
    """The UPST: sub = user OCID, tenant = tenancy OCID, ``jwk`` = session key as a JSON string.

    ``ttl_s`` overrides the configured lifetime (still capped, see :func:`upst_ttl`)."""
    now = int(time.time())
    exp = now + upst_ttl(ds.ctx, ds.domain, ttl_s)
    session_jwk = {
        "kid": f"session-{new_jti()[:16]}",
        **keys.rsa_jwk(session_key),
        "alg": "RS256",
        "use": "sig",
    }
    claims = {
        "sub": user.ocid,
        "iss": UPST_ISSUER,
        "aud": "oci",
        "ptype": "user",
        "pstype": "natv",
        "ttype": "upst",
        "tenant": ds.state.tenancy_id,
        "domain_name": ds.domain.display_name,
        "iat": now,
        "exp": exp,
        "jti": str(uuid.uuid4()),
        "sess_exp": time.strftime("%a, %d %b %Y %H:%M:%S UTC", time.gmtime(exp)),
        "jwk": json.dumps(session_jwk, separators=(",", ":")),
    }
    key = upst_key(ds.ctx, ds.state)
    # Header exactly {"kid", "alg"}: PyJWT would add "typ": "JWT", which authService does not.
    headers = {"kid": upst_kid(ds.ctx, ds.state), "typ": None}
    return jwt.encode(claims, key, algorithm="RS256", headers=headers)

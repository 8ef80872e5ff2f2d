"""Verification of OCI HTTP request signatures (draft-cavage-08 "version 1"), reference §11.2.

``authenticate(request, body, ctx)`` returns the calling :class:`Principal` or raises
:class:`NotAuthenticated`. Keys: API keys (``tenancy/user/fingerprint``) from the state, and
``ST$<UPST>`` session tokens whose ``jwk`` claim carries the session public key.
"""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import hashlib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.request import parse_http_list

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
    from starlette.requests import Request

    from oci_mcp_cli.sandbox.context import SandboxContext
    from oci_mcp_cli.sandbox.models import SandboxState

BASIC_HEADERS = ("date", "(request-target)", "host")
BODY_HEADERS = ("content-length", "content-type", "x-content-sha256")
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
UPST_MEMO_SIZE = 1024  # verified session tokens remembered (one per signed-in user and hour)
NOT_PROVIDED = "The required information to complete authentication was not provided."


class NotAuthenticated(Exception):
    """The request is not signed, or its signature/key/date/body hash does not check out."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Principal:
    """Who signed a request."""

    ocid: str
    kind: str  # "api_key" | "upst"
    user_name: str
    domain_guid: str | None = None


def split_http_list(value: str) -> list[str]:
    """``urllib.request.parse_http_list(value)``, the same list, without its loop over every
    character when ``value`` has no backslash and its quotes pair up (always, for a header the
    SDK signs): a session token makes the ``Authorization`` header ≈ 2.4 KB, which took the
    character loop ≈ 190 µs per request. Anything else goes to ``parse_http_list`` itself."""
    segments = value.split('"')
    if "\\" in value or len(segments) % 2 == 0:  # escapes, or a quote left open
        return parse_http_list(value)
    parts: list[str] = []
    part = ""
    for index, segment in enumerate(segments):
        if index % 2:  # inside quotes: commas do not split
            part += f'"{segment}"'
            continue
        pieces = segment.split(",")
        part += pieces[0]
        for piece in pieces[1:]:
            parts.append(part)
            part = piece
    if part:
        parts.append(part)
    return [part.strip() for part in parts]


def parse_authorization(value: str) -> dict[str, str]:
    """Parse ``Signature k="v",k2="v2"`` (any parameter order) into a dict."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "signature" or not rest:
        raise NotAuthenticated("the Authorization header does not use the Signature scheme")
    params: dict[str, str] = {}
    for item in split_http_list(rest):
        key, sep, raw = item.strip().partition("=")
        if not sep:
            raise NotAuthenticated(f"malformed Signature parameter {item!r}")
        raw = raw.strip()
        if len(raw) >= 2 and raw[0] == raw[-1] == '"':
            raw = raw[1:-1]
        params[key.strip()] = raw
    return params


def raw_target(request: Request) -> str:
    """The request target exactly as sent: raw path (still percent-encoded) + query string."""
    scope = request.scope
    path = scope.get("raw_path") or scope["path"].encode()
    target = path.decode("latin-1")
    query = scope.get("query_string", b"").decode("latin-1")
    return f"{target}?{query}" if query else target


def signing_string(request: Request, headers: list[str]) -> str:
    lines = []
    for name in headers:
        if name == "(request-target)":
            lines.append(f"(request-target): {request.method.lower()} {raw_target(request)}")
            continue
        values = request.headers.getlist(name)
        if not values:
            raise NotAuthenticated(f"signed header {name!r} is missing from the request")
        # draft-cavage §2.3: repeated header fields are joined with ", " in message order
        lines.append(f"{name}: {', '.join(values)}")
    return "\n".join(lines)


def _check_host(request: Request) -> None:
    """The signed ``host`` must name the endpoint that serves the request.

    OCI routes on ``host``; the sandbox routes on the socket (one port per domain), so without this
    a request signed for one domain could be replayed on another domain's port.
    """
    from urllib.parse import urlsplit

    server = request.scope.get("server") or (None, None)
    host = request.headers.get("host", "")
    https = request.url.scheme == "https"
    try:
        port = urlsplit(f"//{host}").port or (443 if https else 80)
    except ValueError:
        port = None
    if https:  # the https front routes on the host name itself; the port is 443 (the proxy's)
        if port not in (443, server[1]):
            raise NotAuthenticated(f"the signed host header {host!r} does not name port 443")
        return
    if server[1] is not None and port != server[1]:
        raise NotAuthenticated(
            f"the signed host header {host!r} does not name this endpoint (port {server[1]})"
        )


def _load_public_pem(pem: str | bytes) -> RSAPublicKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

    key = serialization.load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
    if not isinstance(key, RSAPublicKey):
        raise NotAuthenticated("the registered key is not an RSA key")
    return key


def _b64url_int(value: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")


def _upst_principal(token: str, ctx: SandboxContext, state: SandboxState) -> tuple[Principal, Any]:
    """Verify a UPST (RS256 by the state's upst key, not expired) and return its session key."""
    from oci_mcp_cli.sandbox.oauth.tokens import is_expired

    path = ctx.store.dir / state.upst_key_file
    claims, session_key = _verified_upst(token, str(path), path.stat().st_mtime_ns)
    if is_expired(claims):  # PyJWT's test (now >= exp), again at every use of a memoized token
        raise NotAuthenticated("the session token (UPST) has expired")
    if claims.get("tenant") != state.tenancy_id:
        raise NotAuthenticated("the session token (UPST) belongs to another tenancy")
    found = state.find_user_by_ocid(str(claims["sub"]))
    if found is None:
        raise NotAuthenticated("the session token's subject is not a known user")
    domain, user = found
    if not user.active:
        raise NotAuthenticated(f"the session token's user {user.user_name} is not active")
    return Principal(user.ocid, "upst", user.user_name, domain.guid), session_key


@lru_cache(maxsize=UPST_MEMO_SIZE)
def _verified_upst(token: str, key_path: str, key_mtime_ns: int) -> tuple[dict[str, Any], Any]:
    """A UPST's claims and session key, once its RS256 signature by the key at ``key_path``
    checked out (memoized per token and key file version: the PyJWT decode is most of a
    signed request's cost; what changes with time — ``exp``, the user, the tenancy — is checked
    by the caller at every use; a failure is never memoized)."""
    import jwt
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicNumbers

    from oci_mcp_cli.sandbox.oauth.tokens import load_key

    try:
        claims = jwt.decode(
            token,
            load_key(key_path, key_mtime_ns).public_key(),
            algorithms=["RS256"],
            options={"verify_aud": False, "require": ["exp", "iat", "sub", "jwk"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise NotAuthenticated("the session token (UPST) has expired") from exc
    except jwt.PyJWTError as exc:
        raise NotAuthenticated(f"the session token (UPST) is invalid: {exc}") from exc
    try:
        jwk = json.loads(claims["jwk"])
        session_key = RSAPublicNumbers(_b64url_int(jwk["e"]), _b64url_int(jwk["n"])).public_key()
    except (TypeError, ValueError, KeyError) as exc:
        raise NotAuthenticated("the session token's jwk claim is not a JSON RSA key") from exc
    return claims, session_key


def _resolve_key(key_id: str, ctx: SandboxContext, state: SandboxState) -> tuple[Principal, Any]:
    if key_id.startswith("ST$"):
        return _upst_principal(key_id[3:], ctx, state)
    api_key = state.api_key(key_id)
    if api_key is None:
        raise NotAuthenticated(f"unknown API key {key_id!r}")
    found = state.find_user_by_ocid(api_key.user_ocid)
    if found is not None and not found[1].active:
        raise NotAuthenticated(f"the API key's user {found[1].user_name} is not active")
    if api_key.user_ocid == state.admin.ocid:
        principal = Principal(api_key.user_ocid, "api_key", state.admin.name)
    else:
        name = found[1].user_name if found else api_key.user_ocid
        principal = Principal(api_key.user_ocid, "api_key", name, found[0].guid if found else None)
    return principal, _load_public_pem(api_key.public_key_pem)


def _check_date(value: str | None, skew_s: int) -> None:
    if not value:
        raise NotAuthenticated("the date header is missing")
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError) as exc:
        raise NotAuthenticated(f"the date header {value!r} is not an HTTP date") from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    drift = abs((dt.datetime.now(dt.UTC) - when).total_seconds())
    if drift > skew_s:
        raise NotAuthenticated(
            f"the date header is {int(drift)} s off the server clock (allowed: ±{skew_s} s)"
        )


def _check_body(request: Request, body: bytes) -> None:
    expected = base64.b64encode(hashlib.sha256(body).digest()).decode()
    if request.headers.get("x-content-sha256") != expected:
        raise NotAuthenticated("x-content-sha256 does not match the request body")
    length = request.headers.get("content-length")
    if length is not None and length.strip() != str(len(body)):
        raise NotAuthenticated("content-length does not match the request body")


OBJECT_UPLOAD = re.compile(r"^/n/[^/]+/b/[^/]+/[ou]/.")


def is_object_upload(request: Request) -> bool:
    """PutObject and UploadPart: OCI's signing spec exempts their body headers (the SDK signs
    them without ``x-content-sha256``, ``content-length`` and ``content-type``)."""
    return request.method.upper() == "PUT" and bool(OBJECT_UPLOAD.match(request.url.path))


def authenticate(request: Request, body: bytes, ctx: SandboxContext) -> Principal:
    """Verify the request's OCI signature and return who signed it (raises NotAuthenticated)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    header = request.headers.get("authorization")
    if not header:
        raise NotAuthenticated(NOT_PROVIDED)
    params = parse_authorization(header)
    if params.get("version") != "1":
        raise NotAuthenticated('the Signature must have version="1"')
    if params.get("algorithm") != "rsa-sha256":
        raise NotAuthenticated('the Signature must use algorithm="rsa-sha256"')
    for name in ("keyId", "signature", "headers"):
        if not params.get(name):
            raise NotAuthenticated(f"the Signature has no {name}")
    signed = params["headers"].lower().split()
    exempt = is_object_upload(request)
    body_method = request.method.upper() in BODY_METHODS and not exempt
    required = BASIC_HEADERS + (BODY_HEADERS if body_method else ())
    missing = [h for h in required if h not in signed]
    if missing:
        raise NotAuthenticated(
            f"the Signature does not cover required headers: {' '.join(missing)}"
        )
    body_covered = "x-content-sha256" in signed
    if body and not body_covered and not exempt:
        raise NotAuthenticated(
            "the request has a body but the Signature does not cover x-content-sha256"
        )
    _check_host(request)
    text = signing_string(request, signed)
    with ctx.store.read() as state:
        principal, public_key = _resolve_key(params["keyId"], ctx, state)
    try:
        signature = base64.b64decode(params["signature"], validate=True)
        public_key.verify(signature, text.encode(), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError) as exc:
        raise NotAuthenticated("Failed to verify the HTTP(S) Signature") from exc
    _check_date(request.headers.get("date"), ctx.config.clock_skew_s)
    if body_method or body_covered:
        _check_body(request, body)
    request.state.principal = principal
    return principal

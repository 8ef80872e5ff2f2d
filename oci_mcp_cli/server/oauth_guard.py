"""Guards on the server's anonymous OAuth surface and its MCP sessions.

``OAuthGuardMixin`` goes in front of FastMCP's ``OIDCProxy`` in the bases of the proxy class
(``server.auth._proxy_class``) and closes, through the proxy's own extension points:

- **redirects**: a client's redirect URIs must match the policy (``--allowed-redirect``; default
  loopback on any port plus the callbacks of the clients ``client-config`` supports) *and* the URIs
  it registered; so no error before consent is ever redirected to an unvetted URI;
- **rate limits**: ``POST /register``, ``/authorize`` and ``GET /consent`` are token-bucket limited
  per client (429 + ``Retry-After``): an IPv4 address, or the IPv6 network of ``ipv6_prefix``
  bits (one /64 is one site, which can use any of its 2^64 addresses);
- **bounded state**: a registration expires unless it is used to sign in (then it lives
  ``client_ttl_s`` after its last sign-in or refresh); expired entries are culled by
  :mod:`oci_mcp_cli.server.storage`;
- **authorization codes**: a code is good for one presentation at ``/token`` — a failed PKCE
  check spends it, and presenting a redeemed code again revokes the tokens it was exchanged for;
- **branding**: FastMCP's logo (fetched from gofastmcp.com) is replaced by an inline icon.

``SessionCap`` caps the MCP sessions one user keeps open (ASGI middleware on ``/mcp``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from oci_mcp_cli.server.telemetry import DISABLED, RATE_LIMITED, SESSION_CAP, Telemetry

LOGGER = logging.getLogger("oci_mcp.server")

#: Loopback callbacks on any port (RFC 8252 §7.3: a loopback pattern without a port matches any
#: port): Claude Code, mcp-remote (Claude Desktop), MCP Inspector, VS Code, `oci-mcp test-client`.
LOOPBACK_REDIRECTS = ("http://localhost", "http://127.0.0.1", "http://[::1]")
#: Fixed callbacks that the clients `client-config` supports register next to their loopback one.
CLIENT_REDIRECTS = (
    "https://vscode.dev/redirect",  # VS Code
    "https://insiders.vscode.dev/redirect",  # VS Code Insiders
    "cursor://anysphere.cursor-mcp/oauth/callback",  # Cursor (desktop)
    "https://www.cursor.com/agents/mcp/oauth/callback",  # Cursor (agents)
)
DEFAULT_REDIRECT_PATTERNS = LOOPBACK_REDIRECTS + CLIENT_REDIRECTS

PENDING_CLIENT_TTL_S = 3600  # a registration nobody signs in with is gone after an hour
CLIENT_TTL_S = 90 * 24 * 3600  # a used registration: 90 days after its last sign-in or refresh
REDEMPTION_TTL_S = 15 * 60  # longer than FastMCP's 5-minute authorization codes
REDEMPTIONS = "oci-mcp-code-redemptions"

ICON_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64">'
    '<rect width="64" height="64" rx="14" fill="#c74634"/>'
    '<rect x="10" y="20" width="44" height="24" rx="12" fill="none" stroke="#fff" '
    'stroke-width="6"/></svg>'
)
ICON_DATA_URI = "data:image/svg+xml;base64," + base64.b64encode(ICON_SVG.encode()).decode()


@dataclass(frozen=True)
class GuardConfig:
    """What the mixin enforces (built from ServerSettings in ``build_auth``)."""

    redirect_patterns: tuple[str, ...] = DEFAULT_REDIRECT_PATTERNS
    rate_per_minute: float = 60.0  # 0 turns rate limiting off
    rate_burst: int = 10
    ipv6_prefix: int = 64  # IPv6 clients share a bucket per network of this many bits
    client_ttl_s: int = CLIENT_TTL_S
    pending_client_ttl_s: int = PENDING_CLIENT_TTL_S


# --- rate limiting -------------------------------------------------------------------------------


@dataclass
class _Bucket:
    tokens: float
    stamp: float


@dataclass
class RateLimiter:
    """Token buckets keyed by (route group, client address): ``burst`` requests at once, refilled
    at ``per_minute``. At most ``max_keys`` buckets are kept (least recently used go first; a
    forgotten address starts again with a full bucket)."""

    per_minute: float
    burst: int
    max_keys: int = 10_000
    _buckets: OrderedDict[tuple[str, str], _Bucket] = field(default_factory=OrderedDict)

    def take(self, group: str, address: str, now: float | None = None) -> float:
        """Spend one token: 0 when allowed, else the seconds until the next token."""
        now = time.monotonic() if now is None else now
        key = (group, address)
        bucket = self._buckets.pop(key, None) or _Bucket(float(self.burst), now)
        rate = self.per_minute / 60.0
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.stamp) * rate)
        bucket.stamp = now
        self._buckets[key] = bucket
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / rate


def client_address(scope: Any) -> str:
    """The peer address uvicorn reports (the proxy's, unless ``--trusted-proxy`` makes uvicorn
    take it from ``X-Forwarded-For``)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def rate_key(address: str, ipv6_prefix: int = 64) -> str:
    """The bucket of a client ``address``: an IPv4 address itself (also written IPv4-mapped,
    ``::ffff:a.b.c.d``), an IPv6 address its ``/ipv6_prefix`` network; anything else as is."""
    import ipaddress

    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # no zone index (fe80::1%eth0)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, ipv6_prefix), strict=False))
    return str(ip)


class _Limited:
    """ASGI wrapper: spend a token for ``methods`` requests before calling ``app``."""

    def __init__(self, app: Any, group: str, methods: frozenset[str], limiter: RateLimiter,
                 ipv6_prefix: int = 64, reporter: Any = None) -> None:
        self.app, self.group, self.methods, self.limiter = app, group, methods, limiter
        self.ipv6_prefix = ipv6_prefix
        self.reporter = reporter  # has ``telemetry`` (the proxy), read at each refusal
        self._warned: OrderedDict[str, None] = OrderedDict()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] in self.methods:
            address = rate_key(client_address(scope), self.ipv6_prefix)
            wait = self.limiter.take(self.group, address)
            if wait > 0:
                self._warn(address)
                telemetry = getattr(self.reporter, "telemetry", DISABLED)
                telemetry.event(RATE_LIMITED, group=self.group, client_address=address)
                await _too_many(wait)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _warn(self, address: str) -> None:
        """One WARNING per address or IPv6 network (a flood must not flood the log as well)."""
        if address in self._warned:
            return
        self._warned[address] = None
        while len(self._warned) > 1000:
            self._warned.popitem(last=False)
        LOGGER.warning(f"rate limit: refusing {self.group} requests from {address} (HTTP 429)")


def _too_many(wait: float) -> Any:
    from starlette.responses import JSONResponse

    seconds = max(1, math.ceil(wait))
    return JSONResponse(
        {"error": "too_many_requests",
         "error_description": f"too many requests from this address; retry in {seconds} s"},
        status_code=429,
        headers={"Retry-After": str(seconds), "Cache-Control": "no-store"},
    )


class _Branded:
    """ASGI wrapper: HTML responses show our inline icon instead of FastMCP's remote logo."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from fastmcp.utilities.ui import FASTMCP_LOGO_URL

        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: Any) -> None:
            if message["type"] == "http.response.start":
                start_headers = dict(message.get("headers", []))
                if not start_headers.get(b"content-type", b"").startswith(b"text/html"):
                    start["passthrough"] = True
                    await send(message)
                    return
                start["message"] = message
                return
            if start.get("passthrough") or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks).replace(FASTMCP_LOGO_URL.encode(), ICON_DATA_URI.encode())
            head = start["message"]
            headers = [(k, v) for k, v in head.get("headers", []) if k != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**head, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, capture)


# --- redirect policy -----------------------------------------------------------------------------


def expand_redirect_patterns(patterns: Any) -> tuple[str, ...]:
    """``--allowed-redirect`` values: none means the default policy, ``default`` stands for it
    among others (``--allowed-redirect default --allowed-redirect https://app.example/cb``)."""
    from urllib.parse import urlsplit

    from oci_mcp_cli.core.errors import UserError

    expanded: list[str] = []
    for pattern in patterns or ("default",):
        if pattern == "default":
            expanded.extend(DEFAULT_REDIRECT_PATTERNS)
            continue
        parts = urlsplit(pattern)
        if not parts.scheme or parts.scheme.lower() in ("javascript", "data", "file", "vbscript"):
            raise UserError(
                f"--allowed-redirect {pattern!r} is not a redirect URI pattern",
                hint="e.g. https://app.example.com/oauth/callback, http://localhost (any port) "
                "or `default`",
            )
        loopback = parts.hostname in ("localhost", "127.0.0.1", "::1")
        if parts.scheme.lower() == "http" and not loopback:
            raise UserError(
                f"--allowed-redirect {pattern!r}: plain http is only allowed to loopback",
                hint="use an https callback",
            )
        expanded.append(pattern)
    return tuple(dict.fromkeys(expanded))


def redirect_allowed(uri: Any, patterns: tuple[str, ...]) -> bool:
    """FastMCP's own pattern matching (userinfo, backslash and dot-segment tricks refused)."""
    from fastmcp.server.auth.redirect_validation import validate_redirect_uri

    return uri is not None and validate_redirect_uri(
        redirect_uri=uri, allowed_patterns=list(patterns)
    )


def _bound_client_class() -> Any:
    """``ProxyDCRClient`` that, besides the policy, holds a DCR client to the URIs it registered
    (FastMCP checks only the policy once ``allowed_client_redirect_uris`` is set)."""
    from fastmcp.server.auth.oauth_proxy import models
    from mcp.shared.auth import InvalidRedirectUriError

    class BoundProxyDCRClient(models.ProxyDCRClient):
        def validate_redirect_uri(self, redirect_uri: Any) -> Any:
            resolved = super().validate_redirect_uri(redirect_uri)
            if not models._matches_registered_redirect_uri(resolved, self.redirect_uris):
                raise InvalidRedirectUriError(
                    f"Redirect URI '{resolved}' not registered for client"
                )
            return resolved

    return BoundProxyDCRClient


# --- authorization codes -------------------------------------------------------------------------


def _code_key(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def jwt_claims(token: str) -> dict[str, Any]:
    """Claims of a JWT this proxy just issued (no verification needed: it is our own output)."""
    try:
        payload = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}


class OAuthGuardMixin:
    """Extension-point overrides for FastMCP's ``OAuthProxy`` (see the module docstring).

    Takes ``guard=GuardConfig(...)``; passes ``allowed_client_redirect_uris`` on to FastMCP so
    the synthesized upstream-client_id client and CIMD clients obey the same policy.
    """

    telemetry: Telemetry = DISABLED  # the server's (``app.build_server``)

    def __init__(self, *args: Any, guard: GuardConfig | None = None, **kwargs: Any) -> None:
        self._guard = guard or GuardConfig()
        kwargs["allowed_client_redirect_uris"] = list(self._guard.redirect_patterns)
        super().__init__(*args, **kwargs)
        self._limiter = RateLimiter(self._guard.rate_per_minute, self._guard.rate_burst)

    # -- clients --------------------------------------------------------------------------------

    async def register_client(self, client_info: Any) -> None:
        """Keep the registered URIs the policy allows (a client such as Cursor registers several);
        refuse the registration when none is left. Unused registrations expire."""
        from mcp.server.auth.provider import RegistrationError

        uris = list(client_info.redirect_uris or [])
        if uris:
            kept = [u for u in uris if redirect_allowed(u, self._guard.redirect_patterns)]
            if not kept:
                raise RegistrationError(
                    "invalid_redirect_uri",
                    f"Redirect URI '{uris[0]}' is not allowed by this server's redirect policy "
                    "(loopback and known MCP client callbacks; "
                    "see `oci-mcp serve --allowed-redirect`)",
                )
            if len(kept) < len(uris):
                LOGGER.info(
                    f"registration: dropped redirect URIs outside the policy: "
                    f"{', '.join(str(u) for u in uris if u not in kept)}"
                )
            client_info.redirect_uris = kept
        await super().register_client(client_info)  # type: ignore[misc]
        await self._touch_client(client_info.client_id, self._guard.pending_client_ttl_s)

    async def _touch_client(self, client_id: str | None, ttl: int) -> None:
        """Store the client record again with ``ttl`` (FastMCP stores it without one)."""
        if not client_id:
            return
        stored = await self._client_store.get(key=client_id)  # type: ignore[attr-defined]
        if stored is not None and stored.cimd_document is None:
            await self._client_store.put(key=client_id, value=stored, ttl=ttl)  # type: ignore[attr-defined]

    async def get_client(self, client_id: str) -> Any:
        client = await super().get_client(client_id)  # type: ignore[misc]
        if (
            client is None
            or getattr(client, "cimd_document", None) is not None
            or getattr(client, "allow_unregistered_redirect_uris", False)
            or not hasattr(client, "allowed_redirect_uri_patterns")
        ):
            return client
        bound = _bound_client_class()
        values = {name: getattr(client, name) for name in type(client).model_fields}
        return bound.model_construct(**values)

    # -- authorization codes --------------------------------------------------------------------

    def _redemptions(self) -> Any:
        return self._client_storage  # type: ignore[attr-defined]

    async def load_authorization_code(self, client: Any, authorization_code: str) -> Any:
        """The first presentation of a code marks it; any later one spends the code (so a failed
        PKCE check is final) and revokes what an earlier redemption issued."""
        key = _code_key(authorization_code)
        mark = await self._redemptions().get(key=key, collection=REDEMPTIONS)
        if mark is not None:
            await self._code_store.delete(key=authorization_code)  # type: ignore[attr-defined]
            revoked = await self._revoke_issued(mark)
            LOGGER.warning(
                "an authorization code was presented again: code spent"
                + ("; the tokens it was exchanged for are revoked" if revoked else "")
            )
            return None
        code = await super().load_authorization_code(client, authorization_code)  # type: ignore[misc]
        if code is not None:
            await self._redemptions().put(
                key=key, value={"state": "presented"}, collection=REDEMPTIONS,
                ttl=REDEMPTION_TTL_S,
            )
        return code

    async def exchange_authorization_code(self, client: Any, authorization_code: Any) -> Any:
        token = await super().exchange_authorization_code(client, authorization_code)  # type: ignore[misc]
        access_jti = jwt_claims(token.access_token).get("jti")
        refresh = token.refresh_token
        mapping = await self._jti_mapping_store.get(key=access_jti) if access_jti else None  # type: ignore[attr-defined]
        await self._redemptions().put(
            key=_code_key(authorization_code.code),
            value={
                "state": "redeemed",
                "access_jti": access_jti,
                "refresh_jti": jwt_claims(refresh).get("jti") if refresh else None,
                "refresh_hash": hashlib.sha256(refresh.encode()).hexdigest() if refresh else None,
                "upstream_token_id": mapping.upstream_token_id if mapping else None,
            },
            collection=REDEMPTIONS,
            ttl=REDEMPTION_TTL_S,
        )
        await self._touch_client(client.client_id, self._guard.client_ttl_s)
        await self._signed_in(client, mapping, "authorization_code")
        return token

    async def exchange_refresh_token(self, client: Any, refresh_token: Any, scopes: Any) -> Any:
        token = await super().exchange_refresh_token(client, refresh_token, scopes)  # type: ignore[misc]
        await self._touch_client(client.client_id, self._guard.client_ttl_s)
        if self.telemetry.active:
            access_jti = jwt_claims(token.access_token).get("jti")
            mapping = await self._jti_mapping_store.get(key=access_jti) if access_jti else None  # type: ignore[attr-defined]
            await self._signed_in(client, mapping, "refresh_token")
        return token

    async def _signed_in(self, client: Any, mapping: Any, grant: str) -> None:
        """Report a ``sign_in`` event: FastMCP issued tokens to ``client`` for the user of the
        upstream token set behind ``mapping`` (its JTI mapping)."""
        if not self.telemetry.active:
            return
        from oci_mcp_cli.server.telemetry import SIGN_IN, user_fields

        token_set = (
            await self._upstream_token_store.get(key=mapping.upstream_token_id)  # type: ignore[attr-defined]
            if mapping is not None
            else None
        )
        claims = jwt_claims(token_set.access_token) if token_set is not None else {}
        user, user_ocid, domain = user_fields(claims)
        self.telemetry.event(
            SIGN_IN, grant=grant, client_id=client.client_id, user=user, user_ocid=user_ocid,
            domain=domain,
        )

    async def _revoke_issued(self, mark: dict[str, Any]) -> bool:
        """Delete the upstream token set, JTI mappings and refresh metadata of a redemption: the
        FastMCP tokens it issued (and any they were rotated into) stop working."""
        if mark.get("state") != "redeemed":
            return False
        if mark.get("upstream_token_id"):
            await self._upstream_token_store.delete(key=mark["upstream_token_id"])  # type: ignore[attr-defined]
        for jti in (mark.get("access_jti"), mark.get("refresh_jti")):
            if jti:
                await self._jti_mapping_store.delete(key=jti)  # type: ignore[attr-defined]
        if mark.get("refresh_hash"):
            await self._refresh_token_store.delete(key=mark["refresh_hash"])  # type: ignore[attr-defined]
        return True

    # -- routes ---------------------------------------------------------------------------------

    def get_routes(self, mcp_path: str | None = None) -> list[Any]:
        """FastMCP's routes, with the anonymous entry points rate-limited and HTML rebranded."""
        from starlette.routing import Route

        limited = {
            "/register": ("register", {"POST"}),
            "/authorize": ("authorize", {"GET", "POST"}),
            "/consent": ("consent", {"GET"}),
        }
        routes = []
        for route in super().get_routes(mcp_path):  # type: ignore[misc]
            path = getattr(route, "path", None)
            if not isinstance(route, Route) or (
                path not in limited and path != self._redirect_path  # type: ignore[attr-defined]
            ):
                routes.append(route)
                continue
            app: Any = route.app
            if path in ("/authorize", "/consent", self._redirect_path):  # type: ignore[attr-defined]
                app = _Branded(app)
            if path in limited and self._guard.rate_per_minute > 0:
                group, methods = limited[path]
                app = _Limited(app, group, frozenset(methods), self._limiter,
                               self._guard.ipv6_prefix, self)
            routes.append(Route(path, endpoint=app, methods=route.methods, name=route.name,
                                include_in_schema=route.include_in_schema))
        return routes


# --- Host and Origin (DNS rebinding): FastMCP's check, its verdicts remembered -----------------

HOST_ORIGIN_VERDICTS = 256  # (server address, scheme, Host, Origin) combinations remembered
#: Answered whatever the ``Host``: a load balancer's health check (haproxy's default
#: ``option httpchk GET /health`` is HTTP/1.0 without a ``Host``). It reveals no user data.
HOST_EXEMPT_PATHS = ("/health",)


class HostOriginVerdicts:
    """FastMCP's ``HostOriginGuardMiddleware`` (same checks, same 421/403 answers), its verdict
    remembered per (server address, scheme, ``Host``, ``Origin``) — everything the guard reads —
    so a request from a known client costs a dict lookup instead of host parsing and IP address
    checks. At most ``HOST_ORIGIN_VERDICTS`` combinations are remembered; any other is checked
    by the guard every time. Built from the guard's own ``Middleware`` arguments
    (:func:`remember_host_origin_verdicts`). ``GET``/``HEAD`` of ``exempt_paths`` (exactly) pass
    unchecked."""

    def __init__(self, app: Any, /, exempt_paths: tuple[str, ...] = (), **guard: Any) -> None:
        from fastmcp.server.http import HostOriginGuardMiddleware

        self.app = app
        self.exempt_paths = frozenset(exempt_paths)
        self._guard = HostOriginGuardMiddleware(_passed, **guard)
        self._verdicts: dict[tuple[Any, ...], list[dict[str, Any]] | None] = {}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or (
            scope["path"] in self.exempt_paths and scope["method"] in ("GET", "HEAD")
        ):
            await self.app(scope, receive, send)
            return
        host = origin = None
        for name, value in scope["headers"]:  # the first of each, as Starlette's Headers.get
            if name == b"host":
                if host is None:
                    host = value
            elif name == b"origin" and origin is None:
                origin = value
        key = (scope.get("server"), scope.get("scheme"), host, origin)
        if key in self._verdicts:
            refusal = self._verdicts[key]
        else:
            refusal = await self._verdict(scope, receive)
            if len(self._verdicts) < HOST_ORIGIN_VERDICTS:
                self._verdicts[key] = refusal
        if refusal is None:
            await self.app(scope, receive, send)
            return
        for message in refusal:
            await send(dict(message))

    async def _verdict(self, scope: Any, receive: Any) -> list[dict[str, Any]] | None:
        """None when the guard lets the request through, else the messages of its answer."""
        answer: list[dict[str, Any]] = []

        async def capture(message: Any) -> None:
            answer.append(dict(message))

        check = {**scope, "oci_mcp_host_origin_passed": False}
        await self._guard(check, receive, capture)
        return None if check["oci_mcp_host_origin_passed"] else answer


async def _passed(scope: Any, receive: Any, send: Any) -> None:
    scope["oci_mcp_host_origin_passed"] = True


def remember_host_origin_verdicts(app: Any) -> None:
    """Replace FastMCP's Host/Origin guard in a Starlette ``app`` (not yet started) by
    :class:`HostOriginVerdicts` with the same arguments, at the same place, ``/health`` exempt
    (``HOST_EXEMPT_PATHS``)."""
    from fastmcp.server.http import HostOriginGuardMiddleware
    from starlette.middleware import Middleware

    for i, middleware in enumerate(app.user_middleware):
        if middleware.cls is HostOriginGuardMiddleware:
            app.user_middleware[i] = Middleware(
                HostOriginVerdicts,
                *middleware.args,
                **{**middleware.kwargs, "exempt_paths": HOST_EXEMPT_PATHS},
            )


# --- MCP sessions per user -----------------------------------------------------------------------


@dataclass
class _Session:
    user: str
    last: float
    active: int = 0


class SessionCap:
    """ASGI middleware: one user keeps at most ``per_user`` MCP sessions. Opening one more ends the
    user's least recently used idle session (no request in flight, its opening ``initialize``
    included); when none is idle the new one is refused with 429 + ``Retry-After``. The session
    manager itself (mcp SDK) caps all sessions at 10 000 and ends sessions idle for 30 minutes.

    Admission is atomic: the count (open sessions + opens admitted but not yet answered), the
    choice of victims and the reservation happen without an ``await`` in between, so concurrent
    ``initialize`` requests cannot all see room for themselves.

    Reads the SDK's ``StreamableHTTPSessionManager`` (``_server_instances``/``_discard_session``,
    mcp 2.3.0): it has no per-user knob.
    """

    def __init__(
        self, app: Any, path: str = "/mcp", per_user: int = 16, telemetry: Telemetry | None = None
    ) -> None:
        self.app, self.path, self.per_user = app, path, per_user
        self.sessions: dict[str, _Session] = {}
        self.opening: dict[str, int] = {}  # per user: admitted opens not yet answered
        self.telemetry = telemetry or DISABLED
        self._manager: Any = None  # the session manager, once a request has shown it
        if telemetry is not None:
            telemetry.gauges.sessions = self

    def open_sessions(self) -> int:
        """MCP sessions open now (all users): those the session manager still serves (read
        from the metrics listener's thread: copies, no change to the bookkeeping)."""
        if self._manager is None:
            return len(self.sessions)
        live = self._manager._server_instances
        return sum(1 for sid in list(self.sessions) if sid in live)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].rstrip("/") != self.path or self.per_user < 1:
            await self.app(scope, receive, send)
            return
        user = _user_key(scope.get("user"))
        manager = _session_manager(scope)
        if user is None or manager is None:
            await self.app(scope, receive, send)
            return
        self._manager = manager
        sid = _header(scope, b"mcp-session-id")
        if sid is None and scope["method"] == "POST" and _may_open_session(scope):
            await self._open(user, manager, scope, receive, send)
            return
        session = self.sessions.get(sid or "")
        if session is None or session.user != user:
            await self.app(scope, receive, send)
            return
        session.active += 1
        session.last = time.monotonic()
        try:
            await self.app(scope, receive, send)
        finally:
            session.active -= 1
            session.last = time.monotonic()

    async def _open(self, user: str, manager: Any, scope: Any, receive: Any, send: Any) -> None:
        """Admit (ending an idle session when the user is at the limit) or refuse one
        session-opening request of ``user``. The sessions the manager ended are forgotten
        first — here, not on every request: the sweep reads every tracked session."""
        self._forget_ended(manager)
        admitted, victim = self._admit(user)
        if not admitted:
            self.telemetry.event(SESSION_CAP, user=user, limit=self.per_user)
            await _too_many_sessions(self.per_user)(scope, receive, send)
            return
        if victim is not None:
            transport = manager._server_instances.get(victim)
            if transport is not None:  # forgotten by the manager before its first await
                await manager._discard_session(victim, transport)
            LOGGER.info(
                f"ended the least recently used idle MCP session of {user} "
                f"(limit {self.per_user})"
            )
        opened: _Session | None = None  # the new session: busy until its opening request ends
        reserved = True

        async def record(message: Any) -> None:
            nonlocal opened, reserved
            if message["type"] == "http.response.start" and reserved:
                session_id = None
                if message["status"] < 400:
                    session_id = _header(message, b"mcp-session-id")
                if session_id is not None:
                    # the SSE answer starts (with the ID) before initialize is answered
                    opened = self.sessions[session_id] = _Session(user, time.monotonic(), 1)
                reserved = False
                self._release(user)
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            if reserved:
                self._release(user)
            if opened is not None:
                opened.active -= 1
                opened.last = time.monotonic()

    def _admit(self, user: str) -> tuple[bool, str | None]:
        """Reserve room for one more session of ``user``: ``(True, idle session to end or
        None)``, or ``(False, None)`` when the user is at the limit and none is idle. Runs without
        awaiting, so the decision and the reservation are one step; the user's sessions plus
        reservations never exceed the limit, so at most one session is ever to be ended."""
        mine = [(s.last, sid) for sid, s in self.sessions.items() if s.user == user]
        if len(mine) + self.opening.get(user, 0) < self.per_user:
            victim = None
        else:
            idle = [entry for entry in mine if not self.sessions[entry[1]].active]
            if not idle:
                return False, None
            victim = min(idle)[1]
            del self.sessions[victim]
        self.opening[user] = self.opening.get(user, 0) + 1
        return True, victim

    def _release(self, user: str) -> None:
        left = self.opening.get(user, 0) - 1
        if left > 0:
            self.opening[user] = left
        else:
            self.opening.pop(user, None)

    def _forget_ended(self, manager: Any) -> None:
        live = manager._server_instances
        for sid in [s for s in self.sessions if s not in live]:
            del self.sessions[sid]


SESSION_RETRY_AFTER_S = 30


def _too_many_sessions(limit: int) -> Any:
    from starlette.responses import JSONResponse

    message = (
        f"too many open MCP sessions for this user (limit {limit}, none idle): close a session "
        f"or retry in {SESSION_RETRY_AFTER_S} s"
    )
    return JSONResponse(
        {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": message}},
        status_code=429,
        headers={"Retry-After": str(SESSION_RETRY_AFTER_S), "Cache-Control": "no-store"},
    )


def _may_open_session(scope: Any) -> bool:
    """Whether a POST without a session ID may open a session: an ``initialize``. Clients of
    protocol revisions that name the method in an ``Mcp-Method`` header (2026-07-28 and later)
    send every other request without a session (stateless calls, nothing to cap); older clients
    send no such header, and their only session-less POST is ``initialize``."""
    method = _header(scope, b"mcp-method")
    return method is None or method == "initialize"


def _header(scope: Any, name: bytes) -> str | None:
    """The first ``name`` header of an ASGI request scope or response start message."""
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _user_key(user: Any) -> str | None:
    """The signed-in user (``sub`` of the identity domain's token), else the OAuth client."""
    token = getattr(user, "access_token", None)
    if token is None:
        return None
    claims = getattr(token, "claims", None) or {}
    return str(claims.get("sub") or getattr(token, "subject", None) or token.client_id)


def _session_manager(scope: Any) -> Any:
    """The streamable-HTTP session manager behind ``/mcp`` (created in the app's lifespan)."""
    app = scope.get("app")
    for route in getattr(app, "routes", []):
        if getattr(route, "path", None) == scope["path"].rstrip("/"):
            endpoint = getattr(route, "endpoint", None)
            inner = getattr(endpoint, "app", endpoint)
            return getattr(inner, "session_manager", None)
    return None


def guard_config(settings: Any) -> GuardConfig:
    """The mixin's configuration from ``ServerSettings``."""
    return GuardConfig(
        redirect_patterns=tuple(settings.allowed_redirects) or DEFAULT_REDIRECT_PATTERNS,
        rate_per_minute=settings.rate_limit,
        rate_burst=settings.rate_burst,
        ipv6_prefix=settings.ipv6_rate_limit_prefix,
    )

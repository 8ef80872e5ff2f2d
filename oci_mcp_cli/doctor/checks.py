"""One small function per link of the chain; each returns a CheckResult and records facts for later.

``ok`` is True (passed), False (failed) or None (skipped: not checked, never counted as passed).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from oci_mcp_cli.core import envfile as E
from oci_mcp_cli.core.errors import OciMcpError
from oci_mcp_cli.core.files import file_mode
from oci_mcp_cli.core.urls import discovery_url, jwks_url

if TYPE_CHECKING:
    import httpx

    from oci_mcp_cli.core.ociconfig import OciAuth
    from oci_mcp_cli.provisioning.session import DomainSession

REQUIRED_GRANTS = ("authorization_code", "refresh_token", "client_credentials")
# What FastMCP's strict discovery check needs (see fastmcp-oauth-proxy.md §4.1).
DISCOVERY_FIELDS = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
DISCOVERY_LISTS = (
    "response_types_supported",
    "subject_types_supported",
    "id_token_signing_alg_values_supported",
)
ADMIN_SCOPE = "urn:opc:idm:__myscopes__"
CLIENT_AUTHENTICATED_ERRORS = ("invalid_scope", "unauthorized_client", "unsupported_grant_type")
FIX_INIT = "run `oci-mcp init` (it reconciles the app and rewrites .env)"
FIX_TRUST = "run `oci-mcp trust create`"
FIX_SERVE = "restart `oci-mcp serve` with this .env"
FIX_ALLOW = (
    "let only your team sign in: `oci-mcp init --allow-group NAME` (or `oci-mcp access grant "
    "--group NAME`) requires a grant of the app and grants it to the group"
)
FIX_DOMAIN = (
    "set IAM_DOMAIN to the identity domain's URL (Console → Identity → Domains → the domain → "
    "Domain URL), or run `oci-mcp init --domain NAME` to pick the domain by name"
)
NEEDS_DOMAIN = "needs a valid IAM_DOMAIN in .env (see the env check)"
NEEDS_CLIENT_ID = "needs IAM_CLIENT_ID in .env (see the env check)"
NEEDS_ISSUER = "needs the discovery issuer (see the discovery check)"


@dataclass
class CheckResult:
    """The outcome of one check, as shown in the table and in --json."""

    name: str
    ok: bool | None
    detail: str
    fix: str | None = None
    warning: bool = False  # passed, but worth a look (shown as "warn"; still exit 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ok": self.ok,
            "warning": self.warning,
            "detail": self.detail,
            "fix": self.fix,
        }


def passed(name: str, detail: str) -> CheckResult:
    return CheckResult(name, True, detail)


def failed(name: str, detail: str, fix: str | None) -> CheckResult:
    return CheckResult(name, False, detail, fix)


def skipped(name: str, detail: str, fix: str | None = None) -> CheckResult:
    return CheckResult(name, None, detail, fix)


def warned(name: str, detail: str, fix: str | None) -> CheckResult:
    return CheckResult(name, True, detail, fix, warning=True)


@dataclass
class DoctorContext:
    """Inputs of the run and facts found by earlier checks (filled in as checks run)."""

    env: E.EnvFile
    http: httpx.Client  # with no credentials of any kind
    admin: OciAuth | None = None  # when admin credentials are available
    admin_error: OciMcpError | None = None  # admin credentials were configured but unusable
    admin_source: str | None = None
    domain_url: str | None = None
    server_url: str | None = None
    discovery: dict[str, Any] = field(default_factory=dict)
    _session: DomainSession | None = None

    @property
    def issuer(self) -> str | None:
        return self.discovery.get("issuer")

    @property
    def jwks_uri(self) -> str | None:
        if self.discovery.get("jwks_uri"):
            return str(self.discovery["jwks_uri"])
        return jwks_url(self.domain_url) if self.domain_url else None

    @property
    def token_endpoint(self) -> str | None:
        if self.discovery.get("token_endpoint"):
            return str(self.discovery["token_endpoint"])
        return self.domain_url + "/oauth2/v1/token" if self.domain_url else None

    def session(self) -> DomainSession:
        """The admin DomainSession on ``domain_url`` (built once; checks call it only past
        :func:`_admin_gate`)."""
        if self._session is None:
            from oci_mcp_cli.provisioning.session import DomainSession

            if self.admin is None:
                raise RuntimeError("no admin credentials: gate the check with _admin_gate")
            self._session = DomainSession(self.admin, self.domain_url or "")
        return self._session


def same_url(a: str | None, b: str | None) -> bool:
    """Equal URLs up to an explicit :443 on https and a trailing slash."""

    def norm(url: str) -> str:
        parts = urlsplit(url.strip())
        netloc = parts.netloc
        if parts.scheme == "https" and netloc.endswith(":443"):
            netloc = netloc[:-4]
        return urlunsplit((parts.scheme, netloc.lower(), parts.path.rstrip("/"), parts.query, ""))

    return bool(a and b) and norm(a or "") == norm(b or "")


def _http_error(exc: Exception) -> str:
    return f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__


def _oauth_error(response: Any) -> str:
    try:
        body = response.json()
        return f"{body.get('error')}: {body.get('error_description') or ''}".strip(": ")
    except ValueError:
        return response.text[:200]


# 1 ─────────────────────────────────────────────────────────────────────────────────────────────
def check_env(ctx: DoctorContext) -> CheckResult:
    """.env present, parseable, complete, valid URLs, mode 0600."""
    name, env = "env", ctx.env
    if not env.exists:
        return failed(
            name, f"{env.path} does not exist", "run `oci-mcp init` to provision and write it"
        )
    problems: list[str] = []
    fixes: list[str] = []
    bad_lines = E.unparseable_lines(env.path)
    if bad_lines:
        problems.append(
            f"unparseable line(s) {', '.join(map(str, bad_lines))} (expected KEY=VALUE)"
        )
        fixes.append(f"fix those lines in {env.path}")
    missing = [key for key in E.SERVER_REQUIRED_KEYS if not env.get(key)]
    if missing:
        problems.append(f"missing {', '.join(missing)}")
        fixes.append("run `oci-mcp init` to write a complete .env")
    ctx.domain_url = _valid(env, E.IAM_DOMAIN, lambda: env.domain_url, problems)
    if env.get(E.IAM_DOMAIN) and ctx.domain_url is None:
        fixes.append(FIX_DOMAIN)
    ctx.server_url = _valid(env, E.MCP_SERVER_URL, lambda: env.server_url, problems)
    if env.get(E.MCP_SERVER_URL) and ctx.server_url is None:
        fixes.append("use https for MCP_SERVER_URL (http only on localhost), then `oci-mcp init`")
    if not env.redirect_path.startswith("/"):
        problems.append(f"{E.MCP_REDIRECT_PATH} must start with '/' (got {env.redirect_path!r})")
        fixes.append("run `oci-mcp init --redirect-path /auth/callback`")
    mode = file_mode(env.path)
    if mode & 0o077:
        problems.append(f"mode {mode:04o} lets other users read its secrets")
        fixes.append(f"run `chmod 600 {shlex.quote(str(env.path))}`")
    if problems:
        return failed(name, f"{env.path}: " + "; ".join(problems), "; ".join(dict.fromkeys(fixes)))
    return passed(name, f"{env.path}: complete, mode 0600, server URL {ctx.server_url}")


def _valid(env: E.EnvFile, key: str, read: Any, problems: list[str]) -> str | None:
    if not env.get(key):
        return None
    try:
        return str(read())
    except OciMcpError as exc:
        problems.append(f"{key}: {exc.message}")
        return None


# 2 ─────────────────────────────────────────────────────────────────────────────────────────────
def check_discovery(ctx: DoctorContext) -> CheckResult:
    """The domain's OIDC discovery document is reachable and complete; record the issuer."""
    name = "discovery"
    if not ctx.domain_url:
        return skipped(name, NEEDS_DOMAIN)
    url = discovery_url(ctx.domain_url)
    try:
        response = ctx.http.get(url)
    except Exception as exc:  # httpx transport errors: DNS, refused, TLS, timeout
        return failed(
            name,
            f"cannot reach {url}: {_http_error(exc)}",
            "check IAM_DOMAIN in .env and the network (or that the sandbox is running)",
        )
    if response.status_code != 200:
        return failed(
            name,
            f"GET {url} answered HTTP {response.status_code}",
            "IAM_DOMAIN is not an identity domain URL: " + FIX_DOMAIN,
        )
    try:
        doc = response.json()
    except ValueError:
        return failed(name, f"{url} did not return JSON", "check IAM_DOMAIN in .env")
    absent = [k for k in DISCOVERY_FIELDS if not doc.get(k)]
    absent += [k for k in DISCOVERY_LISTS if not doc.get(k)]
    if absent:
        return failed(
            name,
            f"discovery lacks {', '.join(absent)} (FastMCP refuses to start)",
            "check IAM_DOMAIN points at the identity domain itself",
        )
    ctx.discovery = doc
    issuer = str(doc["issuer"])
    if urlsplit(issuer).scheme not in ("https", "http"):
        return failed(name, f"issuer {issuer!r} is not a URL", "check IAM_DOMAIN in .env")
    return passed(name, f"issuer {issuer} (the server verifies sign-in tokens against it)")


# 3 ─────────────────────────────────────────────────────────────────────────────────────────────
def check_jwks(ctx: DoctorContext) -> CheckResult:
    """The JWKS answers an anonymous GET (the domain's "Configure client access" setting)."""
    name = "jwks"
    url = ctx.jwks_uri
    if not url:
        return skipped(name, NEEDS_DOMAIN)
    try:
        response = ctx.http.get(url)  # deliberately without any credentials
    except Exception as exc:
        return failed(
            name, f"cannot reach {url}: {_http_error(exc)}", "check IAM_DOMAIN and the network"
        )
    if response.status_code in (401, 403):
        return failed(
            name,
            f"{url} answers HTTP {response.status_code} without credentials: sign-in will seem to "
            "work, then every MCP call fails with 401 invalid_token",
            "run `oci-mcp init` (it turns on signingCertPublicAccess), or tick Domain → Settings → "
            "'Configure client access'",
        )
    if response.status_code != 200:
        return failed(name, f"GET {url} answered HTTP {response.status_code}", "check IAM_DOMAIN")
    try:
        keys = [k for k in response.json().get("keys", []) if k.get("kty") == "RSA"]
    except (ValueError, AttributeError):
        keys = []
    if not keys:
        return failed(name, f"{url} returned no RSA signing key", "check IAM_DOMAIN")
    return passed(name, f"{url} is public ({len(keys)} RSA key(s))")


# 4 ─────────────────────────────────────────────────────────────────────────────────────────────
def _admin_gate(ctx: DoctorContext, name: str) -> CheckResult | None:
    """A skipped/failed result when the admin API cannot be used, else None."""
    if ctx.admin_error is not None:
        return failed(
            name,
            f"admin credentials ({ctx.admin_source}) unusable: {ctx.admin_error.message}",
            ctx.admin_error.hint or "fix the OCI config profile, or pass --config-file/--profile",
        )
    if ctx.admin is None:
        return skipped(
            name,
            "needs admin credentials to read the domain",
            "pass --config-file/--profile (or --auth), or let `oci-mcp init` record them in .env",
        )
    if not ctx.domain_url:
        return skipped(name, NEEDS_DOMAIN)
    return None


def _admin_failed(name: str, exc: OciMcpError) -> CheckResult:
    """An admin API call failed: its message, and its hint or a generic one."""
    return failed(name, exc.message, exc.hint or "check the admin credentials and network")


def _find_app(ctx: DoctorContext, client_id: str) -> Any | None:
    from oci_mcp_cli.provisioning.scim import eq_filter

    session = ctx.session()
    data = session.call(
        session.client.list_apps, filter=eq_filter("name", client_id), attribute_sets=["all"]
    )
    return next((a for a in data.resources or [] if a.name == client_id), None)


def app_problems(app: Any, *, redirect_uri: str | None, login: bool) -> list[str]:
    """What is wrong with one app (login: grants + redirect URI; exchange: client_credentials)."""
    label = f"app {app.display_name!r}"
    problems: list[str] = []
    if not app.active:
        problems.append(f"{label} is inactive")
    if not app.is_o_auth_client or (app.client_type or "").lower() != "confidential":
        problems.append(
            f"{label} is not a confidential OAuth client (clientType {app.client_type})"
        )
    grants = set(app.allowed_grants or [])
    wanted = REQUIRED_GRANTS if login else ("client_credentials",)
    lacking = [g for g in wanted if g not in grants]
    if lacking:
        problems.append(f"{label} lacks grant(s) {', '.join(lacking)}")
    if login and redirect_uri:
        uris = list(app.redirect_uris or [])
        if redirect_uri not in uris:
            problems.append(
                f"{label} does not register redirect URI {redirect_uri} (has: {uris or 'none'})"
            )
        if redirect_uri.startswith("http://") and not app.all_url_schemes_allowed:
            problems.append(f"{label} has allUrlSchemesAllowed off but the redirect URI is http")
    return problems


def check_app(ctx: DoctorContext) -> CheckResult:
    """The login app (and a separate exchange app, if any) exists and is configured right."""
    name = "app"
    gate = _admin_gate(ctx, name)
    if gate:
        return gate
    client_id = ctx.env.get(E.IAM_CLIENT_ID)
    if not client_id:
        return skipped(name, NEEDS_CLIENT_ID)
    redirect_uri = ctx.server_url + ctx.env.redirect_path if ctx.server_url else None
    try:
        app = _find_app(ctx, client_id)
        if app is None:
            return failed(name, f"no app with client id {client_id} in {ctx.domain_url}", FIX_INIT)
        problems = app_problems(app, redirect_uri=redirect_uri, login=True)
        exchange_id = ctx.env.exchange_client_id
        if exchange_id and exchange_id != client_id:
            exchange = _find_app(ctx, exchange_id)
            if exchange is None:
                problems.append(f"no exchange app with client id {exchange_id}")
            else:
                problems += app_problems(exchange, redirect_uri=None, login=False)
    except OciMcpError as exc:
        return _admin_failed(name, exc)
    if problems:
        return failed(name, "; ".join(problems), FIX_INIT)
    return passed(
        name,
        f"app {app.display_name!r} active, confidential, grants ok, redirect URI {redirect_uri}",
    )


def check_access(ctx: DoctorContext) -> CheckResult:
    """Who may sign in: the app's grants when it requires them (allowAccessControl), else every
    user of the domain — a warning when the domain also serves other OAuth apps (its users are
    then not only this server's team); fails when .env records access the domain lacks."""
    from oci_mcp_cli.core.access import AccessRecord
    from oci_mcp_cli.doctor.access import read_access

    name = "access"
    gate = _admin_gate(ctx, name)
    if gate:
        return gate
    client_id = ctx.env.get(E.IAM_CLIENT_ID)
    if not client_id:
        return skipped(name, NEEDS_CLIENT_ID)
    try:
        app = _find_app(ctx, client_id)
        if app is None:
            return skipped(name, "needs the app (see the app check)")
        own = {client_id, ctx.env.exchange_client_id or client_id}
        state = read_access(ctx.session(), app, own)
    except OciMcpError as exc:
        return _admin_failed(name, exc)
    record = AccessRecord.from_env(ctx.env)
    recorded = [f"group {g}" for g in record.groups] + [f"user {u}" for u in record.users]
    label = f"app {state.app_name!r}"
    if not state.control:
        detail = f"{state.who()} can sign in to {label} (allowAccessControl is off)"
        if recorded:
            return failed(
                name, f"{detail}, but {ctx.env.path} records access for {', '.join(recorded)} only",
                FIX_INIT,
            )
        if state.other_apps:
            shown = ", ".join(state.other_apps[:3]) + (", …" if len(state.other_apps) > 3 else "")
            return warned(
                name,
                f"{detail}; the domain also serves {len(state.other_apps)} other OAuth app(s) "
                f"({shown}), so its users are not only this server's team",
                FIX_ALLOW,
            )
        return passed(name, detail)
    missing = [f"group {g}" for g in record.groups if g not in state.groups]
    missing += [f"user {u}" for u in record.users if u not in state.user_names]
    if missing:
        return failed(
            name,
            f"{label} has no grant for {', '.join(missing)} recorded in {ctx.env.path}; who can "
            f"sign in now: {state.who()}",
            FIX_INIT,
        )
    if not state.grantees:
        return failed(name, f"{label} requires a grant and has none: nobody can sign in", FIX_ALLOW)
    return passed(name, f"only {state.who()} can sign in to {label} (allowAccessControl is on)")


# 5 ─────────────────────────────────────────────────────────────────────────────────────────────
def check_client_secret(ctx: DoctorContext) -> CheckResult:
    """The domain accepts the client secret(s) in .env (a client_credentials token request)."""
    name = "client-secret"
    endpoint = ctx.token_endpoint
    if not endpoint:
        return skipped(name, NEEDS_DOMAIN)
    pairs = [(E.IAM_CLIENT_ID, ctx.env.get(E.IAM_CLIENT_ID), ctx.env.get(E.IAM_CLIENT_SECRET))]
    if ctx.env.get(E.IAM_TOKENEXCHANGE_CLIENT_ID) not in (None, pairs[0][1]):
        pairs.append(
            (
                E.IAM_TOKENEXCHANGE_CLIENT_ID,
                ctx.env.get(E.IAM_TOKENEXCHANGE_CLIENT_ID),
                ctx.env.exchange_client_secret,
            )
        )
    for key, client_id, secret in pairs:
        if not client_id or not secret:
            return skipped(name, f"needs {key} and its secret in .env (see the env check)")
        result = _token_request(ctx, name, endpoint, key, client_id, secret)
        if result is not None:
            return result
    return passed(name, "the domain accepts the client secret" + ("s" if len(pairs) > 1 else ""))


def _token_request(
    ctx: DoctorContext, name: str, endpoint: str, key: str, client_id: str, secret: str
) -> CheckResult | None:
    secret_key = key.replace("_ID", "_SECRET")
    try:
        response = ctx.http.post(
            endpoint,
            data={"grant_type": "client_credentials", "scope": ADMIN_SCOPE},
            auth=(client_id, secret),
        )
    except Exception as exc:
        return failed(
            name, f"cannot reach {endpoint}: {_http_error(exc)}", "check IAM_DOMAIN and the network"
        )
    if response.status_code == 200:
        return _check_token_issuer(ctx, name, response)
    error = _oauth_error(response)
    if error.startswith("invalid_client"):
        return failed(
            name,
            f"the domain rejected {key} / {secret_key}: {error}",
            f"put the app's current secret in {secret_key}, or re-run `oci-mcp init`",
        )
    if 400 <= response.status_code < 500 and error.split(":")[0] in CLIENT_AUTHENTICATED_ERRORS:
        # OAuth servers authenticate the client before judging grant or scope (RFC 6749 §5.2):
        # the secret is right; a missing grant is the app check's business.
        return None
    return failed(
        name,
        f"token request for {key} failed: HTTP {response.status_code} {error}",
        "try again shortly; if it persists, check the domain's status",
    )


def _check_token_issuer(ctx: DoctorContext, name: str, response: Any) -> CheckResult | None:
    import jwt

    issuer = ctx.issuer
    try:
        claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    except Exception:  # an opaque token: nothing more to compare
        return None
    if issuer and claims.get("iss") != issuer:
        return failed(
            name,
            f"tokens carry iss {claims.get('iss')!r} but discovery says {issuer!r}: "
            "the server would reject every sign-in",
            "report this domain's issuer mismatch; the server verifies against discovery",
        )
    return None


# 6 ─────────────────────────────────────────────────────────────────────────────────────────────
def check_trust(ctx: DoctorContext) -> CheckResult:
    """The identity propagation trust lets our exchange client turn user tokens into UPSTs."""
    name = "trust"
    issuer, login_id, exchange_id = (
        ctx.issuer,
        ctx.env.get(E.IAM_CLIENT_ID),
        ctx.env.exchange_client_id,
    )
    gate = _admin_gate(ctx, name)
    if gate:
        return gate
    if not issuer:
        return skipped(name, NEEDS_ISSUER)
    if not login_id or not exchange_id:
        return skipped(name, NEEDS_CLIENT_ID)
    from oci_mcp_cli.provisioning.trust import find_trust

    try:
        trust = find_trust(ctx.session(), issuer)
    except OciMcpError as exc:
        return _admin_failed(name, exc)
    if trust is None:
        return failed(
            name,
            f"no identity propagation trust for issuer {issuer}: tools cannot act as the user",
            FIX_TRUST,
        )
    problems = trust_problems(
        trust, issuer=issuer, jwks_uri=ctx.jwks_uri, login_id=login_id, exchange_id=exchange_id
    )
    if problems:
        return failed(name, f"trust {trust.name!r}: " + "; ".join(problems), FIX_TRUST)
    return passed(name, f"trust {trust.name!r} active, JWKS and clients ok")


def trust_problems(
    trust: Any, *, issuer: str, jwks_uri: str | None, login_id: str, exchange_id: str
) -> list[str]:
    """What is wrong with the trust for our login/exchange clients."""
    problems: list[str] = []
    if not trust.active:
        problems.append("inactive")
    if not same_url(trust.public_key_endpoint, jwks_uri):
        problems.append(f"publicKeyEndpoint is {trust.public_key_endpoint!r}, expected {jwks_uri}")
    if exchange_id not in (trust.oauth_clients or []):
        problems.append(f"exchange client {exchange_id} is not in oauthClients")
    claim, values = trust.client_claim_name, list(trust.client_claim_values or [])
    if claim == "client_id" and login_id not in values:
        problems.append(f"clientClaimName client_id does not list the login client {login_id}")
    elif claim == "iss" and issuer not in values:
        problems.append(f"clientClaimName iss does not list the issuer {issuer}")
    elif claim not in (None, "", "client_id", "iss"):
        problems.append(f"clientClaimName {claim!r} cannot be checked against the login client")
    return problems


# 7 ─────────────────────────────────────────────────────────────────────────────────────────────
def check_server(ctx: DoctorContext) -> CheckResult:
    """The running server answers /health and advertises the right resource and OAuth endpoints."""
    name = "server"
    base = ctx.server_url
    if not base:
        return skipped(name, "needs a valid MCP_SERVER_URL in .env (see the env check)")
    try:
        health = ctx.http.get(base + "/health")
    except Exception as exc:
        return skipped(
            name,
            f"no server reachable at {base} ({exc.__class__.__name__})",
            "start it with `oci-mcp serve`, then re-run doctor",
        )
    if health.status_code == 503 and _storage_report(health) == "unavailable":
        return failed(
            name,
            f"{base} is running but its OAuth state store is unreachable (GET /health: storage "
            "unavailable): sign-ins and calls answer 503",
            "see the storage check; the server recovers by itself once the store is back",
        )
    if health.status_code != 200:
        return failed(
            name,
            f"GET {base}/health answered HTTP {health.status_code}",
            "is this an oci-mcp server? " + FIX_SERVE,
        )
    expected = base + "/mcp"
    prm = _get_json(ctx, base + "/.well-known/oauth-protected-resource/mcp")
    if prm is None or not same_url(prm.get("resource"), expected):
        found = prm.get("resource") if prm else "nothing"
        return failed(
            name,
            f"protected-resource metadata names {found!r}, expected {expected}: "
            "MCP clients will refuse to sign in",
            f"{FIX_SERVE} (or set MCP_SERVER_URL to the URL clients use)",
        )
    asm = _get_json(ctx, base + "/.well-known/oauth-authorization-server")
    lacking = [k for k in ("authorization_endpoint", "token_endpoint") if not (asm or {}).get(k)]
    if asm is None or lacking:
        return failed(
            name,
            "the server does not advertise its OAuth endpoints "
            f"({', '.join(lacking) or 'no authorization-server metadata'})",
            FIX_SERVE,
        )
    return passed(name, f"{base} healthy; resource {expected}; OAuth endpoints advertised")


# 8 ─────────────────────────────────────────────────────────────────────────────────────────────
def check_storage(ctx: DoctorContext) -> CheckResult:
    """OCI_MCP_STORAGE: a file store needs nothing here; a Redis store must answer PING (with
    the URL's password and TLS), and a running server must report its storage as ok."""
    from oci_mcp_cli.core.errors import UserError
    from oci_mcp_cli.server.storage import mask_storage_url, parse_storage_url

    name = "storage"
    if not ctx.env.exists:
        return skipped(name, "needs .env (see the env check)")
    configured = ctx.env.get(E.OCI_MCP_STORAGE)
    try:
        target = parse_storage_url(configured)
    except UserError as exc:
        return failed(name, f"{E.OCI_MCP_STORAGE}: {exc}", exc.hint)
    if target.redis_url is None:
        where = target.directory or "FastMCP's default location"
        return passed(name, f"file store ({where}): one server, or replicas on this host only")
    label = mask_storage_url(target.redis_url)
    problem = _redis_ping(target.redis_url)
    if problem:
        return failed(
            name,
            f"Redis at {label} does not answer: {problem}",
            "start Redis (or OCI Cache) / open the network path to it, and check the password "
            f"and TLS (rediss://) in {E.OCI_MCP_STORAGE}; `serve` answers 503 until it is back",
        )
    if not ctx.server_url:
        return passed(name, f"Redis at {label} answers")
    try:
        report = ctx.http.get(ctx.server_url + "/health").json().get("storage")
    except Exception:
        return passed(name, f"Redis at {label} answers (no server answering at {ctx.server_url})")
    if report == "unavailable":
        return failed(
            name,
            f"Redis at {label} answers here, but the server at {ctx.server_url} reports its "
            "storage unavailable",
            "check that the server runs with the same OCI_MCP_STORAGE and can reach it",
        )
    if report == "ok":
        return passed(name, f"Redis at {label} answers; the server reports its storage ok")
    return passed(name, f"Redis at {label} answers")


def _redis_ping(url: str) -> str | None:
    """None when Redis at ``url`` answers PING within a few seconds, else why not."""
    try:
        from redis import Redis
    except ImportError:  # pragma: no cover - a dependency of oci-mcp
        return "the redis package is not installed (pip install 'py-key-value-aio[redis]')"
    client = Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        client.ping()
    except Exception as exc:
        return _http_error(exc)
    finally:
        client.close()
    return None


def _storage_report(response: Any) -> str | None:
    try:
        return response.json().get("storage")
    except Exception:
        return None


def _get_json(ctx: DoctorContext, url: str) -> dict[str, Any] | None:
    try:
        response = ctx.http.get(url)
        data = response.json() if response.status_code == 200 else None
    except Exception:
        return None
    return data if isinstance(data, dict) else None


CHECKS = (
    check_env,
    check_discovery,
    check_jwks,
    check_app,
    check_client_secret,
    check_trust,
    check_server,
    check_storage,
    check_access,
)

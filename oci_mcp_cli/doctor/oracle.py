"""`oci-mcp doctor --oracle SERVICE`: the chain of one of Oracle's official OCI MCP servers.

Reads the project ``.env`` (what ``init --for oracle-mcp`` recorded) and the service's
``<env>.oracle-<service>`` (what the server reads), then checks, in order: those files, the
domain's discovery and public JWKS (at ``https://IDCS_DOMAIN``, as the server reaches it), the
resource app (audience = ``IDCS_AUDIENCE``, scope ``oci_mcp.<service>.invoke``), the confidential
client (grants, redirect URI ``ORACLE_MCP_BASE_URL/auth/callback``, ``allowedScopes`` = exactly the
fully qualified scopes), its secret, the identity propagation trust, and — when it runs — the
server's protected-resource and OAuth authorization-server metadata. Every admin-side fix is the
same command: ``init --for oracle-mcp`` reconciles the whole chain.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oci_mcp_cli.core import envfile as E
from oci_mcp_cli.core.errors import OciMcpError
from oci_mcp_cli.core.files import file_mode
from oci_mcp_cli.doctor import checks as C
from oci_mcp_cli.doctor.checks import CheckResult, DoctorContext, failed, passed, skipped
from oci_mcp_cli.oracle.services import OracleService, parse_services

TARGET = "oracle-mcp"
REQUIRED = (
    E.ORACLE_MCP_HOST, E.ORACLE_MCP_PORT, E.ORACLE_MCP_BASE_URL, E.IDCS_DOMAIN, E.IDCS_CLIENT_ID,
    E.IDCS_CLIENT_SECRET, E.IDCS_AUDIENCE, E.OCI_REGION,
)
MCP_PATH = "/mcp"  # FastMCP's streamable-HTTP path (settings.streamable_http_path)
REDIRECT_PATH = E.DEFAULT_REDIRECT_PATH  # OCIProvider's fixed {base_url}/auth/callback


@dataclass
class OracleContext(DoctorContext):
    """The doctor context plus the service, its env file's values and the fix commands."""

    service: OracleService = field(default_factory=lambda: OracleService("object-storage"))
    env_path: Path = Path(".env")
    values: dict[str, str] = field(default_factory=dict)

    @property
    def service_path(self) -> Path:
        return self.env_path.with_name(self.service.env_file_name(self.env_path.name))

    @property
    def env_flag(self) -> str:
        default = self.env_path == E.DEFAULT_ENV_FILE
        return "" if default else f" --env-file {shlex.quote(str(self.env_path))}"

    @property
    def fix_init(self) -> str:
        return f"oci-mcp init --for oracle-mcp --service {self.service.name}{self.env_flag}"

    @property
    def fix_serve(self) -> str:
        return f"oci-mcp serve --oracle {self.service.name}{self.env_flag}"

    @property
    def audience(self) -> str | None:
        return self.values.get(E.IDCS_AUDIENCE)

    @property
    def client_id(self) -> str | None:
        return self.values.get(E.IDCS_CLIENT_ID)

    @property
    def services(self) -> list[OracleService]:
        recorded = parse_services((self.env.get(E.OCI_MCP_ORACLE_SERVICES) or "").split(","))
        return recorded or [self.service]


def _init(ctx: OracleContext) -> str:
    return f"run `{ctx.fix_init}` (it reconciles the whole chain)"


def _retarget(ctx: OracleContext, result: CheckResult) -> CheckResult:
    """Our server's generic checks name `oci-mcp init`; for this chain that is the oracle init."""
    if result.fix:
        fix = re.sub(r"`oci-mcp init(?= |`)", f"`{ctx.fix_init}", result.fix)
        result.fix = fix.replace("IAM_DOMAIN", "IDCS_DOMAIN")
    result.detail = result.detail.replace("IAM_DOMAIN in .env", "IDCS_DOMAIN")
    return result


def _admin_gate(ctx: OracleContext, name: str) -> CheckResult | None:
    """:func:`checks._admin_gate`, its fixes retargeted to this chain."""
    gate = C._admin_gate(ctx, name)
    return _retarget(ctx, gate) if gate else None


# 1 ─────────────────────────────────────────────────────────────────────────────────────────────
def check_oracle_env(ctx: OracleContext) -> CheckResult:
    """The project .env records this service; its env file is complete, consistent and 0600."""
    name, env, path = "env", ctx.env, ctx.service_path
    if not env.exists:
        return failed(name, f"{env.path} does not exist", _init(ctx))
    if env.get(E.OCI_MCP_TARGET) != TARGET:
        return failed(
            name,
            f"{env.path} is not an `init --for oracle-mcp` project "
            f"(OCI_MCP_TARGET={env.get(E.OCI_MCP_TARGET) or 'unset'})",
            "pass the --env-file that `init --for oracle-mcp` wrote",
        )
    problems: list[str] = []
    fixes: list[str] = []
    if ctx.service not in ctx.services:
        problems.append(f"{E.OCI_MCP_ORACLE_SERVICES} does not list {ctx.service.name}")
        fixes.append(_init(ctx))
    if not path.exists():
        problems.append(f"{path} does not exist")
        fixes.append(_init(ctx))
    else:
        try:
            ctx.values = E.read_values(path)
        except OciMcpError as exc:  # not UTF-8 text: name it, like the generic env check
            problems.append(exc.message)
            fixes.append(_init(ctx))
        missing = [k for k in REQUIRED if not ctx.values.get(k)]
        if missing:
            problems.append(f"{path.name} lacks {', '.join(missing)}")
            fixes.append(_init(ctx))
        if ctx.audience and env.get(E.IDCS_AUDIENCE) and ctx.audience != env.get(E.IDCS_AUDIENCE):
            problems.append(
                f"{path.name} has IDCS_AUDIENCE {ctx.audience!r} but {env.path.name} recorded "
                f"{env.get(E.IDCS_AUDIENCE)!r}: every sign-in would fail the audience check"
            )
            fixes.append(_init(ctx))
        mode = file_mode(path)
        if mode & 0o077:
            problems.append(f"{path.name} has mode {mode:04o}: other users can read its secret")
            fixes.append(f"run `chmod 600 {shlex.quote(str(path))}`")
    domain = ctx.values.get(E.IDCS_DOMAIN)
    if domain:
        ctx.domain_url = f"https://{domain}"
    base = (ctx.values.get(E.ORACLE_MCP_BASE_URL) or "").rstrip("/")
    if base:
        ctx.server_url = base
    if problems:
        return failed(name, "; ".join(problems), "; ".join(dict.fromkeys(fixes)))
    return passed(
        name,
        f"{path}: complete, mode 0600; audience {ctx.audience}; server {base}{MCP_PATH}",
    )


# 2, 3 ──────────────────────────────────────────────────────────────────────────────────────────
def check_oracle_discovery(ctx: OracleContext) -> CheckResult:
    return _retarget(ctx, C.check_discovery(ctx))


def check_oracle_jwks(ctx: OracleContext) -> CheckResult:
    return _retarget(ctx, C.check_jwks(ctx))


# 4 ─────────────────────────────────────────────────────────────────────────────────────────────
def check_resource_app(ctx: OracleContext) -> CheckResult:
    """The resource app: active, a resource, audience = IDCS_AUDIENCE, the service's scope."""
    from oci_mcp_cli.provisioning import apps
    from oci_mcp_cli.provisioning.resource_app import scope_values

    name = "resource-app"
    gate = _admin_gate(ctx, name)
    if gate:
        return gate
    if not ctx.audience:
        return skipped(name, "needs IDCS_AUDIENCE (see the env check)")
    app_id = ctx.env.get(E.OCI_MCP_RESOURCE_APP_ID)
    display = ctx.env.get(E.OCI_MCP_RESOURCE_APP_NAME)
    try:
        app = apps.get_app_or_none(ctx.session(), app_id) if app_id else None
        if app is None and display:
            app = apps.find_app(ctx.session(), display)
    except OciMcpError as exc:
        return _retarget(ctx, C._admin_failed(name, exc))
    if app is None:
        return failed(
            name, f"no resource app {display or app_id or ''!r} in {ctx.domain_url}", _init(ctx)
        )
    label = f"resource app {app.display_name!r}"
    problems = []
    if not app.active:
        problems.append(f"{label} is inactive")
    if not app.is_o_auth_resource:
        problems.append(f"{label} is not an OAuth resource (isOAuthResource false)")
    if app.audience != ctx.audience:
        problems.append(
            f"{label} has audience {app.audience!r} but the server checks {ctx.audience!r}: "
            "every sign-in fails"
        )
    if ctx.service.scope not in scope_values(app):
        problems.append(f"{label} has no scope {ctx.service.scope}")
    if problems:
        return failed(name, "; ".join(problems), _init(ctx))
    return passed(name, f"{label} active; audience {app.audience}; scope {ctx.service.scope}")


# 5 ─────────────────────────────────────────────────────────────────────────────────────────────
def check_oracle_app(ctx: OracleContext) -> CheckResult:
    """The confidential client: grants, redirect URI, allowedScopes exactly the recorded fqs."""
    name = "app"
    gate = _admin_gate(ctx, name)
    if gate:
        return gate
    if not ctx.client_id or not ctx.audience or not ctx.server_url:
        return skipped(name, "needs IDCS_CLIENT_ID, IDCS_AUDIENCE, ORACLE_MCP_BASE_URL (env check)")
    redirect_uri = ctx.server_url + REDIRECT_PATH
    try:
        app = C._find_app(ctx, ctx.client_id)
    except OciMcpError as exc:
        return _retarget(ctx, C._admin_failed(name, exc))
    if app is None:
        return failed(name, f"no app with client id {ctx.client_id} in {ctx.domain_url}",
                      _init(ctx))
    problems = C.app_problems(app, redirect_uri=redirect_uri, login=True)
    allowed = [s.fqs for s in (app.allowed_scopes or []) if getattr(s, "fqs", None)]
    wanted = [s.fqs(ctx.audience) for s in ctx.services]
    fqs = ctx.service.fqs(ctx.audience)
    if fqs not in allowed:
        problems.append(
            f"app {app.display_name!r} is not allowed scope {fqs}: sign-in fails with invalid_scope"
        )
    extra = [f for f in allowed if f not in wanted]
    if extra:
        problems.append(f"app {app.display_name!r} allows scopes no recorded service uses: "
                        f"{', '.join(extra)}")
    if problems:
        return failed(name, "; ".join(problems), _init(ctx))
    return passed(
        name,
        f"app {app.display_name!r} active, confidential, grants ok, redirect URI {redirect_uri}, "
        f"allowedScopes {', '.join(allowed)}",
    )


# 6 ─────────────────────────────────────────────────────────────────────────────────────────────
def check_oracle_client_secret(ctx: OracleContext) -> CheckResult:
    name = "client-secret"
    endpoint = ctx.token_endpoint
    if not endpoint:
        return skipped(name, "needs a valid IDCS_DOMAIN (see the env check)")
    secret = ctx.values.get(E.IDCS_CLIENT_SECRET)
    if not ctx.client_id or not secret:
        return skipped(name, "needs IDCS_CLIENT_ID and IDCS_CLIENT_SECRET (see the env check)")
    result = C._token_request(ctx, name, endpoint, E.IDCS_CLIENT_ID, ctx.client_id, secret)
    if result is not None:
        return _retarget(ctx, result)
    return passed(name, "the domain accepts IDCS_CLIENT_SECRET")


# 7 ─────────────────────────────────────────────────────────────────────────────────────────────
def check_oracle_trust(ctx: OracleContext) -> CheckResult:
    """The identity propagation trust lists the client (it both signs in and exchanges)."""
    from oci_mcp_cli.provisioning.trust import find_trust

    name = "trust"
    gate = _admin_gate(ctx, name)
    if gate:
        return gate
    if not ctx.issuer:
        return skipped(name, C.NEEDS_ISSUER)
    if not ctx.client_id:
        return skipped(name, "needs IDCS_CLIENT_ID (see the env check)")
    try:
        trust = find_trust(ctx.session(), ctx.issuer)
    except OciMcpError as exc:
        return _retarget(ctx, C._admin_failed(name, exc))
    if trust is None:
        return failed(
            name,
            f"no identity propagation trust for issuer {ctx.issuer}: sign-in works, then the "
            "first tool call fails",
            _init(ctx),
        )
    problems = C.trust_problems(trust, issuer=ctx.issuer, jwks_uri=ctx.jwks_uri,
                                login_id=ctx.client_id, exchange_id=ctx.client_id)
    if problems:
        return failed(name, f"trust {trust.name!r}: " + "; ".join(problems), _init(ctx))
    return passed(name, f"trust {trust.name!r} active, JWKS ok, lists client {ctx.client_id}")


# 8 ─────────────────────────────────────────────────────────────────────────────────────────────
def check_oracle_server(ctx: OracleContext) -> CheckResult:
    """The running server's protected-resource metadata (resource, scope, authorization server)
    and its OAuth authorization-server metadata (endpoints, scope)."""
    name = "server"
    base = ctx.server_url
    if not base:
        return skipped(name, "needs ORACLE_MCP_BASE_URL (see the env check)")
    resource = base + MCP_PATH
    prm_url = base + "/.well-known/oauth-protected-resource" + MCP_PATH
    try:
        response = ctx.http.get(prm_url)
    except Exception as exc:
        return skipped(
            name,
            f"no server reachable at {base} ({exc.__class__.__name__})",
            f"start it with `{ctx.fix_serve}`, then re-run doctor",
        )
    restart = f"restart it with `{ctx.fix_serve}`"
    prm = _json(response)
    if prm is None:
        return failed(
            name,
            f"GET {prm_url} answered HTTP {response.status_code} without protected-resource "
            "metadata: is this the Oracle server for this env file?",
            restart,
        )
    problems = []
    if not C.same_url(prm.get("resource"), resource):
        problems.append(
            f"protected-resource metadata names {prm.get('resource')!r}, expected {resource}: "
            "MCP clients refuse to sign in (ORACLE_MCP_BASE_URL must be the URL clients use)"
        )
    scopes = list(prm.get("scopes_supported") or [])
    if scopes and ctx.service.scope not in scopes:
        problems.append(f"it requires scopes {scopes}, not {ctx.service.scope}")
    if not prm.get("authorization_servers"):
        problems.append("it names no authorization server")
    asm = _json(_get(ctx, base + "/.well-known/oauth-authorization-server"))
    lacking = [k for k in ("authorization_endpoint", "token_endpoint") if not (asm or {}).get(k)]
    if lacking:
        problems.append(
            "no OAuth authorization-server metadata ("
            f"{', '.join(lacking)} missing at {base}/.well-known/oauth-authorization-server)"
        )
    if problems:
        return failed(name, "; ".join(problems), restart)
    return passed(
        name,
        f"{base} serves resource {resource} (scopes {' '.join(scopes) or 'unlisted'}); "
        "OAuth endpoints advertised",
    )


def _get(ctx: OracleContext, url: str) -> Any:
    try:
        return ctx.http.get(url)
    except Exception:
        return None


def _json(response: Any) -> dict[str, Any] | None:
    if response is None or response.status_code != 200:
        return None
    try:
        data = response.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


ORACLE_CHECKS = (
    check_oracle_env,
    check_oracle_discovery,
    check_oracle_jwks,
    check_resource_app,
    check_oracle_app,
    check_oracle_client_secret,
    check_oracle_trust,
    check_oracle_server,
)


def check_name(check: Any) -> str:
    """The name shown while a check runs (``check_oracle_app`` → ``app``)."""
    return check.__name__.removeprefix("check_").removeprefix("oracle_").replace("_", "-")

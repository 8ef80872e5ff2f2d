"""`oci-mcp init`: read the domain, plan every step, apply (each step re-checks before writing)."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from oci_mcp_cli.core import envfile as E
from oci_mcp_cli.core.errors import OciMcpError, RemoteError, UserError
from oci_mcp_cli.core.urls import normalize_server_url
from oci_mcp_cli.provisioning import access, apps, settings, trust
from oci_mcp_cli.provisioning.domains import (
    Discovery,
    DomainChooser,
    DomainInfo,
    fetch_discovery,
    home_region,
    resolve_domain,
)
from oci_mcp_cli.provisioning.plan import (
    Action,
    Plan,
    Step,
    StepHook,
    apply_plan,
    record_env,
    stop_between_steps,
)
from oci_mcp_cli.provisioning.session import (
    DomainSession,
    TargetOptions,
    recorded_credentials,
    resolve_auth,
)

if TYPE_CHECKING:
    from oci_mcp_cli.core.interrupts import InterruptGuard

DEFAULT_SERVER_URL = "http://localhost:8000"
DEFAULT_APP_NAME = "oci-mcp-server"
PENDING = "<new client id>"


# (flag, .env key recording it, default): a re-run defaults to what .env recorded.
RECORDED_SETTINGS = (
    ("server_url", E.MCP_SERVER_URL, DEFAULT_SERVER_URL),
    ("redirect_path", E.MCP_REDIRECT_PATH, E.DEFAULT_REDIRECT_PATH),
    ("app_name", E.OCI_MCP_APP_NAME, DEFAULT_APP_NAME),
    ("exchange_app", E.OCI_MCP_EXCHANGE_APP_NAME, None),
    ("client_claim", E.OCI_MCP_CLIENT_CLAIM, "client_id"),
)


@dataclass
class InitOptions(TargetOptions):
    """Every input of ``init`` (each prompt has a flag). ``None`` settings default to what
    ``.env`` recorded, then to the built-in defaults (:meth:`resolve`)."""

    domain_name: str | None = None
    server_url: str | None = None
    redirect_path: str | None = None
    app_name: str | None = None
    exchange_app: str | None = None
    trust: bool = True
    client_claim: str | None = None
    prune: bool = False
    open_jwks: bool | None = None  # None: ask when interactive, else yes
    adopt: bool = False
    # Who may sign in (provisioning/access.py): either flag given sets the allowed set;
    # neither keeps the one .env recorded.
    allow_groups: list[str] = field(default_factory=list)
    allow_users: list[str] = field(default_factory=list)

    def resolve(self, env: E.EnvFile) -> None:
        """Fill unset settings from ``env`` (a re-run changes nothing unless asked), then the
        defaults; the domain too, unless --domain-url/--domain picks one."""
        for attr, key, default in RECORDED_SETTINGS:
            if getattr(self, attr) is None:
                setattr(self, attr, env.get(key) or default)
        if not self.domain_url and not self.domain_name and env.get(E.IAM_DOMAIN):
            self.domain_url = env.get(E.IAM_DOMAIN)

    @property
    def login_app(self) -> str:
        return self.app_name or DEFAULT_APP_NAME

    def validate(self) -> None:
        """Check the inputs before any network call (bad input → exit 2)."""
        self.server_url = normalize_server_url(self.server_url or DEFAULT_SERVER_URL)
        self.redirect_path = self.redirect_path or E.DEFAULT_REDIRECT_PATH
        if not self.redirect_path.startswith("/"):
            raise UserError(
                f"--redirect-path must start with '/' (got {self.redirect_path!r})",
                hint=f"for FastMCP use {E.DEFAULT_REDIRECT_PATH}",
            )
        if not self.login_app.strip():
            raise UserError("--app-name is empty")
        if self.exchange_app is not None and self.exchange_app.strip() in ("", self.app_name):
            raise UserError("--exchange-app must name a second app, different from --app-name")
        self.client_claim = self.client_claim or "client_id"
        trust.check_client_claim(self.client_claim)


def new_owner_id() -> str:
    """A fresh ownership id for this project's ``.env`` (``<user>-<12 hex>``, tag-safe)."""
    import getpass
    import re

    try:
        user = re.sub(r"[^A-Za-z0-9]", "", getpass.getuser())[:16] or "user"
    except Exception:  # no user name (containers): the random part alone identifies us
        user = "user"
    return f"{user}-{secrets.token_hex(6)}"


@dataclass
class InitRun:
    """A planned (then applied) init: inputs, what was read, and what apply produced."""

    options: InitOptions
    session: DomainSession
    domain: DomainInfo
    env: E.EnvFile
    region: str | None
    plan: Plan
    discovery: Discovery | None = None
    app: Any = None
    exchange_app: Any = None
    trust_id: str | None = None
    trust_created: bool = False
    jwks_opened: bool = False
    signing_key: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    owner: str = field(default_factory=new_owner_id)
    wrote_ahead: bool = False
    access: access.AccessRun | None = None

    # -- values -----------------------------------------------------------------------------
    @property
    def client_id(self) -> str | None:
        return getattr(self.app, "name", None)

    @property
    def exchange_client_id(self) -> str | None:
        return getattr(self.exchange_app or self.app, "name", None)

    def _secret(self, app: Any, key: str) -> str:
        value = getattr(app, "client_secret", None)
        if value:
            return str(value)
        if self.env.get(
            E.IAM_CLIENT_ID if key == E.IAM_CLIENT_SECRET else E.IAM_TOKENEXCHANGE_CLIENT_ID
        ) == app.name and self.env.get(key):
            return str(self.env.get(key))
        raise RemoteError(
            f"the domain did not return the client secret of app {app.display_name!r}",
            hint="regenerate the secret in the console and put it in " + key,
        )

    def settings_values(self) -> dict[str, str]:
        """The ``.env`` values that record this run's inputs (no ids, no secrets): what a plain
        re-run reads back, and the owner id."""
        o, auth = self.options, self.session.auth
        values = {
            E.IAM_DOMAIN: self.domain.url,
            E.MCP_SERVER_URL: str(o.server_url),
            E.MCP_REDIRECT_PATH: str(o.redirect_path),
            E.OCI_MCP_APP_NAME: o.login_app,
            E.OCI_MCP_CLIENT_CLAIM: str(o.client_claim),
            E.OCI_MCP_OWNER: self.owner,
        }
        if o.exchange_app:
            values[E.OCI_MCP_EXCHANGE_APP_NAME] = o.exchange_app
        if self.domain.guid:
            values[E.IAM_GUID] = self.domain.guid
        if self.region:
            values[E.OCI_REGION] = self.region
        if auth.config_file:
            values[E.OCI_CONFIG_FILE] = auth.config_file
            values[E.OCI_PROFILE] = auth.profile or ""
        if auth.service_endpoint:
            values[E.OCI_SERVICE_ENDPOINT] = auth.service_endpoint
        return values

    def env_updates(self) -> dict[str, str]:
        """The ``.env`` values this run provisions (known once the apps exist)."""
        values = self.settings_values()
        values[E.MCP_JWT_SIGNING_KEY] = self.env.get(E.MCP_JWT_SIGNING_KEY) or self.signing_key
        if self.app is not None:
            exchange = self.exchange_app or self.app
            values |= {
                E.IAM_CLIENT_ID: self.app.name,
                E.IAM_CLIENT_SECRET: self._secret(self.app, E.IAM_CLIENT_SECRET),
                E.IAM_TOKENEXCHANGE_CLIENT_ID: exchange.name,
                E.IAM_TOKENEXCHANGE_CLIENT_SECRET: self._secret(
                    exchange, E.IAM_TOKENEXCHANGE_CLIENT_SECRET
                ),
                E.OCI_MCP_APP_ID: self.app.id,
            }
            if self.exchange_app is not None:
                values[E.OCI_MCP_EXCHANGE_APP_ID] = self.exchange_app.id
        if self.domain.url.startswith("https://"):
            # A real domain: also the names Oracle's samples and OCI MCP servers read
            # (IDCS_DOMAIN is the bare host).
            values[E.IDCS_DOMAIN] = urlsplit(self.domain.url).netloc
            if self.app is not None:
                values[E.IDCS_CLIENT_ID] = values[E.IAM_CLIENT_ID]
                values[E.IDCS_CLIENT_SECRET] = values[E.IAM_CLIENT_SECRET]
        if self.trust_id:
            values[E.OCI_MCP_TRUST_ID] = self.trust_id
            values[E.OCI_MCP_TRUST_CREATED] = "true" if self.trust_created else "false"
        if self.jwks_opened or self.env.get(E.OCI_MCP_JWKS_OPENED) == "true":
            values[E.OCI_MCP_JWKS_OPENED] = "true"
        if self.access is not None:
            values |= self.access.record.env_changes()[0]
        order = {key: i for i, key in enumerate(E.PROVISIONED_KEYS)}
        return dict(sorted(values.items(), key=lambda item: order.get(item[0], len(order))))

    def env_changes(self) -> list[str]:
        """The keys whose value would change: ``KEY: old → new`` for a recorded value (secrets
        masked), ``set KEY`` for a new one."""
        updates = self.env_updates()
        if self.app is None:
            updates.setdefault(E.IAM_CLIENT_ID, PENDING)
            updates.setdefault(E.IAM_CLIENT_SECRET, PENDING)
        out = []
        for key, new in updates.items():
            old = self.env.get(key)
            if old == new:
                continue
            if old is None:
                out.append(f"set {key}")
            elif key in E.SECRET_KEYS:
                out.append(f"{key}: replaced (secret)")
            else:
                out.append(f"{key}: {old} → {new}")
        if self.access is not None:
            removed = self.access.record.env_changes()[1]
            out += [f"remove {key}" for key in removed if self.env.get(key)]
            if any(access.is_access_step(s) and s.action.is_change for s in self.plan.steps):
                out.append(
                    f"{E.OCI_MCP_OWNED_GRANTS}, {E.OCI_MCP_ACCESS_CONTROL_SET}: recorded by the "
                    "access steps as they write"
                )
        return out

    def summary(self, show_secrets: bool = False) -> dict[str, Any]:
        """The --json object (secrets only with ``show_secrets``)."""
        data: dict[str, Any] = {
            "domain_url": self.domain.url,
            "domain_name": self.domain.display_name,
            "app_name": self.options.login_app,
            "app_id": getattr(self.app, "id", None),
            "client_id": self.client_id,
            "exchange_app_id": getattr(self.exchange_app, "id", None),
            "exchange_client_id": self.exchange_client_id,
            "trust_id": self.trust_id,
            "owner": self.owner,
            "server_url": self.options.server_url,
            "redirect_uri": f"{self.options.server_url}{self.options.redirect_path}",
            "region": self.region,
            "env_file": str(self.options.env_file),
            "allowed_groups": list(self.access.record.groups) if self.access else [],
            "allowed_users": list(self.access.record.users) if self.access else [],
            "steps": [s.to_dict() for s in self.plan.steps],
        }
        if show_secrets and self.app is not None:
            data["client_secret"] = self._secret(self.app, E.IAM_CLIENT_SECRET)
        return data

    def apply(self, around_step: StepHook | None = None) -> Plan:
        """Apply the plan. The owner id is on disk before the first write (:meth:`_write_ahead`);
        Ctrl-C/SIGTERM finish the step in flight, then stop. If a step fails or the run is
        stopped, what earlier steps provisioned is still recorded in ``.env`` (atomically) so a
        plain re-run or ``teardown`` knows about it; then the error goes on."""
        from oci_mcp_cli.core.interrupts import deferred_interrupts

        with deferred_interrupts() as guard:
            try:
                self._write_ahead()
                if self.access is not None:
                    self.access.backup = not self.wrote_ahead
                return apply_plan(self.plan, self._step_hook(around_step, guard))
            except (OciMcpError, KeyboardInterrupt):
                env_step = self.plan.step("env")
                done = [s for s in self.plan.steps if s.result is not None and s.result.is_change]
                if done and env_step.result is None:
                    with contextlib.suppress(OciMcpError):
                        env_step.result = self._apply_env()
                raise

    def _step_hook(self, around_step: StepHook | None, guard: InterruptGuard) -> StepHook:
        """``around_step`` (the spinner) plus a stop between steps when a signal arrived."""
        hint = "run the same `oci-mcp init` again in this folder: it continues where this stopped"
        return stop_between_steps(around_step, guard, str(self.options.env_file), hint)

    def _write_ahead(self) -> None:
        """Before the first write, record in ``.env`` what a plain re-run and ``teardown`` need
        even if this process is killed mid-step (kill -9): the owner id new apps are tagged with
        (a re-run finds them as ours), this run's settings (domain, names, URLs, credentials: a
        re-run defaults to them, so it looks for what this run made) and that init turns public
        JWKS access on."""
        if not self.plan.has_changes:
            return
        ahead = self.settings_values()
        jwks = next((s for s in self.plan.steps if s.name == "jwks"), None)
        if jwks is not None and jwks.action == Action.UPDATED:
            ahead[E.OCI_MCP_JWKS_OPENED] = "true"
        if any(self.env.get(k) != v for k, v in ahead.items()):
            E.save_env(self.options.env_file, ahead)
            self.wrote_ahead = True

    # -- apply steps ------------------------------------------------------------------------
    def desired_app(self) -> apps.DesiredApp:
        o = self.options
        return apps.DesiredApp.login(
            o.login_app, str(o.server_url), str(o.redirect_path), self.owner
        )

    def desired_exchange_app(self) -> apps.DesiredApp:
        assert self.options.exchange_app
        return apps.DesiredApp.exchange(self.options.exchange_app, self.owner)

    def _ensure(self, desired: apps.DesiredApp, prune: bool) -> tuple[Action, Any]:
        return apps.ensure_app(
            self.session,
            desired,
            prune,
            adopt=self.options.adopt,
            env_path=str(self.options.env_file),
        )

    def _apply_app(self) -> Action:
        action, self.app = self._ensure(self.desired_app(), self.options.prune)
        return action

    def _apply_exchange_app(self) -> Action:
        action, self.exchange_app = self._ensure(self.desired_exchange_app(), False)
        return action

    def _apply_jwks(self) -> Action:
        action = settings.set_jwks_public(self.session, True)
        self.jwks_opened = self.jwks_opened or action == Action.UPDATED
        return action

    def _apply_trust(self) -> Action:
        assert self.discovery and self.client_id and self.exchange_client_id
        desired = trust.DesiredTrust(
            self.discovery.issuer,
            self.discovery.jwks_uri,
            self.exchange_client_id,
            self.client_id,
            str(self.options.client_claim),
            owner=self.owner,
        )
        result = trust.ensure_trust(self.session, desired)
        self.trust_id = result.trust.id
        self.trust_created = self.trust_created or trust.created_by_us(
            result,
            self.env.get(E.OCI_MCP_TRUST_ID),
            self.env.get(E.OCI_MCP_TRUST_CREATED),
            self.owner,
        )
        return result.action

    def _apply_env(self) -> Action:
        remove = [] if self.session.auth.service_endpoint else [E.OCI_SERVICE_ENDPOINT]
        env = self.env
        if self.access is not None:
            remove += self.access.record.env_changes()[1]
            if self.access.saved:  # the access steps recorded their grants already
                env = E.load_env(self.options.env_file)
        # after a write-ahead, .env.bak already holds the file as it was before this run
        ahead = self.wrote_ahead or bool(self.access and self.access.saved)
        return record_env(env, self.env_updates(), remove, backup=not ahead)

    def _app_id(self) -> str:
        assert self.app is not None, "the app step runs before the access steps"
        return str(self.app.id)


def _app_step(
    run: InitRun, name: str, desired: apps.DesiredApp, prune: bool, apply: Callable[[], Action]
) -> tuple[Step, Any]:
    """Plan one app. An existing app that is not this project's (ownership tag) stops the plan
    before any write, unless --adopt: then the takeover and every attribute change is shown."""
    found = apps.find_app(run.session, desired.display_name)
    if found is None:
        purpose = (
            "users sign in to the MCP server through it"
            if desired.redirect_uris
            else "the MCP server exchanges user tokens for OCI session tokens with it"
        )
        return Step(
            name,
            Action.CREATED,
            f"no app named {desired.display_name!r} in the domain yet; {purpose} "
            f"(tagged {apps.OWNER_TAG}={run.owner})",
            apply=apply,
        ), None
    owned = apps.is_owned(found, run.env.get(E.OCI_MCP_OWNER))
    if not owned and not run.options.adopt:
        raise apps.NotOwnedError(found, str(run.options.env_file))
    diff = apps.diff_app(found, desired, prune)
    if not owned:
        return Step(
            name,
            Action.UPDATED,
            f"adopt app {desired.display_name!r} ({found.name}): it was not created by this "
            "project (--adopt); teardown will then delete it",
            changes=diff.changes,
            apply=apply,
        ), found
    if diff.empty:
        return Step(
            name, Action.UNCHANGED, f"app {desired.display_name!r} exists and matches", apply=apply
        ), found
    return Step(
        name,
        Action.UPDATED,
        f"app {desired.display_name!r} drifted",
        changes=diff.changes,
        apply=apply,
    ), found


def _jwks_step(run: InitRun, confirm_jwks: Callable[[], bool] | None) -> Step:
    if settings.jwks_public(run.session):
        return Step("jwks", Action.UNCHANGED, "the JWKS is already public", apply=run._apply_jwks)
    wanted = run.options.open_jwks
    if wanted is None:
        wanted = confirm_jwks() if confirm_jwks else True
    if not wanted:
        return Step(
            "jwks",
            Action.SKIPPED,
            "left closed (--no-open-jwks): the MCP server cannot "
            "verify sign-ins until signingCertPublicAccess is on",
        )
    return Step(
        "jwks",
        Action.UPDATED,
        "domain-wide change: turn on signingCertPublicAccess so the "
        "MCP server can fetch the signing keys",
        changes=["signingCertPublicAccess: true"],
        apply=run._apply_jwks,
    )


def _trust_step(run: InitRun) -> Step:
    if not run.options.trust:
        return Step("trust", Action.SKIPPED, "--no-trust")
    assert run.discovery is not None
    desired = trust.DesiredTrust(
        run.discovery.issuer,
        run.discovery.jwks_uri,
        run.exchange_client_id or PENDING,
        run.client_id or PENDING,
        str(run.options.client_claim),
    )
    existing = trust.find_trust(run.session, desired.issuer)
    if existing is not None:
        run.trust_id = existing.id  # reported by --dry-run --json: the trust it would keep/join
        # Recorded as ours stays ours: the plan must not show OCI_MCP_TRUST_CREATED true → false.
        run.trust_created = trust.created_by_us(
            trust.TrustResult(Action.UNCHANGED, existing, False, []),
            run.env.get(E.OCI_MCP_TRUST_ID),
            run.env.get(E.OCI_MCP_TRUST_CREATED),
        )
    action, reason, changes = trust.plan_ensure(existing, desired)
    return Step("trust", action, reason, changes=changes, apply=run._apply_trust)


def _env_step(run: InitRun) -> Step:
    path = run.options.env_file
    if not run.env.exists:
        return Step(
            "env",
            Action.CREATED,
            f"write {path} (mode 0600): `oci-mcp serve` and `test-client` read it",
            apply=run._apply_env,
        )
    changed = run.env_changes()
    if not changed:
        return Step("env", Action.UNCHANGED, f"{path} is up to date", apply=run._apply_env)
    return Step(
        "env",
        Action.UPDATED,
        f"update {path} (backup kept)",
        changes=changed,
        apply=run._apply_env,
    )


def _region(run_auth: Any) -> str | None:
    try:
        return home_region(run_auth)
    except RemoteError:
        return run_auth.region  # no permission to read subscriptions: the profile's region


def plan_init(
    options: InitOptions,
    *,
    choose_domain: DomainChooser | None = None,
    confirm_jwks: Callable[[], bool] | None = None,
    run_class: type[InitRun] = InitRun,
) -> InitRun:
    """Read the current state and build the plan. Makes no write call. ``run_class``: an
    :class:`InitRun` subclass (``init --for oracle-mcp``, provisioning/oracle_init.py)."""
    env = E.load_env(options.env_file)
    options.resolve(env)
    options.validate()
    auth = resolve_auth(
        options.config_file, options.profile, options.auth, recorded_credentials(env)
    )
    domain = resolve_domain(
        auth, domain_url=options.domain_url, domain_name=options.domain_name, choose=choose_domain
    )
    # The public discovery document first: an unreachable or mistyped domain fails here, fast,
    # with the cause, before the SDK's retry budget is spent on the admin API.
    discovery = fetch_discovery(domain.url)
    run = run_class(
        options=options,
        session=DomainSession(auth, domain.url),
        domain=domain,
        env=env,
        region=_region(auth),
        plan=Plan(f"init {domain.display_name or domain.url}"),
        discovery=discovery,
    )
    if env.get(E.OCI_MCP_OWNER):
        run.owner = str(env.get(E.OCI_MCP_OWNER))
    step, run.app = _app_step(run, "app", run.desired_app(), options.prune, run._apply_app)
    recorded_name = env.get(E.OCI_MCP_APP_NAME)
    if recorded_name and recorded_name != options.login_app:
        step.reason += (
            f"; the app recorded in {options.env_file} ({recorded_name!r}) is left in place "
            "(`oci-mcp teardown` before switching removes it)"
        )
    run.plan.add(step)
    if options.exchange_app:
        step, run.exchange_app = _app_step(
            run, "exchange-app", run.desired_exchange_app(), False, run._apply_exchange_app
        )
        run.plan.add(step)
    else:
        run.plan.add(
            Step(
                "exchange-app",
                Action.SKIPPED,
                "the sign-in app also does the exchange "
                "(pass --exchange-app NAME for a separate client)",
            )
        )
    run.plan.add(_jwks_step(run, confirm_jwks))
    run.plan.add(_trust_step(run))
    run.access, steps = access.plan_for_init(
        run.session, env, run.app, run._app_id, options.allow_groups, options.allow_users
    )
    for step in steps:
        run.plan.add(step)
    run.plan.add(_env_step(run))
    return run

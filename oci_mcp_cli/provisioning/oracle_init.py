"""`oci-mcp init --for oracle-mcp --service S …`: provision Oracle's official OCI MCP servers.

The plan of our own ``init`` (app, exchange-app, jwks, trust, env — same ownership, idempotence,
--dry-run/--json) plus a ``resource-app`` step first: one resource app with a primary audience and
one scope ``oci_mcp.<service>.invoke`` per service. The confidential client gets exactly those
scopes' ``allowedScopes`` (fully qualified), one redirect URI per service
(``{base_url}/auth/callback``) and the authorization-code + client-credentials grants. Services
are recorded in ``.env``; a re-run with another ``--service`` adds it and keeps the others.
Each service gets its own env file ``<env>.oracle-<service>`` with exactly what that server reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from oci_mcp_cli.core import envfile as E
from oci_mcp_cli.core.errors import UserError
from oci_mcp_cli.oracle.services import OracleService, parse_services
from oci_mcp_cli.provisioning import apps, resource_app
from oci_mcp_cli.provisioning.init import InitOptions, InitRun, plan_init
from oci_mcp_cli.provisioning.plan import Action, Step

TARGET = "oracle-mcp"
DEFAULT_APP_NAME = "oracle-mcp-server"
DEFAULT_SERVER_URL = "http://localhost:8000"


@dataclass
class OracleInitOptions(InitOptions):
    services: list[str] = field(default_factory=list)
    audience: str | None = None
    resource_app: str | None = None
    host: str | None = None

    def resolve(self, env: E.EnvFile) -> None:
        if env.get(E.OCI_MCP_TARGET) not in (None, TARGET):
            raise UserError(
                f"{self.env_file} belongs to oci-mcp's own server, not to Oracle's MCP servers",
                hint="use another --env-file (or directory) for `init --for oracle-mcp`",
            )
        if self.app_name is None:
            self.app_name = env.get(E.OCI_MCP_APP_NAME) or DEFAULT_APP_NAME
        self.audience = self.audience or env.get(E.IDCS_AUDIENCE)
        self.resource_app = (
            self.resource_app or env.get(E.OCI_MCP_RESOURCE_APP_NAME) or f"{self.app_name}-resource"
        )
        recorded = parse_services((env.get(E.OCI_MCP_ORACLE_SERVICES) or "").split(","))
        wanted = recorded + [s for s in parse_services(self.services) if s not in recorded]
        if not wanted:
            raise UserError(
                "no service given", hint="name one: --service object-storage (repeatable)"
            )
        self.services = [s.name for s in wanted]
        super().resolve(env)

    @property
    def parsed(self) -> list[OracleService]:
        return parse_services(self.services)


def service_url(server_url: str, index: int) -> str:
    """The base URL of the ``index``-th service: the server URL's port + index."""
    if index == 0:
        return server_url
    parts = urlsplit(server_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return urlunsplit(parts._replace(netloc=f"{parts.hostname}:{port + index}"))


@dataclass
class OracleInitRun(InitRun):
    resource: Any = None

    @property
    def oopts(self) -> OracleInitOptions:
        assert isinstance(self.options, OracleInitOptions)
        return self.options

    @property
    def audience(self) -> str:
        return self.oopts.audience or f"urn:oci-mcp:{self.owner}/"

    def urls(self) -> dict[str, str]:
        base = str(self.options.server_url)
        return {s.name: service_url(base, i) for i, s in enumerate(self.oopts.parsed)}

    def desired_resource(self) -> resource_app.DesiredResource:
        return resource_app.DesiredResource(
            display_name=str(self.oopts.resource_app),
            audience=self.audience,
            scopes=tuple(s.scope for s in self.oopts.parsed),
            owner=self.owner,
        )

    def desired_app(self) -> apps.DesiredApp:
        path = str(self.options.redirect_path)
        return apps.DesiredApp(
            display_name=self.options.login_app,
            grants=apps.LOGIN_GRANTS,
            redirect_uris=tuple(f"{u}{path}" for u in self.urls().values()),
            allow_offline=True,
            description="Oracle OCI MCP servers' OAuth client (created by oci-mcp)",
            owner=self.owner,
            allowed_scopes=tuple(s.fqs(self.audience) for s in self.oopts.parsed),
        )

    def _apply_resource(self) -> Action:
        action, self.resource = resource_app.ensure_resource(
            self.session,
            self.desired_resource(),
            adopt=self.options.adopt,
            env_path=str(self.options.env_file),
        )
        return action

    def env_updates(self) -> dict[str, str]:
        values = super().env_updates()
        values |= {
            E.OCI_MCP_TARGET: TARGET,
            E.OCI_MCP_ORACLE_SERVICES: ",".join(self.oopts.services),
            E.OCI_MCP_RESOURCE_APP_NAME: str(self.oopts.resource_app),
            E.IDCS_AUDIENCE: self.audience,
            E.IDCS_DOMAIN: urlsplit(self.domain.url).hostname or "",
        }
        if self.resource is not None:
            values[E.OCI_MCP_RESOURCE_APP_ID] = self.resource.id
        return values

    def service_env(self, service: OracleService) -> dict[str, str]:
        """Exactly what Oracle's server reads (its ``main`` and ``_get_http_config_and_signer``)."""
        url = self.urls()[service.name]
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        host = self.oopts.host or "127.0.0.1"
        values = {
            E.ORACLE_MCP_HOST: host,
            E.ORACLE_MCP_PORT: str(port),
            E.ORACLE_MCP_BASE_URL: url,
            E.IDCS_DOMAIN: urlsplit(self.domain.url).hostname or "",
            E.IDCS_AUDIENCE: self.audience,
            E.OCI_REGION: self.region or "",
        }
        if self.app is not None:
            values[E.IDCS_CLIENT_ID] = self.app.name
            values[E.IDCS_CLIENT_SECRET] = self._secret(self.app, E.IAM_CLIENT_SECRET)
        tenancy = self.session.auth.tenancy_id
        if tenancy:  # identity 3.x reads TENANCY_ID_OVERRIDE, the oracle-mcp-common ones the other
            values[E.TENANCY_ID_OVERRIDE] = tenancy
            values[E.OCI_MCP_TENANCY_ID_OVERRIDE] = tenancy
        return values

    def service_env_path(self, service: OracleService) -> Path:
        path = Path(self.options.env_file)
        return path.with_name(service.env_file_name(path.name))

    def _apply_env(self) -> Action:
        action = super()._apply_env()
        for service in self.oopts.parsed:
            path = self.service_env_path(service)
            current = E.load_env(path)
            wanted = self.service_env(service)
            if current.exists and all(current.values.get(k) == v for k, v in wanted.items()):
                continue
            E.save_env(path, wanted)
            action = Action.UPDATED if action == Action.UNCHANGED else action
        return action

    def summary(self, show_secrets: bool = False) -> dict[str, Any]:
        data = super().summary(show_secrets)
        data |= {
            "target": TARGET,
            "audience": self.audience,
            "resource_app_id": getattr(self.resource, "id", None),
            "resource_app_name": self.oopts.resource_app,
            "services": [
                {
                    "service": s.name,
                    "package": s.package,
                    "scope": s.scope,
                    "fqs": s.fqs(self.audience),
                    "base_url": self.urls()[s.name],
                    "env_file": str(self.service_env_path(s)),
                }
                for s in self.oopts.parsed
            ],
        }
        data["redirect_uri"] = list(self.desired_app().redirect_uris)
        return data


def _resource_step(run: OracleInitRun) -> Step:
    desired = run.desired_resource()
    found = apps.find_app(run.session, desired.display_name)
    run.resource = found
    scopes = ", ".join(desired.scopes)
    if found is None:
        return Step(
            "resource-app",
            Action.CREATED,
            f"no resource app {desired.display_name!r} yet: audience {desired.audience}, "
            f"scopes {scopes} (tagged {apps.OWNER_TAG}={run.owner})",
            apply=run._apply_resource,
        )
    owned = apps.is_owned(found, run.env.get(E.OCI_MCP_OWNER))
    if not owned and not run.options.adopt:
        raise apps.NotOwnedError(found, str(run.options.env_file))
    diff = resource_app.diff_resource(found, desired)
    if not owned:
        reason = f"adopt resource app {desired.display_name!r} (--adopt)"
        return Step("resource-app", Action.UPDATED, reason, diff.changes, apply=run._apply_resource)
    if diff.empty:
        return Step(
            "resource-app",
            Action.UNCHANGED,
            f"resource app {desired.display_name!r} exists with scopes {scopes}",
            apply=run._apply_resource,
        )
    return Step(
        "resource-app",
        Action.UPDATED,
        f"resource app {desired.display_name!r} drifted",
        changes=diff.changes,
        apply=run._apply_resource,
    )


def plan_oracle_init(options: OracleInitOptions, **kwargs: Any) -> OracleInitRun:
    """Plan (no writes): our init's steps for the Oracle servers, with the resource app first."""
    base = plan_init(options, run_class=OracleInitRun, **kwargs)
    assert isinstance(base, OracleInitRun)
    if not base.domain.url.startswith("https://"):
        raise UserError(
            f"Oracle's MCP servers reach the identity domain as https://IDCS_DOMAIN; "
            f"{base.domain.url} is not an https domain URL",
            hint="use the domain's https URL (--domain-url https://idcs-….identity.oraclecloud.com);"
            " with the sandbox run under `oci-mcp sandbox exec` (transparent https)",
        )
    base.plan.steps.insert(0, _resource_step(base))
    return base

"""`oci-mcp teardown`: reverse exactly what init recorded in .env."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from oci_mcp_cli.core import envfile as E
from oci_mcp_cli.provisioning import apps, settings
from oci_mcp_cli.provisioning.plan import Action, Plan, Step, record_env
from oci_mcp_cli.provisioning.session import DomainSession, TargetOptions, session_from_env
from oci_mcp_cli.provisioning.trust_service import detach_step


@dataclass
class TeardownOptions(TargetOptions):
    """What to tear down and whether to restore the domain setting oci-mcp changed."""

    restore_settings: bool = False


@dataclass
class TeardownRun:
    options: TeardownOptions
    env: E.EnvFile
    session: DomainSession | None  # None when .env recorded nothing to reverse
    plan: Plan

    def summary(self) -> dict[str, Any]:
        return {
            "domain_url": self.session.domain_url if self.session else None,
            "env_file": str(self.options.env_file),
            "steps": [s.to_dict() for s in self.plan.steps],
        }


def _app_step(session: DomainSession, name: str, app_id: str | None) -> Step:
    if not app_id:
        return Step(name, Action.SKIPPED, "no app recorded in .env")
    app = apps.get_app_or_none(session, app_id)
    if app is None:
        return Step(name, Action.UNCHANGED, f"app {app_id} no longer exists")
    how = "deactivate, then delete" if app.active else "delete"
    return Step(
        name,
        Action.DELETED,
        f"{how} app {app.display_name!r} ({app.name})",
        apply=lambda: apps.delete_app(session, app_id),
    )


def _jwks_step(run: TeardownRun) -> Step:
    opened = run.env.get(E.OCI_MCP_JWKS_OPENED) == "true"
    if not opened:
        return Step("jwks", Action.SKIPPED, "oci-mcp did not turn on signingCertPublicAccess")
    if not run.options.restore_settings or run.session is None:
        return Step(
            "jwks",
            Action.SKIPPED,
            "left public (pass --restore-settings to turn signingCertPublicAccess off again)",
        )
    session = run.session
    if not settings.jwks_public(session):
        return Step("jwks", Action.UNCHANGED, "signingCertPublicAccess is already off")
    return Step(
        "jwks",
        Action.UPDATED,
        "domain-wide change: turn signingCertPublicAccess off (oci-mcp turned it on)",
        apply=lambda: settings.set_jwks_public(session, False),
    )


def _env_step(run: TeardownRun) -> Step:
    present = [k for k in E.PROVISIONED_KEYS if k in run.env.values]
    path = run.options.env_file
    if not present:
        return Step("env", Action.UNCHANGED, f"{path} holds no provisioned keys")
    return Step(
        "env",
        Action.UPDATED,
        f"remove the provisioned keys from {path} (backup kept)",
        changes=[f"remove {k}" for k in present],
        apply=lambda: record_env(run.env, {}, E.PROVISIONED_KEYS),
    )


def _nothing_recorded(options: TeardownOptions, env: E.EnvFile) -> TeardownRun:
    """A .env without anything init recorded (already torn down): every step is skipped."""
    run = TeardownRun(options, env, None, Plan("teardown"))
    for name in ("trust", "exchange-app", "app", "jwks", "env"):
        run.plan.add(Step(name, Action.SKIPPED, f"nothing recorded in {options.env_file}"))
    return run


def plan_teardown(options: TeardownOptions) -> TeardownRun:
    """Read what .env recorded and plan its removal. Reads only."""
    env = E.load_env(options.env_file)
    recorded = (E.IAM_DOMAIN, E.OCI_MCP_APP_ID, E.OCI_MCP_EXCHANGE_APP_ID, E.OCI_MCP_TRUST_ID)
    if env.exists and not options.domain_url and not any(env.get(k) for k in recorded):
        return _nothing_recorded(options, env)
    session = session_from_env(env, options)
    run = TeardownRun(options, env, session, Plan("teardown"))
    run.plan.add(detach_step(env, session))
    run.plan.add(_app_step(session, "exchange-app", env.get(E.OCI_MCP_EXCHANGE_APP_ID)))
    run.plan.add(_app_step(session, "app", env.get(E.OCI_MCP_APP_ID)))
    run.plan.add(_jwks_step(run))
    run.plan.add(_env_step(run))
    return run

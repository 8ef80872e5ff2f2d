"""`oci-mcp teardown`: reverse exactly what init recorded in .env — and only what this project owns.

Grants (issue 20, provisioning/access.py): the ones recorded in ``OCI_MCP_OWNED_GRANTS`` are
deleted first; ``allowAccessControl`` is switched off again only when oci-mcp switched it on and
the app stays; the app's other grants are listed as left in place.

An app is deleted only when ``.env`` records its id **and** it carries this project's ownership
tag (``oci-mcp-owner`` = ``OCI_MCP_OWNER``); a shared trust only loses our client id; a trust is
deleted only when oci-mcp created it and no other client is left on it; everything else is left
in place with the reason.

For ``init --for oracle-mcp`` (docs/oracle-mcp.md) it also deletes the resource app under the same
rule (recorded as ``OCI_MCP_RESOURCE_APP_ID`` and tagged), after the client that is allowed its
scopes, and removes the ``<env>.oracle-<service>`` files (and their backups) once the client they
name is gone: they hold nothing but that client's settings and secret.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oci_mcp_cli.core import envfile as E
from oci_mcp_cli.core.files import write_private
from oci_mcp_cli.provisioning import access, apps, settings, trust
from oci_mcp_cli.provisioning.plan import Action, Plan, Step, record_env
from oci_mcp_cli.provisioning.session import DomainSession, TargetOptions, session_from_env
from oci_mcp_cli.provisioning.trust_service import detach_step

STEP_NAMES = ("trust", "exchange-app", "app", "jwks", "env")
ORACLE_STEP_NAMES = ("resource-app", "oracle-env")


@dataclass
class TeardownOptions(TargetOptions):
    """What to tear down and whether to restore the domain setting oci-mcp changed."""

    restore_settings: bool = False
    purge: bool = False


@dataclass
class TeardownRun:
    options: TeardownOptions
    env: E.EnvFile
    session: DomainSession | None  # None when .env recorded nothing to reverse
    plan: Plan
    subjects: dict[str, str] = field(default_factory=dict)  # step -> what it acts on

    def outcome(self) -> dict[str, list[dict[str, str]]]:
        """Resources by fate: delete / update / keep (with why), from the plan or its result."""
        fates: dict[str, list[dict[str, str]]] = {"delete": [], "update": [], "keep": []}
        for step in self.plan.steps:
            subject = self.subjects.get(step.name)
            if subject is None:
                continue
            action = step.result or step.action
            fate = {Action.DELETED: "delete", Action.UPDATED: "update"}.get(action, "keep")
            fates[fate].append({"step": step.name, "what": subject, "why": step.reason})
        return fates

    def summary(self, dry_run: bool = False) -> dict[str, Any]:
        fates = self.outcome()
        names = (
            ("would_delete", "would_update", "would_keep")
            if dry_run
            else ("deleted", "updated", "kept")
        )
        return {
            "domain_url": self.session.domain_url if self.session else None,
            "env_file": str(self.options.env_file),
            "steps": [s.to_dict() for s in self.plan.steps],
            names[0]: fates["delete"],
            names[1]: fates["update"],
            names[2]: fates["keep"],
        }


def is_oracle(env: E.EnvFile) -> bool:
    """The .env was written by ``init --for oracle-mcp``."""
    return env.get(E.OCI_MCP_TARGET) == "oracle-mcp" or bool(env.get(E.OCI_MCP_RESOURCE_APP_ID))


def oracle_env_files(env: E.EnvFile) -> list[Path]:
    """The recorded services' ``<env>.oracle-<service>`` files (and backups) that exist."""
    from oci_mcp_cli.oracle.services import parse_services

    services = parse_services((env.get(E.OCI_MCP_ORACLE_SERVICES) or "").split(","))
    found = []
    for service in services:
        path = env.path.with_name(service.env_file_name(env.path.name))
        found += [p for p in (path, path.with_name(path.name + ".bak")) if p.exists()]
    return found


def _oracle_env_step(run: TeardownRun, app_step: Step) -> Step:
    files = oracle_env_files(run.env)
    if not files:
        return Step("oracle-env", Action.UNCHANGED, "no <env>.oracle-<service> file to remove")
    names = ", ".join(p.name for p in files)
    run.subjects["oracle-env"] = f"env file(s) {names}"
    gone = app_step.action == Action.DELETED or (
        app_step.action == Action.UNCHANGED and "no longer exists" in app_step.reason
    )
    if not gone and not run.options.purge:
        return Step(
            "oracle-env",
            Action.SKIPPED,
            "left in place: the client they name is not deleted (--purge removes them)",
        )

    def remove() -> Action:
        for path in files:
            path.unlink(missing_ok=True)
        return Action.DELETED

    why = "the client they name is deleted" if gone else "--purge"
    return Step("oracle-env", Action.DELETED, f"remove {names} ({why})", apply=remove)


def _app_step(
    run: TeardownRun, name: str, app_id: str | None
) -> tuple[Step, str | None]:
    """Plan one recorded app; returns the step and its client id when its trust entry may go."""
    if not app_id:
        return Step(name, Action.SKIPPED, "no app recorded in .env"), None
    session = run.session
    assert session is not None
    app = apps.get_app_or_none(session, app_id)
    if app is None:
        run.subjects[name] = f"app {app_id}"
        recorded = run.env.get(E.IAM_TOKENEXCHANGE_CLIENT_ID if name != "app" else E.IAM_CLIENT_ID)
        return Step(name, Action.UNCHANGED, f"app {app_id} no longer exists"), recorded
    run.subjects[name] = f"app {app.display_name!r} ({app.name})"
    owner = run.env.get(E.OCI_MCP_OWNER)
    if not apps.is_owned(app, owner):
        tag = apps.owner_of(app)
        why = (
            f"it carries another project's ownership tag ({apps.OWNER_TAG}={tag})"
            if tag
            else f"it has no {apps.OWNER_TAG} tag: oci-mcp did not create it"
        )
        return Step(name, Action.SKIPPED, f"left in place: {why}"), None
    how = "deactivate, then delete" if app.active else "delete"
    return (
        Step(
            name,
            Action.DELETED,
            f"{how} app {app.display_name!r} ({app.name}): recorded in .env and tagged "
            f"{apps.OWNER_TAG}={owner}",
            apply=lambda: apps.delete_app(session, app_id),
        ),
        str(app.name),
    )


def _other_trust_clients(run: TeardownRun, ours: set[str | None]) -> list[str]:
    """Clients other than ours on the recorded trust (they still need the public JWKS)."""
    trust_id = run.env.get(E.OCI_MCP_TRUST_ID)
    if not trust_id or run.session is None:
        return []
    current = trust.get_trust_or_none(run.session, trust_id)
    if current is None:
        return []
    return [c for c in current.oauth_clients or [] if c not in ours]


def _jwks_step(run: TeardownRun, ours: set[str | None]) -> Step:
    opened = run.env.get(E.OCI_MCP_JWKS_OPENED) == "true"
    if not opened:
        return Step("jwks", Action.SKIPPED, "oci-mcp did not turn on signingCertPublicAccess")
    run.subjects["jwks"] = "domain setting signingCertPublicAccess"
    if not run.options.restore_settings or run.session is None:
        return Step(
            "jwks",
            Action.SKIPPED,
            "left public (pass --restore-settings to turn signingCertPublicAccess off again)",
        )
    session = run.session
    if not settings.jwks_public(session):
        return Step("jwks", Action.UNCHANGED, "signingCertPublicAccess is already off")
    others = _other_trust_clients(run, ours)
    if others:
        return Step(
            "jwks",
            Action.SKIPPED,
            f"left public: {len(others)} other client(s) on the domain's trust still need it",
        )
    return Step(
        "jwks",
        Action.UPDATED,
        "domain-wide change: turn signingCertPublicAccess off (oci-mcp turned it on)",
        apply=lambda: settings.set_jwks_public(session, False),
    )


def _torn_down_note(run: TeardownRun) -> str:
    """The comment left in .env: what was torn down and what was left in place."""
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    fates = run.outcome()
    lines = [f"# oci-mcp teardown, {when}:"]
    lines += [f"#   deleted: {f['what']}" for f in fates["delete"]]
    lines += [f"#   updated: {f['what']} ({f['why']})" for f in fates["update"]]
    lines += [f"#   left in place: {f['what']} ({f['why']})" for f in fates["keep"]]
    again = "oci-mcp init --for oracle-mcp --service …" if is_oracle(run.env) else "oci-mcp init"
    lines.append(f"# Run `{again}` to provision again.")
    return "\n".join(lines) + "\n"


def _apply_env(run: TeardownRun) -> Action:
    path = run.options.env_file
    if run.options.purge:
        path.unlink(missing_ok=True)
        return Action.DELETED
    keep_owner = [k for k in E.PROVISIONED_KEYS if k != E.OCI_MCP_OWNER]
    record_env(run.env, {}, keep_owner)
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    write_private(path, text.rstrip("\n") + "\n\n" + _torn_down_note(run))
    return Action.UPDATED


def _env_step(run: TeardownRun) -> Step:
    path = run.options.env_file
    if run.options.purge:
        if not run.env.exists:
            return Step("env", Action.UNCHANGED, f"{path} does not exist")
        return Step(
            "env", Action.DELETED, f"remove {path} (--purge)", apply=lambda: _apply_env(run)
        )
    present = [k for k in E.PROVISIONED_KEYS if k in run.env.values and k != E.OCI_MCP_OWNER]
    if not present:
        return Step("env", Action.UNCHANGED, f"{path} holds no provisioned keys")
    return Step(
        "env",
        Action.UPDATED,
        f"remove the provisioned keys from {path} and note what was torn down (backup kept; "
        f"--purge removes the file)",
        changes=[f"remove {k}" for k in present],
        apply=lambda: _apply_env(run),
    )


def _nothing_recorded(options: TeardownOptions, env: E.EnvFile) -> TeardownRun:
    """A .env without anything init recorded (already torn down): every step is skipped."""
    run = TeardownRun(options, env, None, Plan("teardown"))
    for name in STEP_NAMES + (ORACLE_STEP_NAMES if is_oracle(env) else ()):
        run.plan.add(Step(name, Action.SKIPPED, f"nothing recorded in {options.env_file}"))
    return run


def plan_teardown(options: TeardownOptions) -> TeardownRun:
    """Read what .env recorded and plan its removal. Reads only."""
    env = E.load_env(options.env_file)
    recorded = (E.IAM_DOMAIN, E.OCI_MCP_APP_ID, E.OCI_MCP_EXCHANGE_APP_ID, E.OCI_MCP_TRUST_ID,
                E.OCI_MCP_RESOURCE_APP_ID)
    if env.exists and not options.domain_url and not any(env.get(k) for k in recorded):
        return _nothing_recorded(options, env)
    session = session_from_env(env, options)
    run = TeardownRun(options, env, session, Plan("teardown"))
    for step in access.teardown_grant_steps(session, env, run.subjects):  # before the app
        run.plan.add(step)
    exchange_step, exchange_client = _app_step(
        run, "exchange-app", env.get(E.OCI_MCP_EXCHANGE_APP_ID)
    )
    app_step, login_client = _app_step(run, "app", env.get(E.OCI_MCP_APP_ID))
    if not env.get(E.OCI_MCP_EXCHANGE_APP_ID):
        exchange_client = login_client  # the sign-in app also did the exchange
    if env.get(E.OCI_MCP_TRUST_ID):
        run.subjects["trust"] = f"trust {env.get(E.OCI_MCP_TRUST_ID)}"
    if env.get(E.OCI_MCP_TRUST_ID) and exchange_client is None:
        trust_step = Step(
            "trust", Action.SKIPPED, "left in place: the app it lists for us is not deleted"
        )
    else:
        trust_step = detach_step(env, session, (login_client, exchange_client))
    run.plan.add(trust_step)
    run.plan.add(exchange_step)
    run.plan.add(app_step)
    control = access.teardown_control_step(
        session, env, app_step.action == Action.DELETED, run.subjects
    )
    if control is not None:
        run.plan.add(control)
    if is_oracle(env):  # after the client that is allowed its scopes
        resource_step, _ = _app_step(run, "resource-app", env.get(E.OCI_MCP_RESOURCE_APP_ID))
        run.plan.add(resource_step)
    run.plan.add(_jwks_step(run, {login_client, exchange_client}))
    if is_oracle(env):
        run.plan.add(_oracle_env_step(run, app_step))
    run.plan.add(_env_step(run))
    return run

"""`oci-mcp trust create|list|delete`: the trust alone, domain and clients read from .env."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from oci_mcp_cli.core import envfile as E
from oci_mcp_cli.core.errors import UserError
from oci_mcp_cli.provisioning import trust
from oci_mcp_cli.provisioning.domains import Discovery, fetch_discovery
from oci_mcp_cli.provisioning.plan import Action, Plan, Step, record_env
from oci_mcp_cli.provisioning.session import DomainSession, TargetOptions, open_domain


@dataclass
class TrustOptions(TargetOptions):
    """Inputs shared by the trust subcommands."""

    client_claim: str = "client_id"


@dataclass
class TrustRun:
    """A planned trust create/delete and, after apply, its outcome."""

    options: TrustOptions
    env: E.EnvFile
    session: DomainSession
    plan: Plan
    discovery: Discovery | None = None
    trust_id: str | None = None
    created: bool = False

    @property
    def action(self) -> Action:
        step = self.plan.step("trust")
        return step.result or step.action

    def summary(self) -> dict[str, Any]:
        step = self.plan.step("trust")
        return {
            "trust_id": self.trust_id,
            "action": step.result.value if step.result else step.action.verb,
            "domain_url": self.session.domain_url,
            "env_file": str(self.options.env_file),
            "steps": [s.to_dict() for s in self.plan.steps],
        }


def _client_ids(env: E.EnvFile) -> tuple[str, str]:
    login = env.get(E.IAM_CLIENT_ID)
    exchange = env.exchange_client_id
    if not login or not exchange:
        raise UserError(
            f"{env.path} has no {E.IAM_CLIENT_ID}",
            hint="run `oci-mcp init` first (it creates the app and records its client id)",
        )
    return login, exchange


def plan_create(options: TrustOptions) -> TrustRun:
    """Plan creating (or joining) the domain's trust for our clients. Reads only."""
    trust.check_client_claim(options.client_claim)
    env, session = open_domain(options)
    login, exchange = _client_ids(env)
    discovery = fetch_discovery(session.domain_url)
    owner = env.get(E.OCI_MCP_OWNER) or ""
    desired = trust.DesiredTrust(
        discovery.issuer, discovery.jwks_uri, exchange, login, options.client_claim, owner=owner
    )
    run = TrustRun(options, env, session, Plan("trust create"), discovery)

    def apply_trust() -> Action:
        result = trust.ensure_trust(session, desired)
        run.trust_id = result.trust.id
        run.created = trust.created_by_us(
            result, env.get(E.OCI_MCP_TRUST_ID), env.get(E.OCI_MCP_TRUST_CREATED), owner
        )
        return result.action

    def apply_env() -> Action:
        return record_env(
            env,
            {
                E.OCI_MCP_TRUST_ID: str(run.trust_id),
                E.OCI_MCP_TRUST_CREATED: "true" if run.created else "false",
            },
        )

    existing = trust.find_trust(session, desired.issuer)
    action, reason, changes = trust.plan_ensure(existing, desired)
    if existing is not None and action == Action.UNCHANGED:
        run.trust_id = existing.id
    run.plan.add(Step("trust", action, reason, changes=changes, apply=apply_trust))
    env_action = (
        Action.UNCHANGED
        if (action == Action.UNCHANGED and env.get(E.OCI_MCP_TRUST_ID) == run.trust_id)
        else Action.UPDATED
    )
    run.plan.add(
        Step(
            "env", env_action, f"record {E.OCI_MCP_TRUST_ID} in {options.env_file}", apply=apply_env
        )
    )
    return run


def detach_step(
    env: E.EnvFile,
    session: DomainSession,
    clients: tuple[str | None, str | None] | None = None,
) -> Step:
    """The teardown/delete step: remove our client from the recorded trust, or delete it if ours.
    ``clients`` (login, exchange) overrides the client ids ``.env`` records."""
    trust_id = env.get(E.OCI_MCP_TRUST_ID)
    login, exchange = clients or (env.get(E.IAM_CLIENT_ID), env.exchange_client_id)
    created = env.get(E.OCI_MCP_TRUST_CREATED) == "true"
    action, reason = trust.plan_detach(session, trust_id, exchange, login, created)
    owner = env.get(E.OCI_MCP_OWNER) or ""

    def apply() -> Action:
        assert trust_id
        return trust.detach_trust(session, trust_id, exchange, login, created, owner)

    return Step("trust", action, reason, apply=apply if trust_id else None)


def plan_delete(options: TrustOptions) -> TrustRun:
    """Plan detaching our client from the recorded trust (deleting it when it is only ours)."""
    env, session = open_domain(options)
    trust_id = env.get(E.OCI_MCP_TRUST_ID)
    run = TrustRun(options, env, session, Plan("trust delete"), trust_id=trust_id)
    run.plan.add(detach_step(env, session))
    keys = [E.OCI_MCP_TRUST_ID, E.OCI_MCP_TRUST_CREATED]
    has_keys = any(k in env.values for k in keys)
    run.plan.add(
        Step(
            "env",
            Action.UPDATED if has_keys else Action.UNCHANGED,
            f"forget the trust in {options.env_file}",
            apply=lambda: record_env(env, {}, keys),
        )
    )
    return run


@dataclass(frozen=True)
class TrustRow:
    """One trust as shown by ``trust list``."""

    id: str
    name: str | None
    issuer: str | None
    active: bool
    client_claim: str | None
    oauth_clients: list[str]
    ours: bool

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def list_rows(options: TrustOptions) -> list[TrustRow]:
    """Every trust of the domain, marking those that include our exchange client."""
    env, session = open_domain(options)
    ours = env.exchange_client_id
    return [
        TrustRow(
            id=t.id,
            name=t.name,
            issuer=t.issuer,
            active=bool(t.active),
            client_claim=t.client_claim_name,
            oauth_clients=list(t.oauth_clients or []),
            ours=bool(ours and ours in (t.oauth_clients or [])),
        )
        for t in trust.list_trusts(session)
    ]

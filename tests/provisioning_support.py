"""Helpers for the init/trust/teardown tests: a fast fresh sandbox, the CLI, SDK read-back."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


@pytest.fixture(scope="module")
def seeded_state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded sandbox state dir, made once per module (keys are generated only once)."""
    from oci_mcp_cli.sandbox import Sandbox

    state = tmp_path_factory.mktemp("seeded") / "state"
    with Sandbox(state_dir=state):
        pass
    return state


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCI_MCP_RETRY_BASE_SECONDS", "0.01")
    for name in ("OCI_CLI_CONFIG_FILE", "OCI_CLI_PROFILE"):
        monkeypatch.delenv(name, raising=False)


@dataclass
class Env:
    """A fresh sandbox plus the .env path the CLI writes."""

    sb: Any
    env_file: Path

    @property
    def domain_url(self) -> str:
        return next(d["url"] for d in self.sb.domains if d["type"] == "DEFAULT")

    def cli(self, *args: str, creds: bool = True, env_file: bool = True) -> Result:
        """Run ``oci-mcp <args>`` in-process (the real command code) with the sandbox profile."""
        from oci_mcp_cli.cli.app import app

        argv = list(args)
        if creds:
            argv += ["--config-file", self.sb.config_file, "--profile", self.sb.profile]
        if env_file:
            argv += ["--env-file", str(self.env_file)]
        return CliRunner().invoke(app, argv)

    def steps(self, *args: str, **kw: bool) -> dict[str, str]:
        """Run ``oci-mcp <args>`` (with ``--json``), assert it succeeded, return step -> action."""
        import json

        result = self.cli(*args, **kw)
        assert result.exit_code == 0, result.stderr
        return steps(json.loads(result.stdout))

    def writes(self) -> list[dict[str, Any]]:
        """Write calls to the SCIM admin API since the last clear."""
        return [
            r
            for r in self.sb.requests()
            if r["method"] in WRITE_METHODS and "/admin/v1/" in r["path"]
        ]

    def client(self, domain_url: str | None = None) -> Any:
        """An IdentityDomainsClient as the sandbox admin (read-back and drift injection)."""
        from oci_mcp_cli.core.ociconfig import identity_domains_client, load_oci_auth

        auth = load_oci_auth(self.sb.config_file, self.sb.profile)
        return identity_domains_client(auth, domain_url or self.domain_url)

    def apps(self, name: str = "oci-mcp-server") -> list[Any]:
        data = self.client().list_apps(filter=f'displayName eq "{name}"').data
        return [a for a in data.resources or [] if a.display_name == name]

    def trusts(self) -> list[Any]:
        return list(self.client().list_identity_propagation_trusts().data.resources or [])

    def jwks_public(self) -> bool:
        return bool(self.client().get_setting("Settings").data.signing_cert_public_access)

    def env(self) -> dict[str, str]:
        from oci_mcp_cli.core.envfile import load_env

        return load_env(self.env_file).values


@pytest.fixture
def env(seeded_state: Path, tmp_path: Path) -> Iterator[Env]:
    """A fresh sandbox (copied from the seeded state) and an .env path in a temp dir."""
    from oci_mcp_cli.sandbox import Sandbox

    state = tmp_path / "state"
    shutil.copytree(seeded_state, state)
    with Sandbox(state_dir=state) as sb:
        yield Env(sb=sb, env_file=tmp_path / "proj" / ".env")


def patch(client: Any, kind: str, resource_id: str, *ops: tuple[str, str, Any]) -> None:
    """Inject drift with a SCIM PATCH through the SDK."""
    from oci_mcp_cli.provisioning.scim import patch_op

    getattr(client, f"patch_{kind}")(resource_id, patch_op=patch_op(list(ops)))


def steps(payload: dict[str, Any]) -> dict[str, str]:
    return {s["name"]: s["action"] for s in payload["steps"]}


ISSUER = "https://identity.oraclecloud.com/"


def foreign_trust(env: Env, *, client: str = "other-exchange", login: str = "other-login") -> Any:
    """A trust for the issuer made by someone else (inactive, no JWKS URL: the seed's form)."""
    from oci_mcp_cli.provisioning.trust import DesiredTrust

    body = DesiredTrust(ISSUER, "unused", client, login).body()
    body.name, body.active, body.public_key_endpoint = "For Token Exchange", False, None
    return env.client().create_identity_propagation_trust(identity_propagation_trust=body).data

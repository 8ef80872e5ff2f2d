"""`teardown` of `init --for oracle-mcp`: the resource app goes too (only when owned: recorded in
.env and tagged ``oci-mcp-owner``), the Oracle keys leave .env, and the ``<env>.oracle-<service>``
files (with their backups) are removed once the client they name is deleted.

Needs no Python 3.13: init and teardown only talk to the (transparent) sandbox."""

# ruff: noqa: F811  (pytest fixtures imported from test_oracle_mcp)
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_oracle_mcp import CLI, home, under_exec  # noqa: F401

from oci_mcp_cli.core import envfile as E
from oci_mcp_cli.sandbox import Sandbox

SERVICES = ("object-storage", "identity")


@pytest.fixture
def project(tmp_path: Path, home: Path) -> Iterator[dict[str, Any]]:
    with Sandbox(state_dir=tmp_path / "sb") as sb:
        domain = next(d for d in sb.domains if d["type"] == "DEFAULT")
        env_file = tmp_path / "proj" / ".env"
        env_file.parent.mkdir()
        env_file.write_text("MY_SETTING=keep\n")
        init = under_exec(sb, home, *CLI, "init", "--for", "oracle-mcp", "--service", SERVICES[0],
                          "--service", SERVICES[1], "--yes", "--json", "--env-file", str(env_file),
                          "--domain-url", domain["https_url"], "--server-url",
                          "http://127.0.0.1:18400", "--open-jwks")
        assert init.returncode == 0, init.stdout + init.stderr
        yield {"sb": sb, "env_file": env_file, "home": home, "init": json.loads(init.stdout),
               "domain": domain["url"]}


def teardown(project: dict[str, Any], *args: str) -> dict[str, Any]:
    done = under_exec(project["sb"], project["home"], *CLI, "teardown", "--yes", "--json",
                      "--env-file", str(project["env_file"]), *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def admin(project: dict[str, Any]) -> Any:
    from oci_mcp_cli.core.ociconfig import identity_domains_client, load_oci_auth

    sb = project["sb"]
    return identity_domains_client(load_oci_auth(sb.config_file, sb.profile), project["domain"])


def apps_named(project: dict[str, Any], name: str) -> list[Any]:
    data = admin(project).list_apps(filter=f'displayName eq "{name}"').data
    return [a for a in data.resources or [] if a.display_name == name]


def service_files(env_file: Path) -> list[Path]:
    return sorted(env_file.parent.glob(".env.oracle-*"))


def test_teardown_reverses_oracle_init(project: dict[str, Any]) -> None:
    env_file = project["env_file"]
    resource = project["init"]["resource_app_name"]
    assert len(apps_named(project, resource)) == 1
    assert [p.name for p in service_files(env_file)] == [
        ".env.oracle-identity", ".env.oracle-object-storage"]
    report = teardown(project)
    steps = {s["name"]: s["action"] for s in report["steps"]}
    assert steps == {"trust": "deleted", "exchange-app": "skipped", "app": "deleted",
                     "resource-app": "deleted", "jwks": "skipped", "oracle-env": "deleted",
                     "env": "updated"}
    assert apps_named(project, resource) == [] and apps_named(project, "oracle-mcp-server") == []
    assert service_files(env_file) == []
    values = E.load_env(env_file).values
    assert values.pop(E.OCI_MCP_OWNER)  # the project's identity outlives a teardown
    # OCI_MCP_TARGET stays: the file is still an oracle-mcp project, not our server's .env.
    assert values == {"MY_SETTING": "keep", E.OCI_MCP_TARGET: "oracle-mcp"}
    text = env_file.read_text()
    assert "#   deleted: env file(s) .env.oracle-object-storage" in text
    assert "oci-mcp init --for oracle-mcp --service" in text

    again = teardown(project)
    assert set(s["action"] for s in again["steps"]) == {"skipped"}
    assert {s["name"] for s in again["steps"]} >= {"resource-app", "oracle-env"}


def test_an_untagged_resource_app_is_left_in_place(project: dict[str, Any]) -> None:
    from oci_mcp_cli.provisioning.scim import patch_op

    app_id = E.load_env(project["env_file"]).get(E.OCI_MCP_RESOURCE_APP_ID)
    admin(project).patch_app(app_id, patch_op=patch_op([("REPLACE", "tags", [])]))
    report = teardown(project)
    step = next(s for s in report["steps"] if s["name"] == "resource-app")
    assert step["action"] == "skipped" and "no oci-mcp-owner tag" in step["reason"]
    assert len(apps_named(project, project["init"]["resource_app_name"])) == 1
    assert service_files(project["env_file"]) == []  # the client they named is gone


def test_dry_run_lists_the_oracle_files_and_changes_nothing(project: dict[str, Any]) -> None:
    report = teardown(project, "--dry-run")
    whats = [f["what"] for f in report["would_delete"]]
    assert any(w.startswith("env file(s) .env.oracle-") for w in whats), whats
    assert len(service_files(project["env_file"])) == 2
    assert E.load_env(project["env_file"]).get(E.OCI_MCP_RESOURCE_APP_ID)

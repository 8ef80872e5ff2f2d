"""`oci-mcp new` → `oci-mcp serve --app server.py:mcp` → `oci-mcp test-client --call my_buckets`.

Everything over real HTTP against the sandbox: the real CLI in subprocesses, the real server, the
real OCI SDK inside the scaffolded tool (acting as the signed-in sandbox user through the UPST).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_support import run_cli
from proc_support import log_file
from serve_support import serve_process

from oci_mcp_cli.core.ports import free_port

pytestmark = pytest.mark.e2e


def oci_mcp(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """In-process (``init``, ``new`` and ``test-client`` need no process of their own here);
    the scaffolded server itself runs under ``oci-mcp serve`` in a real process."""
    return run_cli(*args, env=env)


@pytest.fixture
def served_starter(sandbox: Any, tmp_path: Path) -> Iterator[dict[str, Any]]:
    env = {**os.environ, "FASTMCP_HOME": str(tmp_path / "fastmcp"),
           "OCI_MCP_DATA_DIR": str(tmp_path / "data")}
    server_url = f"http://127.0.0.1:{free_port()}"
    env_file = tmp_path / ".env"
    init = oci_mcp("init", "--config-file", sandbox.config_file, "--profile", sandbox.profile,
                   "--server-url", server_url, "--env-file", str(env_file), "--yes", "--json",
                   env=env)
    assert init.returncode == 0, init.stderr

    new = oci_mcp("new", str(tmp_path / "proj"), "--json", env=env)
    assert new.returncode == 0, new.stderr
    app_spec = json.loads(new.stdout)["app"]

    with log_file(tmp_path / "serve.log") as log, serve_process(
        server_url, "--env-file", str(env_file), "--app", app_spec,
        stdout=subprocess.DEVNULL, stderr=log, text=True, env=env,
    ):
        yield {"env": env, "env_file": env_file, "sandbox": sandbox}


def compartment_id(sandbox: Any, name: str) -> str:
    from oci.identity import IdentityClient

    from oci_mcp_cli.core.ociconfig import load_oci_auth, oci_client

    auth = load_oci_auth(sandbox.config_file, sandbox.profile)
    identity = oci_client(IdentityClient, auth)
    found = identity.list_compartments(sandbox.tenancy_id, compartment_id_in_subtree=True).data
    return next(c.id for c in found if c.name == name)


def test_scaffolded_tool_runs_as_the_signed_in_user(served_starter: dict[str, Any]) -> None:
    sandbox = served_starter["sandbox"]
    alice = next(u for u in sandbox.users if u["username"] == "alice")
    engineering = compartment_id(sandbox, "engineering")

    result = oci_mcp(
        "test-client", "--env-file", str(served_starter["env_file"]),
        "--username", "alice", "--password", alice["password"],
        "--call", "my_buckets", "--arg", f"compartment_id={engineering}", "--json",
        env=served_starter["env"],
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert "my_buckets" in report["tools"]
    assert report["calls"]["my_buckets"] == {
        "namespace": "sandboxns",
        "buckets": ["eng-artifacts", "eng-logs"],
    }

    # bob cannot see engineering: the tool runs with *his* identity, not the server's.
    bob = next(u for u in sandbox.users if u["username"] == "bob")
    denied = oci_mcp(
        "test-client", "--env-file", str(served_starter["env_file"]),
        "--username", "bob", "--password", bob["password"],
        "--call", "my_buckets", "--arg", f"compartment_id={engineering}", "--json",
        env=served_starter["env"],
    )
    assert denied.returncode != 0
    error = json.loads(denied.stdout)["errors"]["my_buckets"]
    assert "NotAuthorizedOrNotFound" in error and "opc-request-id" in error
    assert "eng-artifacts" not in denied.stdout

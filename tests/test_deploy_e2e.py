"""Deployment against the sandbox, through the real CLI: `init` → `deploy kubernetes` →
`kubernetes-validate` (three commands), and the container entrypoint (environment → .env →
`serve`) starting a real server."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from proc_support import log_file
from serve_support import provisioned_sandbox, wait_healthy
from test_deploy import K8S_VERSION, tool

from oci_mcp_cli.core import envfile as ef
from oci_mcp_cli.orchestration.serve_process import stop_process
from oci_mcp_cli.sandbox import Sandbox

pytestmark = pytest.mark.e2e


def run(*command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(command), capture_output=True, text=True, timeout=180, cwd=cwd)


def test_init_then_deploy_then_validate_in_three_commands(sandbox: Sandbox, tmp_path: Path) -> None:
    oci_mcp = [sys.executable, "-m", "oci_mcp_cli"]
    # 1. provision the domain for the public URL the deployment will serve
    init = run(*oci_mcp, "init", "--config-file", str(sandbox.config_file), "--profile",
               sandbox.profile, "--server-url", "https://mcp.example.com", "--yes",
               "--no-launch", cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    # 2. render the OKE deployment: 3 replicas sharing an in-cluster Redis
    deploy = run(*oci_mcp, "deploy", "kubernetes", "--env-file", ".env", "--replicas", "3",
                 "--in-cluster-redis", "--image", "iad.ocir.io/ns/oci-mcp:0.1.0",
                 "--out", "deploy", "--json", cwd=tmp_path)
    assert deploy.returncode == 0, deploy.stderr
    result = json.loads(deploy.stdout)
    assert result["redirect_uri"] == "https://mcp.example.com/auth/callback"
    assert result["secret_command"] == (
        "kubectl -n oci-mcp create secret generic oci-mcp-env --from-env-file=.env"
    )
    assert any("sandbox" in w for w in result["warnings"])  # the sandbox is not reachable
    manifests = sorted(str(p.relative_to(tmp_path)) for p in (tmp_path / "deploy").glob("*.yaml"))
    assert len(manifests) == 5
    # 3. validate every manifest offline against the Kubernetes schemas
    validate = run(tool("kubernetes-validate"), "-k", K8S_VERSION, "--strict", *manifests,
                   cwd=tmp_path)
    assert validate.returncode == 0, validate.stdout + validate.stderr
    assert validate.stdout.count("passed") == 7  # namespace, 3 redis, deployment, service, pdb
    lint = run(tool("hadolint"), "--no-color", "deploy/Containerfile", cwd=tmp_path)
    assert lint.returncode == 0, lint.stdout
    # init's real secrets are in .env (mode 0600) and in no rendered file
    env = ef.load_env(tmp_path / ".env")
    secrets = [env.get(key) for key in ef.SECRET_KEYS if env.get(key)]
    assert len(secrets) == 3
    for path in (tmp_path / "deploy").iterdir():
        for secret in secrets:
            assert secret not in path.read_text(), path
    for secret in secrets:
        assert secret not in init.stdout + init.stderr + deploy.stdout + deploy.stderr


def test_container_entrypoint_writes_the_env_file_and_serves(tmp_path: Path) -> None:
    """What the pod runs, minus the container: the Secret's keys arrive as environment
    variables; the entrypoint writes them to a private .env and execs `serve`."""
    with provisioned_sandbox(tmp_path) as (_sb, env_file, server_url):
        values = ef.load_env(env_file).values
        env_path = tmp_path / "run" / "oci-mcp" / ".env"
        environ = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("OCI_MCP_", "IAM_"))},
            **values,
            "OCI_MCP_ENV_FILE": str(env_path),
            "FASTMCP_HOME": str(tmp_path / "fastmcp"),
        }
        port = server_url.rsplit(":", 1)[1]
        # the defaults bind 0.0.0.0:8000; later arguments win, as in a pod spec's args
        with log_file(tmp_path / "entrypoint.log") as log:  # a file never fills up like a pipe
            proc = subprocess.Popen(
                [sys.executable, "-m", "oci_mcp_cli.deploy.entrypoint", "--host", "127.0.0.1",
                 "--port", port],
                env=environ, stdout=subprocess.DEVNULL, stderr=log, text=True,
            )
            try:
                wait_healthy(server_url, proc)
            finally:
                stop_process(proc, grace=15)
        assert stat.S_IMODE(env_path.stat().st_mode) == 0o600
        written = ef.load_env(env_path).values
        assert {k: written[k] for k in values} == values


def test_container_entrypoint_without_the_secret_is_one_clear_error(tmp_path: Path) -> None:
    settings = ("OCI_MCP_", "IAM_", "MCP_")
    environ = {k: v for k, v in os.environ.items() if not k.startswith(settings)}
    environ["OCI_MCP_ENV_FILE"] = str(tmp_path / ".env")
    result = subprocess.run([sys.executable, "-m", "oci_mcp_cli.deploy.entrypoint"],
                            env=environ, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith("error: the environment lacks IAM_DOMAIN")
    assert "--from-env-file" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / ".env").exists()

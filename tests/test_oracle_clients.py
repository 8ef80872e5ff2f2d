"""`client-config --oracle S`: the snippet of every client names Oracle's server,
``ORACLE_MCP_BASE_URL`` + ``/mcp`` (FastMCP's streamable-HTTP path, which those servers keep);
scopes need no config (MCP clients take them from the server's challenge)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from oci_mcp_cli.cli.app import app
from oci_mcp_cli.clientconfig import CLIENTS
from oci_mcp_cli.core.envfile import save_env

BASE = "http://127.0.0.1:8123"


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def env_file(tmp_path: Path) -> Path:
    """What `init --for oracle-mcp --service object-storage` writes (values only)."""
    path = tmp_path / ".env"
    save_env(path, {"OCI_MCP_TARGET": "oracle-mcp", "OCI_MCP_ORACLE_SERVICES": "object-storage",
                    "MCP_SERVER_URL": "http://127.0.0.1:9999"})
    save_env(path.with_name(".env.oracle-object-storage"), {
        "ORACLE_MCP_HOST": "127.0.0.1", "ORACLE_MCP_PORT": "8123", "ORACLE_MCP_BASE_URL": BASE,
        "IDCS_DOMAIN": "idcs-x.identity.oraclecloud.com", "IDCS_CLIENT_ID": "cid",
        "IDCS_CLIENT_SECRET": "secret", "IDCS_AUDIENCE": "urn:a/", "OCI_REGION": "us-ashburn-1"})
    return path


def snippet_urls(client: str, text: str, name: str) -> list[str]:
    spec = CLIENTS[client]
    if spec.is_command:
        argv = shlex.split(text)
        assert name in argv or client in ("mcp-remote", "inspector")  # those name no entry
        return [a for a in argv if a.startswith(("http://", "https://"))]
    entry = json.loads(text)[spec.container][name]
    return [entry["url"]] if "url" in entry else [a for a in entry["args"] if "://" in a]


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_each_snippet_names_the_oracle_server(client: str, env_file: Path) -> None:
    code, out, err = cli("client-config", "--for", client, "--oracle", "object-storage",
                         "--env-file", str(env_file))
    assert code == 0, err
    assert snippet_urls(client, out, "oracle-object-storage") == [BASE + "/mcp"]
    assert "secret" not in out and "scope" not in out.lower()


@pytest.mark.parametrize("client", sorted(k for k, s in CLIENTS.items() if s.writable))
def test_write_merges_the_oracle_entry(client: str, env_file: Path, tmp_path: Path) -> None:
    target = tmp_path / f"{client}.json"
    code, out, err = cli("client-config", "--for", client, "--oracle", "oracle.oci-object-storage"
                         "-mcp-server", "--env-file", str(env_file), "--write", "--path",
                         str(target), "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["name"] == "oracle-object-storage" and result["url"] == BASE + "/mcp"
    spec = CLIENTS[client]
    entry = json.loads(target.read_text())[spec.container]["oracle-object-storage"]
    assert BASE + "/mcp" in json.dumps(entry)


def test_name_and_url_flags_still_win(env_file: Path) -> None:
    code, out, _ = cli("client-config", "--for", "vscode", "--oracle", "object-storage",
                       "--env-file", str(env_file), "--name", "os", "--json")
    assert code == 0
    assert json.loads(out)["name"] == "os"
    code, out, _ = cli("client-config", "--for", "vscode", "--env-file", str(env_file), "--json")
    assert code == 0 and json.loads(out)["name"] == "oci-mcp"  # our own server: unchanged
    assert json.loads(out)["url"] == "http://127.0.0.1:9999/mcp"


def test_a_service_that_was_not_provisioned_says_how(env_file: Path) -> None:
    code, _, err = cli("client-config", "--for", "vscode", "--oracle", "identity",
                       "--env-file", str(env_file))
    assert code == 2
    assert ".env.oracle-identity does not exist" in err
    assert "init --for oracle-mcp --service identity" in err

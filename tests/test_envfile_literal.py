"""One ``.env`` reader, never interpolating (issue 18 item 6): a value holding ``${HOME}`` or
``$X`` reads back exactly as written in every command that reads an env file — `doctor --oracle`
and the Oracle launcher included, which used python-dotenv's interpolating default."""

from __future__ import annotations

import json
import os
from pathlib import Path

from cli_support import run_cli

from oci_mcp_cli.oracle.launcher import environment, service_environment
from oci_mcp_cli.oracle.services import OracleService

SERVICE = OracleService("object-storage")
# As a user may write them by hand (bare and double-quoted: the forms dotenv would interpolate).
AUDIENCE = "urn:aud-${HOME}-$X"
SECRET = "s3cr${HOME}t$X-${NOPE:-dflt}"


def _project(tmp_path: Path) -> Path:
    """A project `init --for oracle-mcp` could have written, edited by hand; every URL on
    loopback ports nothing listens on (the checks after `env` fail fast, offline)."""
    env_file = tmp_path / ".env"
    env_file.write_text(
        "OCI_MCP_TARGET=oracle-mcp\n"
        f"OCI_MCP_ORACLE_SERVICES={SERVICE.name}\n"
        f"IDCS_AUDIENCE={AUDIENCE}\n"
    )
    service_file = tmp_path / SERVICE.env_file_name(".env")
    service_file.write_text(
        "ORACLE_MCP_HOST=127.0.0.1\n"
        "ORACLE_MCP_PORT=9\n"
        "ORACLE_MCP_BASE_URL=http://127.0.0.1:9\n"
        "IDCS_DOMAIN=127.0.0.1:9\n"
        "IDCS_CLIENT_ID=client-1\n"
        f'IDCS_CLIENT_SECRET="{SECRET}"\n'
        f"IDCS_AUDIENCE={AUDIENCE}\n"
        "OCI_REGION=us-ashburn-1\n"
    )
    for path in (env_file, service_file):
        os.chmod(path, 0o600)
    return env_file


def test_doctor_oracle_reads_the_service_file_literally(tmp_path: Path) -> None:
    env_file = _project(tmp_path)
    done = run_cli("doctor", "--oracle", SERVICE.name, "--json", "--env-file", str(env_file),
                   env={"HOME": str(tmp_path), "X": "expanded", "OCI_CLI_CONFIG_FILE": None,
                        "OCI_CONFIG_FILE": None, "HTTPS_PROXY": None, "https_proxy": None})
    checks = {c["name"]: c for c in json.loads(done.stdout)["checks"]}
    env_check = checks["env"]
    assert env_check["ok"] is True, env_check  # no false audience mismatch with the .env
    assert f"audience {AUDIENCE};" in env_check["detail"]


def test_launcher_passes_values_through_literally(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("X", "expanded")
    values = service_environment(_project(tmp_path), SERVICE)
    assert values["IDCS_CLIENT_SECRET"] == SECRET
    assert values["IDCS_AUDIENCE"] == AUDIENCE
    child = environment(values)  # what the server process is started with
    assert child["IDCS_CLIENT_SECRET"] == SECRET and child["IDCS_AUDIENCE"] == AUDIENCE


def test_core_envfile_is_the_only_module_that_parses_env_files() -> None:
    """No second reader can come back with another default (interpolation, aliasing)."""
    package = Path(__file__).resolve().parents[1] / "oci_mcp_cli"
    readers = sorted(
        str(path.relative_to(package)) for path in package.rglob("*.py")
        if "dotenv" in path.read_text(encoding="utf-8")
    )
    assert readers == ["core/envfile.py"]

"""The package skeleton: entry points, lazy imports, templates shipped in the wheel."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path


def run_py(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)


def test_help_does_not_import_heavy_dependencies() -> None:
    code = (
        "import sys, json\n"
        "from typer.testing import CliRunner\n"
        "from oci_mcp_cli.cli.app import app\n"
        "result = CliRunner().invoke(app, ['--help'])\n"
        "heavy = [m for m in ('oci', 'fastmcp', 'mcp', 'uvicorn', 'cryptography')\n"
        "         if m in sys.modules]\n"
        "print(json.dumps({'code': result.exit_code, 'heavy': heavy, 'out': result.output}))\n"
    )
    data = json.loads(run_py(code).stdout)
    assert data["code"] == 0
    assert data["heavy"] == []
    for command in ("init", "trust", "serve", "test-client", "demo", "sandbox", "doctor"):
        assert command in data["out"]


def test_python_dash_m_runs_the_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "oci_mcp_cli", "--version"], capture_output=True, text=True
    )
    assert result.returncode == 0
    assert result.stdout.startswith("oci-mcp ")


def test_unknown_option_is_a_usage_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "oci_mcp_cli", "--no-such-flag"], capture_output=True, text=True
    )
    assert result.returncode == 2


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    import os

    return {**os.environ, "HOME": str(tmp_path), "SHELL": "/bin/bash", **extra}


def test_show_completion_prints_a_script_for_oci_mcp(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "oci_mcp_cli", "--show-completion", "bash"],
        capture_output=True, text=True, env=cli_env(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    assert "complete -o default -F _oci_mcp_completion oci-mcp" in result.stdout
    assert "_OCI_MCP_COMPLETE=complete_bash" in result.stdout
    assert list(tmp_path.iterdir()) == []  # showing installs nothing


def test_completion_script_really_completes(tmp_path: Path) -> None:
    """What the printed script runs on <TAB>: the CLI answers with matching commands/options."""
    def complete(words: str) -> list[str]:
        env = cli_env(tmp_path, COMP_WORDS=words, COMP_CWORD=str(len(words.split()) - 1),
                      _OCI_MCP_COMPLETE="complete_bash")
        result = subprocess.run([sys.executable, "-m", "oci_mcp_cli"], capture_output=True,
                                text=True, env=env)
        assert result.returncode == 0, result.stderr
        return result.stdout.split()

    assert complete("oci-mcp ser") == ["serve"]
    assert "--state-dir" in complete("oci-mcp sandbox --st")


def test_install_completion_writes_the_users_shell_config(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "oci_mcp_cli", "--install-completion", "bash"],
        capture_output=True, text=True, env=cli_env(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    script = tmp_path / ".bash_completions" / "oci-mcp.sh"
    assert "_oci_mcp_completion" in script.read_text()
    assert str(script) in (tmp_path / ".bashrc").read_text()


def test_wheel_ships_templates(built_wheel: Path) -> None:
    names = zipfile.ZipFile(built_wheel).namelist()
    assert "oci_mcp_cli/templates/env.template" in names
    assert "oci_mcp_cli/cli/app.py" in names


def test_env_template_uses_the_schema_keys() -> None:
    from oci_mcp_cli.core import envfile
    from oci_mcp_cli.core.templates import read_template

    text = read_template("env.template")
    for key in (envfile.IAM_DOMAIN, envfile.IAM_CLIENT_ID, envfile.MCP_REDIRECT_PATH):
        assert f"{key}=" in text
    assert f"{envfile.MCP_REDIRECT_PATH}={envfile.DEFAULT_REDIRECT_PATH}" in text

"""`oci-mcp new` and the `serve --app` loader (no server needed here; the e2e test is separate)."""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from oci_mcp_cli.cli.app import app
from oci_mcp_cli.core.errors import UserError
from oci_mcp_cli.scaffold.loader import load_app, split_spec


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_new_writes_a_starter_that_defines_an_oci_tool(tmp_path: Path) -> None:
    code, out, _ = cli("new", str(tmp_path / "proj"), "--json")
    assert code == 0
    result = json.loads(out)
    server = Path(result["path"])
    assert server == tmp_path / "proj" / "server.py"
    assert result["app"] == f"{server}:mcp"
    tree = ast.parse(server.read_text())  # valid Python
    imports = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert "oci_mcp_cli.server.clients" in imports  # the per-user OCI client helper

    mcp = load_app(result["app"])
    assert mcp.name == "my-oci-tools"


def test_new_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    server = tmp_path / "server.py"
    server.write_text("# mine\n")
    code, _, err = cli("new", str(tmp_path))
    assert code == 2
    assert "already exists" in err and "--force" in err
    assert server.read_text() == "# mine\n"
    code, out, _ = cli("new", str(tmp_path), "--force", "--json")
    assert code == 0
    assert json.loads(out)["overwritten"] is True
    assert "FastMCP" in server.read_text()


def test_new_into_a_file_path_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    code, _, err = cli("new", str(tmp_path / "afile"))
    assert code == 2
    assert "not a directory" in err


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("server.py:mcp", ("server.py", "mcp")),
        ("server.py", ("server.py", "mcp")),
        ("pkg.mod:app", ("pkg.mod", "app")),
        ("dir/x.py:server", ("dir/x.py", "server")),
    ],
)
def test_split_spec(spec: str, expected: tuple[str, str]) -> None:
    assert split_spec(spec) == expected


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_load_app_from_a_module_and_with_sibling_imports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path / "helpers_for_app.py", "NAME = 'from-sibling'\n")
    _write(
        tmp_path / "my_app_mod.py",
        "from fastmcp import FastMCP\nfrom helpers_for_app import NAME\nserver = FastMCP(NAME)\n",
    )
    assert load_app(f"{tmp_path / 'my_app_mod.py'}:server").name == "from-sibling"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    assert load_app("my_app_mod:server").name == "from-sibling"


@pytest.mark.parametrize(
    "source, spec, message",
    [
        (None, "missing.py:mcp", "does not exist"),
        ("x = 1\n", "{f}:mcp", "has no attribute 'mcp'"),
        ("from fastmcp import FastMCP\nsrv = FastMCP('a')\n", "{f}:mcp", "use --app"),
        ("mcp = 42\n", "{f}:mcp", "not a FastMCP server"),
        ("raise RuntimeError('boom')\n", "{f}:mcp", "RuntimeError: boom"),
        ("def broken(:\n", "{f}:mcp", "SyntaxError"),
        (None, "no_such_module_xyz:mcp", "no module named"),
        (None, "server.py:not-an-attr", "is not of the form"),
    ],
)
def test_load_app_errors_are_user_errors(
    tmp_path: Path, source: str | None, spec: str, message: str
) -> None:
    file = tmp_path / "appfile.py"
    if source is not None:
        file.write_text(source)
    with pytest.raises(UserError) as info:
        load_app(spec.format(f=file) if "{f}" in spec else str(tmp_path / spec) if
                 spec.startswith("missing") else spec)
    assert message in str(info.value)
    assert info.value.exit_code == 2


def test_serve_app_flag_reports_a_bad_app_before_starting(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(
        "IAM_DOMAIN=https://idcs-00000000000000000000000000000000.identity.oraclecloud.com\n"
        "IAM_CLIENT_ID=abc\nIAM_CLIENT_SECRET=secret-value-123\n"
        "MCP_SERVER_URL=http://localhost:8000\nMCP_JWT_SIGNING_KEY=key-value-123456\n"
    )
    env.chmod(0o600)
    code, _, err = cli("serve", "--env-file", str(env), "--app", str(tmp_path / "nope.py:mcp"))
    assert code == 2
    assert "does not exist" in err and "oci-mcp new" in err
    assert "starting" not in err

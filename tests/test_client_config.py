"""`oci-mcp client-config`: each snippet parses and names {MCP_SERVER_URL}/mcp; --write merges."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from oci_mcp_cli.cli.app import app
from oci_mcp_cli.clientconfig import CLIENTS
from oci_mcp_cli.core.envfile import save_env
from oci_mcp_cli.core.files import file_mode

URL = "https://mcp.example.com"
MCP = URL + "/mcp"


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def urls_in(client: str, text: str) -> list[str]:
    """The server URL(s) a printed snippet connects to, after parsing it as its client would."""
    spec = CLIENTS[client]
    if spec.is_command:
        return [arg for arg in shlex.split(text) if arg.startswith(("http://", "https://"))]
    return entry_urls(json.loads(text)[spec.container]["oci-mcp"])


def entry_urls(entry: dict) -> list[str]:
    """URLs in one server entry: ``url`` (HTTP clients) or the mcp-remote argument."""
    return [entry["url"]] if "url" in entry else [a for a in entry["args"] if "://" in a]


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_each_snippet_parses_and_points_at_the_server(client: str) -> None:
    code, out, _ = cli("client-config", "--for", client, "--url", URL)
    assert code == 0
    assert urls_in(client, out) == [MCP]


def test_expected_shapes() -> None:
    _, out, _ = cli("client-config", "--for", "claude-code", "--url", URL, "--name", "my srv")
    assert shlex.split(out) == ["claude", "mcp", "add", "--transport", "http", "my srv", MCP]
    _, out, _ = cli("client-config", "--for", "vscode", "--url", URL)
    assert json.loads(out) == {"servers": {"oci-mcp": {"type": "http", "url": MCP}}}
    _, out, _ = cli("client-config", "--for", "claude-desktop", "--url", URL)
    entry = json.loads(out)["mcpServers"]["oci-mcp"]
    assert entry == {"command": "npx", "args": ["-y", "mcp-remote", MCP]}
    _, out, _ = cli("client-config", "--for", "inspector", "--url", URL)
    assert shlex.split(out)[:4] == ["npx", "-y", "@modelcontextprotocol/inspector@2.12.0", "--cli"]


def test_url_comes_from_the_env_file(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("MCP_SERVER_URL=http://localhost:8123/\n")
    code, out, _ = cli("client-config", "--for", "cursor", "--env-file", str(env), "--json")
    assert code == 0
    payload = json.loads(out)
    assert payload["url"] == "http://localhost:8123/mcp"
    assert urls_in("cursor", payload["snippet"]) == ["http://localhost:8123/mcp"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--for", "emacs", "--url", URL], "unknown client"),
        (["--for", "vscode", "--url", "http://mcp.example.com"], "http on a non-loopback host"),
        (["--for", "vscode", "--env-file", "/nonexistent/.env"], "no server URL"),
        (["--for", "mcp-remote", "--url", URL, "--write"], "no config file to write"),
    ],
)
def test_bad_input_is_exit_2_with_a_clear_message(args: list[str], message: str) -> None:
    code, out, err = cli("client-config", *args)
    assert code == 2
    assert message in err
    assert "Traceback" not in out + err


@pytest.mark.parametrize("client", [c for c in sorted(CLIENTS) if CLIENTS[c].writable])
def test_write_merges_keeps_other_servers_and_backs_up(client: str, tmp_path: Path) -> None:
    spec = CLIENTS[client]
    target = tmp_path / "config.json"
    original = {
        "theme": "dark",
        spec.container: {"other": {"command": "other-server", "args": ["--x"]}},
    }
    target.write_text(json.dumps(original))
    code, out, _ = cli("client-config", "--for", client, "--url", URL, "--write",
                       "--path", str(target), "--json")
    assert code == 0, out
    result = json.loads(out)
    assert result["action"] == "added"
    merged = json.loads(target.read_text())
    assert merged["theme"] == "dark"
    assert merged[spec.container]["other"] == original[spec.container]["other"]
    assert entry_urls(merged[spec.container]["oci-mcp"]) == [MCP]
    assert json.loads(Path(result["backup"]).read_text()) == original

    # Idempotent: the same entry again changes nothing; a new URL updates only our entry.
    code, out, _ = cli("client-config", "--for", client, "--url", URL, "--write",
                       "--path", str(target), "--json")
    assert json.loads(out)["action"] == "unchanged"
    code, out, _ = cli("client-config", "--for", client, "--url", "http://127.0.0.1:9000",
                       "--write", "--path", str(target), "--json")
    assert json.loads(out)["action"] == "updated"
    merged = json.loads(target.read_text())
    assert merged[spec.container]["other"] == original[spec.container]["other"]


def test_write_creates_the_file_at_the_usual_location(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    code, out, _ = cli("client-config", "--for", "cursor", "--url", URL, "--write", "--json")
    assert code == 0
    assert json.loads(out)["action"] == "created"
    assert json.loads(out)["backup"] is None
    assert json.loads((tmp_path / ".cursor" / "mcp.json").read_text()) == {
        "mcpServers": {"oci-mcp": {"url": MCP}}
    }
    code, _, _ = cli("client-config", "--for", "vscode", "--url", URL, "--write")
    assert code == 0
    assert (tmp_path / ".vscode" / "mcp.json").exists()


def test_write_refuses_invalid_json_and_leaves_it_untouched(tmp_path: Path) -> None:
    target = tmp_path / "claude_desktop_config.json"
    target.write_text('{"mcpServers": {}, // a comment\n}')
    before = target.read_text()
    code, _, err = cli("client-config", "--for", "claude-desktop", "--url", URL, "--write",
                       "--path", str(target))
    assert code == 2
    assert "not valid JSON" in err
    assert target.read_text() == before
    assert not (tmp_path / "claude_desktop_config.json.bak").exists()


def test_templates_load_from_an_installed_wheel(tmp_path: Path, built_wheel: Path) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(built_wheel).extractall(site)
    code = (
        "import json, oci_mcp_cli\n"
        "from oci_mcp_cli.clientconfig import CLIENTS, render_snippet\n"
        "from oci_mcp_cli.core.templates import templates_dir\n"
        "print(json.dumps({'pkg': oci_mcp_cli.__file__, 'tpl': str(templates_dir()),\n"
        "  'out': {k: render_snippet(s, name='n', url='https://x/mcp')\n"
        "          for k, s in CLIENTS.items()},\n"
        "  'starter': (templates_dir() / 'server' / 'server.py').is_file()}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
    )
    data = json.loads(result.stdout)
    assert data["pkg"].startswith(str(site))
    assert data["tpl"] == str(site / "oci_mcp_cli" / "templates")
    assert data["starter"] is True
    for client, text in data["out"].items():
        assert "https://x/mcp" in text, client


def test_restart_hint_only_when_the_file_changed(tmp_path: Path) -> None:
    target = tmp_path / "mcp.json"
    args = ["client-config", "--for", "cursor", "--url", URL, "--write", "--path", str(target)]
    code, _, err = cli(*args)
    assert code == 0 and "restart Cursor" in err, err
    code, out, err = cli(*args)
    assert code == 0 and "unchanged" in out
    assert "restart" not in err, err


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


@pytest.mark.usefixtures("umask_022")
def test_written_project_files_are_ordinary_0644_and_keep_their_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Client configs hold no secret: new ones are plain 0644 project files (not 0600), an
    existing file keeps its mode and so does its .bak; the .env stays 0600."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    for client, path in (("claude-code", ".mcp.json"), ("vscode", ".vscode/mcp.json")):
        code, out, err = cli("client-config", "--for", client, "--url", URL, "--write", "--json")
        assert code == 0, err
        assert json.loads(out)["action"] == "created"
        assert file_mode(tmp_path / path) == 0o644, path
        code, out, _ = cli("client-config", "--for", client, "--url", "http://127.0.0.1:9000",
                           "--write", "--json")
        result = json.loads(out)
        assert result["action"] == "updated"
        assert file_mode(tmp_path / path) == 0o644
        assert file_mode(Path(result["backup"])) == 0o644
    private = tmp_path / "private.json"  # a file its owner made private stays private
    private.write_text("{}")
    private.chmod(0o600)
    code, out, _ = cli("client-config", "--for", "cursor", "--url", URL, "--write",
                       "--path", str(private), "--json")
    assert code == 0 and file_mode(private) == 0o600
    assert file_mode(Path(json.loads(out)["backup"])) == 0o600
    save_env(tmp_path / ".env", {"MCP_SERVER_URL": URL})
    assert file_mode(tmp_path / ".env") == 0o600

"""`oci-mcp test-client` keeps its promises (issue 8): no server is one clear error line (no
asyncio noise), a failed `--relogin` keeps the good cached login, and signing in as a user of
another sandbox domain says so."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_support import cli_process, run_cli

from oci_mcp_cli.core.ports import free_port
from oci_mcp_cli.testing import McpStack


def client(url: str, data_dir: Path, *args: str, password: str | None = None,
           process: bool = False) -> Any:
    """``test-client``: in-process by default; ``process=True`` runs a real process (for what
    the whole process writes, asyncio's noise at exit included)."""
    env = {"OCI_MCP_DATA_DIR": str(data_dir), "OCI_MCP_PASSWORD": password,
           "OCI_MCP_USERNAME": None}
    run = cli_process if process else run_cli
    return run("test-client", "--url", url, *args, env=env)


@pytest.mark.parametrize("how", [["--no-browser"], ["--username", "alice"]])
def test_no_server_is_one_clear_line_without_asyncio_noise(tmp_path: Path, how: list[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}/mcp"
    result = client(url, tmp_path, *how, password="pw", process=True)
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[0].startswith(f"error: cannot connect to the MCP server at {url}: ConnectError")
    assert "refused" in lines[0].lower() or "connect call failed" in lines[0].lower()
    assert "oci-mcp serve" in lines[1] and lines[1].strip().startswith("fix:")
    assert len(lines) == 2, result.stderr
    for noise in ("Traceback", "Task exception", "RuntimeError"):
        assert noise not in result.stderr


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[McpStack]:
    with McpStack(state_dir=tmp_path_factory.mktemp("promises-client")) as st:
        yield st


def password(st: McpStack, username: str) -> str:
    return next(u["password"] for u in st.sandbox.users if u["username"] == username)


def test_failed_relogin_keeps_the_cached_login(stack: McpStack, tmp_path: Path) -> None:
    url = stack.server_url + "/mcp"
    first = client(url, tmp_path, "--username", "alice", "--call", "whoami", "--json",
                   password=password(stack, "alice"))
    assert first.returncode == 0, first.stderr
    failed = client(url, tmp_path, "--username", "alice", "--relogin", "--call", "whoami",
                    password="wrong")
    assert failed.returncode == 2
    assert "wrong username or password" in failed.stderr
    # The good login survives: no password, no sign-in, the call still works.
    stack.sandbox.clear_requests()
    cached = client(url, tmp_path, "--username", "alice", "--call", "whoami", "--json")
    assert cached.returncode == 0, cached.stderr
    assert '"user_name": "alice"' in cached.stdout
    assert not [r for r in stack.sandbox.requests() if r["path"].endswith("/authorize")]
    # A successful relogin replaces it, and leaves no staging directory behind.
    again = client(url, tmp_path, "--username", "alice", "--relogin", "--call", "whoami",
                   password=password(stack, "alice"))
    assert again.returncode == 0, again.stderr
    tokens = tmp_path / "client" / "tokens"
    assert [p.name for p in tokens.iterdir() if "." in p.name] == []


def test_user_of_another_sandbox_domain_is_told_so(stack: McpStack, tmp_path: Path) -> None:
    url = stack.server_url + "/mcp"
    result = client(url, tmp_path, "--username", "carol", "--call", "whoami",
                    password=password(stack, "carol"))
    assert result.returncode == 2
    assert "carol is a user of identity domain Secondary, not Default" in result.stderr
    assert "Traceback" not in result.stderr

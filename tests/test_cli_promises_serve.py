"""`oci-mcp serve` / `init` keep their promises (issue 8): an invalid port in MCP_SERVER_URL is
one line + exit 2 on both paths, a busy port fails before the slow startup work, and a --port
that differs from MCP_SERVER_URL's port is warned about."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from serve_support import serve_process

from oci_mcp_cli.core.envfile import save_env
from oci_mcp_cli.core.ports import free_port
from oci_mcp_cli.sandbox import Sandbox

SECRET = "promises-client-secret-0123456789"
SIGNING = "promises-signing-key-0123456789abcdef"


@pytest.fixture(scope="module")
def sb(shared_sb: Sandbox) -> Sandbox:
    """The session's shared sandbox: these tests only read its domains."""
    return shared_sb


def write_env(path: Path, domain_url: str, server_url: str) -> Path:
    save_env(
        path,
        {
            "IAM_DOMAIN": domain_url,
            "IAM_CLIENT_ID": "not-provisioned",
            "IAM_CLIENT_SECRET": SECRET,
            "MCP_SERVER_URL": server_url,
            "MCP_JWT_SIGNING_KEY": SIGNING,
        },
    )
    return path


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "oci_mcp_cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        env={**os.environ, "FASTMCP_HOME": str(cwd / "fastmcp-home")},
    )


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


def test_serve_rejects_an_invalid_port_in_the_server_url(tmp_path: Path) -> None:
    env = write_env(
        tmp_path / ".env", f"https://{'idcs-' + '0' * 32}.identity.oraclecloud.com",
        "http://localhost:99999",
    )
    result = cli("serve", "--env-file", str(env), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = error_lines(result.stderr)
    assert len(lines) == 2 and lines[1].strip().startswith("fix:"), result.stderr
    assert "MCP_SERVER_URL" in lines[0] and "invalid port '99999'" in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("port", ["99999", "0", "http"])
def test_init_rejects_an_invalid_port_before_any_call(tmp_path: Path, port: str) -> None:
    result = cli(
        "init", "--server-url", f"http://localhost:{port}", "--yes",
        "--config-file", str(tmp_path / "no-oci-config"), cwd=tmp_path,
    )
    assert result.returncode == 2, result.stderr
    lines = error_lines(result.stderr)
    assert f"invalid port '{port}'" in lines[0] and "1-65535" in lines[0]
    assert lines[1].strip().startswith("fix:") and len(lines) == 2
    assert not (tmp_path / ".env").exists()


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as other:  # "the other process" holding the port
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


def test_busy_port_fails_before_startup_work(tmp_path: Path, busy_port: int) -> None:
    # The domain is unreachable and the --app writes a marker when imported: a bind check that
    # comes first reports the port, not discovery, and never imports the app.
    marker = tmp_path / "imported"
    app_file = tmp_path / "server.py"
    app_file.write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('x')\nmcp = None\n"
    )
    dead = f"http://127.0.0.1:{free_port()}/idcs-{'0' * 32}"
    env = write_env(tmp_path / ".env", dead, f"http://127.0.0.1:{busy_port}")
    result = cli("serve", "--env-file", str(env), "--app", f"{app_file}:mcp", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = error_lines(result.stderr)
    assert lines[0] == (
        f"error: cannot listen on 127.0.0.1:{busy_port}: the address is already in use"
    )
    assert "--port" in lines[1] and "stop the process" in lines[1] and len(lines) == 2
    assert not marker.exists()
    assert "discovery" not in result.stderr and "Traceback" not in result.stderr


def test_port_different_from_server_url_is_warned_once(tmp_path: Path, sb: Sandbox) -> None:
    url_port, port = free_port(), free_port()
    env = write_env(tmp_path / ".env", sb.domains[0]["url"], f"http://127.0.0.1:{url_port}")
    log = tmp_path / "serve.log"
    with log.open("w") as sink, serve_process(
        f"http://127.0.0.1:{port}", "--env-file", str(env), "--port", str(port),
        "--storage-dir", str(tmp_path / "oauth"), stdout=sink, stderr=subprocess.STDOUT,
        text=True,
    ):
        pass
    warnings = [line for line in log.read_text().splitlines() if line.startswith("warning:")]
    assert warnings == [
        f"warning: serving on port {port}, but MCP_SERVER_URL is http://127.0.0.1:{url_port}: "
        f"sign-in redirects still go to port {url_port} (change it with `oci-mcp init "
        "--server-url`, or put a proxy in front)"
    ]


def test_warnings_in_a_json_log_are_json_records(tmp_path: Path, sb: Sandbox) -> None:
    """``--log-format json``: the start-up warnings (here the port mismatch) are JSON records
    like the rest of standard error, which stays one object per line for a log shipper."""
    import json

    url_port, port = free_port(), free_port()
    env = write_env(tmp_path / ".env", sb.domains[0]["url"], f"http://127.0.0.1:{url_port}")
    log = tmp_path / "serve.log"
    with log.open("w") as sink, serve_process(
        f"http://127.0.0.1:{port}", "--env-file", str(env), "--port", str(port),
        "--storage-dir", str(tmp_path / "oauth"), "--log-format", "json", "--audit-log", "off",
        stdout=subprocess.DEVNULL, stderr=sink,
    ):
        pass
    records = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    mismatch = [r for r in records if r["message"].startswith(f"serving on port {port}")]
    assert len(mismatch) == 1, records
    assert mismatch[0]["level"] == "WARNING" and mismatch[0]["logger"] == "oci_mcp.server"
    assert set(mismatch[0]) == {"time", "level", "logger", "message"}
    assert any(r["message"].startswith("starting http://") for r in records), records


def test_same_port_as_server_url_is_not_warned(tmp_path: Path, sb: Sandbox) -> None:
    """A server started as in production (no FASTMCP_TEST_MODE, which the suite sets): no
    warning of any kind."""
    port = free_port()
    env = write_env(tmp_path / ".env", sb.domains[0]["url"], f"http://127.0.0.1:{port}")
    log = tmp_path / "serve.log"
    production = {k: v for k, v in os.environ.items() if k != "FASTMCP_TEST_MODE"}
    with log.open("w") as sink, serve_process(
        f"http://127.0.0.1:{port}", "--env-file", str(env), "--port", str(port),
        "--storage-dir", str(tmp_path / "oauth"), stdout=sink, stderr=subprocess.STDOUT,
        env=production,
    ):
        pass
    said = log.read_text()
    assert "warning:" not in said.lower() and "FASTMCP_TEST_MODE" not in said, said


def test_fastmcp_test_mode_is_warned_once(tmp_path: Path, sb: Sandbox) -> None:
    """FastMCP's test switch (10 PBKDF2 rounds for the token signing key) on a server: one
    warning line that names it and says to unset it; the server still serves."""
    from oci_mcp_cli.server.app import TEST_MODE_WARNING

    port = free_port()
    env = write_env(tmp_path / ".env", sb.domains[0]["url"], f"http://127.0.0.1:{port}")
    log = tmp_path / "serve.log"
    with log.open("w") as sink, serve_process(
        f"http://127.0.0.1:{port}", "--env-file", str(env), "--port", str(port),
        "--storage-dir", str(tmp_path / "oauth"), stdout=sink, stderr=subprocess.STDOUT,
        env={**os.environ, "FASTMCP_TEST_MODE": "yes"},
    ):
        pass
    lines = [line for line in log.read_text().splitlines() if "FASTMCP_TEST_MODE" in line]
    assert len(lines) == 1 and "WARNING" in lines[0], lines
    assert lines[0].endswith(TEST_MODE_WARNING) and "unset it" in TEST_MODE_WARNING

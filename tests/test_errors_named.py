"""Issue #18 item 5: every error names its cause (what failed, why, how to fix), in the one
``--json`` object too."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import run_cli
from replica_support import HAProxy

from oci_mcp_cli.core.ports import free_port


@pytest.fixture
def no_backend_lb(tmp_path: Path) -> Iterator[str]:
    """A real ``haproxy`` whose only backend is a bound, never-listening port (connection
    refused, health check down): it answers every request 503 "No server is available", like
    an OCI load balancer with no healthy backend. Yields its ``/mcp`` URL."""
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))  # held, not listening: nothing else can take the port
    try:
        with HAProxy(tmp_path, free_port(), [dead.getsockname()[1]]) as lb:
            yield f"http://127.0.0.1:{lb.port}/mcp"
    finally:
        dead.close()


def test_load_balancer_503_names_status_url_and_what_to_check(
    no_backend_lb: str, tmp_path: Path
) -> None:
    env = {"OCI_MCP_DATA_DIR": str(tmp_path / "data"), "OCI_MCP_PASSWORD": "unused"}
    result = run_cli("test-client", "--url", no_backend_lb, "--username", "alice", env=env)
    assert result.returncode == 1, result
    text = " ".join(result.stderr.split())
    assert "ExceptionGroup" not in text and "TaskGroup" not in text, text
    assert "HTTP 503" in text and no_backend_lb in text, text
    assert "no healthy backend" in text and "/health" in text, text
    assert "Traceback" not in text

"""The image's HEALTHCHECK (`python -m oci_mcp_cli.deploy.healthcheck`) checks where the
entrypoint started `serve`: a `--port` in the container's arguments moves the check with it
(tests/test_image.py runs it inside the built image)."""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_deploy import write_env

from oci_mcp_cli.core import envfile as ef
from oci_mcp_cli.core.ports import free_port
from oci_mcp_cli.deploy import entrypoint


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def healthcheck(env_file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "oci_mcp_cli.deploy.healthcheck"],
                          env={"OCI_MCP_ENV_FILE": str(env_file), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("args", "url"), [
    ([], "http://127.0.0.1:8000/health"),
    (["--port", "9000"], "http://127.0.0.1:9000/health"),
    (["--port=9001", "--host", "::1"], "http://[::1]:9001/health"),
    (["--host", "10.0.0.7", "--port", "8000", "--port", "8100"], "http://10.0.0.7:8100/health"),
])
def test_the_health_url_follows_serves_last_host_and_port(args: list[str], url: str) -> None:
    assert entrypoint.health_url(entrypoint.serve_argv(Path("/tmp/x/.env"), args)) == url


def test_the_healthcheck_checks_the_port_the_arguments_gave(tmp_path: Path,
                                                             health_server: int) -> None:
    env_file = tmp_path / "run" / ".env"
    environ = {**ef.load_env(write_env(tmp_path / "secret.env")).values,
               "OCI_MCP_ENV_FILE": str(env_file)}
    entrypoint.prepare(environ, ["--host", "127.0.0.1", "--port", str(health_server)])
    assert (env_file.parent / "health-url").read_text() == (
        f"http://127.0.0.1:{health_server}/health\n")
    ok = healthcheck(env_file)
    assert ok.returncode == 0, ok.stderr
    # nothing listens on the port the next arguments give: unhealthy, one line, no traceback
    closed = free_port()
    entrypoint.prepare(environ, ["--host", "127.0.0.1", "--port", str(closed)])
    bad = healthcheck(env_file)
    assert bad.returncode == 1
    assert bad.stderr.startswith(f"unhealthy: GET http://127.0.0.1:{closed}/health failed")
    assert "Traceback" not in bad.stderr and bad.stderr.count("\n") == 1

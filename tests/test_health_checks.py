"""``/health`` behind a load balancer: answered whatever the ``Host`` (haproxy's default
``option httpchk GET /health`` is HTTP/1.0 without one), while the Host/Origin guard stays on every
other path. Real server on a loopback bind, raw HTTP and a real ``haproxy``.
docs/security.md "Health checks from a load balancer"."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from guard_support import base, serving
from replica_support import require_binary
from serve_support import provisioned_sandbox

from oci_mcp_cli.core.ports import free_port
from oci_mcp_cli.core.waiting import poll_until
from oci_mcp_cli.orchestration.serve_process import stop_process
from oci_mcp_cli.server.config import ServerSettings, load_settings

pytestmark = pytest.mark.e2e
METADATA = "/.well-known/oauth-authorization-server"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, ServerSettings]]:
    tmp = tmp_path_factory.mktemp("health")
    with provisioned_sandbox(tmp) as (_, env_file, _url):
        yield tmp, load_settings(env_file, storage_dir=tmp / "oauth", log_level="WARNING")


def raw(port: int, request: bytes) -> tuple[int, bytes]:
    """Send ``request`` as is on a fresh loopback connection; the status code and the whole
    answer (HTTP/1.0: the server closes the connection after it)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0
    return status, answer


def test_health_answers_without_a_host_and_the_guard_stays_elsewhere(env: Any) -> None:
    _, settings = env
    with serving(settings) as server:
        port = server.port
        status, answer = raw(port, b"GET /health HTTP/1.0\r\n\r\n")  # haproxy's default check
        assert status == 200, f"GUARANTEE health-any-host: HTTP/1.0 without Host: {answer!r}"
        assert b'"status":"ok"' in answer.replace(b" ", b"")
        status, _ = raw(port, b"HEAD /health HTTP/1.0\r\n\r\n")
        assert status == 200, "GUARANTEE health-any-host: HEAD without Host"
        foreign = httpx.get(base(server) + "/health", headers={"Host": "lb-probe.internal"})
        assert foreign.status_code == 200, "GUARANTEE health-any-host: a foreign Host"
        # everything else keeps the DNS-rebinding guard, with or without a Host
        for request in (b"GET " + METADATA.encode() + b" HTTP/1.0\r\n\r\n",
                        b"POST /mcp HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}",
                        b"GET /healthz HTTP/1.0\r\n\r\n",
                        b"GET /health/../mcp HTTP/1.0\r\n\r\n"):
            status, answer = raw(port, request)
            assert status == 421, f"GUARANTEE host-guard-elsewhere: {request!r} -> {answer!r}"
        rebound = httpx.get(base(server) + METADATA, headers={"Host": "attacker.example"})
        assert rebound.status_code == 421, "GUARANTEE host-guard-elsewhere: foreign Host"
        assert httpx.get(base(server) + METADATA).status_code == 200


HAPROXY_CONFIG = """\
global
    maxconn 100
    stats socket {stats} mode 600 level user

defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s

frontend mcp
    bind 127.0.0.1:{port}
    default_backend replicas

backend replicas
    option httpchk GET /health
    default-server inter 200ms fall 1 rise 1
    server r0 127.0.0.1:{backend} check
"""


def _check_status(stats: Path) -> str:
    """haproxy's last health-check result for server r0 (``L7OK``, ``L7STS`` (bad status), …;
    empty or ``INI`` before the first check completes)."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(5)
        sock.connect(str(stats))
        sock.sendall(b"show stat\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    lines = data.decode().splitlines()
    header = lines[0].lstrip("# ").split(",")
    for line in lines[1:]:
        row = dict(zip(header, line.split(","), strict=False))
        if row.get("pxname") == "replicas" and row.get("svname") == "r0":
            return row.get("check_status", "").lstrip("* ")  # "* ": a check is running
    return ""


def test_haproxy_default_httpchk_keeps_the_server_up(env: Any) -> None:
    import subprocess

    binary = require_binary("haproxy")
    tmp, settings = env
    stats = tmp / "haproxy.sock"
    with serving(settings) as server:
        front = free_port()
        config = tmp / "haproxy.cfg"
        config.write_text(HAPROXY_CONFIG.format(stats=stats, port=front, backend=server.port))
        log = (tmp / "haproxy.log").open("wb")
        proc = subprocess.Popen([binary, "-db", "-f", str(config)], stdout=log, stderr=log)
        try:
            checked = poll_until(
                lambda: proc.poll() is not None
                or (stats.exists() and _check_status(stats) not in ("", "INI")),
                timeout=20, interval=0.05,
            )
            assert checked and proc.poll() is None, (tmp / "haproxy.log").read_text()
            status = _check_status(stats)
            assert status == "L7OK", (
                f"GUARANTEE health-any-host: haproxy's `option httpchk GET /health` marks the "
                f"server down ({status})"
            )
            through = httpx.get(f"http://127.0.0.1:{front}/health",
                                headers={"Host": f"127.0.0.1:{server.port}"}, timeout=10)
            assert through.status_code == 200, through.text
        finally:
            stop_process(proc, grace=10)
            log.close()

"""Helpers for the tests that run the MCP server: a provisioned sandbox, `oci-mcp serve` as a
subprocess, and its /health readiness check."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

READY_TIMEOUT_S = 60


@contextmanager
def provisioned_sandbox(tmp: Path) -> Iterator[tuple[Any, Path, str]]:
    """A running sandbox in ``tmp/sandbox`` that init provisioned into ``tmp/.env`` for a server
    on a free loopback port; yields ``(sandbox, env_file, server_url)``."""
    from oci_mcp_cli.client.demo import free_port, provision
    from oci_mcp_cli.sandbox import Sandbox

    with Sandbox(state_dir=tmp / "sandbox") as sb:
        env_file = tmp / ".env"
        server_url = f"http://127.0.0.1:{free_port()}"
        provision(sb, env_file, server_url)
        yield sb, env_file, server_url


def wait_healthy(base: str, proc: subprocess.Popen[Any], timeout: float = READY_TIMEOUT_S) -> None:
    """Poll ``base``/health until it answers 200; fail with the server's stderr (when piped) if
    the process exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            output = proc.stderr.read() if proc.stderr else ""
            raise AssertionError(f"serve exited with {proc.returncode}: {output}")
        try:
            if httpx.get(base + "/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)  # readiness poll interval
    raise AssertionError(f"serve did not answer {base}/health in time")


@contextmanager
def serve_process(base: str, *args: str, **popen: Any) -> Iterator[subprocess.Popen[Any]]:
    """``oci-mcp serve <args>`` in a subprocess, yielded once ``base``/health answers; stopped
    (terminate, then kill) on exit."""
    proc = subprocess.Popen([sys.executable, "-m", "oci_mcp_cli", "serve", *args], **popen)
    try:
        wait_healthy(base, proc)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

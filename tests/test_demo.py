"""`oci-mcp demo`: the README quick start passes as a real CLI run and cleans up after itself."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from proc_support import STOP_TIMEOUT_S, Drain

pytestmark = pytest.mark.e2e


def test_demo_json_proves_each_user_sees_their_own(tmp_path: Path) -> None:
    work, temp = tmp_path / "work", tmp_path / "tmp"  # TMPDIR of its own: what it leaves is visible
    work.mkdir()
    temp.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "oci_mcp_cli", "demo", "--json"],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=work,
        env={**os.environ, "TMPDIR": str(temp)},
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["ok"] is True and data["problems"] == []
    assert [s["stage"] for s in data["stages"]] == [
        "sandbox",
        "init + trust",
        "serve",
        "test-client as alice + bob",
    ]
    alice, bob = data["users"]["alice"]["calls"], data["users"]["bob"]["calls"]
    assert alice["whoami"]["user_name"] == "alice" and bob["whoami"]["user_name"] == "bob"
    assert alice["whoami"]["user_ocid"] != bob["whoami"]["user_ocid"]
    assert {c["name"] for c in alice["list_compartments"]} == {
        "engineering",
        "engineering-dev",
        "shared",
    }
    assert {c["name"] for c in bob["list_compartments"]} == {"finance", "shared"}
    for stage in ("sandbox", "init + trust", "serve", "test-client as alice + bob"):
        assert stage in result.stderr  # each stage printed with its time
    assert not re.search(r"eyJ[\w-]{4,}\.[\w-]{4,}\.", result.stdout + result.stderr)
    assert list(work.iterdir()) == []  # nothing written to the working directory
    assert list(temp.iterdir()) == []  # its temporary state is removed


def test_demo_keep_serves_until_ctrl_c_then_cleans_up(tmp_path: Path) -> None:
    """`demo --keep`: prints how to connect, keeps serving, and on SIGINT stops, removes its
    temporary directory (TMPDIR points at tmp_path so we can see it) and exits 0."""
    import signal

    import httpx

    proc = subprocess.Popen(
        [sys.executable, "-m", "oci_mcp_cli", "demo", "--keep"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    out = Drain(proc.stdout)  # read all along: an unread pipe can block the demo
    try:
        lines: list[str] = []
        assert proc.stderr is not None
        for line in proc.stderr:  # readiness: the connection instructions are printed
            lines.append(line)
            if line.strip().startswith(".env"):
                break
        err = Drain(proc.stderr)  # the rest, likewise
        text = "".join(lines)
        assert "Ctrl-C" in text, text
        url = re.search(r"MCP endpoint\s*: (\S+)", text)
        assert url, text
        assert re.search(r"sign in as\s*: alice / \S+, bob / \S+", text)
        assert "oci-mcp client-config --for" in text and url.group(1).removesuffix("/mcp") in text
        assert len(list(tmp_path.glob("oci-mcp-demo-*"))) == 1  # state kept while serving
        base = url.group(1).removesuffix("/mcp")
        assert httpx.get(base + "/health", timeout=10).status_code == 200
        assert httpx.post(url.group(1), json={}, timeout=10).status_code == 401
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=STOP_TIMEOUT_S)
        stdout, rest = out.text(), err.text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, (text, stdout, rest)
    assert "alice" in stdout and "bob" in stdout  # the side-by-side table
    assert "Traceback" not in rest
    assert "stopped and removed" not in text and "stopped and removed" in rest
    assert list(tmp_path.glob("oci-mcp-demo-*")) == []
    with pytest.raises(httpx.TransportError):
        httpx.get(base + "/health", timeout=5)

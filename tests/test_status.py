"""`oci-mcp status` (issue 19 §5): a live view of a running server in a real terminal (tmux), a
`--json` snapshot for scripts, clear errors when the server or its metrics cannot be reached."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest
from conftest import need_tool
from serve_support import ServerStack, ok, server_stack, signed_in
from test_init_terminal import Terminal
from test_metrics import run_sequence

from oci_mcp_cli.core.ports import free_port
from oci_mcp_cli.orchestration.serve_process import cli_command


@dataclass
class Running:
    stack: ServerStack
    url: str
    metrics_url: str


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """An in-process server with metrics, after test_metrics' sequence (5 calls by two users:
    one tool error, one 404 from OCI)."""
    tmp = tmp_path_factory.mktemp("status")
    with server_stack(tmp, metrics_port="0") as st:
        assert st.server is not None and st.server.metrics_url
        run_sequence(st)
        yield Running(st, st.settings.server_url, st.server.metrics_url)


def status(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cli_command("status", *args), capture_output=True, text=True,
                          timeout=120)


def test_json_snapshot_of_a_running_server(running: Running) -> None:
    result = status("--url", running.url, "--metrics-url", running.metrics_url, "--json",
                    "--interval", "0.2")
    assert result.returncode == 0, result.stderr
    snap = json.loads(result.stdout)
    assert snap["status"] == "ok" and snap["storage"] == "ok"
    assert snap["storage_backend"] == "file"
    assert snap["calls"] == 5 and snap["calls_per_s"] == 0  # none in the 0.2 s window
    assert snap["errors"] == {"tool_error": 1}
    assert snap["signed_in_users"] == 2
    assert snap["exchanges"] == {"ok": 2} and snap["exchange_failures"] == {}
    assert snap["oci_requests"] == {"200": 5, "404": 1}
    assert snap["open_breakers"] == [] and snap["refusals"] == {"rate_limited": 0,
                                                                 "session_cap": 0}
    assert snap["p50_s"] is None  # no call in the window
    assert 0 < snap["p50_since_start_s"] <= snap["p95_since_start_s"] <= 60
    rows = {r["tool"]: (r["calls"], r["errors"]) for r in snap["tools"]}
    assert rows == {"whoami": (1, 0), "list_compartments": (2, 0), "list_buckets": (2, 1)}
    assert result.stdout.count("\n") == 1  # one JSON object


def test_unreachable_server_or_metrics_is_a_clear_error(running: Running) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    server_down = status("--url", nowhere, "--metrics-url", running.metrics_url, "--json")
    assert server_down.returncode == 1
    error = json.loads(server_down.stdout)["error"]
    assert error["message"] == f"cannot reach the server at {nowhere}/health (ConnectError)"
    assert "--url" in error["hint"]
    metrics_down = status("--url", running.url, "--metrics-url", nowhere + "/metrics")
    assert metrics_down.returncode == 1 and metrics_down.stdout == ""
    assert f"cannot read the server's metrics at {nowhere}/metrics" in metrics_down.stderr
    assert "--metrics-url" in metrics_down.stderr
    not_metrics = status("--url", running.url, "--metrics-url", running.url + "/health",
                         "--json")
    assert not_metrics.returncode == 1, not_metrics.stdout
    assert "serves no oci-mcp metrics" in json.loads(not_metrics.stdout)["error"]["message"]
    bad = status("--url", "localhost:8000", "--json")
    assert bad.returncode == 2
    assert json.loads(bad.stdout)["error"]["message"] == (
        "--url 'localhost:8000' is not an http(s) URL"
    )
    for result in (server_down, metrics_down, not_metrics, bad):
        assert "Traceback" not in result.stderr + result.stdout


def test_live_view_in_a_real_terminal_follows_the_calls(running: Running, tmp_path: Path) -> None:
    need_tool("tmux", "shows `status` in a real terminal; Debian: apt-get install tmux")
    cli = f"{shlex.quote(sys.executable)} -m oci_mcp_cli"
    term = Terminal(
        f"{cli} status --url {running.url} --metrics-url {running.metrics_url} --interval 0.3",
        tmp_path,
    )
    try:
        screen = term.wait_for("5 total")
        assert "tool_error 1" in screen and "2 signed in" in screen
        assert "200 5, 404 1" in screen and "all closed" in screen

        async def more() -> None:
            async with signed_in(running.stack, "alice", cache="alice") as alice:
                await ok(alice, "whoami")
                await ok(alice, "whoami")

        anyio.run(more)
        screen = term.wait_for("7 total")
        whoami = next(line for line in screen.splitlines() if line.strip().startswith("whoami"))
        assert whoami.split()[1:3] == ["3", "0"], whoami  # calls, errors
        term.keys("C-c")
        term.wait_for("EXIT=0")
        assert "Traceback" not in term.screen()
    finally:
        term.close()


def test_status_client_never_imports_the_server() -> None:
    """observe/ depends on core only (docs/architecture.md): reading a server's numbers loads
    neither the server package nor fastmcp nor the OCI SDK."""
    code = (
        "import json, sys\n"
        "from oci_mcp_cli.cli import status_cmd\n"
        "from oci_mcp_cli.observe import status\n"
        "status.snapshot(None, status.Scrape(0.0, {'status': 'ok'}, {}), 'http://x', 'http://y')\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    heavy = [m for m in json.loads(result.stdout)
             if m.split(".")[0] in ("oci", "fastmcp", "mcp", "uvicorn", "starlette")
             or m.startswith("oci_mcp_cli.server")]
    assert heavy == []

"""Chaos (issue 18, item 4): the `test-client` relogin sequence. A `--relogin` swaps a freshly
signed-in token cache into place; every run after it must still read that cache (the store's
``*-info.json`` metadata used to keep pointing at the renamed ``….relogin-<pid>`` directory, so
each later run failed with ``PathSecurityError``). A relogin that is killed leaves the previous
login usable and no staging directory behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_support import run_cli
from proc_support import log_file

from oci_mcp_cli.client.cache import cache_dir
from oci_mcp_cli.core.waiting import poll_until
from oci_mcp_cli.testing import McpStack

pytestmark = pytest.mark.chaos


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[McpStack]:
    with McpStack(state_dir=tmp_path_factory.mktemp("chaos-relogin")) as st:
        yield st


def whoami(st: McpStack, data_dir: Path, *extra: str, password: str | None) -> Any:
    env = {"OCI_MCP_DATA_DIR": str(data_dir), "OCI_MCP_PASSWORD": password,
           "OCI_MCP_USERNAME": None}
    return run_cli("test-client", "--url", st.server_url + "/mcp", "--username", "alice",
                   *extra, "--call", "whoami", "--json", env=env)


def password(st: McpStack) -> str:
    return next(u["password"] for u in st.sandbox.users if u["username"] == "alice")


def signed_in_again(st: McpStack) -> bool:
    return any(r["path"].endswith("/authorize") for r in st.sandbox.requests())


def test_every_run_after_a_relogin_uses_the_new_cache(stack: McpStack, tmp_path: Path) -> None:
    pw = password(stack)
    sequence = [("sign in", (), pw), ("cached", (), None), ("relogin", ("--relogin",), pw),
                ("cached after relogin", (), None), ("relogin again", ("--relogin",), pw),
                ("cached after the second relogin", (), None)]
    failures = []
    for label, extra, given in sequence:
        stack.sandbox.clear_requests()
        result = whoami(stack, tmp_path, *extra, password=given)
        if result.returncode != 0 or '"user_name": "alice"' not in result.stdout:
            failures.append(f"{label}: exit {result.returncode}: {result.stderr.strip()[-300:]}")
            continue
        if given is None and signed_in_again(stack):
            failures.append(f"{label}: signed in again instead of using the cache")
    assert not failures, "GUARANTEE relogin-sequence: " + "; ".join(failures)
    tokens = tmp_path / "client" / "tokens"
    left = leftovers(tmp_path)
    assert not left, f"GUARANTEE relogin-sequence: staging directories left: {left}"
    for info in tokens.glob("*/*-info.json"):
        recorded = Path(json.loads(info.read_text())["directory"])
        assert recorded.parent == info.parent.resolve(), (
            f"GUARANTEE relogin-sequence: {info} points outside its cache: {recorded}")


def leftovers(data_dir: Path) -> list[str]:
    return [p.name for p in (data_dir / "client" / "tokens").iterdir() if "." in p.name]


def held(sb: Any, fault: dict[str, Any]) -> bool:
    """The sandbox took the fault (the held request is in flight); read in-process because the
    hooks API lists a request only once it is answered."""
    with sb.ctx.lock:
        return not any(f.path == fault["path"] for f in sb.ctx.faults)


@pytest.mark.parametrize("how", ["SIGINT", "SIGTERM", "SIGKILL"])
def test_a_killed_relogin_keeps_the_previous_login(stack: McpStack, tmp_path: Path,
                                                   how: str) -> None:
    guarantee = f"GUARANTEE relogin-interrupted[{how}]"
    assert whoami(stack, tmp_path, password=password(stack)).returncode == 0
    # The relogin's sign-in form post is held by the sandbox while the signal arrives.
    stack.sandbox.clear_requests()
    fault = stack.sandbox.fault("POST", "/oauth2/v1/authorize", 0, delay_s=2)
    argv = [sys.executable, "-m", "oci_mcp_cli", "test-client", "--url",
            stack.server_url + "/mcp", "--username", "alice", "--relogin", "--call", "whoami"]
    environ = {**os.environ, "OCI_MCP_DATA_DIR": str(tmp_path), "OCI_MCP_PASSWORD":
               password(stack)}
    environ.pop("OCI_MCP_USERNAME", None)
    with log_file(tmp_path / "relogin.log") as sink:
        proc = subprocess.Popen(argv, stdout=sink, stderr=sink, env=environ,
                                start_new_session=True)
        try:
            assert poll_until(lambda: held(stack.sandbox, fault) or proc.poll() is not None,
                              timeout=60, interval=0.02), f"{guarantee}: never signed in"
            assert proc.poll() is None, f"{guarantee}: the relogin ended early"
            os.kill(proc.pid, getattr(signal, how))
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    # the held form post is answered (and logged) only after its hold: wait for it, then look
    assert poll_until(lambda: any(r["method"] == "POST" and r["path"] == fault["path"]
                                  for r in stack.sandbox.requests()), timeout=60, interval=0.05)
    stack.sandbox.clear_requests()
    cached = whoami(stack, tmp_path, password=None)
    assert cached.returncode == 0, f"{guarantee}: the previous login is lost: {cached.stderr}"
    assert not signed_in_again(stack), f"{guarantee}: signed in again: {stack.sandbox.requests()}"
    assert not leftovers(tmp_path), f"{guarantee}: left behind: {leftovers(tmp_path)}"


def test_a_relogin_killed_mid_swap_puts_the_previous_login_back(stack: McpStack,
                                                                tmp_path: Path) -> None:
    """kill -9 between moving the old cache aside and moving the new one in (two renames: no
    sandbox call between them to hold, so the state it leaves is laid out by hand)."""
    assert whoami(stack, tmp_path, password=password(stack)).returncode == 0
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a pid that no longer runs
    final = cache_dir(stack.server_url + "/mcp", "alice", tmp_path)
    final.rename(final.with_name(f"{final.name}.old-{dead.pid}"))
    final.with_name(f"{final.name}.relogin-{dead.pid}").mkdir()
    stack.sandbox.clear_requests()
    cached = whoami(stack, tmp_path, password=None)
    assert cached.returncode == 0, f"GUARANTEE relogin-mid-swap: {cached.stderr}"
    assert not signed_in_again(stack), "GUARANTEE relogin-mid-swap: signed in again"
    assert not leftovers(tmp_path), f"GUARANTEE relogin-mid-swap: {leftovers(tmp_path)}"

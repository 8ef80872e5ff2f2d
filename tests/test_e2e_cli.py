"""The real CLI end to end: `oci-mcp serve --log-level DEBUG` and `oci-mcp test-client` as
subprocesses against a provisioned sandbox; tokens and secrets must appear nowhere — not in tool
results, not in test-client output, not in the server log captured at DEBUG."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cli_support import cli_process, run_cli
from oauth_flow import password as user_password
from proc_support import Drain
from serve_support import provisioned_sandbox, serve_process

from oci_mcp_cli.core.envfile import load_env
from oci_mcp_cli.sandbox import Sandbox

pytestmark = pytest.mark.e2e
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")


@dataclass
class Served:
    sb: Sandbox
    env_file: Path
    url: str
    log: Path
    data_dir: Path

    def secrets(self) -> list[str]:
        env = load_env(self.env_file)
        keys = ("IAM_CLIENT_SECRET", "IAM_TOKENEXCHANGE_CLIENT_SECRET", "MCP_JWT_SIGNING_KEY")
        return [v for v in (env.get(k) for k in keys) if v]

    def client(self, *args: str, password: bool = True,
               process: bool = False) -> subprocess.CompletedProcess[str]:
        """``test-client``: in-process by default (the real CLI code, without a Python start-up
        per call); ``process=True`` runs it as a real process, for what only the whole
        process's output shows (test_no_browser_prints_the_sign_in_url is one too)."""
        env: dict[str, str | None] = {"OCI_MCP_DATA_DIR": str(self.data_dir)}
        env["OCI_MCP_PASSWORD"] = user_password(self.sb, "alice") if password else None
        run = cli_process if process else run_cli
        return run("test-client", "--url", self.url, *args, env=env)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("cli")
    log = tmp / "serve.log"
    with provisioned_sandbox(tmp) as (sb, env_file, server_url), log.open("wb") as sink:
        args = ["--env-file", str(env_file), "--storage-dir", str(tmp / "oauth")]
        with serve_process(
            server_url, *args, "--log-level", "DEBUG", stdout=sink, stderr=subprocess.STDOUT
        ):
            yield Served(sb, env_file, server_url + "/mcp", log, tmp / "data")


def test_test_client_json_default_calls(served: Served) -> None:
    result = served.client("--username", "alice", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"tools", "calls"}
    assert {"whoami", "list_regions", "get_namespace", "list_compartments", "list_buckets"} <= set(
        data["tools"]
    )
    assert set(data["calls"]) == {"whoami", "get_namespace", "list_compartments"}
    assert data["calls"]["whoami"]["user_name"] == "alice"
    assert data["calls"]["get_namespace"] == {"namespace": "sandboxns"}


def test_second_run_uses_the_encrypted_cache_and_relogin_needs_sign_in(served: Served) -> None:
    assert served.client("--username", "alice", "--json").returncode == 0
    served.sb.clear_requests()
    cached = served.client("--username", "alice", "--call", "whoami", "--json", password=False)
    assert cached.returncode == 0, cached.stderr
    assert not [r for r in served.sb.requests() if r["path"].endswith("/authorize")]
    # The cache is encrypted on disk: no token, no user name in any file; the key file is 0600.
    for path in served.data_dir.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert not JWT.search(text), path
        if path.name == "key":
            assert path.stat().st_mode & 0o777 == 0o600
    relogin = served.client("--username", "alice", "--relogin", "--call", "whoami", password=False)
    assert relogin.returncode == 2
    assert "needs a password" in relogin.stderr and "Traceback" not in relogin.stderr


def test_call_with_args_and_failures_exit_nonzero(served: Served) -> None:
    comps = json.loads(
        served.client("--username", "alice", "--call", "list_compartments", "--json").stdout
    )["calls"]["list_compartments"]
    eng = next(c["id"] for c in comps if c["name"] == "engineering")
    ok = served.client(
        "--username", "alice", "--call", "list_buckets", "--arg", f"compartment_id={eng}", "--json"
    )
    assert ok.returncode == 0, ok.stderr
    names = {b["name"] for b in json.loads(ok.stdout)["calls"]["list_buckets"]}
    assert names == {"eng-artifacts", "eng-logs"}
    bad = served.client(
        "--username", "alice", "--call", "list_buckets", "--arg", "compartment_id=bogus", "--json"
    )
    assert bad.returncode == 1
    assert "invalid compartment_id" in json.loads(bad.stdout)["errors"]["list_buckets"]
    usage = served.client("--username", "alice", "--arg", "novalue")
    assert usage.returncode == 2


def test_wrong_password_is_a_clear_usage_error(served: Served) -> None:
    result = served.client("--username", "alice", "--password", "wrong", "--relogin")
    assert result.returncode == 2
    assert "wrong username or password" in result.stderr
    assert "Traceback" not in result.stderr


def test_no_token_or_secret_in_output_or_debug_log(served: Served) -> None:
    # a real process: everything it writes, library logging included, is in stdout + stderr
    result = served.client("--username", "alice", "--relogin", process=True)  # full sign-in
    assert result.returncode == 0, result.stderr
    log = served.log.read_text(errors="replace")
    assert re.search(r"tool call user=alice tool=whoami outcome=ok ms=\d+", log)
    assert "DEBUG" in log  # really captured at DEBUG
    # Auth codes and state are secrets too: the access log line of the callback masks them.
    assert "/auth/callback?code=[redacted]&state=[redacted]" in log
    assert not re.search(r"[?&](code|state|txn_id)=(?!\[redacted\])", log)
    for text in (result.stdout, result.stderr, log):
        assert not JWT.search(text)
        for secret in served.secrets():
            assert secret not in text


def test_no_browser_prints_the_sign_in_url(served: Served) -> None:
    """`--no-browser` prints the URL; the test then plays the user's browser (sign-in, consent,
    loopback callback) and the client finishes with the tool result."""
    from urllib.parse import parse_qs, urlsplit

    import anyio

    from oci_mcp_cli.client.headless import headless_authorize

    env = {**os.environ, "OCI_MCP_DATA_DIR": str(served.data_dir / "no-browser")}
    env.pop("OCI_MCP_USERNAME", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "oci_mcp_cli", "test-client", "--url", served.url]
        + ["--no-browser", "--call", "whoami", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    out = Drain(proc.stdout)  # read all along: an unread pipe can block the client
    try:
        assert proc.stderr is not None
        seen = ""
        for line in proc.stderr:
            seen += line
            if line.startswith("http"):
                break
        err = Drain(proc.stderr)  # the rest, likewise
        assert "Open this URL to sign in" in seen, seen
        auth_url = line.strip()
        redirect = parse_qs(urlsplit(auth_url).query)["redirect_uri"][0]
        password = user_password(served.sb, "alice")
        query = anyio.run(headless_authorize, auth_url, redirect, "alice", password)
        deadline = time.monotonic() + 30
        while True:  # the client's loopback callback server starts after printing the URL
            try:
                httpx.get(redirect, params=query, timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "callback server never came up"
                time.sleep(0.05)  # readiness poll interval
        proc.wait(timeout=60)
        stdout, stderr = out.text(), err.text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr
    assert json.loads(stdout)["calls"]["whoami"]["user_name"] == "alice"
    assert not JWT.search(stdout + seen + stderr)

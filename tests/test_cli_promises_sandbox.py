"""`oci-mcp sandbox` keeps its promises (issue 8): one sandbox per state dir (a lock, released on
exit, never stale), nothing shared between state dirs, and the ready line says which domain each
user belongs to; signing in to the wrong domain of the sandbox says so (sandbox-only hint)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import oci
import pytest
from oauth_flow import Client, admin_domains_client, create_app, domain_url, parse_page, password
from proc_support import STOP_TIMEOUT_S, Drain

from oci_mcp_cli.core.errors import UserError
from oci_mcp_cli.sandbox import Sandbox

CALLBACK = "https://app.example.com/auth/callback"


@contextmanager
def cli_sandbox(state_dir: Path, home: Path | None = None) -> Iterator[tuple[Any, dict[str, Any]]]:
    """``oci-mcp sandbox --json`` in a subprocess, yielded with its ready line; SIGINT on exit."""
    env = {**os.environ, "NO_COLOR": "1"}
    if home is not None:
        env.update(
            HOME=str(home),
            XDG_DATA_HOME=str(home / "data"),
            XDG_CONFIG_HOME=str(home / "config"),
            XDG_CACHE_HOME=str(home / "cache"),
        )
    proc = subprocess.Popen(
        [sys.executable, "-m", "oci_mcp_cli", "sandbox", "--json", "--state-dir", str(state_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    errors = Drain(proc.stderr)  # read all along: an unread pipe can block the sandbox
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the ready line: readiness without polling
        assert line, errors.text()
        Drain(proc.stdout)
        yield proc, json.loads(line)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def run_cli_sandbox(state_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "oci_mcp_cli", "sandbox", "--json", "--state-dir", str(state_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_second_cli_sandbox_on_the_same_state_dir_refuses(tmp_path: Path) -> None:
    with Sandbox(state_dir=tmp_path) as first:
        config = Path(first.config_file)
        before = config.read_bytes()
        result = run_cli_sandbox(tmp_path)
        assert result.returncode == 2, result.stderr
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert lines[-2] == (
            f"error: another sandbox (pid {os.getpid()}) is already running on the state dir "
            f"{tmp_path}"
        )
        assert lines[-1].strip().startswith("fix:") and "--state-dir" in lines[-1]
        assert "Traceback" not in result.stderr
        assert json.loads(result.stdout)["error"]["exit_code"] == 2  # --json: one JSON object
        assert config.read_bytes() == before  # the first one's profile is untouched
        assert httpx.get(first.url + "/_sandbox/health", timeout=5).status_code == 200
    # Released on exit: the next sandbox on that state dir starts.
    with Sandbox(state_dir=tmp_path) as again:
        assert again.url


def test_second_in_process_sandbox_raises_a_user_error(tmp_path: Path) -> None:
    with Sandbox(state_dir=tmp_path) as first:
        second = Sandbox(state_dir=tmp_path, reset=True)
        with pytest.raises(UserError, match="already running on the state dir") as info:
            second.start()
        assert "--state-dir" in (info.value.hint or "")
        assert first.tenancy_id == Sandbox(state_dir=tmp_path).ctx.store.load_or_seed().tenancy_id
        second.stop()  # harmless: it never held the lock
        assert httpx.get(first.url + "/_sandbox/health", timeout=5).status_code == 200


def test_a_killed_sandbox_does_not_leave_a_stale_lock(tmp_path: Path) -> None:
    with cli_sandbox(tmp_path) as (proc, _):
        proc.kill()  # no clean-up at all: the lock file stays behind with the dead pid
        proc.wait()
    assert (tmp_path / "sandbox.lock").exists()
    with Sandbox(state_dir=tmp_path) as sb:
        assert httpx.get(sb.url + "/_sandbox/health", timeout=5).status_code == 200


def test_sandboxes_on_different_state_dirs_share_no_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    a, b = tmp_path / "a", tmp_path / "b"
    with cli_sandbox(a, home) as (_, info_a), cli_sandbox(b, home) as (_, info_b):
        referenced: dict[Path, set[Path]] = {}
        for state_dir, info in ((a, info_a), (b, info_b)):
            config = oci.config.from_file(info["config_file"], info["profile"])
            paths = {Path(info["config_file"]), Path(config["key_file"])}
            assert all(p.resolve().is_relative_to(state_dir.resolve()) for p in paths), paths
            referenced[state_dir] = paths
        assert not referenced[a] & referenced[b]
        assert info_a["url"] != info_b["url"]
    assert list(home.rglob("*")) == []  # nothing written outside the state dirs


def test_ready_line_says_which_domain_each_user_belongs_to(sb: Sandbox) -> None:
    info = sb.info()
    assert {u["username"]: u["domain"] for u in info["users"]} == {
        "alice": "Default",
        "bob": "Default",
        "carol": "Secondary",
    }
    assert {d["display_name"]: d["users"] for d in info["domains"]} == {
        "Default": ["alice", "bob"],
        "Secondary": ["carol"],
    }
    # Backward compatible: the keys of sb.domains / sb.users are still there.
    for d in info["domains"]:
        assert {"display_name", "url", "type", "guid"} <= set(d)


def test_cli_ready_table_lists_users_per_domain(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "oci_mcp_cli", "sandbox", "--state-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
    )
    Drain(proc.stderr)  # read all along: an unread pipe can block the sandbox
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line.rstrip())
            if "Ctrl-C" in line:  # the last line of the ready message
                break
        Drain(proc.stdout)  # the rest, likewise
        text = "\n".join(lines)
        secondary = next(line for line in lines if line.startswith("Secondary"))
        assert secondary.endswith("carol"), text
        default = next(line for line in lines if line.startswith("Default"))
        assert default.endswith("alice, bob"), text
        assert "signs in only to its own domain" in text
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=STOP_TIMEOUT_S)


def test_login_page_hints_at_the_users_own_domain(sb: Sandbox) -> None:
    """Sign in as carol (Secondary) on Default's page, through the real HTML form."""
    url = domain_url(sb, "Default")
    app = create_app(admin_domains_client(sb, url), "promises-web",
                     redirect_uris=[CALLBACK], grants=["authorization_code"])
    with httpx.Client(timeout=10) as http:
        client = Client(http, url, app.name, app.client_secret, CALLBACK)

        def attempt(username: str, secret: str) -> Any:
            page = parse_page(client.authorize())
            assert page.status == 200, page.html
            return parse_page(client.submit(page, username, secret))

        wrong_domain = attempt("carol", password(sb, "carol"))
        assert wrong_domain.status == 401
        assert wrong_domain.error == (
            "You entered an incorrect user name or password. [sandbox hint: carol is a user of "
            "identity domain Secondary, not Default]"
        )
        for username, secret in (("nobody", "x"), ("alice", "x")):  # what a real domain says
            page = attempt(username, secret)
            assert page.status == 401
            assert page.error == "You entered an incorrect user name or password."
        ok = client.submit(parse_page(client.authorize()), "alice", password(sb, "alice"))
        assert ok.status_code == 302

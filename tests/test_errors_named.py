# ruff: noqa: F811  (pytest fixtures imported from provisioning_support)
"""Issue #18 item 5: every error names its cause (what failed, why, how to fix), in the one
``--json`` object too."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_support import run_cli
from provisioning_support import Env, _fast_retries, env, seeded_state, steps  # noqa: F401
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


# ── --json: a failure is one JSON object too ────────────────────────────────────────────────
# (command path, its arguments after --json, expected exit code). {tmp} is the test's temporary
# directory; every case is a real failure of the real command (bad input: exit 2; a server that
# is not there: exit 1). `demo` takes no input that can be wrong, so its case is a bad flag.
JSON_FAILURES: list[tuple[str, list[str], int, str]] = [
    ("init", ["--config-file", "{tmp}/no-such-config"], 2, "UserError"),
    ("trust create", ["--env-file", "{tmp}/missing.env"], 2, "UserError"),
    ("trust delete", ["--env-file", "{tmp}/missing.env"], 2, "UserError"),
    ("trust list", ["--env-file", "{tmp}/missing.env"], 2, "UserError"),
    ("teardown", ["--env-file", "{tmp}/missing.env"], 2, "UserError"),
    ("test-client", ["--url", "http://127.0.0.1:{closed}/mcp", "--username", "a"], 1,
     "RemoteError"),
    ("demo", ["--no-such-flag"], 2, "UsageError"),
    ("doctor", ["--env-file", "{tmp}"], 2, "UserError"),  # a directory: unreadable
    ("client-config", ["--for", "no-such-client"], 2, "UserError"),
    ("new", ["{tmp}/has-server"], 2, "UserError"),  # server.py exists, no --force
    ("deploy kubernetes", ["--env-file", "{tmp}/missing.env", "--out", "{tmp}/k"], 2, "UserError"),
    ("deploy compose", ["--env-file", "{tmp}/missing.env", "--out", "{tmp}/c"], 2, "UserError"),
    ("sandbox env", ["--state-dir", "{tmp}/no-sandbox"], 2, "UserError"),
    ("sandbox", ["--host", "10.0.0.1"], 2, "UserError"),  # non-loopback without --allow-remote
    ("init", ["--for", "no-such-target"], 2, "UserError"),
    ("trust list", ["--no-such-flag"], 2, "UsageError"),
    ("status", ["--url", "http://127.0.0.1:{closed}", "--once"], 1, "RemoteError"),
    ("access list", ["--env-file", "{tmp}/missing.env"], 2, "UserError"),
    ("access grant", ["--env-file", "{tmp}/missing.env", "--group", "g"], 2, "UserError"),
    ("access revoke", ["--env-file", "{tmp}/missing.env"], 2, "UserError"),  # no --group/--user
]


def _commands_with_json() -> set[str]:
    """Every command path of the real CLI that has a --json option."""
    import typer

    from oci_mcp_cli.cli.app import app

    found: set[str] = set()

    def walk(command: Any, path: str) -> None:
        if any("--json" in getattr(p, "opts", ()) for p in command.params):
            found.add(path)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {name}".strip())

    walk(typer.main.get_command(app), "")
    return found


def test_every_json_command_has_a_failure_case() -> None:
    assert _commands_with_json() == {path for path, *_ in JSON_FAILURES}


@pytest.mark.parametrize(
    ("path", "args", "code", "kind"),
    JSON_FAILURES,
    ids=[f"{p} {' '.join(a)}" for p, a, *_ in JSON_FAILURES],
)
def test_json_failure_is_one_json_object(
    path: str, args: list[str], code: int, kind: str, tmp_path: Path
) -> None:
    (tmp_path / "has-server").mkdir()
    (tmp_path / "has-server" / "server.py").write_text("# mine\n")
    with socket.socket() as closed:  # bound, never listening: connection refused
        closed.bind(("127.0.0.1", 0))
        values = {"tmp": str(tmp_path), "closed": str(closed.getsockname()[1])}
        argv = [*path.split(), "--json", *(a.format(**values) for a in args)]
        env = {"OCI_MCP_DATA_DIR": str(tmp_path / "data"), "OCI_MCP_PASSWORD": "unused",
               "OCI_CLI_CONFIG_FILE": None, "OCI_CLI_PROFILE": None}
        result = run_cli(*argv, cwd=tmp_path, env=env)
    assert result.returncode == code, result
    lines = result.stdout.splitlines()
    assert len(lines) == 1, f"stdout is not one JSON object: {result.stdout!r}"
    error = json.loads(lines[0])["error"]
    assert error["exit_code"] == code and error["type"] == kind and error["message"], error
    assert "hint" in error
    assert "Traceback" not in result.stdout + result.stderr
    assert error["message"].split(":")[0] in " ".join(result.stderr.split())  # stderr says it too


def test_json_failure_of_a_load_balancer_503(no_backend_lb: str, tmp_path: Path) -> None:
    env = {"OCI_MCP_DATA_DIR": str(tmp_path / "data"), "OCI_MCP_PASSWORD": "unused"}
    result = run_cli("test-client", "--json", "--url", no_backend_lb, "--username", "alice",
                     env=env)
    error = json.loads(result.stdout)["error"]
    assert result.returncode == error["exit_code"] == 1
    assert "HTTP 503" in error["message"] and "no healthy backend" in error["hint"]


# ── init: a foreign app whose display name differs only in case ─────────────────────────────
def test_foreign_app_differing_only_in_case_is_refused_at_plan(env: Env) -> None:
    """The domain's displayName is unique case-insensitively (a create would be 409), so init
    must find such an app at plan time and refuse it like an exact match — not plan "create"."""
    from test_ownership import foreign_app

    theirs = foreign_app(env, name="OCI-MCP-Server")
    env.sb.clear_requests()
    dry = env.cli("init", "--dry-run", "--json")
    assert dry.exit_code == 2, (dry.stdout, dry.stderr)
    result = env.cli("init", "--yes", "--json")
    assert result.exit_code == 2, (result.stdout, result.stderr)
    error = json.loads(result.stdout)["error"]
    assert "OCI-MCP-Server" in error["message"] and theirs.name in error["message"], error
    assert "--app-name" in error["hint"] and "--adopt" in error["hint"]
    assert "409" not in result.stderr
    assert env.writes() == [] and not env.env_file.exists()


# ── init: a re-run that changes nothing plans nothing ───────────────────────────────────────
def test_rerun_that_changes_nothing_keeps_trust_created(env: Env) -> None:
    """The trust init created stays recorded as ours: a re-run's plan must not show
    ``OCI_MCP_TRUST_CREATED: true → false`` (teardown would then keep an unused trust)."""
    first = env.cli("init", "--yes", "--json")
    assert first.exit_code == 0, first.stderr
    assert env.env()["OCI_MCP_TRUST_CREATED"] == "true"
    for extra in ("--dry-run", "--yes"):
        again = env.cli("init", extra, "--json")
        assert again.exit_code == 0, again.stderr
        assert "OCI_MCP_TRUST_CREATED" not in again.stderr, again.stderr
        assert steps(json.loads(again.stdout))["env"] == "unchanged", again.stdout
    assert env.env()["OCI_MCP_TRUST_CREATED"] == "true"


# ── an inactive user is named as the cause, not the trust or the JWKS ───────────────────────
@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from serve_support import server_stack
    from test_revalidation import Stack

    with server_stack(tmp_path_factory.mktemp("inactive"), cls=Stack, revalidate_after=0) as st:
        yield st


@pytest.mark.parametrize("when", ["first-exchange", "revalidation"])
def test_inactive_user_is_named_without_the_trust_hint(stack: Any, when: str) -> None:
    """The domain refuses the exchange of a deactivated user's token (400 invalid_grant, as for
    a trust problem); the server asks the domain's userinfo with that token (401 invalid_token:
    the user, not the trust) and says so."""
    import anyio
    from serve_support import signed_in
    from test_revalidation import _set_trust_active, _set_user_active

    from oci_mcp_cli.client.session import call_tool

    async def script() -> list[tuple[bool, Any]]:
        async with signed_in(stack, "bob", f"inactive-{when}") as client:
            results = [await call_tool(client, "whoami", {})] if when == "revalidation" else []
            _set_user_active(stack, "bob", False)
            try:
                results.append(await call_tool(client, "whoami", {}))
            finally:
                _set_user_active(stack, "bob", True)
            _set_trust_active(stack, False)  # the other cause still gets the trust hint
            try:
                results.append(await call_tool(client, "get_namespace", {}))
            finally:
                _set_trust_active(stack, True)
            return results

    *before, refused, trust_off = anyio.run(script)
    assert all(ok for ok, _ in before), before
    assert not refused[0], refused
    message = str(refused[1])
    assert "inactive" in message and "activate the user" in message, message
    assert "trust create" not in message and "JWKS" not in message, message
    assert not trust_off[0] and "oci-mcp trust create" in str(trust_off[1]), trust_off


def test_an_error_after_the_json_result_adds_no_second_object(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """E.g. `init --yes --json --launch`: the summary is printed, then launching fails."""
    from oci_mcp_cli.cli.output import emit_json, fail, json_mode, state
    from oci_mcp_cli.core.errors import OciMcpError

    state.json = state.json_emitted = False
    try:
        json_mode(True)
        emit_json({"result": 1})
        assert fail(OciMcpError("later failure")).exit_code == 1
    finally:
        state.json = state.json_emitted = False
    captured = capsys.readouterr()
    assert captured.out.splitlines() == ['{"result": 1}']
    assert "later failure" in captured.err

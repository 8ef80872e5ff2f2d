"""Issue 20, what a refused user sees: the app requires grants (``allowAccessControl``), group
``mcp-users`` (alice, not bob) is granted it.

Real CLI (`oci-mcp test-client`, `oci-mcp doctor`, in-process), real server (in-process), real SDK
over real HTTP against the sandbox, which refuses like the identity domain: its 403 page
(``AUTHZ_APP_NOT_GRANTED``) at ``/authorize``, ``invalid_grant`` "User is not authorized to
access the app." at the token exchange and its revalidation.
"""

from __future__ import annotations

import calendar
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import pytest
from access_support import (
    TO_GROUP,
    TO_USER,
    app_of,
    delete_app,
    grant,
    group,
    record_access,
    require_grants,
    set_member,
    user,
)
from cli_support import run_cli
from oauth_flow import admin_domains_client, create_app, password, wait_past
from serve_support import ServerStack, server_stack, signed_in
from test_audit import env_secrets, read_audit, secret_problems, tool_calls

from oci_mcp_cli.client.session import call_tool
from oci_mcp_cli.core import envfile as E
from oci_mcp_cli.core.errors import OciMcpError

pytestmark = pytest.mark.e2e
GROUP = "mcp-users"


class Stack(ServerStack):
    audit: Path
    app: Any
    idc: Any

    def test_client(self, username: str, *args: str, env_file: Path | None = None) -> Any:
        """`oci-mcp test-client` as ``username`` (password from OCI_MCP_PASSWORD), own cache."""
        env = {"OCI_MCP_DATA_DIR": str(self.tmp / f"data-{username}"),
               "OCI_MCP_PASSWORD": password(self.sb, username)}
        return run_cli("test-client", "--url", self.url, "--username", username,
                       "--env-file", str(env_file or self.env_file), *args, env=env)

    def refusal(self) -> str:
        return (f"your account is not granted access to {self.app.display_name}; "
                f"ask an administrator to add you to group {GROUP}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The server's app requires grants; mcp-users is granted it and recorded in .env (as
    `init --allow-group mcp-users` records it); every call revalidates (revalidate_after=0)."""
    from oci_mcp_cli.server.config import load_settings

    tmp = tmp_path_factory.mktemp("access")
    with server_stack(tmp, cls=Stack, start=False) as st:
        st.audit = tmp / "audit.jsonl"
        st.idc = admin_domains_client(st.sb, st.settings.domain_url)
        st.app = app_of(st.idc, st.settings.client_id)
        require_grants(st.idc, st.app.id, True)
        granted = grant(st.idc, st.app.id, TO_GROUP, group(st.idc, GROUP).id)
        record_access(st.env_file, GROUP, [granted.id])
        st.restart(load_settings(st.env_file, storage_dir=tmp / "oauth", log_level="WARNING",
                                 audit_log=str(st.audit), revalidate_after=0))
        yield st


def output_problems(st: Stack, text: str, *users: str) -> list[str]:
    """Secrets, tokens or passwords in ``text`` (empty: none)."""
    problems = secret_problems(text, env_secrets(st.env_file))
    return problems + [f"{u}'s password" for u in users if password(st.sb, u) in text]


def test_granted_alice_signs_in_and_calls_tools(stack: Stack) -> None:
    result = stack.test_client("alice", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["calls"]["whoami"] and "errors" not in report, report


def test_ungranted_bob_is_refused_with_the_message_not_a_traceback(stack: Stack) -> None:
    result = stack.test_client("bob")
    assert result.returncode == 1, result.stdout + result.stderr
    assert stack.refusal() in result.stderr, "GUARANTEE access-refused-message: " + result.stderr
    assert "AUTHZ_APP_NOT_GRANTED" in result.stderr  # the domain's evidence, in the fix line
    assert "Traceback" not in result.stdout + result.stderr
    assert output_problems(stack, result.stdout + result.stderr, "bob") == []


def test_ungranted_bob_with_json_gets_one_error_object(stack: Stack) -> None:
    result = stack.test_client("bob", "--json")
    assert result.returncode == 1
    error = json.loads(result.stdout)["error"]  # exactly one JSON document on stdout
    assert error["message"] == stack.refusal() and error["exit_code"] == 1, error
    assert output_problems(stack, result.stdout, "bob") == []


def test_without_recorded_groups_the_message_asks_for_a_grant(stack: Stack) -> None:
    """A .env that records no group (e.g. the grant was made in the console)."""
    bare = stack.tmp / "bare.env"
    bare.write_text(E.render_env(stack.env_file.read_text(), {}, ["OCI_MCP_ALLOWED_GROUPS"]))
    result = stack.test_client("bob", env_file=bare)
    app = stack.app.display_name
    assert result.returncode == 1
    assert (f"your account is not granted access to {app}; ask an administrator of the identity "
            f"domain to grant you access to {app}") in result.stderr, result.stderr


def test_removed_from_the_group_alice_is_refused_at_her_next_call_bob_granted_keeps_working(
    stack: Stack,
) -> None:
    """Revalidation (every call here) re-runs the exchange: the domain refuses alice once she
    left mcp-users. bob, granted directly, is signed in at the same time and is untouched."""
    alice_id, bob_id = user(stack.idc, "alice").id, user(stack.idc, "bob").id
    group_id = group(stack.idc, GROUP).id
    bob_grant = grant(stack.idc, stack.app.id, TO_USER, bob_id)

    async def main() -> list[tuple[bool, Any]]:
        async with signed_in(stack, "alice", "both-alice") as alice, \
                signed_in(stack, "bob", "both-bob") as bob:
            before = [await call_tool(alice, "whoami", {}), await call_tool(bob, "whoami", {})]
            set_member(stack.idc, group_id, alice_id, False)
            try:
                refused = await call_tool(alice, "whoami", {})
                bob_after = await call_tool(bob, "list_compartments", {})
            finally:
                set_member(stack.idc, group_id, alice_id, True)
            return [*before, refused, bob_after]

    try:
        alice_before, bob_before, refused, bob_after = anyio.run(main)
    finally:
        stack.idc.delete_grant(bob_grant.id)
    assert alice_before[0] and bob_before[0], (alice_before, bob_before)
    assert not refused[0] and stack.refusal() in refused[1], (
        "GUARANTEE access-revoked-next-call: " + str(refused))
    assert "Sign in again" not in refused[1]  # signing in again would not help
    assert bob_after[0], "GUARANTEE access-refusal-isolated: " + str(bob_after)
    events = read_audit(stack.audit)
    call = tool_calls(events, user="alice", tool="whoami")[-1]
    assert call["outcome"] == "refused" and call["reason"] == "not_granted", (
        "GUARANTEE access-refusal-audited: " + str(call))
    assert tool_calls(events, user="bob", tool="list_compartments")[-1]["outcome"] == "ok"
    assert output_problems(stack, stack.audit.read_text() + str(refused), "alice", "bob") == []


def test_removed_user_whose_sign_in_expired_is_refused_at_refresh_with_the_message(
    stack: Stack,
) -> None:
    """alice's cached sign-in outlives her membership: once its token expires, the refresh is
    refused (invalid_grant) and the new sign-in meets the domain's 403 page — test-client says
    why, as for bob."""
    alice_id, group_id = user(stack.idc, "alice").id, group(stack.idc, GROUP).id
    ttl_s = 2
    stack.sb.set_config(access_token_ttl_s=ttl_s)
    try:
        first = stack.test_client("alice", "--json", "--relogin", "--call", "whoami")
        signed_in_by = time.time()  # the server's own token and the client's copy: issued by now
        assert first.returncode == 0, first.stdout + first.stderr
        expires = json.loads(first.stdout)["calls"]["whoami"]["token_expires_at"]
        expiry = calendar.timegm(time.strptime(expires, "%Y-%m-%dT%H:%M:%SZ"))
        assert expiry - time.time() < 30, expires  # the short-lived sign-in, not a cached one
        set_member(stack.idc, group_id, alice_id, False)
        try:
            # every copy of the sign-in must really expire: the upstream token (its exp), and the
            # server's token and the client's record of it, each issued with the same lifetime
            # a little later (by up to the whole sign-in's duration on a loaded machine: a
            # 4-worker CI run once sent the cached token while the client still counted it
            # valid, and nothing was refreshed). Wait for the clock, not for a server.
            wait_past(max(expiry, signed_in_by + ttl_s) + 1)
            stack.sb.clear_requests()
            again = stack.test_client("alice", "--call", "whoami")
            grants = [r.get("grant_type") for r in stack.sb.requests()]
        finally:
            set_member(stack.idc, group_id, alice_id, True)
    finally:
        stack.sb.set_config(access_token_ttl_s=3600)
    assert "refresh_token" in grants, grants  # the cached sign-in was tried first
    assert again.returncode == 1 and stack.refusal() in again.stderr, again.stderr
    assert "Traceback" not in again.stderr
    assert output_problems(stack, again.stdout + again.stderr, "alice") == []


# --- a real domain may redirect back with error=access_denied -----------------------------------


@pytest.fixture
def denying_domain() -> Iterator[str]:
    """A loopback stand-in for what the sandbox does not do (it answers its 403 page, the
    stricter reading): an authorize endpoint redirecting back with ``error=access_denied``."""

    class Deny(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.1:9/callback?error=access_denied"
                             "&error_description=User+is+not+authorized+to+access+the+app.")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Deny)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/authorize"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_access_denied_redirect_is_the_not_granted_message(denying_domain: str) -> None:
    from oci_mcp_cli.client.headless import headless_authorize

    async def main() -> None:
        await headless_authorize(denying_domain, "http://127.0.0.1:9/callback", "bob", "pw")

    with pytest.raises(OciMcpError) as raised:
        anyio.run(main)
    assert raised.value.message.startswith("your account is not granted access to "), (
        raised.value.message)
    assert raised.value.exit_code == 1 and "access_denied" in (raised.value.hint or "")


# --- doctor's access check ----------------------------------------------------------------------


def doctor_access(env_file: Path) -> tuple[int, dict[str, Any]]:
    result = run_cli("doctor", "--env-file", str(env_file), "--json")
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    return result.returncode, checks["access"]


def test_doctor_access_names_the_granted_group(stack: Stack) -> None:
    _, check = doctor_access(stack.env_file)
    assert check["ok"] is True and not check["warning"], check
    assert f"members of group {GROUP} (1 member)" in check["detail"], check
    text = run_cli("doctor", "--env-file", str(stack.env_file)).stdout
    assert f"group {GROUP}" in " ".join(text.split())


def test_doctor_access_fails_when_the_recorded_grant_is_gone(stack: Stack) -> None:
    granted = stack.idc.list_grants(filter=f'app.value eq "{stack.app.id}"').data.resources
    [ours] = [g for g in granted if g.grant_mechanism == TO_GROUP]
    stack.idc.delete_grant(ours.id)
    try:
        code, check = doctor_access(stack.env_file)
    finally:
        regranted = grant(stack.idc, stack.app.id, TO_GROUP, ours.grantee.value)
        record_access(stack.env_file, GROUP, [regranted.id])
    assert code == 1 and check["ok"] is False, check
    assert f"no grant for group {GROUP}" in check["detail"] and "nobody" in check["detail"]
    assert "oci-mcp init" in check["fix"]


def test_doctor_access_without_access_control_is_every_user_and_warns_beside_other_apps(
    stack: Stack,
) -> None:
    bare = stack.tmp / "open.env"
    bare.write_text(E.render_env(stack.env_file.read_text(), {},
                                 ["OCI_MCP_ALLOWED_GROUPS", "OCI_MCP_OWNED_GRANTS",
                                  "OCI_MCP_ACCESS_CONTROL_SET"]))
    bare.chmod(0o600)  # doctor's env check wants it private
    require_grants(stack.idc, stack.app.id, False)
    other = None
    try:
        code, alone = doctor_access(bare)
        other = create_app(stack.idc, "payroll-portal", redirect_uris=["https://p.example/cb"],
                           grants=["authorization_code"])
        warned_code, warned = doctor_access(bare)
        table = " ".join(run_cli("doctor", "--env-file", str(bare)).stdout.split())
        recorded_code, recorded = doctor_access(stack.env_file)  # .env says mcp-users only
    finally:
        if other is not None:
            delete_app(stack.idc, other.id)
        require_grants(stack.idc, stack.app.id, True)
    assert alone["ok"] is True and not alone["warning"], alone
    assert "every user of the domain" in alone["detail"], alone
    assert warned["ok"] is True and warned["warning"] is True, warned
    assert "payroll-portal" in warned["detail"] and "--allow-group" in warned["fix"], warned
    assert code == warned_code == 0  # a warning passes: every other check passes here too
    assert "access warn every user of the domain" in table, table
    assert recorded_code == 1 and recorded["ok"] is False, recorded
    assert "every user of the domain" in recorded["detail"] and GROUP in recorded["detail"]

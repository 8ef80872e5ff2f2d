"""Issue 19 §1: the audit trail (``serve --audit-log``) and the JSON log (``--log-format json``).

Real ``oci-mcp serve`` (a subprocess; its default audit goes to stdout) or the real server
in-process (``ServerThread``, audit to a file), the real SDK over real HTTP, the sandbox. The
sandbox's request log records the ``opc-request-id`` it answered with and the principal it
authenticated: the stand-in for OCI Audit that the audit events are joined to.

Guarantees (docs/operations.md "Audit trail", docs/security.md "Audit trail"):
- audit-join: every OCI request of every tool-call event, two users calling concurrently, is
  found in the sandbox's log by its opc-request-id, made as the user the event names;
- audit-outcomes: ok / tool_error / deadline / breaker / refused / server_fault are reported
  as such;
- audit-events: sign-in, token exchange, revalidation refusal, revocation, rate-limit and
  session-cap refusals each produce their event;
- audit-no-secrets: no token, secret, password or argument value in the audit output;
- audit-default-stdout / audit-off / audit-file-0600 / audit-write-failure;
- log-json: ``--log-format json`` writes one JSON object per line.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from cli_support import run_cli
from oauth_flow import password
from serve_support import ServerStack, provisioned_sandbox, serve_process, server_stack
from serve_support import sign_in as hand_sign_in

from oci_mcp_cli.client.session import ClientOptions, call_tool, make_client, make_oauth
from oci_mcp_cli.core.envfile import load_env
from oci_mcp_cli.sandbox import Sandbox

pytestmark = pytest.mark.e2e
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
COMPARTMENTS = "/20160918/compartments"
REPLICA = "replica-a"
TOOL_TIMEOUT_S = 4  # the in-process stack's; the deadline test holds a request twice that
CALLS = [("list_compartments", 3), ("get_namespace", 2), ("list_regions", 2)]


def read_audit(path: Path) -> list[dict[str, Any]]:
    """Every line of an audit output, parsed (a line that is not JSON fails the test)."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def tool_calls(events: list[dict[str, Any]], **match: Any) -> list[dict[str, Any]]:
    return [
        e for e in events
        if e["event"] == "tool_call" and all(e.get(k) == v for k, v in match.items())
    ]


def env_secrets(env_file: Path) -> list[str]:
    env = load_env(env_file)
    keys = ("IAM_CLIENT_SECRET", "IAM_TOKENEXCHANGE_CLIENT_SECRET", "MCP_JWT_SIGNING_KEY")
    return [v for v in (env.get(k) for k in keys) if v]


def secret_problems(text: str, secrets: list[str]) -> list[str]:
    """What of a secret the audit text holds (empty: nothing)."""
    problems = [f"a JWT: {m.group(0)[:16]}…" for m in JWT.finditer(text)]
    problems += [f"secret {s[:4]}…" for s in secrets if s and s in text]
    return problems


@asynccontextmanager
async def bearer_client(url: str, sb: Sandbox, user: str, cache: Path) -> AsyncIterator[Any]:
    """A client of ``user`` that can have many calls in flight (the real sign-in, then its
    access token as a plain bearer: the MCP SDK's OAuth client sends one request at a time)."""
    from fastmcp import Client

    options = ClientOptions(url=url, username=user, password=password(sb, user),
                            cache_root=cache)
    oauth = make_oauth(options)
    async with make_client(options, oauth):
        token = oauth.context.current_tokens.access_token
    async with Client(url, auth=token, timeout=120) as client:
        yield client


# --- `oci-mcp serve` with its defaults: audit on stdout; --log-format json -----------------------


@dataclass
class Served:
    sb: Sandbox
    env_file: Path
    url: str
    audit: Path  # the server's stdout
    log: Path  # the server's stderr
    tmp: Path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("audit-serve")
    audit, log = tmp / "stdout", tmp / "stderr"
    with provisioned_sandbox(tmp) as (sb, env_file, server_url), \
            audit.open("wb") as out, log.open("wb") as err:
        args = ["--env-file", str(env_file), "--storage-dir", str(tmp / "oauth"),
                "--log-format", "json"]
        env = {**os.environ, "OCI_MCP_REPLICA": REPLICA}
        with serve_process(server_url, *args, stdout=out, stderr=err, env=env):
            yield Served(sb, env_file, server_url + "/mcp", audit, log, tmp)


def test_audit_joins_two_concurrent_users_calls_to_the_sandbox_log(served: Served) -> None:
    served.sb.clear_requests()

    async def user_calls(user: str) -> list[tuple[bool, Any]]:
        async with bearer_client(served.url, served.sb, user, served.tmp / "cache") as client:
            calls = [call_tool(client, tool, {}) for tool, n in CALLS for _ in range(n)]
            return list(await asyncio.gather(*calls))

    async def both() -> list[list[tuple[bool, Any]]]:
        return list(await asyncio.gather(user_calls("alice"), user_calls("bob")))

    for results in anyio.run(both):
        assert all(ok for ok, _ in results), results
    events = read_audit(served.audit)
    sandbox_log = served.sb.requests()
    by_id = {r["opc_request_id"]: r for r in sandbox_log if r.get("opc_request_id")}
    joined = 0
    for user in ("alice", "bob"):
        calls = tool_calls(events, user=user)
        for tool, count in CALLS:
            assert len([c for c in calls if c["tool"] == tool]) >= count, (user, tool)
        for call in calls:
            assert call["outcome"] == "ok" and call["replica"] == REPLICA, call
            assert call["user_ocid"].startswith("ocid1.user.") and call["domain"] == "Default"
            for request in call["oci_requests"]:
                logged = by_id.get(request["opc_request_id"])
                assert logged is not None, f"GUARANTEE audit-join: not in the sandbox log {request}"
                assert (logged["principal"], logged["principal_ocid"]) == (
                    user, call["user_ocid"]
                ), f"GUARANTEE audit-join: {request} was made as {logged['principal']}"
                assert logged["status"] == request["status"] == 200
                joined += 1
    # ...and every OCI API request the users made is in some event (nothing unaccounted)
    audited = {r["opc_request_id"] for c in tool_calls(events) for r in c["oci_requests"]}
    made = [r for r in sandbox_log if r.get("auth") == "upst"]
    assert made and all(r["opc_request_id"] in audited for r in made)
    assert joined >= len(made)


def test_sign_in_and_token_exchange_events_name_the_user_and_client(served: Served) -> None:
    async def call() -> None:
        async with bearer_client(served.url, served.sb, "alice", served.tmp / "cache2") as client:
            assert (await call_tool(client, "whoami", {}))[0]

    anyio.run(call)
    events = read_audit(served.audit)
    sign_ins = [e for e in events if e["event"] == "sign_in" and e["user"] == "alice"]
    assert sign_ins, "GUARANTEE audit-events: no sign_in event"
    assert sign_ins[-1]["grant"] == "authorization_code"
    assert sign_ins[-1]["user_ocid"].startswith("ocid1.user.")
    # the client of the sign-in is the client of the calls made with its token
    assert tool_calls(events, user="alice", client_id=sign_ins[-1]["client_id"])
    exchanges = [e for e in events if e["event"] == "token_exchange" and e["user"] == "alice"]
    assert exchanges and exchanges[-1]["outcome"] == "ok" and exchanges[-1]["duration_ms"] > 0


def test_audit_output_holds_no_token_secret_password_or_argument_value(served: Served) -> None:
    secret_id = "ocid1.compartment.oc1..argumentvalue" + "9" * 20

    async def call() -> tuple[bool, Any]:
        async with bearer_client(served.url, served.sb, "bob", served.tmp / "cache") as client:
            return await call_tool(client, "list_buckets", {"compartment_id": secret_id})

    ok, _ = anyio.run(call)
    assert not ok  # no such compartment: a tool error
    events = read_audit(served.audit)
    failed = tool_calls(events, user="bob", tool="list_buckets")[-1]
    assert failed["outcome"] == "tool_error"
    argument = failed["arguments"]["compartment_id"]
    assert set(argument) == {"size", "sha256"} and argument["size"] == len(secret_id) + 2
    text = served.audit.read_text()
    secrets = [*env_secrets(served.env_file), password(served.sb, "alice"),
               password(served.sb, "bob"), secret_id]
    assert secret_problems(text, secrets) == [], "GUARANTEE audit-no-secrets"


def test_json_log_format_is_one_object_per_line(served: Served) -> None:
    """Every line a JSON object; a failed call's line is in it with its error (one that ended
    well is recorded by its audit event alone: its line is DEBUG while the audit is on)."""

    async def call() -> tuple[bool, Any]:
        async with bearer_client(served.url, served.sb, "alice", served.tmp / "cache") as client:
            assert (await call_tool(client, "whoami", {}))[0]
            unseen = "ocid1.compartment.oc1..aaaaaaaa" + "1" * 52
            return await call_tool(client, "list_buckets", {"compartment_id": unseen})

    assert not anyio.run(call)[0]
    lines = [line for line in served.log.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line parses
    assert records and all(set(r) == {"time", "level", "logger", "message"} for r in records)
    assert any(re.match(r"tool call user=alice tool=list_buckets outcome=error .* error=\S",
                        r["message"]) and r["level"] == "INFO" for r in records
               ), "GUARANTEE log-json: the call line is in the JSON log"
    assert not any(re.match(r"tool call user=\S+ tool=\S+ outcome=ok", r["message"])
                   for r in records)
    assert tool_calls(read_audit(served.audit), user="alice", tool="whoami", outcome="ok")
    assert secret_problems(served.log.read_text(), env_secrets(served.env_file)) == []


def test_bad_audit_and_log_format_flags_are_usage_errors(served: Served) -> None:
    missing_dir = served.tmp / "no-such-dir" / "audit.jsonl"
    bad = run_cli("serve", "--env-file", str(served.env_file), "--audit-log", str(missing_dir))
    assert bad.returncode == 2 and "--audit-log" in bad.stderr and "Traceback" not in bad.stderr
    fmt = run_cli("serve", "--env-file", str(served.env_file), "--log-format", "xml")
    assert fmt.returncode == 2 and "--log-format" in fmt.stderr


def test_audit_off_writes_nothing(tmp_path: Path) -> None:
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with provisioned_sandbox(tmp_path) as (sb, env_file, server_url), \
            out.open("wb") as stdout, err.open("wb") as stderr:
        args = ["--env-file", str(env_file), "--storage-dir", str(tmp_path / "oauth"),
                "--audit-log", "off"]
        with serve_process(server_url, *args, stdout=stdout, stderr=stderr):

            async def call() -> None:
                url = server_url + "/mcp"
                async with bearer_client(url, sb, "alice", tmp_path / "cache") as client:
                    assert (await call_tool(client, "list_compartments", {}))[0]

            anyio.run(call)
    assert "tool call user=alice" in err.read_text()  # the call was served and logged
    assert out.read_text() == "", "GUARANTEE audit-off: something was written"


# --- the server in-process, audit to a file: outcomes and events ---------------------------------


class Stack(ServerStack):
    audit: Path

    def events(self) -> list[dict[str, Any]]:
        return read_audit(self.audit)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("audit-stack")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OCI_MCP_RETRY_BASE_SECONDS", "0.01")  # short backoff between 503 retries
        with server_stack(tmp, cls=Stack, audit_log=str(tmp / "audit.jsonl"),
                          tool_timeout=TOOL_TIMEOUT_S) as st:
            st.audit = tmp / "audit.jsonl"
            yield st


def calls_of(st: Stack, user: str, script: Any) -> Any:
    async def main() -> Any:
        async with bearer_client(st.url, st.sb, user, st.tmp / "cache") as client:
            return await script(lambda tool, **args: call_tool(client, tool, args))

    return anyio.run(main)


def test_audit_file_is_private_and_appended_across_restarts(stack: Stack) -> None:
    calls_of(stack, "alice", lambda call: call("whoami"))
    before = len(stack.events())
    assert stack.audit.stat().st_mode & 0o777 == 0o600, "GUARANTEE audit-file-0600"
    stack.restart()
    calls_of(stack, "alice", lambda call: call("whoami"))
    after = stack.events()
    assert len(after) > before and tool_calls(after[before:], tool="whoami", user="alice")


def test_deadline_outcome(stack: Stack) -> None:
    stack.sb.fault("GET", COMPARTMENTS, 0, delay_s=2 * TOOL_TIMEOUT_S)  # held past the deadline
    ok, value = calls_of(stack, "alice", lambda call: call("list_compartments"))
    # Either side of the deadline may notice first (the SDK's read timeout is the deadline's
    # remainder): both say "tool timeout" and both are outcome "deadline".
    assert not ok and "tool timeout" in value, value
    assert tool_calls(stack.events(), user="alice", tool="list_compartments")[-1][
        "outcome"] == "deadline", "GUARANTEE audit-outcomes: deadline"


def test_breaker_outcome_and_failed_requests_are_reported(stack: Stack) -> None:
    stack.restart()  # a fresh breaker board
    stack.sb.fault("GET", COMPARTMENTS, 503, count=60)

    async def script(call: Any) -> list[tuple[bool, Any]]:
        results = []
        for _ in range(8):  # each call makes up to 3 attempts; 5 failures open the breaker
            results.append(await call("list_compartments"))
            if "not attempted" in str(results[-1][1]):
                break
        return results

    try:
        results = calls_of(stack, "bob", script)
    finally:
        stack.sb.clear_faults()
    assert "not attempted" in str(results[-1][1]), results
    calls = tool_calls(stack.events(), user="bob", tool="list_compartments")[-len(results):]
    assert [c["outcome"] for c in calls] == ["tool_error"] * (len(results) - 1) + ["breaker"], (
        "GUARANTEE audit-outcomes: breaker"
    )
    failed = [r for c in calls[:-1] for r in c["oci_requests"]]
    assert failed and all(r["status"] == 503 and r["opc_request_id"] for r in failed)
    assert calls[-1]["oci_requests"] == []  # refused by the breaker: nothing was sent
    stack.restart()  # bob's breaker stays open for 30 s: leave a fresh server


def test_refused_outcome_and_revalidation_event(stack: Stack) -> None:
    from test_revalidation import Stack as Admin
    from test_revalidation import _set_trust_active

    stack.restart(revalidate_after=0)
    admin = Admin(stack.sb, stack.settings, stack.tmp, stack.env_file)

    async def script(call: Any) -> list[tuple[bool, Any]]:
        first = await call("whoami")
        _set_trust_active(admin, False)
        try:
            return [first, await call("whoami")]
        finally:
            _set_trust_active(admin, True)

    try:
        first, refused = calls_of(stack, "bob", script)
    finally:
        stack.restart()
    assert first[0] and not refused[0]
    events = stack.events()
    assert tool_calls(events, user="bob", tool="whoami")[-1]["outcome"] == "refused", (
        "GUARANTEE audit-outcomes: refused"
    )
    revalidations = [e for e in events if e["event"] == "revalidation" and e["user"] == "bob"]
    assert revalidations[-1]["outcome"] == "refused" and revalidations[-1]["reason"].startswith(
        "http_4"
    ), "GUARANTEE audit-events: revalidation refusal"


def test_revocation_and_rate_limit_events(stack: Stack) -> None:
    public = stack.settings.server_url
    with httpx.Client(timeout=30) as http:
        login = hand_sign_in(http, public, public, "alice", password(stack.sb, "alice"))
        for token in (login.access_token, login.refresh_token):
            answer = http.post(f"{public}/revoke", data={
                "token": token, "client_id": login.client_id, "client_secret": ""})
            assert answer.status_code == 200, answer.text
        stack.restart(rate_limit=1.0, rate_burst=1)
        try:
            statuses = [http.post(f"{public}/register", json={"redirect_uris": [
                "http://127.0.0.1:9/cb"]}).status_code for _ in range(2)]
        finally:
            stack.restart()
    assert statuses[-1] == 429, statuses
    events = stack.events()
    revoked = [e for e in events if e["event"] == "revocation" and e["client_id"] ==
               login.client_id]
    assert [e["revoked"] for e in revoked] == ["access", "grant"], (
        "GUARANTEE audit-events: revocation"
    )
    assert all(e["user"] == "alice" for e in revoked)
    limited = [e for e in events if e["event"] == "rate_limited" and e["group"] == "register"]
    assert limited and limited[-1]["client_address"] == "127.0.0.1", (
        "GUARANTEE audit-events: rate limit"
    )
    text = stack.audit.read_text()
    secrets = [*env_secrets(stack.env_file), login.access_token, login.refresh_token,
               password(stack.sb, "alice")]
    assert secret_problems(text, secrets) == [], "GUARANTEE audit-no-secrets"


def test_session_cap_event(stack: Stack) -> None:
    from guard_support import initialize
    from test_chaos_sessions import HOLD_TIMEOUT_S, Held, _start_hold, _token

    from oci_mcp_cli.server.app import ServerThread

    held = Held()
    settings = replace(stack.settings, max_sessions_per_user=1, rate_limit=0)
    stack.stop()
    try:
        with ServerThread(settings, held.app) as server:
            token = _token(server, stack.sb, "alice")
            session = initialize(server, token).headers["mcp-session-id"]
            thread, _ = _start_hold(server, token, session)
            held.wait_entered(1)
            try:
                refused = initialize(server, token)
            finally:
                held.release()
                thread.join(HOLD_TIMEOUT_S + 40)
    finally:
        stack.restart()
    assert refused.status_code == 429
    capped = [e for e in stack.events() if e["event"] == "session_cap"]
    assert capped and capped[-1]["user"] == "alice" and capped[-1]["limit"] == 1, (
        "GUARANTEE audit-events: session cap"
    )


def test_server_fault_outcome(stack: Stack) -> None:
    """A tool of the user's own server (``serve --app``) that raises an unexpected exception."""
    from fastmcp import FastMCP

    from oci_mcp_cli.server.app import ServerThread

    app = FastMCP("faulty")

    @app.tool
    def boom() -> str:
        """Fail unexpectedly."""
        raise RuntimeError("unexpected")

    stack.stop()
    try:
        with ServerThread(stack.settings, app):
            ok, _ = calls_of(stack, "alice", lambda call: call("boom"))
    finally:
        stack.restart()
    assert not ok
    assert tool_calls(stack.events(), user="alice", tool="boom")[-1]["outcome"] == (
        "server_fault"
    ), "GUARANTEE audit-outcomes: server_fault"


def test_a_failing_audit_write_never_fails_a_call(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``/dev/full`` answers every write with ENOSPC (a full disk)."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    with server_stack(tmp_path, audit_log="/dev/full") as st, caplog.at_level(logging.ERROR):
        results = calls_of(st, "alice", lambda call: asyncio.gather(
            call("whoami"), call("list_compartments"), call("get_namespace")))
    assert all(ok for ok, _ in results), "GUARANTEE audit-write-failure: a call failed"
    failures = [r for r in caplog.records if "cannot write the audit log" in r.getMessage()]
    assert len(failures) == 1, [r.getMessage() for r in failures]

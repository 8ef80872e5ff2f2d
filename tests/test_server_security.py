"""Security properties of the running server (real server + sandbox + FastMCP clients over HTTP):
no tool result ever carries a token or secret, blocking SDK calls never stall the event loop, the
OAuth state directory is private and encrypted, and logs mask OAuth parameters."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest
from serve_support import ServerStack, server_stack

from oci_mcp_cli.client.session import call_tool, make_client
from oci_mcp_cli.server.logs import RedactingFilter

pytestmark = pytest.mark.e2e
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")


Stack = ServerStack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with server_stack(tmp_path_factory.mktemp("security")) as st:
        yield st


def _arguments(tool: Any, compartment: str) -> dict[str, Any]:
    """Valid arguments for any tool: required OCIDs get a compartment the user can see."""
    required = (tool.input_schema or {}).get("required", [])
    return {name: compartment for name in required}


def test_no_tool_result_ever_carries_a_token_or_secret(stack: Stack) -> None:
    """Calls every registered tool (new tools are covered automatically) and searches the results
    and errors for JWT-looking strings and the server's secrets."""

    async def main() -> dict[str, Any]:
        async with make_client(stack.options("alice")) as client:
            tools = await client.list_tools()
            ok, comps = await call_tool(client, "list_compartments", {})
            assert ok, comps
            compartment = next(c["id"] for c in comps if c["name"] == "engineering")
            results = {}
            for tool in tools:
                results[tool.name] = await call_tool(
                    client, tool.name, _arguments(tool, compartment)
                )
            return results

    results = anyio.run(main)
    assert {"whoami", "list_regions", "get_namespace", "list_compartments", "list_buckets"} <= set(
        results
    )
    for name, (ok, value) in results.items():
        assert ok, (name, value)
        text = json.dumps(value)
        assert not JWT.search(text), name
        for secret in stack.settings.secrets:
            assert secret not in text, name
        assert "token" not in {k.lower() for k in (value if isinstance(value, dict) else {})}


class HeldFault:
    """A sandbox fault that holds its request until the test releases it.

    A fixed injected delay (the HTTP hook's ``delay_s``) can run out on a loaded machine before
    the test has looked; this waits for a condition instead. It duck-types
    ``sandbox.context.Fault``, appended in-process to the sandbox's fault list because the hook
    API has no "hold until released" fault: the middleware reads ``delay_s`` once, in the
    sandbox's thread, when the matching request arrives; reading it marks the request as arrived
    and blocks that thread until :meth:`release` (at most ``HOLD_S``).
    """

    HOLD_S = 60.0

    def __init__(self, method: str, path: str) -> None:
        self.method, self.path, self.status, self.count = method, path, 0, 1
        self.arrived = threading.Event()
        self._released = threading.Event()

    @property
    def delay_s(self) -> float:
        self.arrived.set()
        self._released.wait(self.HOLD_S)
        return 0.0

    def release(self) -> None:
        self._released.set()


def test_event_loop_answers_while_a_tool_is_blocked_in_the_sdk(stack: Stack) -> None:
    """Sync tools run in FastMCP's worker threads: while get_namespace waits on a sandbox
    response held back by the test, ``GET /health`` still answers."""

    async def main() -> None:
        async with make_client(stack.options("bob")) as client:
            ok, _ = await call_tool(client, "whoami", {})  # exchange done and cached
            assert ok
            held = HeldFault("GET", "/n")
            with stack.sb.ctx.lock:
                stack.sb.ctx.faults.append(held)  # type: ignore[arg-type]  # duck-typed Fault
            done = anyio.Event()

            async def slow() -> None:
                success, value = await call_tool(client, "get_namespace", {})
                assert success, value
                done.set()

            try:
                async with anyio.create_task_group() as group:
                    group.start_soon(slow)
                    # the tool's SDK call has reached the sandbox, which holds it there
                    arrived = await anyio.to_thread.run_sync(held.arrived.wait, 30.0)
                    assert arrived, "get_namespace never reached the sandbox"
                    async with httpx.AsyncClient() as http:
                        health = await http.get(stack.settings.server_url + "/health", timeout=30)
                    assert health.status_code == 200
                    assert not done.is_set()  # answered while the tool was still blocked
                    held.release()
            finally:
                held.release()
            assert done.is_set()  # and the tool finished once the sandbox answered

    anyio.run(main)


def test_oauth_state_directory_is_private_and_encrypted(stack: Stack) -> None:
    storage = stack.tmp / "oauth"
    assert storage.stat().st_mode & 0o777 == 0o700
    files = [p for p in storage.rglob("*") if p.is_file()]
    assert files  # sign-ins above stored clients, codes and upstream tokens here
    for path in files:
        text = path.read_text(errors="replace")
        assert not JWT.search(text), path
        assert "alice" not in text and "bob" not in text, path


def test_log_filter_masks_oauth_parameters_tokens_and_secrets() -> None:
    redacting = RedactingFilter(["s3cr3t-value"])
    line = (
        '127.0.0.1:5 - "GET /auth/callback?code=abc123&state=xyz&iss=http%3A%2F%2Fx HTTP/1.1" 302 '
        "body grant_type=t&subject_token=eyJhbGciOi.eyJzdWIi.sig&code_verifier=v "
        "client s3cr3t-value"
    )
    masked = redacting.redact(line)
    for leaked in ("abc123", "xyz", "eyJ", "=v ", "s3cr3t-value"):
        assert leaked not in masked
    assert "code=[redacted]&state=[redacted]&iss=" in masked
    assert (
        redacting.redact("lifecycle_state=ACTIVE barcode=1") == "lifecycle_state=ACTIVE barcode=1"
    )

"""Issue 18 §2/§7: two-user circuit-breaker isolation under a sustained upstream failure.

The real server (in-process ``ServerThread``), the real SDK and the sandbox over real HTTP; the
sustained 503 comes from the sandbox's fault hook on ``GET /20160918/compartments``. The hook
matches requests by method and path, not by user (it answers before the request is
authenticated), so "alice's outage" is staged in order: alice's calls first open *her*
breaker, then both users call concurrently while the fault still stands, then after it ends.

Guarantees (docs/security.md, "Circuit breakers per user and operation"):
- breaker-key: alice's open ListCompartments breaker refuses neither bob's ListCompartments
  (it is attempted: bob gets the 503 himself, then a success once the outage ends) nor any
  other operation of either user (ListRegionSubscriptions, GetNamespace);
- breaker-protects: while open, alice's ListCompartments fail fast with no request sent;
- bulkhead: the tool's pool still bounds its concurrency (``--oci-workers`` threads).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from oauth_flow import password
from serve_support import ServerStack, ok, server_stack

from oci_mcp_cli.client.session import ClientOptions, call_tool, make_client, make_oauth

pytestmark = [pytest.mark.e2e, pytest.mark.chaos]
COMPARTMENTS = "/20160918/compartments"
TIMEOUT_S = 20  # generous: nothing here hangs, every fault answers at once
WORKERS = 4
STORM = 16  # alice's concurrent refused calls (4× the tool's pool)
REFUSED = "not attempted"
OPEN_WITHIN = 8  # calls of alice (each up to 3 attempts) that must open a 5-failure breaker


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerStack]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OCI_MCP_RETRY_BASE_SECONDS", "0.01")  # short backoff between 503 retries
        with server_stack(tmp_path_factory.mktemp("chaos-breaker"), tool_timeout=TIMEOUT_S,
                          oci_workers=WORKERS) as st:
            yield st


@asynccontextmanager
async def signed_in(st: ServerStack, user: str) -> Any:
    """A client of ``user`` that can have many calls in flight (the real sign-in, then its
    access token as a plain bearer: the MCP SDK's OAuth client sends one request at a time)."""
    from fastmcp import Client

    options = ClientOptions(url=st.url, username=user, password=password(st.sb, user),
                            cache_root=st.tmp / "cache")
    oauth = make_oauth(options)
    async with make_client(options, oauth):
        token = oauth.context.current_tokens.access_token
    async with Client(st.url, auth=token, timeout=120) as client:
        yield client


def sent_to(st: ServerStack, path: str) -> list[int]:
    """Statuses of the requests sent to ``path`` since the log was last cleared (a faulted
    request has no principal: the hook answers before authentication)."""
    return [r["status"] for r in st.sb.requests() if r["path"] == path]


def pool_threads(st: ServerStack, tool: str) -> int:
    """Threads the server's pool of ``tool`` ever started (``server/pools.py``)."""
    from oci_mcp_cli.server.clients import runtime_of

    assert st.server is not None
    return runtime_of(st.server.mcp).pool(tool).threads


def test_one_users_failing_operation_never_refuses_another_user_or_operation(
    stack: ServerStack,
) -> None:
    failures: list[str] = []
    calls: dict[str, list[tuple[bool, Any]]] = {}

    async def main() -> None:
        async with signed_in(stack, "alice") as alice, signed_in(stack, "bob") as bob:
            await ok(alice, "whoami")  # both exchanges done before the outage
            await ok(bob, "whoami")
            stack.sb.fault("GET", COMPARTMENTS, 503, count=10_000)

            # alice's sustained failure opens her breaker (each call: up to 3 attempts).
            for _ in range(OPEN_WITHIN):
                success, message = await call_tool(alice, "list_compartments", {})
                assert not success, message
                if REFUSED in message:
                    break
            else:
                failures.append("GUARANTEE breaker-protects: alice's breaker never opened")
                return

            stack.sb.clear_requests()

            async def call(who: str, client: Any, tool: str) -> None:
                calls.setdefault(f"{who} {tool}", []).append(await call_tool(client, tool, {}))

            async with anyio.create_task_group() as group:
                for _ in range(STORM):
                    group.start_soon(call, "alice", alice, "list_compartments")
                for _ in range(4):
                    group.start_soon(call, "alice", alice, "list_regions")
                    group.start_soon(call, "bob", bob, "list_regions")
                    group.start_soon(call, "bob", bob, "get_namespace")
                group.start_soon(call, "bob", bob, "list_compartments")
            during = sent_to(stack, COMPARTMENTS)  # bob's one call: 1-3 attempts

            _clear(stack)
            calls["bob list_compartments after"] = [await call_tool(bob, "list_compartments", {})]
            calls["alice list_compartments after"] = [
                await call_tool(alice, "list_compartments", {})
            ]

        # breaker-protects: alice's open breaker fails her calls fast, no request sent.
        for success, message in calls["alice list_compartments"] + calls[
            "alice list_compartments after"
        ]:
            if success or REFUSED not in message:
                failures.append(f"GUARANTEE breaker-protects: alice's call ran: {message}")
        if len(during) > 3:  # alice's 16 calls would have sent at least 16
            failures.append(f"GUARANTEE breaker-protects: {len(during)} requests were sent")
        # breaker-key: other operations of both users, bob's same operation.
        for name in ("alice list_regions", "bob list_regions", "bob get_namespace"):
            for success, message in calls[name]:
                if not success:
                    failures.append(f"GUARANTEE breaker-key: {name} failed: {message}")
        (success, message), = calls["bob list_compartments"]
        if success or REFUSED in message or "HTTP 503" not in message or 503 not in during:
            failures.append(
                "GUARANTEE breaker-key: bob's ListCompartments during alice's open breaker must "
                f"be attempted (get the 503 itself); got {message!r}, sent {during}"
            )
        (success, message), = calls["bob list_compartments after"]
        if not success:
            failures.append(f"GUARANTEE breaker-key: bob's call after the outage: {message}")
        # bulkhead: the pool bounded the storm.
        threads = pool_threads(stack, "list_compartments")
        if threads > WORKERS:
            failures.append(f"GUARANTEE bulkhead: {threads} list_compartments threads")

    anyio.run(main)
    assert not failures, "\n".join(failures)


def _clear(stack: ServerStack) -> None:
    import httpx

    httpx.delete(stack.sb.url + "/_sandbox/faults", timeout=10).raise_for_status()

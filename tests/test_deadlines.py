"""Issue 9 §2: one slow or failing upstream never stalls everyone.

The real server (in-process ``ServerThread``, so the test can look at its logging registry), the
real SDK and the sandbox over real HTTP; upstream trouble comes from the sandbox's fault hooks.
Small deadlines (``tool_timeout``) keep the tests fast; nothing asserts a duration: the tests
assert that slow calls *ended* with the timeout error and that other calls *completed* while the
slow ones were still in flight.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from oauth_flow import password
from serve_support import ServerStack, ok, server_stack

from oci_mcp_cli.client.session import ClientOptions, call_tool, make_client, make_oauth
from oci_mcp_cli.sandbox import Sandbox

pytestmark = pytest.mark.e2e
COMPARTMENTS = "/20160918/compartments"
TOKEN = "/oauth2/v1/token"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
TIMEOUT_S = 4  # the servers' --tool-timeout here
# More slow calls than anyio's default worker threads (40): without a bulkhead they would take
# every thread FastMCP runs sync tools in, and bob's calls would wait behind them.
STORM = 45


Stack = ServerStack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with server_stack(tmp_path_factory.mktemp("deadlines"), tool_timeout=TIMEOUT_S,
                      oci_workers=4) as st:
        yield st


@pytest.fixture(autouse=True)
def _fresh_server(stack: Stack) -> Iterator[None]:
    """Each test gets its own server (own pools and circuit breakers) and no leftover faults."""
    stack.restart()
    yield
    _clear_faults(stack.sb)


def _clear_faults(sb: Sandbox) -> None:
    import httpx

    httpx.delete(sb.url + "/_sandbox/faults", timeout=10).raise_for_status()


@asynccontextmanager
async def signed_in(st: Stack, user: str, cache: str = "cache") -> Any:
    """A client of ``user`` that can have many calls in flight at once.

    The MCP SDK's OAuth client holds a lock across every request (mcp/client/auth/oauth2.py,
    ``_auth_flow``), so one OAuth client sends its calls one at a time. The test signs in with
    it, then calls with the same access token as a plain bearer token: still the real sign-in
    and the real server-side verification, without the client-side serialization.
    """
    from fastmcp import Client

    options = ClientOptions(
        url=st.url, username=user, password=password(st.sb, user), cache_root=st.tmp / cache
    )
    oauth = make_oauth(options)
    async with make_client(options, oauth):
        token = oauth.context.current_tokens.access_token
    async with Client(st.url, auth=token, timeout=120) as client:
        yield client


def is_timeout(message: str) -> bool:
    return "timed out" in message or f"did not finish within the {TIMEOUT_S}s" in message


def ended_by_deadline(message: str) -> bool:
    """The deadline's error, or the circuit breaker's (timeouts count as failures: calls that
    get a worker just before their deadline find it open)."""
    return is_timeout(message) or "circuit breaker open" in message


def test_storm_of_hanging_calls_ends_by_the_deadline_and_never_stalls_other_users(
    stack: Stack,
) -> None:
    """ListCompartments hangs (the sandbox holds each request longer than the deadline): 45
    concurrent list_compartments calls of alice all end with the timeout error, while bob's
    whoami, get_namespace and list_regions — started after the storm — complete first."""
    alice_results: list[tuple[bool, Any]] = []
    bob_done_while_storm_in_flight: list[bool] = []

    async def main() -> None:
        async with signed_in(stack, "alice") as alice, signed_in(stack, "bob") as bob:
            await ok(alice, "whoami")  # both exchanges done before the outage
            await ok(bob, "whoami")
            stack.sb.fault("GET", COMPARTMENTS, 0, count=10_000, delay_s=TIMEOUT_S + 2)

            async def slow() -> None:
                alice_results.append(await call_tool(alice, "list_compartments", {}))

            async with anyio.create_task_group() as group:
                for _ in range(STORM):
                    group.start_soon(slow)
                await _until(lambda: busy(stack, "list_compartments") == STORM)
                assert (await ok(bob, "whoami"))["user_name"] == "bob"
                assert (await ok(bob, "get_namespace"))["namespace"] == "sandboxns"
                assert {r["region"] for r in await ok(bob, "list_regions")} >= {"us-ashburn-1"}
                bob_done_while_storm_in_flight.append(len(alice_results) == 0)

    anyio.run(main)
    assert bob_done_while_storm_in_flight == [True]
    assert len(alice_results) == STORM
    for success, message in alice_results:
        assert not success and ended_by_deadline(message), message
    assert any(is_timeout(m) for _, m in alice_results)


def busy(stack: Stack, tool: str) -> int:
    """Calls of ``tool`` running or queued in its pool on the current server."""
    assert stack.server is not None
    from oci_mcp_cli.server.clients import runtime_of

    return runtime_of(stack.server.mcp).busy(tool)


async def _until(predicate: Any, timeout: float = 30) -> None:
    """Wait for a condition of the server (readiness, not a fixed sleep)."""
    with anyio.fail_after(timeout):
        while not predicate():
            await anyio.sleep(0.02)


def test_sustained_503_is_retried_a_bounded_number_of_times_then_fails_fast(
    stack: Stack,
) -> None:
    """Every ListCompartments answers 503: each call makes at most 3 attempts (the client's one
    retry layer; oci.pagination's retry around it made ~40), and once alice's breaker for that
    operation has seen repeated failures, her calls fail fast without reaching OCI — bob's
    are still attempted (his breaker is his own), and other operations are unaffected."""
    results: list[tuple[bool, Any]] = []

    async def main() -> None:
        async with signed_in(stack, "alice") as alice, signed_in(stack, "bob") as bob:
            await ok(alice, "whoami")
            await ok(bob, "whoami")
            stack.sb.fault("GET", COMPARTMENTS, 503, count=10_000)
            stack.sb.clear_requests()

            async def failing() -> None:
                results.append(await call_tool(alice, "list_compartments", {}))

            async with anyio.create_task_group() as group:
                for _ in range(12):
                    group.start_soon(failing)
            # At least the breaker's threshold of real 503s, at most 3 attempts per call.
            assert 5 <= stack.requests_to("GET", COMPARTMENTS) <= 12 * 3
            stack.sb.clear_requests()
            success, message = await call_tool(alice, "list_compartments", {})
            assert not success and "circuit breaker open" in message, message
            assert "not attempted" in message
            assert stack.requests_to("GET", COMPARTMENTS) == 0  # no request was sent
            success, message = await call_tool(bob, "list_compartments", {})
            assert not success and "HTTP 503" in message, message  # attempted: bob's own 503
            # Other operations, of either user, are unaffected.
            assert {r["region"] for r in await ok(alice, "list_regions")} >= {"us-ashburn-1"}
            assert (await ok(bob, "get_namespace"))["namespace"] == "sandboxns"

    anyio.run(main)
    assert len(results) == 12
    for success, message in results:
        assert not success
        assert "HTTP 503" in message or "circuit breaker open" in message or is_timeout(message)


def test_one_transient_5xx_on_the_token_exchange_is_retried_within_the_deadline(
    stack: Stack,
) -> None:
    """A cold user's first call (no cached signer) whose exchange gets one 503: the exchange
    is retried once and the call succeeds."""

    async def main() -> None:
        async with signed_in(stack, "alice", cache="blip") as alice:
            stack.sb.clear_requests()
            stack.sb.fault("POST", TOKEN, 503, count=1)
            assert (await ok(alice, "whoami"))["user_name"] == "alice"

    anyio.run(main)
    assert [r["status"] for r in stack.sb.requests() if r["path"] == TOKEN] == [503, 200]


def test_sustained_5xx_on_the_token_exchange_fails_clearly_after_one_retry(
    stack: Stack,
) -> None:
    """Every exchange answers 503: the call fails with the identity domain's error (not the
    deadline's), after exactly one retry."""
    result: list[tuple[bool, Any]] = []

    async def main() -> None:
        async with signed_in(stack, "bob", cache="outage") as bob:
            stack.sb.clear_requests()
            stack.sb.fault("POST", TOKEN, 503, count=100)
            result.append(await call_tool(bob, "whoami", {}))

    anyio.run(main)
    (success, message), = result
    assert not success
    assert "token exchange failed (HTTP 503" in message, message
    assert "the identity domain had a server error; try again shortly" in message
    assert not is_timeout(message)
    assert [r["status"] for r in stack.sb.requests() if r["path"] == TOKEN] == [503, 503]


def test_hung_identity_domain_ends_the_call_and_its_waiters_at_the_deadline(
    stack: Stack,
) -> None:
    """The token endpoint hangs: the exchange and the calls waiting for it (single-flight) all
    end with the timeout error by the deadline; the next call after the outage works."""
    results: list[tuple[bool, Any]] = []

    async def main() -> None:
        async with signed_in(stack, "bob", cache="hung") as c:
            stack.sb.clear_requests()
            # Every exchange hangs while the outage lasts: a call that gets a worker late (the
            # pool has 4) starts a new exchange once the first one has failed.
            stack.sb.fault("POST", TOKEN, 0, count=100, delay_s=TIMEOUT_S + 2)

            async def call() -> None:
                results.append(await call_tool(c, "whoami", {}))

            async with anyio.create_task_group() as group:
                for _ in range(5):
                    group.start_soon(call)
            _clear_faults(stack.sb)
            assert (await ok(c, "whoami"))["user_ocid"]

    anyio.run(main)
    assert len(results) == 5
    for success, message in results:
        assert not success and is_timeout(message), message


def test_no_per_signer_or_per_call_sdk_resource_outlives_its_use(stack: Stack) -> None:
    """The SDK registers a logger per signer and per client; they are released with the cache
    entry and at the end of each call, so the logging registry does not grow with calls."""
    stack.restart(cache_size=1)

    def sdk_loggers() -> dict[str, int]:
        names = list(logging.Logger.manager.loggerDict)
        return {
            "signers": sum(n.startswith("oci.auth.signers.token_exchange_signer.") for n in names),
            "clients": sum(n.startswith("oci.base_client.") for n in names),
        }

    async def main() -> dict[str, int]:
        async with signed_in(stack, "alice") as alice, signed_in(stack, "bob") as bob:
            before = sdk_loggers()
            for _ in range(5):  # cache_size=1: every switch of user evicts the other's signer
                await ok(alice, "list_compartments")
                await ok(bob, "get_namespace")
            after = sdk_loggers()
            # never more: other servers of this test process may release theirs meanwhile
            assert after["clients"] <= before["clients"]
            assert after["signers"] <= before["signers"] + 1  # at most the one cached signer
            return after

    anyio.run(main)

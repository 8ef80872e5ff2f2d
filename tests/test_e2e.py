"""End to end over real HTTP: sandbox + provisioning + the real server + FastMCP clients signing in
through the headless sandbox flow; tools use the real TokenExchangeSigner and the real OCI SDK.

One sandbox and one server for the module (tests that change sandbox state restore it).
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest
from serve_support import ServerStack, ok, server_stack, signed_in

from oci_mcp_cli.client.session import call_tool
from oci_mcp_cli.testing.provision import provision

pytestmark = pytest.mark.e2e
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
SEES = {
    "alice": {"engineering", "engineering-dev", "shared"},
    "bob": {"finance", "shared"},
}


Stack = ServerStack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with server_stack(tmp_path_factory.mktemp("e2e")) as st:
        yield st


def test_two_users_100_interleaved_calls_each_see_only_their_own(stack: Stack) -> None:
    async def main() -> None:
        async with signed_in(stack, "alice") as alice, signed_in(stack, "bob") as bob:
            clients = {"alice": alice, "bob": bob}
            plan = [(u, t) for u in SEES for t in ("whoami", "list_compartments")] * 25
            random.Random(4).shuffle(plan)
            results: list[tuple[str, str, Any]] = []

            async def one(user: str, tool: str) -> None:
                results.append((user, tool, await ok(clients[user], tool)))

            for start in range(0, len(plan), 20):  # 20 in flight at a time
                async with anyio.create_task_group() as group:
                    for user, tool in plan[start : start + 20]:
                        group.start_soon(one, user, tool)
            assert len(results) == 100
            ocids: dict[str, set[str]] = {"alice": set(), "bob": set()}
            for user, tool, value in results:
                if tool == "whoami":
                    assert value["user_name"] == user
                    ocids[user].add(value["user_ocid"])
                else:
                    assert {c["name"] for c in value} == SEES[user]
            assert all(len(v) <= 1 for v in ocids.values())
            assert not (ocids["alice"] & ocids["bob"])

    anyio.run(main)


def test_exactly_one_exchange_per_token_under_50_concurrent_calls(stack: Stack) -> None:
    async def main() -> None:
        async with signed_in(stack, "alice", cache="fresh-50", relogin=True) as client:
            stack.sb.clear_requests()
            async with anyio.create_task_group() as group:
                for _ in range(50):
                    group.start_soon(ok, client, "whoami")
            assert stack.exchanges() == 1
            await ok(client, "get_namespace")
            assert stack.exchanges() == 1

    anyio.run(main)


def test_calls_keep_working_across_token_refresh_without_sign_in(stack: Stack) -> None:
    stack.sb.set_config(access_token_ttl_s=3)
    try:

        async def main() -> None:
            async with signed_in(stack, "bob", cache="short-ttl", relogin=True) as client:
                first = await ok(client, "whoami")
                signins = sum(1 for r in stack.sb.requests() if r["path"].endswith("/authorize"))
                expires = time.mktime(
                    time.strptime(first["token_expires_at"], "%Y-%m-%dT%H:%M:%SZ")
                )
                # The upstream token must really expire: wait for the clock, not for a server.
                await anyio.sleep(max(0.0, expires - time.mktime(time.gmtime()) + 1.5))
                for _ in range(3):
                    again = await ok(client, "list_compartments")
                    assert {c["name"] for c in again} == SEES["bob"]
                second = await ok(client, "whoami")
                assert second["user_name"] == "bob"
                assert second["token_expires_at"] != first["token_expires_at"]
                after = sum(1 for r in stack.sb.requests() if r["path"].endswith("/authorize"))
                assert after == signins  # refreshed, never sent back to the sign-in page

        anyio.run(main)
    finally:
        stack.sb.set_config(access_token_ttl_s=3600)


def test_iam_500_is_a_clear_error_and_the_next_call_succeeds(stack: Stack) -> None:
    """A sustained 500 from the domain's token endpoint (two in a row: the exchange retries a
    transient 5xx once, tests/test_deadlines.py) fails the call with the status, and the server
    recovers for the next call."""

    async def main() -> None:
        async with signed_in(stack, "alice", cache="fault-500", relogin=True) as client:
            stack.sb.fault("POST", "/oauth2/v1/token", 500, count=2)
            success, message = await call_tool(client, "whoami", {})
            assert not success
            assert "token exchange failed" in message and "HTTP 500" in message
            assert _health(stack) == 200
            assert (await ok(client, "whoami"))["user_name"] == "alice"

    anyio.run(main)


def test_missing_trust_names_the_fix_and_recovers(stack: Stack) -> None:
    from oci_mcp_cli.core.ociconfig import load_oci_auth
    from oci_mcp_cli.provisioning.session import DomainSession
    from oci_mcp_cli.provisioning.trust import detach_trust, find_trust

    session = DomainSession(
        load_oci_auth(stack.sb.config_file, stack.sb.profile), stack.settings.domain_url
    )
    trust = find_trust(session, "https://identity.oraclecloud.com/")
    assert trust is not None
    detach_trust(session, trust.id, stack.settings.exchange_client_id, None, True)

    async def call(cache: str) -> tuple[bool, Any]:
        async with signed_in(stack, "bob", cache=cache, relogin=True) as client:
            return await call_tool(client, "whoami", {})

    success, message = anyio.run(call, "no-trust")
    assert not success
    assert "identity propagation trust" in message and "oci-mcp trust create" in message
    assert _health(stack) == 200
    provision(stack.sb, stack.env_file, stack.settings.server_url)  # init re-creates the trust
    success, value = anyio.run(call, "trust-back")
    assert success and value["user_name"] == "bob"


def test_wrong_exchange_secret_is_clear_and_restart_keeps_clients_signed_in(stack: Stack) -> None:
    bad = dataclasses.replace(stack.settings, exchange_client_secret="definitely-wrong-secret")

    async def call() -> tuple[bool, Any]:
        async with signed_in(stack, "alice", cache="restart") as client:
            return await call_tool(client, "whoami", {})

    assert anyio.run(call)[0]  # signs in once (tokens cached on disk)
    try:
        stack.restart(bad)
        stack.sb.clear_requests()
        success, message = anyio.run(call)
        assert not success
        assert "client credentials were rejected" in message
        assert "IAM_TOKENEXCHANGE_CLIENT_SECRET" in message
        assert "definitely-wrong-secret" not in message
        assert not [r for r in stack.sb.requests() if r["path"].endswith("/authorize")]
        assert _health(stack) == 200
    finally:
        stack.restart()
    success, value = anyio.run(call)
    assert success and value["user_name"] == "alice"


def test_invalid_arguments_are_rejected_before_any_oci_call(stack: Stack) -> None:
    async def main() -> None:
        async with signed_in(stack, "alice") as client:
            await ok(client, "whoami")  # the exchange is done and cached
            stack.sb.clear_requests()
            success, message = await call_tool(client, "list_buckets", {"compartment_id": "nope"})
            assert not success and "invalid compartment_id" in message
            success, message = await call_tool(client, "get_namespace", {"region": "Mars 1"})
            assert not success and "invalid region" in message
            assert stack.sb.requests() == []

    anyio.run(main)


def test_oci_errors_carry_code_and_request_id(stack: Stack) -> None:
    async def main() -> None:
        async with signed_in(stack, "bob") as client:
            comps = await ok(client, "list_compartments")
            finance = next(c["id"] for c in comps if c["name"] == "finance")
            buckets = await ok(client, "list_buckets", compartment_id=finance)
            assert [b["name"] for b in buckets] == ["fin-reports"]
            unseen = "ocid1.compartment.oc1..aaaaaaaa" + "0" * 52
            success, message = await call_tool(client, "list_buckets", {"compartment_id": unseen})
            assert not success
            assert "ListBuckets failed: HTTP 404" in message and "opc-request-id" in message
            regions = await ok(client, "list_regions")
            assert {r["region"] for r in regions} >= {"us-ashburn-1"}

    anyio.run(main)


def _health(stack: Stack) -> int:
    return httpx.get(stack.settings.server_url + "/health", timeout=10).status_code

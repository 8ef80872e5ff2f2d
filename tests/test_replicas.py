"""Three ``oci-mcp serve`` replicas sharing a real ``redis-server``, behind a real ``haproxy``
(round robin per request, no sticky sessions, ``X-Forwarded-For``), on the sandbox: clients
sign in and call through the proxy while replicas are killed and restarted. docs/scale-out.md.

The replicas are subprocesses; each one's audit trail (``tool_call`` events) says which replica
served which call, the sandbox request log says how many sign-ins, refreshes and token
exchanges the identity domain saw.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from oauth_flow import password
from replica_support import Cluster, cluster
from serve_support import EXCHANGE, initialize, refresh, sign_in

from oci_mcp_cli.client.session import ClientOptions, call_tool, make_client, make_oauth

pytestmark = pytest.mark.e2e
SIGN_IN = "authorization_code"  # one upstream code exchange per sign-in


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with cluster(tmp_path_factory.mktemp("replicas"), 3) as running:
        yield running


def _options(c: Cluster, user: str, cache: str) -> ClientOptions:
    return ClientOptions(
        url=c.url + "/mcp", username=user, password=password(c.sb, user),
        cache_root=c.tmp / cache,
    )


async def _token(c: Cluster, user: str, cache: str) -> str:
    """Sign in through the proxy with the product's client (FastMCP OAuth, headless sandbox
    sign-in); its access token."""
    options = _options(c, user, cache)
    oauth = make_oauth(options)
    async with make_client(options, oauth):
        return oauth.context.current_tokens.access_token


async def _bearer(c: Cluster, user: str, cache: str) -> Any:
    """A Client calling with a signed-in user's access token: the MCP SDK's OAuth client
    serializes requests, a bearer client can call concurrently."""
    from fastmcp import Client

    return Client(c.url + "/mcp", auth=await _token(c, user, cache), timeout=60)


def _served_everywhere(counts: dict[str, Any], sub: str) -> bool:
    return all(per_user[sub] > 0 for per_user in counts.values())


def test_a_client_signs_in_through_the_proxy_and_its_calls_land_on_every_replica(
    c: Cluster,
) -> None:
    c.sb.clear_requests()
    marks = c.log_marks()
    options = _options(c, "alice", "cache-spread")

    async def session() -> list[str]:
        names = []
        async with make_client(options) as client:  # the OAuth flow itself crosses replicas
            for _ in range(9):
                ok, who = await call_tool(client, "whoami", {})
                assert ok, who
                names.append(who["user_name"])
        return names

    assert set(anyio.run(session)) == {"alice"}
    counts = c.tool_calls(marks)
    subs = {sub for per_user in counts.values() for sub in per_user}
    assert len(subs) == 1, counts
    assert _served_everywhere(counts, subs.pop()), counts  # round robin, no stickiness
    assert c.grants(SIGN_IN) == 1  # one sign-in, no re-login on another replica
    # A second run of the client reuses its cached tokens: still no sign-in.
    assert set(anyio.run(session)) == {"alice"}
    assert c.grants(SIGN_IN) == 1


def test_users_never_see_each_other_and_each_replica_exchanges_once_per_token(
    c: Cluster,
) -> None:
    """Interleaved concurrent calls of alice and bob through the proxy: every answer names its
    caller; the identity domain sees exactly one UPST exchange per (user token, replica) —
    the signer cache is per replica and single-flight within it."""

    async def run() -> dict[str, list[str]]:
        clients = {u: await _bearer(c, u, f"cache-mix-{u}") for u in ("alice", "bob")}
        c.sb.clear_requests()  # from here on: only the calls
        seen: dict[str, list[str]] = {u: [] for u in clients}

        async def call(user: str) -> None:
            ok, who = await call_tool(clients[user], "whoami", {})
            assert ok, who
            seen[user].append(who["user_name"])

        async with clients["alice"], clients["bob"]:
            for _ in range(3):  # rounds of 8 concurrent calls per user, interleaved
                async with anyio.create_task_group() as group:
                    for _ in range(8):
                        for user in clients:
                            group.start_soon(call, user)
        return seen

    marks = c.log_marks()
    seen = anyio.run(run)
    assert seen == {"alice": ["alice"] * 24, "bob": ["bob"] * 24}
    counts = c.tool_calls(marks)
    pairs = {(replica, sub) for replica, per_user in counts.items() for sub in per_user}
    assert len({sub for _, sub in pairs}) == 2, counts
    assert len(pairs) == 6, counts  # both users on all three replicas
    assert c.grants(EXCHANGE) == len(pairs)  # exactly one exchange per (token, replica)


def test_a_killed_replica_costs_only_its_in_flight_calls(c: Cluster) -> None:
    """A bounded load of two users through the proxy (6 client sessions); one replica gets
    SIGKILL a third of the way in. Failed calls ≤ calls in flight at the kill, no sign-in, and
    the sessions that lost a call reconnect with the same token and keep working."""
    from fastmcp import Client

    victim = c.replicas[2]
    total, workers = 90, 6
    state: dict[str, Any] = {"started": 0, "done": 0, "in_flight": 0, "at_kill": None}
    failed: list[str] = []

    async def run() -> None:
        tokens = {u: await _token(c, u, f"cache-kill-{u}") for u in ("alice", "bob")}
        c.sb.clear_requests()
        killed = anyio.Event()

        async def one_call(client: Any, user: str) -> bool:
            state["started"] += 1
            state["in_flight"] += 1
            try:
                ok, value = await call_tool(client, "whoami", {})
                good = ok and value.get("user_name") == user
                if not good:
                    failed.append(str(value))
                return good
            except Exception as exc:  # a call cut by the kill
                failed.append(repr(exc))
                return False
            finally:
                state["in_flight"] -= 1
                state["done"] += 1
                if state["done"] >= total // 3 and not killed.is_set():
                    killed.set()
                    state["at_kill"] = state["in_flight"]
                    victim.kill()  # SIGKILL, in the middle of the load

        async def worker(user: str) -> None:
            while state["started"] < total:
                # A session whose request was cut ends (the MCP SDK's transport fails the
                # session); the client opens another one with the same token — no sign-in.
                with contextlib.suppress(Exception):
                    async with Client(c.url + "/mcp", auth=tokens[user], timeout=60) as client:
                        while state["started"] < total:
                            if not await one_call(client, user):
                                break

        async with anyio.create_task_group() as group:
            for i in range(workers):
                group.start_soon(worker, ("alice", "bob")[i % 2])
        assert killed.is_set()

    try:
        anyio.run(run)
        assert state["done"] == total
        assert len(failed) <= state["at_kill"], failed
        assert c.grants(SIGN_IN) == 0  # zero forced re-logins
    finally:
        c.restart(victim)  # back for the next tests


def test_rolling_restart_keeps_clients_signed_in_and_refreshes_cross_replicas(
    c: Cluster,
) -> None:
    login = sign_in(c.http, c.url, c.url, "bob", password(c.sb, "bob"))
    options = _options(c, "alice", "cache-rolling")

    async def calls(n: int) -> None:
        async with make_client(options) as client:
            for _ in range(n):
                ok, who = await call_tool(client, "whoami", {})
                assert ok and who["user_name"] == "alice", who

    anyio.run(calls, 3)  # signed in before the restart
    c.sb.clear_requests()
    for replica in c.replicas:  # one at a time, calls keep flowing through the others
        replica.stop()
        anyio.run(calls, 3)
        replica.launch()
        replica.wait_ready()
        anyio.run(calls, 3)
    assert c.grants(SIGN_IN) == 0  # nobody signed in again
    # Tokens issued before the restart are accepted by every (restarted) replica, and a refresh
    # issued by one replica is accepted by the next: access token and refresh token alike.
    for replica in c.replicas:
        assert initialize(c.http, replica.base, c.url, login.access_token).status_code == 200
    first, second, third = c.replicas
    renewed = refresh(c.http, first.base, c.url, login)
    assert renewed.status_code == 200, renewed.text
    login.access_token = renewed.json()["access_token"]
    login.refresh_token = renewed.json()["refresh_token"]
    for replica in (second, third):
        assert initialize(c.http, replica.base, c.url, login.access_token).status_code == 200
    again = refresh(c.http, third.base, c.url, login)
    assert again.status_code == 200, again.text
    assert c.grants("refresh_token") == 2


def test_the_proxy_address_is_not_throttled(c: Cluster) -> None:
    """With --trusted-proxy the replicas limit by X-Forwarded-For, not by haproxy's address:
    a client whose own bucket is spent gets 429, another address still registers. (haproxy's
    ``option forwardfor`` appends to the header a client sent; here that stands in for clients
    at different addresses.)"""

    def register(address: str) -> int:
        return c.http.post(
            c.url + "/register",
            headers={"X-Forwarded-For": address},
            json={"redirect_uris": ["http://127.0.0.1:9/cb"], "token_endpoint_auth_method": "none"},
        ).status_code

    statuses = [register("198.51.100.7") for _ in range(40)]  # > 3 replicas × burst 10
    assert 429 in statuses
    assert register("198.51.100.8") == 201

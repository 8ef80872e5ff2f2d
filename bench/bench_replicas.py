"""Benchmark: throughput with 1, 2 and 3 ``serve`` replicas behind haproxy on one Redis, and the
latency of calls while a replica is killed.

Real processes on this machine: the sandbox, ``redis-server``, N ``oci-mcp serve`` replicas
(``--storage redis://…``, ``--rate-limit 0``) and ``haproxy`` (round robin, no stickiness);
clients sign in and call through the proxy (tests/replica_support.py builds the cluster).

1. sign-ins per second: full OAuth sign-ins (register, authorize, consent, sandbox sign-in,
   callback, code exchange) from 4 concurrent clients;
2. tool calls per second: ``whoami`` from 8 concurrent MCP sessions (signers warm);
3. with 3 replicas: p50/p99 of calls in a steady load vs the same load with one replica
   SIGKILLed a third of the way in.

Run: ``python bench/bench_replicas.py [--sign-ins N] [--calls N]`` (needs redis-server and
haproxy; about 3 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from oauth_flow import password  # noqa: E402  (test helper: sandbox user passwords)
from replica_support import Cluster, cluster, sign_in  # noqa: E402

SESSIONS = 8


def sign_ins_per_s(c: Cluster, count: int) -> float:
    """Full sign-ins through the proxy from 4 threads, alternating users."""
    import httpx

    def one(i: int) -> None:
        user = ("alice", "bob")[i % 2]
        with httpx.Client(timeout=60) as http:
            sign_in(http, c.url, c.url, user, password(c.sb, user))

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, range(2)))  # warm: connections, JWKS, discovery
        start = time.perf_counter()
        list(pool.map(one, range(count)))
        return count / (time.perf_counter() - start)


async def _calls(
    c: Cluster, total: int, kill: Any = None
) -> tuple[float, list[float], int]:
    """``total`` whoami calls from SESSIONS sessions; (calls/s, latencies ms of the successful
    ones, failures). ``kill`` runs once a third of the calls are done."""
    import anyio
    from fastmcp import Client

    from oci_mcp_cli.client.session import ClientOptions, call_tool, make_client, make_oauth

    tokens = {}
    for user in ("alice", "bob"):
        options = ClientOptions(url=c.url + "/mcp", username=user, password=password(c.sb, user),
                                cache_root=c.tmp / f"bench-{user}")
        oauth = make_oauth(options)
        async with make_client(options, oauth):
            tokens[user] = oauth.context.current_tokens.access_token
    state = {"started": 0, "done": 0, "failed": 0, "killed": False}
    latencies: list[float] = []

    async def worker(user: str) -> None:
        while state["started"] < total:
            with contextlib.suppress(Exception):  # a session cut by the kill: reconnect
                async with Client(c.url + "/mcp", auth=tokens[user], timeout=60) as client:
                    while state["started"] < total:
                        state["started"] += 1
                        start = time.perf_counter()
                        try:
                            ok, _ = await call_tool(client, "whoami", {})
                        except Exception:
                            ok = False
                        state["done"] += 1
                        if ok:
                            latencies.append((time.perf_counter() - start) * 1000)
                        else:
                            state["failed"] += 1
                        if kill and not state["killed"] and state["done"] >= total // 3:
                            state["killed"] = True
                            kill()
                        if not ok:
                            break

    async def warm() -> None:  # one exchange per (user, replica) before measuring
        for user in tokens:
            async with Client(c.url + "/mcp", auth=tokens[user], timeout=60) as client:
                for _ in range(2 * len(c.replicas)):
                    await call_tool(client, "whoami", {})

    await warm()
    start = time.perf_counter()
    async with anyio.create_task_group() as group:
        for i in range(SESSIONS):
            group.start_soon(worker, ("alice", "bob")[i % 2])
    return total / (time.perf_counter() - start), latencies, state["failed"]


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main() -> None:
    import anyio

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sign-ins", type=int, default=20)
    parser.add_argument("--calls", type=int, default=240)
    args = parser.parse_args()
    extra = ("--rate-limit", "0", "--log-level", "WARNING")
    rates: dict[int, tuple[float, float]] = {}
    kill_result: dict[str, Any] = {}
    for n in (1, 2, 3):
        with tempfile.TemporaryDirectory() as tmp, cluster(Path(tmp), n, *extra) as c:
            logins = sign_ins_per_s(c, args.sign_ins)
            calls, _, failed = anyio.run(_calls, c, args.calls)
            assert failed == 0, failed
            rates[n] = (logins, calls)
            print(f"{n} replica(s): {logins:.2f} sign-ins/s, {calls:.1f} calls/s", flush=True)
            if n == 3:
                _, steady, _ = anyio.run(_calls, c, args.calls)
                _, during, failed = anyio.run(_calls, c, args.calls, c.replicas[2].kill)
                kill_result = {"steady": steady, "during": during, "failed": failed}

    base_logins, base_calls = rates[1]
    print("\nreplicas  sign-ins/s  ratio   calls/s  ratio")
    for n, (logins, calls) in rates.items():
        print(f"{n:>8}  {logins:10.2f}  {logins / base_logins:4.2f}x  {calls:8.1f}  "
              f"{calls / base_calls:4.2f}x")
    steady, during = kill_result["steady"], kill_result["during"]
    print(f"\n3 replicas, {args.calls} calls from {SESSIONS} sessions:")
    print(f"  steady:      p50 {p(steady, 50):6.1f} ms  p99 {p(steady, 99):6.1f} ms")
    print(f"  replica kill: p50 {p(during, 50):6.1f} ms  p99 {p(during, 99):6.1f} ms  "
          f"(failed calls: {kill_result['failed']}, in flight on the killed replica)")


if __name__ == "__main__":
    main()

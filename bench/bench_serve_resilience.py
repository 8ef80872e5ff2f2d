"""Benchmark: what revalidation costs per call, and unrelated tools' latency during an outage.

Real server (in-process), real SDK, sandbox over real HTTP, signed-in MCP clients:

1. revalidation: median latency of ``whoami`` and ``get_namespace`` with ``--revalidate-after 0``
   (a token exchange on every call) vs ``300`` (cached signer), same run, ratio;
2. outage: median latency of bob's ``whoami`` normally vs while 45 ``list_compartments`` calls of
   alice hang on ListCompartments (sandbox delay fault, ``--tool-timeout 5``), ratio.

Run: ``python bench/bench_serve_resilience.py [--calls N]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from oauth_flow import password  # noqa: E402  (test helper: sandbox user passwords)
from serve_support import provisioned_sandbox  # noqa: E402


async def _bearer_client(url: str, sb: Any, user: str, cache: Path) -> Any:
    """Sign in once through the real OAuth flow, then call with the access token as a bearer
    (the MCP SDK's OAuth client serializes requests; see tests/test_deadlines.py)."""
    from fastmcp import Client

    from oci_mcp_cli.client.session import ClientOptions, make_client, make_oauth

    options = ClientOptions(url=url, username=user, password=password(sb, user), cache_root=cache)
    oauth = make_oauth(options)
    async with make_client(options, oauth):
        token = oauth.context.current_tokens.access_token
    return Client(url, auth=token, timeout=120)


async def _timed(client: Any, tool: str, calls: int) -> list[float]:
    from oci_mcp_cli.client.session import call_tool

    out = []
    for _ in range(calls):
        start = time.perf_counter()
        success, value = await call_tool(client, tool, {})
        out.append((time.perf_counter() - start) * 1000)
        assert success, value
    return out


def main() -> None:
    import anyio

    from oci_mcp_cli.server.app import ServerThread
    from oci_mcp_cli.server.config import load_settings

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=30)
    calls = parser.parse_args().calls
    med = statistics.median

    with tempfile.TemporaryDirectory() as tmp_name, provisioned_sandbox(Path(tmp_name)) as (
        sb,
        env_file,
        _,
    ):
        tmp = Path(tmp_name)
        base = load_settings(env_file, storage_dir=tmp / "oauth", log_level="ERROR")
        url = base.server_url + "/mcp"

        def serve(**changes: Any) -> ServerThread:
            return ServerThread(dataclasses.replace(base, **changes)).start()

        async def revalidation() -> dict[str, dict[float, float]]:
            result: dict[str, dict[float, float]] = {"whoami": {}, "get_namespace": {}}
            for period in (300.0, 0.0, 300.0, 0.0):  # interleaved: load drifts hit both
                server = serve(revalidate_after=period)
                try:
                    client = await _bearer_client(url, sb, "alice", tmp / "c-reval")
                    async with client:
                        await _timed(client, "whoami", 2)  # warm: exchange + connections
                        for tool in result:
                            samples = await _timed(client, tool, calls)
                            result[tool].setdefault(period, 0.0)
                            result[tool][period] += med(samples) / 2
                finally:
                    server.stop()
            return result

        async def outage() -> tuple[float, float]:
            server = serve(tool_timeout=5.0)
            try:
                alice = await _bearer_client(url, sb, "alice", tmp / "c-alice")
                bob = await _bearer_client(url, sb, "bob", tmp / "c-bob")
                async with alice, bob:
                    await _timed(alice, "whoami", 1)
                    await _timed(bob, "whoami", 2)
                    normal = med(await _timed(bob, "whoami", calls))
                    sb.fault("GET", "/20160918/compartments", 0, count=10_000, delay_s=7)
                    during: list[float] = []
                    async with anyio.create_task_group() as group:
                        for _ in range(45):
                            group.start_soon(
                                functools.partial(
                                    alice.call_tool, "list_compartments", {}, raise_on_error=False
                                )
                            )
                        await anyio.sleep(0.3)  # let the storm reach the server
                        during = await _timed(bob, "whoami", calls)
                    import httpx

                    httpx.delete(sb.url + "/_sandbox/faults", timeout=10)
                    return normal, med(during)
            finally:
                server.stop()

        reval = anyio.run(revalidation)
        normal, during = anyio.run(outage)

    print(f"revalidation, {calls} calls per variant, medians:")
    for tool, by_period in reval.items():
        cached, every = by_period[300.0], by_period[0.0]
        print(f"  {tool:14} revalidate-after 300: {cached:6.1f} ms   0: {every:6.1f} ms   "
              f"ratio {every / cached:.2f}x   (+{every - cached:.1f} ms per call)")
    print(f"outage: bob's whoami normally {normal:.1f} ms, during 45 hanging list_compartments "
          f"{during:.1f} ms, ratio {during / normal:.2f}x")


if __name__ == "__main__":
    main()

"""Before/after in one interleaved run: A from this tree, A from another tree (``--before DIR``,
e.g. ``git worktree add /tmp/before <commit>``), and B, the floor — ``serve`` as in
``bench_e2e.py --defaults`` (8 shared MCP sessions), ``--reps`` rounds × 300 calls at
concurrency 1, 10 and 50, the order rotated each round. On a busy machine the A/B of separate
runs moves more than a small change does; within one run the two A's meet the same load.

Run: ``python bench/bench_before_after.py --before /tmp/before [--reps 3]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import bench_e2e as e2e
from oauth_flow import password
from serve_support import provisioned_sandbox, sign_in

from oci_mcp_cli.orchestration.serve_process import stop_process

CALLS = 300


@contextmanager
def process(args: list[str], ready: str, logs: Path, root: Path) -> Iterator[Any]:
    """``args`` run from the code tree ``root`` (its cwd and ``PYTHONPATH``) until ``ready``
    answers; stdout and stderr in ``logs``.out / .err."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    with open(f"{logs}.out", "wb") as out, open(f"{logs}.err", "wb") as err:
        proc = subprocess.Popen(args, env=env, cwd=root, stdout=out, stderr=err)
        try:
            e2e.wait_http(ready, proc)
            yield proc
        finally:
            stop_process(proc, grace=15)


def rates(runs: list[dict[str, Any]]) -> tuple[float, float, int]:
    """(calls/s over all runs, server CPU ms per call, errors)."""
    done = sum(len(r["latencies_ms"]) for r in runs)
    return (done / sum(r["elapsed_s"] for r in runs),
            1000 * sum(r["cpu_s"] for r in runs) / max(done, 1),
            sum(r["errors"] for r in runs))


def main() -> None:
    from oci_mcp_cli.core.ports import free_port

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--before", type=Path, required=True, help="the other code tree")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    before_root = args.before.resolve()
    print(f"load average at the start: {os.getloadavg()[0]:.2f}", flush=True)
    with tempfile.TemporaryDirectory() as tmp_name, provisioned_sandbox(Path(tmp_name)) as (
        sb, env_file, server_url,
    ):
        import httpx

        tmp = Path(tmp_name)
        port_after, port_before, port_b = (
            int(server_url.rsplit(":", 1)[1]), free_port(), free_port())
        flags = [e2e.serve_flags(defaults=True, observability=True, metrics_port=free_port())
                 for _ in range(2)]
        floor = [sys.executable, str(e2e.BENCH / "e2e_apps.py"), "floor", "--port", str(port_b),
                 "--config", str(sb.config_file), "--profile", sb.profile]
        before_url = f"http://127.0.0.1:{port_before}"
        with (
            process(e2e.serve_args(env_file, tmp / "oauth", port_after, flags[0]),
                    f"{server_url}/health", tmp / "after", e2e.ROOT) as after,
            process(e2e.serve_args(env_file, tmp / "oauth", port_before, flags[1]),
                    f"{before_url}/health", tmp / "before", before_root) as before,
            process(floor, f"http://127.0.0.1:{port_b}/mcp", tmp / "b", e2e.ROOT) as floor_proc,
            httpx.Client(timeout=120) as http,
        ):
            token = sign_in(http, server_url, server_url, "alice",
                            password(sb, "alice")).access_token
            variants = {
                "after": (after, f"{server_url}/mcp", token),
                "before": (before, f"{before_url}/mcp", token),
                "B": (floor_proc, f"http://127.0.0.1:{port_b}/mcp", None),
            }
            results: dict[tuple[str, int], list[dict[str, Any]]] = {}
            order = list(variants)
            for rep in range(args.reps):
                for conc in e2e.CONCURRENCIES:
                    for name in order:
                        proc, url, tok = variants[name]
                        start = e2e.cpu_s(proc.pid)
                        run = e2e.load(url, tok, "get_namespace", conc, CALLS,
                                       e2e.DEFAULT_SESSIONS)
                        run["cpu_s"] = e2e.cpu_s(proc.pid) - start
                        results.setdefault((name, conc), []).append(run)
                        print(f"rep {rep + 1} c={conc:>2} {name}: "
                              f"{len(run['latencies_ms']) / run['elapsed_s']:7.1f} calls/s",
                              flush=True)
                    order = order[1:] + order[:1]
            lines = {n: len((tmp / f"{n}.err").read_bytes().splitlines())
                     for n in ("after", "before")}
    print(f"load average at the end: {os.getloadavg()[0]:.2f}; stderr lines {lines}")
    print("conc  after/before  A/B after  A/B before  CPU ms/call after · before · B  errors")
    for conc in e2e.CONCURRENCIES:
        a, z, b = (rates(results[(n, conc)]) for n in ("after", "before", "B"))
        print(f"{conc:>4}  {a[0] / z[0]:12.2f}  {a[0] / b[0]:9.2f}  {z[0] / b[0]:10.2f}  "
              f"{a[1]:.2f} · {z[1]:.2f} · {b[1]:.2f}  {a[2]}/{z[2]}/{b[2]}")


if __name__ == "__main__":
    main()

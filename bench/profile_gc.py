"""The garbage collector's CPU per call of A (``oci-mcp serve`` at its defaults) by concurrency.

Starts A as ``bench_e2e.py --defaults`` does, with ``bench/gc_site`` on its path (its
``sitecustomize`` counts every collector pass: thread CPU, passes, objects collected, per
generation), signs in, warms up with 300 calls, then runs ``--calls`` calls at each of
``--concurrency`` (default 10, 50, 10, 50: interleaved on one server) and prints, per run, the
server's CPU per call (/proc) and the collector's (per generation). ``--thresholds`` runs one
server per value (``T0`` or ``T0:T1``; ``-`` for serve's own), round-robin for ``--rounds``;
``--extra`` adds serve flags (to diagnose, e.g. ``--oci-workers 50``); ``--floor`` measures B
(``bench/e2e_apps.py floor``, Python's default thresholds, no freeze) instead.

Run: ``python bench/profile_gc.py [--calls 1500] [--rounds 2] [--thresholds -,5000:100]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import bench_e2e as e2e
from oauth_flow import password
from serve_support import provisioned_sandbox, sign_in

SITE = e2e.BENCH / "gc_site"


def counters(pid: int) -> tuple[float, int]:
    """System CPU (s), and context switches summed over the threads of ``pid`` (/proc)."""
    stime = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[12])
    switches = 0
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        try:
            text = status.read_text()
        except OSError:  # a thread that ended meanwhile
            continue
        switches += sum(int(line.split()[1]) for line in text.splitlines()
                        if "ctxt_switches" in line)
    return stime / e2e.CLK_TCK, switches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--concurrency", default="10,50,10,50")
    parser.add_argument("--thresholds", default="-")
    parser.add_argument("--extra", default="", help="more serve flags (diagnosis only: the "
                        "bench's A is serve at its defaults), e.g. '--oci-workers 50'")
    parser.add_argument("--floor", action="store_true",
                        help="measure B, the floor (bench/e2e_apps.py floor), instead of A")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    results: dict[tuple[str, int], list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp_name, provisioned_sandbox(Path(tmp_name)) as (
        sb, env_file, server_url,
    ):
        import httpx

        from oci_mcp_cli.core.ports import free_port

        tmp = Path(tmp_name)
        port = int(server_url.rsplit(":", 1)[1])
        stats = tmp / "gc.json"
        for rnd in range(args.rounds):
            for variant in args.thresholds.split(","):
                env = e2e.env()
                env["PYTHONPATH"] = f"{SITE}:{env['PYTHONPATH']}"
                env["OCI_MCP_GC_OUT"] = str(stats)
                if variant != "-":
                    t0, _, t1 = variant.partition(":")
                    env["OCI_MCP_GC_T0"], env["OCI_MCP_GC_T1"] = t0, t1
                if args.floor:
                    floor_port = free_port()
                    command = [sys.executable, str(e2e.BENCH / "e2e_apps.py"), "floor", "--port",
                               str(floor_port), "--config", str(sb.config_file), "--profile",
                               sb.profile]
                    base = f"http://127.0.0.1:{floor_port}"
                    ready = f"{base}/mcp"
                else:
                    flags = e2e.serve_flags(defaults=True, observability=True,
                                            metrics_port=free_port())
                    store = tmp / f"oauth-{rnd}-{variant.replace(':', '_')}"
                    command = e2e.serve_args(env_file, store, port, flags, *args.extra.split())
                    base, ready = server_url, f"{server_url}/health"
                with e2e.process(command, ready, tmp / "server", env=env) as server:
                    token = None
                    if not args.floor:
                        with httpx.Client(timeout=120) as http:
                            token = sign_in(http, server_url, server_url, "alice",
                                            password(sb, "alice")).access_token
                    e2e.load(f"{base}/mcp", token, "get_namespace", 10, 300,
                             e2e.DEFAULT_SESSIONS)
                    for conc in levels:
                        time.sleep(0.5)  # the probe rewrites its totals every 0.2 s
                        before, cpu = json.loads(stats.read_text()), e2e.cpu_s(server.pid)
                        sys0, sw0 = counters(server.pid)
                        run = e2e.load(f"{base}/mcp", token, "get_namespace", conc,
                                       args.calls, e2e.DEFAULT_SESSIONS)
                        time.sleep(0.5)
                        after, server_s = json.loads(stats.read_text()), e2e.cpu_s(server.pid) - cpu
                        sys1, sw1 = counters(server.pid)
                        n = len(run["latencies_ms"])
                        gen_us = [1e6 * (after["cpu_s"][g] - before["cpu_s"][g]) / n
                                  for g in range(3)]
                        passes = [int(after["passes"][g] - before["passes"][g]) for g in range(3)]
                        collected = (sum(after["collected"]) - sum(before["collected"])) / n
                        results.setdefault((variant, conc), []).append(
                            (1000 * server_s / n, sum(gen_us)))
                        print(f"thresholds {variant} c={conc}: server {1000 * server_s / n:.2f} "
                              f"ms/call; collector {sum(gen_us):.0f} µs/call (gen 0/1/2 "
                              f"{' / '.join(f'{u:.0f}' for u in gen_us)}; passes "
                              f"{' / '.join(map(str, passes))}; {collected:.0f} objects "
                              f"collected per call); system CPU "
                              f"{1000 * (sys1 - sys0) / n:.2f} ms/call, "
                              f"{(sw1 - sw0) / n:.1f} context switches/call; {run['errors']} "
                              "errors", flush=True)
    print("medians:")
    for (variant, conc), rows in sorted(results.items()):
        print(f"thresholds {variant} c={conc}: server "
              f"{statistics.median(r[0] for r in rows):.2f} ms/call, collector "
              f"{statistics.median(r[1] for r in rows):.0f} µs/call ({len(rows)} runs)")


if __name__ == "__main__":
    sys.exit(main())

"""A/B at one concurrency in many short, adjacent pairs: how far a sitting's ratio is chance.

``bench_e2e.py`` runs each variant for a few seconds per round; on this 2-core VM the host's
own load moves a variant's throughput by ± 20 % between runs seconds apart, which is the size
of the gap it measures. This runs A (``serve --defaults``, audit and metrics on) and B (the
floor) from ``bench_e2e.py`` in ``--pairs`` back-to-back pairs of ``--calls`` calls each (the
order alternating), and reports the median of the per-pair ratios, the ratio of the summed
throughputs and the pairs' interquartile range: a slow spell of the host then hits both sides of
a pair, and the spread says how much one sitting's ratio can move by chance.

Run: ``python bench/ab_pairs.py [--pairs 30] [--calls 100] [--concurrency 1] [-- serve flags]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import bench_e2e as e2e  # noqa: E402  (its servers, load client and test helpers)
from oauth_flow import password  # noqa: E402
from serve_support import provisioned_sandbox, sign_in  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=30)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("serve_flags", nargs="*", help="extra flags for A, after --")
    args = parser.parse_args()
    import httpx

    from oci_mcp_cli.core.ports import free_port

    with tempfile.TemporaryDirectory() as tmp_name, provisioned_sandbox(Path(tmp_name)) as (
        sb, env_file, server_url
    ), ExitStack() as stack:
        tmp, port = Path(tmp_name), free_port()
        flags = e2e.serve_flags(defaults=True, observability=True, metrics_port=free_port())
        a_cmd = e2e.serve_args(env_file, tmp / "oauth", int(server_url.rsplit(":", 1)[1]),
                               flags + args.serve_flags)
        b_cmd = [sys.executable, str(BENCH / "e2e_apps.py"), "floor", "--port", str(port),
                 "--config", str(sb.config_file), "--profile", sb.profile]
        stack.enter_context(e2e.process(a_cmd, f"{server_url}/health", tmp / "a"))
        stack.enter_context(e2e.process(b_cmd, f"http://127.0.0.1:{port}/mcp", tmp / "b"))
        with httpx.Client(timeout=120) as http:
            token = sign_in(http, server_url, server_url, "alice", password(sb, "alice"))
        variants = {"A": (f"{server_url}/mcp", token.access_token),
                    "B": (f"http://127.0.0.1:{port}/mcp", None)}

        def run(name: str, calls: int) -> float:
            url, bearer = variants[name]
            result = e2e.load(url, bearer, "get_namespace", args.concurrency, calls,
                              e2e.DEFAULT_SESSIONS)
            if result["errors"]:
                raise SystemExit(f"{name}: {result['errors']} errors ({result['first_error']})")
            return float(calls / result["elapsed_s"])

        for name in variants:  # warm: signer, clients, sessions
            run(name, 300)
        rates: dict[str, list[float]] = {"A": [], "B": []}
        for i in range(args.pairs):
            for name in ("A", "B") if i % 2 == 0 else ("B", "A"):
                rates[name].append(run(name, args.calls))
    ratios = [a / b for a, b in zip(rates["A"], rates["B"], strict=True)]
    q1, _, q3 = statistics.quantiles(ratios, n=4)
    print(f"concurrency {args.concurrency}, {args.pairs} pairs of {args.calls} calls: "
          f"A/B median of pairs {statistics.median(ratios):.3f}, ratio of sums "
          f"{sum(rates['A']) / sum(rates['B']):.3f}, pairs' interquartile range "
          f"{q1:.2f}–{q3:.2f}; median calls/s A {statistics.median(rates['A']):.0f}, "
          f"B {statistics.median(rates['B']):.0f}")


if __name__ == "__main__":
    main()

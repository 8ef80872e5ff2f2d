"""Benchmark: a signed-in tool call of ``oci-mcp serve`` vs an unauthenticated floor, end to end.

One process tree on this machine: the sandbox (in this process), and as subprocesses

- **A** — the product: ``oci-mcp serve --storage-dir …``, its built-in ``get_namespace`` as a
  signed-in user (cached signer). Tuned mode (the default): ``--log-level WARNING
  --rate-limit 0 --max-sessions-per-user 1000``. ``--defaults``: none of those — ``serve`` as it
  runs out of the box (INFO log, rate limits on, 16 sessions per user; the load client then
  shares ``DEFAULT_SESSIONS`` MCP sessions among its connections, for every variant alike).
  In both modes the audit trail and the metrics are on at their defaults (audit on ``-``, i.e.
  standard output, which the bench sends to a file, as it does standard error); the one
  difference is ``--metrics-port <free port>``, since the default 9464 may be taken on this
  machine (A and C would also collide). ``--no-observability``: A and C with ``--audit-log off
  --metrics-port off``, to measure what the two cost;
- **B** — the floor: plain FastMCP, no auth, the same tool with a static API-key signer and a
  client built once (``bench/e2e_apps.py floor``);
- **C** — a new ``TokenExchangeSigner`` per call: ``oci-mcp serve --app bench/e2e_apps.py:percall``
  on the same OAuth store, tool ``get_namespace_percall``, the same flags as A;

each driven over MCP streamable HTTP by the light load client (``bench/e2e_load.py``, plain
HTTP/1.1 JSON-RPC in its own process) at concurrency 1, 10 and 50, ``--calls`` calls per run,
the variants interleaved (``--reps`` rounds; in each block of one concurrency A and B take turns
to run first and C, the heaviest, runs last: ``block_order``). Reported: calls/s,
median and p95 latency, server CPU per call (``/proc/<pid>/stat``), and the ratios A/B and C/A
of the summed throughput over the rounds; as a sanity check, A's ``tool_call`` audit lines and
its ``oci_mcp_tool_calls_total`` against the calls sent. Then, for A only (tuned mode; the
extras' hundreds of sign-ins would meet the default rate limit): the first call of a new sign-in
(cold signer) vs warm calls, RSS per signed-in user at ``--users`` users, and ``serve`` start
to ``/health``.

Run: ``python bench/bench_e2e.py [--calls 300] [--reps 3] [--users 10,50,200] [--defaults]
[--no-observability]``. Runs from any code tree (``git worktree add /tmp/before <commit>``, then
copy ``bench/bench_e2e.py``, ``e2e_load.py`` and ``e2e_apps.py`` there): every subprocess gets
that tree on ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from oauth_flow import password  # noqa: E402  (test helper: sandbox user passwords)
from serve_support import provisioned_sandbox, sign_in  # noqa: E402  (sign_in: DCR by hand)

from oci_mcp_cli.orchestration.serve_process import stop_process  # noqa: E402

CONCURRENCIES = (1, 10, 50)
DEFAULT_SESSIONS = 8  # MCP sessions per load run in --defaults (serve's default cap is 16)
TUNED = ["--log-level", "WARNING", "--rate-limit", "0", "--max-sessions-per-user", "1000"]
CLK_TCK = os.sysconf("SC_CLK_TCK")


def env() -> dict[str, str]:
    """The environment of every subprocess: this code tree first on the path."""
    out = dict(os.environ)
    out["PYTHONPATH"] = os.pathsep.join([str(ROOT), out.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return out


def block_order(block: int) -> list[str]:
    """The order of the variants in the ``block``-th run of one concurrency (counted over the
    whole sitting): A and B alternate first, C last. Each of A and B thus follows C (the previous
    block's last run, ≈ 60 ms of CPU per call) in every other block, and never the other. Until
    stop 21 the order rotated each round, which put A right after C in all but the first block
    and B never."""
    return ["A", "B", "C"] if block % 2 == 0 else ["B", "A", "C"]


def cpu_s(pid: int) -> float:
    """utime + stime of a process (all its threads, io_uring workers included), seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def wait_http(url: str, proc: subprocess.Popen[Any], timeout: float = 60) -> float:
    """Seconds until ``url`` answers (any status below 500); the process must stay alive."""
    import httpx

    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return time.perf_counter() - start
        except httpx.HTTPError:
            pass
        time.sleep(0.01)
    raise RuntimeError(f"{url} did not answer")


@contextmanager
def process(args: list[str], ready: str, logs: Path, **kw: Any) -> Iterator[subprocess.Popen[Any]]:
    """``args`` running until ``ready`` answers; its stdout and stderr in ``logs``.out / .err."""
    with open(f"{logs}.out", "wb") as out, open(f"{logs}.err", "wb") as err:
        proc = subprocess.Popen(args, env=kw.pop("env", env()), cwd=ROOT, stdout=out,
                                stderr=err, **kw)
        try:
            wait_http(ready, proc)
            yield proc
        finally:
            stop_process(proc, grace=15)


def serve_flags(*, defaults: bool, observability: bool, metrics_port: int | None) -> list[str]:
    """The flags of a benchmarked ``serve`` beyond its env file, store and port: the tuned ones
    unless ``defaults``; audit (its default ``-``) and metrics on ``metrics_port`` unless not
    ``observability``."""
    flags = [] if defaults else list(TUNED)
    if not observability:
        return [*flags, "--audit-log", "off", "--metrics-port", "off"]
    return [*flags, "--metrics-port", str(metrics_port)]


def serve_args(
    env_file: Path, storage: Path, port: int, flags: list[str], *extra: str
) -> list[str]:
    return [
        sys.executable, "-m", "oci_mcp_cli", "serve", "--env-file", str(env_file),
        "--storage-dir", str(storage), "--port", str(port), *flags, *extra,
    ]


def audit_tool_calls(path: Path) -> int:
    """``tool_call`` lines of an audit trail (other lines — security events — not counted)."""
    count = 0
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            if line.startswith("{") and json.loads(line).get("event") == "tool_call":
                count += 1
    return count


def metric_total(text: str, name: str) -> float:
    """The sum over all label sets of ``name`` in a Prometheus text exposition."""
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith((f"{name}{{", f"{name} ")))


def load(url: str, token: str | None, tool: str, concurrency: int, calls: int,
         sessions: int = 0) -> dict[str, Any]:
    args = [sys.executable, str(BENCH / "e2e_load.py"), "--url", url, "--tool", tool,
            "--concurrency", str(concurrency), "--calls", str(calls), "--sessions", str(sessions)]
    if token:
        args += ["--token", token]
    out = subprocess.run(args, env=env(), cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def pct(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def mcp_call(http: Any, base: str, token: str, tool: str) -> float:
    """One session (initialize, call, delete) with httpx; the call's latency in ms."""
    headers = {"Authorization": f"Bearer {token}",
               "Accept": "application/json, text/event-stream"}
    init = http.post(f"{base}/mcp", headers=headers, json={
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "bench", "version": "1"}}})
    assert init.status_code == 200, init.text
    headers["mcp-session-id"] = init.headers["mcp-session-id"]
    http.post(f"{base}/mcp", headers=headers,
              json={"jsonrpc": "2.0", "method": "notifications/initialized"})
    start = time.perf_counter()
    answer = http.post(f"{base}/mcp", headers=headers, json={
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": tool, "arguments": {}}})
    took = (time.perf_counter() - start) * 1000
    assert answer.status_code == 200 and '"isError":false' in answer.text, answer.text[:300]
    http.delete(f"{base}/mcp", headers=headers)
    return took


def main() -> None:
    import httpx

    from oci_mcp_cli.core.ports import free_port

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--users", default="10,50,200", help="RSS per user at these counts")
    parser.add_argument("--skip-extras", action="store_true", help="throughput table only")
    parser.add_argument("--defaults", action="store_true",
                        help="A and C as `serve` runs out of the box (implies --skip-extras)")
    parser.add_argument("--no-observability", action="store_true",
                        help="A and C with --audit-log off --metrics-port off")
    args = parser.parse_args()
    users = [int(u) for u in args.users.split(",") if u]
    observability = not args.no_observability
    sessions = DEFAULT_SESSIONS if args.defaults else 0
    metrics_a, metrics_c = free_port(), free_port()
    flags_a, flags_c = (serve_flags(defaults=args.defaults, observability=observability,
                                    metrics_port=m) for m in (metrics_a, metrics_c))
    print(f"A: serve {' '.join(flags_a)} (stdout: the audit trail, and stderr to files)",
          flush=True)

    with tempfile.TemporaryDirectory() as tmp_name, provisioned_sandbox(Path(tmp_name)) as (
        sb, env_file, server_url,
    ):
        tmp = Path(tmp_name)
        storage = tmp / "oauth"
        port_a = int(server_url.rsplit(":", 1)[1])
        port_b, port_c = free_port(), free_port()
        c_env = {**env(), "BENCH_ENV_FILE": str(env_file)}
        floor = [sys.executable, str(BENCH / "e2e_apps.py"), "floor", "--port", str(port_b),
                 "--config", str(sb.config_file), "--profile", sb.profile]
        with (
            process(serve_args(env_file, storage, port_a, flags_a), f"{server_url}/health",
                    tmp / "a") as a,
            process(floor, f"http://127.0.0.1:{port_b}/mcp", tmp / "b") as b,
            process(serve_args(env_file, storage, port_c, flags_c, "--app",
                               f"{BENCH / 'e2e_apps.py'}:percall"),
                    f"http://127.0.0.1:{port_c}/health", tmp / "c", env=c_env) as c,
            httpx.Client(timeout=120) as http,
        ):
            login = sign_in(http, server_url, server_url, "alice", password(sb, "alice"))
            token = login.access_token
            variants = {
                "A": (a, f"{server_url}/mcp", token, "get_namespace"),
                "B": (b, f"http://127.0.0.1:{port_b}/mcp", None, "get_namespace"),
                "C": (c, f"http://127.0.0.1:{port_c}/mcp", token, "get_namespace_percall"),
            }
            results: dict[tuple[str, int], list[dict[str, Any]]] = {}
            block = 0
            for rep in range(args.reps):
                for conc in CONCURRENCIES:
                    order = [name for name in block_order(block) if name in variants]
                    block += 1
                    for name in order:
                        proc, url, tok, tool = variants[name]
                        before = cpu_s(proc.pid)
                        run = load(url, tok, tool, conc, args.calls, sessions)
                        run["cpu_s"] = cpu_s(proc.pid) - before
                        if run["errors"]:
                            print(f"  {name} c={conc}: {run['errors']} errors, e.g. "
                                  f"{run['first_error']}", flush=True)
                        results.setdefault((name, conc), []).append(run)
                        print(f"rep {rep + 1} c={conc:>2} {name}: "
                              f"{len(run['latencies_ms']) / run['elapsed_s']:7.1f} calls/s",
                              flush=True)
            table = summarize(results)
            sent = sum(len(r["latencies_ms"]) + r["errors"] + conc
                       for (name, conc), runs in results.items() if name == "A" for r in runs)
            metrics = (http.get(f"http://127.0.0.1:{metrics_a}/metrics").text
                       if observability else "")
            checks = {
                "a_calls_sent": sent,
                "a_audit_tool_calls": audit_tool_calls(tmp / "a.out"),
                "a_metric_tool_calls": metric_total(metrics, "oci_mcp_tool_calls_total"),
                "a_stderr_lines": len((tmp / "a.err").read_bytes().splitlines()),
            }
            extras = {} if args.skip_extras or args.defaults else run_extras(
                sb, http, a, server_url, env_file, storage, users, observability
            )
    print_report(table, extras, checks, args)


def summarize(results: dict[tuple[str, int], list[dict[str, Any]]]) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for (name, conc), runs in results.items():
        done = sum(len(r["latencies_ms"]) for r in runs)
        lat = [x for r in runs for x in r["latencies_ms"]]
        table[f"{name}{conc}"] = {
            "calls_s": done / sum(r["elapsed_s"] for r in runs),
            "median": statistics.median(lat) if lat else float("nan"),
            "p95": pct(lat, 95),
            "cpu_ms": 1000 * sum(r["cpu_s"] for r in runs) / max(done, 1),
            "errors": sum(r["errors"] for r in runs),
        }
    return table


def run_extras(sb: Any, http: Any, a: Any, server_url: str, env_file: Path, storage: Path,
               users: list[int], observability: bool) -> dict[str, Any]:
    from oci_mcp_cli.core.ports import free_port

    extras: dict[str, Any] = {}
    cold, warm = [], []
    for _ in range(5):  # a new sign-in: its first call exchanges the token (cold signer)
        login = sign_in(http, server_url, server_url, "bob", password(sb, "bob"))
        cold.append(mcp_call(http, server_url, login.access_token, "get_namespace"))
        warm += [mcp_call(http, server_url, login.access_token, "get_namespace")
                 for _ in range(5)]
    extras["cold_ms"], extras["warm_ms"] = statistics.median(cold), statistics.median(warm)

    def one_user(i: int) -> None:
        import httpx

        user = ("alice", "bob")[i % 2]
        with httpx.Client(timeout=120) as own:
            login = sign_in(own, server_url, server_url, user, password(sb, user))
            mcp_call(own, server_url, login.access_token, "get_namespace")

    rss: dict[int, float] = {}
    base_kb, done = rss_kb(a.pid), 0
    with ThreadPoolExecutor(4) as pool:
        for target in users:
            list(pool.map(one_user, range(done, target)))
            done = target
            rss[target] = (rss_kb(a.pid) - base_kb) / target
            print(f"{target} users: +{(rss_kb(a.pid) - base_kb) / 1024:.1f} MB", flush=True)
    extras["rss_kb_per_user"] = rss

    starts = []
    for _ in range(3):
        port = free_port()
        flags = serve_flags(defaults=False, observability=observability, metrics_port=free_port())
        proc = subprocess.Popen(serve_args(env_file, storage, port, flags), env=env(), cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            starts.append(wait_http(f"http://127.0.0.1:{port}/health", proc))
        finally:
            proc.terminate()
            proc.wait(timeout=15)
    extras["start_s"] = statistics.median(starts)
    return extras


def print_report(table: dict[str, Any], extras: dict[str, Any], checks: dict[str, Any],
                 args: Any) -> None:
    mode = "defaults" if args.defaults else "tuned"
    obs = "off" if args.no_observability else "on"
    print(f"\n{mode} mode, audit + metrics {obs}; {args.calls} calls per run, {args.reps} "
          f"interleaved rounds, {os.cpu_count()} CPUs, load average before the report: "
          f"{os.getloadavg()[0]:.2f}")
    print(f"A: {checks['a_calls_sent']} calls sent (warm-ups included), "
          f"{checks['a_audit_tool_calls']} tool_call audit lines, oci_mcp_tool_calls_total "
          f"{checks['a_metric_tool_calls']}, {checks['a_stderr_lines']} lines on stderr")
    print("variant  conc   calls/s   median ms   p95 ms   server CPU ms/call  errors")
    for conc in CONCURRENCIES:
        for name in "ABC":
            row = table.get(f"{name}{conc}")
            if row:
                print(f"{name:>7}  {conc:>4}  {row['calls_s']:8.1f}  {row['median']:10.1f}  "
                      f"{row['p95']:7.1f}  {row['cpu_ms']:18.1f}  {row['errors']:6}")
    print("\nconc   A/B    C/A")
    for conc in CONCURRENCIES:
        a, b, c = (table.get(f"{n}{conc}", {}).get("calls_s", float("nan")) for n in "ABC")
        print(f"{conc:>4}  {a / b:5.2f}  {c / a:5.2f}")
    if extras:
        print(f"\nfirst call of a new sign-in (cold signer): {extras['cold_ms']:.1f} ms, "
              f"warm: {extras['warm_ms']:.1f} ms (medians)")
        for n, kb in extras["rss_kb_per_user"].items():
            print(f"RSS per signed-in user at {n} users: {kb:.0f} KB")
        print(f"serve start to /health: {extras['start_s']:.2f} s (median of 3)")
    print("RESULT " + json.dumps({"mode": mode, "observability": obs, "table": table,
                                  "extras": extras, "checks": checks}))


if __name__ == "__main__":
    main()

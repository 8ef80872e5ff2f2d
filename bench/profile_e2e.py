"""Profile A of ``bench_e2e.py`` (``oci-mcp serve`` with a signed-in user) under load, with py-spy.

A runs as in ``bench_e2e.py`` (``--defaults``: ``serve`` out of the box; else the tuned flags);
the load client sends ``--calls`` calls at ``--concurrency`` while ``py-spy record`` samples A
(all threads, ``--idle`` off). Prints the share of A's samples in each of ``GROUPS`` (a sample
may count in several), our own code's share, then the top functions by own samples. The
collapsed stacks are kept in ``--out`` for a closer look (``flamegraph.pl``, speedscope).

Also prints CPU per call of the server and of the sandbox (it runs in this process: what
verifying each request's signature costs differs between A's session tokens and B's API key).
``--floor`` profiles B, the floor (``bench/e2e_apps.py floor``), instead; both print samples per
1000 calls by package (``PACKAGES``) at the same sampling rate, so two runs compare A's time per
call with B's, package by package.

Run: ``python bench/profile_e2e.py [--defaults] [--floor] [--concurrency 50] [--calls 4000]
[--out /tmp/a.folded]``. Needs ``py-spy`` (``pip install py-spy``; not a project dependency) and
the permission to ptrace A (root, or ``kernel.yama.ptrace_scope=0``).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import bench_e2e as e2e
from oauth_flow import password
from serve_support import provisioned_sandbox, sign_in

# label → a regular expression searched in a sample's stack ("fn (file:line);fn (file:line);…",
# outermost first); a sample counts in every group it matches. Each names the work itself, not a
# wrapper around the rest of the request (a middleware's frame is on every request's stack).
GROUPS: dict[str, str] = {
    "logging, all of it": r"logging/__init__\.py",
    "log writes (StreamHandler.emit)": r"StreamHandler\.emit",
    "redacting filter": r"RedactingFilter",
    "uvicorn's access line": r"h11_impl\.py:\d+\);Logger\.info",
    "our access line (RequestLog)": r"_access_line",
    "bearer verification (FastMCP's backend, our memo)": r"BearerAuthBackend",
    "  of which the epoch read": r"current_epoch",
    "telemetry (audit, metrics, spans)": r"Telemetry\.",
    "  audit sink": r"AuditSink",
    "  metrics sink": r"MetricsSink",
    "the tool in its worker thread (SDK call)": r"_in_worker",
    "  RSA signing": r"_sign_rsa",
}


# where the innermost frame's code lives (the first match): per-call samples by package compare A
# with the floor B (``--floor``) without reading every stack
PACKAGES: tuple[tuple[str, str], ...] = (
    ("our code", r"\(oci_mcp_cli/"),
    ("OCI SDK (signing, requests)", r"\(oci/"),
    ("HTTP client, sockets", r"\((urllib3/|http/client|socket\.py|ssl\.py|selectors\.py)"),
    ("FastMCP", r"\(fastmcp/"),
    ("MCP SDK", r"\(mcp/"),
    ("Starlette, sse-starlette", r"\((starlette|sse_starlette)/"),
    ("uvicorn, h11", r"\((uvicorn|h11)/"),
    ("anyio", r"\(anyio/"),
    ("asyncio, threads", r"\((asyncio/|threading\.py|concurrent/|queue\.py)"),
    ("logging", r"\(logging/"),
    ("pydantic, json", r"\((pydantic|pydantic_core|json)/"),
    ("key-value store, cryptography", r"\((key_value|cryptography|aiofile|caio)/"),
)


def by_package(folded: Path) -> tuple[Counter[str], int]:
    """Samples by the package of each sample's innermost frame (``other`` for the rest)."""
    import re

    patterns = [(label, re.compile(rx)) for label, rx in PACKAGES]
    counts: Counter[str] = Counter()
    total = 0
    for line in folded.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        leaf, n = stack.rsplit(";", 1)[-1], int(count)
        total += n
        counts[next((label for label, rx in patterns if rx.search(leaf)), "other")] += n
    return counts, total


def summarize(folded: Path, top: int = 25) -> str:
    """Group shares, our own code's share as the innermost frame, and the top functions by own
    samples, of a py-spy raw (collapsed) file. py-spy counts a thread waiting in a blocking
    socket read as busy at times: shares are of samples, not of CPU."""
    import re

    patterns = {label: re.compile(rx) for label, rx in GROUPS.items()}
    total = ours = 0
    groups: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for line in folded.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        for label, pattern in patterns.items():
            if pattern.search(stack):
                groups[label] += n
        leaf = stack.rsplit(";", 1)[-1]
        own[leaf] += n
        ours += n if "oci_mcp_cli/" in leaf else 0
    lines = [f"{total} samples of A"]
    lines += [f"{100 * groups[label] / total:6.1f} %  {label}" for label in GROUPS]
    lines.append(f"{100 * ours / total:6.1f} %  our own code as the innermost frame")
    lines.append("top own samples:")
    lines += [f"{100 * n / total:6.1f} %  {frame}" for frame, n in own.most_common(top)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--defaults", action="store_true")
    parser.add_argument("--floor", action="store_true", help="profile B instead of A")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--calls", type=int, default=4000)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--gil", action="store_true",
                        help="sample only the thread holding the GIL (py-spy --gil): CPU in "
                        "Python, without the time threads spend waiting for the GIL")
    parser.add_argument("--native", action="store_true",
                        help="py-spy --native (blocking sampling): C frames too, e.g. the "
                        "garbage collector's gc_collect_main")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "a.folded")
    args = parser.parse_args()
    spy = shutil.which("py-spy")
    if spy is None:
        sys.exit("py-spy is not installed: pip install py-spy")
    sessions = e2e.DEFAULT_SESSIONS if args.defaults else 0
    with tempfile.TemporaryDirectory() as tmp_name, provisioned_sandbox(Path(tmp_name)) as (
        sb, env_file, server_url,
    ):
        import httpx

        from oci_mcp_cli.core.ports import free_port

        tmp = Path(tmp_name)
        if args.floor:
            port = free_port()
            command = [sys.executable, str(e2e.BENCH / "e2e_apps.py"), "floor", "--port",
                       str(port), "--config", str(sb.config_file), "--profile", sb.profile]
            base, ready, token = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port}/mcp", None
        else:
            port = int(server_url.rsplit(":", 1)[1])
            flags = e2e.serve_flags(defaults=args.defaults, observability=True,
                                    metrics_port=free_port())
            command = e2e.serve_args(env_file, tmp / "oauth", port, flags)
            base, ready, token = server_url, f"{server_url}/health", None  # signed in below
        with e2e.process(command, ready, tmp / "server") as server:
            if not args.floor:
                with httpx.Client(timeout=120) as http:
                    token = sign_in(http, server_url, server_url, "alice",
                                    password(sb, "alice")).access_token
            e2e.load(f"{base}/mcp", token, "get_namespace", args.concurrency, 300, sessions)
            record = subprocess.Popen([spy, "record", "--pid", str(server.pid), "--format",
                                       "raw", "--rate", str(args.rate), "--output",
                                       str(args.out),
                                       *(["--native"] if args.native else ["--nonblocking"]),
                                       *(["--gil"] if args.gil else [])],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            try:
                cpu = time.process_time(), e2e.cpu_s(server.pid)
                run = e2e.load(f"{base}/mcp", token, "get_namespace", args.concurrency,
                               args.calls, sessions)
                sandbox_s = time.process_time() - cpu[0]  # the sandbox runs in this process
                server_s = e2e.cpu_s(server.pid) - cpu[1]
            finally:
                record.send_signal(2)  # SIGINT: py-spy writes its output and exits
                record.wait(timeout=60)
    calls = len(run["latencies_ms"])
    print(f"{'B' if args.floor else 'A'}: {calls / run['elapsed_s']:.1f} calls/s under py-spy, "
          f"{run['errors']} errors; stacks in {args.out}")
    print(f"CPU per call: server {1000 * server_s / calls:.2f} ms (py-spy attached), sandbox "
          f"{1000 * sandbox_s / calls:.2f} ms (verifying the request's signature included)")
    counts, total = by_package(args.out)
    print(f"samples per 1000 calls by the innermost frame's package ({args.rate}/s):")
    for label, n in counts.most_common():
        print(f"{1000 * n / calls:8.0f}  {label}")
    print(f"{1000 * total / calls:8.0f}  all")
    collector = sum(int(line.rpartition(" ")[2]) for line in args.out.read_text().splitlines()
                    if "gc_collect_main" in line)
    print(f"{1000 * collector / calls:8.0f}  in the garbage collector (gc_collect_main; "
          f"{100 * collector / max(total, 1):.1f} %; --native only)")
    if not args.floor:
        print(summarize(args.out))


if __name__ == "__main__":
    main()

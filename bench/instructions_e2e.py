"""Instructions per tool call of A (``oci-mcp serve``) and B (the floor), counted by callgrind.

``bench_e2e.py`` compares throughput and CPU time, which move by ± 15 % between rounds on a
shared 2-core machine. Instructions do not: the same code counts the same instructions to ≈ 1 %,
whatever else runs. So a change to the per-call path shows at once, and its size, before a
sitting of ``bench_e2e.py`` says what it does to throughput. (Instructions are not time: system
calls, cache misses and GIL hand-offs do not show here.)

Both servers run under ``valgrind --tool=callgrind`` with instrumentation off until the warm-up
is done (start-up runs at valgrind's uninstrumented speed); then, for each, instrumentation on,
counters zeroed, ``--calls`` calls by the load client (``e2e_load.py``, ``--defaults`` sessions),
a dump, instrumentation off. Under callgrind a call is ≈ 50× slower, so the verified-token memo's
two-second bound (``storage.READ_CACHE_TTL_S``) would lapse every few calls instead of every few
hundred; the servers' ``sitecustomize`` (generated here) raises it to an hour so the count is
what a call costs at native speed (``--native-ttl`` keeps the real bound).

Run: ``python bench/instructions_e2e.py [--calls 200] [--concurrency 10] [--rounds 1]
[-- <extra serve flags>]`` (needs ``valgrind``; Debian: ``apt-get install valgrind``).
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_e2e as e2e  # noqa: E402  (the same servers, load client and sandbox)

SITECUSTOMIZE = """
import sys

class _LongerMemo:
    def find_spec(self, name, path=None, target=None):
        if name == "oci_mcp_cli.server.app" and self in sys.meta_path:
            sys.meta_path.remove(self)
            from oci_mcp_cli.server import storage
            storage.read_cache.__defaults__ = (3600.0,)
        return None

sys.meta_path.insert(0, _LongerMemo())
"""


def callgrind(out: Path, name: str) -> list[str]:
    return ["valgrind", "--tool=callgrind", "--instr-atstart=no",
            f"--callgrind-out-file={out}/{name}.%p", "--dump-instr=no"]


def control(*args: str) -> None:
    subprocess.run(["callgrind_control", *args], check=True, capture_output=True)


def dumped_instructions(out: Path, name: str, pid: int) -> int:
    newest = max(glob.glob(f"{out}/{name}.{pid}*"), key=os.path.getmtime)
    found = re.search(r"^(?:summary|totals):\s+(\d+)", Path(newest).read_text(), re.M)
    if found is None:
        raise RuntimeError(f"no instruction total in {newest}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--native-ttl", action="store_true",
                        help="keep the verified-token memo's real two-second bound")
    parser.add_argument("serve_flags", nargs="*", help="extra flags for A, after --")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (Debian: apt-get install valgrind)")

    from oauth_flow import password
    from serve_support import provisioned_sandbox, sign_in

    from oci_mcp_cli.core.ports import free_port

    with tempfile.TemporaryDirectory() as tmp_name, \
            provisioned_sandbox(Path(tmp_name)) as (sb, env_file, server_url):
        import httpx

        tmp = Path(tmp_name)
        out = tmp / "callgrind"
        out.mkdir()
        env = e2e.env()
        if not args.native_ttl:
            (tmp / "site").mkdir()
            (tmp / "site" / "sitecustomize.py").write_text(SITECUSTOMIZE)
            env["PYTHONPATH"] = f"{tmp / 'site'}{os.pathsep}{env['PYTHONPATH']}"
        port = free_port()
        floor = callgrind(out, "B") + [
            sys.executable, str(e2e.BENCH / "e2e_apps.py"), "floor", "--port", str(port),
            "--config", str(sb.config_file), "--profile", sb.profile,
        ]
        flags = e2e.serve_flags(defaults=True, observability=True, metrics_port=free_port())
        serve = callgrind(out, "A") + e2e.serve_args(
            env_file, tmp / "oauth", int(server_url.rsplit(":", 1)[1]),
            [*flags, *args.serve_flags],
        )
        e2e.wait_http.__defaults__ = (600,)  # a start under valgrind takes tens of seconds
        with e2e.process(serve, f"{server_url}/health", tmp / "a", env=env) as a, \
                e2e.process(floor, f"http://127.0.0.1:{port}/mcp", tmp / "b", env=env) as b:
            with httpx.Client(timeout=300) as http:
                token = sign_in(http, server_url, server_url, "alice",
                                password(sb, "alice")).access_token
            variants = {"A": (a.pid, f"{server_url}/mcp", token),
                        "B": (b.pid, f"http://127.0.0.1:{port}/mcp", None)}
            for _pid, url, tok in variants.values():  # warm-up, uninstrumented
                e2e.load(url, tok, "get_namespace", args.concurrency, 100, e2e.DEFAULT_SESSIONS)
            counts: dict[str, list[float]] = {"A": [], "B": []}
            for _ in range(args.rounds):
                for name, (pid, url, tok) in variants.items():
                    control("-i", "on", str(pid))
                    control("-z", str(pid))
                    result = e2e.load(url, tok, "get_namespace", args.concurrency, args.calls,
                                      e2e.DEFAULT_SESSIONS)
                    control("-d", str(pid))
                    control("-i", "off", str(pid))
                    calls = len(result["latencies_ms"])
                    counts[name].append(dumped_instructions(out, name, pid) / calls / 1e6)
        a_mean = sum(counts["A"]) / len(counts["A"])
        b_mean = sum(counts["B"]) / len(counts["B"])
        print(f"A (serve {' '.join(args.serve_flags) or '--defaults'}): "
              f"{' '.join(f'{x:.3f}' for x in counts['A'])} M instructions per call")
        print(f"B (floor): {' '.join(f'{x:.3f}' for x in counts['B'])} M instructions per call")
        print(f"A/B instructions: {a_mean / b_mean:.3f} (A − B = {a_mean - b_mean:.3f} M)")


if __name__ == "__main__":
    main()

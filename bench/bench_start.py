"""Benchmark (issue 22): start-up of ``oci-mcp serve``, ``oci-mcp demo`` and ``oci-mcp --help``.

- **serve**: ``python -m oci_mcp_cli serve`` (its defaults: INFO log, audit on standard output,
  metrics on; ``--metrics-port`` a free port, since the default 9464 may be taken here) on a
  provisioned sandbox (in this process), against a minimal FastMCP HTTP app (no auth, one tool,
  a ``/health`` route) started the same way (``python -m minimal_fastmcp PORT``); the time from
  ``Popen`` to the first ``200`` from ``/health``, polled alike for both (plain ``http.client``
  every 5 ms). Target: ratio ≤ 1.3.
- **demo**: ``python -m oci_mcp_cli demo --json``, wall time from ``Popen`` to exit (zero to
  both users' results, everything stopped). Target: ≤ 5 s.
- **help**: ``oci-mcp --help`` through its console script (what users run; ``(script)``) and
  ``python -m oci_mcp_cli --help`` (``(-m)``, which also pays ``runpy``), against a minimal
  two-command Typer app (``bench_help.MINIMAL_APP``) run as ``python minimal_typer.py --help``.
  Target: the console script's ratio ≤ 1.15.

Every variant runs once to warm up (byte code compiled, files cached), then ``--reps`` rounds,
interleaved (load on the machine hits all alike); medians, and the CPU time (user + system) of
each child, which moves less on a shared machine. ``--baseline DIR`` also runs an older tree
(``git archive <commit> oci_mcp_cli | tar -x -C DIR``) in the same rounds, through
``PYTHONPATH``, for a before/after from one sitting.

Run: ``python bench/bench_start.py [--reps 7] [--only serve,demo,help] [--baseline DIR]``.
"""

from __future__ import annotations

import argparse
import http.client
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_help import FLOOR as HELP_FLOOR  # noqa: E402
from bench_help import MINIMAL_APP as MINIMAL_TYPER  # noqa: E402
from bench_help import VIA, help_argvs  # noqa: E402

MINIMAL_FASTMCP = '''\
"""A minimal FastMCP HTTP app: no auth, one tool, /health."""
import sys

from fastmcp import FastMCP
from starlette.requests import Request
from starlette.responses import JSONResponse

mcp = FastMCP("minimal")


@mcp.tool
def hello(name: str = "world") -> str:
    """Say hello."""
    return f"hello {name}"


@mcp.custom_route("/health", methods=["GET"])
async def health(_: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


if __name__ == "__main__":
    mcp.run(transport="http", host="127.0.0.1", port=int(sys.argv[1]), show_banner=False)
'''
HELP_FLOOR_NAME = "help: minimal Typer (script)"
POLL_S = 0.005
TIMEOUT_S = 60.0


def child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def healthy(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/health")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def time_start(argv: list[str], port: int, env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Seconds from ``Popen`` to a 200 from ``/health`` on ``port``, and the child's CPU time
    (from start to its exit after SIGTERM)."""
    cpu = child_cpu()
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        while not healthy(port):
            if proc.poll() is not None:
                raise RuntimeError(f"{argv} exited with {proc.returncode}")
            if time.perf_counter() - start > TIMEOUT_S:
                raise RuntimeError(f"{argv}: /health did not answer in {TIMEOUT_S:g} s")
            time.sleep(POLL_S)
        wall = time.perf_counter() - start
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return wall, child_cpu() - cpu


def time_run(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one run of ``argv`` (it must succeed)."""
    cpu = child_cpu()
    start = time.perf_counter()
    subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=True, timeout=180)
    return time.perf_counter() - start, child_cpu() - cpu


Variant = Callable[[], tuple[float, float]]


def serve_variants(tmp: Path, sb_env: tuple[Path, Path], trees: dict[str, dict[str, str]]
                   ) -> dict[str, Variant]:
    from oci_mcp_cli.core.ports import free_port

    env_file, storage = sb_env
    app_dir = tmp / "minimal"
    app_dir.mkdir()
    (app_dir / "minimal_fastmcp.py").write_text(MINIMAL_FASTMCP)
    base_env = trees["oci-mcp"]

    def minimal() -> tuple[float, float]:
        port = free_port()
        return time_start([sys.executable, "-m", "minimal_fastmcp", str(port)], port,
                          base_env, app_dir)

    def serve(env: dict[str, str]) -> Variant:
        def run() -> tuple[float, float]:
            port = free_port()
            argv = [sys.executable, "-m", "oci_mcp_cli", "serve", "--env-file", str(env_file),
                    "--storage-dir", str(storage), "--port", str(port),
                    "--metrics-port", str(free_port())]
            return time_start(argv, port, env, tmp)
        return run

    out: dict[str, Variant] = {"serve: minimal FastMCP": minimal}
    for name, env in trees.items():
        out[f"serve: {name}"] = serve(env)
    return out


def demo_variants(tmp: Path, trees: dict[str, dict[str, str]]) -> dict[str, Variant]:
    def demo(env: dict[str, str]) -> Variant:
        return lambda: time_run([sys.executable, "-m", "oci_mcp_cli", "demo", "--json"], env, tmp)

    return {f"demo: {name}": demo(env) for name, env in trees.items()}


def help_variants(tmp: Path, trees: dict[str, dict[str, str]]) -> dict[str, Variant]:
    """The floor as a script (``python minimal_typer.py --help``); ``oci-mcp --help`` of each tree
    through the console script (what users run) and through ``python -m`` (also pays runpy)."""
    minimal = tmp / "minimal_typer.py"
    minimal.write_text(MINIMAL_TYPER)
    argvs = help_argvs(minimal, ("script", "module"))
    floor = argvs[HELP_FLOOR]
    out: dict[str, Variant] = {
        HELP_FLOOR_NAME: lambda: time_run(floor, trees["oci-mcp"], tmp)
    }
    for name, env in trees.items():
        for label, via in (("script", VIA["script"]), ("-m", VIA["module"])):
            out[f"help: {name} ({label})"] = (
                lambda env=env, argv=argvs[via]: time_run(argv, env, tmp)
            )
    return out


def report(wall: dict[str, list[float]], cpu: dict[str, list[float]]) -> None:
    floors = {"serve": "serve: minimal FastMCP", "help": HELP_FLOOR_NAME}
    for name in wall:
        w, c = statistics.median(wall[name]), statistics.median(cpu[name])
        line = (f"  {name:36} wall {w * 1000:7.0f} ms (min {min(wall[name]) * 1000:6.0f}), "
                f"CPU {c * 1000:6.0f} ms")
        floor = floors.get(name.partition(":")[0])
        if floor and name != floor:
            line += (f"   ratio: wall {w / statistics.median(wall[floor]):.2f}, "
                     f"CPU {c / statistics.median(cpu[floor]):.2f}")
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--only", default="serve,demo,help")
    parser.add_argument("--baseline", type=Path, help="an older tree's root (its oci_mcp_cli/)")
    options = parser.parse_args()
    parts = set(options.only.split(","))

    env = {**os.environ, "COLUMNS": "100"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: byte code cached
    trees = {"oci-mcp": {**env, "PYTHONPATH": str(ROOT)}}
    if options.baseline:
        trees["oci-mcp baseline"] = {**env, "PYTHONPATH": str(options.baseline.resolve())}

    from serve_support import provisioned_sandbox

    with tempfile.TemporaryDirectory(prefix="bench-start-") as tmp_name:
        tmp = Path(tmp_name)
        with provisioned_sandbox(tmp / "sb") as (_sb, env_file, _url):
            variants: dict[str, Variant] = {}
            if "serve" in parts:
                variants |= serve_variants(tmp, (env_file, tmp / "oauth"), trees)
            if "demo" in parts:
                variants |= demo_variants(tmp, trees)
            if "help" in parts:
                variants |= help_variants(tmp, trees)
            for run in variants.values():  # warm-up
                run()
            wall: dict[str, list[float]] = {name: [] for name in variants}
            cpu: dict[str, list[float]] = {name: [] for name in variants}
            load_before = os.getloadavg()[0]
            for _ in range(options.reps):
                for name, run in variants.items():
                    w, c = run()
                    wall[name].append(w)
                    cpu[name].append(c)
    print(f"start-up, {options.reps} interleaved rounds (medians), {os.cpu_count()} CPUs, "
          f"load average {load_before:.2f} before / {os.getloadavg()[0]:.2f} after")
    report(wall, cpu)
    print("targets: serve ratio ≤ 1.3, demo ≤ 5 s, help (script) ratio ≤ 1.15")


if __name__ == "__main__":
    main()

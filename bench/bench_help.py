"""Benchmark: start-up cost of ``oci-mcp --help`` vs a minimal two-command Typer app's ``--help``.

Most of what a user (and the test suite) waits for on a short command is interpreter start-up plus
imports. This runs them in one go, interleaved (so load on the machine hits all alike), after one
warm-up each (byte code compiled, files cached), and reports the median wall times and their ratio
to the floor — absolute numbers depend on the machine, the ratio is what to compare (target:
≤ 1.15) — and the ratio of CPU times (user + system), which moves less when other work shares the
machine. The floor is the minimal app run as a script (``python app.py --help``); ``oci-mcp``
runs as users run it, through its console script (``oci-mcp --help``), and as ``python -m
oci_mcp_cli --help``, which also pays ``runpy`` (second line). Each tree is found through
``PYTHONPATH`` from a neutral working directory.
Run: ``python bench/bench_help.py [--reps N] [--via script|module|both] [--baseline DIR]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLOOR = "minimal Typer app: python app.py --help"
VIA = {"script": "oci-mcp --help (console script)", "module": "python -m oci_mcp_cli --help"}

MINIMAL_APP = '''\
import typer

app = typer.Typer(no_args_is_help=True)


@app.command()
def hello(name: str = "world") -> None:
    """Say hello."""
    typer.echo(f"hello {name}")


@app.command()
def bye(name: str = "world") -> None:
    """Say bye."""
    typer.echo(f"bye {name}")


if __name__ == "__main__":
    app()
'''


def console_script() -> Path:
    """The ``oci-mcp`` console script next to this Python (what ``pip install`` writes)."""
    script = Path(sys.executable).with_name("oci-mcp")
    if not script.exists():
        raise SystemExit(f"no console script at {script}: install the package (pip install -e .)")
    return script


def help_argvs(minimal: Path, vias: tuple[str, ...]) -> dict[str, list[str]]:
    """The floor and ``oci-mcp --help`` by each way of running it, keyed by :data:`VIA` label."""
    ways = {"script": [str(console_script()), "--help"],
            "module": [sys.executable, "-m", "oci_mcp_cli", "--help"]}
    return {FLOOR: [sys.executable, str(minimal), "--help"],
            **{VIA[via]: ways[via] for via in vias}}


def timed(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=cwd, check=True
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--via", choices=("script", "module", "both"), default="both",
                        help="how oci-mcp runs: its console script, python -m, or both lines")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="Also time an older tree's oci_mcp_cli/ (e.g. `git archive main oci_mcp_cli | tar -x "
        "-C /tmp/base`), through PYTHONPATH, in the same rounds: a before/after.",
    )
    options = parser.parse_args()
    vias = ("script", "module") if options.via == "both" else (options.via,)

    env = {**os.environ, "COLUMNS": "100"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # compare as installed: byte code cached
    trees = {"": {**env, "PYTHONPATH": str(ROOT)}}
    if options.baseline:
        trees["baseline: "] = {**env, "PYTHONPATH": str(options.baseline.resolve())}
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)  # neutral: `python -m` puts the working directory first on sys.path
        minimal = cwd / "app.py"
        minimal.write_text(MINIMAL_APP)
        runs: dict[str, tuple[list[str], dict[str, str]]] = {}
        for prefix, tree_env in trees.items():
            for label, argv in help_argvs(minimal, vias).items():
                if label != FLOOR or not prefix:
                    runs[prefix + label] = (argv, tree_env)
        for argv, run_env in runs.values():  # warm-up: byte code and page cache
            timed(argv, run_env, cwd)
        wall: dict[str, list[float]] = {name: [] for name in runs}
        cpu: dict[str, list[float]] = {name: [] for name in runs}
        load_before = os.getloadavg()[0]
        for _ in range(options.reps):
            for name, (argv, run_env) in runs.items():
                w, c = timed(argv, run_env, cwd)
                wall[name].append(w)
                cpu[name].append(c)

    print(f"--help, {options.reps} interleaved runs each (medians), {os.cpu_count()} CPUs, "
          f"load average {load_before:.2f} before / {os.getloadavg()[0]:.2f} after")
    for name in runs:
        w, c = statistics.median(wall[name]) * 1000, statistics.median(cpu[name]) * 1000
        line = f"  {name:50} wall {w:6.1f} ms (min {min(wall[name]) * 1000:6.1f}), CPU {c:6.1f} ms"
        if name != FLOOR:
            ratio = statistics.median(wall[name]) / statistics.median(wall[FLOOR])
            cpu_ratio = statistics.median(cpu[name]) / statistics.median(cpu[FLOOR])
            line += f"   to the floor: wall {ratio:.3f}, CPU {cpu_ratio:.3f}"
        print(line)
    print(f"target: {VIA['script']} (what users run), wall ratio ≤ 1.15; the CPU ratio moves "
          "less on a loaded machine")


if __name__ == "__main__":
    main()

"""Benchmark: start-up cost of ``oci-mcp --help`` vs a minimal two-command Typer app's ``--help``.

Most of what a user (and the test suite) waits for on a short command is interpreter start-up plus
imports. This runs both in one go, interleaved (so load on the machine hits both alike), after one
warm-up each (byte code compiled, files cached), and reports the median wall times and their ratio
— absolute numbers depend on the machine, the ratio is what to compare (target: ≤ 1.15) — and the
ratio of CPU times (user + system), which moves less when other work shares the machine.
Run: ``python bench/bench_help.py [--reps N] [--via script|module] [--baseline DIR]``.
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


def cli_command(via: str) -> list[str]:
    """``oci-mcp --help`` as users run it (the console script next to this Python), or ``-m``."""
    script = Path(sys.executable).with_name("oci-mcp")
    if via == "script" and script.exists():
        return [str(script), "--help"]
    return [sys.executable, "-m", "oci_mcp_cli", "--help"]


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
    parser.add_argument("--via", choices=("script", "module"), default="script")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="Also time `python -m oci_mcp_cli --help` from this directory (another checkout, "
        "e.g. `git archive HEAD oci_mcp_cli | tar -x -C /tmp/base`) for a before/after.",
    )
    options = parser.parse_args()

    env = {**os.environ, "COLUMNS": "100"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # compare as installed: byte code cached
    envs: dict[str, dict[str, str]] = {}
    cwd = options.baseline.resolve() if options.baseline else None  # -m puts the cwd first
    with tempfile.TemporaryDirectory() as tmp:
        minimal = Path(tmp) / "minimal_app.py"
        minimal.write_text(MINIMAL_APP)
        variants = {
            "minimal Typer app": [sys.executable, str(minimal), "--help"],
            "oci-mcp": cli_command(options.via),
        }
        if options.baseline:
            variants["oci-mcp baseline"] = [sys.executable, "-m", "oci_mcp_cli", "--help"]
            envs["oci-mcp baseline"] = {**env, "PYTHONPATH": str(options.baseline.resolve())}
        for name, argv in variants.items():  # warm-up: byte code and page cache
            timed(argv, envs.get(name, env), cwd if name in envs else None)
        wall: dict[str, list[float]] = {name: [] for name in variants}
        cpu: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(options.reps):
            for name, argv in variants.items():
                w, c = timed(argv, envs.get(name, env), cwd if name in envs else None)
                wall[name].append(w)
                cpu[name].append(c)

    base = "minimal Typer app"
    print(f"--help, {options.reps} interleaved runs each (medians)")
    for name in variants:
        w, c = statistics.median(wall[name]) * 1000, statistics.median(cpu[name]) * 1000
        line = f"  {name:18} wall {w:7.1f} ms (min {min(wall[name]) * 1000:6.1f}),  CPU {c:7.1f} ms"
        if name != base:
            ratio = statistics.median(wall[name]) / statistics.median(wall[base])
            cpu_ratio = statistics.median(cpu[name]) / statistics.median(cpu[base])
            line += f"   ratio to minimal: wall {ratio:.3f}, CPU {cpu_ratio:.3f}"
        print(line)
    print("target: oci-mcp's wall ratio ≤ 1.15 (the CPU ratio moves less on a loaded machine)")


if __name__ == "__main__":
    main()

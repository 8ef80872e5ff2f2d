"""Running ``oci-mcp``: in-process (fast) or as a real subprocess (the entry point itself).

Most CLI tests check what a command does and says, for which starting a Python process (about a
second or more per call, more under load) adds nothing: :func:`run_cli` invokes the real Typer app
in-process. Keep :func:`cli_process` for what only a process shows: the exit code of the real
entry point, no stdin, signals, a terminal, import-time behaviour.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from contextlib import chdir, nullcontext
from pathlib import Path


def run_cli(
    *args: str, cwd: Path | None = None, env: Mapping[str, str | None] | None = None
) -> subprocess.CompletedProcess[str]:
    """``oci-mcp <args>`` in-process, through Typer's ``CliRunner`` on the real app; ``env`` is
    added to the environment for the call (``None`` removes a variable). Returns what
    :func:`cli_process` returns. An exception the CLI does not handle propagates (fails the test
    with its traceback) instead of being printed."""
    from typer.testing import CliRunner

    from oci_mcp_cli.cli.app import app

    with chdir(cwd) if cwd is not None else nullcontext():
        result = CliRunner().invoke(
            app, list(args), env=env, prog_name="oci-mcp", catch_exceptions=False
        )
    return subprocess.CompletedProcess(
        ["oci-mcp", *args], result.exit_code, result.stdout, result.stderr
    )


def cli_process(
    *args: str,
    cwd: Path | None = None,
    env: Mapping[str, str | None] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """``python -m oci_mcp_cli <args>`` as a subprocess; ``env`` is added to the environment
    (``None`` removes a variable)."""
    environ = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "oci_mcp_cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={k: v for k, v in environ.items() if v is not None},
    )

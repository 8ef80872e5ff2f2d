"""Find or create the Python ≥ 3.13 environment an Oracle OCI MCP server runs in.

Order: ``--python`` (an interpreter, used as is); else the managed venv (``$OCI_MCP_ORACLE_VENV``,
default ``~/.cache/oci-mcp/oracle-mcp-py313``), created on first use from the first Python ≥ 3.13
found (this interpreter, ``python3.13``/``python3.14`` on PATH, pyenv versions, ``uv python
find``); a missing server package is ``pip install``-ed into it unless ``install=False``.
Nothing found → a UserError listing where it looked and how to get one.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

from oci_mcp_cli.core.errors import UserError
from oci_mcp_cli.core.proxyenv import direct_environment
from oci_mcp_cli.oracle.services import OracleService

MIN_VERSION = (3, 13)
VENV_ENV = "OCI_MCP_ORACLE_VENV"


def default_venv() -> Path:
    return Path(os.environ.get(VENV_ENV) or Path.home() / ".cache/oci-mcp/oracle-mcp-py313")


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def version_of(python: str | Path) -> tuple[int, int] | None:
    try:
        out = subprocess.run(
            [str(python), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True, text=True, timeout=30, check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    try:
        major, minor = out.stdout.strip().split(".")
        return int(major), int(minor)
    except ValueError:
        return None


def candidates() -> list[str]:
    """Interpreters that might be ≥ 3.13, best first (existence checked, version not yet)."""
    found: list[str] = []
    if sys.version_info[:2] >= MIN_VERSION:
        found.append(sys.executable)
    for name in ("python3.13", "python3.14", "python3.15"):
        path = shutil.which(name)
        if path:
            found.append(path)
    root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    for path in sorted(glob.glob(f"{root}/versions/3.1[3-9]*/bin/python3")):
        found.append(path)
    uv = shutil.which("uv")
    if uv:
        out = subprocess.run([uv, "python", "find", ">=3.13"], capture_output=True, text=True,
                             check=False)
        if out.returncode == 0 and out.stdout.strip():
            found.append(out.stdout.strip())
    return list(dict.fromkeys(found))


def find_interpreter() -> str:
    tried = candidates()
    for path in tried:
        version = version_of(path)
        if version and version >= MIN_VERSION:
            return path
    looked = ", ".join(tried) or "none found"
    raise UserError(
        "Oracle's OCI MCP servers need Python ≥ 3.13 and none was found "
        f"(looked at this interpreter {sys.version_info[0]}.{sys.version_info[1]}, python3.13/"
        f"python3.14 on PATH, ~/.pyenv/versions/3.13*, `uv python find`: {looked})",
        hint="install one (`uv python install 3.13` or `pyenv install 3.13`) or pass "
        "--python /path/to/python3.13",
    )


def has_module(python: str | Path, service: OracleService) -> bool:
    code = (
        "import importlib.util,sys; "
        f"sys.exit(0 if importlib.util.find_spec({service.module!r}) else 1)"
    )
    try:
        return subprocess.run([str(python), "-c", code], capture_output=True, check=False,
                              timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def ensure_python(
    service: OracleService, *, python: str | None = None, venv: Path | None = None,
    install: bool = True, say=lambda msg: None,  # noqa: ANN001
) -> str:
    """The interpreter that runs ``service`` (its package importable)."""
    if python:
        version = version_of(python)
        if version is None:
            raise UserError(f"--python {python} does not run", hint="give a Python ≥ 3.13")
        if version < MIN_VERSION:
            raise UserError(f"--python {python} is Python {version[0]}.{version[1]}; "
                            f"{service.package} requires ≥ 3.13")
        if not has_module(python, service):
            raise UserError(f"{service.package} is not installed for {python}",
                            hint=f"{python} -m pip install {service.package}")
        return python
    venv = venv or default_venv()
    exe = venv_python(venv)
    if not exe.exists():
        if not install:
            raise UserError(f"no environment for Oracle's MCP servers at {venv}",
                            hint="drop --no-install to create it, or pass --python")
        base = find_interpreter()
        say(f"creating {venv} with {base}")
        subprocess.run([base, "-m", "venv", str(venv)], check=True)
    version = version_of(exe)
    if version is None or version < MIN_VERSION:
        raise UserError(f"{venv} is not a Python ≥ 3.13 environment",
                        hint=f"remove it (or set {VENV_ENV} elsewhere) and re-run")
    if not has_module(exe, service):
        if not install:
            raise UserError(f"{service.package} is not installed in {venv}",
                            hint=f"{exe} -m pip install {service.package} (or drop --no-install)")
        say(f"installing {service.package} into {venv}")
        # straight to the index: the sandbox's proxy and CA bundle (under `sandbox exec`) reach
        # and trust only the sandbox; the server started afterwards keeps them
        done = subprocess.run([str(exe), "-m", "pip", "install", "-q", service.package],
                              env=direct_environment(os.environ), check=False)
        if done.returncode != 0 or not has_module(exe, service):
            raise UserError(f"could not install {service.package} into {venv} "
                            f"(pip exit code {done.returncode})",
                            hint="check network access to PyPI, or install it yourself and "
                            "pass --python")
    return str(exe)

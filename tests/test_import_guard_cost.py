"""The import guard (server/imports.py) costs an import of any other package nothing but a root
check: every function-level import that runs per call (``from . import x`` in FastMCP, anyio,
pydantic, …, and our own) went through ``importlib.util.resolve_name`` first — ≈ 0.09 ms of the
event loop's GIL time per tool call at concurrency 50 (docs/benchmarks.md "Per-call cost at
default settings")."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# Runs in a child: the guard is process-wide and never removed.
CHILD = """
import sys, importlib.util
sys.path.insert(0, sys.argv[1])
from oci_mcp_cli.server import imports
imports.install_import_guard(["circ"])
import plain.mod, circ.mod
calls = []
original = importlib.util.resolve_name
def counting(name, package):
    calls.append(package)
    return original(name, package)
imports.importlib.util.resolve_name = counting
for _ in range(50):
    plain.mod.use()
plain_calls = len(calls)
circ.mod.use()
print(plain_calls, len(calls) - plain_calls,
      plain.mod.use() is plain.sub, circ.mod.use() is circ.sub)
"""


def test_relative_imports_outside_the_guarded_packages_resolve_no_names(tmp_path: Path) -> None:
    for package in ("plain", "circ"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
        (tmp_path / package / "sub.py").write_text("X = 1\n")
        (tmp_path / package / "mod.py").write_text(
            "def use():\n    from . import sub\n    return sub\n"
        )
    child = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path)], capture_output=True,
                           text=True, timeout=120)
    assert child.returncode == 0, child.stderr
    plain, guarded, plain_ok, guarded_ok = child.stdout.split()
    assert plain == "0", f"{plain} name resolutions for 50 relative imports of an unguarded package"
    assert int(guarded) >= 1  # the guarded package's imports are still resolved and checked
    assert plain_ok == guarded_ok == "True"

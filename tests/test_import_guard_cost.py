"""The import guard (server/imports.py) costs an import of a module that is already loaded
nothing: it wraps the import system's steps for a module not loaded yet, so the ≈ 100
function-level imports a tool call runs (``from . import x`` in FastMCP, anyio, pydantic, …, and
our own) never run any of its code. Until stop 23 it replaced ``builtins.__import__``: a Python
call on every import statement, ≈ 280 000 instructions per tool call (docs/benchmarks.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# Runs in a child: the guard is process-wide and never removed.
CHILD = """
import importlib, sys
sys.path.insert(0, sys.argv[1])
from oci_mcp_cli.server import imports
imports.install_import_guard(["circ"])
import plain.mod, plain.sub, circ.mod, circ.sub
calls = []
original = imports._guarded
def counting(name):
    calls.append(name)
    return original(name)
imports._guarded = counting
for _ in range(50):
    plain.mod.use()
    circ.mod.use()
loaded = len(calls)
import circ.fresh
importlib.import_module("circ.lazy")
print(loaded, "circ.fresh" in calls, "circ.lazy" in calls,
      plain.mod.use() is plain.sub, circ.mod.use() is circ.sub)
"""


def test_imports_of_loaded_modules_never_enter_the_guard(tmp_path: Path) -> None:
    for package in ("plain", "circ"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
        for module in ("sub", "fresh", "lazy"):
            (tmp_path / package / f"{module}.py").write_text("X = 1\n")
        (tmp_path / package / "mod.py").write_text(
            "def use():\n    from . import sub\n    import circ.sub\n    return sub\n"
        )
    child = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path)], capture_output=True,
                           text=True, timeout=120)
    assert child.returncode == 0, child.stderr
    loaded, fresh, lazy, plain_ok, guarded_ok = child.stdout.split()
    assert loaded == "0", f"{loaded} guard checks for 200 imports of loaded modules"
    assert fresh == lazy == "True"  # first imports (a statement, import_module) are guarded
    assert plain_ok == guarded_ok == "True"

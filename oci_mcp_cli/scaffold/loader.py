"""Load a FastMCP server for ``serve --app``: ``path/server.py:attr`` or ``module:attr``.

Every failure is a UserError (exit 2) that names the file/module and the fix.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from oci_mcp_cli.core.errors import UserError

DEFAULT_ATTR = "mcp"


def split_spec(spec: str) -> tuple[str, str]:
    """``"server.py:mcp"`` → ``("server.py", "mcp")``; the attribute defaults to ``mcp``."""
    target, sep, attr = spec.strip().rpartition(":")
    if not sep:
        target, attr = spec.strip(), DEFAULT_ATTR
    # A Windows drive letter ("C:\\x\\server.py") is not an attribute separator.
    if len(target) == 1 and target.isalpha():
        target, attr = spec.strip(), DEFAULT_ATTR
    if not target or not attr.isidentifier():
        raise UserError(
            f"--app {spec!r} is not of the form path/to/server.py:attr or module:attr",
            hint="for example: --app server.py:mcp",
        )
    return target, attr


def _import_file(path: Path) -> ModuleType:
    if not path.is_file():
        raise UserError(
            f"--app: {path} does not exist", hint="run `oci-mcp new` to create a starter server.py"
        )
    name = f"oci_mcp_app_{abs(hash(str(path.resolve())))}"
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise UserError(f"--app: {path} is not a Python file")
    module = importlib.util.module_from_spec(module_spec)
    # Let the app import its sibling modules, as `python server.py` would.
    folder = str(path.resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise UserError(
            f"--app: importing {path} failed: {exc.__class__.__name__}: {exc}",
            hint="fix the error in that file (run with --debug for the traceback)",
        ) from exc
    return module


def _import_module(name: str) -> ModuleType:
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and name.startswith(exc.name):
            raise UserError(
                f"--app: no module named {name!r}",
                hint="give a file path (server.py:mcp) or a module importable from here",
            ) from exc
        raise UserError(f"--app: importing {name} failed: {exc}") from exc
    except Exception as exc:
        raise UserError(
            f"--app: importing {name} failed: {exc.__class__.__name__}: {exc}",
            hint="fix the error in that module (run with --debug for the traceback)",
        ) from exc


def load_app(spec: str) -> Any:
    """Import the target of ``spec`` and return its FastMCP instance."""
    from fastmcp import FastMCP

    target, attr = split_spec(spec)
    is_file = target.endswith(".py") or "/" in target or "\\" in target
    module = _import_file(Path(target)) if is_file else _import_module(target)
    if not hasattr(module, attr):
        found = [k for k, v in vars(module).items() if isinstance(v, FastMCP)]
        hint = f"use --app {target}:{found[0]}" if found else "define `mcp = FastMCP(...)` in it"
        raise UserError(f"--app: {target} has no attribute {attr!r}", hint=hint)
    app = getattr(module, attr)
    if not isinstance(app, FastMCP):
        raise UserError(
            f"--app: {target}:{attr} is a {type(app).__name__}, not a FastMCP server",
            hint="point --app at the `FastMCP(...)` instance",
        )
    return app

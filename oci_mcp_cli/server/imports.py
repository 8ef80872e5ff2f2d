"""The OCI SDK's imports, made safe for a server whose calls run in many threads at once.

The SDK imports itself in circles (``oci`` → ``oci.auth.signers`` → ``oci.signer`` → ``oci``…).
When the first import of ``oci`` or one of its packages happens in several worker threads at
once, Python's per-module import locks meet in a cycle: one thread gets ``deadlock detected by
_ModuleLock(…)`` or a name from a *partially initialized module*, the failed module leaves
sys.modules while the submodules it had already imported stay, and every later import binds a
new parent without them (``module 'oci' has no attribute 'signer'``) — every call of every user
fails until the process restarts. Three layers keep that from happening:

- :func:`warm_imports`: ``build_server`` imports what the token exchange, the built-in tools
  and ``oci_client()`` need before the server accepts a request (``/health`` answers 200 only
  after it);
- :func:`install_import_guard`: a first import of ``oci`` or any package under it (a user's
  ``--app`` tool writing ``from oci.core import ComputeClient`` in the function, the SDK's own
  lazy ``oci.<service>`` attribute, ``importlib.import_module``) runs under one process-wide
  lock, so such imports are serialized, and a thread that meets a guarded module another thread
  is still importing waits for that whole import. The guard wraps the import system's steps for
  a module that is not loaded (or not finished) yet: an import of a loaded module — about a
  hundred per tool call, in FastMCP, anyio and our own function bodies — runs none of its code.
  (until stop 23 it replaced ``builtins.__import__``: a Python call on every import statement,
  ≈ 280 000 instructions per tool call);
- :func:`purge_orphans`: when an import fails anyway, the submodules it left behind without
  their parent are dropped, so the next import runs cleanly instead of binding a broken parent;
  the call fails with :func:`import_fault_error` (a server fault, "try again").
"""

from __future__ import annotations

import contextlib
import importlib
import importlib._bootstrap as _bootstrap
import logging
import re
import sys
import threading
from collections.abc import Iterable, Iterator
from typing import Any

LOGGER = logging.getLogger("oci_mcp.server.imports")
GUARDED_ROOTS = frozenset({"oci"})
# What a call imports: the token exchange (server/signers.py), our tools (server/tools.py),
# oci_client() and the error mapping (core/ociconfig.py, server/errors.py).
WARM_MODULES = (
    "oci",
    "oci._vendor.requests",
    "oci.auth.signers",
    "oci.auth.security_token_container",
    "oci.auth.session_key_supplier",
    "oci.circuit_breaker",
    "oci.exceptions",
    "oci.identity",
    "oci.object_storage",
    "oci.retry.retry_checkers",
    "circuitbreaker",
)
# How long a first import waits for another thread's import before it goes ahead unserialized
# (Python's own import locks then detect a deadlock instead of the process hanging). An import
# of one SDK package takes well under a second; the bound only matters if an import entered the
# SDK without the guard (``importlib.import_module`` called directly) and waits for this lock.
IMPORT_WAIT_S = 30.0

_LOCK = threading.RLock()
_ROOTS: set[str] = set()  # the guarded top-level packages (GUARDED_ROOTS once installed)
# The import system's own functions the guard wraps (``importlib._bootstrap``; CPython's import
# statement calls them by name on that module, so the wrappers apply everywhere).
_ORIGINAL: dict[str, Any] = {}
_INSTALL_LOCK = threading.Lock()
_MODULE_IN_MESSAGE = re.compile(r"'([A-Za-z_][\w.]*)'")


@contextlib.contextmanager
def serialized() -> Iterator[None]:
    """Hold the import lock (re-entrant) while the block imports; bounded by IMPORT_WAIT_S."""
    acquired = _LOCK.acquire(timeout=IMPORT_WAIT_S)
    if not acquired:
        LOGGER.warning("an OCI SDK import waited %gs for another one; going ahead", IMPORT_WAIT_S)
    try:
        yield
    finally:
        if acquired:
            _LOCK.release()


def _guarded(name: str) -> bool:
    return name.partition(".")[0] in _ROOTS


def _guarded_find_and_load(name: str, import_: Any) -> Any:
    """``importlib._bootstrap._find_and_load``: what an import statement, ``__import__`` and
    ``importlib.import_module`` call for a module that is not loaded yet (``name`` absolute).
    For the guarded packages it runs under the guard's lock, taken before Python's per-module
    lock, so two threads never take the SDK's module locks in opposite orders; a failure drops
    the half-imported modules."""
    if not _guarded(name):
        return _ORIGINAL["find_and_load"](name, import_)
    with serialized():
        try:
            return _ORIGINAL["find_and_load"](name, import_)
        except BaseException:
            purge_orphans({name.partition(".")[0]})
            raise


def _guarded_lock_unlock_module(name: str) -> Any:
    """``importlib._bootstrap._lock_unlock_module``: what an import calls for a module another
    thread is still executing. For the guarded packages it first waits for the guard's lock —
    held by that thread until its whole import (the package and the submodules it asked for)
    is done — so no thread goes on with a package whose submodules are still loading."""
    if not _guarded(name):
        return _ORIGINAL["lock_unlock_module"](name)
    with serialized():
        return _ORIGINAL["lock_unlock_module"](name)


def install_import_guard(roots: Iterable[str] = GUARDED_ROOTS) -> None:
    """Serialize first imports of the packages ``roots`` (default: the SDK) in this process
    (idempotent; never removed)."""
    with _INSTALL_LOCK:
        if not _ORIGINAL:
            _ORIGINAL["find_and_load"] = _bootstrap._find_and_load  # type: ignore[attr-defined]
            _ORIGINAL["lock_unlock_module"] = _bootstrap._lock_unlock_module  # type: ignore[attr-defined]
            _bootstrap._find_and_load = _guarded_find_and_load  # type: ignore[attr-defined]
            _bootstrap._lock_unlock_module = _guarded_lock_unlock_module  # type: ignore[attr-defined]
        _ROOTS.update(roots)


def warm_imports(extra: Iterable[str] = ()) -> None:
    """Import :data:`WARM_MODULES` (and ``extra``) now, in this thread, under the guard; an
    import that fails here is a broken installation (OciMcpError naming the module)."""
    from oci_mcp_cli.core.errors import OciMcpError

    install_import_guard()
    with serialized():
        for name in (*WARM_MODULES, *extra):
            try:
                importlib.import_module(name)
            except Exception as exc:
                purge_orphans(GUARDED_ROOTS)
                raise OciMcpError(
                    f"the server cannot start: importing {name} failed "
                    f"({type(exc).__name__}: {exc})",
                    hint="reinstall oci-mcp's dependencies, e.g. pip install --force-reinstall oci",
                ) from exc


def purge_orphans(roots: Iterable[str]) -> list[str]:
    """Drop from sys.modules every module under ``roots`` whose parent package is not there:
    what a failed import of the parent left behind. Re-importing the parent would otherwise
    bind a new parent module that lacks them as attributes. Returns the names dropped."""
    wanted = set(roots)
    dropped: list[str] = []
    with serialized():
        names = sorted(
            (n for n in list(sys.modules) if n.partition(".")[0] in wanted and "." in n),
            key=lambda n: n.count("."),
        )
        for name in names:  # parents first, so an orphan's children go too
            if name.rpartition(".")[0] not in sys.modules:
                sys.modules.pop(name, None)
                dropped.append(name)
    if dropped:
        LOGGER.warning("dropped %d half-imported modules after a failed import (%s, …)",
                       len(dropped), dropped[0])
    return dropped


def import_failure(exc: BaseException) -> BaseException | None:
    """The ImportError or import deadlock in ``exc`` or its explicit causes, if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ImportError) or type(current).__name__ == "_DeadlockError":
            return current
        current = current.__cause__
    return None


def failed_module(failure: BaseException) -> str | None:
    """The module an import failure names (``ImportError.name``, else the first quoted dotted
    name of its message: the module of ``_ModuleLock('oci.core')``)."""
    name = getattr(failure, "name", None)
    if isinstance(name, str) and name:
        return name
    found = _MODULE_IN_MESSAGE.search(str(failure))
    return found.group(1) if found else None


def import_fault_error(failure: BaseException) -> Exception:
    """The ToolError of a call an import failure broke; the half-imported modules are dropped
    first, so the next call imports them again."""
    from oci_mcp_cli.core.redact import redact
    from oci_mcp_cli.server.errors import tool_error

    module = failed_module(failure)
    purge_orphans({*GUARDED_ROOTS, *_ROOTS, *([module.partition(".")[0]] if module else [])})
    what = f"importing {module}" if module else "an import"
    detail = redact(f"{type(failure).__name__}: {failure}")[:300]
    return tool_error(
        f"server fault: {what} failed in this call ({detail}); the server discarded the "
        "half-imported modules, so the next call loads them again — try again",
        warning=True,
        outcome="server_fault",
    )

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
  lazy ``oci.<service>`` attribute) runs under one process-wide lock, so such imports are
  serialized; an import of a module that is already loaded takes no lock;
- :func:`purge_orphans`: when an import fails anyway, the submodules it left behind without
  their parent are dropped, so the next import runs cleanly instead of binding a broken parent;
  the call fails with :func:`import_fault_error` (a server fault, "try again").
"""

from __future__ import annotations

import builtins
import contextlib
import importlib.util
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
_ORIGINAL_IMPORT: Any = None
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


def _absolute(name: str, globals_: Any, level: int) -> str:
    if level == 0:
        return name
    package = (globals_ or {}).get("__package__") or (globals_ or {}).get("__name__") or ""
    try:
        return importlib.util.resolve_name("." * level + name, package)
    except (ImportError, ValueError):
        return ""


def _needs_import(name: str, fromlist: Iterable[str] | None) -> bool:
    """False when ``import name`` / ``from name import …`` finds everything loaded already
    (``__dict__`` only: ``hasattr`` would run the SDK's lazy ``__getattr__``)."""
    module = sys.modules.get(name)
    if module is None or getattr(getattr(module, "__spec__", None), "_initializing", False):
        return True
    names = vars(module)
    return any(item != "*" and item not in names for item in fromlist or ())


def _guarded_import(
    name: str,
    globals: Any = None,  # noqa: A002 - builtins.__import__'s own parameter names
    locals: Any = None,  # noqa: A002
    fromlist: Any = (),
    level: int = 0,
) -> Any:
    if level == 0:
        root = name.partition(".")[0]
    else:  # a relative import cannot leave its package: its root is the importer's
        package = (globals or {}).get("__package__") or (globals or {}).get("__name__") or ""
        root = package.partition(".")[0]
    if root not in _ROOTS:  # every import of any other package, per call: no name resolution
        return _ORIGINAL_IMPORT(name, globals, locals, fromlist, level)
    target = _absolute(name, globals, level)
    if not target or not _needs_import(target, fromlist):
        return _ORIGINAL_IMPORT(name, globals, locals, fromlist, level)
    with serialized():
        try:
            return _ORIGINAL_IMPORT(name, globals, locals, fromlist, level)
        except BaseException:
            purge_orphans({root})
            raise


def _guard_lazy_attributes(module: Any) -> None:
    """Serialize a package's lazy ``__getattr__`` loader (the SDK's ``oci.core`` attribute
    imports ``oci.core`` through ``importlib.import_module``, past ``builtins.__import__``)."""
    lazy = vars(module).get("__getattr__")
    if lazy is None or getattr(lazy, "oci_mcp_guarded", False):
        return
    prefix = module.__name__ + "."

    def __getattr__(attribute: str) -> Any:
        if prefix + attribute in sys.modules:
            return lazy(attribute)
        with serialized():
            return lazy(attribute)

    __getattr__.oci_mcp_guarded = True  # type: ignore[attr-defined]
    module.__getattr__ = __getattr__


def install_import_guard(roots: Iterable[str] = GUARDED_ROOTS) -> None:
    """Serialize first imports of the packages ``roots`` (default: the SDK) in this process
    (idempotent; never removed)."""
    global _ORIGINAL_IMPORT
    with _INSTALL_LOCK:
        if _ORIGINAL_IMPORT is None:
            _ORIGINAL_IMPORT = builtins.__import__
            builtins.__import__ = _guarded_import
        _ROOTS.update(roots)
        for root in _ROOTS:
            if root in sys.modules:
                _guard_lazy_attributes(sys.modules[root])


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
    install_import_guard()  # now that ``oci`` is loaded: its lazy attributes too


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

"""The test client's token cache: Fernet-encrypted files, one directory per (server URL, user).

The Fernet key lives in ``<data dir>/client/key`` (0600). The data dir is
``$OCI_MCP_DATA_DIR`` or the platform's user data dir (``~/.local/share/oci-mcp`` on Linux).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from oci_mcp_cli.core.files import ensure_private_dir, write_private

DATA_DIR_ENV = "OCI_MCP_DATA_DIR"


def data_dir(root: Path | None = None) -> Path:
    """Where oci-mcp keeps per-user client state (``root`` overrides everything)."""
    if root is not None:
        return Path(root)
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("oci-mcp"))


def cache_dir(url: str, user: str | None, root: Path | None = None) -> Path:
    """The cache directory of one server URL and user (``default`` for browser sign-ins)."""
    digest = hashlib.sha256(f"{url.rstrip('/')}\n{user or 'default'}".encode()).hexdigest()[:24]
    return data_dir(root) / "client" / "tokens" / digest


def _fernet_key(root: Path | None) -> bytes:
    from cryptography.fernet import Fernet

    path = ensure_private_dir(ensure_private_dir(data_dir(root)) / "client") / "key"
    if path.exists():
        return path.read_bytes().strip()
    key = Fernet.generate_key()
    write_private(path, key)
    return key


def clear_tokens(url: str, user: str | None, root: Path | None = None) -> None:
    """Forget cached tokens of (url, user): the next run signs in again."""
    shutil.rmtree(cache_dir(url, user, root), ignore_errors=True)


def staged_cache_dir(url: str, user: str | None, root: Path | None = None) -> Path:
    """Where a ``--relogin`` signs in: next to the cache, swapped in only once sign-in worked."""
    final = cache_dir(url, user, root)
    return final.with_name(f"{final.name}.relogin-{os.getpid()}")


def commit_staged(url: str, user: str | None, root: Path | None = None) -> None:
    """Replace the cached tokens of (url, user) with those of a successful ``--relogin``."""
    final, staged = cache_dir(url, user, root), staged_cache_dir(url, user, root)
    if not staged.is_dir():
        return
    old = final.with_name(f"{final.name}.old-{os.getpid()}")
    if final.exists():
        final.rename(old)
    staged.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    drop_stale_metadata(final)


def drop_stale_metadata(directory: Path) -> None:
    """Remove the store's ``<collection>-info.json`` files that name a directory outside
    ``directory`` (written before a rename, e.g. by a ``--relogin``): the store refuses such a
    path (``PathSecurityError``) and re-creates the file, pointing at its own directory, on the
    next write. The token entries themselves are untouched."""
    root = directory.resolve()
    for info in directory.glob("*-info.json"):
        try:
            recorded = Path(json.loads(info.read_text(encoding="utf-8"))["directory"])
        except (OSError, ValueError, KeyError, TypeError):
            recorded = None  # unreadable metadata: just as stale
        if recorded is None or recorded.parent != root:
            info.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (on Windows, assumed: ``os.kill`` there terminates it)."""
    if os.name == "nt":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def recover_interrupted(url: str, user: str | None, root: Path | None = None) -> None:
    """Clean up after a ``--relogin`` whose process died (SIGTERM, kill -9): its staging
    directory is dropped, and a previous login it had moved aside mid-swap is put back. Leftovers
    of a process that is still running are left alone."""
    final = cache_dir(url, user, root)
    if not final.parent.is_dir():
        return
    for leftover in sorted(final.parent.glob(f"{final.name}.*-*")):
        kind, _, pid = leftover.name.removeprefix(f"{final.name}.").rpartition("-")
        if kind not in ("relogin", "old") or not pid.isdigit() or _alive(int(pid)):
            continue
        if kind == "old" and not final.exists():
            leftover.rename(final)  # the last good login
        else:
            shutil.rmtree(leftover, ignore_errors=True)


def has_login(url: str, user: str | None, root: Path | None = None) -> bool:
    """Whether (url, user) has cached tokens (after :func:`recover_interrupted`)."""
    recover_interrupted(url, user, root)
    directory = cache_dir(url, user, root)
    return directory.is_dir() and any(directory.iterdir())


def discard_staged(url: str, user: str | None, root: Path | None = None) -> None:
    """Drop the tokens of a failed ``--relogin``; the previous cached login stays usable."""
    shutil.rmtree(staged_cache_dir(url, user, root), ignore_errors=True)


def token_store(
    url: str, user: str | None, root: Path | None = None, *, staged: bool = False
) -> Any:
    """An encrypted on-disk ``AsyncKeyValue`` for FastMCP's ``OAuth(token_storage=…)``;
    ``staged`` starts empty in :func:`staged_cache_dir` (see :func:`commit_staged`)."""
    from oci_mcp_cli.core.stores import fernet_file_store

    recover_interrupted(url, user, root)
    directory = (staged_cache_dir if staged else cache_dir)(url, user, root)
    if staged:
        shutil.rmtree(directory, ignore_errors=True)
    ensure_private_dir(data_dir(root))
    ensure_private_dir(directory.parent.parent)
    ensure_private_dir(directory.parent)
    ensure_private_dir(directory)
    drop_stale_metadata(directory)  # also heals caches left broken by an older --relogin
    return fernet_file_store(directory, _fernet_key(root))

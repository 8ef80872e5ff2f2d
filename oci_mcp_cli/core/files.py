"""Atomic, private file writes: the file is either the old one or the new one, mode 0600."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) if missing; a directory we create is 0700."""
    if not path.exists():
        path.mkdir(parents=True, mode=PRIVATE_DIR_MODE, exist_ok=True)
    return path


def write_private(path: Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file + fsync + rename) with mode 0600."""
    write_atomic(path, data, mode=PRIVATE_FILE_MODE)


def ordinary_file_mode() -> int:
    """The mode a plain new file gets here: 0666 minus the umask (0644 with the usual 022)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_atomic(path: Path, data: str | bytes, *, mode: int) -> None:
    """Write ``data`` to ``path`` atomically (temp file + fsync + rename) with ``mode``; for
    files that hold no secret (e.g. a project's ``.mcp.json``), else use :func:`write_private`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def backup_file(path: Path) -> Path | None:
    """Copy ``path`` to ``path.bak`` (mode 0600) before it is changed; None if it does not exist."""
    path = Path(path)
    if not path.exists():
        return None
    backup = path.with_name(path.name + ".bak")
    write_private(backup, path.read_bytes())
    return backup


def file_mode(path: Path) -> int:
    """The permission bits of ``path``."""
    return Path(path).stat().st_mode & 0o777

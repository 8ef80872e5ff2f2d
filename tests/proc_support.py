"""Child-process output that can never block the child.

A pipe nobody reads fills up (64 KiB on Linux) and the child then blocks on its next log line: a
server under test hangs, and so does the test. Send output you only need on failure to a
:func:`log_file`; hand a pipe you stopped reading (after a ready line) to :class:`Drain`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from oci_mcp_cli.core.waiting import poll_until

# How long a child may take to exit after Ctrl-C/SIGTERM. It takes about a second on a quiet
# machine; the bound is generous because a loaded CI machine can be many times slower, and a
# bound is not a timing assertion.
STOP_TIMEOUT_S = 120


@contextmanager
def log_file(path: Path) -> Iterator[IO[str]]:
    """``path`` opened for a child's ``stdout``/``stderr``; when the block fails, its content is
    printed to stderr, which pytest shows under "Captured stderr" of the failing test."""
    with path.open("w") as sink:
        try:
            yield sink
        except BaseException:
            sink.flush()
            sys.stderr.write(f"--- {path} ---\n{path.read_text(errors='replace')}\n")
            raise


class Drain:
    """Reads the rest of a child's text pipe on a daemon thread, so the child never blocks on it.

    ``text()`` waits for end of file (the child exited or closed the pipe), up to ``timeout``,
    and returns everything read.
    """

    def __init__(self, stream: IO[str] | None) -> None:
        assert stream is not None, "Drain needs a pipe (stdout/stderr=subprocess.PIPE)"
        self._stream = stream
        self._chunks: list[str] = []
        self._thread = threading.Thread(target=self._pump, name="drain", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        for line in self._stream:
            self._chunks.append(line)

    def text(self, timeout: float = 30) -> str:
        self._thread.join(timeout)
        return "".join(self._chunks)


def stop_group(proc: subprocess.Popen[Any], timeout: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM to the process group of ``proc`` (started with ``start_new_session=True``), so a
    wrapper such as ``oci-mcp sandbox exec -- …`` and the command it runs stop together (a
    SIGTERM to the wrapper alone leaves its child running); SIGKILL after ``timeout``."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # a child that outlived the wrapper
    # Return only once no member of the group runs any more (its sockets are closed): a next
    # test that reuses a port must not find the dying server still listening there.
    poll_until(lambda: not _live_members(proc.pid), timeout=timeout, interval=0.02)


def _live_members(pgid: int) -> list[int]:
    """The processes of group ``pgid`` that are not zombies (Linux ``/proc``)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(stat.parent.name))
    return members

"""``oci-mcp serve`` as a child process: logged to a private file, ready when /health answers,
stopped with terminate → kill after a grace period, always reaped.

The server's port is part of the OAuth redirect URI registered in the identity domain *before*
the server starts, so a child cannot bind port 0 and report it. Where we choose the port
ourselves, :func:`serve_on_free_port` picks a free one, lets the caller provision for it, and when
the child exits reporting the port taken meanwhile (``serve`` binds first and exits 2 saying
"already in use"), tries again with another port.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from oci_mcp_cli.core.errors import OciMcpError
from oci_mcp_cli.core.waiting import WaitError, wait_until_url

READY_TIMEOUT_S = 60.0
STOP_GRACE_S = 10.0
PORT_ATTEMPTS = 3
SERVE_LOG = "oci-mcp-serve.log"
PORT_BUSY_TEXT = "already in use"  # what `serve` says (exit 2) when it cannot bind its port
WHAT = "`oci-mcp serve`"


class PortBusy(OciMcpError):
    """The child exited because its port was taken (exit 2, "already in use")."""


def cli_command(*args: str) -> list[str]:
    """``oci-mcp <args>`` run with this interpreter (works without the console script)."""
    return [sys.executable, "-m", "oci_mcp_cli", *args]


def run_cli(*args: str, **popen: Any) -> int:
    """Run ``oci-mcp <args>`` in the foreground; its exit code."""
    return subprocess.run(cli_command(*args), check=False, **popen).returncode


def serve_log_path(env_file: Path) -> Path:
    """Where ``init --launch`` logs the server: next to the ``.env`` it serves."""
    return env_file.resolve().parent / SERVE_LOG


def open_private_log(path: Path) -> IO[bytes]:
    """``path`` opened for appending, created 0600 (server logs can name users and clients)."""
    from oci_mcp_cli.core.files import PRIVATE_FILE_MODE

    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
    return os.fdopen(os.open(path, flags, PRIVATE_FILE_MODE), "ab")


def stop_process(proc: subprocess.Popen[Any], grace: float) -> int:
    """Terminate ``proc``; kill it if it still runs after ``grace`` seconds; reap it (always);
    its exit code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()


class ServeProcess:
    """A running ``oci-mcp serve`` child serving ``url``; a context manager that stops it."""

    def __init__(
        self,
        proc: subprocess.Popen[Any],
        url: str,
        *,
        log_path: Path | None = None,
        log: IO[bytes] | None = None,
        log_offset: int = 0,
        stop_grace: float = STOP_GRACE_S,
    ) -> None:
        self.proc = proc
        self.url = url
        self.stop_grace = stop_grace
        self.log_path = log_path
        self._log = log
        self._log_offset = log_offset

    @property
    def returncode(self) -> int | None:
        return self.proc.poll()

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Until ``url``/health answers 200; :class:`PortBusy` or ``WaitError`` otherwise."""
        try:
            wait_until_url(self.url + "/health", timeout=timeout, process=self.proc, what=WHAT)
        except WaitError as exc:
            if exc.returncode == 2 and PORT_BUSY_TEXT in self.log_text():
                raise PortBusy(exc.message, hint=f"see {self.log_path}") from exc
            raise

    def log_text(self) -> str:
        """What the child logged to our log file during this run ("" without one)."""
        if self.log_path is None:
            return ""
        try:
            with self.log_path.open("rb") as log:
                log.seek(self._log_offset)
                return log.read().decode(errors="replace")
        except OSError:
            return ""

    def wait(self) -> int:
        """Block until the child exits (Ctrl-C raises KeyboardInterrupt here); its exit code."""
        return self.proc.wait()

    def stop(self, grace: float | None = None) -> int:
        """Terminate; kill if still running after ``grace`` seconds (default ``stop_grace``);
        reap; close the log."""
        try:
            return stop_process(self.proc, self.stop_grace if grace is None else grace)
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None

    def __enter__(self) -> ServeProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_serve(
    url: str,
    args: Sequence[str] = (),
    *,
    log_path: Path | None = None,
    timeout: float = READY_TIMEOUT_S,
    **popen: Any,
) -> ServeProcess:
    """``oci-mcp serve <args>`` for the server at ``url``, returned once ``url``/health answers.

    With ``log_path`` its stdout and stderr are appended to that file (created 0600); else
    ``popen`` (``stdout=``, ``stderr=``, ``env=``, …) goes to ``subprocess.Popen``. If it does not
    become ready it is stopped and reaped, and :class:`PortBusy` or ``WaitError`` raised.
    """
    log: IO[bytes] | None = None
    offset = 0
    if log_path is not None:
        log = open_private_log(log_path)
        offset = log.seek(0, os.SEEK_END)
        popen = {**popen, "stdout": log, "stderr": subprocess.STDOUT}
    try:
        proc = subprocess.Popen(cli_command("serve", *args), **popen)
    except BaseException:
        if log is not None:
            log.close()
        raise
    server = ServeProcess(proc, url, log_path=log_path, log=log, log_offset=offset)
    try:
        server.wait_ready(timeout)
    except BaseException:  # Ctrl-C included: never leave the child running
        server.stop()
        raise
    return server


def serve_on_free_port(
    prepare: Callable[[str], Sequence[str]],
    *,
    log_path: Path,
    host: str = "127.0.0.1",
    attempts: int = PORT_ATTEMPTS,
    timeout: float = READY_TIMEOUT_S,
    **popen: Any,
) -> ServeProcess:
    """``serve`` on a free port of ``host``: ``prepare(url)`` provisions for ``url`` and returns
    the serve arguments; retried with a new port when the port was taken before the child bound
    it (the port must be known before the child starts: it is in the OAuth redirect URI)."""
    from oci_mcp_cli.core.ports import free_port

    for attempt in range(1, attempts + 1):
        url = f"http://{host}:{free_port(host)}"
        try:
            return start_serve(url, prepare(url), log_path=log_path, timeout=timeout, **popen)
        except PortBusy:
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")  # pragma: no cover

"""``orchestration.serve_process``: the real ``oci-mcp serve`` as a child process on a sandbox —
ready on /health, a taken port detected (``PortBusy``) and retried on another one, a private
log — and ``stop()``: terminate, then kill a child that ignores SIGTERM, always reaped."""

from __future__ import annotations

import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from oci_mcp_cli.core.ports import reserve_port, socket_port
from oci_mcp_cli.core.waiting import WaitError
from oci_mcp_cli.orchestration.serve_process import (
    PortBusy,
    ServeProcess,
    open_private_log,
    serve_on_free_port,
    start_serve,
)
from oci_mcp_cli.testing.provision import provision

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def env_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ``.env`` for the module's sandbox: each test provisions it for its own server URL
    (the apps stay this project's, as with repeated ``init`` runs)."""
    return tmp_path_factory.mktemp("project") / ".env"


@pytest.fixture
def held() -> Iterator[list[socket.socket]]:
    """Sockets a test holds (ports taken "by someone else"); closed after the test."""
    socks: list[socket.socket] = []
    try:
        yield socks
    finally:
        for sock in socks:
            sock.close()


def preparer(
    sb: Any, env_file: Path, held: list[socket.socket], *, taken: int
) -> tuple[list[str], Any]:
    """A ``prepare(url)`` that provisions ``sb`` for ``url`` (as ``init --launch`` does) and,
    for the first ``taken`` calls, takes the url's port first (another process winning the
    race between ``free_port`` and the child's bind). Returns ``(urls seen, prepare)``."""
    urls: list[str] = []

    def prepare(url: str) -> Sequence[str]:
        urls.append(url)
        if len(urls) <= taken:
            held.append(reserve_port(port=int(url.rsplit(":", 1)[1])))
        provision(sb, env_file, url)
        return ["--env-file", str(env_file)]

    return urls, prepare


def test_start_serve_is_ready_logs_privately_and_stops(
    sb: Any, env_file: Path, tmp_path: Path
) -> None:
    log_path = tmp_path / "serve.log"
    holder = reserve_port()
    url = f"http://127.0.0.1:{socket_port(holder)}"
    holder.close()  # the child binds it
    provision(sb, env_file, url)
    with start_serve(url, ["--env-file", str(env_file)], log_path=log_path) as server:
        assert server.url == url and server.returncode is None
        assert httpx.get(url + "/health", timeout=10).status_code == 200
        assert stat.S_IMODE(log_path.stat().st_mode) == 0o600
        proc = server.proc
    assert proc.returncode is not None  # stopped and reaped on leaving the block
    assert "starting " + url in log_path.read_text()


def test_a_taken_port_is_port_busy(sb: Any, env_file: Path, tmp_path: Path) -> None:
    log_path = tmp_path / "serve.log"
    holder = reserve_port()
    try:
        url = f"http://127.0.0.1:{socket_port(holder)}"
        provision(sb, env_file, url)
        with pytest.raises(PortBusy) as caught:
            start_serve(url, ["--env-file", str(env_file)], log_path=log_path)
    finally:
        holder.close()
    assert caught.value.hint == f"see {log_path}"
    assert isinstance(caught.value.__cause__, WaitError)
    assert caught.value.__cause__.returncode == 2
    assert "already in use" in log_path.read_text()


def test_another_failure_is_not_port_busy_even_after_one_in_the_log(tmp_path: Path) -> None:
    """Only this run's output counts: an earlier "already in use" in the log is not read."""
    log_path = tmp_path / "serve.log"
    with open_private_log(log_path) as log:
        log.write(b"error: cannot listen on 127.0.0.1:1: the address is already in use\n")
    holder = reserve_port()
    url = f"http://127.0.0.1:{socket_port(holder)}"
    holder.close()
    missing = tmp_path / "missing.env"
    with pytest.raises(WaitError) as caught:
        start_serve(url, ["--env-file", str(missing)], log_path=log_path)
    assert not isinstance(caught.value, PortBusy)
    assert caught.value.returncode == 2
    assert f"exited with code 2 before {url}/health answered" in caught.value.message
    assert "does not exist" in log_path.read_text()


def test_serve_on_free_port_retries_when_the_port_was_taken(
    sb: Any, env_file: Path, tmp_path: Path, held: list[socket.socket]
) -> None:
    log_path = tmp_path / "serve.log"
    urls, prepare = preparer(sb, env_file, held, taken=1)
    with serve_on_free_port(prepare, log_path=log_path) as server:
        assert len(urls) == 2 and urls[0] != urls[1]
        assert server.url == urls[1]
        assert httpx.get(server.url + "/health", timeout=10).status_code == 200
        assert "already in use" not in server.log_text()  # this run's log only
    assert "already in use" in log_path.read_text()  # the first attempt's
    assert server.proc.returncode is not None


def test_serve_on_free_port_gives_up_after_its_attempts(
    sb: Any, env_file: Path, tmp_path: Path, held: list[socket.socket]
) -> None:
    log_path = tmp_path / "serve.log"
    urls, prepare = preparer(sb, env_file, held, taken=99)
    with pytest.raises(PortBusy):
        serve_on_free_port(prepare, log_path=log_path, attempts=2)
    assert len(urls) == 2


# --- stop(): terminate, then kill; always reaped ---------------------------------------------

IGNORE_TERM = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('ready', flush=True)\n"
    "while True: time.sleep(60)\n"
)
WAIT = "import sys\nprint('ready', flush=True)\nsys.stdin.read()\n"


def child(code: str) -> subprocess.Popen[str]:
    """A stand-in child (``serve`` itself always honours SIGTERM), started and ready."""
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    return proc


def test_stop_kills_a_child_that_ignores_sigterm(tmp_path: Path) -> None:
    proc = child(IGNORE_TERM)
    log = open_private_log(tmp_path / "child.log")
    server = ServeProcess(proc, "http://127.0.0.1:9", log=log, stop_grace=0.2)
    try:
        assert server.stop() == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdin, proc.stdout):
            assert stream is not None
            stream.close()
    assert proc.returncode == -signal.SIGKILL  # reaped
    assert log.closed


def test_stop_terminates_reaps_and_can_be_repeated() -> None:
    proc = child(WAIT)
    server = ServeProcess(proc, "http://127.0.0.1:9")
    try:
        assert server.stop() == -signal.SIGTERM
        assert proc.returncode == -signal.SIGTERM
        assert server.stop() == -signal.SIGTERM  # already ended: just its code
    finally:
        for stream in (proc.stdin, proc.stdout):
            assert stream is not None
            stream.close()


def test_stop_of_a_child_that_already_exited_returns_its_code() -> None:
    proc = child(WAIT)
    assert proc.stdin is not None
    proc.stdin.close()  # it reads end of file and exits 0
    with ServeProcess(proc, "http://127.0.0.1:9") as server:
        assert server.wait() == 0
    assert server.stop() == 0 and server.returncode == 0
    assert proc.stdout is not None
    proc.stdout.close()


def test_private_log_is_created_0600_and_appended(tmp_path: Path) -> None:
    path = tmp_path / "serve.log"
    with open_private_log(path) as log:
        log.write(b"one\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with open_private_log(path) as log:
        log.write(b"two\n")
    assert path.read_bytes() == b"one\ntwo\n"

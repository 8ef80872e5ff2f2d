"""``core.waiting``: readiness waits against real local HTTP servers and real child processes."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from oci_mcp_cli.core.waiting import WaitError, poll_until, wait_until_url


class StatusServer(ThreadingHTTPServer):
    """A local HTTP server answering every GET with ``status``; bound (so the port is ours and
    a connection is refused) but not listening until :meth:`go`."""

    daemon_threads = True

    def __init__(self, status: int = 200) -> None:
        super().__init__(("127.0.0.1", 0), Handler, bind_and_activate=False)
        self.status = status
        self.requests = 0
        self.server_bind()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/health"

    def go(self) -> None:
        """Listen and serve (on a thread)."""
        self.server_activate()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
        self.server_close()


class Handler(BaseHTTPRequestHandler):
    server: StatusServer

    def do_GET(self) -> None:
        self.server.requests += 1
        self.send_response(self.server.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[StatusServer]:
    srv = StatusServer()
    try:
        yield srv
    finally:
        srv.close()


def test_wait_until_url_returns_once_the_server_answers(server: StatusServer) -> None:
    """Refused connections are retried: the server starts listening on the third poll."""
    polls = 0

    def ready() -> bool:
        nonlocal polls
        polls += 1
        if polls == 3:
            server.go()
        return True

    wait_until_url(server.url, timeout=30, ready=ready, interval=0.01)
    assert polls == 3 and server.requests == 1


def test_ready_gates_the_requests(server: StatusServer) -> None:
    """No request is made while ``ready()`` says no."""
    server.go()
    answers = iter([False, False, True])
    wait_until_url(server.url, timeout=30, ready=lambda: next(answers), interval=0.01)
    assert server.requests == 1


def test_nothing_listening_names_the_url_and_the_timeout(server: StatusServer) -> None:
    with pytest.raises(WaitError) as caught:
        wait_until_url(server.url, timeout=0.3, interval=0.01, what="the test server")
    error = caught.value
    assert error.url == server.url and error.timeout_s == 0.3
    assert error.returncode is None and not error.stopped
    assert server.url in error.message and "0.3 s" in error.message
    assert error.message.startswith("the test server did not answer HTTP 200")
    assert "last: ConnectError" in error.message


def test_a_process_that_exits_first_is_reported_with_its_code(server: StatusServer) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(7)"])
    try:
        with pytest.raises(WaitError) as caught:
            wait_until_url(server.url, timeout=60, process=proc, what="the child")
    finally:
        proc.wait()
    error = caught.value
    assert error.returncode == 7
    assert error.message.startswith(f"the child exited with code 7 before {server.url} answered")


def test_a_thread_that_died_is_reported_as_stopped(server: StatusServer) -> None:
    thread = threading.Thread(target=lambda: None)
    thread.start()
    thread.join()
    with pytest.raises(WaitError) as caught:
        wait_until_url(server.url, timeout=60, alive=thread.is_alive, what="the thread")
    assert caught.value.stopped and caught.value.returncode is None
    assert caught.value.message.startswith(f"the thread stopped before {server.url} answered")


def test_expect_status_is_the_status_waited_for() -> None:
    srv = StatusServer(status=204)
    srv.go()
    try:
        wait_until_url(srv.url, timeout=30, expect_status=204)
        assert srv.requests == 1
    finally:
        srv.close()


def test_another_status_is_not_ready_and_is_named() -> None:
    srv = StatusServer(status=503)
    srv.go()
    try:
        with pytest.raises(WaitError) as caught:
            wait_until_url(srv.url, timeout=0.3, interval=0.01)
        assert "last: HTTP 503" in caught.value.message
        assert srv.requests >= 1
    finally:
        srv.close()


def test_poll_until_returns_true_as_soon_as_the_predicate_holds() -> None:
    calls = 0

    def third_time() -> bool:
        nonlocal calls
        calls += 1
        return calls >= 3

    assert poll_until(third_time, timeout=30, interval=0.001) is True
    assert calls == 3


def test_poll_until_returns_false_when_the_predicate_never_holds() -> None:
    calls = 0

    def never() -> bool:
        nonlocal calls
        calls += 1
        return False

    assert poll_until(never, timeout=0.05, interval=0.01) is False
    assert calls >= 2  # polled during the wait, and once more at the deadline


def test_poll_until_gives_the_predicates_last_answer_at_the_deadline() -> None:
    """With no time to poll, the predicate is still asked once."""
    assert poll_until(lambda: True, timeout=0) is True
    assert poll_until(lambda: False, timeout=0) is False

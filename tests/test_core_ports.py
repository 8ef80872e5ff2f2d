"""``core.ports``: a reserved port is held (bound and listening) until closed, a free port can be
bound, and a busy port fails with one clear error, the same for ``serve`` and the sandbox."""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from oci_mcp_cli.core.errors import OciMcpError, RemoteError, UserError
from oci_mcp_cli.core.ports import PORT_IN_USE, free_port, reserve_port, socket_port


@pytest.fixture
def held() -> Iterator[socket.socket]:
    """A loopback port reserved for the test."""
    sock = reserve_port()
    try:
        yield sock
    finally:
        sock.close()


def plain_bind(port: int, host: str = "127.0.0.1") -> socket.socket:
    """Bind ``host:port`` as a server that does not know about us would (``SO_REUSEADDR``)."""
    sock = socket.socket()
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def test_reserve_port_holds_the_port_against_a_second_bind(held: socket.socket) -> None:
    port = socket_port(held)
    assert port > 0
    with pytest.raises(OSError) as caught:
        plain_bind(port).close()
    assert caught.value.errno == errno.EADDRINUSE


def test_reserved_port_is_listening_at_once(held: socket.socket) -> None:
    """Connections are queued from the moment it is reserved (before anybody serves it)."""
    with socket.create_connection(("127.0.0.1", socket_port(held)), timeout=5):
        conn, _ = held.accept()
        conn.close()


def test_reserved_socket_is_tcp_with_nodelay(held: socket.socket) -> None:
    """asyncio sets TCP_NODELAY on accepted connections only for ``proto == IPPROTO_TCP``."""
    assert held.proto == socket.IPPROTO_TCP
    assert held.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_a_closed_reservation_frees_the_port() -> None:
    sock = reserve_port()
    port = socket_port(sock)
    sock.close()
    again = reserve_port(port=port)
    try:
        assert socket_port(again) == port
    finally:
        again.close()


def test_free_port_returns_a_port_that_can_be_bound() -> None:
    port = free_port()
    assert 0 < port < 65536
    sock = plain_bind(port)
    try:
        sock.listen()
        assert socket_port(sock) == port
    finally:
        sock.close()


def test_busy_port_names_the_address_and_the_flag(held: socket.socket) -> None:
    port = socket_port(held)
    with pytest.raises(UserError) as caught:
        reserve_port("127.0.0.1", port, option="--port").close()
    error = caught.value
    assert error.message == f"cannot listen on 127.0.0.1:{port}: {PORT_IN_USE}"
    assert "already in use" in error.message
    assert error.hint == f"pass --port with another port, or stop the process using port {port}"
    assert error.exit_code == 2


def test_busy_port_hint_says_zero_picks_a_free_one_where_it_does(held: socket.socket) -> None:
    port = socket_port(held)
    with pytest.raises(UserError) as caught:
        reserve_port(port=port, option="--proxy-port", zero_picks_free=True).close()
    assert caught.value.hint is not None
    assert "pass --proxy-port with another port" in caught.value.hint
    assert "--proxy-port 0 picks a free one" in caught.value.hint
    assert f"stop the process using port {port}" in caught.value.hint


def test_busy_port_without_a_flag_and_with_another_error_class(held: socket.socket) -> None:
    port = socket_port(held)
    with pytest.raises(RemoteError) as caught:
        reserve_port(port=port, error=RemoteError).close()
    assert PORT_IN_USE in caught.value.message
    assert caught.value.hint == f"stop the process using port {port}"


def test_an_address_not_on_this_host_is_not_reported_as_busy() -> None:
    """192.0.2.1 (TEST-NET-1) is nobody's address: the OS error is named, not "in use"."""
    with pytest.raises(OciMcpError) as caught:
        reserve_port("192.0.2.1", 0, option="--port").close()
    message = caught.value.message
    assert message.startswith("cannot listen on 192.0.2.1:0: ")
    assert PORT_IN_USE not in message
    assert caught.value.hint == "pass another --host or --port"


def test_ipv6_address_is_bracketed_in_the_error() -> None:
    try:
        first = reserve_port("::1")
    except OciMcpError:
        pytest.skip("no IPv6 loopback here")
    try:
        port = socket_port(first)
        with pytest.raises(UserError) as caught:
            reserve_port("[::1]", port).close()
        assert caught.value.message == f"cannot listen on [::1]:{port}: {PORT_IN_USE}"
    finally:
        first.close()


def test_serve_bind_socket_reports_a_busy_port(held: socket.socket) -> None:
    from oci_mcp_cli.server.app import bind_socket

    port = socket_port(held)
    with pytest.raises(UserError) as caught:
        bind_socket("127.0.0.1", port).close()
    assert caught.value.message == f"cannot listen on 127.0.0.1:{port}: {PORT_IN_USE}"
    assert caught.value.hint is not None
    assert "--port" in caught.value.hint and "stop the process" in caught.value.hint


def test_sandbox_with_a_busy_proxy_port_names_the_flag(
    tmp_path: Path, held: socket.socket
) -> None:
    from oci_mcp_cli.sandbox import Sandbox

    port = socket_port(held)
    with pytest.raises(UserError) as caught:
        Sandbox(state_dir=tmp_path / "state", proxy_port=port).start().stop()
    assert caught.value.message == f"cannot listen on 127.0.0.1:{port}: {PORT_IN_USE}"
    assert caught.value.hint is not None and "--proxy-port 0" in caught.value.hint

"""Loopback ports without a race: bind first, then tell others the port you hold.

:func:`reserve_port` binds *and listens* at once, so the port is ours from that moment (a socket
that is only bound, with ``SO_REUSEADDR``, would not stop another ``SO_REUSEADDR`` socket from
binding it on Linux); hand it to the server that will serve it (``ServerThread(sock=…)``,
``uvicorn.Server.serve(sockets=[…])``, ``asyncio.start_server(sock=…)``). It is the one place
that binds a listening socket: ``serve`` (``server.app.bind_socket``) and the sandbox
(``sandbox.runner.Sandbox``) call it, naming their flag for the error's hint.
:func:`free_port` is only for a port another *process* must bind: it is released before that
process starts, so the starter must cope with it being taken meanwhile (see
``orchestration.serve_process.serve_on_free_port``).
"""

from __future__ import annotations

import errno
import socket

from oci_mcp_cli.core.errors import OciMcpError, UserError

LOOPBACK = "127.0.0.1"
BACKLOG = 128
PORT_IN_USE = "the address is already in use"  # what a busy port's error says (tests match it)


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that is free on ``host`` now (released again: another process may take it)."""
    with socket.socket(_family(host)) as sock:
        sock.bind((host.strip("[]"), 0))
        return int(sock.getsockname()[1])


def reserve_port(
    host: str = LOOPBACK,
    port: int = 0,
    *,
    option: str | None = None,
    zero_picks_free: bool = False,
    error: type[OciMcpError] = UserError,
) -> socket.socket:
    """A TCP socket bound to ``host:port`` (0: any free port) and listening, for a server to
    serve on (``socket_port(sock)`` is the port); else ``error`` naming the address, and
    :data:`PORT_IN_USE` when the port is taken.

    ``option`` is the flag that chose the port (``--port``, ``--proxy-port``): the error's hint
    tells the user to pass another one, and, with ``zero_picks_free``, that ``option 0`` picks a
    free port.

    The protocol is given explicitly (``IPPROTO_TCP``, as ``getaddrinfo`` gives uvicorn when it
    binds itself): asyncio sets ``TCP_NODELAY`` on an accepted connection only when its socket
    says ``proto == IPPROTO_TCP``. With ``proto 0`` every keep-alive response after the first
    waited for the client's delayed ACK (Nagle): ≈ 40 ms per request. The listener's own
    ``TCP_NODELAY`` is inherited by accepted sockets too. ``SO_REUSEADDR`` as uvicorn does.
    """
    family = _family(host)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise _bind_error(exc, host, port, option, zero_picks_free, error) from None
    except BaseException:
        sock.close()
        raise
    return sock


def socket_port(sock: socket.socket) -> int:
    """The port ``sock`` is bound to."""
    return int(sock.getsockname()[1])


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _bind_error(
    exc: OSError,
    host: str,
    port: int,
    option: str | None,
    zero_picks_free: bool,
    error: type[OciMcpError],
) -> OciMcpError:
    bare = host.strip("[]")
    address = f"[{bare}]:{port}" if _family(host) == socket.AF_INET6 else f"{bare}:{port}"
    pick = ""
    if option:
        pick = f"pass {option} with another port"
        if zero_picks_free:
            pick += f" ({option} 0 picks a free one)"
    if exc.errno == errno.EADDRINUSE:
        stop = f"stop the process using port {port}"
        hint = f"{pick}, or {stop}" if pick else stop
        return error(f"cannot listen on {address}: {PORT_IN_USE}", hint=hint)
    hint = f"pass another --host or {option}" if option else "check the host and port"
    return error(f"cannot listen on {address}: {exc.strerror or exc}", hint=hint)

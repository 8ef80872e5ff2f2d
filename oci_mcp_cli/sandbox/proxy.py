"""The sandbox's HTTPS proxy: HTTP ``CONNECT`` tunnels to the emulated OCI hostnames, nothing else.

Loopback only. ``CONNECT <emulated host>:443`` is tunnelled, byte for byte, to the sandbox's own
https front (TLS stays end to end between the client and the sandbox, so the client verifies the
host certificate against the sandbox CA). Every other request — another host or port, a plain
``GET http://…`` — is answered with a clear error and never forwarded: no traffic leaves the
machine through this proxy. Connections are bounded (``max_connections``; beyond it: 503).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable

MAX_HEAD = 16 * 1024
HEAD_TIMEOUT_S = 10.0
CHUNK = 64 * 1024


def _response(status: int, reason: str, body: str) -> bytes:
    data = (body.rstrip("\n") + "\n").encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(data)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + data


def refusal(target: str) -> bytes:
    return _response(
        403,
        "Forbidden",
        f"oci-mcp sandbox proxy: refusing CONNECT to {target}: not an OCI host this sandbox "
        "emulates (only its identity domains and the identity/objectstorage hosts of its regions, "
        "port 443). Nothing leaves this machine through this proxy; unset HTTPS_PROXY (or add the "
        "host to NO_PROXY) to reach other hosts.",
    )


class ConnectProxy:
    """``await start(sock)`` on a bound loopback socket; ``await close()``."""

    def __init__(
        self,
        allowed: Callable[[str], bool],
        upstream: tuple[str, int],
        *,
        max_connections: int = 256,
    ):
        self.allowed, self.upstream = allowed, upstream
        self.max_connections = max_connections
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, sock: socket.socket) -> None:
        self._server = await asyncio.start_server(self._accept, sock=sock, limit=MAX_HEAD)

    async def close(self) -> None:
        """Stop listening and cut every open tunnel (idempotent)."""
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if len(self._tasks) >= self.max_connections:
            await self._reply(writer, _response(503, "Service Unavailable", (
                f"oci-mcp sandbox proxy: too many connections (max {self.max_connections})"
            )))
            return
        self._tasks.add(task)
        no_delay(writer)
        try:
            await self._handle(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            self._tasks.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    @staticmethod
    async def _reply(writer: asyncio.StreamWriter, data: bytes) -> None:
        with contextlib.suppress(ConnectionError):
            writer.write(data)
            await writer.drain()
        writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT_S)
        except TimeoutError:
            return await self._reply(writer, _response(408, "Request Timeout", "no request"))
        except asyncio.LimitOverrunError:
            return await self._reply(
                writer, _response(431, "Request Header Fields Too Large", "request head too big")
            )
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = request_line.split()
        if len(parts) != 3 or parts[0].upper() != "CONNECT":
            return await self._reply(writer, _response(405, "Method Not Allowed", (
                "oci-mcp sandbox proxy: only CONNECT (https) to the OCI hosts the sandbox emulates "
                f"is served; refused {request_line[:200]!r}. Nothing leaves this machine "
                "through this proxy."
            )))
        target = parts[1]
        host, _, port = target.rpartition(":")
        if port != "443" or not host or not self.allowed(host):
            return await self._reply(writer, refusal(target[:255]))
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError as exc:
            return await self._reply(
                writer, _response(502, "Bad Gateway", f"sandbox https front unreachable: {exc}")
            )
        no_delay(up_writer)
        writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        try:
            await writer.drain()
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            up_writer.close()


def no_delay(writer: asyncio.StreamWriter) -> None:
    """TCP_NODELAY on a tunnel's socket (both legs), so that small TLS records are not held
    back waiting for the peer's delayed ACK."""
    sock = writer.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            if writer.can_write_eof():
                writer.write_eof()
            else:
                writer.close()

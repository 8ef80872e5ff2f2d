"""The light load client of ``bench_e2e.py``: MCP over streamable HTTP as plain HTTP/1.1 JSON-RPC.

One keep-alive connection per worker and one MCP session per worker (``initialize``,
``initialized``) — or, with ``--sessions N`` below ``--concurrency``, N sessions shared round-robin
by the workers' connections (as one MCP client sends concurrent calls on its one session; JSON-RPC
ids stay unique per session) — one untimed warm-up call per worker, then ``--calls``
``tools/call`` in total shared by the workers; the sessions are deleted at the end. Raw asyncio
streams (no HTTP library, no MCP SDK) so the client costs a fraction of what the server does.
Prints one JSON line: ``{"elapsed_s", "latencies_ms", "errors", "first_error"}``.

Run by ``bench_e2e.py`` as a subprocess; by hand:
``python bench/e2e_load.py --url http://127.0.0.1:PORT/mcp --token T --tool get_namespace``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
from typing import Any
from urllib.parse import urlsplit


class Connection:
    """One HTTP/1.1 keep-alive connection (Content-Length and chunked bodies)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, dict[str, str], bytes]:
        assert self.reader is not None and self.writer is not None
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        lines.append(f"Content-Length: {len(body)}")
        request = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        self.writer.write(request)
        status_line = await self.reader.readline()
        if not status_line:
            # uvicorn closes a keep-alive connection idle for 5 s (a slow variant's warm-up can
            # leave one idle that long) before reading the request: reconnect and send it once
            # more, as HTTP clients do for a reused connection that answered nothing.
            self.close()
            await self.open()
            assert self.reader is not None and self.writer is not None
            self.writer.write(request)
            status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("the server closed the connection")
        status = int(status_line.split()[1])
        answer: dict[str, str] = {}
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            answer[name.strip().lower()] = value.strip()
        if answer.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int((await self.reader.readline()).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readline()
                    break
                chunks.append(await self.reader.readexactly(size))
                await self.reader.readline()
            data = b"".join(chunks)
        else:
            data = await self.reader.readexactly(int(answer.get("content-length", "0")))
        return status, answer, data

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def rpc_result(content_type: str, data: bytes) -> dict[str, Any]:
    """The JSON-RPC message of a JSON or SSE (``data:`` line) answer."""
    if "event-stream" in content_type:
        for line in data.decode().splitlines():
            if line.startswith("data:") and line[5:].strip():
                return json.loads(line[5:])
        raise ValueError(f"no data in the event stream: {data[:200]!r}")
    return json.loads(data)


class Session:
    """An MCP session on its own connection."""

    def __init__(self, url: str, token: str | None) -> None:
        parts = urlsplit(url)
        self.path = parts.path or "/mcp"
        self.conn = Connection(parts.hostname or "127.0.0.1", parts.port or 80)
        self.headers = {
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
        }
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.ids = itertools.count(1)
        self.owner = True

    def rider(self) -> Session:
        """Another connection on this (started) session, sharing its JSON-RPC ids."""
        other = Session.__new__(Session)
        other.path, other.headers, other.ids = self.path, dict(self.headers), self.ids
        other.owner = False
        other.conn = Connection(self.conn.host, self.conn.port)
        return other

    async def post(self, message: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        return await self.conn.request(
            "POST", self.path, self.headers, json.dumps(message).encode()
        )

    async def start(self) -> None:
        await self.conn.open()
        status, headers, data = await self.post(
            {
                "jsonrpc": "2.0",
                "id": 0,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "bench-e2e", "version": "1"},
                },
            }
        )
        if status != 200:
            raise RuntimeError(f"initialize: HTTP {status} {data[:200]!r}")
        if "mcp-session-id" in headers:
            self.headers["mcp-session-id"] = headers["mcp-session-id"]
        await self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})

    async def call(self, tool: str, arguments: dict[str, Any]) -> None:
        status, headers, data = await self.post(
            {
                "jsonrpc": "2.0",
                "id": next(self.ids),
                "method": "tools/call",
                "params": {"name": tool, "arguments": arguments},
            }
        )
        if status != 200:
            raise RuntimeError(f"tools/call: HTTP {status} {data[:200]!r}")
        message = rpc_result(headers.get("content-type", ""), data)
        result = message.get("result") or {}
        if "error" in message or result.get("isError"):
            raise RuntimeError(f"tools/call failed: {json.dumps(message)[:300]}")

    async def end(self) -> None:
        if self.owner and "mcp-session-id" in self.headers:
            await self.conn.request("DELETE", self.path, self.headers)
        self.conn.close()


async def run(
    url: str, token: str | None, tool: str, concurrency: int, calls: int, shared: int = 0
) -> dict:
    owners = [Session(url, token) for _ in range(min(shared or concurrency, concurrency))]
    await asyncio.gather(*(s.start() for s in owners))
    riders = [owners[i % len(owners)].rider() for i in range(len(owners), concurrency)]
    await asyncio.gather(*(r.conn.open() for r in riders))
    sessions = owners + riders
    await asyncio.gather(*(s.call(tool, {}) for s in sessions))  # warm: signer, connections
    latencies: list[float] = []
    errors: list[str] = []
    left = [calls]

    async def worker(session: Session) -> None:
        while left[0] > 0:
            left[0] -= 1
            start = time.perf_counter()
            try:
                await session.call(tool, {})
            except Exception as exc:
                errors.append(f"{exc.__class__.__name__}: {exc}")
                continue
            latencies.append((time.perf_counter() - start) * 1000)

    start = time.perf_counter()
    await asyncio.gather(*(worker(s) for s in sessions))
    elapsed = time.perf_counter() - start
    await asyncio.gather(*(s.end() for s in sessions), return_exceptions=True)
    return {
        "elapsed_s": elapsed,
        "latencies_ms": latencies,
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", default=None)
    parser.add_argument("--tool", default="get_namespace")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument(
        "--sessions", type=int, default=0, help="MCP sessions shared by the workers (0: one each)"
    )
    args = parser.parse_args()
    result = asyncio.run(
        run(args.url, args.token, args.tool, args.concurrency, args.calls, args.sessions)
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""The outermost of our ASGI layers: the access line and the storage gate of every request, in
one layer with one ``send`` wrapper (they were two nested layers, ``RequestLog`` outside
``StorageGate``, each wrapping every ``send``; docs/benchmarks.md "Per-call cost at defaults
(stop 20)"). The order of what they did is kept: the gate replaces the response first, the
access line records what was answered (a 503 of the gate too).

- **storage gate** (when the app has an OAuth state store): a request during which the store
  could not be reached is answered ``503 temporarily_unavailable`` (``Retry-After``) instead of
  whatever FastMCP made of the failure — a ``401`` at ``/mcp`` (the client would throw its
  tokens away and sign in again), a ``500``, or an OAuth ``server_error`` redirect. Once the
  response has started it is left alone (``server/storage.py``);
- **access line** (when uvicorn's access log is off, ``serve``'s default): uvicorn's line
  (``client - "METHOD path HTTP/v" status``, logger ``oci_mcp.access``, INFO) for every HTTP
  request except one that ran a tool — its ``tool call …`` line stands for it
  (``logs.cover_access_line``). A ``POST`` to ``mcp_path`` (the only request that can run a
  tool) is logged when its response ends; every other request when its response starts, as
  uvicorn does. ``serve --access-log`` turns uvicorn's own line back on for every request.
"""

from __future__ import annotations

import logging
from typing import Any

from oci_mcp_cli.server.logs import ACCESS_LOGGER, REQUEST_LOG_KEY, Covered, access_line
from oci_mcp_cli.server.storage import track_request, unavailable_start, untrack_request


class RequestGate:
    """ASGI middleware: the storage gate (``label``: the store's, when ``gated``) and the access
    line (when ``mcp_path`` is given) of each HTTP request; see the module docstring."""

    def __init__(
        self, app: Any, *, mcp_path: str | None = None, gated: bool = False,
        label: str | None = None,
    ) -> None:
        self.app = app
        self.mcp_path = mcp_path
        self.gated = gated
        self.label = label

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        log = self.mcp_path is not None and ACCESS_LOGGER.isEnabledFor(logging.INFO)
        if not log and not self.gated:
            await self.app(scope, receive, send)
            return
        later = log and scope["method"] == "POST" and scope["path"] == self.mcp_path
        mark = Covered()
        if log:
            scope[REQUEST_LOG_KEY] = mark
        failures: list[BaseException] = []
        tracked = track_request() if self.gated else None
        if tracked is not None:
            failures = tracked[0]
        status = 0
        started = replaced = False

        async def answer(message: Any) -> None:
            """Send ``message``; a response's start is what the access line records."""
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if log and not later:
                    access_line(scope, status)
            await send(message)

        async def gated_send(message: Any) -> None:
            nonlocal started, replaced
            if replaced:
                return
            if message["type"] == "http.response.start":
                if failures:
                    replaced = True
                    for unavailable in unavailable_start(self.label):
                        await answer(unavailable)
                    return
                started = True
            await answer(message)

        try:
            await self.app(scope, receive, gated_send)
        except Exception:
            if started or replaced or not failures:
                raise
            replaced = True
            for unavailable in unavailable_start(self.label):
                await answer(unavailable)
        finally:
            if tracked is not None:
                untrack_request(tracked[1], tracked[2])
            if later and status and not mark.covered:
                access_line(scope, status)

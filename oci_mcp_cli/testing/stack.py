"""``McpStack``: sandbox + provisioned identity domain + your MCP server + signed-in clients.

Everything runs in this process over real HTTP on loopback: the sandbox, ``oci-mcp init`` (app,
JWKS access, trust, ``.env``), the oci-mcp server wrapping *your* FastMCP app (OCI sign-in, UPST
signer cache, health route, logging), and the headless sandbox sign-in of the test client.

``transparent=True`` runs the same stack the way it runs against a real tenancy: the process
environment gets the sandbox's proxy, CA bundle and OCI config (``oci-mcp sandbox env``) for the
life of the stack, ``init`` uses the ``[DEFAULT]`` profile (no endpoint override) and the domain's
real ``https://idcs-….identity.oraclecloud.com`` URL, so every OCI call — yours included — goes
over https to the real hostnames, answered by the sandbox.
"""

from __future__ import annotations

import contextlib
import socket
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from oci_mcp_cli.core.errors import RemoteError


class McpStack:
    """Start with ``with McpStack(app=my_mcp) as stack:``; ``stack.call("tool", user="alice")``.

    ``app`` is your FastMCP instance (None serves only the built-in tools). One stack provisions
    once; ``serve(app)`` swaps the served app without re-provisioning.
    """

    def __init__(
        self, app: Any | None = None, *, state_dir: Path | None = None, transparent: bool = False
    ) -> None:
        self._app = app
        self._state_dir = state_dir
        self.transparent = transparent
        self._saved_env: dict[str, str | None] = {}
        self._stack = contextlib.ExitStack()
        self._server: Any = None
        self._sock: socket.socket | None = None  # the server's port, held for the stack's life
        self.sandbox: Any = None
        self.env_file: Path | None = None
        self.server_url = ""
        self._root: Path | None = None

    # lifecycle
    def __enter__(self) -> McpStack:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> McpStack:
        from oci_mcp_cli.sandbox import Sandbox
        from oci_mcp_cli.testing.provision import provision_local_server

        root = self._state_dir or Path(
            self._stack.enter_context(tempfile.TemporaryDirectory(prefix="oci-mcp-test-"))
        )
        self._root = root
        self.sandbox = self._stack.enter_context(Sandbox(state_dir=root / "sandbox"))
        self.env_file = root / ".env"
        if self.transparent:
            self._enter_transparent_env()
        self._sock, self.server_url = provision_local_server(
            self.sandbox, self.env_file, transparent=self.transparent
        )
        self._stack.callback(self._sock.close)
        self.serve(self._app)
        return self

    def _enter_transparent_env(self) -> None:
        import os

        for key, value in self.sandbox.env().items():
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value
        self._stack.callback(self._restore_env)

    def _restore_env(self) -> None:
        import os

        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env.clear()

    def serve(self, app: Any | None) -> None:
        """(Re)start the MCP server on the same URL, serving ``app`` (plus the built-in tools)."""
        from oci_mcp_cli.server.app import ServerThread
        from oci_mcp_cli.server.config import load_settings

        self.stop_server()
        assert self.env_file is not None and self._root is not None
        # Every `call()` signs in afresh from 127.0.0.1: a test suite would trip the per-address
        # rate limit meant for anonymous floods, so the in-process stack turns it off.
        settings = load_settings(
            self.env_file, storage_dir=self._root / "oauth", log_level="ERROR", rate_limit=0
        )
        self._server = ServerThread(settings, app, sock=self._sock).start()
        self._app = app

    def stop_server(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def close(self) -> None:
        self.stop_server()
        self._stack.close()

    # clients
    @property
    def mcp_url(self) -> str:
        return self.server_url + "/mcp"

    def password(self, user: str) -> str:
        for entry in self.sandbox.users:
            if entry["username"] == user:
                return str(entry["password"])
        known = ", ".join(u["username"] for u in self.sandbox.users)
        raise KeyError(f"no sandbox user {user!r} (known: {known})")

    @contextlib.asynccontextmanager
    async def client(self, user: str = "alice") -> AsyncIterator[Any]:
        """A connected FastMCP ``Client`` signed in as ``user`` (headless sandbox sign-in)."""
        from oci_mcp_cli.client.session import ClientOptions, make_client

        with tempfile.TemporaryDirectory(prefix="oci-mcp-client-") as cache:
            options = ClientOptions(
                url=self.mcp_url, username=user, password=self.password(user),
                cache_root=Path(cache),
            )
            async with make_client(options) as client:
                yield client

    def call(self, tool: str, user: str = "alice", **arguments: Any) -> Any:
        """Call ``tool`` as ``user`` and return its value; a tool error raises ``ToolCallError``."""
        import anyio

        from oci_mcp_cli.client.session import call_tool

        async def run() -> tuple[bool, Any]:
            async with self.client(user) as client:
                return await call_tool(client, tool, arguments)

        ok, value = anyio.run(run)
        if not ok:
            raise ToolCallError(tool, user, str(value))
        return value


class ToolCallError(RemoteError):
    """A tool answered with an error (the message is what the MCP client saw)."""

    def __init__(self, tool: str, user: str, message: str) -> None:
        super().__init__(f"tool {tool!r} as {user} failed: {message}")
        self.tool = tool
        self.user = user
        self.detail = message


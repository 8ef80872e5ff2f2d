"""The MCP clients we know: which template prints them and where their config file lives."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from oci_mcp_cli.core.errors import UserError
from oci_mcp_cli.core.urls import normalize_server_url


def _config_home() -> Path:
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")


def _claude_desktop_path() -> Path:
    if sys.platform == "darwin":
        support = Path.home() / "Library" / "Application Support"
        return support / "Claude" / "claude_desktop_config.json"
    if sys.platform.startswith("win"):
        appdata = os.environ.get("APPDATA") or str(Path.home() / "AppData" / "Roaming")
        return Path(appdata) / "Claude" / "claude_desktop_config.json"
    return _config_home() / "Claude" / "claude_desktop_config.json"


@dataclass(frozen=True)
class ClientSpec:
    """One MCP client: the printed template and, when it has one, its JSON config file."""

    key: str
    title: str
    snippet: str  # template printed by `client-config` (JSON or a command line)
    config: str | None = None  # JSON template merged by --write
    container: str | None = None  # top-level key holding the servers
    default_path: Callable[[], Path] | None = None
    node: str | None = None  # least Node.js the command's npm package declares (engines.node)

    @property
    def is_command(self) -> bool:
        return self.snippet.endswith(".cmd")

    @property
    def writable(self) -> bool:
        return self.config is not None


CLIENTS: dict[str, ClientSpec] = {
    spec.key: spec
    for spec in (
        ClientSpec(
            "claude-desktop",
            "Claude Desktop (through mcp-remote)",
            "clients/claude-desktop.json",
            "clients/claude-desktop.json",
            "mcpServers",
            _claude_desktop_path,
        ),
        ClientSpec(
            "claude-code",
            "Claude Code",
            "clients/claude-code.cmd",
            "clients/claude-code.json",
            "mcpServers",
            lambda: Path.cwd() / ".mcp.json",
        ),
        ClientSpec(
            "vscode",
            "VS Code",
            "clients/vscode.json",
            "clients/vscode.json",
            "servers",
            lambda: Path.cwd() / ".vscode" / "mcp.json",
        ),
        ClientSpec(
            "cursor",
            "Cursor",
            "clients/cursor.json",
            "clients/cursor.json",
            "mcpServers",
            lambda: Path.home() / ".cursor" / "mcp.json",
        ),
        ClientSpec("mcp-remote", "mcp-remote (stdio bridge)", "clients/mcp-remote.cmd"),
        # Pinned: 2.x's CLI signs in with OAuth (0.x/1.x's --cli cannot, and an unpinned npx on
        # an old Node resolves to 0.15.0); 2.12.0's engines: node >=22.19.0.
        ClientSpec("inspector", "MCP Inspector 2.12.0 (CLI)", "clients/inspector.cmd",
                   node="22.19.0"),
    )
}


def client_spec(key: str) -> ClientSpec:
    """The spec for ``key``; a UserError listing the choices otherwise."""
    try:
        return CLIENTS[key]
    except KeyError:
        raise UserError(
            f"unknown client {key!r}", hint=f"use --for with one of: {', '.join(CLIENTS)}"
        ) from None


def mcp_url(server_url: str) -> str:
    """The MCP endpoint for a server base URL (``…/mcp`` appended unless already there)."""
    base = normalize_server_url(server_url)
    return base if base.endswith("/mcp") else base + "/mcp"


def resolve_mcp_url(url: str | None, env_file: Path) -> str:
    """``--url`` if given, else ``MCP_SERVER_URL`` from ``env_file``; returns the ``/mcp`` URL."""
    if url:
        return mcp_url(url)
    from oci_mcp_cli.core.envfile import MCP_SERVER_URL, load_env

    env = load_env(env_file)
    server_url = env.get(MCP_SERVER_URL)
    if not server_url:
        where = f"{env_file} has no {MCP_SERVER_URL}" if env.exists else f"{env_file} is missing"
        raise UserError(
            f"no server URL: {where}",
            hint="pass --url https://your-server, or run `oci-mcp init` to write the .env",
        )
    return mcp_url(server_url)


def oracle_mcp_url(service: str, env_file: Path) -> str:
    """The MCP endpoint of Oracle's official server for ``service``: ``ORACLE_MCP_BASE_URL``
    from ``<env>.oracle-<service>`` + ``/mcp`` (FastMCP's streamable-HTTP path, which those
    servers keep). Scopes need no config: MCP clients take them from the server's challenge."""
    from oci_mcp_cli.oracle.launcher import service_environment
    from oci_mcp_cli.oracle.services import OracleService

    values = service_environment(Path(env_file), OracleService.parse(service))
    return mcp_url(values["ORACLE_MCP_BASE_URL"])

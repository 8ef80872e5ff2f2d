"""Client configuration for MCP clients (Claude, VS Code, Cursor, mcp-remote, Inspector)."""

from oci_mcp_cli.clientconfig.clients import (
    CLIENTS,
    ClientSpec,
    client_spec,
    mcp_url,
    oracle_mcp_url,
    resolve_mcp_url,
)
from oci_mcp_cli.clientconfig.node import node_warning
from oci_mcp_cli.clientconfig.render import render_command, render_json, render_snippet
from oci_mcp_cli.clientconfig.write import WriteResult, write_config

__all__ = [
    "CLIENTS",
    "ClientSpec",
    "WriteResult",
    "client_spec",
    "mcp_url",
    "node_warning",
    "oracle_mcp_url",
    "render_command",
    "render_json",
    "render_snippet",
    "resolve_mcp_url",
    "write_config",
]

"""Test your own OCI MCP tools offline: the sandbox, a provisioned domain, your server, a client.

``McpStack`` runs the whole chain in-process; the pytest plugin (``oci_mcp_cli.testing.plugin``,
registered automatically when oci-mcp is installed) wraps it in fixtures. See the README's
"Test your own tools in CI" section.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from oci_mcp_cli.testing.stack import McpStack

__all__ = ["McpStack"]


def __getattr__(name: str) -> Any:
    if name == "McpStack":
        from oci_mcp_cli.testing.stack import McpStack

        return McpStack
    raise AttributeError(name)

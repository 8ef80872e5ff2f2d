"""oci-mcp: provision, run and test MCP servers that act on Oracle Cloud as the signed-in user."""

__version__ = "0.1.0"

"""A client of a running server's /health and /metrics (``oci-mcp status``); core only."""

"""`oci-mcp new` (a starter server.py) and the `serve --app` loader."""

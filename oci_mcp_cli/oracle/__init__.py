"""Oracle's official OCI MCP servers (github.com/oracle/mcp, PyPI ``oracle.oci-*-mcp-server``):
service names, packages, scopes and environment (:mod:`.services`), finding a Python ≥ 3.13 for
them (:mod:`.python`) and starting one (:mod:`.launcher`). See docs/oracle-mcp.md."""

"""`oci-mcp doctor`: check every link of the OCI IAM + MCP chain and name the broken one."""

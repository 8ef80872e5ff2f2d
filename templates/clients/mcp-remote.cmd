npx -y mcp-remote ${url}

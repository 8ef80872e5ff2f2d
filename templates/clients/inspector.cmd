npx -y @modelcontextprotocol/inspector --cli ${url} --transport http --method tools/list

npx -y @modelcontextprotocol/inspector@2.12.0 --cli ${url} --transport http --method tools/list

claude mcp add --transport http ${name} ${url}

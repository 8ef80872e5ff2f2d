"""Small shared building blocks: errors, atomic files, URLs, the .env schema, OCI config."""

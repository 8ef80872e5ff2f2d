"""Allow ``python -m oci_mcp_cli``."""

from oci_mcp_cli.cli.app import main

if __name__ == "__main__":
    main()

"""FastMCP server: OCI OAuth proxy, UPST signer cache, tools, ``oci_client()`` for tool authors.

Import the pieces from their modules (``server.app.build_server``, ``server.clients.oci_client``);
this package stays import-light so the CLI's ``--help`` does not load fastmcp or oci.
"""

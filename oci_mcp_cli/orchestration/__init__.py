"""What composes sandbox, provisioning, server and client at run time: ``oci-mcp serve`` as a
child process (``init --launch``, the tests) and the whole ``oci-mcp demo``."""

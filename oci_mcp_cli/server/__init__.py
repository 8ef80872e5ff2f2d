"""FastMCP server: OCI OAuth proxy, UPST signer cache, tools, ``oci_client()`` for tool authors.

Import the pieces from their modules (``server.app.build_server``, ``server.clients.oci_client``);
this package stays import-light so the CLI's ``--help`` does not load fastmcp or oci.

py-key-value (FastMCP's OAuth state store) type-checks its own functions at run time with
beartype unless ``PY_KEY_VALUE_DISABLE_BEARTYPE`` says not to; a violation is only a warning, and
decorating its ~120 functions costs every server start ~0.1 s of CPU (docs/benchmarks.md,
"Start-up (issue 22)"). The server turns those checks off unless the environment says otherwise
(it must be decided before py-key-value is first imported, i.e. here).
"""

import os

os.environ.setdefault("PY_KEY_VALUE_DISABLE_BEARTYPE", "true")

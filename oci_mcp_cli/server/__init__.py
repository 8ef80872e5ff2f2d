"""FastMCP server: OCI OAuth proxy, UPST signer cache, tools, ``oci_client()`` for tool authors.

Import the pieces from their modules (``server.app.build_server``, ``server.clients.oci_client``);
this package stays import-light so the CLI's ``--help`` does not load fastmcp or oci.

py-key-value (FastMCP's OAuth state store) type-checks its own functions at run time with
beartype unless ``PY_KEY_VALUE_DISABLE_BEARTYPE`` says not to; a violation is only a warning, and
decorating its ~120 functions costs every server start ~0.1 s of CPU (docs/benchmarks.md,
"Start-up (issue 22)"). The server turns those checks off unless the environment says otherwise
(it must be decided before py-key-value is first imported, i.e. here).

caio (under aiofile, under that store) probes each of its Linux backends when first imported;
the Linux AIO probe (``io_setup`` + ``io_destroy``) waits ≈ 40 ms in the kernel with the GIL held,
on every start. The server runs caio's thread implementation (``CAIO_IMPL=thread``, set in
``oci_mcp_cli/__init__.py``), so that backend is marked absent — ``None`` in ``sys.modules``,
which caio treats as a backend not built for this system — unless ``CAIO_IMPL`` asks for another
implementation or caio is already loaded (docs/benchmarks.md, "Serve start (stop 20)").
"""

import os
import sys

os.environ.setdefault("PY_KEY_VALUE_DISABLE_BEARTYPE", "true")
if os.environ.get("CAIO_IMPL") == "thread" and "caio" not in sys.modules:
    sys.modules.setdefault("caio.linux_aio", None)  # type: ignore[arg-type]  # None: "absent"

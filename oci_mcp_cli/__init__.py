"""oci-mcp: provision, run and test MCP servers that act on Oracle Cloud as the signed-in user."""

import os as _os

__version__ = "0.1.0"

# caio (under aiofile, under the OAuth file store) reads CAIO_IMPL once, when first imported,
# and otherwise picks io_uring with an SQPOLL kernel thread that spins 100 ms after every read:
# under steady load it never sleeps. Every entry point (`oci-mcp serve`, `oci-mcp sandbox`, the
# pytest plugin, `python -m oci_mcp_cli`) imports this package before caio, so this is where the
# thread implementation is chosen. An explicit CAIO_IMPL is kept here; `serve` still refuses a
# busy-polling one (server/storage.py: no_busy_polling_file_io).
_os.environ.setdefault("CAIO_IMPL", "thread")

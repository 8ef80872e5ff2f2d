"""The image's ``HEALTHCHECK``: ``GET /health`` where the entrypoint started ``serve``.

The entrypoint writes that URL to ``health-url`` next to the ``.env`` (``$OCI_MCP_ENV_FILE``'s
folder), so a ``--port`` in the container's arguments moves the check with it; before the
entrypoint has run, the default ``http://127.0.0.1:8000/health``. Exit 0 when it answers 200,
else 1 with one line (the runtime keeps it in the health log). Standard library only.

    python -m oci_mcp_cli.deploy.healthcheck
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from oci_mcp_cli.deploy.entrypoint import (
    BIND_HOST,
    DEFAULT_ENV_FILE,
    ENV_FILE_VAR,
    HEALTH_URL_FILE,
    health_url,
)

TIMEOUT_S = 4  # under the HEALTHCHECK's --timeout=5s


def target() -> str:
    """The URL to check: the entrypoint's note, else the default bind."""
    note = Path(os.environ.get(ENV_FILE_VAR) or DEFAULT_ENV_FILE).parent / HEALTH_URL_FILE
    try:
        return note.read_text().strip() or health_url(["--host", BIND_HOST])
    except OSError:
        return health_url(["--host", BIND_HOST])


def main() -> int:
    url = target()
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:  # noqa: S310 (http URL)
            status = response.status
    except (urllib.error.URLError, OSError) as exc:
        sys.stderr.write(f"unhealthy: GET {url} failed: {exc}\n")
        return 1
    if status != 200:
        sys.stderr.write(f"unhealthy: GET {url} answered {status}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

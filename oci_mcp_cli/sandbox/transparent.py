"""Transparent mode from the outside: the environment that sends a process's OCI traffic to the
sandbox (``oci-mcp sandbox env`` / ``exec``), and the running sandbox's record it is built from.

Nothing here is imported by the sandbox server itself; it only reads ``<state dir>/running.json``
(written by the running sandbox once it is ready, removed when it stops) and checks the sandbox
answers before handing the environment out.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from oci_mcp_cli.core.errors import UserError
from oci_mcp_cli.sandbox.envvars import (
    ENV_KEYS,
    LOOPBACK_NO_PROXY,
    shell_exports,
    transparent_env,
)

__all__ = ["ENV_KEYS", "LOOPBACK_NO_PROXY", "running_info", "shell_exports", "transparent_env"]


def running_info(state_dir: Path | str | None) -> dict[str, Any]:
    """The ready line of the sandbox running on ``state_dir`` (default: the per-user one); a
    UserError when none is running there."""
    from oci_mcp_cli.sandbox.runner import RUNNING_FILE, default_state_dir

    folder = Path(state_dir) if state_dir else default_state_dir()
    hint = f"start one: oci-mcp sandbox --state-dir {folder} (and keep it running)"
    path = folder / RUNNING_FILE
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        url = str(info["url"])
        info["proxy_url"], info["ca_file"], info["config_file"]  # noqa: B018 - must be present
    except FileNotFoundError:
        raise UserError(f"no sandbox is running on the state dir {folder}", hint=hint) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"cannot read {path}: {exc}", hint=hint) from None
    if not _answers(url):
        raise UserError(
            f"the sandbox recorded in {path} ({url}) does not answer: it is no longer running",
            hint=hint,
        )
    return info


def _answers(url: str) -> bool:
    """Whether the sandbox at ``url`` (its plain-HTTP loopback listener) answers its health check.

    ``http.client``, not httpx: ``sandbox exec`` wraps every command it runs, and importing httpx
    and building its TLS context was a third of the wrapper's start (docs/benchmarks.md, "The
    suite: what every child process paid"); no proxy is consulted, as before.
    """
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        return False
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=5.0)
    try:
        conn.request("GET", "/_sandbox/health")
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()

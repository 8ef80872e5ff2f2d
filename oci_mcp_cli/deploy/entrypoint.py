"""The container's entrypoint: write the ``.env`` from the environment, then run ``serve``.

Kubernetes (``envFrom`` the Secret made with ``kubectl create secret generic … --from-env-file``)
and compose (``env_file``) hand the settings over as environment variables; ``serve`` reads a
``.env`` file. This writes one (0600, under ``$OCI_MCP_ENV_FILE``, default
``/tmp/oci-mcp/.env``: /tmp is the one writable mount of a read-only container), then replaces
itself with ``oci-mcp serve --env-file … --host 0.0.0.0 --port 8000 [ARGS]``; later ``ARGS``
win (e.g. ``--port``), others pass through (``--app /app/server.py:mcp``, ``--trusted-proxy``).
The health URL of that address and port goes next to the ``.env`` (``health-url``), for the
image's ``HEALTHCHECK`` (:mod:`oci_mcp_cli.deploy.healthcheck`).

    python -m oci_mcp_cli.deploy.entrypoint [serve options]
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from oci_mcp_cli.core import envfile as ef
from oci_mcp_cli.core.files import ensure_private_dir, write_private

ENV_FILE_VAR = "OCI_MCP_ENV_FILE"
DEFAULT_ENV_FILE = "/tmp/oci-mcp/.env"
BIND_HOST = "0.0.0.0"
PORT = 8000
EXIT_USAGE = 2
HEALTH_URL_FILE = "health-url"


def settings_from_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """The ``.env`` keys found in ``environ``: the schema's keys, their aliases and every
    ``OCI_MCP_*`` setting (e.g. ``OCI_MCP_STORAGE``)."""
    known = set(ef.PROVISIONED_KEYS) | set(ef.ALIASES)
    return {
        key: value
        for key, value in sorted(environ.items())
        if value and key != ENV_FILE_VAR and (key in known or key.startswith("OCI_MCP_"))
    }


def missing_keys(values: Mapping[str, str]) -> list[str]:
    """The keys ``serve`` needs that ``values`` lacks (an alias counts)."""
    present = set(values) | {ef.ALIASES[a] for a in values if a in ef.ALIASES}
    return [key for key in ef.SERVER_REQUIRED_KEYS if key not in present]


def serve_argv(env_file: Path, args: Sequence[str]) -> list[str]:
    """The ``serve`` command line (``args`` last, so they override the defaults)."""
    return [
        sys.executable, "-m", "oci_mcp_cli", "serve", "--env-file", str(env_file),
        "--host", BIND_HOST, "--port", str(PORT), *args,
    ]


def _last_option(args: Sequence[str], name: str) -> str | None:
    """The value of the last ``name VALUE`` / ``name=VALUE`` in ``args`` (as serve reads it)."""
    value = None
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith(name + "="):
            value = arg.split("=", 1)[1]
    return value


def health_url(args: Sequence[str]) -> str:
    """``/health`` where ``serve`` with these arguments listens, as seen from inside the
    container (a wildcard bind is reached on loopback)."""
    host = _last_option(args, "--host") or BIND_HOST
    port = _last_option(args, "--port") or str(PORT)
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/health"


def prepare(environ: Mapping[str, str], args: Sequence[str]) -> list[str]:
    """Write the ``.env`` from ``environ``; return the ``serve`` command line. SystemExit(2)
    with one line when the settings are missing."""
    values = settings_from_environ(environ)
    missing = missing_keys(values)
    if missing:
        sys.stderr.write(
            f"error: the environment lacks {', '.join(missing)}\n"
            "  fix: create the Secret from the .env that `oci-mcp init` wrote "
            "(kubectl create secret generic <name> --from-env-file=.env) and reference it "
            "with envFrom, or give compose the .env as env_file\n"
        )
        raise SystemExit(EXIT_USAGE)
    path = Path(environ.get(ENV_FILE_VAR) or DEFAULT_ENV_FILE)
    ensure_private_dir(path.parent)
    write_private(path, ef.render_env("", values))
    command = serve_argv(path, args)
    write_private(path.parent / HEALTH_URL_FILE, health_url(command) + "\n")
    return command


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: prepare, then exec ``serve`` (it becomes the process the runtime signals)."""
    command = prepare(os.environ, sys.argv[1:] if argv is None else argv)
    os.execv(command[0], command)


if __name__ == "__main__":
    main()

"""Provision a sandbox's identity domain for a local MCP server, the way ``oci-mcp init`` does
(login app, JWKS access, identity propagation trust, ``.env``), without a question asked.

Shared by ``McpStack``, ``oci-mcp demo`` and the tests.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any


def provision(sb: Any, env_file: Path, server_url: str, *, transparent: bool = False) -> None:
    """Run init non-interactively against the sandbox ``sb`` for a server at ``server_url``.

    ``transparent``: as on a real tenancy — the ``[DEFAULT]`` profile (no endpoint override)
    and the domain's real ``https://idcs-….identity.oraclecloud.com`` URL (the process
    environment must already point at the sandbox: ``sb.env()``).
    """
    from oci_mcp_cli.provisioning.init import InitOptions, plan_init
    from oci_mcp_cli.provisioning.plan import apply_plan
    from oci_mcp_cli.sandbox.runner import TRANSPARENT_PROFILE

    default = next(d for d in sb.domains if d["type"] == "DEFAULT")
    options = InitOptions(
        env_file=env_file,
        config_file=str(sb.config_file),
        profile=TRANSPARENT_PROFILE if transparent else sb.profile,
        domain_url=default["https_url" if transparent else "url"],
        server_url=server_url,
        open_jwks=True,
    )
    apply_plan(plan_init(options).plan)


def provision_local_server(
    sb: Any, env_file: Path, *, transparent: bool = False
) -> tuple[socket.socket, str]:
    """Reserve a loopback port (bound and listening: nobody can take it meanwhile), provision
    for a server there, and return ``(socket, server_url)``; serve with
    ``ServerThread(settings, sock=socket)``. The caller closes the socket."""
    from oci_mcp_cli.core.ports import reserve_port, socket_port

    sock = reserve_port()
    try:
        server_url = f"http://127.0.0.1:{socket_port(sock)}"
        provision(sb, env_file, server_url, transparent=transparent)
    except BaseException:
        sock.close()
        raise
    return sock, server_url

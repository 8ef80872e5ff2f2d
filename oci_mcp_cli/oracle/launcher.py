"""Start an Oracle OCI MCP server with the environment `init --for oracle-mcp` wrote."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from oci_mcp_cli.core.envfile import read_values
from oci_mcp_cli.core.errors import UserError
from oci_mcp_cli.oracle.services import OracleService

SHIM = Path(__file__).with_name("shim.py")
REQUIRED = (
    "ORACLE_MCP_HOST", "ORACLE_MCP_PORT", "ORACLE_MCP_BASE_URL", "IDCS_DOMAIN", "IDCS_CLIENT_ID",
    "IDCS_CLIENT_SECRET", "IDCS_AUDIENCE", "OCI_REGION",
)


def service_env_file(env_file: Path, service: OracleService) -> Path:
    return env_file.with_name(service.env_file_name(env_file.name))


def service_environment(env_file: Path, service: OracleService) -> dict[str, str]:
    """The variables of ``<env>.oracle-<service>`` as written (raw names: nothing is aliased)."""
    path = service_env_file(env_file, service)
    if not path.exists():
        raise UserError(
            f"{path} does not exist",
            hint=f"run `oci-mcp init --for oracle-mcp --service {service.name}` first",
        )
    values = read_values(path)
    missing = [k for k in REQUIRED if not values.get(k)]
    if missing:
        raise UserError(f"{path} is missing {', '.join(missing)}",
                        hint=f"re-run `oci-mcp init --for oracle-mcp --service {service.name}`")
    return values


def command(python: str, service: OracleService, *, as_published: bool = False) -> list[str]:
    if as_published:  # the console script's own entry point, nothing in between
        return [python, "-c", f"import {service.module} as m; m.main()"]
    return [python, str(SHIM), service.module]


def environment(values: dict[str, str], *, as_published: bool = False) -> dict[str, str]:
    env = {**os.environ, **values}
    if as_published:
        env["OCI_MCP_ORACLE_AS_PUBLISHED"] = "1"
    return env


def start(python: str, service: OracleService, values: dict[str, str], *,
          as_published: bool = False, **popen: Any) -> subprocess.Popen[Any]:
    return subprocess.Popen(command(python, service, as_published=as_published),
                            env=environment(values, as_published=as_published), **popen)


def serve_oracle(
    env_file: Path, service_name: str, *, python: str | None = None, install: bool = True,
    as_published: bool = False, host: str | None = None, port: int | None = None,
    say=lambda msg: None,  # noqa: ANN001
) -> int:
    """`oci-mcp serve --oracle S`: find/create the ≥ 3.13 environment, run the server in the
    foreground with its env file, return its exit code."""
    from oci_mcp_cli.oracle.python import ensure_python

    service = OracleService.parse(service_name)
    values = service_environment(env_file, service)
    if host:
        values["ORACLE_MCP_HOST"] = host
    if port:
        values["ORACLE_MCP_PORT"] = str(port)
    exe = ensure_python(service, python=python, install=install, say=say)
    say(f"starting {service.package} at {values['ORACLE_MCP_BASE_URL']}/mcp "
        f"(bind {values['ORACLE_MCP_HOST']}:{values['ORACLE_MCP_PORT']}; python {exe})")
    proc = start(exe, service, values, as_published=as_published)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        return proc.wait(timeout=30)

"""`oci-mcp client-config`: print or write the config that connects an MCP client to the server."""

from pathlib import Path
from typing import Annotated

import typer

from oci_mcp_cli.cli.flags import json_option
from oci_mcp_cli.cli.output import emit_json, err, out, run


def client_config(
    client: Annotated[
        str,
        typer.Option(
            "--for", help="claude-desktop | claude-code | vscode | cursor | mcp-remote | inspector"
        ),
    ],
    url: Annotated[
        str | None,
        typer.Option("--url", help="Server base URL (default: MCP_SERVER_URL from the .env)."),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            help="Server entry name in the client (default: oci-mcp; with --oracle S: oracle-S).",
        ),
    ] = None,
    write: Annotated[
        bool, typer.Option("--write", help="Merge into the client's config file (backup first).")
    ] = False,
    path: Annotated[
        Path | None,
        typer.Option("--path", help="Config file to write instead of the client's usual one."),
    ] = None,
    env_file: Annotated[Path, typer.Option("--env-file", help="The .env to read.")] = Path(".env"),
    as_json: Annotated[bool, json_option("Print one JSON object.")] = False,
    oracle: Annotated[
        str | None,
        typer.Option(
            "--oracle",
            help="Connect to Oracle's OCI MCP server for this service instead (its URL from "
            "<env>.oracle-<service>, written by `init --for oracle-mcp`).",
        ),
    ] = None,
) -> None:
    """Print (or --write) the config that connects an MCP client to {MCP_SERVER_URL}/mcp."""
    from oci_mcp_cli import clientconfig

    spec = run(clientconfig.client_spec, client)
    if oracle and not url:
        mcp = run(clientconfig.oracle_mcp_url, oracle, env_file)
    else:
        mcp = run(clientconfig.resolve_mcp_url, url, env_file)
    if name is None:
        from oci_mcp_cli.oracle.services import OracleService

        name = f"oracle-{OracleService.parse(oracle).name}" if oracle else "oci-mcp"
    if write:
        result = run(clientconfig.write_config, spec, name=name, url=mcp, path=path)
        if as_json:
            emit_json(result.to_dict())
            return
        out.print(f"{spec.title}: {result.action} server {name!r} in {result.path}")
        if result.backup:
            out.print(f"backup: {result.backup}")
        if result.action != "unchanged":
            err.print(f"restart {spec.title} to pick up the change")
        return
    snippet = run(clientconfig.render_snippet, spec, name=name, url=mcp)
    if as_json:
        extra = {"requires_node": f">={spec.node}"} if spec.node else {}
        emit_json({"client": spec.key, "url": mcp, "name": name, "snippet": snippet, **extra})
    else:
        out.print(snippet, markup=False)
    warning = clientconfig.node_warning(spec)
    if warning:
        err.print(warning, markup=False)

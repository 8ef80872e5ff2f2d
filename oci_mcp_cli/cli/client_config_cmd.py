"""`oci-mcp client-config`: print or write the config that connects an MCP client to the server."""

from __future__ import annotations

from pathlib import Path

import typer

from oci_mcp_cli.cli.output import emit_json, err, out, run


def register(app: typer.Typer) -> None:
    """Attach the command to the root app."""

    @app.command("client-config")
    def command(
        client: str = typer.Option(
            ...,
            "--for",
            help="claude-desktop | claude-code | vscode | cursor | mcp-remote | inspector",
        ),
        url: str = typer.Option(
            None, "--url", help="Server base URL (default: MCP_SERVER_URL from the .env)."
        ),
        name: str | None = typer.Option(
            None,
            "--name",
            help="Server entry name in the client (default: oci-mcp; with --oracle S: oracle-S).",
        ),
        write: bool = typer.Option(
            False, "--write", help="Merge into the client's config file (backup first)."
        ),
        path: Path = typer.Option(
            None, "--path", help="Config file to write instead of the client's usual one."
        ),
        env_file: Path = typer.Option(Path(".env"), "--env-file", help="The .env to read."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
        oracle: str | None = typer.Option(
            None,
            "--oracle",
            help="Connect to Oracle's OCI MCP server for this service instead (its URL from "
            "<env>.oracle-<service>, written by `init --for oracle-mcp`).",
        ),
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
            emit_json({"client": spec.key, "url": mcp, "name": name, "snippet": snippet})
            return
        out.print(snippet, markup=False)

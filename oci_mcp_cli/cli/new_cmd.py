"""`oci-mcp new`: scaffold a starter server.py with one example OCI tool."""

from __future__ import annotations

from pathlib import Path

import typer

from oci_mcp_cli.cli.output import emit_json, err, out, run


def register(app: typer.Typer) -> None:
    """Attach the command to the root app."""

    @app.command("new")
    def command(
        directory: Path = typer.Argument(
            Path("."), help="Where to write server.py (default: here)."
        ),
        force: bool = typer.Option(False, "--force", help="Overwrite an existing server.py."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Write a starter server.py (FastMCP + one tool calling OCI as the signed-in user)."""
        from oci_mcp_cli.scaffold.new import write_starter

        result = run(write_starter, directory, force=force)
        if as_json:
            emit_json(result.to_dict())
            return
        verb = "overwrote" if result.overwritten else "wrote"
        out.print(f"{verb} {result.path}")
        err.print(
            "next: edit the tool, then run\n"
            f"  oci-mcp serve --app {result.app_spec}\n"
            "  oci-mcp test-client --call my_buckets --arg compartment_id=<compartment OCID>"
        )

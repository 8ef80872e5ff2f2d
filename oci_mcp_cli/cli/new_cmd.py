"""`oci-mcp new`: scaffold a starter server.py with one example OCI tool."""

from pathlib import Path
from typing import Annotated

import typer

from oci_mcp_cli.cli.flags import json_option
from oci_mcp_cli.cli.output import emit_json, err, out, run


def new(
    directory: Annotated[
        Path, typer.Argument(help="Where to write server.py (default: here).")
    ] = Path("."),
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing server.py.")
    ] = False,
    as_json: Annotated[bool, json_option("Print one JSON object.")] = False,
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

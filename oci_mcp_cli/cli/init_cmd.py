"""`oci-mcp init` (not implemented yet)."""

from __future__ import annotations

import typer

from oci_mcp_cli.cli.output import err


def register(app: typer.Typer) -> None:
    """Attach the command to the root app."""

    @app.command("init")
    def command() -> None:
        """Not implemented yet."""
        err.print("`oci-mcp init` is not implemented yet")
        raise typer.Exit(1)

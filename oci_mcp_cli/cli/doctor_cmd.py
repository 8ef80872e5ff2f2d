"""`oci-mcp doctor`: check every link of the chain, in order; name the broken one and its fix."""

from __future__ import annotations

from pathlib import Path

import typer

from oci_mcp_cli.cli.output import emit_json, err, out, run

_RESULT = {True: "[green]pass[/]", False: "[bold red]FAIL[/]", None: "[yellow]skipped[/]"}


def register(app: typer.Typer) -> None:
    """Attach the command to the root app."""

    @app.command("doctor")
    def command(
        env_file: Path = typer.Option(Path(".env"), "--env-file", help="The .env to check."),
        config_file: str = typer.Option(
            None, "--config-file", help="OCI config file with admin credentials."
        ),
        profile: str = typer.Option(None, "--profile", help="Profile in the OCI config file."),
        auth: str = typer.Option(
            "config", "--auth", help="config | instance_principal | resource_principal"
        ),
        as_json: bool = typer.Option(False, "--json", help='Print {"checks": [...]} as JSON.'),
    ) -> None:
        """Check .env, discovery, JWKS, app, client secret, trust and server; exit 0 if all pass."""
        from rich.table import Table

        from oci_mcp_cli.doctor.runner import all_passed, run_doctor

        with err.status("checking…") as status:
            results = run(
                run_doctor,
                env_file,
                config_file=config_file,
                profile=profile,
                auth=auth,
                on_check=lambda name: status.update(f"checking {name}…"),
            )
        if as_json:
            emit_json({"checks": [r.to_dict() for r in results]})
        else:
            table = Table(show_lines=True)
            for column in ("check", "result", "detail", "fix"):
                table.add_column(column, overflow="fold")
            for r in results:
                table.add_row(
                    r.name,
                    _RESULT[r.ok],
                    r.detail,
                    r.fix or "",
                )
            out.print(table)
        if not all_passed(results):
            raise typer.Exit(1)

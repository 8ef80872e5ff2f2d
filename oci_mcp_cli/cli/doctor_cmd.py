"""`oci-mcp doctor`: check every link of the chain, in order; name the broken one and its fix."""

from __future__ import annotations

import typer

from oci_mcp_cli.cli.flags import AdminFlags, JsonOpt, with_flags
from oci_mcp_cli.cli.output import emit_json, err, out, run

_RESULT = {True: "[green]pass[/]", False: "[bold red]FAIL[/]", None: "[yellow]skipped[/]"}


def register(app: typer.Typer) -> None:
    """Attach the command to the root app."""

    @app.command("doctor")
    @with_flags
    def command(admin: AdminFlags, as_json: JsonOpt = False) -> None:
        """Check .env, discovery, JWKS, app, client secret, trust and server; exit 0 if all pass.

        A skipped check (no admin credentials, no server running) is not a pass: exit 1.
        """
        from rich.table import Table

        from oci_mcp_cli.doctor.runner import all_passed, run_doctor

        with err.status("checking…") as status:
            results = run(
                run_doctor,
                admin.env_file,
                config_file=admin.config_file,
                profile=admin.profile,
                auth=admin.auth,
                on_check=lambda name: status.update(f"checking {name}…"),
            )
        if as_json:
            emit_json({"checks": [r.to_dict() for r in results]})
        else:
            table = Table(show_lines=True)
            for column in ("check", "result", "detail", "fix"):
                table.add_column(column, overflow="fold")
            for r in results:
                table.add_row(r.name, _RESULT[r.ok], r.detail, r.fix or "")
            out.print(table)
        if not all_passed(results):
            raise typer.Exit(1)

"""`oci-mcp teardown`: reverse what `oci-mcp init` recorded in .env."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from oci_mcp_cli.cli.output import cli_errors, emit_json, out
from oci_mcp_cli.cli.plan_view import (
    AuthOpt,
    ConfigFileOpt,
    DomainUrlOpt,
    DryRunOpt,
    EnvFileOpt,
    JsonOpt,
    ProfileOpt,
    YesOpt,
    confirm_or_stop,
    console_for,
    render_plan,
    spinner,
)


def register(app: typer.Typer) -> None:
    """Attach the command to the root app."""

    @app.command("teardown")
    def command(
        restore_settings: Annotated[
            bool,
            typer.Option(
                "--restore-settings",
                help="Turn public JWKS access off again if oci-mcp turned it on.",
            ),
        ] = False,
        domain_url: DomainUrlOpt = None,
        env_file: EnvFileOpt = Path(".env"),
        config_file: ConfigFileOpt = None,
        profile: ProfileOpt = None,
        auth: AuthOpt = "config",
        dry_run: DryRunOpt = False,
        yes: YesOpt = False,
        json_out: JsonOpt = False,
    ) -> None:
        """Detach/delete the trust, deactivate and delete the app(s), strip .env (backup kept)."""
        from oci_mcp_cli.provisioning.plan import apply_plan
        from oci_mcp_cli.provisioning.teardown import TeardownOptions, plan_teardown

        console = console_for(json_out)
        with cli_errors():
            run = plan_teardown(
                TeardownOptions(
                    env_file=env_file,
                    config_file=config_file,
                    profile=profile,
                    auth=auth,
                    domain_url=domain_url,
                    restore_settings=restore_settings,
                )
            )
            render_plan(run.plan, console)
            if not dry_run:
                confirm_or_stop(run.plan, yes=yes, question="Delete these resources?")
                apply_plan(run.plan, spinner)
                render_plan(run.plan, console, done=True)
        if json_out:
            emit_json(run.summary() | {"dry_run": dry_run})
        elif dry_run:
            out.print("dry run: nothing was written")

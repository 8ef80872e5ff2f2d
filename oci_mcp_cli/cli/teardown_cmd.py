"""`oci-mcp teardown`: reverse what `oci-mcp init` recorded in .env."""

from __future__ import annotations

from typing import Annotated

import typer

from oci_mcp_cli.cli.flags import AdminFlags, DomainUrlOpt, PlanFlags, with_flags
from oci_mcp_cli.cli.output import cli_errors
from oci_mcp_cli.cli.plan_view import execute_plan, finish


def register(app: typer.Typer) -> None:
    """Attach the command to the root app."""

    @app.command("teardown")
    @with_flags
    def command(
        admin: AdminFlags,
        plan: PlanFlags,
        restore_settings: Annotated[
            bool,
            typer.Option(
                "--restore-settings",
                help="Turn public JWKS access off again if oci-mcp turned it on.",
            ),
        ] = False,
        purge: Annotated[
            bool,
            typer.Option(
                "--purge",
                help="Remove the .env file too (else its provisioned keys are removed and a "
                "comment records what was torn down).",
            ),
        ] = False,
        domain_url: DomainUrlOpt = None,
    ) -> None:
        """Remove what init created: apps this project owns; from a shared trust only our client."""
        from oci_mcp_cli.provisioning.teardown import TeardownOptions, plan_teardown

        with cli_errors():
            run = plan_teardown(
                TeardownOptions(
                    **vars(admin),
                    domain_url=domain_url,
                    restore_settings=restore_settings,
                    purge=purge,
                )
            )
            execute_plan(run.plan, plan, question="Delete these resources?")
        finish(run.summary(plan.dry_run), plan)

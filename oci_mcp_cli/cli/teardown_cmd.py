"""`oci-mcp teardown`: reverse what `oci-mcp init` recorded in .env."""

from pathlib import Path
from typing import Annotated

import typer

from oci_mcp_cli.cli.flags import (
    AdminFlags,
    AuthOpt,
    ConfigFileOpt,
    DomainUrlOpt,
    DryRunOpt,
    EnvFileOpt,
    JsonOpt,
    PlanFlags,
    ProfileOpt,
    YesOpt,
)
from oci_mcp_cli.cli.output import cli_errors
from oci_mcp_cli.cli.plan_view import execute_plan, finish


def teardown(
    restore_settings: Annotated[
        bool,
        typer.Option(
            "--restore-settings", help="Turn public JWKS access off again if oci-mcp turned it on."
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
    env_file: EnvFileOpt = Path(".env"),
    config_file: ConfigFileOpt = None,
    profile: ProfileOpt = None,
    auth: AuthOpt = "config",
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Remove what init created: apps this project owns; from a shared trust only our client."""
    from oci_mcp_cli.provisioning.teardown import TeardownOptions, plan_teardown

    admin = AdminFlags(env_file, config_file, profile, auth)
    plan = PlanFlags(dry_run, yes, json_out)
    with cli_errors():
        run = plan_teardown(
            TeardownOptions(
                **admin._asdict(),
                domain_url=domain_url,
                restore_settings=restore_settings,
                purge=purge,
            )
        )
        execute_plan(run.plan, plan, question="Delete these resources?")
    finish(run.summary(plan.dry_run), plan)

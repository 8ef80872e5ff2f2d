"""`oci-mcp trust create|list|delete`: the identity propagation trust, done right."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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

if TYPE_CHECKING:
    from oci_mcp_cli.provisioning.trust_service import TrustOptions, TrustRun

trust_app = typer.Typer(
    name="trust",
    help="Create, list or delete the identity propagation trust (token exchange to UPST).",
    no_args_is_help=True,
)


def _options(
    env_file: Path,
    config_file: str | None,
    profile: str | None,
    auth: str,
    domain_url: str | None,
    client_claim: str = "client_id",
) -> TrustOptions:
    from oci_mcp_cli.provisioning.trust_service import TrustOptions

    return TrustOptions(
        env_file=env_file,
        config_file=config_file,
        profile=profile,
        auth=auth,
        domain_url=domain_url,
        client_claim=client_claim,
    )


def _plan_apply(run: TrustRun, *, dry_run: bool, yes: bool, json_out: bool) -> None:
    from oci_mcp_cli.provisioning.plan import apply_plan

    console = console_for(json_out)
    render_plan(run.plan, console)
    if not dry_run:
        confirm_or_stop(run.plan, yes=yes)
        apply_plan(run.plan, spinner)
        render_plan(run.plan, console, done=True)
    if json_out:
        emit_json(run.summary() | {"dry_run": dry_run})
    elif dry_run:
        out.print("dry run: nothing was written")


@trust_app.command("create")
def create(
    client_claim: Annotated[
        str,
        typer.Option(
            "--client-claim",
            help="client_id (strict: only tokens issued to our app) or iss (seed).",
        ),
    ] = "client_id",
    domain_url: DomainUrlOpt = None,
    env_file: EnvFileOpt = Path(".env"),
    config_file: ConfigFileOpt = None,
    profile: ProfileOpt = None,
    auth: AuthOpt = "config",
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Create the trust, or add our client to the domain's existing trust for the issuer."""
    from oci_mcp_cli.provisioning.trust_service import plan_create

    with cli_errors():
        run = plan_create(_options(env_file, config_file, profile, auth, domain_url, client_claim))
        _plan_apply(run, dry_run=dry_run, yes=yes, json_out=json_out)


@trust_app.command("delete")
def delete(
    domain_url: DomainUrlOpt = None,
    env_file: EnvFileOpt = Path(".env"),
    config_file: ConfigFileOpt = None,
    profile: ProfileOpt = None,
    auth: AuthOpt = "config",
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Remove our client from the trust; delete the trust if oci-mcp created it and it is unused."""
    from oci_mcp_cli.provisioning.trust_service import plan_delete

    with cli_errors():
        run = plan_delete(_options(env_file, config_file, profile, auth, domain_url))
        _plan_apply(run, dry_run=dry_run, yes=yes, json_out=json_out)


@trust_app.command("list")
def list_cmd(
    domain_url: DomainUrlOpt = None,
    env_file: EnvFileOpt = Path(".env"),
    config_file: ConfigFileOpt = None,
    profile: ProfileOpt = None,
    auth: AuthOpt = "config",
    json_out: JsonOpt = False,
) -> None:
    """Show the domain's identity propagation trusts."""
    from rich.table import Table

    from oci_mcp_cli.provisioning.trust_service import list_rows

    with cli_errors():
        rows = list_rows(_options(env_file, config_file, profile, auth, domain_url))
    if json_out:
        emit_json({"trusts": [r.to_dict() for r in rows]})
        return
    if not rows:
        out.print("no identity propagation trusts in this domain")
        return
    table = Table(title="identity propagation trusts", title_justify="left")
    for column in ("id", "name", "issuer", "active", "client claim", "oauth clients", "ours"):
        table.add_column(column, overflow="fold")  # ids stay whole (copy-paste)
    for r in rows:
        table.add_row(
            r.id,
            r.name or "",
            r.issuer or "",
            "yes" if r.active else "no",
            r.client_claim or "",
            "\n".join(r.oauth_clients),
            "yes" if r.ours else "",
        )
    out.print(table)


def register(app: typer.Typer) -> None:
    """Attach the `trust` sub-app to the root app."""
    app.add_typer(trust_app, name="trust")

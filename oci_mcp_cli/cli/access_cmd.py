"""`oci-mcp access list|grant|revoke`: who may sign in, decided by the identity domain's grants."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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
from oci_mcp_cli.cli.output import cli_errors, emit_json, out
from oci_mcp_cli.cli.plan_view import execute_plan, finish

if TYPE_CHECKING:
    from oci_mcp_cli.provisioning.access import AccessChange, AccessListing, AccessOptions

access_app = typer.Typer(
    name="access",
    help="Who may sign in: the app's grants to groups and users (the identity domain enforces "
    "them).",
    no_args_is_help=True,
)

GroupOpt = Annotated[
    list[str], typer.Option("--group", help="A group of the identity domain (repeatable).")
]
UserOpt = Annotated[
    list[str], typer.Option("--user", help="A user (userName) of the identity domain (repeatable).")
]


def _options(
    admin: AdminFlags, domain_url: str | None, groups: list[str], users: list[str]
) -> "AccessOptions":
    from oci_mcp_cli.provisioning.access import AccessOptions

    return AccessOptions(
        **admin._asdict(), domain_url=domain_url, groups=list(groups), users=list(users)
    )


def _plan_apply(change: "AccessChange", plan: PlanFlags) -> None:
    with cli_errors():
        execute_plan(change.plan, plan, change.apply)
    finish(change.summary(), plan)


@access_app.command("list")
def list_cmd(
    domain_url: DomainUrlOpt = None,
    json_out: JsonOpt = False,
    env_file: EnvFileOpt = Path(".env"),
    config_file: ConfigFileOpt = None,
    profile: ProfileOpt = None,
    auth: AuthOpt = "config",
) -> None:
    """Show whether the app requires a grant, and every grant of it (ours or not)."""
    from oci_mcp_cli.provisioning.access import list_access

    admin = AdminFlags(env_file, config_file, profile, auth)
    with cli_errors():
        listing = list_access(_options(admin, domain_url, [], []))
    if json_out:
        emit_json(listing.to_dict())
        return
    _render_listing(listing)


def _render_listing(listing: "AccessListing") -> None:
    from rich.table import Table

    required = "yes" if listing.requires_grant else "no"
    out.print(f"app             {listing.app_name} ({listing.app_id})")
    out.print(f"requires grant  {required} (allowAccessControl)")
    out.print(f"who can sign in {listing.who}")
    if not listing.grants:
        return
    table = Table(title=f"grants ({len(listing.grants)})", title_justify="left")
    for column in ("grantee", "ours", "created by", "id"):  # the mechanism follows the grantee
        table.add_column(column, no_wrap=True, overflow="ellipsis")
    for g in listing.grants:
        ours = "yes" if g.ours else "no"
        table.add_row(f"{g.grantee_type} {g.grantee_name}", ours, g.created_by, g.id)
    out.print(table)


@access_app.command("grant")
def grant(
    group: GroupOpt = [],  # noqa: B006 - typer needs a literal default
    user: UserOpt = [],  # noqa: B006 - typer needs a literal default
    domain_url: DomainUrlOpt = None,
    env_file: EnvFileOpt = Path(".env"),
    config_file: ConfigFileOpt = None,
    profile: ProfileOpt = None,
    auth: AuthOpt = "config",
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Let these groups/users sign in: grant them the app; the app then requires a grant."""
    from oci_mcp_cli.provisioning.access import plan_grant

    admin = AdminFlags(env_file, config_file, profile, auth)
    with cli_errors():
        change = plan_grant(_options(admin, domain_url, group, user))
    _plan_apply(change, PlanFlags(dry_run, yes, json_out))


@access_app.command("revoke")
def revoke(
    group: GroupOpt = [],  # noqa: B006 - typer needs a literal default
    user: UserOpt = [],  # noqa: B006 - typer needs a literal default
    domain_url: DomainUrlOpt = None,
    env_file: EnvFileOpt = Path(".env"),
    config_file: ConfigFileOpt = None,
    profile: ProfileOpt = None,
    auth: AuthOpt = "config",
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Remove the grants this project made for these groups/users (never anyone else's)."""
    from oci_mcp_cli.provisioning.access import plan_revoke

    admin = AdminFlags(env_file, config_file, profile, auth)
    with cli_errors():
        change = plan_revoke(_options(admin, domain_url, group, user))
    _plan_apply(change, PlanFlags(dry_run, yes, json_out))

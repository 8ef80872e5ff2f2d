"""`oci-mcp trust create|list|delete`: the identity propagation trust, done right."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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
    from rich.table import Table

    from oci_mcp_cli.provisioning.trust_service import TrustOptions, TrustRow, TrustRun

trust_app = typer.Typer(
    name="trust",
    help="Create, list or delete the identity propagation trust (token exchange to UPST).",
    no_args_is_help=True,
)


def _options(admin: AdminFlags, domain_url: str | None, **extra: Any) -> "TrustOptions":
    from oci_mcp_cli.provisioning.trust_service import TrustOptions

    return TrustOptions(**admin._asdict(), domain_url=domain_url, **extra)


def _plan_apply(run: "TrustRun", plan: PlanFlags) -> None:
    with cli_errors():
        execute_plan(run.plan, plan)
    finish(run.summary(), plan)


ClientClaimOpt = Annotated[
    str,
    typer.Option(
        "--client-claim", help="client_id (strict: only tokens issued to our app) or iss (seed)."
    ),
]


@trust_app.command("create")
def create(
    client_claim: ClientClaimOpt = "client_id",
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

    admin = AdminFlags(env_file, config_file, profile, auth)
    with cli_errors():
        run = plan_create(_options(admin, domain_url, client_claim=client_claim))
    _plan_apply(run, PlanFlags(dry_run, yes, json_out))


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

    admin = AdminFlags(env_file, config_file, profile, auth)
    with cli_errors():
        run = plan_delete(_options(admin, domain_url))
    _plan_apply(run, PlanFlags(dry_run, yes, json_out))


@trust_app.command("list")
def list_cmd(
    domain_url: DomainUrlOpt = None,
    json_out: JsonOpt = False,
    env_file: EnvFileOpt = Path(".env"),
    config_file: ConfigFileOpt = None,
    profile: ProfileOpt = None,
    auth: AuthOpt = "config",
) -> None:
    """Show the domain's identity propagation trusts."""
    from oci_mcp_cli.provisioning.trust_service import list_rows

    admin = AdminFlags(env_file, config_file, profile, auth)
    with cli_errors():
        rows = list_rows(_options(admin, domain_url))
    if json_out:
        emit_json({"trusts": [r.to_dict() for r in rows]})
        return
    if not rows:
        out.print("no identity propagation trusts in this domain")
        return
    out.print(render_rows(rows, out.width))


def render_rows(rows: "list[TrustRow]", width: int) -> "Table":
    """One table row per trust when that fits in ``width``; else one block of ``field  value``
    lines per trust, readable at 80 columns. Words are never split: a value too long for its
    line is elided (``--json`` prints every value whole)."""
    from rich.measure import Measurement
    from rich.table import Table
    from rich.text import Text

    title = f"identity propagation trusts ({len(rows)})"
    wide = Table(title=title, title_justify="left")
    for column in ("id", "name", "issuer", "active", "client claim", "oauth clients", "ours"):
        wide.add_column(column, no_wrap=True)
    for r in rows:
        wide.add_row(
            r.id,
            r.name or "",
            r.issuer or "",
            "yes" if r.active else "no",
            r.client_claim or "",
            "\n".join(r.oauth_clients),
            "yes" if r.ours else "",
        )
    if Measurement.get(out, out.options.update_width(10_000), wide).maximum <= width:
        return wide
    narrow = Table(title=title, title_justify="left", box=None, show_header=False, pad_edge=False)
    narrow.add_column("field", no_wrap=True, style="bold")
    narrow.add_column("value", overflow="ellipsis", ratio=1)
    for i, r in enumerate(rows):
        if i:
            narrow.add_row("", "")
        name = Text(r.name or "(no name)")
        if r.ours:
            name.append("  (ours)", style="green")
        narrow.add_row("name", name)
        narrow.add_row("id", r.id)
        narrow.add_row("issuer", r.issuer or "")
        narrow.add_row("active", "yes" if r.active else "no")
        narrow.add_row("client claim", r.client_claim or "")
        narrow.add_row("oauth clients", "\n".join(r.oauth_clients) or "none")
    return narrow

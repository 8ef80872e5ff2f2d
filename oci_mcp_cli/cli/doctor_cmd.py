"""`oci-mcp doctor`: check every link of the chain, in order; name the broken one and its fix."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from oci_mcp_cli.cli.flags import AuthOpt, ConfigFileOpt, EnvFileOpt, JsonOpt, ProfileOpt
from oci_mcp_cli.cli.output import cli_errors, emit_json, err, out

if TYPE_CHECKING:
    from rich.table import Table

    from oci_mcp_cli.doctor.checks import CheckResult

_RESULT = {True: "[green]pass[/]", False: "[bold red]FAIL[/]", None: "[yellow]skipped[/]"}
_WARN = "[bold yellow]warn[/]"  # passed, worth a look (exit code 0)


def render_results(results: "list[CheckResult]") -> "Table":
    """One row per check: name, result, then the detail with its fix under it (a wrapped
    column, so it stays readable at 80 columns; a word too long for it is elided, never split —
    ``--json`` has every value whole)."""
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("check", no_wrap=True)
    table.add_column("result", no_wrap=True)
    table.add_column("detail", overflow="ellipsis", ratio=1)
    for r in results:
        detail = Text(r.detail)
        if r.fix:
            detail.append("\nfix: ", style="bold").append(r.fix)
        table.add_row(r.name, _WARN if r.ok and r.warning else _RESULT[r.ok], detail)
    return table


def doctor(
    as_json: JsonOpt = False,
    oracle: Annotated[
        str | None,
        typer.Option(
            "--oracle",
            help="Check the chain of Oracle's official OCI MCP server for this service instead "
            "(e.g. object-storage; .env and <env>.oracle-<service> from `init --for oracle-mcp`).",
        ),
    ] = None,
    env_file: EnvFileOpt = Path(".env"),
    config_file: ConfigFileOpt = None,
    profile: ProfileOpt = None,
    auth: AuthOpt = "config",
) -> None:
    """Check .env, discovery, JWKS, app, access, client secret, trust and server; exit 0 if all
    pass (a warning passes).

    A skipped check (no admin credentials, no server running) is not a pass: exit 1.
    With --json, stdout is always one JSON object: {"checks": [...]} or {"error": {...}}.
    With --oracle SERVICE: the chain of Oracle's official server instead (docs/oracle-mcp.md).
    """
    from oci_mcp_cli.doctor.runner import all_passed, run_doctor

    with cli_errors(), err.status("checking…") as status:
        results = run_doctor(
            env_file,
            oracle=oracle,
            config_file=config_file,
            profile=profile,
            auth=auth,
            on_check=lambda name: status.update(f"checking {name}…"),
        )
    if as_json:
        emit_json({"checks": [r.to_dict() for r in results]})
    else:
        out.print(render_results(results))
    if not all_passed(results):
        raise typer.Exit(1)

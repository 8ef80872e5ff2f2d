"""Shared flags and rendering for the plan → confirm → apply commands (init, trust, teardown)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from oci_mcp_cli.cli.output import err, is_interactive, out
from oci_mcp_cli.core.errors import UserError

if TYPE_CHECKING:
    from oci_mcp_cli.provisioning.plan import Plan, Step

# Flags shared by every provisioning command (each prompt also has a flag).
ConfigFileOpt = Annotated[
    str | None,
    typer.Option(
        "--config-file",
        help="OCI config file (else $OCI_CLI_CONFIG_FILE, the one .env recorded, ~/.oci/config).",
    ),
]
ProfileOpt = Annotated[
    str | None,
    typer.Option(
        "--profile",
        help="OCI config profile (else $OCI_CLI_PROFILE, the one .env recorded, DEFAULT). "
        "API-key and session-token profiles work.",
    ),
]
AuthOpt = Annotated[
    str, typer.Option("--auth", help="config | instance_principal | resource_principal.")
]
EnvFileOpt = Annotated[Path, typer.Option("--env-file", help="The .env file to read and write.")]
DomainUrlOpt = Annotated[
    str | None, typer.Option("--domain-url", help="Identity domain URL (with or without :443).")
]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Apply without asking.")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Show the plan; write nothing at all.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]


def console_for(json_mode: bool) -> Console:
    """Human-readable output goes to stderr when stdout carries JSON."""
    return err if json_mode else out


def render_plan(plan: Plan, console: Console, *, done: bool = False) -> None:
    """The plan (or, with ``done``, the result) as a table: step, action, why."""
    table = Table(title=plan.title + (" — result" if done else " — plan"), title_justify="left")
    table.add_column("step")
    table.add_column("action")
    table.add_column("why")
    colors = {"created": "green", "updated": "yellow", "deleted": "red"}
    for step in plan.steps:
        action = step.result if done and step.result else step.action
        word = action.value if done else action.verb
        why = step.reason + "".join(f"\n  • {c}" for c in step.changes)
        style = colors.get(action.value, "dim")
        table.add_row(step.name, f"[{style}]{word}[/]", why)
    console.print(table)


def confirm_or_stop(plan: Plan, *, yes: bool, question: str = "Apply these changes?") -> None:
    """Return to apply; declined → exit 1; non-interactive without --yes → exit 2."""
    if not plan.has_changes or yes:
        return
    if not is_interactive():
        raise UserError(
            "the plan has changes and there is no terminal to confirm them",
            hint="pass --yes to apply (or --dry-run to only look)",
        )
    import questionary

    answer = questionary.confirm(question, default=True).ask()
    if not answer:
        err.print("aborted: nothing was changed")
        raise typer.Exit(1)


def spinner(step: Step) -> object:
    """A per-step spinner on stderr."""
    return err.status(f"{step.name}: {step.action.verb} …", spinner="dots")


def ask_yes_no(question: str, default: bool) -> bool:
    """An interactive yes/no (questionary); Ctrl-C aborts."""
    import questionary

    answer = questionary.confirm(question, default=default).ask()
    if answer is None:
        raise KeyboardInterrupt
    return bool(answer)

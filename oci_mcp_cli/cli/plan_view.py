"""Shared rendering and flow for the plan → confirm → apply commands (init, trust, teardown)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from oci_mcp_cli.cli.output import emit_json, err, is_interactive, out
from oci_mcp_cli.core.errors import OciMcpError, UserError

T = TypeVar("T")

if TYPE_CHECKING:
    from rich.console import Console
    from rich.status import Status

    from oci_mcp_cli.cli.flags import PlanFlags
    from oci_mcp_cli.provisioning.plan import Plan, Step, StepHook


def console_for(json_mode: bool) -> Console:
    """Human-readable output goes to stderr when stdout carries JSON."""
    return err if json_mode else out


_COLORS = {"created": "green", "updated": "yellow", "deleted": "red"}


def render_plan(plan: Plan, console: Console) -> None:
    """The plan as a table: step, action, why (with the attribute-level changes)."""
    from rich.table import Table

    table = Table(title=plan.title + " — plan", title_justify="left")
    table.add_column("step")
    table.add_column("action")
    table.add_column("why")
    for step in plan.steps:
        why = step.reason + "".join(f"\n  • {c}" for c in step.changes)
        style = _COLORS.get(step.action.value, "dim")
        table.add_row(step.name, f"[{style}]{step.action.verb}[/]", why)
    console.print(table)


def render_result(plan: Plan, console: Console) -> None:
    """What was done, one line per step (the reasons were in the plan above)."""
    width = max(len(step.name) for step in plan.steps)
    for step in plan.steps:
        action = step.result or step.action
        mark = "[green]✓[/]" if action.is_change else "[dim]·[/]"
        style = _COLORS.get(action.value, "dim")
        console.print(f"{mark} {step.name:<{width}}  [{style}]{action.value}[/]")


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
        raise OciMcpError("aborted: nothing was changed")


def spinner(step: Step) -> object:
    """A per-step spinner on stderr."""
    return err.status(f"{step.name}: {step.action.verb} …", spinner="dots")


def paused(status: Status, ask: Callable[..., T]) -> Callable[..., T]:
    """Wrap a prompt so the spinner ``status`` stops while the user answers."""

    def wrapper(*args: Any, **kwargs: Any) -> T:
        status.stop()
        try:
            return ask(*args, **kwargs)
        finally:
            status.start()

    return wrapper


def ask_yes_no(question: str, default: bool) -> bool:
    """An interactive yes/no (questionary); Ctrl-C aborts."""
    import questionary

    answer = questionary.confirm(question, default=default).ask()
    if answer is None:
        raise KeyboardInterrupt
    return bool(answer)


def execute_plan(
    plan: Plan,
    flags: PlanFlags,
    apply: Callable[[StepHook], object] | None = None,
    *,
    question: str = "Apply these changes?",
) -> None:
    """Show the plan; unless --dry-run: confirm, apply (default :func:`apply_plan`) with a spinner
    per step, show the result."""
    from oci_mcp_cli.provisioning.plan import apply_plan

    console = console_for(flags.json_out)
    render_plan(plan, console)
    if flags.dry_run:
        return
    confirm_or_stop(plan, yes=flags.yes, question=question)
    # Steps re-check state before writing; unchanged ones only read.
    if apply is None:
        apply_plan(plan, spinner)
    else:
        apply(spinner)
    if any(step.result is not None and step.result.is_change for step in plan.steps):
        render_result(plan, console)
    else:
        console.print("nothing to change: everything is already as planned")


def finish(
    summary: dict[str, Any], flags: PlanFlags, human: Callable[[], None] | None = None
) -> None:
    """--json: the one JSON object; else the human summary (or the dry-run note)."""
    if flags.json_out:
        emit_json(summary | {"dry_run": flags.dry_run})
    elif flags.dry_run:
        out.print("dry run: nothing was written")
    elif human is not None:
        human()

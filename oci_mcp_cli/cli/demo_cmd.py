"""`oci-mcp demo`: the whole flow on a local sandbox, two users side by side (no tenancy)."""

from typing import Annotated, Any

import typer

from oci_mcp_cli.cli.flags import json_option
from oci_mcp_cli.cli.output import emit_json, err, out, run


def side_by_side(result: Any) -> Any:
    """A rich table: one column per user with identity, namespace and compartments."""
    from rich.table import Table

    table = Table(title="each user sees their own OCI identity")
    table.add_column("")
    users = list(result.reports)
    for user in users:
        table.add_column(user)

    def row(label: str, pick: Any) -> None:
        table.add_row(label, *[str(pick(result.reports[u].calls)) for u in users])

    row("whoami.user_name", lambda c: (c.get("whoami") or {}).get("user_name"))
    row("whoami.user_ocid", lambda c: (c.get("whoami") or {}).get("user_ocid"))
    row("whoami.tenancy", lambda c: (c.get("whoami") or {}).get("tenancy_ocid"))
    row("namespace", lambda c: (c.get("get_namespace") or {}).get("namespace"))
    row(
        "compartments",
        lambda c: "\n".join(sorted(x["name"] for x in c.get("list_compartments") or [])),
    )
    return table


def _wait_for_interrupt(result: Any) -> None:
    import threading

    user, password = next(iter(result.passwords.items()))
    base = result.mcp_url.removesuffix("/mcp")
    err.print(
        "\n[bold]sandbox and server are running[/] (Ctrl-C stops and cleans up)\n"
        f"  MCP endpoint  : {result.mcp_url}\n"
        f"  sandbox       : {result.sandbox_url}\n"
        "  sign in as    : " + ", ".join(f"{u} / {p}" for u, p in result.passwords.items()) + "\n"
        f"  test client   : oci-mcp test-client --url {result.mcp_url} --username {user} "
        f"--password {password}\n"
        f"  MCP client    : oci-mcp client-config --for claude-code --url {base} "
        "(or claude-desktop, vscode, cursor, mcp-remote, inspector); it opens the sandbox's "
        "sign-in page in your browser — use a user above\n"
        f"  .env          : {result.env_file}"
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        err.print("stopping…")


def demo(
    keep: Annotated[
        bool, typer.Option("--keep", help="Leave the sandbox and server running until Ctrl-C.")
    ] = False,
    as_json: Annotated[
        bool, json_option("Print one JSON object at the end.")
    ] = False,
) -> None:
    """Sandbox → init + trust → serve → test client as alice and bob, side by side."""
    from oci_mcp_cli.orchestration.demo import run_demo

    status = err.status("running the demo…")

    def stage(name: str, seconds: float) -> None:
        err.print(f"[green]✓[/] {name} [dim]({seconds:.1f}s)[/]")

    def wait(result: Any) -> None:
        status.stop()
        _report(result, as_json, kept=True)
        _wait_for_interrupt(result)

    with status:
        result = run(run_demo, on_stage=stage, keep=keep, wait=wait)
    if keep:
        err.print(STOPPED)
    else:
        _report(result, as_json)
    if result.problems():
        raise typer.Exit(1)


STOPPED = "everything the demo started was stopped and removed"


def _report(result: Any, as_json: bool, *, kept: bool = False) -> None:
    if as_json:
        emit_json(result.as_json())
        return
    out.print(side_by_side(result))
    for problem in result.problems():
        err.print(f"[bold red]problem:[/] {problem}")
    total = sum(seconds for _, seconds in result.stages)
    err.print(f"done in {total:.1f}s; " + ("still running (--keep)" if kept else STOPPED))

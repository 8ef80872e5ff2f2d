"""`oci-mcp status`: a live view of a running server from its /health and /metrics (thin: parse →
observe.status → render)."""

from pathlib import Path
from typing import Annotated, Any

import typer

from oci_mcp_cli.cli.flags import EnvFileOpt, JsonOpt
from oci_mcp_cli.cli.output import cli_errors, emit_json, out


def status(
    url: Annotated[
        str | None,
        typer.Option("--url", help="The server (default: MCP_SERVER_URL of the .env)."),
    ] = None,
    metrics_url: Annotated[
        str | None,
        typer.Option(
            "--metrics-url",
            help="Its metrics listener (default: http://127.0.0.1:<OCI_MCP_METRICS_PORT of the "
            ".env, else 9464>/metrics).",
        ),
    ] = None,
    env_file: EnvFileOpt = Path(".env"),
    json_out: JsonOpt = False,
    once: Annotated[
        bool, typer.Option("--once", help="Show one snapshot and exit (no live view).")
    ] = False,
    interval: Annotated[
        float,
        typer.Option("--interval", help="Seconds between scrapes (rates and p50/p95 span one)."),
    ] = 2.0,
) -> None:
    """A live view of a running server: calls/s, p50/p95, errors, users, exchanges, breakers."""
    from oci_mcp_cli.observe.status import default_urls, take_snapshot, watch

    with cli_errors():
        if interval <= 0:
            from oci_mcp_cli.core.errors import UserError

            raise UserError(f"--interval must be more than 0 (got {interval})")
        server, metrics = default_urls(env_file, url, metrics_url)
        if json_out or once:
            snap = take_snapshot(server, metrics, interval)
            if json_out:
                emit_json(snap.as_dict())
            else:
                out.print(render(snap))
            return
        live_view(watch(server, metrics, interval))


def live_view(snapshots: Any) -> None:
    """Redraw the view at each snapshot until Ctrl-C (a normal way to leave: exit 0)."""
    from rich.live import Live

    from oci_mcp_cli.core.errors import RemoteError

    last: Any = None
    try:
        first = next(snapshots)
        with Live(render(first), console=out, auto_refresh=False, screen=False) as live:
            last = first
            for snap in snapshots:
                if isinstance(snap, RemoteError):
                    live.update(render(last, problem=snap.message), refresh=True)
                else:
                    last = snap
                    live.update(render(snap), refresh=True)
    except KeyboardInterrupt:
        return


def _ms(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds * 1000:.0f} ms"


def _pairs(values: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in values.items()) or "none"


def render(snap: Any, problem: str | None = None) -> Any:
    """The view of one ``observe.status.Snapshot``: a summary and a table per tool."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    health = f"{snap.status} (storage {snap.storage}"
    health += f", {snap.storage_backend})" if snap.storage_backend else ")"
    rows = [
        ("server", f"{snap.url}  health: {health}"),
        ("calls", f"{snap.calls} total, {snap.calls_per_s:.2f}/s"),
        ("latency", f"p50 {_ms(snap.p50_s)}, p95 {_ms(snap.p95_s)} (last {snap.window_s:.1f} s); "
                    f"since start p50 {_ms(snap.p50_since_start_s)}, "
                    f"p95 {_ms(snap.p95_since_start_s)}"),
        ("errors", _pairs(snap.errors)),
        ("users", f"{snap.signed_in_users} signed in (cached signers)"
                  + (f", {snap.open_sessions} open sessions" if snap.open_sessions is not None
                     else "")),
        ("exchanges", _pairs(snap.exchanges)
         + (f"; failures: {_pairs(snap.exchange_failures)}" if snap.exchange_failures else "")),
        ("oci", f"requests by status: {_pairs(snap.oci_requests)}"),
        ("breakers", ", ".join(f"{b['client']}.{b['operation']} open ×{b['count']}"
                               for b in snap.open_breakers) or "all closed"),
        ("refusals", _pairs(snap.refusals)),
        ("revalidations", _pairs(snap.revalidations)),
    ]
    for name, value in rows:
        head.add_row(name, Text(value))
    tools = Table(title=None, box=None, padding=(0, 2), header_style="bold")
    for column in ("tool", "calls", "errors", "calls/s", "p50", "p95"):
        tools.add_column(column, justify="left" if column == "tool" else "right")
    for row in snap.tools:
        tools.add_row(row.tool, str(row.calls), str(row.errors), f"{row.calls_per_s:.2f}",
                      _ms(row.p50_s), _ms(row.p95_s))
    parts: list[Any] = [head, Text(""), tools]
    if problem:
        parts.append(Text(f"last scrape failed: {problem}", style="bold red"))
    return Group(*parts)

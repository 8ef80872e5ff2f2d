"""`oci-mcp sandbox`: run the local identity domain + OCI API stand-in in the foreground."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from oci_mcp_cli.cli.output import cli_errors, emit_json, err, out


def _render(info: dict[str, Any]) -> None:
    from rich.table import Table

    out.print(f"[bold green]oci-mcp sandbox ready[/] at [bold]{info['url']}[/]")
    out.print(f"  OCI config: {info['config_file']}  profile [bold]{info['profile']}[/]")
    out.print(f"  tenancy:    {info['tenancy_id']} ({info['home_region']})")
    table = Table("domain", "type", "url", "users", title=None, box=None, pad_edge=False)
    for d in info["domains"]:
        table.add_row(d["display_name"], d["type"], d["url"], ", ".join(d.get("users", [])))
    out.print(table)
    users = Table("user", "password", "domain", box=None, pad_edge=False)
    for u in info["users"]:
        users.add_row(u["username"], u["password"], u.get("domain", ""))
    out.print(users)
    out.print("  a user signs in only to its own domain (the server's IAM_DOMAIN)")
    out.print(
        "  use it: [bold]--config-file "
        + info["config_file"]
        + " --profile "
        + info["profile"]
        + "[/]   (Ctrl-C to stop)"
    )


def register(app: typer.Typer) -> None:
    """Attach the command to the root app."""

    @app.command("sandbox")
    def command(
        host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (loopback)."),
        port: int = typer.Option(0, "--port", min=0, max=65535, help="Port; 0 picks a free one."),
        state_dir: Path | None = typer.Option(
            None, "--state-dir", help="Where state lives (default: per-user data dir)."
        ),
        json_out: bool = typer.Option(False, "--json", help="Print one JSON line when ready."),
        token_ttl: int | None = typer.Option(
            None, "--token-ttl", min=1, help="Access-token lifetime in seconds."
        ),
        reset: bool = typer.Option(False, "--reset", help="Discard saved state and re-seed."),
        allow_remote: bool = typer.Option(
            False,
            "--allow-remote",
            help="Allow a non-loopback --host (serves http + test passwords).",
        ),
    ) -> None:
        """Run a local OCI identity domain + OCI API stand-in until Ctrl-C."""
        with cli_errors():
            from oci_mcp_cli.sandbox.runner import Sandbox, serve_until_interrupted

            config = {"access_token_ttl_s": token_ttl} if token_ttl else {}
            sandbox = Sandbox(
                state_dir, host=host, port=port, reset=reset, allow_remote=allow_remote, **config
            )

            def ready(sb: Sandbox) -> None:
                if json_out:
                    emit_json(sb.info())
                else:
                    _render(sb.info())

            if not json_out:
                err.print("starting the sandbox…")
            serve_until_interrupted(sandbox, ready)

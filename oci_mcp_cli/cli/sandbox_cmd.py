"""`oci-mcp sandbox`: run the local identity domain + OCI API stand-in in the foreground;
`oci-mcp sandbox env` / `exec`: point a process (any OCI tool) at the running sandbox;
`oci-mcp sandbox browser`: a Chromium profile that trusts it."""

from pathlib import Path
from typing import Annotated, Any

import typer

from oci_mcp_cli.cli.flags import json_option
from oci_mcp_cli.cli.output import cli_errors, emit_json, err, out


def _render(info: dict[str, Any]) -> None:
    from rich.table import Table

    out.print(f"[bold green]oci-mcp sandbox ready[/] at [bold]{info['url']}[/]")
    out.print(f"  OCI config: {info['config_file']}  profile [bold]{info['profile']}[/]")
    out.print(f"  tenancy:    {info['tenancy_id']} ({info['home_region']})")
    out.print(f"  https proxy: {info['proxy_url']}  CA: {info['ca_file']}")
    table = Table("domain", "type", "url", "users", title=None, box=None, pad_edge=False)
    for d in info["domains"]:
        table.add_row(d["display_name"], d["type"], d["url"], ", ".join(d.get("users", [])))
        table.add_row("", "", d["https_url"], "")
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
    out.print("  unmodified OCI tools: [bold]oci-mcp sandbox exec -- oci os ns get[/]")


StateDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--state-dir", help="State dir of the running sandbox (default: per-user data dir)."
    ),
]

sandbox_app = typer.Typer(
    help="Run a local OCI identity domain + OCI API stand-in until Ctrl-C.",
    invoke_without_command=True,
    no_args_is_help=False,
)


@sandbox_app.command("env")
def env_command(
    state_dir: StateDirOpt = None,
    json_out: Annotated[bool, json_option("One JSON object instead.")] = False,
) -> None:
    """Print the shell exports that send a process's OCI traffic to the running sandbox."""
    with cli_errors():
        from oci_mcp_cli.sandbox.transparent import (
            running_info,
            shell_exports,
            transparent_env,
        )

        env = transparent_env(running_info(state_dir))
        if json_out:
            emit_json(env)
        else:
            import sys

            sys.stdout.write(shell_exports(env))


@sandbox_app.command(
    "exec",
    context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True},
)
def exec_command(
    command: Annotated[list[str], typer.Argument(help="The command and its arguments.")],
    state_dir: StateDirOpt = None,
) -> None:
    """Run COMMAND with the running sandbox's environment; its exit code is passed through."""
    with cli_errors():
        import os

        from oci_mcp_cli.orchestration.passthrough import run_passthrough
        from oci_mcp_cli.sandbox.transparent import running_info, transparent_env

        rc = run_passthrough(command, {**os.environ, **transparent_env(running_info(state_dir))})
    raise typer.Exit(rc)


@sandbox_app.command(
    "browser",
    context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True},
)
def browser_command(
    args: Annotated[
        list[str] | None, typer.Argument(help="Passed to the browser: URLs and more flags.")
    ] = None,
    state_dir: StateDirOpt = None,
    profile: Annotated[
        Path | None,
        typer.Option(
            "--profile",
            help="Browser profile dir (its HOME; default: <state dir>/browser). "
            "Never your own profile.",
        ),
    ] = None,
    browser: Annotated[
        str | None,
        typer.Option("--browser", help="Chromium or Chrome executable (default: first on PATH)."),
    ] = None,
    print_only: Annotated[
        bool, typer.Option("--print", help="Prepare the profile; print the command, do not run.")
    ] = False,
) -> None:
    """Run Chromium on a profile that trusts the sandbox CA and uses its proxy (sign-in pages on
    the real OCI hostnames load); its exit code is passed through."""
    with cli_errors():
        import os

        from oci_mcp_cli.orchestration.passthrough import run_passthrough
        from oci_mcp_cli.sandbox.browser import browser_launch
        from oci_mcp_cli.sandbox.transparent import running_info

        launch = browser_launch(
            running_info(state_dir), profile=profile, browser=browser, args=args or []
        )
        if print_only:
            out.print(launch.shell(), markup=False, highlight=False, soft_wrap=True)
            return
        rc = run_passthrough(launch.argv, {**os.environ, **launch.env})
    raise typer.Exit(rc)


@sandbox_app.callback()
def sandbox_main(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option("--host", help="Interface to listen on (loopback).")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Port; 0 picks a free one.")
    ] = 0,
    proxy_port: Annotated[
        int,
        typer.Option(
            "--proxy-port", min=0, max=65535, help="HTTPS proxy port; 0 picks a free one."
        ),
    ] = 0,
    state_dir: Annotated[
        Path | None,
        typer.Option("--state-dir", help="Where state lives (default: per-user data dir)."),
    ] = None,
    json_out: Annotated[
        bool, json_option("Print one JSON line when ready.")
    ] = False,
    token_ttl: Annotated[
        int | None, typer.Option("--token-ttl", min=1, help="Access-token lifetime in seconds.")
    ] = None,
    reset: Annotated[
        bool, typer.Option("--reset", help="Discard saved state and re-seed.")
    ] = False,
    allow_remote: Annotated[
        bool,
        typer.Option(
            "--allow-remote", help="Allow a non-loopback --host (serves http + test passwords)."
        ),
    ] = False,
) -> None:
    """Run a local OCI identity domain + OCI API stand-in until Ctrl-C."""
    if ctx.invoked_subcommand is not None:
        return
    with cli_errors():
        from oci_mcp_cli.sandbox.runner import Sandbox, serve_until_interrupted

        config = {"access_token_ttl_s": token_ttl} if token_ttl else {}
        sandbox = Sandbox(
            state_dir,
            host=host,
            port=port,
            proxy_port=proxy_port,
            reset=reset,
            allow_remote=allow_remote,
            **config,
        )

        def ready(sb: Sandbox) -> None:
            if json_out:
                emit_json(sb.info())
            else:
                _render(sb.info())

        if not json_out:
            err.print("starting the sandbox…")
        serve_until_interrupted(sandbox, ready)

"""Root Typer application: registers each module-level command. Command modules import only
typer/rich at top level; everything heavy is imported inside the command that needs it."""

from typing import Annotated, Any

import typer
from typer._click.core import Context
from typer._click.exceptions import UsageError
from typer.core import TyperGroup  # typer vendors its own click: its Context, UsageError

from oci_mcp_cli import __version__
from oci_mcp_cli.cli import (
    access_cmd,
    client_config_cmd,
    demo_cmd,
    deploy_cmd,
    doctor_cmd,
    init_cmd,
    new_cmd,
    sandbox_cmd,
    serve_cmd,
    status_cmd,
    teardown_cmd,
    test_client_cmd,
    trust_cmd,
)
from oci_mcp_cli.cli.output import emit_error_json, state

ARGV_KEY = "oci_mcp.argv"


class RootGroup(TyperGroup):
    """The root command: a usage error (unknown flag, bad value) of a command run with ``--json``
    is one JSON object on stdout too; Typer still prints it on stderr (exit 2)."""

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        ctx.meta[ARGV_KEY] = list(args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: Context) -> Any:
        try:
            return super().invoke(ctx)
        except UsageError as exc:
            if _json_requested(ctx, exc):
                state.json = True
                emit_error_json(_usage_payload(exc))
            raise


def _json_requested(ctx: Context, exc: UsageError) -> bool:
    """``--json`` was parsed, or typed (before any ``--``) for a command that has it."""
    if state.json:
        return True
    command = exc.ctx.command if exc.ctx is not None else None
    if command is None or not any("--json" in p.opts for p in command.params):
        return False
    argv = ctx.meta.get(ARGV_KEY, [])
    return "--json" in argv[: argv.index("--") if "--" in argv else len(argv)]


def _usage_payload(exc: UsageError) -> dict[str, Any]:
    path = exc.ctx.command_path if exc.ctx is not None else "oci-mcp"
    return {
        "error": {
            "type": "UsageError",
            "message": exc.format_message(),
            "hint": f"see `{path} --help`",
            "exit_code": exc.exit_code,
        }
    }


app = typer.Typer(
    cls=RootGroup,
    name="oci-mcp",
    help="Provision, run and test MCP servers that act on Oracle Cloud as the signed-in user.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"oci-mcp {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks and debug logs on errors.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """oci-mcp: the OCI IAM + MCP setup, done right."""
    state.debug = debug
    state.json = state.json_emitted = False  # set again by a command's --json (json_mode)


app.command("init")(init_cmd.init)
app.add_typer(trust_cmd.trust_app, name="trust")
app.command("teardown")(teardown_cmd.teardown)
app.add_typer(access_cmd.access_app, name="access")
app.command("serve")(serve_cmd.serve)
app.command("status")(status_cmd.status)
app.command("test-client")(test_client_cmd.sign_in_and_call)
app.command("demo")(demo_cmd.demo)
app.add_typer(sandbox_cmd.sandbox_app, name="sandbox")
app.command("doctor")(doctor_cmd.doctor)
app.command("client-config")(client_config_cmd.client_config)
app.command("new")(new_cmd.new)
app.add_typer(deploy_cmd.deploy_app, name="deploy")


def main() -> None:
    """Console-script entry point (also ``python -m oci_mcp_cli``). The program name is fixed so
    that shell completion (``--show-completion``/``--install-completion``) is for ``oci-mcp``."""
    app(prog_name="oci-mcp")

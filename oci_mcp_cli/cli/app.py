"""Root Typer application: registers each module-level command. Command modules import only
typer/rich at top level; everything heavy is imported inside the command that needs it."""

from typing import Annotated

import typer

from oci_mcp_cli import __version__
from oci_mcp_cli.cli import (
    client_config_cmd,
    demo_cmd,
    deploy_cmd,
    doctor_cmd,
    init_cmd,
    new_cmd,
    sandbox_cmd,
    serve_cmd,
    teardown_cmd,
    test_client_cmd,
    trust_cmd,
)
from oci_mcp_cli.cli.output import state

app = typer.Typer(
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


app.command("init")(init_cmd.init)
app.add_typer(trust_cmd.trust_app, name="trust")
app.command("teardown")(teardown_cmd.teardown)
app.command("serve")(serve_cmd.serve)
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

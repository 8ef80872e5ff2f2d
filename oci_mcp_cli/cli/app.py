"""Root Typer application. Command modules import only typer/rich at top level (lazy heavy deps)."""

from __future__ import annotations

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
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks and debug logs on errors."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """oci-mcp: the OCI IAM + MCP setup, done right."""
    state.debug = debug


for module in (
    init_cmd,
    trust_cmd,
    teardown_cmd,
    serve_cmd,
    test_client_cmd,
    demo_cmd,
    sandbox_cmd,
    doctor_cmd,
    client_config_cmd,
    new_cmd,
    deploy_cmd,
):
    module.register(app)


def main() -> None:
    """Console-script entry point (also ``python -m oci_mcp_cli``). The program name is fixed so
    that shell completion (``--show-completion``/``--install-completion``) is for ``oci-mcp``."""
    app(prog_name="oci-mcp")

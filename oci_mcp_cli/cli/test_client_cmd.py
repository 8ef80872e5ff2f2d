"""`oci-mcp test-client`: sign in to an oci-mcp server, list its tools and call some."""

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from oci_mcp_cli.cli.flags import json_option
from oci_mcp_cli.cli.output import emit_json, err, fail, is_interactive, out, run, state
from oci_mcp_cli.core.errors import UserError


def parse_args(pairs: list[str]) -> dict[str, Any]:
    """``key=value`` pairs; a value that parses as JSON (number, bool, list…) is used as such."""
    args: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserError(
                f"--arg {pair!r} is not key=value", hint="e.g. --arg region=us-ashburn-1"
            )
        try:
            args[key] = json.loads(value)
        except ValueError:
            args[key] = value
    return args


def default_url(env_file: Path) -> str:
    """``{MCP_SERVER_URL}/mcp`` from the .env file."""
    from oci_mcp_cli.core.envfile import MCP_SERVER_URL, load_env

    env = load_env(env_file)
    if not env.get(MCP_SERVER_URL):
        raise UserError(
            f"no --url given and {env_file} has no {MCP_SERVER_URL}",
            hint="pass --url http://host:port/mcp or run `oci-mcp init`",
        )
    return env.server_url + "/mcp"


def not_granted_message(env_file: Path) -> str:
    """What a user the app's access control refuses reads: the app and the groups ``env_file``
    records (core/access.py), with fallbacks when it records none (or does not exist)."""
    from oci_mcp_cli.core.access import AccessRecord
    from oci_mcp_cli.core.envfile import load_env

    try:
        return AccessRecord.from_env(load_env(env_file)).refusal()
    except UserError:  # an unreadable .env: the message without names
        return AccessRecord().refusal()


PASSWORD_ON_COMMAND_LINE = (
    "warning: --password is visible to other users of this machine (ps, shell history); "
    "leave it out to be prompted, or set OCI_MCP_PASSWORD"
)


def password_from_command_line(ctx: typer.Context) -> bool:
    """True when ``--password`` was typed on the command line (not OCI_MCP_PASSWORD)."""
    source = ctx.get_parameter_source("password")
    return getattr(source, "name", None) == "COMMANDLINE"  # typer vendors its own click


def needs_password(url: str, username: str, relogin: bool) -> bool:
    """A sign-in will ask for one: ``--relogin``, or no cached login for ``username`` at ``url``."""
    from oci_mcp_cli.client.cache import has_login

    return relogin or not has_login(url, username)


def render(report: Any) -> None:
    """Tools table, then each call's result (JSON), then errors."""
    from rich.table import Table

    table = Table(title="tools")
    table.add_column("name")
    for name in report.tools:
        table.add_row(name)
    out.print(table)
    for name, value in report.calls.items():
        out.print(f"[bold]{name}[/]")
        out.print_json(json.dumps(value, default=str))
    for name, message in report.errors.items():
        err.print(f"[bold red]{name} failed:[/] {message}", markup=True)


def sign_in_and_call(
    ctx: typer.Context,
    url: Annotated[
        str | None, typer.Option("--url", help="MCP endpoint (default {MCP_SERVER_URL}/mcp).")
    ] = None,
    env_file: Annotated[
        Path, typer.Option("--env-file", help=".env to read MCP_SERVER_URL from.")
    ] = Path(".env"),
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Print the sign-in URL instead.")
    ] = False,
    relogin: Annotated[
        bool, typer.Option("--relogin", help="Ignore cached tokens and sign in again.")
    ] = False,
    username: Annotated[
        str | None,
        typer.Option(
            "--username",
            envvar="OCI_MCP_USERNAME",
            help="Sandbox user: sign in without a browser.",
        ),
    ] = None,
    password: Annotated[
        str | None,
        typer.Option(
            "--password",
            envvar="OCI_MCP_PASSWORD",
            help="Password of --username (prefer the prompt or OCI_MCP_PASSWORD: a command-line "
            "password shows in `ps`).",
        ),
    ] = None,
    call: Annotated[
        list[str], typer.Option("--call", help="Tool to call (repeatable).")
    ] = [],  # noqa: B006 - typer needs a literal default
    arg: Annotated[
        list[str], typer.Option("--arg", help="key=value argument for the --call tools.")
    ] = [],  # noqa: B006
    as_json: Annotated[
        bool, json_option("Print one JSON object {tools, calls}.")
    ] = False,
    oracle: Annotated[
        str | None,
        typer.Option(
            "--oracle",
            help="Connect to Oracle's OCI MCP server for this service (its URL from "
            "<env>.oracle-<service>, written by `init --for oracle-mcp`).",
        ),
    ] = None,
) -> None:
    """Sign in, list the tools and call whoami, get_namespace, list_compartments (or --call)."""
    from oci_mcp_cli.client.session import ClientOptions, run_test_client
    from oci_mcp_cli.core.urls import require_secure_url

    oracle_calls = None
    if oracle and not url:
        from oci_mcp_cli.oracle.launcher import service_environment
        from oci_mcp_cli.oracle.services import OracleService, default_calls

        svc = run(OracleService.parse, oracle)
        values = run(service_environment, env_file, svc)
        url = values["ORACLE_MCP_BASE_URL"].rstrip("/") + "/mcp"
        oracle_calls = default_calls(svc, values.get("TENANCY_ID_OVERRIDE"))
    target = url or run(default_url, env_file)
    run(require_secure_url, target, what="--url")
    if password and password_from_command_line(ctx):
        err.print(PASSWORD_ON_COMMAND_LINE, markup=False)
    if username and not password and is_interactive() and needs_password(
        target, username, relogin
    ):
        password = typer.prompt(f"password for {username}", hide_input=True, err=True)
    args = run(parse_args, arg)
    calls = [(name, args) for name in call] if call else oracle_calls
    if arg and not call:
        raise fail(UserError("--arg needs --call", hint="e.g. --call list_buckets --arg k=v"))
    options = ClientOptions(
        url=target,
        username=username,
        password=password,
        no_browser=no_browser,
        relogin=relogin,
        calls=calls,
        not_granted=not_granted_message(env_file),
    )
    if as_json:
        report = run(run_test_client, options, verbose=state.debug)
        emit_json(report.as_json())
    else:
        with err.status(f"connecting to {target}…"):
            report = run(run_test_client, options, verbose=state.debug)
        render(report)
    if not report.ok:
        raise typer.Exit(1)

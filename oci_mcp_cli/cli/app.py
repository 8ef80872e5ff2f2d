"""Root Typer application. The root knows every command from :data:`COMMANDS` (name, where it
lives, its summary) and builds one — importing its module — only when it is run, completed or its
own help is asked for: `oci-mcp --help` imports no command module (tests/test_cli_lazy.py).
Command modules import only typer/rich at top level; everything heavy is imported inside the
command that needs it."""

import copy
from typing import Annotated, Any

import typer
import typer.main
from typer._click.core import Command, Context
from typer._click.exceptions import UsageError
from typer._click.formatting import HelpFormatter
from typer.core import TyperCommand, TyperGroup  # typer vendors its own click

from oci_mcp_cli import __version__
from oci_mcp_cli.cli.lazy import CommandRef, LazyCommands
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


# In the order `--help` lists them (Typer lists plain commands before sub-apps). A summary is a
# copy of the first paragraph of the command's help; tests/test_cli_lazy.py fails when one drifts.
COMMANDS: tuple[CommandRef, ...] = (
    CommandRef("init", "oci_mcp_cli.cli.init_cmd:init",
               "Create or reconcile the OAuth app, JWKS access and trust; write .env. Safe to "
               "re-run."),
    CommandRef("teardown", "oci_mcp_cli.cli.teardown_cmd:teardown",
               "Remove what init created: apps this project owns; from a shared trust only our "
               "client."),
    CommandRef("serve", "oci_mcp_cli.cli.serve_cmd:serve",
               "Serve {MCP_SERVER_URL}/mcp; its tools act on OCI as the signed-in user."),
    CommandRef("status", "oci_mcp_cli.cli.status_cmd:status",
               "A live view of a running server: calls/s, p50/p95, errors, users, exchanges, "
               "breakers."),
    CommandRef("test-client", "oci_mcp_cli.cli.test_client_cmd:sign_in_and_call",
               "Sign in, list the tools and call whoami, get_namespace, list_compartments (or "
               "--call)."),
    CommandRef("demo", "oci_mcp_cli.cli.demo_cmd:demo",
               "Sandbox → init + trust → serve → test client as alice and bob, side by side."),
    CommandRef("doctor", "oci_mcp_cli.cli.doctor_cmd:doctor",
               "Check .env, discovery, JWKS, app, access, client secret, trust and server; exit 0 "
               "if all\npass (a warning passes)."),
    CommandRef("client-config", "oci_mcp_cli.cli.client_config_cmd:client_config",
               "Print (or --write) the config that connects an MCP client to "
               "{MCP_SERVER_URL}/mcp."),
    CommandRef("new", "oci_mcp_cli.cli.new_cmd:new",
               "Write a starter server.py (FastMCP + one tool calling OCI as the signed-in user)."),
    CommandRef("trust", "oci_mcp_cli.cli.trust_cmd:trust_app",
               "Create, list or delete the identity propagation trust (token exchange to UPST)."),
    CommandRef("access", "oci_mcp_cli.cli.access_cmd:access_app",
               "Who may sign in: the app's grants to groups and users (the identity domain "
               "enforces them)."),
    CommandRef("sandbox", "oci_mcp_cli.cli.sandbox_cmd:sandbox_app",
               "Run a local OCI identity domain + OCI API stand-in until Ctrl-C."),
    CommandRef("deploy", "oci_mcp_cli.cli.deploy_cmd:deploy_app",
               "Render a deployment (Containerfile + Kubernetes manifests or a compose file) from "
               ".env."),
)
_REFS = {ref.name: ref for ref in COMMANDS}


class LazyRootGroup(RootGroup):
    """The root as users run it: its ``commands`` are :data:`COMMANDS`, each built on first use
    exactly as Typer's eager build would (:func:`_build`); its help lists their summaries."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = LazyCommands(_REFS, _build)

    def list_commands(self, ctx: Context) -> list[str]:
        return list(self.commands)  # TyperGroup's walks .items(): it would build every command

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        listing = copy.copy(self)  # the same group, listing summaries instead of the commands
        mode = self.rich_markup_mode
        listing.commands = {
            ref.name: TyperCommand(ref.name, help=ref.summary, rich_markup_mode=mode)
            for ref in COMMANDS
        }
        TyperGroup.format_help(listing, ctx, formatter)


def _build(name: str) -> Command:
    """One command, built by Typer as in the eager app: registered on a fresh root, then taken."""
    single = new_app(RootGroup)
    _REFS[name].register(single)
    return typer.main.get_group(single).commands[name]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"oci-mcp {__version__}")
        raise typer.Exit()


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


def new_app(cls: type[RootGroup] = LazyRootGroup) -> typer.Typer:
    """The root app: its settings and options; with :class:`LazyRootGroup` its commands."""
    root_app = typer.Typer(
        cls=cls,
        name="oci-mcp",
        help="Provision, run and test MCP servers that act on Oracle Cloud as the signed-in user.",
        no_args_is_help=True,
        add_completion=True,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    root_app.callback()(root)
    return root_app


def eager_app() -> typer.Typer:
    """The same app with every command registered up front: Typer's own build, which the lazy
    root must match byte for byte (tests/test_cli_lazy.py)."""
    eager = new_app(RootGroup)
    for ref in COMMANDS:
        ref.register(eager)
    return eager


app = new_app()


def main() -> None:
    """Console-script entry point (also ``python -m oci_mcp_cli``). The program name is fixed so
    that shell completion (``--show-completion``/``--install-completion``) is for ``oci-mcp``."""
    app(prog_name="oci-mcp")

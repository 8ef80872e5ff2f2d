"""`oci-mcp init`: provision the identity domain (plan → confirm → apply) and write .env."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from oci_mcp_cli.cli.flags import (
    AdminFlags,
    AuthOpt,
    ConfigFileOpt,
    DomainUrlOpt,
    DryRunOpt,
    EnvFileOpt,
    JsonOpt,
    PlanFlags,
    ProfileOpt,
    YesOpt,
)
from oci_mcp_cli.cli.output import cli_errors, err, fail, is_interactive
from oci_mcp_cli.cli.plan_view import ask_yes_no, console_for, execute_plan, finish, paused
from oci_mcp_cli.core.errors import UserError

if TYPE_CHECKING:
    from rich.console import Console

    from oci_mcp_cli.provisioning.domains import DomainInfo
    from oci_mcp_cli.provisioning.init import InitRun

JWKS_QUESTION = (
    "Anonymous JWKS access (signingCertPublicAccess) is off. Turning it on is a domain-wide "
    "change; the MCP server needs it to verify sign-ins. Turn it on?"
)


def _choose_domain(domains: "list[DomainInfo]") -> "DomainInfo":
    import questionary

    choice = questionary.select(
        "Which identity domain?",
        choices=[questionary.Choice(d.label, value=d) for d in domains],
    ).ask()
    if choice is None:
        raise KeyboardInterrupt
    return choice


def _render_summary(run: "InitRun", console: "Console", show_secrets: bool) -> None:
    from oci_mcp_cli.core.envfile import mask

    summary = run.summary(show_secrets)
    secret = run.env_updates().get("IAM_CLIENT_SECRET") if run.app is not None else None
    console.print(f"domain     {summary['domain_url']}")
    console.print(f"client id  {summary['client_id']}")
    if secret:
        console.print(f"secret     {mask(secret, show_secrets)}")
    if summary["trust_id"]:
        console.print(f"trust      {summary['trust_id']}")
    console.print(f"env file   {summary['env_file']} (mode 0600)")
    allowed = [f"group {g}" for g in summary["allowed_groups"]]
    allowed += [f"user {u}" for u in summary["allowed_users"]]
    if allowed:
        console.print(f"sign-in    only {', '.join(allowed)} (`oci-mcp access list`)")
    if summary.get("target") == "oracle-mcp":
        console.print(f"audience   {summary['audience']}")
        env_path = str(run.options.env_file)
        env_flag = "" if env_path == ".env" else f" --env-file {env_path}"
        console.print("\nNext steps (one per service):")
        for s in summary["services"]:
            console.print(f"  {s['env_file']}: {s['package']} at {s['base_url']}")
            console.print(f"  oci-mcp serve --oracle {s['service']}{env_flag}")
            console.print(f"  oci-mcp test-client --oracle {s['service']}{env_flag}")
        return
    env_flag = "" if str(run.options.env_file) == ".env" else f" --env-file {run.options.env_file}"
    console.print("\nNext steps:")
    console.print(f"  oci-mcp serve{env_flag}         # run the MCP server behind OCI IAM sign-in")
    console.print(f"  oci-mcp test-client{env_flag}   # sign in and call the tools")


def _launch(env_file: Path, server_url: str) -> None:
    """Start `oci-mcp serve` in the background (logging to a file), wait for it, run test-client."""
    from oci_mcp_cli.core.waiting import WaitError
    from oci_mcp_cli.orchestration.serve_process import run_cli, serve_log_path, start_serve

    log_path = serve_log_path(env_file)
    err.print(f"`oci-mcp serve` started; its log: {log_path}", markup=False)
    try:
        with err.status("waiting for the MCP server …"):
            server = start_serve(server_url, ["--env-file", str(env_file)], log_path=log_path)
        with server:  # on the way out: terminate, kill after a grace period, reap
            run_cli("test-client", "--env-file", str(env_file))
            err.print("the MCP server is still running — press Ctrl-C to stop it")
            server.wait()
    except WaitError as exc:
        err.print(f"{exc.message}; see {log_path}", markup=False)
    except KeyboardInterrupt:
        pass


def init(
    domain_url: DomainUrlOpt = None,
    domain: Annotated[
        str | None,
        typer.Option(
            "--domain",
            help="Identity domain display name (else pick interactively, else DEFAULT).",
        ),
    ] = None,
    server_url: Annotated[
        str | None,
        typer.Option(
            "--server-url",
            help="Public base URL of the MCP server (http only on loopback). "
            "[default: what .env records, else http://localhost:8000]",
        ),
    ] = None,
    redirect_path: Annotated[
        str | None,
        typer.Option(
            "--redirect-path",
            help="OAuth callback path. [default: what .env records, else /auth/callback]",
        ),
    ] = None,
    app_name: Annotated[
        str | None,
        typer.Option(
            "--app-name",
            help="Display name of the app. [default: what .env records, else oci-mcp-server]",
        ),
    ] = None,
    adopt: Annotated[
        bool,
        typer.Option(
            "--adopt",
            help="Take over an existing app of that name that oci-mcp did not create "
            "(shown in the plan; teardown will then delete it).",
        ),
    ] = False,
    exchange_app: Annotated[
        str | None,
        typer.Option(
            "--exchange-app",
            help="Use a separate client_credentials-only app of this name for "
            "the token exchange.",
        ),
    ] = None,
    trust: Annotated[
        bool,
        typer.Option(
            "--trust/--no-trust", help="Create or join the identity propagation trust."
        ),
    ] = True,
    client_claim: Annotated[
        str | None,
        typer.Option(
            "--client-claim",
            help="Trust client claim: client_id (strict) or iss (seed's form). "
            "[default: what .env records, else client_id]",
        ),
    ] = None,
    prune: Annotated[
        bool,
        typer.Option(
            "--prune", help="Remove redirect URIs of the app that we did not ask for."
        ),
    ] = False,
    open_jwks: Annotated[
        bool | None,
        typer.Option(
            "--open-jwks/--no-open-jwks",
            help="Turn on public JWKS access if it is off (asked interactively; default yes).",
            show_default=False,
        ),
    ] = None,
    launch: Annotated[
        bool | None,
        typer.Option(
            "--launch/--no-launch",
            help="Start `serve` + `test-client` afterwards (asked interactively).",
            show_default=False,
        ),
    ] = None,
    show_secrets: Annotated[
        bool, typer.Option("--show-secrets", help="Print the client secret (masked otherwise).")
    ] = False,
    target: Annotated[
        str,
        typer.Option(
            "--for",
            help="What to provision for: oci-mcp (our server) or oracle-mcp (Oracle's "
            "official OCI MCP servers; see docs/oracle-mcp.md).",
        ),
    ] = "oci-mcp",
    service: Annotated[
        list[str],
        typer.Option(
            "--service",
            help="With --for oracle-mcp: a server, e.g. object-storage (repeatable; re-runs "
            "add services and keep the recorded ones).",
        ),
    ] = [],  # noqa: B006 - typer needs a literal default
    audience: Annotated[
        str | None,
        typer.Option(
            "--audience",
            help="With --for oracle-mcp: the resource app's primary audience "
            "[default: what .env records, else urn:oci-mcp:<owner>/].",
        ),
    ] = None,
    allow_group: Annotated[
        list[str],
        typer.Option(
            "--allow-group",
            help="Only members of this group may sign in: the app requires a grant and the "
            "group is granted it (repeatable; with --allow-user this is the whole allowed set; "
            "without either, a re-run keeps the recorded set). See `oci-mcp access`.",
        ),
    ] = [],  # noqa: B006 - typer needs a literal default
    allow_user: Annotated[
        list[str],
        typer.Option(
            "--allow-user",
            help="This user may sign in (repeatable; like --allow-group, for one user).",
        ),
    ] = [],  # noqa: B006 - typer needs a literal default
    env_file: EnvFileOpt = Path(".env"),
    config_file: ConfigFileOpt = None,
    profile: ProfileOpt = None,
    auth: AuthOpt = "config",
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Create or reconcile the OAuth app, JWKS access and trust; write .env. Safe to re-run."""
    from oci_mcp_cli.provisioning.init import InitOptions, plan_init

    admin = AdminFlags(env_file, config_file, profile, auth)
    plan = PlanFlags(dry_run, yes, json_out)
    if target not in ("oci-mcp", "oracle-mcp"):
        raise fail(UserError(f"--for must be oci-mcp or oracle-mcp (got {target!r})"))
    if target == "oci-mcp" and (service or audience):
        raise fail(UserError("--service/--audience need --for oracle-mcp"))
    interactive = is_interactive()
    options_class: type[InitOptions] = InitOptions
    extra: dict = {}
    if target == "oracle-mcp":
        from oci_mcp_cli.provisioning.oracle_init import OracleInitOptions, plan_oracle_init

        options_class, plan_init = OracleInitOptions, plan_oracle_init  # type: ignore[assignment]
        extra = {"services": list(service), "audience": audience}
    options = options_class(
        **extra,
        **admin._asdict(),
        domain_url=domain_url,
        domain_name=domain,
        server_url=server_url,
        redirect_path=redirect_path,
        app_name=app_name,
        exchange_app=exchange_app,
        trust=trust,
        client_claim=client_claim,
        prune=prune,
        open_jwks=open_jwks,
        adopt=adopt,
        allow_groups=list(allow_group),
        allow_users=list(allow_user),
    )
    ask = interactive and not plan.yes  # --yes never asks anything
    with cli_errors():
        with err.status("reading the identity domain …") as status:
            run = plan_init(
                options,
                choose_domain=paused(status, _choose_domain) if ask else None,
                confirm_jwks=paused(status, lambda: ask_yes_no(JWKS_QUESTION, True))
                if ask
                else None,
            )
        execute_plan(run.plan, plan, run.apply)
        finish(
            run.summary(show_secrets),
            plan,
            lambda: _render_summary(run, console_for(False), show_secrets),
        )
    if plan.dry_run:
        return
    if launch is None:
        launch = (
            ask
            and not plan.json_out
            and ask_yes_no("Launch `oci-mcp serve` and `oci-mcp test-client` now?", False)
        )
    if launch and target == "oracle-mcp":
        err.print("--launch is for oci-mcp's own server; start Oracle's with "
                  "`oci-mcp serve --oracle SERVICE`", markup=False)
    elif launch:
        _launch(admin.env_file, str(run.options.server_url))

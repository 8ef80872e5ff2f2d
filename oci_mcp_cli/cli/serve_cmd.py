"""`oci-mcp serve`: run the MCP server behind OCI IAM sign-in (thin: parse → service → run)."""

from pathlib import Path
from typing import Annotated

import typer

from oci_mcp_cli.cli.output import err, run

STORAGE_PASSWORD_ON_COMMAND_LINE = (
    "warning: the password in --storage is visible to other users of this machine (ps, shell "
    "history); put the URL in OCI_MCP_STORAGE in the .env (mode 0600) and leave --storage out"
)

# server.signers.DEFAULT_CACHE_SIZE, written out so that `--help` does not import the server
# (tests/test_cli_startup.py keeps the two equal).
DEFAULT_CACHE_SIZE = 256


def serve(
    env_file: Annotated[
        Path, typer.Option("--env-file", help="The .env written by init.")
    ] = Path(".env"),
    host: Annotated[
        str | None,
        typer.Option(
            "--host", help="Bind address (default: 127.0.0.1 for a loopback MCP_SERVER_URL)."
        ),
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", help="Port (default: the port of MCP_SERVER_URL).")
    ] = None,
    storage_dir: Annotated[
        Path | None,
        typer.Option(
            "--storage-dir",
            help="Where the encrypted OAuth state lives (default: FastMCP's, under FASTMCP_HOME).",
        ),
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option(
            "--storage",
            help="Shared OAuth state: file:///path (as --storage-dir) or "
            "redis://[:pw@]host:port/db / rediss://… for replicas behind a load balancer "
            "(default: OCI_MCP_STORAGE in .env).",
        ),
    ] = None,
    log_level: Annotated[
        str, typer.Option("--log-level", help="DEBUG, INFO, WARNING or ERROR.")
    ] = "INFO",
    cache_size: Annotated[
        int, typer.Option("--cache-size", help="Most per-user OCI signers kept in memory (LRU).")
    ] = DEFAULT_CACHE_SIZE,
    app_spec: Annotated[
        str | None,
        typer.Option(
            "--app",
            help="Your own FastMCP server to serve instead: path/server.py:mcp or module:attr "
            "(see `oci-mcp new`).",
        ),
    ] = None,
    allowed_redirect: Annotated[
        list[str],
        typer.Option(
            "--allowed-redirect",
            help="Redirect URI pattern MCP clients may register (repeatable; replaces the default "
            "policy: loopback on any port + the callbacks of client-config's clients; `default` "
            "stands for it).",
        ),
    ] = [],  # noqa: B006 - typer needs a literal default
    rate_limit: Annotated[
        float,
        typer.Option(
            "--rate-limit",
            help="Client registrations / sign-in starts per minute per client address (0: off).",
        ),
    ] = 60,
    rate_burst: Annotated[
        int, typer.Option("--rate-burst", help="Burst allowed by --rate-limit.")
    ] = 10,
    ipv6_rate_limit_prefix: Annotated[
        int,
        typer.Option(
            "--ipv6-rate-limit-prefix",
            help="IPv6 clients share a rate-limit bucket per network of this prefix length "
            "(1-128; IPv4 clients: one per address).",
        ),
    ] = 64,
    trusted_proxy: Annotated[
        list[str],
        typer.Option(
            "--trusted-proxy",
            help="Proxy address whose X-Forwarded-For names the client (repeatable; default: "
            "none, the peer address counts).",
        ),
    ] = [],  # noqa: B006
    allowed_host: Annotated[
        list[str],
        typer.Option(
            "--allowed-host", help="Host header accepted besides MCP_SERVER_URL's (repeatable)."
        ),
    ] = [],  # noqa: B006
    allowed_origin: Annotated[
        list[str],
        typer.Option("--allowed-origin", help="Browser Origin accepted besides MCP_SERVER_URL's."),
    ] = [],  # noqa: B006
    max_sessions_per_user: Annotated[
        int, typer.Option("--max-sessions-per-user", help="Open MCP sessions one user may keep.")
    ] = 16,
    tool_timeout: Annotated[
        float,
        typer.Option(
            "--tool-timeout",
            help="Seconds one tool call may take in all (token exchange, retries, OCI calls).",
        ),
    ] = 30,
    oci_workers: Annotated[
        int,
        typer.Option(
            "--oci-workers", help="Threads per tool for blocking OCI work (a bulkhead per tool)."
        ),
    ] = 8,
    revalidate_after: Annotated[
        float,
        typer.Option(
            "--revalidate-after",
            help="Re-check a cached user signer with the identity domain once it is this many "
            "seconds old (0: on every call).",
        ),
    ] = 300,
    revalidation_outage: Annotated[
        str,
        typer.Option(
            "--revalidation-outage",
            help="When the domain cannot be reached to revalidate: closed (fail the call) or "
            "open (keep using the cached signer).",
        ),
    ] = "closed",
    audit_log: Annotated[
        str,
        typer.Option(
            "--audit-log",
            help="The audit trail, one JSON object per tool call and security event: a file "
            "(appended, 0600), - for standard output, or off. While it is on, a tool call that "
            "ended well is recorded by its event alone (its `tool call` log line is DEBUG).",
        ),
    ] = "-",
    log_format: Annotated[
        str, typer.Option("--log-format", help="The ordinary log on stderr: text or json.")
    ] = "text",
    access_log: Annotated[
        bool,
        typer.Option(
            "--access-log/--no-access-log",
            help="uvicorn's access line for every request, tool calls included (default: a "
            "tool call's request is recorded once, by its audit event or its `tool call` line; "
            "every other request gets the access line).",
        ),
    ] = False,
    metrics_port: Annotated[
        str | None,
        typer.Option(
            "--metrics-port",
            envvar="OCI_MCP_METRICS_PORT",
            help="Port of the Prometheus /metrics listener, or off (default: OCI_MCP_METRICS_PORT "
            "in .env, else 9464, skipped with a warning when busy).",
            show_default=False,
        ),
    ] = None,
    metrics_host: Annotated[
        str | None,
        typer.Option(
            "--metrics-host",
            envvar="OCI_MCP_METRICS_HOST",
            help="Bind address of the metrics listener (default 127.0.0.1; another address "
            "exposes the metrics beyond this machine).",
        ),
    ] = None,
    oracle: Annotated[
        str | None,
        typer.Option(
            "--oracle",
            help="Run Oracle's official OCI MCP server for this service instead (e.g. "
            "object-storage) with <env>.oracle-<service> from `init --for oracle-mcp`.",
        ),
    ] = None,
    python: Annotated[
        str | None,
        typer.Option("--python", help="With --oracle: the Python ≥ 3.13 that has its package."),
    ] = None,
    install: Annotated[
        bool,
        typer.Option(
            "--install/--no-install",
            help="With --oracle: create the managed Python ≥ 3.13 venv / pip install the package "
            "when missing.",
        ),
    ] = True,
    as_published: Annotated[
        bool,
        typer.Option(
            "--as-published",
            help="With --oracle: start the server's entry point bare, without qualifying "
            "resource scopes at /authorize (sign-in then fails on a real domain; "
            "docs/oracle-mcp.md).",
        ),
    ] = False,
) -> None:
    """Serve {MCP_SERVER_URL}/mcp; its tools act on OCI as the signed-in user."""
    if oracle:
        from oci_mcp_cli.oracle.launcher import serve_oracle

        raise typer.Exit(
            run(serve_oracle, env_file, oracle, python=python, install=install,
                as_published=as_published, host=host, port=port, say=err.print)
        )
    from oci_mcp_cli.server.app import bind_metrics_socket, bind_socket
    from oci_mcp_cli.server.config import load_settings, port_mismatch_warning
    from oci_mcp_cli.server.storage import storage_password

    json_log = log_format.lower() == "json"

    def warn(line: str) -> None:
        start_up_warning(line, json_log=json_log)

    if storage_password(storage):  # --storage has no envvar: it was typed on the command line
        warn(STORAGE_PASSWORD_ON_COMMAND_LINE)

    settings = run(
        load_settings,
        env_file,
        host=host,
        port=port,
        storage_dir=storage_dir,
        storage=storage,
        log_level=log_level,
        cache_size=cache_size,
        allowed_redirects=allowed_redirect,
        rate_limit=rate_limit,
        rate_burst=rate_burst,
        ipv6_rate_limit_prefix=ipv6_rate_limit_prefix,
        trusted_proxies=trusted_proxy,
        allowed_hosts=allowed_host,
        allowed_origins=allowed_origin,
        max_sessions_per_user=max_sessions_per_user,
        tool_timeout=tool_timeout,
        oci_workers=oci_workers,
        revalidate_after=revalidate_after,
        revalidation_outage=revalidation_outage,
        audit_log=audit_log,
        log_format=log_format,
        access_log=access_log,
        metrics_port=metrics_port,
        metrics_host=metrics_host,
    )
    warning = port_mismatch_warning(settings, port)
    if warning:
        warn(warning)
    # Bind before the slow part (app import, domain discovery): a busy port fails at once.
    sock = run(bind_socket, settings.host, settings.port)
    try:
        metrics_sock, metrics_warning = run(bind_metrics_socket, settings)
    except BaseException:
        sock.close()
        raise
    if metrics_warning:
        warn(metrics_warning)
    try:
        user_app = None
        if app_spec:
            from oci_mcp_cli.scaffold.loader import load_app

            user_app = run(load_app, app_spec)
    except BaseException:
        sock.close()
        if metrics_sock is not None:
            metrics_sock.close()
        raise
    from oci_mcp_cli.server.app import run_server

    def built() -> None:  # only once discovery loaded: a failed start never claims to start
        replica = ""
        if settings.replica_mode:
            replica = f"; replica, storage {settings.storage_label}"
        say(
            f"starting {settings.server_url}/mcp (bind {settings.host}:{settings.port}"
            f"{replica}); health: {settings.server_url}/health"
        )
        if metrics_sock is not None:
            host, bound = metrics_sock.getsockname()[:2]
            host = f"[{host}]" if ":" in host else host
            say(f"metrics: http://{host}:{bound}/metrics")

    def say(line: str) -> None:
        if settings.log_format == "json":  # stderr stays one JSON object per line
            import logging

            logging.getLogger("oci_mcp.server").info(line)
        else:
            err.print(line, markup=False)

    run(run_server, settings, user_app, built, sock, metrics_sock)


def start_up_warning(line: str, *, json_log: bool) -> None:
    """One of ``serve``'s warnings before logging is set up, on standard error: as written, or
    with ``--log-format json`` a record as the server's JSON log writes it (level WARNING, the
    ``warning:`` prefix dropped), so that standard error stays one JSON object per line."""
    if not json_log:
        err.print(line, markup=False)
        return
    import sys

    from oci_mcp_cli.server.logs import log_record_line

    message = line.removeprefix("warning: ")
    sys.stderr.write(log_record_line("oci_mcp.server", "WARNING", message) + "\n")
    sys.stderr.flush()

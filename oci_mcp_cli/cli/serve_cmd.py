"""`oci-mcp serve`: run the MCP server behind OCI IAM sign-in (thin: parse → service → run)."""

from __future__ import annotations

from pathlib import Path

import typer

from oci_mcp_cli.cli.output import err, run
from oci_mcp_cli.server.signers import DEFAULT_CACHE_SIZE


def register(app: typer.Typer) -> None:
    """Attach the command to the root app."""

    @app.command("serve")
    def command(
        env_file: Path = typer.Option(Path(".env"), "--env-file", help="The .env written by init."),
        host: str | None = typer.Option(
            None, "--host", help="Bind address (default: 127.0.0.1 for a loopback MCP_SERVER_URL)."
        ),
        port: int | None = typer.Option(
            None, "--port", help="Port (default: the port of MCP_SERVER_URL)."
        ),
        storage_dir: Path | None = typer.Option(
            None,
            "--storage-dir",
            help="Where the encrypted OAuth state lives (default: FastMCP's, under FASTMCP_HOME).",
        ),
        storage: str | None = typer.Option(
            None,
            "--storage",
            help="Shared OAuth state: file:///path (as --storage-dir) or "
            "redis://[:pw@]host:port/db / rediss://… for replicas behind a load balancer "
            "(default: OCI_MCP_STORAGE in .env).",
        ),
        log_level: str = typer.Option("INFO", "--log-level", help="DEBUG, INFO, WARNING or ERROR."),
        cache_size: int = typer.Option(
            DEFAULT_CACHE_SIZE,
            "--cache-size",
            help="Most per-user OCI signers kept in memory (LRU).",
        ),
        app_spec: str | None = typer.Option(
            None,
            "--app",
            help="Your own FastMCP server to serve instead: path/server.py:mcp or module:attr "
            "(see `oci-mcp new`).",
        ),
        allowed_redirect: list[str] = typer.Option(
            [],
            "--allowed-redirect",
            help="Redirect URI pattern MCP clients may register (repeatable; replaces the default "
            "policy: loopback on any port + the callbacks of client-config's clients; `default` "
            "stands for it).",
        ),
        rate_limit: float = typer.Option(
            60,
            "--rate-limit",
            help="Client registrations / sign-in starts per minute per client address (0: off).",
        ),
        rate_burst: int = typer.Option(10, "--rate-burst", help="Burst allowed by --rate-limit."),
        trusted_proxy: list[str] = typer.Option(
            [],
            "--trusted-proxy",
            help="Proxy address whose X-Forwarded-For names the client (repeatable; default: "
            "none, the peer address counts).",
        ),
        allowed_host: list[str] = typer.Option(
            [], "--allowed-host", help="Host header accepted besides MCP_SERVER_URL's (repeatable)."
        ),
        allowed_origin: list[str] = typer.Option(
            [], "--allowed-origin", help="Browser Origin accepted besides MCP_SERVER_URL's."
        ),
        max_sessions_per_user: int = typer.Option(
            16, "--max-sessions-per-user", help="Open MCP sessions one user may keep."
        ),
        tool_timeout: float = typer.Option(
            30,
            "--tool-timeout",
            help="Seconds one tool call may take in all (token exchange, retries, OCI calls).",
        ),
        oci_workers: int = typer.Option(
            8, "--oci-workers", help="Threads per tool for blocking OCI work (a bulkhead per tool)."
        ),
        revalidate_after: float = typer.Option(
            300,
            "--revalidate-after",
            help="Re-check a cached user signer with the identity domain once it is this many "
            "seconds old (0: on every call).",
        ),
        revalidation_outage: str = typer.Option(
            "closed",
            "--revalidation-outage",
            help="When the domain cannot be reached to revalidate: closed (fail the call) or "
            "open (keep using the cached signer).",
        ),
        oracle: str | None = typer.Option(
            None,
            "--oracle",
            help="Run Oracle's official OCI MCP server for this service instead (e.g. "
            "object-storage) with <env>.oracle-<service> from `init --for oracle-mcp`.",
        ),
        python: str | None = typer.Option(
            None, "--python", help="With --oracle: the Python ≥ 3.13 that has its package."
        ),
        install: bool = typer.Option(
            True,
            "--install/--no-install",
            help="With --oracle: create the managed Python ≥ 3.13 venv / pip install the package "
            "when missing.",
        ),
        as_published: bool = typer.Option(
            False,
            "--as-published",
            help="With --oracle: start the server's entry point bare, without qualifying "
            "resource scopes at /authorize (sign-in then fails on a real domain; "
            "docs/oracle-mcp.md).",
        ),
    ) -> None:
        """Serve {MCP_SERVER_URL}/mcp; its tools act on OCI as the signed-in user."""
        if oracle:
            from oci_mcp_cli.oracle.launcher import serve_oracle

            raise typer.Exit(
                run(serve_oracle, env_file, oracle, python=python, install=install,
                    as_published=as_published, host=host, port=port, say=err.print)
            )
        from oci_mcp_cli.server.app import bind_socket
        from oci_mcp_cli.server.config import load_settings, port_mismatch_warning

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
            trusted_proxies=trusted_proxy,
            allowed_hosts=allowed_host,
            allowed_origins=allowed_origin,
            max_sessions_per_user=max_sessions_per_user,
            tool_timeout=tool_timeout,
            oci_workers=oci_workers,
            revalidate_after=revalidate_after,
            revalidation_outage=revalidation_outage,
        )
        warning = port_mismatch_warning(settings, port)
        if warning:
            err.print(warning, markup=False)
        # Bind before the slow part (app import, domain discovery): a busy port fails at once.
        sock = run(bind_socket, settings.host, settings.port)
        try:
            user_app = None
            if app_spec:
                from oci_mcp_cli.scaffold.loader import load_app

                user_app = run(load_app, app_spec)
        except BaseException:
            sock.close()
            raise
        from oci_mcp_cli.server.app import run_server

        def built() -> None:  # only once discovery loaded: a failed start never claims to start
            replica = ""
            if settings.replica_mode:
                replica = f"; replica, storage {settings.storage_label}"
            err.print(
                f"starting {settings.server_url}/mcp (bind {settings.host}:{settings.port}"
                f"{replica}); health: {settings.server_url}/health",
                markup=False,
            )

        run(run_server, settings, user_app, built, sock)

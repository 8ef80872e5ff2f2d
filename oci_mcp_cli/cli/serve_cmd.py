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
    ) -> None:
        """Serve {MCP_SERVER_URL}/mcp; its tools act on OCI as the signed-in user."""
        from oci_mcp_cli.server.app import bind_socket
        from oci_mcp_cli.server.config import load_settings, port_mismatch_warning

        settings = run(
            load_settings,
            env_file,
            host=host,
            port=port,
            storage_dir=storage_dir,
            log_level=log_level,
            cache_size=cache_size,
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
            err.print(
                f"starting {settings.server_url}/mcp (bind {settings.host}:{settings.port}); "
                f"health: {settings.server_url}/health"
            )

        run(run_server, settings, user_app, built, sock)

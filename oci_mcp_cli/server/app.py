"""Build and run the FastMCP server: OAuth proxy, UPST signer cache, tools, /health, call logs."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from oci_mcp_cli.server.config import ServerSettings

if TYPE_CHECKING:
    from oci_mcp_cli.server.startup import Prefetch

SERVER_NAME = "oci-mcp"
MCP_PATH = "/mcp"


def build_server(
    settings: ServerSettings,
    app: Any | None = None,
    *,
    tools: bool = True,
    prefetch: Prefetch | None = None,
) -> Any:
    """Attach auth, the signer cache, ``GET /health`` and call logging to ``app`` (or a new server).

    ``app`` is a user's own FastMCP instance (``serve --app module:attr``); the built-in tools are
    added when ``tools`` is true. Raises RemoteError when discovery cannot be fetched. The
    discovery document, the JWKS check and the signing key are worked out by ``prefetch``
    (``server.startup``; started here unless the caller started it earlier) while this imports.
    """
    from oci_mcp_cli.server.startup import Prefetch

    prefetch = prefetch or Prefetch(settings).start()
    from fastmcp import FastMCP
    from starlette.requests import Request
    from starlette.responses import JSONResponse

    from oci_mcp_cli.server.auth import LOGGER, build_auth, check_jwks
    from oci_mcp_cli.server.clients import Runtime, attach_runtime
    from oci_mcp_cli.server.imports import warm_imports
    from oci_mcp_cli.server.logs import tool_call_middleware
    from oci_mcp_cli.server.signers import (
        SignerCache,
        bounded_signer_class,
        token_exchange_factory,
    )
    from oci_mcp_cli.server.telemetry import build_telemetry
    from oci_mcp_cli.server.tools import register_tools

    # Ready before it says so: the SDK is imported here, before a request is accepted, and
    # later first imports (a user's tools) are serialized (server/imports.py).
    warm_imports()
    bounded_signer_class()
    auth = build_auth(settings, prefetch)
    telemetry = build_telemetry(settings)
    _report_to(telemetry, auth)
    problem = check_jwks(settings, prefetch)
    if problem:
        LOGGER.error(problem)
    if app is None:  # our icon, inline (the consent page would show FastMCP's remote logo)
        from mcp.types import Icon

        from oci_mcp_cli.server.oauth_guard import ICON_DATA_URI

        icon = Icon(src=ICON_DATA_URI, mime_type="image/svg+xml")
        app = FastMCP(SERVER_NAME, instructions=_INSTRUCTIONS, icons=[icon])
    mcp = app
    mcp.auth = auth
    cache = SignerCache(
        token_exchange_factory(
            settings.domain_url, settings.exchange_client_id, settings.exchange_client_secret
        ),
        max_size=settings.cache_size,
    )
    attach_runtime(mcp, Runtime(settings=settings, signers=cache, telemetry=telemetry))
    mcp.add_middleware(tool_call_middleware(telemetry))
    if tools:
        register_tools(mcp)

    @mcp.custom_route("/health", methods=["GET"])
    async def health(_: Request) -> JSONResponse:
        """``storage``: whether the OAuth state store answers (``503`` when it does not: no
        sign-in or call can succeed here, a load balancer should send traffic elsewhere)."""
        from oci_mcp_cli.server.storage import probe

        store = getattr(auth, "_client_storage", None)
        ok = store is None or await probe(store)
        body = {
            "status": "ok" if ok else "unavailable",
            "server": SERVER_NAME,
            "mcp_path": MCP_PATH,
            "storage": "ok" if ok else "unavailable",
        }
        return JSONResponse(body, status_code=200 if ok else 503)

    return mcp


def _report_to(telemetry: Any, auth: Any) -> None:
    """Hand ``telemetry`` to the OAuth proxy (sign-ins, revocations, rate limits) and its
    state store (storage operations, health gauge)."""
    auth.telemetry = telemetry
    store = getattr(auth, "_client_storage", None)
    telemetry.gauges.store = store
    guarded = getattr(store, "uncached", store)  # the ReadCache's backend (GuardedStore)
    if guarded is not None and hasattr(guarded, "backend"):
        guarded.telemetry = telemetry


def _telemetry_of(mcp: Any) -> Any:
    """The telemetry of a server built by :func:`build_server` (else None)."""
    from oci_mcp_cli.server.clients import runtime_of

    try:
        return runtime_of(mcp).telemetry
    except KeyError:
        return None


def http_app(settings: ServerSettings, mcp: Any) -> Any:
    """The Starlette app serving ``mcp`` at ``/mcp``: Host/Origin checked (DNS rebinding) on a
    loopback bind or when ``--allowed-host`` is given, open sessions capped per user, expired
    OAuth state culled at startup and every ``cull_interval_s``, a request the OAuth state store
    could not serve answered 503 (``StorageGate``). With shared storage (replica mode) MCP is
    stateless HTTP: a load balancer may send each request of a client to another replica."""
    from urllib.parse import urlsplit

    from starlette.middleware import Middleware

    from oci_mcp_cli.core.urls import is_loopback_host
    from oci_mcp_cli.server.oauth_guard import SessionCap, remember_host_origin_verdicts

    public = urlsplit(settings.server_url)
    guard_hosts = is_loopback_host(settings.host) or bool(settings.allowed_hosts)
    app = mcp.http_app(
        path=MCP_PATH,
        middleware=[
            Middleware(
                SessionCap,
                path=MCP_PATH,
                per_user=settings.max_sessions_per_user,
                telemetry=_telemetry_of(mcp),
            )
        ],
        stateless_http=True if settings.replica_mode else None,  # None: FastMCP's setting
        host_origin_protection=guard_hosts,
        allowed_hosts=[public.hostname or "", *settings.allowed_hosts] if guard_hosts else None,
        allowed_origins=(
            [f"{public.scheme}://{public.netloc}", *settings.allowed_origins]
            if guard_hosts
            else None
        ),
    )
    remember_host_origin_verdicts(app)  # FastMCP's check, once per (Host, Origin) seen
    route_mcp_first(app)
    store = getattr(mcp.auth, "_client_storage", None)  # FastMCP's name for client_storage
    if store is not None:
        _gate_storage(app, store, settings)
    if not settings.access_log:
        from oci_mcp_cli.server.logs import RequestLog

        app.add_middleware(RequestLog, mcp_path=MCP_PATH)  # outside StorageGate: its 503s too
    telemetry = _telemetry_of(mcp)
    if telemetry is not None and telemetry.tracer is not None:
        from oci_mcp_cli.server.tracing import TraceContext

        app.add_middleware(TraceContext)  # outermost: a client's traceparent parents it all
    return app


def route_mcp_first(app: Any) -> None:
    """Move the ``/mcp`` route to the front of ``app``'s routes: Starlette tries routes in order
    (a regex match each), and FastMCP lists the OAuth proxy's ten or so before it, so every MCP
    request paid for them. No other route serves that path, so no request changes its route."""
    routes = app.router.routes
    for index, route in enumerate(routes):
        if getattr(route, "path", None) == MCP_PATH:
            routes.insert(0, routes.pop(index))
            return


def on_shutdown(app: Any, action: Callable[[], None]) -> None:
    """Run ``action`` once the Starlette ``app``'s lifespan has shut down (after its own)."""
    from contextlib import asynccontextmanager

    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(starlette_app: Any) -> Any:
        try:
            async with inner(starlette_app) as state:
                yield state
        finally:
            action()

    app.router.lifespan_context = lifespan


def _gate_storage(app: Any, store: Any, settings: ServerSettings) -> None:
    """Answer 503 for requests the OAuth state store could not serve; cull its expired state at
    startup and every ``cull_interval_s``; close it with the app."""
    from contextlib import asynccontextmanager

    from oci_mcp_cli.server.storage import StateCuller, StorageGate

    app.add_middleware(StorageGate, label=getattr(store, "label", None))
    culler = StateCuller(store, settings.cull_interval_s)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(starlette_app: Any) -> Any:
        async with inner(starlette_app) as state:
            culler.start()
            try:
                yield state
            finally:
                await culler.stop()
                closer = getattr(store, "aclose", None)  # a Redis store's connection pool
                if closer is not None:
                    await closer()

    app.router.lifespan_context = lifespan
    app.state.oauth_state_culler = culler


def uvicorn_config(settings: ServerSettings, app: Any, graceful_s: int) -> Any:
    """uvicorn settings: ``X-Forwarded-*`` is trusted only from ``--trusted-proxy`` addresses
    (uvicorn's own default trusts it from 127.0.0.1)."""
    import uvicorn

    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        log_level=settings.log_level.lower(),
        access_log=settings.access_log,  # off: logs.RequestLog writes the line (http_app)
        timeout_graceful_shutdown=graceful_s,
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=list(settings.trusted_proxies) or None,
    )


def bind_socket(host: str, port: int) -> socket.socket:
    """``serve``'s listening TCP socket on ``host:port`` (bound before the slow startup, so a
    busy port fails at once); a UserError naming the address (and the flag ``--port``) when it
    cannot be bound. See ``core.ports.reserve_port`` (why ``IPPROTO_TCP`` and ``TCP_NODELAY``)."""
    from oci_mcp_cli.core.ports import reserve_port

    return reserve_port(host, port, option="--port")


def bind_metrics_socket(settings: ServerSettings) -> tuple[socket.socket | None, str]:
    """The metrics listener's socket for ``settings`` (None when metrics are off), bound before
    the slow startup like ``--port``'s, and a warning when the default port was busy (see
    ``server.metrics.bind_metrics``)."""
    if settings.metrics_port is None:
        return None, ""
    from oci_mcp_cli.server.metrics import bind_metrics

    return bind_metrics(
        settings.metrics_host, settings.metrics_port, explicit=settings.metrics_explicit
    )


def serve_metrics(mcp: Any, sock: socket.socket | None) -> Any:
    """Start the metrics listener of ``mcp`` (built by :func:`build_server`) on ``sock``; None
    when ``sock`` is None (metrics off)."""
    telemetry = _telemetry_of(mcp)
    if sock is None or telemetry is None:
        return None
    from oci_mcp_cli.server.metrics import start_metrics

    return start_metrics(telemetry, sock)


def run_server(
    settings: ServerSettings,
    app: Any | None = None,
    on_built: Callable[[], None] | None = None,
    sock: socket.socket | None = None,
    metrics_sock: socket.socket | None = None,
) -> None:
    """Configure logging, build the server (``on_built`` runs once discovery is loaded) and serve
    HTTP at ``/mcp`` until interrupted; on ``sock`` (see :func:`bind_socket`) when given, with
    metrics on ``metrics_sock`` (see :func:`bind_metrics_socket`) when given."""
    import uvicorn

    from oci_mcp_cli.server import tracing
    from oci_mcp_cli.server.logs import configure_logging
    from oci_mcp_cli.server.startup import Prefetch
    from oci_mcp_cli.server.telemetry import default_replica

    prefetch = Prefetch(settings).start()  # while the imports below run (server/startup.py)
    configure_logging(settings.log_level, settings.secrets, settings.log_format)
    warn_of_test_mode()
    exporting = tracing.install_from_env(default_replica())  # OTEL_* (docs/operations.md)
    metrics = None
    try:
        try:
            mcp = build_server(settings, app, prefetch=prefetch)
        except BaseException:
            if metrics_sock is not None:
                metrics_sock.close()
            raise
        metrics = serve_metrics(mcp, metrics_sock)
        if on_built is not None:
            on_built()
        asgi = http_app(settings, mcp)
        if exporting is not None:  # uvicorn re-raises SIGTERM after shutdown: flush before
            on_shutdown(asgi, exporting.close)
        server = uvicorn.Server(uvicorn_config(settings, asgi, 3))
        tune_collector()
        try:  # as uvicorn.run, which cannot take a bound socket
            server.run(sockets=[sock] if sock is not None else None)
        except KeyboardInterrupt:
            pass
        finally:
            if sock is not None:
                sock.close()
            if metrics is not None:
                metrics.stop()
            _close_runtime(mcp)
    finally:
        if exporting is not None:
            exporting.close()  # (when the lifespan never ran) flushes the spans still queued
    if not server.started:
        raise SystemExit(3)  # uvicorn's STARTUP_FAILURE; it logged why


TEST_MODE_WARNING = (
    "FASTMCP_TEST_MODE is set: FastMCP derives the signing key of the tokens this server issues "
    "with 10 PBKDF2 rounds instead of 1,000,000 — a switch for test suites; unset it on any "
    "server people sign in to"
)


def warn_of_test_mode() -> None:
    """Log :data:`TEST_MODE_WARNING` when ``FASTMCP_TEST_MODE`` is on (read as FastMCP reads it).
    A warning, not a refusal: test suites (this project's among them) start servers in it."""
    import logging

    from oci_mcp_cli.server.startup import fastmcp_test_mode

    if fastmcp_test_mode():
        logging.getLogger("oci_mcp.server").warning(TEST_MODE_WARNING)


#: Net new container objects between two generation-0 collections in ``serve`` (Python's is 700).
GC_GEN0_THRESHOLD = 5000


def tune_collector() -> None:
    """The cyclic garbage collector for serving (docs/benchmarks.md "Per-call cost at defaults
    (stop 20)"): what startup built (modules, classes, the SDK's tables: ≈ 130 000 objects) is
    frozen out of its passes (``gc.freeze``) — it is never garbage, yet every full collection
    walked all of it; and young objects are collected in batches of ``GC_GEN0_THRESHOLD`` — each
    collection walks the objects of the requests in flight, so fewer collections walk them
    fewer times (the garbage waiting for one stays bounded by the threshold). Objects made later
    are collected as before; cyclic garbage left by startup itself is kept (no ``gc.collect()``
    first: that would add ≈ 0.1 s to every start)."""
    import gc

    gc.freeze()
    gc.set_threshold(GC_GEN0_THRESHOLD, *gc.get_threshold()[1:])


_INSTRUCTIONS = (
    "Tools that read Oracle Cloud Infrastructure (OCI) as the signed-in user. Start with whoami; "
    "use list_compartments to find compartment OCIDs for list_buckets."
)


class ServerThread:
    """The server in a background thread of this process (demo and tests); ``stop()`` ends it.

    It serves on a socket bound before it starts, so no other process can take the port in
    between: ``sock`` (e.g. ``core.ports.reserve_port()``, held by the caller, who may start
    another ServerThread on it later; this one serves on a duplicate) or, without it, one bound
    here to ``settings.host:settings.port`` (see :func:`bind_socket`; a busy port fails at once).
    Startup is confirmed by uvicorn's own ``started`` flag (the socket is listening).
    Metrics are off unless ``settings.metrics_port`` is set (``load_settings(metrics_port=…)``;
    0 picks a free port): then :attr:`metrics_url` serves them.
    """

    def __init__(
        self, settings: ServerSettings, app: Any | None = None, *, sock: socket.socket | None = None
    ) -> None:
        import uvicorn

        self.settings = settings
        self.mcp = build_server(settings, app)
        self.app = http_app(settings, self.mcp)
        self._server = uvicorn.Server(uvicorn_config(settings, self.app, 2))
        self._given_sock = sock
        self._sock: socket.socket | None = None
        self._thread: Any = None
        self.port = settings.port  # the port served on, once started
        self._metrics: Any = None  # server.metrics.MetricsListener, when asked for

    def start(self, timeout: float = 30) -> ServerThread:
        import functools
        import threading

        from oci_mcp_cli.core.errors import RemoteError
        from oci_mcp_cli.core.waiting import poll_until

        if self._given_sock is not None:
            self._sock = self._given_sock.dup()  # uvicorn closes what it served on
        else:
            self._sock = bind_socket(self.settings.host, self.settings.port)
        self.port = int(self._sock.getsockname()[1])
        if self.settings.metrics_port is not None and self._metrics is None:
            from oci_mcp_cli.server.metrics import bind_metrics

            metrics_sock, _ = bind_metrics(
                self.settings.metrics_host, self.settings.metrics_port, explicit=True
            )
            self._metrics = serve_metrics(self.mcp, metrics_sock)
        run = functools.partial(self._server.run, sockets=[self._sock])
        self._thread = threading.Thread(target=run, name="oci-mcp-serve", daemon=True)
        self._thread.start()
        started = poll_until(
            lambda: self._server.started or not self._thread.is_alive(),
            timeout=timeout,
            interval=0.02,
        )
        if not started or not self._server.started:
            self._server.should_exit = True
            self._sock.close()
            if self._metrics is not None:
                self._metrics.stop()
                self._metrics = None
            raise RemoteError(
                f"the MCP server did not start on {self.settings.host}:{self.port}",
                hint="see the server's log above",
            )
        return self

    def request_stop(self) -> None:
        """Tell the server to exit without waiting (:meth:`stop` waits and frees the rest), so a
        caller can stop other servers at the same time (`oci-mcp demo`)."""
        self._server.should_exit = True

    def stop(self) -> None:
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._sock is not None:
            self._sock.close()  # already closed when uvicorn served on it
        if self._metrics is not None:
            self._metrics.stop()
            self._metrics = None
        _close_runtime(self.mcp)

    @property
    def metrics_url(self) -> str | None:
        """``http://host:port/metrics`` once started with metrics on, else None."""
        if self._metrics is None:
            return None
        return f"http://{self.settings.metrics_host}:{self._metrics.port}/metrics"

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _close_runtime(mcp: Any) -> None:
    """Free the server's tool pools and cached signers, and close its telemetry sinks, once it
    has stopped serving."""
    from oci_mcp_cli.server.clients import runtime_of

    try:
        runtime = runtime_of(mcp)
    except KeyError:
        return
    runtime.close()
    runtime.telemetry.close()

"""Traces: the OpenTelemetry SDK set up from the standard ``OTEL_*`` variables, and the W3C
trace context of an MCP HTTP request.

The spans themselves are started and ended in ``server/telemetry.py``'s instrumentation points
(one place); this module only decides whether there is anywhere to send them:

* :func:`install_from_env` (``serve``): when ``opentelemetry-sdk`` is installed (the
  ``oci-mcp[otel]`` extra) and ``OTEL_EXPORTER_OTLP_ENDPOINT`` /
  ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` / ``OTEL_TRACES_EXPORTER`` is set, it installs a
  ``TracerProvider`` (resource ``service.name`` from ``OTEL_SERVICE_NAME``, default ``oci-mcp``,
  and ``service.instance.id`` = the replica) with a ``BatchSpanProcessor`` and the OTLP/HTTP
  exporter, which read every other ``OTEL_*`` variable themselves (headers, timeouts, batch
  delay, sampler). The caller closes it (flush, then stop) when the server stops: uvicorn
  re-raises SIGTERM once it has shut down, so ``serve`` does it in the app's lifespan shutdown.
* :func:`active_tracer`: our tracer (``oci_mcp``) when a real ``TracerProvider`` is installed —
  by ``serve`` or by the application that embeds the server — else None: without one, the
  instrumentation points create no spans at all (not even no-op ones).
* :class:`TraceContext`: an ASGI middleware that makes a client's ``traceparent`` /
  ``tracestate`` headers the parent of the request's spans (FastMCP reads a parent only from
  the MCP ``_meta`` field, or from an already active span); installed only when tracing is on.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import Any

LOGGER = logging.getLogger("oci_mcp.server.tracing")
TRACER_NAME = "oci_mcp"
DEFAULT_SERVICE_NAME = "oci-mcp"
TRIGGERS = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_TRACES_EXPORTER",
)


def requested(env: dict[str, str] | None = None) -> bool:
    """Whether the environment asks for traces (see the module docstring);
    ``OTEL_SDK_DISABLED=true`` and ``OTEL_TRACES_EXPORTER=none`` say no."""
    env = dict(os.environ) if env is None else env
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if env.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return False
    return any(env.get(name, "").strip() for name in TRIGGERS)


class Exporting:
    """The installed ``TracerProvider``; :meth:`close` flushes and stops it (once)."""

    def __init__(self, provider: Any) -> None:
        self.provider = provider
        self._closed = False
        self._lock = threading.Lock()

    def close(self) -> None:
        """Export the spans still queued, then stop; never raises; later calls do nothing."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            self.provider.shutdown()
        except Exception:
            LOGGER.debug("traces: shutting the tracer provider down failed", exc_info=True)


def install_from_env(replica: str) -> Exporting | None:
    """Install the SDK's ``TracerProvider`` when the environment asks for traces (see the module
    docstring); return it (:meth:`Exporting.close` when the server stops), or None: not asked,
    or the SDK is not installed (one WARNING naming the extra to install)."""
    if not requested():
        return None
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        LOGGER.warning(
            "traces: OTEL_* variables ask for traces, but the OpenTelemetry SDK is not "
            "installed; serving without traces. Install it with: pip install 'oci-mcp[otel]'"
        )
        return None
    exporter = _exporter()
    if exporter is None:
        return None
    resource = Resource.create(
        {
            "service.name": os.environ.get("OTEL_SERVICE_NAME") or DEFAULT_SERVICE_NAME,
            "service.instance.id": replica,
        }
    )
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    LOGGER.info("traces: exporting spans (%s)", _destination())
    return Exporting(provider)


def _exporter() -> Any:
    """The span exporter ``OTEL_TRACES_EXPORTER`` names: ``otlp`` (the default; OTLP over HTTP
    with protobuf) or ``console`` (standard error); None (logged) for anything else."""
    name = os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() or "otlp"
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter(out=sys.stderr)
    if name != "otlp":
        LOGGER.warning(
            "traces: OTEL_TRACES_EXPORTER=%s is not supported (use otlp, console or none); "
            "serving without traces",
            name,
        )
        return None
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError:
        LOGGER.warning(
            "traces: the OTLP/HTTP exporter is not installed; serving without traces. "
            "Install it with: pip install 'oci-mcp[otel]'"
        )
        return None
    return OTLPSpanExporter()  # endpoint, headers, timeout: from OTEL_EXPORTER_OTLP_*


def _destination() -> str:
    """Where spans go, for the log: the endpoint only (headers carry credentials)."""
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    exporter = os.environ.get("OTEL_TRACES_EXPORTER", "otlp") or "otlp"
    return f"{exporter} → {endpoint}" if endpoint and exporter == "otlp" else exporter


def active_tracer() -> Any:
    """The ``oci_mcp`` tracer when a real (SDK) ``TracerProvider`` is installed, else None."""
    from opentelemetry import trace

    provider = trace.get_tracer_provider()
    if isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider)):
        return None
    return provider.get_tracer(TRACER_NAME)


class TraceContext:
    """ASGI middleware: the W3C trace context (``traceparent``, ``tracestate``) of an HTTP
    request becomes the current OpenTelemetry context while the request is served."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        carrier = {
            key.decode("latin-1"): value.decode("latin-1")
            for key, value in scope.get("headers") or ()
            if key in (b"traceparent", b"tracestate")
        }
        if "traceparent" not in carrier:
            await self.app(scope, receive, send)
            return
        from opentelemetry import context, propagate

        token = context.attach(propagate.extract(carrier))
        try:
            await self.app(scope, receive, send)
        finally:
            context.detach(token)

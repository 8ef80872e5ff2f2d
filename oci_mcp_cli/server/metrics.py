"""Prometheus metrics of one server, on a listener of their own (``serve --metrics-port``).

:class:`MetricsSink` is a :class:`~oci_mcp_cli.server.telemetry.Sink`: it counts and times what
the instrumentation points report, in a ``CollectorRegistry`` of its own (never the process-wide
default: several servers may run in one process), and reads :attr:`Telemetry.gauges` at each
scrape. :class:`MetricsListener` serves that registry at ``/metrics`` (Prometheus text format)
on its own socket, in a thread, so a scrape does not wait for the event loop.

Labels are bounded and name no one: tool, outcome, service, operation, HTTP status, reason,
backend, result — never a user name, user OCID, client id or address (cardinality, privacy;
tests/test_metrics.py scrapes and checks). Every metric is named ``oci_mcp_…`` with its unit
(``_seconds``, ``_total``); docs/operations.md ("Metrics") explains each one.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections import Counter as Tally
from collections.abc import Iterator, Mapping
from typing import Any

from oci_mcp_cli.server.telemetry import (
    RATE_LIMITED,
    REVALIDATION,
    REVOCATION,
    SESSION_CAP,
    SIGN_IN,
    STORAGE,
    TOKEN_EXCHANGE,
    Gauges,
    OciRequestRecord,
    Telemetry,
    ToolCallRecord,
)

LOGGER = logging.getLogger("oci_mcp.server.metrics")
DEFAULT_METRICS_PORT = 9464
DEFAULT_METRICS_HOST = "127.0.0.1"
METRICS_PATH = "/metrics"
# Seconds; up to the default tool deadline (30 s) and a bit past it.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class MetricsSink:
    """Counters and histograms fed by the telemetry hub; gauges read at scrape time."""

    def __init__(self, gauges: Gauges) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        reg, buckets = self.registry, LATENCY_BUCKETS
        self.tool_calls = Counter(
            "oci_mcp_tool_calls", "MCP tool calls by tool and outcome.", ["tool", "outcome"],
            registry=reg,
        )
        self.tool_seconds = Histogram(
            "oci_mcp_tool_call_duration_seconds", "Duration of MCP tool calls.", ["tool"],
            buckets=buckets, registry=reg,
        )
        self.oci_requests = Counter(
            "oci_mcp_oci_requests",
            "OCI API requests by service, operation and HTTP status (or timeout/connection/error"
            " when no answer came).",
            ["service", "operation", "status"], registry=reg,
        )
        self.oci_seconds = Histogram(
            "oci_mcp_oci_request_duration_seconds", "Duration of OCI API requests.",
            ["service", "operation"], buckets=buckets, registry=reg,
        )
        self.exchanges = Counter(
            "oci_mcp_token_exchanges", "Token exchanges for a new user signer, by outcome.",
            ["outcome"], registry=reg,
        )
        self.exchange_failures = Counter(
            "oci_mcp_token_exchange_failures", "Failed token exchanges by reason.", ["reason"],
            registry=reg,
        )
        self.exchange_seconds = Histogram(
            "oci_mcp_token_exchange_duration_seconds", "Duration of token exchanges.",
            buckets=buckets, registry=reg,
        )
        self.revalidations = Counter(
            "oci_mcp_revalidations", "Revalidations of cached signers by result.", ["result"],
            registry=reg,
        )
        self.sign_ins = Counter(
            "oci_mcp_sign_ins", "Tokens issued to MCP clients, by grant.", ["grant"], registry=reg
        )
        self.revocations = Counter("oci_mcp_revocations", "Token revocations.", registry=reg)
        self.rate_limited = Counter(
            "oci_mcp_rate_limited", "OAuth requests refused by the rate limit, by endpoint group.",
            ["group"], registry=reg,
        )
        self.session_cap = Counter(
            "oci_mcp_session_cap_refusals", "MCP sessions refused by the per-user session cap.",
            registry=reg,
        )
        self.storage_ops = Counter(
            "oci_mcp_storage_operations", "OAuth state store operations by backend and outcome.",
            ["backend", "operation", "outcome"], registry=reg,
        )
        self.storage_seconds = Histogram(
            "oci_mcp_storage_operation_duration_seconds", "Duration of OAuth state store "
            "operations.", ["backend", "operation"], buckets=buckets, registry=reg,
        )
        reg.register(_GaugeCollector(gauges))
        self._children: dict[tuple[Any, ...], Any] = {}

    def _child(self, metric: Any, *values: str) -> Any:
        """``metric.labels(*values)``, remembered: the label sets are bounded (module
        docstring), and ``labels()`` validates and locks on every call."""
        key = (metric, *values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child

    # -- Sink --

    def tool_call(self, record: ToolCallRecord) -> None:
        self._child(self.tool_calls, record.tool, record.outcome).inc()
        self._child(self.tool_seconds, record.tool).observe(record.duration_s)

    def oci_request(self, record: OciRequestRecord) -> None:
        status = str(record.status) if record.status is not None else (record.failure or "error")
        self._child(self.oci_requests, record.service, record.operation, status).inc()
        self._child(self.oci_seconds, record.service, record.operation).observe(record.duration_s)

    def event(self, kind: str, fields: Mapping[str, Any]) -> None:
        outcome = str(fields.get("outcome", "ok"))
        if kind == TOKEN_EXCHANGE:
            self._child(self.exchanges, outcome).inc()
            self.exchange_seconds.observe(float(fields.get("duration_s", 0.0)))
            if outcome != "ok":
                self._child(self.exchange_failures, str(fields.get("reason", "unknown"))).inc()
        elif kind == REVALIDATION:
            self._child(self.revalidations, outcome).inc()
        elif kind == STORAGE:
            backend, operation = str(fields.get("backend")), str(fields.get("operation"))
            self._child(self.storage_ops, backend, operation, outcome).inc()
            self._child(self.storage_seconds, backend, operation).observe(
                float(fields.get("duration_s", 0.0))
            )
        elif kind == SIGN_IN:
            self._child(self.sign_ins, str(fields.get("grant", "unknown"))).inc()
        elif kind == REVOCATION:
            self.revocations.inc()
        elif kind == RATE_LIMITED:
            self._child(self.rate_limited, str(fields.get("group", "unknown"))).inc()
        elif kind == SESSION_CAP:
            self.session_cap.inc()

    def exposition(self) -> bytes:
        """The registry in Prometheus text format."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry)


class _GaugeCollector:
    """Scrape-time values: signer cache, open sessions, breakers, storage health."""

    def __init__(self, gauges: Gauges) -> None:
        self.gauges = gauges

    def describe(self) -> list[Any]:
        return []  # unchecked: its families depend on which server parts exist

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        g = self.gauges
        if g.signers is not None:
            stats = g.signers.stats
            yield GaugeMetricFamily(
                "oci_mcp_signer_cache_size", "User signers cached now (signed-in users).",
                value=len(g.signers),
            )
            for name, value, text in (
                ("hits", stats.hits, "Signer cache lookups served from the cache."),
                ("misses", stats.misses, "Signer cache lookups that exchanged or revalidated."),
                ("evictions", stats.evictions, "Signers dropped for room or expiry."),
            ):
                yield CounterMetricFamily(f"oci_mcp_signer_cache_{name}", text, value=value)
        if g.sessions is not None:
            yield GaugeMetricFamily(
                "oci_mcp_open_sessions", "MCP sessions open now.", value=g.sessions.open_sessions()
            )
        if g.breakers is not None:
            yield GaugeMetricFamily(
                "oci_mcp_breakers", "Circuit breakers tracked (all users).", value=len(g.breakers)
            )
            open_ = GaugeMetricFamily(
                "oci_mcp_breakers_open",
                "Circuit breakers refusing calls now, by SDK client and operation (summed over "
                "users and regions).",
                labels=["client", "operation"],
            )
            # A breaker key is (user, client class, region, operation): the user is dropped.
            for (client, operation), count in Tally(
                (str(key[1]), str(key[-1])) for key in g.breakers.open_keys() if len(key) >= 3
            ).items():
                open_.add_metric([client, operation], count)
            yield open_
        if g.store is not None:
            backend = getattr(getattr(g.store, "uncached", g.store), "backend", "file")
            up = GaugeMetricFamily(
                "oci_mcp_storage_up",
                "1 while the OAuth state store answers (0 since an operation failed).",
                labels=["backend"],
            )
            up.add_metric([str(backend)], 0.0 if g.store.available is False else 1.0)
            yield up


class MetricsListener:
    """``GET /metrics`` of one sink on its own listening socket, served by a daemon thread."""

    def __init__(self, sock: socket.socket, sink: MetricsSink) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        from prometheus_client import CONTENT_TYPE_LATEST

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if self.path.split("?", 1)[0] != METRICS_PATH:
                    self._answer(404, b"not found: metrics are at /metrics\n", "text/plain")
                    return
                self._answer(200, sink.exposition(), CONTENT_TYPE_LATEST)

            def _answer(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return  # scrapes every few seconds: not worth a log line

        self.sock = sock
        self._server = ThreadingHTTPServer(sock.getsockname()[:2], Handler, bind_and_activate=False)
        self._server.socket.close()
        self._server.socket = sock
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
            name="oci-mcp-metrics", daemon=True,
        )

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def start(self) -> MetricsListener:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()


def bind_metrics(host: str, port: int, *, explicit: bool) -> tuple[socket.socket | None, str]:
    """The metrics listener's socket (bound now, like ``--port``'s), else ``(None, warning)``
    when the *default* port is busy: the server then runs without metrics. A port that was asked
    for explicitly raises the usual busy-port UserError (exit 2)."""
    from oci_mcp_cli.core.errors import UserError
    from oci_mcp_cli.core.ports import PORT_IN_USE, reserve_port

    try:
        return reserve_port(host, port, option="--metrics-port"), ""
    except UserError as exc:
        if explicit or PORT_IN_USE not in exc.message:
            raise
        return None, (
            f"warning: metrics are off: the default metrics port {host}:{port} is in use "
            "(pass --metrics-port with a free port, or --metrics-port off)"
        )


def start_metrics(telemetry: Telemetry, sock: socket.socket) -> MetricsListener:
    """Report ``telemetry`` as metrics served on ``sock`` (see :func:`bind_metrics`)."""
    sink = MetricsSink(telemetry.gauges)
    telemetry.add_sink(sink)
    return MetricsListener(sock, sink).start()

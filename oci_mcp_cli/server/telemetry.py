"""The server's instrumentation layer: what happened, as records handed to sinks.

One :class:`Telemetry` per server (``build_server`` makes it with :func:`build_telemetry` and
hands it to every part that reports). Its instrumentation points are context managers, each used
at exactly one call site:

========================================  =======================================================
``tool_call(tool, access, arguments)``    ``server/logs.py`` tool-call middleware; yields the
                                          :class:`ToolCallRecord` (the middleware sets
                                          ``outcome``); the record is *current* (a contextvar)
                                          for the whole call, worker threads included
``oci_request(service, operation, …)``    ``server/breakers.py`` ``BreakerBoard.guard``: every
                                          attempt of every OCI SDK call; yields the
                                          :class:`OciRequestRecord` (``answered(response)`` on
                                          success; failures are read from the exception)
``token_exchange(user)``                  ``server/signers.py`` ``SignerCache._build``
``revalidation(user)``                    ``server/signers.py`` ``SignerCache._revalidate``
``storage(operation, backend)``           ``server/storage.py`` ``GuardedStore._run``
========================================  =======================================================

and one-shot events through :meth:`Telemetry.event`: ``sign_in`` (``oauth_guard.py``: FastMCP
issued tokens for an authorization code or a refresh token), ``revocation``
(``revocation.py``), ``rate_limited`` and ``session_cap`` (``oauth_guard.py``).

Sinks (:class:`Sink`) receive finished records: ``tool_call(record)``, ``oci_request(record)``
(as each request ends, also outside a tool call) and ``event(kind, fields)`` (``kind`` one of
:data:`EVENT_KINDS`). A sink must be thread-safe and must not raise (a raising sink is logged
once and never fails the server's work). The audit trail (``server/audit.py``) is one sink; a
metrics sink observes durations and outcomes the same way; tracing starts and ends its spans
inside these same context managers.

**Spans.** When a real OpenTelemetry ``TracerProvider`` is installed (``server/tracing.py``:
``serve`` with the ``oci-mcp[otel]`` extra and ``OTEL_*`` variables, or an embedding
application), :attr:`Telemetry.tracer` is set and each instrumentation point is also a span:
``tool_call <tool>`` (a child of FastMCP's request span, deliberately not made current — see
:meth:`Telemetry._call_span`), ``<service>/<operation>`` (CLIENT: ``rpc.service``,
``rpc.method``, ``cloud.provider``, ``cloud.region``, ``http.response.status_code``,
``oci.opc_request_id``), ``token_exchange``, ``revalidation`` and ``storage <operation>``; the
spans inside a tool call are its children, in worker threads too (they run in a copy of the
call's context). A failure sets the span's status and ``error.type`` (the outcome, the HTTP
status or a :func:`failure_reason`; never an exception's message).

**Cost.** With no sink and no tracer (:attr:`Telemetry.active` false) every context manager
yields a throwaway record and does nothing else: no contextvar, no digest, no span, no clock read
(about 5 µs for a call with one OCI request and one storage operation; with the audit sink about
40 µs). ``active`` is the one switch.

**Gauges** a metrics sink reads on scrape are reachable from :attr:`Telemetry.gauges`
(:class:`Gauges`): ``signers`` (the ``SignerCache``: ``len()``, ``stats.hits`` / ``misses`` /
``evictions``), ``sessions`` (the ``SessionCap`` middleware: ``open_sessions()``), ``breakers``
(the ``BreakerBoard``: ``len()``, ``open_keys()`` — a key holds the user's OCID: count keys per
service and operation, never label by them) and ``store`` (the OAuth state store:
``available`` True/False/None, ``label``). Each is None until the server part exists
(``sessions`` once the HTTP app has built its middleware stack, i.e. after the first request).
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Protocol

LOGGER = logging.getLogger("oci_mcp.server.telemetry")

OUTCOMES = ("ok", "tool_error", "deadline", "breaker", "refused", "server_fault")
# A failed call's finer cause, in its audit event only (metrics keep the bounded OUTCOMES):
# ``not_granted``: refused, the app's access control does not grant the user (issue 20).
REASONS = ("not_granted",)
SIGN_IN = "sign_in"
TOKEN_EXCHANGE = "token_exchange"
REVALIDATION = "revalidation"
REVOCATION = "revocation"
RATE_LIMITED = "rate_limited"
SESSION_CAP = "session_cap"
STORAGE = "storage"
EVENT_KINDS = (SIGN_IN, TOKEN_EXCHANGE, REVALIDATION, REVOCATION, RATE_LIMITED, SESSION_CAP,
               STORAGE)


# --- records -------------------------------------------------------------------------------------


@dataclass
class OciRequestRecord:
    """One HTTP request to an OCI API (one attempt: a retried call makes several)."""

    service: str  # the SDK package, e.g. "object_storage", "identity"
    operation: str  # the SDK's operation name, e.g. "ListBuckets"
    region: str
    time: float = 0.0  # wall clock (epoch seconds) when it was sent
    status: int | None = None  # HTTP status; None when no answer came
    request_id: str | None = None  # the opc-request-id answered (else the one sent)
    duration_s: float = 0.0
    failure: str | None = None  # None (answered) | "timeout" | "connection" | "error"

    def answered(self, response: Any) -> None:
        """Take status and opc-request-id from an SDK ``Response``."""
        self.status = getattr(response, "status", None)
        self.request_id = getattr(response, "request_id", None) or self.request_id

    def failed(self, exc: BaseException) -> None:
        """Take what an SDK exception tells: a ``ServiceError`` carries ``status`` and
        ``request_id``; anything else is a timeout, a connection error or another error."""
        status = getattr(exc, "status", None)
        if isinstance(status, int):
            self.status = status
            self.request_id = getattr(exc, "request_id", None) or self.request_id
            return
        name = type(exc).__name__
        if "Timeout" in name or isinstance(exc, TimeoutError):
            self.failure = "timeout"
        elif "Connection" in name or isinstance(exc, ConnectionError) or name in (
            "RequestException",
        ):
            self.failure = "connection"
        else:
            self.failure = "error"


@dataclass
class ToolCallRecord:
    """One MCP tool call, as the audit trail reports it."""

    tool: str
    replica: str
    time: float  # wall clock (epoch seconds) when it started
    user: str | None = None  # the identity domain user name (token ``sub``)
    user_ocid: str | None = None
    domain: str | None = None  # the identity domain (display name, else its GUID)
    client_id: str | None = None  # the MCP client (its OAuth client id at this server)
    client_address: str | None = None  # its network address (host:port), as the access line
    arguments: dict[str, dict[str, Any]] = field(default_factory=dict)  # name → size, sha256
    outcome: str = "server_fault"  # one of OUTCOMES; the middleware sets it
    reason: str | None = None  # one of REASONS when the failure has one (audit only)
    duration_s: float = 0.0
    oci_requests: list[OciRequestRecord] = field(default_factory=list)


class Sink(Protocol):
    """Receives finished records (see the module docstring)."""

    def tool_call(self, record: ToolCallRecord) -> None: ...

    def oci_request(self, record: OciRequestRecord) -> None: ...

    def event(self, kind: str, fields: Mapping[str, Any]) -> None: ...


@dataclass
class Gauges:
    """What a metrics sink reads on scrape (None until that part of the server exists)."""

    signers: Any = None  # server.signers.SignerCache
    sessions: Any = None  # server.oauth_guard.SessionCap
    breakers: Any = None  # server.breakers.BreakerBoard
    store: Any = None  # the OAuth state store (storage.ReadCache / GuardedStore)


_CALL: contextvars.ContextVar[ToolCallRecord | None] = contextvars.ContextVar(
    "oci_mcp_tool_call", default=None
)


# The tool call's span and the span that was current when it started (FastMCP's request span).
_CALL_SPAN: contextvars.ContextVar[tuple[Any, Any] | None] = contextvars.ContextVar(
    "oci_mcp_tool_call_span", default=None
)


def current_call() -> ToolCallRecord | None:
    """The tool call being served (in worker threads too: the context is copied into them)."""
    return _CALL.get()


# --- the per-server hub --------------------------------------------------------------------------


class Telemetry:
    """The sinks of one server and its instrumentation points (see the module docstring)."""

    def __init__(
        self, sinks: list[Sink] | None = None, *, replica: str | None = None, tracer: Any = None
    ) -> None:
        self.sinks: list[Sink] = list(sinks or [])
        self.replica = replica or default_replica()
        self.tracer = tracer  # an OpenTelemetry Tracer, or None: no spans
        self.gauges = Gauges()
        self._failed_sinks: set[int] = set()

    @property
    def records_calls(self) -> bool:
        """Whether a sink writes every tool call down (the audit trail)."""
        for sink in self.sinks:  # noqa: SIM110 - one or two sinks, per call: a plain loop
            if getattr(sink, "records_calls", False):
                return True
        return False

    @property
    def active(self) -> bool:
        """Whether anything listens (a sink or a tracer); False makes every instrumentation
        point a no-op."""
        return bool(self.sinks) or self.tracer is not None

    def add_sink(self, sink: Sink) -> None:
        self.sinks.append(sink)

    def close(self) -> None:
        """Close the sinks that have ``close()`` (the server stopped)."""
        for sink in self.sinks:
            closer = getattr(sink, "close", None)
            if callable(closer):
                try:
                    closer()
                except Exception:
                    LOGGER.debug("closing a telemetry sink failed", exc_info=True)

    # -- delivery --

    def _deliver(self, method: str, *args: Any) -> None:
        for sink in self.sinks:
            try:
                getattr(sink, method)(*args)
            except Exception as exc:  # a sink never fails the server's work
                if id(sink) not in self._failed_sinks:
                    self._failed_sinks.add(id(sink))
                    LOGGER.warning(
                        "telemetry sink %s failed (%s); its later failures are not logged",
                        type(sink).__name__,
                        type(exc).__name__,
                    )

    def event(self, kind: str, /, **fields: Any) -> None:
        """Report a one-shot event (``kind``: one of :data:`EVENT_KINDS`)."""
        if self.sinks:
            fields.setdefault("time", time.time())
            fields.setdefault("replica", self.replica)
            self._deliver("event", kind, fields)

    # -- instrumentation points --

    @contextmanager
    def tool_call(
        self,
        tool: str,
        access: Any = None,
        arguments: Mapping[str, Any] | None = None,
        client_id: Callable[[], str | None] | None = None,
        client_address: str | None = None,
    ) -> Iterator[ToolCallRecord]:
        """One tool call of the user behind ``access`` (FastMCP's ``AccessToken``);
        ``client_id()`` names the MCP client (asked only when someone listens),
        ``client_address`` where it called from."""
        record = ToolCallRecord(tool=tool, replica=self.replica, time=0.0)
        if not self.active:
            yield record
            return
        record.time = time.time()
        record.user, record.user_ocid, record.domain = user_fields(
            getattr(access, "claims", None) or {}
        )
        record.client_id = client_id() if client_id else getattr(access, "client_id", None)
        record.client_address = client_address
        record.arguments = argument_digests(arguments or {})
        span = self._call_span(tool)
        token = _CALL.set(record)
        start = time.perf_counter()
        try:
            yield record
        finally:
            record.duration_s = time.perf_counter() - start
            _CALL.reset(token)
            if span is not None:
                _CALL_SPAN.reset(span[1])
                span[0].set_attribute("oci_mcp.outcome", record.outcome)
                if record.outcome != "ok":
                    _span_failed(span[0], record.outcome)
                span[0].end()
            self._deliver("tool_call", record)

    @contextmanager
    def oci_request(
        self, service: str, operation: str, region: str, request_id: str | None = None
    ) -> Iterator[OciRequestRecord]:
        """One OCI request; ``request_id``: the opc-request-id sent (kept when none comes
        back). Call ``record.answered(response)`` on success; a raised exception is read by
        :meth:`OciRequestRecord.failed`."""
        record = OciRequestRecord(service, operation, region, request_id=request_id)
        if not self.active:
            yield record
            return
        with self._span(f"{service}/{operation}", lambda: {
            "rpc.system": "oci",
            "rpc.service": service,
            "rpc.method": operation,
            "cloud.provider": "oracle_cloud",
            "cloud.region": region,
        }, client=True) as span:
            record.time = time.time()
            start = time.perf_counter()
            try:
                yield record
            except BaseException as exc:
                record.failed(exc)
                raise
            finally:
                record.duration_s = time.perf_counter() - start
                if span is not None:
                    _annotate_oci_span(span, record)
                call = _CALL.get()
                if call is not None:
                    call.oci_requests.append(record)  # list.append: safe across worker threads
                self._deliver("oci_request", record)

    # The three below hand out ``_timed``'s context manager itself (no generator of their own
    # around it: the storage one runs on every HTTP request).

    def token_exchange(self, user: str | None) -> AbstractContextManager[dict[str, Any]]:
        """A token exchange for a new signer (``token_exchange`` event: outcome ok/failed,
        reason, duration)."""
        return self._timed(TOKEN_EXCHANGE, user=user)

    def revalidation(self, user: str | None) -> AbstractContextManager[dict[str, Any]]:
        """A cached signer's revalidation (``revalidation`` event); the caller sets
        ``fields["outcome"]`` to ``refused`` / ``unavailable`` / ``fail_open`` when it was not
        confirmed."""
        return self._timed(REVALIDATION, user=user)

    def storage(self, operation: str, backend: str) -> AbstractContextManager[dict[str, Any]]:
        """One operation on the OAuth state store's backend (``file`` or ``redis``)."""
        return self._timed(STORAGE, operation=operation, backend=backend)

    @contextmanager
    def _timed(self, kind: str, **fields: Any) -> Iterator[dict[str, Any]]:
        if not self.active:
            yield fields
            return
        name = f"{kind} {fields['operation']}" if kind == STORAGE else kind
        with self._span(
            name, lambda: {f"oci_mcp.{k}": v for k, v in fields.items() if k != "user" and v}
        ) as span:
            fields["time"] = time.time()
            start = time.perf_counter()
            try:
                yield fields
            except BaseException as exc:
                fields.setdefault("outcome", "failed")
                fields.setdefault("reason", failure_reason(exc))
                raise
            finally:
                fields.setdefault("outcome", "ok")
                fields["duration_s"] = time.perf_counter() - start
                fields["replica"] = self.replica
                if span is not None:
                    span.set_attribute("oci_mcp.outcome", str(fields["outcome"]))
                    if fields["outcome"] not in ("ok", "fail_open"):
                        _span_failed(span, str(fields.get("reason") or fields["outcome"]))
                self._deliver("event", kind, fields)

    def _call_span(self, tool: str) -> tuple[Any, Any] | None:
        """Start the tool call's span, a child of the current one (FastMCP's request span), but
        *not* made current: FastMCP enriches its request span only while that is the current
        one (else it opens a second SERVER span). The spans inside the call find it through
        :data:`_CALL_SPAN` (see :meth:`_span`). ``(span, contextvar token)`` or None."""
        if self.tracer is None:
            return None
        from opentelemetry import trace

        parent = trace.get_current_span()
        span = self.tracer.start_span(f"tool_call {tool}", attributes={"gen_ai.tool.name": tool})
        return span, _CALL_SPAN.set((span, parent))

    def _span(
        self, name: str, attributes: Callable[[], Mapping[str, Any]], *, client: bool = False
    ) -> AbstractContextManager[Any]:
        """A span (the current one while it runs) when a tracer is set, else None (a shared
        null context: nothing is built, ``attributes()`` is not called): a child of the
        current span, or of the tool call's span when the current one is the span the call
        started under. Exceptions are not recorded as events (their messages might carry what
        must not leave the process): the caller marks a failure with :func:`_span_failed`
        (status and ``error.type``) from its record."""
        if self.tracer is None:
            return _NO_SPAN
        return self._live_span(name, attributes(), client=client)

    @contextmanager
    def _live_span(
        self, name: str, attributes: Mapping[str, Any], *, client: bool
    ) -> Iterator[Any]:
        from opentelemetry import trace

        context = None
        call = _CALL_SPAN.get()
        if call is not None and trace.get_current_span() is call[1]:
            context = trace.set_span_in_context(call[0])
        with self.tracer.start_as_current_span(
            name,
            context=context,
            kind=trace.SpanKind.CLIENT if client else trace.SpanKind.INTERNAL,
            attributes=dict(attributes),
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            yield span


# --- helpers -------------------------------------------------------------------------------------

_NO_SPAN: AbstractContextManager[Any] = nullcontext()  # stateless: shared by every thread


def _span_failed(span: Any, error_type: str) -> None:
    """Mark ``span`` failed with a secret-free ``error.type``."""
    from opentelemetry.trace import Status, StatusCode

    span.set_attribute("error.type", error_type)
    span.set_status(Status(StatusCode.ERROR))


def _annotate_oci_span(span: Any, record: OciRequestRecord) -> None:
    """Status, opc-request-id and failure of one OCI request on its span."""
    if record.request_id:
        span.set_attribute("oci.opc_request_id", record.request_id)
    if record.status is not None:
        span.set_attribute("http.response.status_code", record.status)
        if record.status >= 400:
            _span_failed(span, str(record.status))
    elif record.failure:
        _span_failed(span, record.failure)


def default_replica() -> str:
    """This replica's name: ``OCI_MCP_REPLICA`` (e.g. a pod name), else ``host:pid``."""
    return os.environ.get("OCI_MCP_REPLICA") or f"{socket.gethostname()}:{os.getpid()}"


def user_fields(claims: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    """``(user name, user OCID, domain)`` from an identity domain token's claims."""
    name = claims.get("sub") or claims.get("user_displayname")
    domain = claims.get("domain") or claims.get("tenant")
    ocid = claims.get("user_ocid")
    return (
        str(name) if name else None,
        str(ocid) if ocid else None,
        str(domain) if domain else None,
    )


def argument_digests(arguments: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each argument as its size (bytes of its JSON form) and a SHA-256 prefix — never the value."""
    digests: dict[str, dict[str, Any]] = {}
    for name, value in arguments.items():
        try:
            data = json.dumps(value, sort_keys=True, default=str).encode()
        except (TypeError, ValueError):
            data = repr(value).encode()
        digests[str(name)] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()[:16]}
    return digests


def failure_reason(exc: BaseException) -> str:
    """A short, secret-free reason: ``http_<status>`` (an HTTP answer), ``timeout``,
    ``connection`` or the exception's class name."""
    cause: BaseException = getattr(exc, "cause", None) or exc  # SignerRefused & co. wrap one
    status = getattr(getattr(cause, "response", None), "status_code", None)
    if status is None:
        status = getattr(cause, "status", None)
    if isinstance(status, int):
        return f"http_{status}"
    name = type(cause).__name__
    if "Timeout" in name or isinstance(cause, TimeoutError):
        return "timeout"
    if "Connection" in name or isinstance(cause, ConnectionError):
        return "connection"
    return name


def build_telemetry(settings: Any) -> Telemetry:
    """The telemetry of a server with these settings: the audit sink when ``audit_log`` is set
    (``-`` = stdout, a path, None/``off`` = none), spans when a real OpenTelemetry
    ``TracerProvider`` is installed (``server/tracing.py``). Other sinks are added here."""
    from oci_mcp_cli.server.tracing import active_tracer

    telemetry = Telemetry(tracer=active_tracer())
    audit = getattr(settings, "audit_log", None)
    if audit and audit != "off":
        from oci_mcp_cli.server.audit import AuditSink

        telemetry.add_sink(AuditSink.open(audit))
    return telemetry


DISABLED = Telemetry()  # what a part reports to until a server hands it its own (no sinks)

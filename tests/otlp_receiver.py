"""An OTLP/HTTP trace receiver in the test process: ``POST /v1/traces`` with a protobuf
``ExportTraceServiceRequest`` (parsed with ``opentelemetry-proto``, which the exporter depends on),
on a free loopback port. Tests wait on a condition over the spans received, never sleep."""

from __future__ import annotations

import gzip
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Span:
    """One received span, flattened: ids as hex, attributes as Python values."""

    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_id: str
    attributes: dict[str, Any]
    status_code: int
    events: list[str]
    resource: dict[str, Any]


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


def _attributes(items: Any) -> dict[str, Any]:
    return {item.key: _value(item.value) for item in items}


@dataclass
class Receiver:
    url: str
    spans: list[Span] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def take(self, body: bytes, headers: dict[str, str]) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        spans = []
        for resource_spans in request.resource_spans:
            resource = _attributes(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for s in scope_spans.spans:
                    spans.append(Span(
                        name=s.name, kind=s.kind, trace_id=s.trace_id.hex(),
                        span_id=s.span_id.hex(), parent_id=s.parent_span_id.hex(),
                        attributes=_attributes(s.attributes), status_code=s.status.code,
                        events=[e.name for e in s.events], resource=resource,
                    ))
        with self._cond:
            self.spans.extend(spans)
            self.headers.append(headers)
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[list[Span]], bool], timeout: float = 60) -> list[Span]:
        """The spans received once ``predicate(spans)`` holds; AssertionError after ``timeout``."""
        with self._cond:
            if not self._cond.wait_for(lambda: predicate(self.spans), timeout=timeout):
                names = sorted({s.name for s in self.spans})
                raise AssertionError(f"the spans did not arrive in {timeout}s; got: {names}")
            return list(self.spans)


@contextmanager
def otlp_receiver() -> Iterator[Receiver]:
    """A running receiver; its ``url`` is an ``OTEL_EXPORTER_OTLP_ENDPOINT``."""
    receiver: Receiver | None = None

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            encoding = (self.headers.get("Content-Encoding") or "").lower()
            if encoding == "gzip":
                body = gzip.decompress(body)
            elif encoding == "deflate":
                body = zlib.decompress(body)
            if self.path != "/v1/traces" or receiver is None:
                self.send_response(404)
                self.end_headers()
                return
            receiver.take(body, {k.lower(): v for k, v in self.headers.items()})
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)

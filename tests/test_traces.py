"""Traces (issue 19 §3): `oci-mcp serve` as a real subprocess, configured only by the standard
``OTEL_*`` variables, exports one tool call's spans over OTLP/HTTP to a receiver in this process
(tests/otlp_receiver.py) — the client's W3C ``traceparent`` → FastMCP's MCP request span → our
tool-call span → the token exchange and the OCI request (with the ``opc-request-id`` the sandbox
answered) — and nothing secret rides along. Without an installed ``TracerProvider`` the
instrumentation points create no spans at all."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from oauth_flow import password
from otlp_receiver import Receiver, Span, otlp_receiver
from serve_support import (
    initialize_request,
    provisioned_sandbox,
    serve_process,
    sign_in,
    wait_healthy,
)

from oci_mcp_cli.core.envfile import load_env
from oci_mcp_cli.orchestration.serve_process import ServeProcess
from oci_mcp_cli.server import tracing
from oci_mcp_cli.server.telemetry import Telemetry

pytestmark = pytest.mark.e2e
ACCEPT = "application/json, text/event-stream"
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
SERVICE = "oci-mcp-traces-test"
REPLICA = "replica-7"
SERVER, CLIENT = 2, 3  # OTLP Span.SpanKind
STATUS_ERROR = 2  # OTLP Status.StatusCode


@dataclass
class Traced:
    sb: Any
    url: str
    receiver: Receiver
    log: Path
    data_key: str
    secrets: list[str]


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Traced]:
    tmp = tmp_path_factory.mktemp("traces")
    log = tmp / "serve.log"
    data_key = "dk-" + secrets.token_hex(16)  # stands in for an APM private data key
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    with otlp_receiver() as receiver, provisioned_sandbox(tmp) as (sb, env_file, url):
        env.update(
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url,
            OTEL_EXPORTER_OTLP_HEADERS=f"Authorization=dataKey%20{data_key}",
            OTEL_SERVICE_NAME=SERVICE,
            OTEL_BSP_SCHEDULE_DELAY="50",  # ms: export soon after a span ends
            OCI_MCP_REPLICA=REPLICA,
        )
        args = ["--env-file", str(env_file), "--storage-dir", str(tmp / "oauth"),
                "--log-level", "DEBUG"]
        with log.open("wb") as sink, serve_process(
            url, *args, env=env, stdout=sink, stderr=subprocess.STDOUT
        ):
            values = load_env(env_file)
            keys = ("IAM_CLIENT_SECRET", "IAM_TOKENEXCHANGE_CLIENT_SECRET", "MCP_JWT_SIGNING_KEY")
            yield Traced(sb, url, receiver, log, data_key,
                         [v for v in (values.get(k) for k in keys) if v])


def open_session(http: httpx.Client, url: str, token: str) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}", "Accept": ACCEPT}
    init = http.post(f"{url}/mcp", json=initialize_request("traces"), headers=headers)
    assert init.status_code == 200, init.text
    headers["mcp-session-id"] = init.headers["mcp-session-id"]
    done = http.post(f"{url}/mcp", headers=headers,
                     json={"jsonrpc": "2.0", "method": "notifications/initialized"})
    assert done.status_code == 202, done.text
    return headers


def in_trace(spans: list[Span], trace_id: str) -> dict[str, Span]:
    return {s.name: s for s in spans if s.trace_id == trace_id}


def test_one_tool_call_exports_its_spans_under_the_clients_trace(traced: Traced) -> None:
    """A ``tools/call get_namespace`` carrying a client ``traceparent``: FastMCP's SERVER span is
    the client span's child; our ``tool_call get_namespace`` span its child; the token exchange
    and the ``object_storage/GetNamespace`` CLIENT span (made in a bulkhead worker thread) are
    the tool call's children, with service, operation, region, status and the opc-request-id
    the sandbox answered; the resource names the service and the replica."""
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    with httpx.Client(timeout=60) as http:
        login = sign_in(http, traced.url, traced.url, "alice", password(traced.sb, "alice"))
        headers = open_session(http, traced.url, login.access_token)
        traced.sb.clear_requests()
        answer = http.post(
            f"{traced.url}/mcp",
            headers={**headers, "traceparent": f"00-{trace_id}-{parent}-01"},
            json={"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                  "params": {"name": "get_namespace", "arguments": {}}},
        )
    assert answer.status_code == 200 and '"isError":false' in answer.text, answer.text
    wanted = {"tools/call get_namespace", "tool_call get_namespace", "token_exchange",
              "object_storage/get_namespace"}
    spans = in_trace(traced.receiver.wait_for(
        lambda got: wanted <= set(in_trace(got, trace_id))), trace_id)

    request = spans["tools/call get_namespace"]
    assert (request.kind, request.parent_id) == (SERVER, parent)
    assert request.attributes["enduser.id"] == "alice"  # FastMCP's convention (documented)
    tool = spans["tool_call get_namespace"]
    assert tool.parent_id == request.span_id
    assert tool.attributes["oci_mcp.outcome"] == "ok"
    exchange = spans["token_exchange"]
    assert exchange.parent_id == tool.span_id
    assert exchange.attributes["oci_mcp.outcome"] == "ok"
    oci = spans["object_storage/get_namespace"]
    assert (oci.kind, oci.parent_id) == (CLIENT, tool.span_id)
    assert oci.attributes["rpc.service"] == "object_storage"
    assert oci.attributes["rpc.method"] == "get_namespace"
    assert oci.attributes["cloud.provider"] == "oracle_cloud"
    assert oci.attributes["cloud.region"] == "us-ashburn-1"
    assert oci.attributes["http.response.status_code"] == 200
    assert oci.resource["service.name"] == SERVICE
    assert oci.resource["service.instance.id"] == REPLICA

    logged = [r for r in traced.sb.requests()
              if r["method"] == "GET" and r["path"].rstrip("/").endswith("/n")
              and r.get("principal") == "alice"]
    assert len(logged) == 1, logged
    sent = oci.attributes["oci.opc_request_id"]
    # The sandbox answers "<the SDK's id>/<its own segment>" (as OCI does): the span holds
    # what the sandbox answered, not only what the SDK sent.
    assert re.fullmatch(r"[0-9A-F]{32}/[0-9A-F]{32}", sent), sent
    assert logged[0]["opc_request_id"] == sent  # the sandbox's stand-in for OCI Audit

    ours = [s for s in spans.values() if s.name != "tools/call get_namespace"]
    assert "alice" not in json.dumps([s.attributes for s in ours])  # user names: audit trail only
    storage = [s for s in traced.receiver.spans if s.name.startswith("storage ")]
    assert storage and {s.attributes["oci_mcp.backend"] for s in storage} == {"file"}

    # Nothing secret in any span (attributes, events, resource), the export's credentials
    # reached the receiver and nowhere else (not in the server's DEBUG log).
    exported = json.dumps([vars(s) for s in traced.receiver.spans], default=str)
    for secret in [login.access_token, login.refresh_token, traced.data_key, *traced.secrets]:
        assert secret not in exported
    assert not JWT.search(exported)
    assert {h.get("authorization") for h in traced.receiver.headers} == {
        f"dataKey {traced.data_key}"
    }
    log = traced.log.read_text(errors="replace")
    assert traced.data_key not in log
    assert f"traces: exporting spans (otlp → {traced.receiver.url})" in log


# A serve process whose Python lacks the OpenTelemetry SDK (a sitecustomize on PYTHONPATH hides
# it from that process only: this environment has the dev extra installed).
NO_SDK = """
import importlib.abc
import sys


class _Missing(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "opentelemetry.sdk" or name.startswith("opentelemetry.sdk."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _Missing())
"""


def test_without_the_sdk_serve_warns_once_and_serves(tmp_path: Path) -> None:
    """``OTEL_*`` set but the SDK missing: ``serve`` starts and answers, after one WARNING that
    names the extra to install — no traceback, nothing exported."""
    hooks = tmp_path / "no-sdk"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(NO_SDK)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(hooks), env.get("PYTHONPATH")) if p)
    log = tmp_path / "serve.log"
    with otlp_receiver() as receiver, provisioned_sandbox(tmp_path) as (_, env_file, url):
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.url
        args = ["--env-file", str(env_file), "--storage-dir", str(tmp_path / "oauth")]
        with log.open("wb") as sink, serve_process(
            url, *args, env=env, stdout=sink, stderr=subprocess.STDOUT
        ):
            assert httpx.get(f"{url}/health", timeout=30).status_code == 200
    said = log.read_text(errors="replace")
    warnings = [line for line in said.splitlines() if "OpenTelemetry SDK is not installed" in line]
    assert len(warnings) == 1 and "pip install 'oci-mcp[otel]'" in warnings[0], said[-2000:]
    assert "WARNING" in warnings[0] and "Traceback" not in said
    assert receiver.spans == []


def test_a_failed_oci_request_marks_its_span_without_the_message(traced: Traced) -> None:
    """An OCI request the sandbox answers 500 (a fault it injects: the sandbox cannot be made
    to fail GetNamespace otherwise): its span has the status, ``error.type`` = the status and
    ERROR status, no exception event; the tool call's span is failed too."""
    trace_id = secrets.token_hex(16)
    with httpx.Client(timeout=60) as http:
        login = sign_in(http, traced.url, traced.url, "bob", password(traced.sb, "bob"))
        headers = open_session(http, traced.url, login.access_token)
        traced.sb.fault("GET", "/n/", 500, count=10)
        try:
            answer = http.post(
                f"{traced.url}/mcp",
                headers={**headers, "traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"},
                json={"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                      "params": {"name": "get_namespace", "arguments": {}}},
            )
        finally:
            traced.sb.clear_faults()
    assert '"isError":true' in answer.text, answer.text
    spans = traced.receiver.wait_for(lambda got: any(
        s.trace_id == trace_id and s.name == "tools/call get_namespace" for s in got))
    oci = [s for s in spans if s.trace_id == trace_id and s.name == "object_storage/get_namespace"]
    assert oci, [s.name for s in spans if s.trace_id == trace_id]
    for span in oci:  # one per attempt (the SDK retries a 500)
        assert span.attributes["http.response.status_code"] == 500
        assert span.attributes["error.type"] == "500"
        assert span.status_code == STATUS_ERROR and span.events == []
    tool = in_trace(spans, trace_id)["tool_call get_namespace"]
    assert tool.status_code == STATUS_ERROR
    assert tool.attributes["oci_mcp.outcome"] != "ok"


def test_spans_still_queued_are_flushed_when_serve_stops(tmp_path: Path) -> None:
    """With a batch delay far longer than the test, the spans of a call reach the receiver only
    because ``serve`` shuts its ``TracerProvider`` down (flush) when it is stopped (SIGTERM)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    with otlp_receiver() as receiver, provisioned_sandbox(tmp_path) as (sb, env_file, url):
        env.update(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url, OTEL_BSP_SCHEDULE_DELAY="3600000")
        args = ["--env-file", str(env_file), "--storage-dir", str(tmp_path / "oauth")]
        with serve_process(url, *args, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL), httpx.Client(timeout=60) as http:
            login = sign_in(http, url, url, "alice", password(sb, "alice"))
            headers = open_session(http, url, login.access_token)
            answer = http.post(f"{url}/mcp", headers=headers, json={
                "jsonrpc": "2.0", "id": 2, "method": "tools/call",
                "params": {"name": "whoami", "arguments": {}}})
            assert '"isError":false' in answer.text, answer.text
            assert not any(s.name == "tool_call whoami" for s in receiver.spans)
        # serve_process has terminated (SIGTERM) and reaped the server: what arrived, arrived.
        names = {s.name for s in receiver.spans}
    assert {"tools/call whoami", "tool_call whoami", "token_exchange"} <= names, names


def test_the_container_entrypoint_passes_the_otel_variables_to_serve(tmp_path: Path) -> None:
    """What a pod runs, minus the container: the ``OTEL_*`` variables (the endpoint from the
    manifest, the headers from the Secret) reach ``serve`` through the entrypoint's exec, whose
    start-up spans (the OAuth state cull) arrive with the header; the private .env it writes
    holds no ``OTEL_*`` value."""
    data_key = "dk-" + secrets.token_hex(16)
    with otlp_receiver() as receiver, provisioned_sandbox(tmp_path) as (_, env_file, url):
        env_path = tmp_path / "run" / "oci-mcp" / ".env"
        environ = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("OCI_MCP_", "IAM_",
                                                                         "OTEL_"))},
            **load_env(env_file).values,
            "OCI_MCP_ENV_FILE": str(env_path),
            "FASTMCP_HOME": str(tmp_path / "fastmcp"),
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
            "OTEL_EXPORTER_OTLP_HEADERS": f"Authorization=dataKey%20{data_key}",
            "OTEL_SERVICE_NAME": "oci-mcp-pod",
            "OTEL_BSP_SCHEDULE_DELAY": "50",
        }
        command = [sys.executable, "-m", "oci_mcp_cli.deploy.entrypoint", "--host", "127.0.0.1",
                   "--port", url.rsplit(":", 1)[1]]
        with (tmp_path / "entrypoint.log").open("wb") as log:
            proc = subprocess.Popen(command, env=environ, stdout=log, stderr=subprocess.STDOUT)
            with ServeProcess(proc, url, stop_grace=15):
                wait_healthy(url, proc)
                spans = receiver.wait_for(lambda got: any(s.name.startswith("storage ")
                                                          for s in got))
    assert {s.resource["service.name"] for s in spans} == {"oci-mcp-pod"}
    assert {h.get("authorization") for h in receiver.headers} == {f"dataKey {data_key}"}
    assert "OTEL_" not in env_path.read_text()
    assert data_key not in (tmp_path / "entrypoint.log").read_text(errors="replace")


# --- without a TracerProvider: no cost ---------------------------------------------------------


def test_without_a_tracer_provider_nothing_is_traced() -> None:
    """This process installs no ``TracerProvider``: the server's telemetry has no tracer, and
    an instrumentation point (no sink either) creates no span — the current span stays the
    invalid one, so no span object is made, started or ended."""
    from opentelemetry import trace

    from oci_mcp_cli.server.telemetry import build_telemetry

    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    assert tracing.active_tracer() is None
    hub = build_telemetry(None)
    assert hub.tracer is None and not hub.active
    with hub.tool_call("whoami"), hub.oci_request("identity", "GetUser", "us-ashburn-1"):
        assert trace.get_current_span() is trace.INVALID_SPAN
    with hub.token_exchange("alice"), hub.storage("get", "file"):
        assert trace.get_current_span() is trace.INVALID_SPAN


def test_an_embedding_applications_provider_gets_the_spans() -> None:
    """An application that installed its own ``TracerProvider`` before building the server
    (in-process: ``ServerThread``, the pytest plugin) gets our spans, under its current span.
    In a child process: a provider is installed once per process."""
    code = textwrap.dedent("""
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from oci_mcp_cli.server.telemetry import build_telemetry

        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        hub = build_telemetry(None)
        with trace.get_tracer("app").start_as_current_span("app") as app:
            with hub.revalidation("alice") as report:
                report["outcome"] = "refused"
        (span, _) = exporter.get_finished_spans()
        assert span.name == "revalidation", span.name
        assert span.parent.span_id == app.get_span_context().span_id
        assert span.attributes["oci_mcp.outcome"] == "refused"
        assert span.status.status_code.name == "ERROR"
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, env={k: v for k, v in os.environ.items()
                                              if not k.startswith("OTEL_")})
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, False),
        ({"OTEL_SERVICE_NAME": "x"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"}, False),
    ],
)
def test_only_the_standard_variables_turn_traces_on(env: dict[str, str], expected: bool) -> None:
    assert tracing.requested(env) is expected


def test_a_span_of_a_tracer_handed_to_telemetry_has_no_exception_text() -> None:
    """With an SDK tracer (an in-memory exporter; not installed globally), a failing token
    exchange is one ERROR span whose ``error.type`` is the failure's kind — no exception event,
    so an exception's message (which could quote a response) never leaves the process."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    hub = Telemetry(tracer=provider.get_tracer("oci_mcp"))
    with pytest.raises(TimeoutError), hub.token_exchange("alice"):
        raise TimeoutError("secret-looking text")
    (span,) = exporter.get_finished_spans()
    assert span.name == "token_exchange" and span.events == ()
    assert span.attributes is not None
    assert span.attributes["error.type"] == "timeout"
    assert "alice" not in json.dumps(dict(span.attributes))  # user names stay in the audit trail
    assert span.status.status_code.name == "ERROR"

"""The instrumentation layer itself (``server/telemetry.py``): what its context managers hand to
sinks, in threads too, and that a failing sink never fails the work. The end-to-end proof with the
real server, SDK and sandbox is tests/test_audit.py; these pin the contract other sinks (metrics,
traces) build on."""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from oci_mcp_cli.server.telemetry import (
    REVALIDATION,
    OciRequestRecord,
    Telemetry,
    ToolCallRecord,
    current_call,
)


class Collect:
    def __init__(self) -> None:
        self.calls: list[ToolCallRecord] = []
        self.requests: list[OciRequestRecord] = []
        self.events: list[tuple[str, dict[str, Any]]] = []

    def tool_call(self, record: ToolCallRecord) -> None:
        self.calls.append(record)

    def oci_request(self, record: OciRequestRecord) -> None:
        self.requests.append(record)

    def event(self, kind: str, fields: Mapping[str, Any]) -> None:
        self.events.append((kind, dict(fields)))


class Broken(Collect):
    def tool_call(self, record: ToolCallRecord) -> None:
        raise RuntimeError("sink down")


class ServiceError(Exception):  # the shape of oci.exceptions.ServiceError the layer reads
    def __init__(self, status: int, request_id: str) -> None:
        super().__init__(status)
        self.status, self.request_id = status, request_id


def test_oci_requests_in_worker_threads_attach_to_their_call() -> None:
    sink = Collect()
    hub = Telemetry([sink], replica="r1")
    claims = {"sub": "alice", "user_ocid": "ocid1.user.oc1..a", "domain": "Default"}

    def work(operation: str) -> None:
        with hub.oci_request("identity", operation, "us-ashburn-1", "SENT") as record:
            record.answered(type("Response", (), {"status": 200, "request_id": "SENT/ANSWER"}))

    with hub.tool_call("t", type("Access", (), {"claims": claims})(), {"x": "secret"}) as call:
        context = contextvars.copy_context()  # as server/clients.py run_bounded does
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda op: context.copy().run(work, op), ["a", "b"]))
        call.outcome = "ok"
    assert current_call() is None
    [record] = sink.calls
    assert (record.user, record.user_ocid, record.domain, record.replica) == (
        "alice", "ocid1.user.oc1..a", "Default", "r1"
    )
    assert sorted(r.operation for r in record.oci_requests) == ["a", "b"]
    assert {r.request_id for r in record.oci_requests} == {"SENT/ANSWER"}
    assert "secret" not in repr(record.arguments) and record.arguments["x"]["size"] == 8


def test_failures_are_read_from_the_exception() -> None:
    sink = Collect()
    hub = Telemetry([sink])
    with pytest.raises(ServiceError), hub.oci_request("s", "op", "r", "SENT"):
        raise ServiceError(503, "SENT/SERVER")
    with pytest.raises(TimeoutError), hub.oci_request("s", "op", "r", "SENT2"):
        raise TimeoutError
    with pytest.raises(RuntimeError), hub.revalidation("bob") as report:
        report["outcome"] = "refused"
        raise RuntimeError("refused")
    first, second = sink.requests
    assert (first.status, first.request_id, first.failure) == (503, "SENT/SERVER", None)
    assert (second.status, second.request_id, second.failure) == (None, "SENT2", "timeout")
    [(kind, fields)] = sink.events
    assert kind == REVALIDATION and fields["outcome"] == "refused" and fields["user"] == "bob"


def test_a_failing_sink_never_fails_the_work_and_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    good = Collect()
    hub = Telemetry([Broken(), good])
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            with hub.tool_call("t"):
                pass
    assert len(good.calls) == 3
    assert len([r for r in caplog.records if "telemetry sink Broken failed" in r.getMessage()]) == 1


def test_without_sinks_nothing_is_recorded_or_made_current() -> None:
    hub = Telemetry()
    assert not hub.active
    with hub.tool_call("t", None, {"x": 1}) as call:
        assert current_call() is None and call.arguments == {}
        with hub.oci_request("s", "op", "r") as record:
            pass
    assert call.oci_requests == [] and record.time == 0.0

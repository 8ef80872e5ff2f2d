"""Benchmark: what the instrumentation costs per tool call, in-process (issue 19).

One :class:`~oci_mcp_cli.server.telemetry.Telemetry` per configuration — no sink, the audit sink
(to ``/dev/null``, flushed per line as on standard output), the metrics sink, both — and one
tool call with one storage operation and one OCI request through its context managers; the best
of 3 rounds of ``--calls`` calls, in µs per call. The end-to-end effect is in
``bench_e2e.py --no-observability`` (docs/benchmarks.md "Observability cost").

Run: ``python bench/bench_telemetry.py [--calls 20000]``.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from oci_mcp_cli.server.audit import AuditSink
from oci_mcp_cli.server.metrics import MetricsSink
from oci_mcp_cli.server.telemetry import Telemetry


class Access:
    """What FastMCP's ``AccessToken`` offers the tool-call point."""

    claims = {"sub": "alice", "user_ocid": "ocid1.user.oc1..aaaa", "domain": "Default"}
    client_id = "client-1"


class Response:
    status = 200
    request_id = "opc-request-1"


def one_call(telemetry: Telemetry) -> None:
    with telemetry.tool_call("get_namespace", Access(), {}, lambda: "client-1") as call:
        with telemetry.storage("get", "file"):
            pass
        with telemetry.oci_request("object_storage", "GetNamespace", "us-ashburn-1", "r1") as r:
            r.answered(Response())
        call.outcome = "ok"


def per_call_us(telemetry: Telemetry, calls: int) -> float:
    for _ in range(500):
        one_call(telemetry)
    start = time.perf_counter()
    for _ in range(calls):
        one_call(telemetry)
    return (time.perf_counter() - start) / calls * 1e6


def configured(audit: bool, metrics: bool) -> Telemetry:
    telemetry = Telemetry()
    if audit:
        telemetry.add_sink(AuditSink(open(os.devnull, "w"), label="null"))  # noqa: SIM115
    if metrics:
        telemetry.add_sink(MetricsSink(telemetry.gauges))
    return telemetry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=20000)
    args = parser.parse_args()
    configs: dict[str, Any] = {
        "no sink": (False, False), "audit": (True, False),
        "metrics": (False, True), "audit + metrics": (True, True),
    }
    for name, (audit, metrics) in configs.items():
        telemetry = configured(audit, metrics)
        best = min(per_call_us(telemetry, args.calls) for _ in range(3))
        print(f"{name:16} {best:6.1f} µs per call")
        telemetry.close()


if __name__ == "__main__":
    main()

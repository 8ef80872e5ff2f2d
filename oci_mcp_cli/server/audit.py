"""The audit trail: one JSON object per line for every tool call and every security event.

A :class:`~oci_mcp_cli.server.telemetry.Sink` (``serve --audit-log PATH|-|off``). Each line has
``event`` (``tool_call`` or an event kind of ``server/telemetry.py``), ``time`` (ISO 8601 UTC)
and ``replica``; the fields are documented in docs/operations.md ("Audit trail"). What goes in
is built from fixed fields only — names, OCIDs, ids, statuses, sizes and digests — never a
token, an authorization code, a secret or an argument's value.

A file is opened for appending, created 0600 (an existing one is narrowed to 0600),
line-buffered. A failed write never fails the work it reports: it is counted
(:attr:`AuditSink.failures`) and logged once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import stat
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from oci_mcp_cli.core.errors import UserError
from oci_mcp_cli.server.telemetry import STORAGE, OciRequestRecord, ToolCallRecord

LOGGER = logging.getLogger("oci_mcp.server.audit")
STDOUT = "-"
OFF = "off"
# What ``json.dumps(fields, separators=(",", ":"), default=str)`` builds on every call, once:
# the same lines, a quarter cheaper (stateless, so shared by every thread).
_ENCODER = json.JSONEncoder(separators=(",", ":"), default=str)


def iso_time(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="milliseconds")


def tool_call_fields(record: ToolCallRecord) -> dict[str, Any]:
    """The audit object of one tool call."""
    return {
        "event": "tool_call",
        "time": iso_time(record.time),
        "replica": record.replica,
        "user": record.user,
        "user_ocid": record.user_ocid,
        "domain": record.domain,
        "client_id": record.client_id,
        "client_address": record.client_address,
        "tool": record.tool,
        "outcome": record.outcome,
        "reason": record.reason,
        "duration_ms": round(record.duration_s * 1000, 3),
        "arguments": record.arguments,
        "oci_requests": [oci_request_fields(r) for r in list(record.oci_requests)],
    }


def oci_request_fields(record: OciRequestRecord) -> dict[str, Any]:
    """The audit object of one OCI request (field by field: ``dataclasses.asdict`` deep-copies,
    a quarter of the instrumentation's cost per call)."""
    return {
        "service": record.service,
        "operation": record.operation,
        "region": record.region,
        "time": iso_time(record.time),
        "status": record.status,
        "failure": record.failure,
        "duration_ms": round(record.duration_s * 1000, 3),
        "opc_request_id": record.request_id,
    }


class AuditSink:
    """JSON lines on ``stream`` (see the module docstring)."""

    records_calls = True  # every tool call has its event: the call's log line steps back

    def __init__(self, stream: IO[str], *, label: str, owned: bool = False) -> None:
        self.stream, self.label, self._owned = stream, label, owned
        self.failures = 0
        self._lock = threading.Lock()

    @classmethod
    def open(cls, target: str) -> AuditSink:
        """``-``: standard output; anything else: a file path (appended, 0600). A UserError
        names the path when it cannot be opened."""
        if target == STDOUT:
            return cls(sys.stdout, label="stdout")
        path = Path(target).expanduser()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            if stat.S_ISREG(os.fstat(fd).st_mode):  # not e.g. a FIFO read by a log shipper
                os.fchmod(fd, 0o600)
        except OSError as exc:
            raise UserError(
                f"cannot open the audit log {path}: {exc.strerror or exc}",
                hint="pass a writable file with --audit-log, `-` for standard output, or off",
            ) from None
        return cls(os.fdopen(fd, "a", buffering=1, encoding="utf-8"), label=str(path), owned=True)

    def _write(self, fields: Mapping[str, Any]) -> None:
        line = _ENCODER.encode(fields) + "\n"
        try:
            with self._lock:
                self.stream.write(line)
                if not self._owned:
                    self.stream.flush()  # stdout may be a pipe (block-buffered)
        except (OSError, ValueError) as exc:  # full disk, closed pipe, closed file
            self.failures += 1
            if self.failures == 1:
                LOGGER.error(
                    "cannot write the audit log %s (%s); tool calls go on, later failures are "
                    "counted but not logged",
                    self.label,
                    type(exc).__name__,
                )

    def tool_call(self, record: ToolCallRecord) -> None:
        self._write(tool_call_fields(record))

    def oci_request(self, record: OciRequestRecord) -> None:
        """Reported inside its tool call's event."""

    def event(self, kind: str, fields: Mapping[str, Any]) -> None:
        if kind == STORAGE:  # per-request store traffic: metrics and traces, not the audit
            return
        body = dict(fields)
        if "time" in body:
            body["time"] = iso_time(float(body["time"]))
        if "duration_s" in body:
            body["duration_ms"] = round(float(body.pop("duration_s")) * 1000, 3)
        self._write({"event": kind, **body})

    def close(self) -> None:
        if self._owned:
            with contextlib.suppress(OSError):
                self.stream.close()

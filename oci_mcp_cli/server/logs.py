"""Server logging: one line per tool call, and a filter that keeps tokens and secrets out of logs.

The filter sits on the root handler, so it covers every logger that propagates (fastmcp, mcp,
uvicorn, httpx, oci): JWT-looking strings and the configured secrets are replaced before the record
is formatted, at every level including DEBUG.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from oci_mcp_cli.core.redact import redact as redact_jwts
from oci_mcp_cli.server.clients import call_scope, fastmcp_dependencies, timeout_error
from oci_mcp_cli.server.oauth_guard import jwt_claims

if TYPE_CHECKING:
    from oci_mcp_cli.server.telemetry import Telemetry

LOGGER = logging.getLogger("oci_mcp.server")
ACCESS_LOGGER = logging.getLogger("oci_mcp.access")
# The scope key under which gate.RequestGate hands a request's ``Covered`` to the tool-call
# middleware.
REQUEST_LOG_KEY = "oci_mcp.request_log"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# OAuth values that are secrets in their own right (auth codes, state / transaction ids bind a
# sign-in, PKCE verifiers, tokens): masked wherever they appear as URL or form parameters, e.g.
# the uvicorn access log line of ``GET /auth/callback?code=…&state=…``.
SECRET_PARAMS = (
    "code",
    "state",
    "txn_id",
    "csrf_token",
    "code_verifier",
    "access_token",
    "refresh_token",
    "id_token",
    "subject_token",
    "client_secret",
    "password",
)
PARAM_RE = re.compile(r"(?<![A-Za-z0-9_])(" + "|".join(SECRET_PARAMS) + r")=[^&\s\"'#]+")
# FastMCP's OAuth proxy logs transaction ids and authorization codes in prose, e.g.
# ``Starting OAuth transaction <txn_id> for client …``, ``… for transaction <txn_id>``,
# ``invalid transaction ID: <txn_id>``, ``Authorization code not found: <code>``.
PROSE_RE = re.compile(
    r"(?i)(\btransaction(?:\s+ID)?:?\s+|\bauthorization code(?:\s+[a-z]+){0,3}:\s*)"
    r"(?!\[redacted\])([A-Za-z0-9_~.+/=-]{6,})"
)


class RedactingFilter(logging.Filter):
    """Rewrite each record's message with JWTs and known secrets masked."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = tuple(s for s in secrets if s and len(s) >= 6)

    def redact(self, text: str) -> str:
        text = redact_jwts(text)
        text = PARAM_RE.sub(r"\1=[redacted]", text)
        text = PROSE_RE.sub(r"\1[redacted]", text)
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep the raw template only
            message = str(record.msg)
        record.msg = self.redact(message)
        record.args = None
        if record.exc_info:
            import traceback

            record.msg += "\n" + self.redact("".join(traceback.format_exception(*record.exc_info)))
            record.exc_info = None
            record.exc_text = None
        return True


class DuplicateToolErrorFilter(logging.Filter):
    """Drop FastMCP's ``Error calling tool …`` record for a ToolError (logged without a
    traceback): the call's own line (``outcome=error error=…``) already records it once.
    Unexpected exceptions keep FastMCP's ERROR record with its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.name == "fastmcp.server.server"
            and not record.exc_info
            and str(record.msg).startswith("Error calling tool")
        )


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``time`` (ISO 8601 UTC), ``level``, ``logger``, ``message``
    (the message as the redacting filter left it)."""

    def format(self, record: logging.LogRecord) -> str:
        import datetime as dt
        import json

        stamp = dt.datetime.fromtimestamp(record.created, dt.UTC)
        return json.dumps(
            {
                "time": stamp.isoformat(timespec="milliseconds"),
                "level": record.levelname,
                "logger": record.name,
                "message": record.getMessage(),
            }
        )


def configure_logging(
    level: str, secrets: Iterable[str] = (), log_format: str = "text"
) -> logging.Handler:
    """Route all logs to one stderr handler with the redacting filter (``log_format`` text or
    json: one object per line); returns the handler."""
    import fastmcp  # noqa: F401  (it installs its own handlers on import; replace them below)

    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(FORMAT))
    handler.addFilter(DuplicateToolErrorFilter())
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("fastmcp", "mcp", "uvicorn", "uvicorn.access", "uvicorn.error", "httpx", "oci"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(level)
    return handler


def tool_call_middleware(telemetry: Telemetry | None = None) -> Any:
    """A FastMCP middleware: one ``tool call: user=… tool=… outcome=… ms=… client=…`` line per
    call, which also stands for the call's HTTP request (``gate.RequestGate``), with
    ``error=…`` when it failed (INFO for expected errors, WARNING for timeouts and
    outages); the call reported to ``telemetry`` (``server/telemetry.py``: its outcome one of
    ``OUTCOMES``), and the call's deadline (``--tool-timeout``) around every tool, the user's
    own included (``server/clients.py``: ``call_scope``)."""
    from fastmcp.server.dependencies import get_access_token
    from fastmcp.server.middleware import Middleware
    from fastmcp.server.middleware.middleware import _dispatch_phase

    from oci_mcp_cli.server.telemetry import DISABLED

    hub = telemetry or DISABLED

    class ToolCallLog(Middleware):
        async def __call__(self, context: Any, call_next: Any) -> Any:
            """``on_call_tool`` for a ``tools/call``, straight through for anything else —
            what FastMCP's generic dispatch does for a middleware whose other hooks pass
            through, without building three handler wrappers per message. FastMCP runs the
            typed hook in the ``all`` and ``typed`` passes only (fastmcp 4.2.3,
            ``Middleware._dispatch_handler``), never in the ``outer`` one (a ``tools/call``
            that failed before the tool was dispatched)."""
            if context.method == "tools/call" and _dispatch_phase.get() != "outer":
                return await self.on_call_tool(context, call_next)
            return await call_next(context)

        async def on_call_tool(self, context: Any, call_next: Any) -> Any:
            access = get_access_token()
            user = (access.claims or {}).get("sub", "?") if access else "anonymous"
            tool = getattr(context.message, "name", "?")
            arguments = getattr(context.message, "arguments", None)
            peer = cover_access_line()
            with hub.tool_call(tool, access, arguments, mcp_client_id) as call:
                return await _logged_call(context, call_next, tool, user, call, peer)

    return ToolCallLog()


BACKSTOP_GRACE_S = 1.0


class Covered:
    """Whether a tool-call line stands for the request (set by the tool-call middleware)."""

    __slots__ = ("covered",)

    def __init__(self) -> None:
        self.covered = False


def access_line(scope: Any, status: int) -> None:
    """uvicorn's access line for ``scope`` (the same helpers, the same format)."""
    from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string

    ACCESS_LOGGER.info(
        '%s - "%s %s HTTP/%s" %d',
        get_client_addr(scope),
        scope["method"],
        get_path_with_query_string(scope),
        scope["http_version"],
        status,
    )


def cover_access_line() -> str:
    """Tell ``gate.RequestGate`` that the current request's tool-call line stands for it; the
    request's client address as the access line has it (``host:port``; ``-`` when unknown)."""
    try:
        scope: Any = fastmcp_dependencies().get_http_request().scope
    except RuntimeError:  # not an HTTP request (in-memory transport)
        return "-"
    mark = scope.get(REQUEST_LOG_KEY)
    if mark is not None:
        mark.covered = True
    client = scope.get("client")  # as uvicorn's get_client_addr
    return f"{client[0]}:{client[1]}" if client else "-"


def mcp_client_id() -> str | None:
    """The MCP client of the current request: ``client_id`` of the FastMCP access token it
    presented (verified by the auth middleware before any tool runs). FastMCP's
    ``AccessToken.client_id`` is the identity domain app's, the same for every client."""
    try:
        header = fastmcp_dependencies().get_http_request().headers.get("authorization", "")
    except RuntimeError:  # not an HTTP request (in-memory transport)
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    value = jwt_claims(token).get("client_id")
    return str(value) if value else None


async def _logged_call(
    context: Any, call_next: Any, tool: str, user: str, call: Any, peer: str = "-"
) -> Any:
    """Run one call under its deadline; log its line (``peer``: the client address) and set
    ``call.outcome``."""
    start = time.perf_counter()
    outcome, error, level = "error", "", logging.INFO
    try:
        with call_scope() as deadline:
            # Backstop for tools not run through ``bulkhead`` (those end at the deadline
            # themselves): an async tool is cancelled at it; a sync one in FastMCP's
            # threads cannot be, but its OCI work is bounded by the same deadline.
            budget = max(0.0, deadline - time.monotonic()) + BACKSTOP_GRACE_S
            try:
                async with asyncio.timeout(budget):
                    result = await call_next(context)
            except TimeoutError:
                raise timeout_error(tool, budget - BACKSTOP_GRACE_S) from None
        outcome = "error" if getattr(result, "is_error", False) else "ok"
        call.outcome = "tool_error" if outcome == "error" else "ok"
        return result
    except Exception as exc:
        fault = _import_fault(exc)
        failure = fault or exc
        call.outcome = call_outcome(failure)
        call.reason = call_reason(failure)
        error = _short(str(failure))
        expected = _is_tool_error(failure)
        level = logging.WARNING if getattr(failure, "oci_mcp_warning", not expected) else level
        if fault is not None:
            raise fault from None
        raise
    finally:
        ms = (time.perf_counter() - start) * 1000
        if error:
            LOGGER.log(
                level,
                "tool call user=%s tool=%s outcome=%s ms=%.0f client=%s error=%s",
                user,
                tool,
                outcome,
                ms,
                peer,
                error,
            )
        else:
            LOGGER.info(
                "tool call user=%s tool=%s outcome=%s ms=%.0f client=%s",
                user,
                tool,
                outcome,
                ms,
                peer,
            )


def call_outcome(exc: BaseException) -> str:
    """The audit outcome of a failed call: what ``errors.tool_error(outcome=…)`` tagged
    (``deadline``, ``breaker``, ``refused``, ``server_fault``), else ``tool_error`` for a
    ToolError and ``server_fault`` for anything unexpected (FastMCP wraps a tool's unexpected
    exception in a ToolError: its cause tells)."""
    tagged = getattr(exc, "oci_mcp_outcome", None)
    if tagged:
        return str(tagged)
    if not _is_tool_error(exc):
        return "server_fault"
    cause = exc.__cause__
    if cause is not None and not _is_tool_error(cause):
        return str(getattr(cause, "oci_mcp_outcome", None) or "server_fault")
    return "tool_error"


def call_reason(exc: BaseException) -> str | None:
    """The audit reason ``errors.tool_error(reason=…)`` tagged the failure (or its cause) with;
    only one of ``telemetry.REASONS`` (a bounded set)."""
    from oci_mcp_cli.server.telemetry import REASONS

    for error in (exc, exc.__cause__):
        reason = getattr(error, "oci_mcp_reason", None)
        if reason in REASONS:
            return str(reason)
    return None


def _import_fault(exc: BaseException) -> Exception | None:
    """The server-fault ToolError when an import failed inside the call (FastMCP wraps the
    tool's exception as the cause of its own); the half-imported modules are dropped
    (``server/imports.py``)."""
    from oci_mcp_cli.server.imports import import_failure, import_fault_error

    failure = import_failure(exc)
    return None if failure is None else import_fault_error(failure)


def _is_tool_error(exc: BaseException) -> bool:
    from fastmcp.exceptions import ToolError

    return isinstance(exc, ToolError)


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"

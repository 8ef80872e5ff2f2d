"""Server logging: one line per tool call, and a filter that keeps tokens and secrets out of logs.

The filter sits on the root handler, so it covers every logger that propagates (fastmcp, mcp,
uvicorn, httpx, oci): JWT-looking strings and the configured secrets are replaced before the record
is formatted, at every level including DEBUG.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from oci_mcp_cli.core.redact import redact as redact_jwts

if TYPE_CHECKING:
    from oci_mcp_cli.server.telemetry import Telemetry

LOGGER = logging.getLogger("oci_mcp.server")
ACCESS_LOGGER = logging.getLogger("oci_mcp.access")
# The scope key under which RequestLog hands a request's ``_Covered`` to the tool-call middleware.
REQUEST_LOG_KEY = "oci_mcp.request_log"
CLIENT_ID_MEMO_SIZE = 1024  # access tokens whose client_id is remembered (one per client)
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

# What every PARAM_RE match contains: the cheap tests before the search.
_PARAM_MARKERS = tuple(f"{name}=" for name in SECRET_PARAMS)


def _may_hold_param(text: str) -> bool:
    """Whether ``text`` can hold a PARAM_RE match (a plain loop: half a generator's cost)."""
    for marker in _PARAM_MARKERS:  # noqa: SIM110 - a loop: half the cost of any(generator)
        if marker in text:
            return True
    return False


def _may_hold_prose(text: str) -> bool:
    """Whether ``text`` can hold a PROSE_RE match: one of its literal words, ignoring case (for
    ASCII text exactly what the pattern's IGNORECASE compares; other text goes to the regex)."""
    if not text.isascii():
        return True
    lowered = text.lower()
    return "transaction" in lowered or "authorization code" in lowered


class RedactingFilter(logging.Filter):
    """Rewrite each record's message with JWTs and known secrets masked."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = tuple(s for s in secrets if s and len(s) >= 6)

    def redact(self, text: str) -> str:
        """Each pattern runs only on text that holds its literal part: the same result, and a
        line without any (a tool call's) costs substring tests instead of three searches."""
        if "eyJ" in text:
            text = redact_jwts(text)
        if _may_hold_param(text):
            text = PARAM_RE.sub(r"\1=[redacted]", text)
        if _may_hold_prose(text):
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


class TextFormatter(logging.Formatter):
    """:data:`FORMAT`, with the date and time of one second formatted once: the same text as
    ``logging.Formatter``'s, without a ``time.strftime`` for every line."""

    def __init__(self) -> None:
        super().__init__(FORMAT)
        self._second: tuple[int, str] = (-1, "")  # one tuple: threads read it whole

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        cached = self._second
        if cached[0] != second:
            stamp = time.strftime(self.default_time_format, self.converter(record.created))
            cached = self._second = (second, stamp)
        msec = self.default_msec_format
        return msec % (cached[1], record.msecs) if msec else cached[1]


def _no_caller(stack_info: bool = False, stacklevel: int = 1) -> tuple[str, int, str, None]:
    """``Logger.findCaller`` for the per-request loggers: no formatter of ours prints the
    caller, and finding it walks the stack (several calls per log line)."""
    return "(unknown file)", 0, "(unknown function)", None


for _logger in (LOGGER, ACCESS_LOGGER):
    _logger.findCaller = _no_caller  # type: ignore[method-assign]


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``time`` (ISO 8601 UTC), ``level``, ``logger``, ``message``
    (the message as the redacting filter left it)."""

    def format(self, record: logging.LogRecord) -> str:
        return _json_line(record.created, record.levelname, record.name, record.getMessage())


def log_record_line(logger: str, level: str, message: str) -> str:
    """A JSON log line as :class:`JsonFormatter` writes it, for lines written before logging is
    configured (``serve``'s start-up warnings)."""
    return _json_line(time.time(), level, logger, message)


def _json_line(created: float, level: str, logger: str, message: str) -> str:
    import datetime as dt
    import json

    stamp = dt.datetime.fromtimestamp(created, dt.UTC)
    return json.dumps(
        {
            "time": stamp.isoformat(timespec="milliseconds"),
            "level": level,
            "logger": logger,
            "message": message,
        }
    )


def configure_logging(
    level: str, secrets: Iterable[str] = (), log_format: str = "text"
) -> logging.Handler:
    """Route all logs to one stderr handler with the redacting filter (``log_format`` text or
    json: one object per line); returns the handler."""
    import fastmcp  # noqa: F401  (it installs its own handlers on import; replace them below)

    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(DuplicateToolErrorFilter())
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # No format of ours prints a record's thread, process or process name; collecting them
    # (``threading.current_thread()``, ``os.getpid()``, multiprocessing's current process) is
    # more than half of a record's construction (3.6 → 1.6 µs, measured), on every record.
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    for name in ("fastmcp", "mcp", "uvicorn", "uvicorn.access", "uvicorn.error", "httpx", "oci"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(level)
    return handler


def tool_call_middleware(telemetry: Telemetry | None = None) -> Any:
    """A FastMCP middleware: one ``tool call: user=… tool=… outcome=… ms=… client=…`` line per
    call, which also stands for the call's HTTP request (:class:`RequestLog`), with
    ``error=…`` when it failed (INFO for expected errors, WARNING for timeouts and
    outages; a call that ended well is logged at DEBUG while the audit trail records every
    call, its event standing for it); the call reported to ``telemetry``
    (``server/telemetry.py``: its outcome one of ``OUTCOMES``), and the call's deadline
    (``--tool-timeout``) around every tool, the user's own included (``server/clients.py``:
    ``call_scope``)."""
    from fastmcp.server.middleware import Middleware

    from oci_mcp_cli.server.telemetry import DISABLED

    hub = telemetry or DISABLED

    class ToolCallLog(Middleware):
        async def on_call_tool(self, context: Any, call_next: Any) -> Any:
            from fastmcp.server.dependencies import get_access_token

            access = get_access_token()
            user = (access.claims or {}).get("sub", "?") if access else "anonymous"
            tool = getattr(context.message, "name", "?")
            arguments = getattr(context.message, "arguments", None)
            peer = cover_access_line()
            address = None if peer == "-" else peer
            with hub.tool_call(tool, access, arguments, mcp_client_id, address) as call:
                return await _logged_call(
                    context, call_next, tool, user, call, peer, quiet_ok=hub.records_calls
                )

    return ToolCallLog()


BACKSTOP_GRACE_S = 1.0


class _Covered:
    """Whether a tool-call line stands for the request (set by the tool-call middleware)."""

    __slots__ = ("covered",)

    def __init__(self) -> None:
        self.covered = False


class RequestLog:
    """ASGI middleware, when uvicorn's access log is off (``serve``'s default): uvicorn's access
    line (``client - "METHOD path HTTP/v" status``, logger ``oci_mcp.access``, INFO) for every
    HTTP request except one that ran a tool — its ``tool call …`` line stands for it, instead of
    two lines per call. A ``POST`` to ``mcp_path`` (the only request that can run a tool) is
    logged when its response ends; every other request when its response starts, as uvicorn
    does. ``serve --access-log`` turns uvicorn's own line back on for every request."""

    def __init__(self, app: Any, mcp_path: str) -> None:
        self.app = app
        self.mcp_path = mcp_path

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not ACCESS_LOGGER.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        later = scope["method"] == "POST" and scope["path"] == self.mcp_path
        mark = scope[REQUEST_LOG_KEY] = _Covered()
        status = 0

        async def logged_send(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if not later:
                    _access_line(scope, status)
            await send(message)

        try:
            await self.app(scope, receive, logged_send)
        finally:
            if later and status and not mark.covered:
                _access_line(scope, status)


def _access_line(scope: Any, status: int) -> None:
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
    """Tell :class:`RequestLog` that the current request's tool-call line stands for it; the
    request's client address as the access line has it (``host:port``; ``-`` when unknown)."""
    from fastmcp.server.dependencies import get_http_request
    from uvicorn.protocols.utils import get_client_addr

    try:
        scope: Any = get_http_request().scope
    except RuntimeError:  # not an HTTP request (in-memory transport)
        return "-"
    mark = scope.get(REQUEST_LOG_KEY)
    if mark is not None:
        mark.covered = True
    return get_client_addr(scope) or "-"


def mcp_client_id() -> str | None:
    """The MCP client of the current request: ``client_id`` of the FastMCP access token it
    presented (verified by the auth middleware before any tool runs). FastMCP's
    ``AccessToken.client_id`` is the identity domain app's, the same for every client."""
    from fastmcp.server.dependencies import get_http_request

    try:
        header = get_http_request().headers.get("authorization", "")
    except RuntimeError:  # not an HTTP request (in-memory transport)
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    return _client_id_of(token)


@functools.lru_cache(maxsize=CLIENT_ID_MEMO_SIZE)
def _client_id_of(token: str) -> str | None:
    """``client_id`` of one of our access tokens (remembered: a client sends the same token
    with every call until it refreshes it)."""
    from oci_mcp_cli.server.oauth_guard import jwt_claims

    value = jwt_claims(token).get("client_id")
    return str(value) if value else None


async def _logged_call(
    context: Any,
    call_next: Any,
    tool: str,
    user: str,
    call: Any,
    peer: str = "-",
    *,
    quiet_ok: bool = False,
) -> Any:
    """Run one call under its deadline; log its line (``peer``: the client address) and set
    ``call.outcome``. ``quiet_ok``: the audit trail records every call, so a call that ended
    well is logged at DEBUG — one record per call in the operator's stream, as for every other
    request (``RequestLog``); a failed one keeps its line and its error at INFO or WARNING."""
    from oci_mcp_cli.server.clients import call_scope, timeout_error

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
            LOGGER.log(
                logging.DEBUG if quiet_ok and outcome == "ok" else logging.INFO,
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

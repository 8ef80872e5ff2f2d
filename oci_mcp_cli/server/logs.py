"""Server logging: one line per tool call, and a filter that keeps tokens and secrets out of logs.

The filter sits on the root handler, so it covers every logger that propagates (fastmcp, mcp,
uvicorn, httpx, oci): JWT-looking strings and the configured secrets are replaced before the record
is formatted, at every level including DEBUG.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable
from typing import Any

from oci_mcp_cli.server.errors import redact as redact_jwts

LOGGER = logging.getLogger("oci_mcp.server")
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


class RedactingFilter(logging.Filter):
    """Rewrite each record's message with JWTs and known secrets masked."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = tuple(s for s in secrets if s and len(s) >= 6)

    def redact(self, text: str) -> str:
        text = redact_jwts(text)
        text = PARAM_RE.sub(r"\1=[redacted]", text)
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


def configure_logging(level: str, secrets: Iterable[str] = ()) -> logging.Handler:
    """Route all logs to one stderr handler with the redacting filter; returns the handler."""
    import fastmcp  # noqa: F401  (it installs its own handlers on import; replace them below)

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(FORMAT))
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


def tool_call_middleware() -> Any:
    """A FastMCP middleware logging ``tool call: user=… tool=… outcome=… ms=…`` per call."""
    from fastmcp.server.middleware import Middleware

    class ToolCallLog(Middleware):
        async def on_call_tool(self, context: Any, call_next: Any) -> Any:
            from fastmcp.server.dependencies import get_access_token

            access = get_access_token()
            user = (access.claims or {}).get("sub", "?") if access else "anonymous"
            tool = getattr(context.message, "name", "?")
            start = time.perf_counter()
            outcome = "error"
            try:
                result = await call_next(context)
                outcome = "error" if getattr(result, "is_error", False) else "ok"
                return result
            finally:
                ms = (time.perf_counter() - start) * 1000
                LOGGER.info("tool call user=%s tool=%s outcome=%s ms=%.0f", user, tool, outcome, ms)

    return ToolCallLog()

"""Errors that the CLI renders as one clear message instead of a traceback."""

from __future__ import annotations

EXIT_FAILURE = 1
EXIT_USAGE = 2


class OciMcpError(Exception):
    """A failure we can explain: what failed, why, and how to fix it.

    ``exit_code`` is 2 for bad input (user mistakes) and 1 for everything else.
    """

    exit_code: int = EXIT_FAILURE

    def __init__(self, message: str, *, hint: str | None = None, exit_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  fix: {self.hint}"


class UserError(OciMcpError):
    """Bad input: a flag, a file or a value the user gave. Exit code 2."""

    exit_code = EXIT_USAGE


class RemoteError(OciMcpError):
    """A remote call failed (OCI, the identity domain, the MCP server). Exit code 1.

    ``request_id`` is the opc-request-id when the service returned one.
    """

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        request_id: str | None = None,
        status: int | None = None,
        exit_code: int | None = None,
    ):
        super().__init__(message, hint=hint, exit_code=exit_code)
        self.request_id = request_id
        self.status = status

    def __str__(self) -> str:
        text = self.message
        if self.request_id:
            text += f" (opc-request-id: {self.request_id})"
        if self.hint:
            text += f"\n  fix: {self.hint}"
        return text

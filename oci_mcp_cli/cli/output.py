"""Rendering helpers shared by all commands: consoles, JSON output, secret masking, error exits."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import typer
from rich.console import Console

from oci_mcp_cli.core.errors import OciMcpError

T = TypeVar("T")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class _State:
    debug: bool = False
    json: bool = False  # the running command got --json: a failure is one JSON object too
    json_emitted: bool = False  # stdout already carries the command's one JSON object


state = _State()


def emit_json(payload: Any) -> None:
    """Print exactly one JSON line on stdout."""
    sys.stdout.write(json.dumps(payload, default=str, sort_keys=False) + "\n")
    sys.stdout.flush()
    state.json_emitted = True


def json_mode(value: bool) -> bool:
    """The callback of every ``--json`` option (eager): from then on a failure is also printed
    as one JSON object on stdout (:func:`fail`)."""
    if value:
        state.json = True
    return value


def error_payload(exc: OciMcpError) -> dict[str, Any]:
    """The ``--json`` form of an error that stopped the command (never holds a secret)."""
    error: dict[str, Any] = {
        "type": exc.__class__.__name__,
        "message": exc.message,
        "hint": exc.hint,
        "exit_code": exc.exit_code,
    }
    request_id = getattr(exc, "request_id", None)
    if request_id:
        error["request_id"] = request_id
    return {"error": error}


def emit_error_json(payload: dict[str, Any]) -> None:
    """With ``--json`` and nothing on stdout yet: the error as the command's one JSON object."""
    if state.json and not state.json_emitted:
        emit_json(payload)


def fail(exc: OciMcpError) -> typer.Exit:
    """Print a clear error (no traceback unless --debug; with --json also as one JSON object on
    stdout) and return the Exit to raise."""
    emit_error_json(error_payload(exc))
    err.print(f"[bold red]error:[/] {exc.message}", markup=True, highlight=False)
    request_id = getattr(exc, "request_id", None)
    if request_id:
        err.print(f"  opc-request-id: {request_id}", markup=False)
    if exc.hint:
        err.print(f"  [bold]fix:[/] {exc.hint}")
    return typer.Exit(exc.exit_code)


@contextmanager
def cli_errors() -> Iterator[None]:
    """Turn OciMcpError into a one-line message + exit code; --debug shows the traceback."""
    try:
        yield
    except OciMcpError as exc:
        if state.debug:
            err.print_exception()
        raise fail(exc) from None
    except KeyboardInterrupt:
        raise interrupted() from None


def interrupted() -> typer.Exit:
    """Ctrl-C: say so (with --json also as the JSON error) and return the Exit(130) to raise."""
    emit_error_json(error_payload(OciMcpError("interrupted", exit_code=130)))
    err.print("interrupted")
    return typer.Exit(130)


def run(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call a service function under :func:`cli_errors`."""
    with cli_errors():
        return fn(*args, **kwargs)


def is_interactive() -> bool:
    """True when we may prompt: a TTY on stdin and not in CI."""
    import os

    return sys.stdin.isatty() and os.environ.get("CI", "").lower() not in ("1", "true", "yes")

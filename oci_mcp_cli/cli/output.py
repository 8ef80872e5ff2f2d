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


state = _State()


def emit_json(payload: Any) -> None:
    """Print exactly one JSON line on stdout."""
    sys.stdout.write(json.dumps(payload, default=str, sort_keys=False) + "\n")
    sys.stdout.flush()


def fail(exc: OciMcpError) -> typer.Exit:
    """Print a clear error (no traceback unless --debug) and return the Exit to raise."""
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
        err.print("interrupted")
        raise typer.Exit(130) from None


def run(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call a service function under :func:`cli_errors`."""
    with cli_errors():
        return fn(*args, **kwargs)


def is_interactive() -> bool:
    """True when we may prompt: a TTY on stdin and not in CI."""
    import os

    return sys.stdin.isatty() and os.environ.get("CI", "").lower() not in ("1", "true", "yes")

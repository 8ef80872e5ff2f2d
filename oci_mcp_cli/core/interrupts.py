"""Deferred Ctrl-C / SIGTERM for multi-step commands: the step in flight finishes (so its result
can be recorded), then the command stops with a clear message instead of dying mid-write.
A second signal stops at once (``KeyboardInterrupt``)."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType

from oci_mcp_cli.core.errors import OciMcpError

DEFERRED = (signal.SIGINT, signal.SIGTERM)


class Interrupted(OciMcpError):
    """Stopped by a signal between two steps; exit code 128 + the signal number (130, 143)."""

    def __init__(self, signum: int, message: str, *, hint: str | None = None):
        super().__init__(message, hint=hint, exit_code=128 + signum)
        self.signum = signum


@dataclass
class InterruptGuard:
    """What :func:`deferred_interrupts` received; :meth:`check` stops between steps."""

    received: int | None = None

    @property
    def name(self) -> str:
        return signal.Signals(self.received).name if self.received else ""

    def check(self, message: str, hint: str | None = None) -> None:
        """Raise :class:`Interrupted` (``message`` prefixed with the signal) if one arrived."""
        if self.received is not None:
            raise Interrupted(self.received, f"interrupted ({self.name}) {message}", hint=hint)


@contextmanager
def deferred_interrupts(note: str = "finishing the current step, then stopping") -> Iterator[
    InterruptGuard
]:
    """Within the block, SIGINT/SIGTERM only set ``guard.received`` (and print ``note`` on
    stderr); the caller checks the guard between steps. Outside the main thread (where handlers
    cannot be installed) signals keep their usual effect."""
    guard = InterruptGuard()
    if threading.current_thread() is not threading.main_thread():
        yield guard
        return

    def defer(signum: int, frame: FrameType | None) -> None:
        if guard.received is not None:
            raise KeyboardInterrupt  # the second one: stop now
        guard.received = signum
        # os.write: safe inside a signal handler (no buffered stream to re-enter)
        os.write(2, f"\n{signal.Signals(signum).name}: {note} (again to stop at once)\n".encode())

    previous = {signum: signal.signal(signum, defer) for signum in DEFERRED}
    try:
        yield guard
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

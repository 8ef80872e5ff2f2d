"""Run a command as our child and pass its exit status through (``oci-mcp sandbox exec``)."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Mapping, Sequence
from types import FrameType

from oci_mcp_cli.core.errors import UserError

#: Signals a supervisor sends to stop us; the child gets them too, so it never outlives us.
FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def run_passthrough(command: Sequence[str], env: Mapping[str, str]) -> int:
    """Run ``command`` with ``env`` and return its exit code the way a shell reports it
    (``128 + N`` when a signal N ended it). SIGTERM and SIGHUP sent to us are forwarded to the
    child; Ctrl-C reaches it through the terminal's process group, and we wait for its answer."""
    children: list[subprocess.Popen[bytes]] = []
    pending: list[int] = []

    def forward(signum: int, _frame: FrameType | None) -> None:
        if not children:
            pending.append(signum)  # arrived before the child started: sent right after
        elif children[0].poll() is None:
            children[0].send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in FORWARDED_SIGNALS}
    try:
        try:
            children.append(subprocess.Popen(list(command), env=dict(env)))
        except OSError as exc:
            raise UserError(
                f"cannot run {command[0]!r}: {exc.strerror}",
                hint="check the command name and your PATH",
            ) from None
        child = children[0]
        for signum in pending:
            child.send_signal(signum)
        while True:
            try:
                rc = child.wait()
                break
            except KeyboardInterrupt:  # the child got the same Ctrl-C: wait for its answer
                continue
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return rc if rc >= 0 else 128 - rc

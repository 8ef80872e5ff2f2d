"""core.interrupts: Ctrl-C/SIGTERM are deferred to the next step boundary; a second one stops at
once; outside the block the usual handlers are back."""

from __future__ import annotations

import os
import signal

import pytest

from oci_mcp_cli.core.interrupts import Interrupted, deferred_interrupts


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_waits_for_the_check_then_a_second_stops_at_once(signum: int) -> None:
    before = signal.getsignal(signum)
    with deferred_interrupts() as guard:
        guard.check("before anything")  # nothing received: no-op
        os.kill(os.getpid(), signum)  # handled on the next bytecode, in this (main) thread
        assert guard.received == signum  # deferred: the "step" goes on
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signum)
            signal.getsignal(signum)  # the handler runs here at the latest
        with pytest.raises(Interrupted) as stopped:
            guard.check("after step 'app'", "run it again")
    assert stopped.value.exit_code == 128 + signum
    assert stopped.value.message == f"interrupted ({signal.Signals(signum).name}) after step 'app'"
    assert signal.getsignal(signum) is before

"""The replica tests' own harness: HAProxy confirms it holds its port, or fails at once.

Found in a clean-clone run (stop 22): the proxy's port, free when provisioned, was taken by another
test before HAProxy started; haproxy exited ("Address already in use"), but the harness saw the
port open (the other process's) and waited 20 s for a /health that never came from the proxy.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from replica_support import HAProxy, listens

from oci_mcp_cli.core.ports import free_port, reserve_port, socket_port


def test_haproxy_on_a_taken_port_fails_at_start_with_its_reason(tmp_path: Path) -> None:
    with reserve_port() as thief:  # another process's listener, as far as haproxy can tell
        proxy = HAProxy(tmp_path, socket_port(thief), [socket_port(thief)])
        with pytest.raises(AssertionError, match="Address already in use"):
            proxy.start()
        proxy.stop()


def test_haproxy_holds_its_own_port(tmp_path: Path) -> None:
    with reserve_port() as backend:
        port = free_port()
        with HAProxy(tmp_path, port, [socket_port(backend)]) as proxy:
            assert proxy.proc is not None and listens(proxy.proc.pid, port)
            assert not listens(proxy.proc.pid, socket_port(backend))

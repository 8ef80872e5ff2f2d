"""Helpers for the shared-state tests: a real ``redis-server`` and ``haproxy`` (Debian packages,
installed by ``.ci/run``) on free loopback ports, ``oci-mcp serve`` replicas as subprocesses with
their own log files (the hand-driven OAuth sign-in they use is in ``serve_support``).

Missing binaries skip the test with the reason, except under ``CI=true`` where they fail it: CI
installs them, so their absence there is a broken pipeline, not an optional feature.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from conftest import need_tool

from oci_mcp_cli.core.ports import free_port

READY_TIMEOUT_S = 60
POLL_S = 0.05  # readiness poll interval
TOOL_CALL_EVENT = '{"event":"tool_call",'  # how a replica's audit line of a tool call starts


def require_binary(name: str) -> str:
    """The path of ``name``; skip the test when it is not installed (fail under ``CI=true``)."""
    return need_tool(name, f"the shared-state tests run it; Debian: apt-get install {name}")


def _eventually(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(POLL_S)
    raise AssertionError(f"timed out waiting for {what}")


def listens(pid: int, port: int) -> bool:
    """Whether process ``pid`` itself holds a listening TCP socket on ``port`` (``/proc``): a
    port merely open could be another process's."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
            inodes.add(fields[9])
    try:
        links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
    except OSError:  # the process is gone
        return False
    return any(link == f"socket:[{inode}]" for link in links for inode in inodes)


# --- Redis -----------------------------------------------------------------------------------


class RedisServer:
    """``redis-server`` on a free loopback port, its dump in ``directory`` (so a stop with
    ``SHUTDOWN SAVE`` and a start bring the same data back, like a restarted managed cache)."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.binary = require_binary("redis-server")
        self.directory = directory
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        directory.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> Any:
        import redis

        return redis.Redis(
            host="127.0.0.1", port=self.port, socket_timeout=5, decode_responses=True
        )

    def ping(self) -> bool:
        try:
            with self.client() as client:
                return bool(client.ping())
        except Exception:
            return False

    def start(self) -> RedisServer:
        self.proc = subprocess.Popen(
            [
                self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.directory), "--dbfilename", "dump.rdb",
                "--save", "", "--appendonly", "no", "--logfile", str(self.directory / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _eventually(lambda: self.ping() or self.proc.poll() is not None, 20, "redis-server")
        assert self.proc.poll() is None, (self.directory / "redis.log").read_text()
        return self

    def stop(self, save: bool = True) -> None:
        """``SHUTDOWN SAVE`` (the data comes back on start) or ``NOSAVE``; waits for the exit."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            with self.client() as client:
                client.shutdown(save=save, nosave=not save)
        except Exception:  # redis-py reports the dropped connection of a successful SHUTDOWN
            pass
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop(save=False)


# --- HAProxy ---------------------------------------------------------------------------------


HAPROXY_CONFIG = """\
global
    maxconn 2000

defaults
    mode http
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    # A request whose connection to a replica fails (a killed or restarting replica) is sent
    # to another one; a request already sent is never replayed.
    retries 3
    option redispatch 1
    retry-on conn-failure

frontend mcp
    bind 127.0.0.1:{port}
    option forwardfor
    default_backend replicas

backend replicas
    balance roundrobin
    option httpchk GET /health
    http-check send hdr Host 127.0.0.1
    default-server inter 300ms fall 2 rise 1
{servers}
"""


class HAProxy:
    """``haproxy`` in front of the replicas: round robin per request, no stickiness,
    ``X-Forwarded-For`` added, health-checked on ``/health``."""

    def __init__(self, directory: Path, port: int, backends: list[int]) -> None:
        self.binary = require_binary("haproxy")
        self.port = port
        self.config = directory / "haproxy.cfg"
        servers = "\n".join(
            f"    server r{i} 127.0.0.1:{p} check" for i, p in enumerate(backends)
        )
        self.config.write_text(HAPROXY_CONFIG.format(port=port, servers=servers))
        self.log = directory / "haproxy.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> HAProxy:
        check = subprocess.run(
            [self.binary, "-c", "-q", "-f", str(self.config)], capture_output=True, text=True
        )
        assert check.returncode == 0, check.stderr + check.stdout
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [self.binary, "-db", "-f", str(self.config)], stdout=log, stderr=log
            )
        proc = self.proc
        _eventually(lambda: proc.poll() is not None or listens(proc.pid, self.port), 20, "haproxy")
        assert proc.poll() is None, self.log.read_text()  # e.g. its port was taken meanwhile
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> HAProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- serve replicas ----------------------------------------------------------------------------


@dataclass
class Replica:
    """One ``oci-mcp serve`` process on its own port; its standard error and output (the audit
    trail) go to ``log`` (appended to across restarts)."""

    name: str
    port: int
    args: list[str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def launch(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "oci_mcp_cli", "serve", "--port", str(self.port)]
                + self.args,
                stdout=log,
                stderr=log,
            )

    def wait_ready(self) -> None:
        def ready() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited: {self.log.read_text()[-2000:]}")
            try:
                return httpx.get(self.base + "/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        _eventually(ready, READY_TIMEOUT_S, f"{self.name} /health")

    def stop(self) -> None:
        """Graceful stop (SIGTERM, as a rolling deployment does)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        """SIGKILL: no shutdown at all, in-flight requests are cut."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Cluster:
    """Sandbox + Redis + N replicas + HAProxy; ``url`` is MCP_SERVER_URL (the proxy)."""

    sb: Any
    env_file: Path
    url: str
    redis: RedisServer
    replicas: list[Replica]
    proxy: HAProxy
    tmp: Path
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=60))

    def log_marks(self) -> dict[str, int]:
        """Where each replica's log ends now (to count what a test adds)."""
        return {r.name: len(r.log_text()) for r in self.replicas}

    def tool_calls(self, since: dict[str, int] | None = None) -> dict[str, Counter[str]]:
        """Per replica: tool calls per user (the token's ``sub``) since ``since``, from the
        replica's audit trail (on its standard output, in the same log)."""
        found: dict[str, Counter[str]] = {}
        for replica in self.replicas:
            text = replica.log_text()[(since or {}).get(replica.name, 0):]
            events = [json.loads(line) for line in text.splitlines()
                      if line.startswith(TOOL_CALL_EVENT)]
            found[replica.name] = Counter(event["user"] for event in events)
        return found

    def grants(self, grant_type: str) -> int:
        """Token requests of ``grant_type`` the identity domain received (sandbox log)."""
        return sum(1 for r in self.sb.requests() if r.get("grant_type") == grant_type)

    def restart(self, replica: Replica) -> None:
        replica.stop()
        replica.launch()
        replica.wait_ready()


def serve_args(env_file: Path, storage: str, *extra: str) -> list[str]:
    return [
        "--env-file", str(env_file), "--storage", storage,
        "--trusted-proxy", "127.0.0.1", "--log-level", "INFO", *extra,
    ]


@contextmanager
def cluster(tmp: Path, replicas: int = 3, *extra: str) -> Iterator[Cluster]:
    """A provisioned sandbox, Redis, ``replicas`` serve processes and HAProxy at MCP_SERVER_URL
    (started in parallel, each confirmed by its /health)."""
    from serve_support import provisioned_sandbox

    from oci_mcp_cli.core.ports import reserve_port, socket_port

    # The proxy's port (MCP_SERVER_URL's) stays held by this process until HAProxy binds it:
    # released at provisioning, another test's free port could take it while the replicas start
    # (seen once: haproxy exited with "Address already in use" and /health answered elsewhere).
    hold = reserve_port()
    port = socket_port(hold)
    with (
        hold,
        provisioned_sandbox(tmp, port) as (sb, env_file, server_url),
        RedisServer(tmp / "redis") as rs,
    ):
        args = serve_args(env_file, rs.url, *extra)
        nodes = [
            Replica(f"r{i}", free_port(), args, tmp / f"replica-{i}.log") for i in range(replicas)
        ]
        try:
            for node in nodes:
                node.launch()
            for node in nodes:
                node.wait_ready()
            hold.close()
            with HAProxy(tmp, port, [n.port for n in nodes]) as proxy:
                _eventually(lambda: _proxy_healthy(server_url), 20, "the proxy's /health")
                c = Cluster(sb, env_file, server_url, rs, nodes, proxy, tmp)
                try:
                    yield c
                finally:
                    c.http.close()
        finally:
            for node in nodes:
                node.stop()


def _proxy_healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False



"""Run the sandbox: uvicorn in a background thread on a loopback port, readiness, clean stop.

``Sandbox`` is the Python API (context manager) used by tests and by ``oci-mcp sandbox``.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from pathlib import Path
from typing import Any

from oci_mcp_cli.core.errors import OciMcpError, UserError
from oci_mcp_cli.core.files import write_private
from oci_mcp_cli.core.urls import is_loopback_host
from oci_mcp_cli.sandbox.context import SandboxConfig, SandboxContext
from oci_mcp_cli.sandbox.store import StateStore

PROFILE = "SANDBOX"
CONFIG_FILE = "oci_config"
LOCK_FILE = "sandbox.lock"
READY_TIMEOUT_S = 30.0


def default_state_dir() -> Path:
    """Per-user data dir: e.g. ``~/.local/share/oci-mcp/sandbox``."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("oci-mcp")) / "sandbox"


def write_profile(path: Path, profile: str, entries: dict[str, str]) -> None:
    """Write a one-profile OCI config file (0600)."""
    lines = [f"[{profile}]", *(f"{key}={value}" for key, value in entries.items())]
    write_private(path, "\n".join(lines) + "\n")


def url_host(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


class StateDirLock:
    """An exclusive ``flock`` on ``<state dir>/sandbox.lock``, held while a sandbox runs.

    One sandbox per state dir: a second one would rewrite the first one's OCI config and state.
    The kernel drops the lock when its holder exits (even killed), so a stale file never blocks.
    """

    def __init__(self, state_dir: Path):
        self.state_dir = state_dir
        self.path = state_dir / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        import fcntl
        import os

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            os.close(fd)
            who = f" (pid {holder})" if holder.isdigit() else ""
            raise UserError(
                f"another sandbox{who} is already running on the state dir {self.state_dir}",
                hint="stop it (Ctrl-C), or give this one its own --state-dir",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        import fcntl
        import os

        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


class Sandbox:
    """A running sandbox. ``with Sandbox(state_dir=tmp) as sb: ...`` (see docs/sandbox.md)."""

    def __init__(
        self,
        state_dir: Path | str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        reset: bool = False,
        allow_remote: bool = False,
        **config: int,
    ):
        if not allow_remote and not is_loopback_host(host):
            raise UserError(
                f"refusing to serve the sandbox on non-loopback host {host!r}",
                hint="it serves plain http with test passwords; use 127.0.0.1, or pass "
                "--allow-remote if you really mean it",
            )
        unknown = set(config) - set(SandboxConfig.__dataclass_fields__)
        if unknown:
            raise TypeError(f"unknown sandbox config field(s): {', '.join(sorted(unknown))}")
        self.state_dir = Path(state_dir) if state_dir else default_state_dir()
        self.host, self.port, self.reset = host, port, reset
        self._fixed = port != 0
        self.ctx = SandboxContext(store=StateStore(self.state_dir), config=SandboxConfig(**config))
        self.profile = PROFILE
        self.config_file = str(self.state_dir / CONFIG_FILE)
        self._lock = StateDirLock(self.state_dir)
        self._server: Any = None
        self._thread: threading.Thread | None = None

    # lifecycle
    def start(self) -> Sandbox:
        """Lock the state dir (one sandbox per state dir), load or seed, listen, wait ready."""
        self._lock.acquire()  # before --reset or the config rewrite touch anything
        sockets: list[socket.socket] = []
        try:
            self._start(sockets)
        except BaseException:
            self.stop()
            for sock in sockets:
                sock.close()
            raise
        return self

    def _start(self, sockets: list[socket.socket]) -> None:
        import uvicorn

        from oci_mcp_cli.sandbox.app import build_app

        if self.reset:
            self.ctx.store.reset()
        self.ctx.store.load_or_seed()
        sock = self._bind(self.port)
        sockets.append(sock)
        self.port = sock.getsockname()[1]
        self.ctx.host = url_host(self.host)
        self.ctx.base_url = f"http://{self.ctx.host}:{self.port}"
        self.ctx.domain_ports.clear()
        with self.ctx.store.read() as state:
            guids = list(state.domains)
        for index, guid in enumerate(guids):  # fixed --port N: domains on N+1, N+2, ...
            domain_sock = self._bind(self.port + 1 + index if self.port and self._fixed else 0)
            sockets.append(domain_sock)
            self.ctx.domain_ports[guid] = domain_sock.getsockname()[1]
        self.write_oci_config()
        config = uvicorn.Config(
            build_app(self.ctx, self.info), log_level="warning", access_log=False, lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": sockets},
            name="oci-mcp-sandbox",
            daemon=True,
        )
        self._thread.start()
        self._wait_ready()

    def _bind(self, port: int) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, port))
        except OSError as exc:
            sock.close()
            raise UserError(
                f"cannot listen on {self.host}:{port}: {exc.strerror}",
                hint="pick another --port, or --port 0 for a free one",
            ) from exc
        sock.listen(128)
        sock.setblocking(False)
        return sock

    def _wait_ready(self) -> None:
        """Poll /_sandbox/health until it answers (the server thread dying is an error)."""
        import httpx

        deadline = time.monotonic() + READY_TIMEOUT_S
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self._thread is None or not self._thread.is_alive():
                    raise OciMcpError("the sandbox server stopped during start-up")
                if self._server.started:
                    with contextlib.suppress(httpx.HTTPError):
                        if client.get(f"{self.url}/_sandbox/health").status_code == 200:
                            return
                time.sleep(0.02)  # readiness poll interval
        raise OciMcpError(f"the sandbox did not become ready within {READY_TIMEOUT_S:.0f} s")

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None
        self._lock.release()

    def wait(self) -> None:
        """Block until the server stops (Ctrl-C raises KeyboardInterrupt here)."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=0.5)

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # what clients need
    @property
    def url(self) -> str:
        return self.ctx.base_url

    @property
    def tenancy_id(self) -> str:
        return self.ctx.store.state.tenancy_id

    @property
    def domains(self) -> list[dict[str, str]]:
        with self.ctx.store.read() as state:
            return [
                {
                    "display_name": d.display_name,
                    "url": self.ctx.domain_url(d.guid),
                    "type": d.type,
                    "guid": d.guid,
                }
                for d in state.domains.values()
            ]

    @property
    def users(self) -> list[dict[str, str]]:
        """The ordinary sign-in users (the admin, also a Default-domain user, is left out: it
        provisions with the profile's API key or :meth:`session_profile`)."""
        with self.ctx.store.read() as state:
            return [
                {"username": u.user_name, "password": u.password, "domain": d.display_name}
                for d in state.domains.values()
                for u in d.users.values()
                if not state.is_tenancy_admin(u.ocid)
            ]

    def info(self) -> dict[str, Any]:
        """The ``--json`` ready line."""
        with self.ctx.store.read() as state:
            home_region = state.home_region
        users = self.users  # each with its "domain": a user signs in to that domain only
        domains = [
            {**d, "users": [u["username"] for u in users if u["domain"] == d["display_name"]]}
            for d in self.domains
        ]
        return {
            "url": self.url,
            "config_file": self.config_file,
            "profile": self.profile,
            "tenancy_id": self.tenancy_id,
            "home_region": home_region,
            "domains": domains,
            "users": users,
        }

    def write_oci_config(self) -> None:
        """Write the OCI config profile (admin API key + ``oci_mcp_endpoint``); done every start."""
        from oci_mcp_cli.core.ociconfig import ENDPOINT_KEY

        with self.ctx.store.read() as state:
            key = next(k for k in state.api_keys if k.user_ocid == state.admin.ocid)
            entries = {
                "user": state.admin.ocid,
                "fingerprint": key.fingerprint,
                "tenancy": state.tenancy_id,
                "region": state.home_region,
                "key_file": str((self.state_dir / state.admin.private_key_file).resolve()),
                ENDPOINT_KEY: self.url,
            }
        write_profile(Path(self.config_file), self.profile, entries)

    def session_profile(
        self, username: str, profile: str = "SESSION", ttl_s: int = 3600
    ) -> tuple[str, str]:
        """A session-token profile for ``username``, laid out as ``oci session authenticate``
        writes one: ``sessions/<profile>/{token,oci_api_key.pem,oci_api_key_public.pem,config}``
        in the state dir (0600). The UPST is minted like the token exchange mints it (lifetime
        ``min(ttl_s, 3600, iamUpstSessionExpiry)``). Returns ``(config_file, profile)``."""
        from oci_mcp_cli.core.files import ensure_private_dir
        from oci_mcp_cli.core.ociconfig import ENDPOINT_KEY
        from oci_mcp_cli.sandbox import keys
        from oci_mcp_cli.sandbox.hooks import mint_session_token

        if not self.url:
            raise RuntimeError("start the sandbox before asking for a session profile")
        if not profile or any(c in profile for c in "[]\n\r/"):
            raise ValueError(f"invalid profile name {profile!r}")
        session_key = keys.new_rsa_key()
        token = mint_session_token(self.ctx, username, session_key.public_key(), ttl_s)
        folder = ensure_private_dir(self.state_dir / "sessions" / profile)
        token_file, key_file = folder / "token", folder / "oci_api_key.pem"
        write_private(token_file, token)
        write_private(key_file, keys.private_pem(session_key))
        write_private(folder / "oci_api_key_public.pem", keys.public_pem(session_key))
        with self.ctx.store.read() as state:
            tenancy, region = state.tenancy_id, state.home_region
        entries = {  # the keys `oci session authenticate` writes (no `user`), plus our endpoint
            "fingerprint": keys.fingerprint(session_key),
            "key_file": str(key_file.resolve()),
            "tenancy": tenancy,
            "region": region,
            "security_token_file": str(token_file.resolve()),
            ENDPOINT_KEY: self.url,
        }
        config_file = folder / "config"
        write_profile(config_file, profile, entries)
        return str(config_file), profile

    # test hooks over HTTP
    def _hook(self, method: str, path: str, json: Any = None) -> Any:
        import httpx

        response = httpx.request(method, f"{self.url}/_sandbox/{path}", json=json, timeout=10)
        response.raise_for_status()
        return response.json() if response.content else None

    def requests(self) -> list[dict[str, Any]]:
        return self._hook("GET", "requests")

    def clear_requests(self) -> None:
        self._hook("DELETE", "requests")

    def fault(
        self, method: str, path: str, status: int, count: int = 1, delay_s: float = 0
    ) -> dict[str, Any]:
        return self._hook(
            "POST",
            "faults",
            {"method": method, "path": path, "status": status, "count": count, "delay_s": delay_s},
        )

    def clear_faults(self) -> None:
        self._hook("DELETE", "faults")

    def set_config(self, **values: int) -> dict[str, Any]:
        return self._hook("POST", "config", values)


def serve_until_interrupted(sandbox: Sandbox, on_ready: Any) -> None:
    """Start, call ``on_ready(sandbox)``, block until Ctrl-C/SIGTERM, stop cleanly."""
    import signal

    def _term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _term)
    try:
        sandbox.start()
        on_ready(sandbox)
        sandbox.wait()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
        signal.signal(signal.SIGTERM, previous)

"""Run the sandbox: uvicorn in a background thread on a loopback port, readiness, clean stop.

``Sandbox`` is the Python API (context manager) used by tests and by ``oci-mcp sandbox``. Besides
the plain-http loopback ports (main + one per domain) it runs, on the same event loop, the
transparent front: an https server for the real OCI hostnames (certificates from the sandbox's
local CA, ``tls.py``) and the loopback ``CONNECT`` proxy that reaches it (``proxy.py``).
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oci_mcp_cli.core.errors import UserError
from oci_mcp_cli.core.files import write_private
from oci_mcp_cli.core.urls import is_loopback_host
from oci_mcp_cli.sandbox.context import SandboxConfig, SandboxContext
from oci_mcp_cli.sandbox.store import StateStore

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

PROFILE = "SANDBOX"
TRANSPARENT_PROFILE = "DEFAULT"  # what oci.config.from_file() and the oci CLI read by default
CONFIG_FILE = "oci_config"
LOCK_FILE = "sandbox.lock"
RUNNING_FILE = "running.json"  # the ready line of the sandbox running on this state dir
USER_SESSIONS_DIR = "user_sessions"
SESSION_KEY_FILE = "session_key.pem"
READY_TIMEOUT_S = 30.0
_PROFILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}")


def default_state_dir() -> Path:
    """Per-user data dir: e.g. ``~/.local/share/oci-mcp/sandbox``."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("oci-mcp")) / "sandbox"


def write_profile(path: Path, profile: str, entries: dict[str, str]) -> None:
    """Write a one-profile OCI config file (0600)."""
    write_profiles(path, {profile: entries})


def write_profiles(path: Path, profiles: dict[str, dict[str, str]]) -> None:
    """Write an OCI config file with these profiles, in order (0600)."""
    lines: list[str] = []
    for profile, entries in profiles.items():
        if lines:
            lines.append("")
        lines += [f"[{profile}]", *(f"{key}={value}" for key, value in entries.items())]
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
        proxy_port: int = 0,
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
        self.proxy_port = proxy_port
        self.https_port = 0
        self._fixed = port != 0
        self.ctx = SandboxContext(store=StateStore(self.state_dir), config=SandboxConfig(**config))
        self.profile = PROFILE
        self.config_file = str(self.state_dir / CONFIG_FILE)
        self._lock = StateDirLock(self.state_dir)
        self._server: Any = None
        self._tls_server: Any = None
        self._loop: Any = None
        self._proxy: Any = None
        self._thread: threading.Thread | None = None
        self._stopping: Any = None  # the future of request_stop()'s work on the loop
        self._hooks: Any = None  # the httpx.Client of the /_sandbox hooks, made on first use
        self._hooks_lock = threading.Lock()
        self.ca_file = str(self.state_dir / "tls" / "ca.pem")

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
        from oci_mcp_cli.sandbox.hosts import HostMap
        from oci_mcp_cli.sandbox.tls import LocalCA, server_context

        if self.reset:
            self.ctx.store.reset()
        self.ctx.store.load_or_seed()
        self._load_oauth_ledger()
        ca = LocalCA(self.state_dir).load_or_create()
        self.ca_file = str(ca.cert_file.resolve())
        sock = self._bind(self.port)
        sockets.append(sock)
        self.port = sock.getsockname()[1]
        self.ctx.host = url_host(self.host)
        self.ctx.base_url = f"http://{self.ctx.host}:{self.port}"
        self.ctx.domain_ports.clear()
        with self.ctx.store.read() as state:
            guids = list(state.domains)
            regions = [r["name"] for r in state.regions]
            namespace = state.namespace
        for index, guid in enumerate(guids):  # fixed --port N: domains on N+1, N+2, ...
            domain_sock = self._bind(self.port + 1 + index if self.port and self._fixed else 0)
            sockets.append(domain_sock)
            self.ctx.domain_ports[guid] = domain_sock.getsockname()[1]
        self.ctx.hosts = HostMap(guids, regions, namespace)
        # the transparent front is loopback only, whatever --host says
        tls_sock = self._bind(0, host="127.0.0.1")
        proxy_sock = self._bind(self.proxy_port, host="127.0.0.1", what="--proxy-port")
        sockets += [tls_sock, proxy_sock]
        self.https_port = tls_sock.getsockname()[1]
        self.proxy_port = proxy_sock.getsockname()[1]
        self.write_oci_config()
        app = build_app(self.ctx, self.info)
        common: dict[str, Any] = {
            "log_level": "warning", "access_log": False, "lifespan": "off",
            "proxy_headers": False,  # the scheme is the socket's: nobody may claim https
            "timeout_graceful_shutdown": 5,
        }
        self._server = uvicorn.Server(uvicorn.Config(app, **common))
        tls_context = server_context(ca, self.ctx.hosts.allows)
        self._tls_server = uvicorn.Server(
            uvicorn.Config(app, ssl_context_factory=lambda config, default: tls_context, **common)
        )
        plain = [s for s in sockets if s not in (tls_sock, proxy_sock)]
        self._thread = threading.Thread(
            target=self._run_servers,
            args=(plain, tls_sock, proxy_sock),
            name="oci-mcp-sandbox",
            daemon=True,
        )
        self._thread.start()
        self._wait_ready()
        self._write_running_file()

    def _load_oauth_ledger(self) -> None:
        """Replay ``oauth.log``; refresh tokens and revocations an older sandbox kept in
        ``state.json`` (``state.oauth``) move into it once."""
        with self.ctx.store.read() as state:
            legacy = dict(state.oauth)
        self.ctx.oauth.load(legacy)
        if legacy:
            with self.ctx.store.mutate() as state:
                state.oauth.clear()

    def _run_servers(
        self, plain: list[socket.socket], tls_sock: socket.socket, proxy_sock: socket.socket
    ) -> None:
        """The event loop of the sandbox thread: both uvicorn servers and the CONNECT proxy."""
        import asyncio

        from oci_mcp_cli.sandbox.proxy import ConnectProxy

        assert self.ctx.hosts is not None
        proxy = ConnectProxy(self.ctx.hosts.allows, ("127.0.0.1", self.https_port))
        self._proxy = proxy

        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            await proxy.start(proxy_sock)
            try:
                await asyncio.gather(
                    self._server.serve(sockets=plain), self._tls_server.serve(sockets=[tls_sock])
                )
            finally:
                await proxy.close()

        asyncio.run(main())

    def _bind(self, port: int, *, host: str | None = None, what: str = "--port") -> socket.socket:
        """A listening socket on ``host`` (default: ``--host``) and ``port``, which flag ``what``
        chose (the error's hint names it)."""
        from oci_mcp_cli.core.ports import reserve_port

        return reserve_port(host or self.host, port, option=what, zero_picks_free=True)

    def _wait_ready(self) -> None:
        """Poll /_sandbox/health until it answers (the server thread dying is an error)."""
        from oci_mcp_cli.core.waiting import wait_until_url

        thread = self._thread
        wait_until_url(
            f"{self.url}/_sandbox/health",
            timeout=READY_TIMEOUT_S,
            alive=lambda: thread is not None and thread.is_alive(),
            ready=lambda: bool(self._server.started and self._tls_server.started),
            interval=0.02,
            what="the sandbox server",
        )

    def request_stop(self) -> None:
        """Begin stopping without waiting (:meth:`stop` waits): the CONNECT proxy's tunnels are
        cut, then both servers are told to exit, on the sandbox's own loop. Lets a caller stop
        other servers at the same time (`oci-mcp demo`)."""
        import asyncio

        loop, proxy = self._loop, self._proxy
        if self._stopping is None and loop is not None and proxy is not None and loop.is_running():
            servers = [s for s in (self._server, self._tls_server) if s is not None]

            async def tunnels_then_servers() -> None:
                # tunnels first: a kept-alive client tunnel would hold the https front's TLS
                # shutdown open (it waits for the peer's close_notify) long after should_exit
                try:
                    await proxy.close()
                finally:
                    for server in servers:
                        server.should_exit = True

            with contextlib.suppress(RuntimeError):  # the loop has already ended
                self._stopping = asyncio.run_coroutine_threadsafe(tunnels_then_servers(), loop)

    def stop(self) -> None:
        if self._loop is not None and self._loop.is_running():
            self.request_stop()
        if self._stopping is not None:
            with contextlib.suppress(Exception):
                self._stopping.result(10)
        for server in (self._server, self._tls_server):
            if server is not None:
                server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._tls_server = self._thread = None
        self._loop = self._proxy = self._stopping = None
        with self._hooks_lock:
            hooks, self._hooks = self._hooks, None
        if hooks is not None:
            hooks.close()
        self.ctx.oauth.close()
        if self._lock._fd is not None:  # only the running sandbox removes its own record
            (self.state_dir / RUNNING_FILE).unlink(missing_ok=True)
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
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}" if self.proxy_port else ""

    @property
    def tenancy_id(self) -> str:
        return self.ctx.store.state.tenancy_id

    @property
    def domains(self) -> list[dict[str, str]]:
        from oci_mcp_cli.sandbox.hosts import https_domain_url

        with self.ctx.store.read() as state:
            return [
                {
                    "display_name": d.display_name,
                    "url": self.ctx.loopback_domain_url(d.guid),
                    "https_url": https_domain_url(d.guid),
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
            "proxy_url": self.proxy_url,
            "ca_file": self.ca_file,
            "transparent_profile": TRANSPARENT_PROFILE,
            "state_dir": str(self.state_dir.resolve()),
        }

    def env(self) -> dict[str, str]:
        """The environment that makes a process use this sandbox transparently."""
        from oci_mcp_cli.sandbox.envvars import transparent_env

        return transparent_env(self.info())

    def _write_running_file(self) -> None:
        """``<state dir>/running.json`` (0600): the ready line, for ``oci-mcp sandbox env``."""
        import json

        write_private(self.state_dir / RUNNING_FILE, json.dumps(self.info()) + "\n")

    def write_oci_config(self) -> None:
        """Write the OCI config (done every start): ``[DEFAULT]`` = the admin API key exactly as
        on a real tenancy (what ``oci.config.from_file()`` and the oci CLI read by default),
        ``[SANDBOX]`` = the same plus ``oci_mcp_endpoint`` (the loopback form), and one
        session-token profile per user (``[alice]``, …, ``[sandbox-admin]``), minted afresh."""
        import oci_mcp_cli.sandbox.keys as keys
        from oci_mcp_cli.core.ociconfig import ENDPOINT_KEY

        with self.ctx.store.read() as state:
            key = next(k for k in state.api_keys if k.user_ocid == state.admin.ocid)
            pem = self.ctx.store.read_file(state.admin.private_key_file)
            if keys.labelled(pem) != pem:  # a state dir from before the label
                self.ctx.store.write_secret_file(state.admin.private_key_file, keys.labelled(pem))
            admin = {
                "user": state.admin.ocid,
                "fingerprint": key.fingerprint,
                "tenancy": state.tenancy_id,
                "region": state.home_region,
                "key_file": str((self.state_dir / state.admin.private_key_file).resolve()),
            }
            usernames = [
                u.user_name
                for d in state.domains.values()
                for u in d.users.values()
                if u.active and _PROFILE_NAME.fullmatch(u.user_name)
            ]
        profiles = {
            TRANSPARENT_PROFILE: admin,
            self.profile: {**admin, ENDPOINT_KEY: self.url},
        }
        for username in usernames:
            if username not in profiles:
                profiles[username] = self._user_session_entries(username)
        write_profiles(Path(self.config_file), profiles)

    def _user_session_entries(self, username: str, ttl_s: int = 3600) -> dict[str, str]:
        """``<state dir>/user_sessions/<user>/{token, oci_api_key.pem, oci_api_key_public.pem}``
        (0600) and the profile keys ``oci session authenticate`` writes for them. One session key
        per state dir, kept across restarts (a fresh RSA key per user and start would slow every
        start); the token is minted afresh on every start."""
        import oci_mcp_cli.sandbox.keys as keys
        from oci_mcp_cli.core.files import ensure_private_dir

        root = ensure_private_dir(self.state_dir / USER_SESSIONS_DIR)
        key_path = root / SESSION_KEY_FILE
        try:
            session_key = keys.load_private_pem(key_path.read_bytes())
        except (OSError, ValueError, AssertionError):
            session_key = keys.new_rsa_key()
            write_private(key_path, keys.private_pem(session_key))
        return self._write_session(root / username, username, session_key, ttl_s)

    def _write_session(
        self, folder: Path, username: str, session_key: RSAPrivateKey, ttl_s: int
    ) -> dict[str, str]:
        """Mint a UPST for ``username`` bound to ``session_key`` and lay it out in ``folder`` as
        ``oci session authenticate`` does (``token``, ``oci_api_key.pem``,
        ``oci_api_key_public.pem``, all 0600); returns the profile keys it writes (no ``user``)."""
        import oci_mcp_cli.sandbox.keys as keys
        from oci_mcp_cli.core.files import ensure_private_dir
        from oci_mcp_cli.sandbox.hooks import mint_session_token

        token = mint_session_token(self.ctx, username, session_key.public_key(), ttl_s)
        folder = ensure_private_dir(folder)
        token_file, key_file = folder / "token", folder / "oci_api_key.pem"
        write_private(token_file, token)
        write_private(key_file, keys.api_key_file(session_key))
        write_private(folder / "oci_api_key_public.pem", keys.public_pem(session_key))
        with self.ctx.store.read() as state:
            tenancy, region = state.tenancy_id, state.home_region
        return {
            "fingerprint": keys.fingerprint(session_key),
            "key_file": str(key_file.resolve()),
            "tenancy": tenancy,
            "region": region,
            "security_token_file": str(token_file.resolve()),
        }

    def session_profile(
        self, username: str, profile: str = "SESSION", ttl_s: int = 3600
    ) -> tuple[str, str]:
        """A session-token profile for ``username``, laid out as ``oci session authenticate``
        writes one: ``sessions/<profile>/{token,oci_api_key.pem,oci_api_key_public.pem,config}``
        in the state dir (0600). The UPST is minted like the token exchange mints it (lifetime
        ``min(ttl_s, 3600, iamUpstSessionExpiry)``). Returns ``(config_file, profile)``."""
        import oci_mcp_cli.sandbox.keys as keys
        from oci_mcp_cli.core.ociconfig import ENDPOINT_KEY

        if not self.url:
            raise RuntimeError("start the sandbox before asking for a session profile")
        if not profile or any(c in profile for c in "[]\n\r/"):
            raise ValueError(f"invalid profile name {profile!r}")
        folder = self.state_dir / "sessions" / profile
        entries = self._write_session(folder, username, keys.new_rsa_key(), ttl_s)
        entries[ENDPOINT_KEY] = self.url  # plus our endpoint
        config_file = folder / "config"
        write_profile(config_file, profile, entries)
        return str(config_file), profile

    # test hooks over HTTP
    def _hook(self, method: str, path: str, json: Any = None) -> Any:
        import httpx

        with self._hooks_lock:  # one client (one TLS set-up and connection pool) per sandbox
            if self._hooks is None:
                self._hooks = httpx.Client(timeout=10)
            hooks = self._hooks
        response = hooks.request(method, f"{self.url}/_sandbox/{path}", json=json)
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

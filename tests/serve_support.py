"""Helpers for the tests that run the MCP server: a provisioned sandbox, `oci-mcp serve` as a
subprocess and its /health readiness check, the server in-process on a provisioned sandbox
(:func:`server_stack`), and an OAuth sign-in by hand (:func:`sign_in`)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import secrets
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlencode, urlsplit

import httpx

from oci_mcp_cli.core.waiting import WaitError, wait_until_url
from oci_mcp_cli.orchestration.serve_process import ServeProcess, cli_command

if TYPE_CHECKING:
    from oci_mcp_cli.client.session import ClientOptions
    from oci_mcp_cli.sandbox import Sandbox
    from oci_mcp_cli.server.app import ServerThread
    from oci_mcp_cli.server.config import ServerSettings

READY_TIMEOUT_S = 60


@contextmanager
def provisioned_sandbox(
    tmp: Path, server_port: int | None = None
) -> Iterator[tuple[Any, Path, str]]:
    """A running sandbox in ``tmp/sandbox`` that init provisioned into ``tmp/.env`` for a server
    on ``server_port`` (default: a free loopback port); yields ``(sandbox, env_file,
    server_url)``."""
    from oci_mcp_cli.core.ports import free_port
    from oci_mcp_cli.sandbox import Sandbox
    from oci_mcp_cli.testing.provision import provision

    with Sandbox(state_dir=tmp / "sandbox") as sb:
        env_file = tmp / ".env"
        server_url = f"http://127.0.0.1:{server_port or free_port()}"
        provision(sb, env_file, server_url)
        yield sb, env_file, server_url


def wait_healthy(base: str, proc: subprocess.Popen[Any], timeout: float = READY_TIMEOUT_S) -> None:
    """Poll ``base``/health until it answers 200; fail with the server's stderr (when piped) if
    the process exits first."""
    try:
        wait_until_url(base + "/health", timeout=timeout, process=proc, what="serve")
    except WaitError as exc:
        output = proc.stderr.read() if exc.returncode is not None and proc.stderr else ""
        raise AssertionError(f"{exc.message}: {output}") from None


@contextmanager
def serve_process(base: str, *args: str, **popen: Any) -> Iterator[subprocess.Popen[Any]]:
    """``oci-mcp serve <args>`` in a subprocess, yielded once ``base``/health answers; stopped
    (terminate, then kill) and reaped on exit."""
    proc = subprocess.Popen(cli_command("serve", *args), **popen)
    with ServeProcess(proc, base, stop_grace=15):
        wait_healthy(base, proc)
        yield proc


# --- an in-process server on a provisioned sandbox, restartable with other settings ------------

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"


@dataclass
class ServerStack:
    """A provisioned sandbox and the server running in-process (``ServerThread``)."""

    sb: Sandbox
    settings: ServerSettings
    tmp: Path
    env_file: Path
    server: ServerThread | None = None

    @property
    def url(self) -> str:
        return self.settings.server_url + "/mcp"

    def restart(self, settings: ServerSettings | None = None, **changes: Any) -> None:
        """A fresh server on the same port and OAuth store (clients stay signed in), with
        ``settings`` (default: the stack's) and ``changes`` to them."""
        from oci_mcp_cli.server.app import ServerThread

        self.stop()
        base = settings or self.settings
        self.server = ServerThread(dataclasses.replace(base, **changes) if changes else base)
        self.server.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def options(self, user: str, cache: str = "cache", relogin: bool = False) -> ClientOptions:
        """Client options to sign in as ``user`` (token cache ``tmp/<cache>``)."""
        from oauth_flow import password

        from oci_mcp_cli.client.session import ClientOptions

        return ClientOptions(url=self.url, username=user, password=password(self.sb, user),
                             cache_root=self.tmp / cache, relogin=relogin)

    def exchanges(self) -> int:
        """How many token exchanges the sandbox has answered."""
        return sum(1 for r in self.sb.requests() if r.get("grant_type") == EXCHANGE)

    def requests_to(self, method: str, path: str) -> int:
        return sum(1 for r in self.sb.requests() if r["method"] == method and r["path"] == path)


S = TypeVar("S", bound=ServerStack)


@contextmanager
def server_stack(tmp: Path, *, cls: type[S] = ServerStack,  # type: ignore[assignment]
                 start: bool = True, **settings: Any) -> Iterator[S]:
    """A :class:`ServerStack` (or ``cls``) in ``tmp`` (OAuth store ``tmp/oauth``, log level
    WARNING, plus ``settings`` for ``load_settings``), its server started unless
    ``start=False``; stopped on exit."""
    from oci_mcp_cli.server.config import load_settings

    with provisioned_sandbox(tmp) as (sb, env_file, _):
        options = {"storage_dir": tmp / "oauth", "log_level": "WARNING", **settings}
        st = cls(sb, load_settings(env_file, **options), tmp, env_file)
        try:
            if start:
                st.restart()
            yield st
        finally:
            st.stop()


@asynccontextmanager
async def signed_in(st: ServerStack, user: str, cache: str = "cache",
                    relogin: bool = False) -> AsyncIterator[Any]:
    """A FastMCP client signed in to ``st`` as ``user`` (token cache ``st.tmp/<cache>``)."""
    from oci_mcp_cli.client.session import make_client

    async with make_client(st.options(user, cache, relogin)) as client:
        yield client


async def ok(client: Any, tool: str, **args: Any) -> Any:
    """``tool``'s result; fails the test when the call failed."""
    from oci_mcp_cli.client.session import call_tool

    success, value = await call_tool(client, tool, args)
    assert success, value
    return value


# --- a sign-in by hand (the FastMCP tokens a client would hold) --------------------------------

REDIRECT = "http://127.0.0.1:9/callback"  # never contacted: the headless flow stops at it


def initialize_request(client_name: str) -> dict[str, Any]:
    """An MCP ``initialize`` request body."""
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": client_name, "version": "1"},
        },
    }


@dataclass
class Login:
    client_id: str
    access_token: str
    refresh_token: str


def sign_in(http: httpx.Client, base: str, public: str, user: str, password: str) -> Login:
    """DCR → authorize (+ consent + sandbox sign-in) → code exchange against ``base`` (a server,
    a replica or a proxy), as an MCP client of ``public`` (MCP_SERVER_URL) does."""
    import anyio

    from oci_mcp_cli.client.headless import headless_authorize

    headers = {"Host": urlsplit(public).netloc}
    registered = http.post(
        f"{base}/register",
        headers=headers,
        json={
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "client_name": "oci-mcp-test",
            "scope": "openid profile email offline_access",
        },
    )
    assert registered.status_code == 201, registered.text
    client_id = registered.json()["client_id"]
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": secrets.token_urlsafe(8),
        "scope": "openid offline_access",
        "resource": f"{public}/mcp",
    }
    result = anyio.run(
        headless_authorize, f"{public}/authorize?{urlencode(query)}", REDIRECT, user, password
    )
    assert result.get("state") == query["state"], result
    token = http.post(
        f"{base}/token",
        headers=headers,
        data={
            "grant_type": "authorization_code",
            "code": result["code"],
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
            "client_id": client_id,
            "resource": f"{public}/mcp",
        },
    )
    assert token.status_code == 200, token.text
    body = token.json()
    assert body.get("refresh_token"), body
    return Login(client_id, body["access_token"], body["refresh_token"])


def initialize(http: httpx.Client, base: str, public: str, token: str) -> httpx.Response:
    """An MCP ``initialize`` at ``base`` with ``token`` as Bearer (200 when accepted)."""
    return http.post(
        f"{base}/mcp",
        json=initialize_request("oci-mcp-test"),
        headers={
            "Host": urlsplit(public).netloc,
            "Authorization": f"Bearer {token}",
            "Accept": "application/json, text/event-stream",
        },
    )


def refresh(http: httpx.Client, base: str, public: str, login: Login) -> httpx.Response:
    return http.post(
        f"{base}/token",
        headers={"Host": urlsplit(public).netloc},
        data={
            "grant_type": "refresh_token",
            "refresh_token": login.refresh_token,
            "client_id": login.client_id,
        },
    )

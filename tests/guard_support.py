"""Helpers for the OAuth-surface tests: a server per test on the shared sandbox, and the raw HTTP
steps of an MCP client (DCR, /authorize, headless sign-in, /token, MCP initialize)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import anyio
import httpx

from oci_mcp_cli.client.headless import headless_authorize
from oci_mcp_cli.server.app import ServerThread
from oci_mcp_cli.server.config import ServerSettings

CALLBACK = "http://127.0.0.1:9/callback"  # never contacted: headless sign-in stops at its prefix
# httpx's default TLS context, built once: httpx.post() would build it (and load the CA bundle)
# for every call, even to an http:// URL.
TLS = httpx.create_ssl_context()


@contextmanager
def serving(settings: ServerSettings, **changes: Any) -> Iterator[ServerThread]:
    """The provisioned server (its URL is the one the sandbox redirects sign-ins to) with
    ``changes``; one at a time."""
    with ServerThread(replace(settings, **changes)) as server:
        yield server


def base(server: ServerThread) -> str:
    return server.settings.server_url


def register(server: ServerThread, *redirect_uris: str, **http: Any) -> httpx.Response:
    body = {
        "client_name": "guard test",
        "redirect_uris": list(redirect_uris),
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    }
    return httpx.post(base(server) + "/register", json=body, timeout=10, verify=TLS, **http)


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize_url(server: ServerThread, client_id: str, redirect_uri: str, challenge: str,
                  scope: str = "openid") -> str:
    params = {"client_id": client_id, "response_type": "code", "redirect_uri": redirect_uri,
              "code_challenge": challenge, "code_challenge_method": "S256", "scope": scope,
              "state": secrets.token_urlsafe(8)}
    return f"{base(server)}/authorize?{urlencode(params)}"


@dataclass
class Grant:
    client_id: str
    code: str
    verifier: str


def sign_in(server: ServerThread, username: str, password: str) -> Grant:
    """Register a loopback client and sign ``username`` in; returns the unredeemed code."""
    client_id = register(server, CALLBACK).json()["client_id"]
    verifier, challenge = pkce()
    url = authorize_url(server, client_id, CALLBACK, challenge)
    query = anyio.run(headless_authorize, url, CALLBACK, username, password)
    return Grant(client_id, query["code"], verifier)


def redeem(server: ServerThread, grant: Grant, verifier: str | None = None) -> httpx.Response:
    data = {"grant_type": "authorization_code", "code": grant.code, "redirect_uri": CALLBACK,
            "client_id": grant.client_id, "code_verifier": verifier or grant.verifier}
    return httpx.post(base(server) + "/token", data=data, timeout=30)


def initialize(server: ServerThread, token: str, **headers: str) -> httpx.Response:
    """An MCP ``initialize`` (opens a session) with the bearer ``token``."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                       "clientInfo": {"name": "guard-test", "version": "1"}}}
    return httpx.post(
        base(server) + "/mcp", json=body, timeout=30,
        headers={"Authorization": f"Bearer {token}",
                 "Accept": "application/json, text/event-stream", **headers},
    )


def ping(server: ServerThread, token: str, session_id: str) -> httpx.Response:
    body = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
    return httpx.post(
        base(server) + "/mcp", json=body, timeout=30,
        headers={"Authorization": f"Bearer {token}", "Mcp-Session-Id": session_id,
                 "Accept": "application/json, text/event-stream",
                 "Mcp-Protocol-Version": "2025-06-18"},
    )


def files(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*") if p.is_file()]

"""Revocation at the server's ``/revoke`` takes effect on the next request, on every replica
(real server threads + sandbox over HTTP; the OAuth flow is driven by hand with httpx so the test
holds the FastMCP access and refresh tokens a client would). docs/security.md, "Revocation and
deactivation"."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from oauth_flow import password
from serve_support import Login, initialize, provisioned_sandbox
from serve_support import refresh as hand_refresh
from serve_support import sign_in as hand_sign_in

from oci_mcp_cli.core.ports import free_port
from oci_mcp_cli.sandbox import Sandbox
from oci_mcp_cli.server.app import ServerThread
from oci_mcp_cli.server.config import load_settings

pytestmark = pytest.mark.e2e


@dataclass
class Replica:
    """One server process-equivalent: its own port, the shared public URL and storage."""

    bind: str  # where this replica listens, http://127.0.0.1:PORT
    public: str  # MCP_SERVER_URL (what a load balancer would send as Host)


@dataclass
class Stack:
    sb: Sandbox
    a: Replica
    b: Replica
    http: httpx.Client
    env_file: Path
    storage: Path  # the --storage-dir both replicas share


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("revocation")
    with provisioned_sandbox(tmp) as (sb, env_file, server_url):
        storage = tmp / "oauth"  # one --storage-dir shared by both replicas
        a = load_settings(env_file, storage_dir=storage, log_level="WARNING")
        b = load_settings(env_file, port=free_port(), storage_dir=storage, log_level="WARNING")
        with ServerThread(a), ServerThread(b), httpx.Client(timeout=30) as http:
            yield Stack(
                sb,
                Replica(server_url, server_url),
                Replica(f"http://127.0.0.1:{b.port}", server_url),
                http,
                env_file,
                storage,
            )


def _headers(replica: Replica, **extra: str) -> dict[str, str]:
    return {"Host": urlsplit(replica.public).netloc, **extra}


def sign_in(stack: Stack, user: str, replica: Replica | None = None) -> Login:
    """DCR → authorize (+ consent + sandbox sign-in) → code exchange, as an MCP client does."""
    replica = replica or stack.a
    return hand_sign_in(stack.http, replica.bind, replica.public, user, password(stack.sb, user))


def mcp(stack: Stack, token: str, replica: Replica | None = None) -> httpx.Response:
    """An MCP ``initialize`` with ``token`` as Bearer (200 when the token is accepted)."""
    replica = replica or stack.a
    return initialize(stack.http, replica.bind, replica.public, token)


def revoke(stack: Stack, login: Login, token: str, replica: Replica | None = None,
           client_id: str | None = None) -> None:
    replica = replica or stack.a
    response = stack.http.post(
        f"{replica.bind}/revoke",
        headers=_headers(replica),
        # mcp 2.3.0's RevocationRequest requires the client_secret field even for a public
        # client (token_endpoint_auth_method none, whose secret is then ignored).
        data={"token": token, "client_id": client_id or login.client_id, "client_secret": ""},
    )
    assert response.status_code == 200, response.text


def refresh(stack: Stack, login: Login, replica: Replica | None = None) -> httpx.Response:
    replica = replica or stack.a
    return hand_refresh(stack.http, replica.bind, replica.public, login)


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert "invalid_token" in response.headers.get("www-authenticate", "")


def test_revoked_access_token_is_refused_on_the_next_request(stack: Stack) -> None:
    login = sign_in(stack, "alice")
    assert mcp(stack, login.access_token).status_code == 200
    stack.sb.clear_requests()
    revoke(stack, login, login.access_token)
    assert_refused(mcp(stack, login.access_token))
    # FastMCP also revoked the upstream (domain) access token at the domain.
    revokes = [r for r in stack.sb.requests() if r["path"].endswith("/oauth2/v1/revoke")]
    assert [r["status"] for r in revokes] == [200]
    # The refresh token survives an access-token revocation; the new access token works and the
    # revoked one stays dead although it pointed at the same (now refreshed) upstream session.
    refreshed = refresh(stack, login)
    assert refreshed.status_code == 200, refreshed.text
    assert mcp(stack, refreshed.json()["access_token"]).status_code == 200
    assert_refused(mcp(stack, login.access_token))


def test_revocation_on_one_replica_is_refused_on_the_other(stack: Stack) -> None:
    login = sign_in(stack, "bob")
    assert mcp(stack, login.access_token, stack.b).status_code == 200
    revoke(stack, login, login.access_token, stack.a)
    assert_refused(mcp(stack, login.access_token, stack.b))
    assert_refused(mcp(stack, login.access_token, stack.a))

    other = sign_in(stack, "alice", stack.b)
    assert mcp(stack, other.access_token, stack.a).status_code == 200
    revoke(stack, other, other.refresh_token, stack.b)
    assert_refused(mcp(stack, other.access_token, stack.a))
    assert refresh(stack, other, stack.a).json().get("error") == "invalid_grant"


def test_revoked_refresh_token_ends_the_sign_in(stack: Stack) -> None:
    login = sign_in(stack, "alice")
    assert mcp(stack, login.access_token).status_code == 200
    stack.sb.clear_requests()
    revoke(stack, login, login.refresh_token)
    refused = refresh(stack, login)
    # The SDK token handler answers an unknown refresh token 401 invalid_grant.
    assert refused.status_code in (400, 401), refused.text
    assert refused.json()["error"] == "invalid_grant"
    assert_refused(mcp(stack, login.access_token))  # the access token issued with it
    revokes = [r for r in stack.sb.requests() if r["path"].endswith("/oauth2/v1/revoke")]
    assert [r["status"] for r in revokes] == [200]  # the upstream refresh token, at the domain


def test_revocation_holds_when_the_domain_cannot_be_told(stack: Stack) -> None:
    """The domain's revoke endpoint fails: FastMCP only logs that, the local revocation holds."""
    login = sign_in(stack, "bob")
    stack.sb.fault("POST", "/oauth2/v1/revoke", 503, count=2)
    revoke(stack, login, login.access_token)
    assert_refused(mcp(stack, login.access_token))
    revoke(stack, login, login.refresh_token)
    assert refresh(stack, login).json().get("error") == "invalid_grant"
    stack.sb.clear_requests()


def test_a_client_cannot_revoke_another_clients_token(stack: Stack) -> None:
    """RFC 7009 §2.1: the token must belong to the authenticated client; else nothing happens."""
    victim = sign_in(stack, "alice")
    attacker = sign_in(stack, "bob")
    revoke(stack, attacker, victim.access_token, client_id=attacker.client_id)
    revoke(stack, attacker, victim.refresh_token, client_id=attacker.client_id)
    assert mcp(stack, victim.access_token).status_code == 200
    assert refresh(stack, victim).status_code == 200


def test_storage_holds_the_revocation_not_process_memory(stack: Stack) -> None:
    """A replica started after the revocation refuses the token too (same --storage-dir)."""
    login = sign_in(stack, "bob")
    revoke(stack, login, login.access_token, stack.b)
    late = load_settings(
        stack.env_file, port=free_port(), storage_dir=stack.storage, log_level="WARNING"
    )
    with ServerThread(late):
        replica = Replica(f"http://127.0.0.1:{late.port}", stack.a.public)
        assert_refused(mcp(stack, login.access_token, replica))

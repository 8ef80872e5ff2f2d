"""`oci-mcp serve`: .env settings, fail-fast discovery, public /health, /mcp behind OAuth.

These run the real CLI (subprocess) and the real server against the sandbox's discovery document;
no provisioning is needed because nothing here signs in.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from oci_mcp_cli.core.envfile import save_env
from oci_mcp_cli.core.errors import RemoteError, UserError
from oci_mcp_cli.core.ports import free_port
from oci_mcp_cli.sandbox import Sandbox
from oci_mcp_cli.server.app import ServerThread
from oci_mcp_cli.server.config import load_settings

SECRET = "serve-test-client-secret-0123456789"
SIGNING = "serve-test-signing-key-0123456789abcdef"


@pytest.fixture(scope="module")
def sb(shared_sb: Sandbox) -> Sandbox:
    """The session's shared sandbox: these tests only read its seed state."""
    return shared_sb


def write_env(path: Path, domain_url: str, port: int, server_url: str | None = None) -> Path:
    save_env(
        path,
        {
            "IAM_DOMAIN": domain_url,
            "IAM_CLIENT_ID": "not-provisioned",
            "IAM_CLIENT_SECRET": SECRET,
            "MCP_SERVER_URL": server_url or f"http://127.0.0.1:{port}",
            "MCP_JWT_SIGNING_KEY": SIGNING,
            "OCI_REGION": "us-ashburn-1",
        },
    )
    return path


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "oci_mcp_cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        env={**os.environ, "FASTMCP_HOME": str(cwd / "fastmcp-home")},
    )


def test_missing_env_file_is_exit_2_pointing_at_init(tmp_path: Path) -> None:
    result = cli("serve", "--env-file", str(tmp_path / "nope.env"), cwd=tmp_path)
    assert result.returncode == 2
    assert "does not exist" in result.stderr and "oci-mcp init" in result.stderr
    assert "Traceback" not in result.stderr


def test_incomplete_env_names_every_missing_key(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    save_env(env, {"IAM_DOMAIN": "https://idcs-0123.identity.oraclecloud.com"})
    result = cli("serve", "--env-file", str(env), cwd=tmp_path)
    assert result.returncode == 2
    for key in ("IAM_CLIENT_ID", "IAM_CLIENT_SECRET", "MCP_SERVER_URL", "MCP_JWT_SIGNING_KEY"):
        assert key in result.stderr


def test_bad_flags_are_exit_2(tmp_path: Path, sb: Sandbox) -> None:
    env = write_env(tmp_path / ".env", sb.domains[0]["url"], free_port())
    for flags, text in (
        (["--log-level", "LOUD"], "--log-level"),
        (["--cache-size", "0"], "--cache-size"),
        (["--port", "70000"], "--port"),
    ):
        result = cli("serve", "--env-file", str(env), *flags, cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert text in result.stderr


def test_unreachable_discovery_fails_fast_with_the_cause(tmp_path: Path) -> None:
    dead = free_port()  # nothing listens here
    env = write_env(tmp_path / ".env", f"http://127.0.0.1:{dead}/idcs-{'0' * 32}", free_port())
    result = cli("serve", "--env-file", str(env), cwd=tmp_path)
    assert result.returncode == 1
    assert "discovery document" in result.stderr and "ConnectError" in result.stderr
    assert "starting" not in result.stderr  # a failed start never claims it was starting
    assert "Traceback" not in result.stderr
    assert SECRET not in result.stderr and SIGNING not in result.stderr


def test_settings_come_from_env_and_flags_override(tmp_path: Path, sb: Sandbox) -> None:
    env = write_env(tmp_path / ".env", sb.domains[0]["url"], 8123)
    settings = load_settings(env)
    assert (settings.host, settings.port, settings.redirect_path) == (
        "127.0.0.1",
        8123,
        "/auth/callback",
    )
    assert settings.exchange_client_secret == SECRET  # falls back to the sign-in client
    assert SECRET not in repr(settings)
    settings = load_settings(env, host="127.0.0.2", port=9000, log_level="debug", cache_size=5)
    assert (settings.host, settings.port, settings.log_level, settings.cache_size) == (
        "127.0.0.2",
        9000,
        "DEBUG",
        5,
    )
    with pytest.raises(UserError):
        load_settings(tmp_path / "missing.env")


def test_health_is_public_and_mcp_requires_sign_in(tmp_path: Path, sb: Sandbox) -> None:
    port = free_port()
    settings = load_settings(
        write_env(tmp_path / ".env", sb.domains[0]["url"], port), storage_dir=tmp_path / "oauth"
    )
    with ServerThread(settings):
        base = f"http://127.0.0.1:{port}"
        health = httpx.get(base + "/health", timeout=10)
        assert health.status_code == 200 and health.json()["status"] == "ok"
        assert SECRET not in health.text and SIGNING not in health.text
        unauth = httpx.post(base + "/mcp", json={}, timeout=10)
        assert unauth.status_code == 401
        assert "resource_metadata" in unauth.headers["www-authenticate"]
        meta = httpx.get(base + "/.well-known/oauth-authorization-server", timeout=10).json()
        assert "offline_access" in meta["scopes_supported"]
        # The encrypted store lives where --storage-dir says; files there hold no plaintext secret.
        assert (tmp_path / "oauth").is_dir()


def test_upstream_authorize_always_asks_for_offline_access(tmp_path: Path, sb: Sandbox) -> None:
    """Register a client, start an authorization: the consent approval redirects upstream with
    ``offline_access`` in ``scope`` even though the client asked only for ``openid``."""
    import base64
    import hashlib
    import re
    from urllib.parse import parse_qs, urlsplit

    port = free_port()
    settings = load_settings(
        write_env(tmp_path / ".env", sb.domains[0]["url"], port), storage_dir=tmp_path / "oauth"
    )
    base = f"http://127.0.0.1:{port}"
    redirect = "http://127.0.0.1:1/callback"
    with ServerThread(settings), httpx.Client(base_url=base, timeout=10) as http:
        client = http.post(
            "/register",
            json={
                "redirect_uris": [redirect],
                "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
            },
        ).json()
        challenge = base64.urlsafe_b64encode(hashlib.sha256(b"v" * 50).digest()).rstrip(b"=")
        consent = http.get(
            "/authorize",
            params={
                "response_type": "code",
                "client_id": client["client_id"],
                "redirect_uri": redirect,
                "scope": "openid",
                "state": "s",
                "code_challenge": challenge.decode(),
                "code_challenge_method": "S256",
                "resource": base + "/mcp",
            },
            follow_redirects=True,
        )
        fields = dict(re.findall(r'name="(txn_id|csrf_token)" value="([^"]+)"', consent.text))
        approved = http.post("/consent", data={**fields, "action": "approve"})
        assert approved.status_code in (302, 303)
        upstream = urlsplit(approved.headers["location"])
        query = parse_qs(upstream.query)
        assert upstream.path.endswith("/oauth2/v1/authorize")
        assert "offline_access" in query["scope"][0].split()
        assert query["redirect_uri"] == [base + "/auth/callback"]


def test_server_settings_secrets_never_in_repr(tmp_path: Path, sb: Sandbox) -> None:
    settings = load_settings(write_env(tmp_path / ".env", sb.domains[0]["url"], 8000))
    text = repr(dataclasses.replace(settings, exchange_client_secret="other-secret-value"))
    assert "secret" not in text.lower()


def test_build_server_error_is_remote_error(tmp_path: Path) -> None:
    from oci_mcp_cli.server.app import build_server

    env = write_env(tmp_path / ".env", f"http://127.0.0.1:{free_port()}/idcs-{'1' * 32}", 8000)
    with pytest.raises(RemoteError, match="discovery"):
        build_server(load_settings(env, storage_dir=tmp_path / "oauth"))


def test_closed_jwks_is_reported_at_startup_and_server_still_serves(
    tmp_path: Path, sb: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    """The sandbox starts with signingCertPublicAccess off (nothing provisioned here)."""
    port = free_port()
    settings = load_settings(
        write_env(tmp_path / ".env", sb.domains[0]["url"], port), storage_dir=tmp_path / "oauth"
    )
    with caplog.at_level("ERROR", logger="oci_mcp.server"), ServerThread(settings):
        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=10).status_code == 200
    message = " ".join(r.getMessage() for r in caplog.records)
    assert "not publicly readable" in message and "oci-mcp init" in message


def test_plain_http_is_never_served_beyond_loopback(tmp_path: Path) -> None:
    """http MCP_SERVER_URL + a non-loopback bind is refused (exit 2); behind a TLS proxy
    (https MCP_SERVER_URL) binding every interface is fine, and is the default."""
    domain = f"http://127.0.0.1:{free_port()}/idcs-{'2' * 32}"
    env = write_env(tmp_path / ".env", domain, free_port())
    result = cli("serve", "--env-file", str(env), "--host", "0.0.0.0", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "plain-http" in result.stderr and "https" in result.stderr
    assert "Traceback" not in result.stderr and "starting" not in result.stderr
    with pytest.raises(UserError, match="plain-http"):
        load_settings(env, host="192.0.2.10")
    behind_tls = write_env(tmp_path / "tls.env", domain, 0, "https://mcp.example.com")
    assert load_settings(behind_tls).host == "0.0.0.0"
    assert load_settings(behind_tls, host="0.0.0.0", port=8080).port == 8080
    # http on a non-loopback host is refused outright, whatever the bind address.
    remote_http = write_env(tmp_path / "http.env", domain, 0, "http://mcp.example.com")
    with pytest.raises(UserError, match="non-loopback"):
        load_settings(remote_http, host="127.0.0.1")


def test_default_oauth_state_dir_is_fastmcps_location_made_private(
    tmp_path: Path, sb: Sandbox
) -> None:
    """Without --storage-dir the encrypted store sits where FastMCP puts it (FASTMCP_HOME), but
    in a 0700 directory even if an earlier run left it group/world-readable."""
    import fastmcp

    from oci_mcp_cli.server.auth import build_auth, default_storage_dir, signing_key_bytes

    settings = load_settings(write_env(tmp_path / ".env", sb.domains[0]["url"], free_port()))
    previous = fastmcp.settings.home
    fastmcp.settings.home = tmp_path / "fastmcp-home"
    try:
        directory = default_storage_dir(signing_key_bytes(settings.jwt_signing_key))
        assert directory.parent == tmp_path / "fastmcp-home" / "oauth-proxy"
        directory.mkdir(parents=True, mode=0o755)
        directory.chmod(0o755)
        build_auth(settings)
        assert directory.stat().st_mode & 0o777 == 0o700
    finally:
        fastmcp.settings.home = previous

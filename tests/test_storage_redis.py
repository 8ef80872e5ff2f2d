"""``serve --storage redis://…``: the OAuth state in a real ``redis-server`` (encrypted, native
TTLs, namespaced by key), a Redis outage answered 503 with a clear message and recovered from
without a restart, ``/health`` and ``doctor`` reporting it; plus the storage URL rules.
docs/scale-out.md."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from oauth_flow import password
from replica_support import RedisServer
from serve_support import initialize, initialize_request, provisioned_sandbox, refresh, sign_in

from oci_mcp_cli.core.errors import UserError
from oci_mcp_cli.server.app import ServerThread
from oci_mcp_cli.server.config import ServerSettings, load_settings, port_mismatch_warning
from oci_mcp_cli.server.storage import (
    cull_expired,
    key_fingerprint,
    mask_storage_url,
    parse_storage_url,
)

pytestmark = pytest.mark.e2e


@dataclass
class Stack:
    sb: Any
    env_file: Path
    url: str
    redis: RedisServer
    settings: ServerSettings
    server: ServerThread
    http: httpx.Client


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("redis-storage")
    with provisioned_sandbox(tmp) as (sb, env_file, url), RedisServer(tmp / "redis") as rs:
        settings = load_settings(env_file, storage=rs.url, log_level="WARNING")
        with ServerThread(settings) as server, httpx.Client(timeout=30) as http:
            yield Stack(sb, env_file, url, rs, settings, server, http)


def _login(stack: Stack, user: str = "alice") -> Any:
    return sign_in(stack.http, stack.url, stack.url, user, password(stack.sb, user))


def _raw(stack: Stack) -> dict[str, tuple[str, int]]:
    """Every key in Redis with its raw value and TTL (seconds; -1 = none)."""
    with stack.redis.client() as client:
        return {key: (client.get(key), client.ttl(key)) for key in client.scan_iter()}


def test_state_in_redis_is_encrypted_namespaced_and_expires_natively(stack: Stack) -> None:
    login = _login(stack)
    assert initialize(stack.http, stack.url, stack.url, login.access_token).status_code == 200
    entries = _raw(stack)
    collections = {key.split("::")[0] for key in entries}
    prefix = "oci-mcp-" + key_fingerprint(_fernet_key(stack.settings))
    # Registrations, transactions, codes, upstream tokens, JTI mappings, refresh tokens: shared.
    for name in ("mcp-oauth-proxy-clients", "mcp-upstream-tokens", "mcp-jti-mappings",
                 "mcp-refresh-tokens"):
        assert f"{prefix}__{name}" in collections, collections
    assert all(c.startswith(prefix + "__") for c in collections), collections
    for key, (value, ttl) in entries.items():
        stored = json.loads(value)["value"]
        assert set(stored) == {"__encrypted_data__", "__encryption_version__"}, key
        # Keys are random ids and hashes (a client_id is public); no token or user in plaintext.
        for secret in (login.access_token, login.refresh_token, "alice"):
            assert secret not in value and secret not in key, (key, "plaintext in Redis")
        assert ttl > 0, f"{key} never expires"  # Redis expires every entry itself
    # Nothing for the culler to do: no layer of this store needs culling (native TTLs).
    assert anyio.run(cull_expired, stack.server.mcp.auth._client_storage) == 0


def test_a_server_with_another_key_reads_nothing(stack: Stack, tmp_path: Path) -> None:
    """Same Redis, another MCP_JWT_SIGNING_KEY: its namespace is another one and the tokens of
    this server are refused there (no decryption, no lookup)."""
    login = _login(stack, "bob")
    env = stack.env_file.read_text()
    other = tmp_path / ".env"
    lines = [
        "MCP_JWT_SIGNING_KEY=" + "x" * 48 if line.startswith("MCP_JWT_SIGNING_KEY=") else line
        for line in env.splitlines()
    ]
    other.write_text("\n".join(lines) + "\n")
    other.chmod(0o600)
    from oci_mcp_cli.core.ports import free_port

    settings = load_settings(other, port=free_port(), storage=stack.redis.url, log_level="ERROR")
    with ServerThread(settings):
        base = f"http://127.0.0.1:{settings.port}"
        assert initialize(stack.http, base, stack.url, login.access_token).status_code == 401


def test_an_outage_keeps_the_order_of_host_check_storage_gate_and_access_line(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    """The order of the ASGI layers (``RequestLog`` outside ``StorageGate`` outside the
    Host/Origin guard) during an outage: a request from a forbidden Host is still refused 421
    (the guard answers before anything reads the store), a call is answered the gate's 503
    (not FastMCP's 401), and the access line records what was answered — the gate's 503
    included, one line per request. Guards a merge or reordering of those layers."""
    caplog.set_level("INFO", logger="oci_mcp.access")
    login = _login(stack, "bob")
    headers = {"Authorization": f"Bearer {login.access_token}",
               "Accept": "application/json, text/event-stream"}
    stack.redis.stop(save=True)
    try:
        forbidden = stack.http.post(stack.url + "/mcp", json=initialize_request("evil"),
                                    headers={**headers, "Host": "rebind.example"})
        assert forbidden.status_code == 421, forbidden.text
        call = initialize(stack.http, stack.url, stack.url, login.access_token)
        assert call.status_code == 503, call.text
        assert call.json()["error"] == "temporarily_unavailable"
        registered = stack.http.post(
            stack.url + "/register",
            json={"redirect_uris": ["http://127.0.0.1:9/cb"], "token_endpoint_auth_method": "none"},
        )
        assert registered.status_code == 503, registered.text
        refused = refresh(stack.http, stack.url, stack.url, login)  # FastMCP answers, the gate
        assert refused.status_code == 503, refused.text  # replaces it
    finally:
        stack.redis.start()
    # back (and its recovery logged here, not in the next test)
    assert initialize(stack.http, stack.url, stack.url, login.access_token).status_code == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "oci_mcp.access"]
    assert len([m for m in lines if m.endswith('"POST /mcp HTTP/1.1" 421')]) == 1, lines
    assert len([m for m in lines if m.endswith('"POST /mcp HTTP/1.1" 503')]) == 1, lines
    assert len([m for m in lines if m.endswith('"POST /register HTTP/1.1" 503')]) == 1, lines
    assert len([m for m in lines if m.endswith('"POST /token HTTP/1.1" 503')]) == 1, lines
    assert not [m for m in lines if m.endswith(" 401")], lines


def test_redis_outage_answers_503_and_recovers_without_a_restart(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("WARNING", logger="oci_mcp.server")
    login = _login(stack, "bob")
    assert initialize(stack.http, stack.url, stack.url, login.access_token).status_code == 200
    stack.redis.stop(save=True)  # SHUTDOWN SAVE: the data comes back with the server
    try:
        health = stack.http.get(stack.url + "/health")
        assert health.status_code == 503
        assert health.json()["storage"] == "unavailable"
        # A call: 503 with a clear message, never 401 (a client would sign in again on 401).
        call = initialize(stack.http, stack.url, stack.url, login.access_token)
        assert call.status_code == 503, call.text
        assert call.json()["error"] == "temporarily_unavailable"
        assert "state store" in call.json()["error_description"]
        assert call.headers["retry-after"]
        # A sign-in: registration and refresh fail the same way.
        registered = stack.http.post(
            stack.url + "/register",
            json={"redirect_uris": ["http://127.0.0.1:9/cb"], "token_endpoint_auth_method": "none"},
        )
        assert registered.status_code == 503, registered.text
        refused = refresh(stack.http, stack.url, stack.url, login)
        assert refused.status_code == 503, refused.text
    finally:
        stack.redis.start()
    # Back without restarting the server: the same token works, and so do refresh and sign-in.
    assert stack.http.get(stack.url + "/health").json()["storage"] == "ok"
    assert initialize(stack.http, stack.url, stack.url, login.access_token).status_code == 200
    assert refresh(stack.http, stack.url, stack.url, login).status_code == 200
    _login(stack, "alice")
    # One WARNING when the outage starts, one when it ends (not one per failed request).
    lines = [r.getMessage() for r in caplog.records if r.name == "oci_mcp.server"]
    assert len([m for m in lines if "is unreachable" in m]) == 1, lines
    assert len([m for m in lines if "reachable again" in m]) == 1, lines


def test_doctor_checks_the_storage(stack: Stack, tmp_path: Path) -> None:
    from oci_mcp_cli.core.envfile import load_env
    from oci_mcp_cli.doctor.checks import DoctorContext, check_storage

    def run(storage: str | None) -> Any:
        env_file = tmp_path / ".env"
        text = stack.env_file.read_text()
        env_file.write_text(text + (f"OCI_MCP_STORAGE={storage}\n" if storage else ""))
        with httpx.Client(timeout=10) as http:
            ctx = DoctorContext(env=load_env(env_file), http=http, server_url=stack.url)
            return check_storage(ctx)

    assert run(None).ok is True
    found = run(stack.redis.url)
    assert found.ok is True and "server reports its storage ok" in found.detail
    down = run(f"redis://:s3cret-pass@127.0.0.1:{_closed_port()}/0")
    assert down.ok is False and "does not answer" in down.detail and down.fix
    assert "s3cret-pass" not in down.detail
    assert run("memcached://x").ok is False


def _closed_port() -> int:
    from oci_mcp_cli.core.ports import free_port

    return free_port()  # nothing listens there


def _fernet_key(settings: ServerSettings) -> bytes:
    from oci_mcp_cli.server.auth import _storage_fernet_key, signing_key_bytes

    return _storage_fernet_key(signing_key_bytes(settings.jwt_signing_key))


# --- the storage URL (no Redis needed) ----------------------------------------------------------


def test_storage_urls() -> None:
    assert parse_storage_url(None).directory is None and not parse_storage_url("").shared
    assert parse_storage_url("file:///var/lib/oci-mcp").directory == Path("/var/lib/oci-mcp")
    assert parse_storage_url("file://").directory is None  # FastMCP's default location
    target = parse_storage_url("rediss://:pw@cache.example:6379/2")
    assert target.shared and target.redis_url == "rediss://:pw@cache.example:6379/2"
    for bad in ("memcached://x", "/var/lib/x", "redis:///0", "redis://h:port/0", "redis://h/x",
                "file://host/x"):
        with pytest.raises(UserError):
            parse_storage_url(bad)
    assert mask_storage_url("rediss://:pw@cache.example:6379/2") == (
        "rediss://:***@cache.example:6379/2"
    )
    assert mask_storage_url("redis://u:pw@[::1]:6379/0") == "redis://u:***@[::1]:6379/0"


def test_storage_setting_precedence_and_replica_mode(stack: Stack, tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        stack.env_file.read_text() + "OCI_MCP_STORAGE=redis://:topsecret@127.0.0.1:6379/0\n"
    )
    env_file.chmod(0o600)
    from_env = load_settings(env_file, port=1234)
    assert from_env.storage_url and from_env.replica_mode
    assert "topsecret" in from_env.secrets  # redacted from every log line
    assert "topsecret" not in from_env.storage_label
    # One replica of several: a --port other than MCP_SERVER_URL's is expected, no warning.
    assert port_mismatch_warning(from_env, 1234) is None
    flag = load_settings(env_file, storage=f"file://{tmp_path / 'state'}")
    assert flag.storage_dir == tmp_path / "state" and not flag.replica_mode
    assert port_mismatch_warning(flag, 1234) is not None
    assert load_settings(env_file, storage_dir=tmp_path / "d").storage_url is None
    with pytest.raises(UserError):
        load_settings(env_file, storage="redis://127.0.0.1/0", storage_dir=tmp_path / "d")

"""The server's anonymous OAuth surface under abuse (real server + sandbox over HTTP): redirect
policy, per-address rate limits, one-presentation authorization codes, Host/Origin checks, the
consent page's icon, per-user session cap, and test-client's password warning."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastmcp.utilities.ui import FASTMCP_LOGO_URL
from guard_support import (
    CALLBACK,
    authorize_url,
    base,
    initialize,
    ping,
    pkce,
    redeem,
    register,
    serving,
    sign_in,
)
from oauth_flow import password
from serve_support import provisioned_sandbox

from oci_mcp_cli.server.config import ServerSettings, load_settings

pytestmark = pytest.mark.e2e
EVIL = "https://evil.example/landing"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, ServerSettings]]:
    tmp = tmp_path_factory.mktemp("guard")
    with provisioned_sandbox(tmp) as (sb, env_file, _):
        yield sb, load_settings(env_file, storage_dir=tmp / "oauth", log_level="WARNING")


def _no_redirect_to(response: httpx.Response, target: str) -> None:
    location = response.headers.get("location", "")
    assert not location.startswith(target), location


def test_registration_refuses_redirects_outside_the_policy(env: Any) -> None:
    _, settings = env
    with serving(settings) as server:
        refused = register(server, EVIL)
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"] == "invalid_redirect_uri"
        assert register(server, "http://localhost:7777/callback").status_code == 201
        # VS Code registers its web callback and loopback; an unknown extra URI is dropped
        mixed = register(server, "https://vscode.dev/redirect", "http://127.0.0.1:33418/", EVIL)
        assert mixed.status_code == 201, mixed.text
        assert EVIL not in mixed.json()["redirect_uris"]
        assert "https://vscode.dev/redirect" in mixed.json()["redirect_uris"]
    with serving(settings, allowed_redirects=("https://app.example/cb",)) as server:
        assert register(server, "http://127.0.0.1:5/cb").status_code == 400
        assert register(server, "https://app.example/cb").status_code == 201


def test_authorize_errors_never_redirect_to_an_unvetted_uri(env: Any) -> None:
    _, settings = env
    _, challenge = pkce()
    with serving(settings) as server:
        client_id = register(server, CALLBACK).json()["client_id"]
        http = httpx.Client(follow_redirects=False, timeout=10)
        # a registered client, an evil redirect_uri and a bogus scope: no redirect at all
        answer = http.get(authorize_url(server, client_id, EVIL, challenge, scope="bogus"))
        assert answer.status_code == 400, answer.text
        _no_redirect_to(answer, EVIL)
        # the upstream client_id (FastMCP synthesizes a client that takes any redirect URI)
        upstream = http.get(
            authorize_url(server, settings.client_id, EVIL, challenge, scope="bogus")
        )
        assert upstream.status_code == 400, upstream.text
        _no_redirect_to(upstream, EVIL)
        # allowed by the policy but not registered by this client: refused too
        other = http.get(authorize_url(server, client_id, "https://vscode.dev/redirect",
                                       challenge, scope="bogus"))
        assert other.status_code == 400, other.text
        # a vetted client still hears about its error (RFC 6749 §4.1.2.1)
        vetted = http.get(authorize_url(server, client_id, CALLBACK, challenge, scope="bogus"))
        assert vetted.status_code == 302
        assert vetted.headers["location"].startswith(CALLBACK + "?error=invalid_scope")


def test_anonymous_entry_points_are_rate_limited_per_address(env: Any) -> None:
    _, settings = env
    with serving(settings, rate_limit=1.0, rate_burst=3) as server:
        answers = [register(server, CALLBACK) for _ in range(4)]
        assert [a.status_code for a in answers[:3]] == [201, 201, 201]
        limited = answers[3]
        assert limited.status_code == 429
        assert int(limited.headers["Retry-After"]) >= 1
        # X-Forwarded-For is not trusted without --trusted-proxy: rotating it does not help
        spoofed = register(server, CALLBACK, headers={"X-Forwarded-For": "203.0.113.9"})
        assert spoofed.status_code == 429
        client_id = answers[0].json()["client_id"]
        _, challenge = pkce()
        http = httpx.Client(follow_redirects=False, timeout=10)
        codes = [http.get(authorize_url(server, client_id, CALLBACK, challenge)).status_code
                 for _ in range(4)]
        assert codes == [302, 302, 302, 429]
        assert httpx.get(base(server) + "/health").status_code == 200  # not limited


def test_failed_pkce_check_spends_the_code(env: Any) -> None:
    sb, settings = env
    with serving(settings) as server:
        grant = sign_in(server, "alice", password(sb, "alice"))
        wrong = redeem(server, grant, verifier=pkce()[0])
        assert wrong.status_code in (400, 401) and wrong.json()["error"] == "invalid_grant"
        assert "code_verifier" in wrong.json()["error_description"]
        right = redeem(server, grant)
        assert right.status_code in (400, 401), right.text
        assert right.json()["error"] == "invalid_grant"


def test_code_replay_revokes_what_the_first_redemption_issued(env: Any) -> None:
    sb, settings = env
    with serving(settings) as server:
        grant = sign_in(server, "bob", password(sb, "bob"))
        first = redeem(server, grant)
        assert first.status_code == 200, first.text
        tokens = first.json()
        assert initialize(server, tokens["access_token"]).status_code == 200
        replay = redeem(server, grant)
        assert replay.status_code in (400, 401) and replay.json()["error"] == "invalid_grant"
        assert initialize(server, tokens["access_token"]).status_code == 401
        refresh = httpx.post(base(server) + "/token", timeout=30, data={
            "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
            "client_id": grant.client_id})
        assert refresh.status_code in (400, 401), refresh.text


def test_foreign_host_and_origin_are_refused_on_loopback(env: Any) -> None:
    _, settings = env
    with serving(settings) as server:
        url = base(server)
        metadata = url + "/.well-known/oauth-authorization-server"
        assert httpx.get(metadata).status_code == 200
        rebound = httpx.get(metadata, headers={"Host": "attacker.example"})
        assert rebound.status_code == 421
        foreign = httpx.post(url + "/mcp", json={}, headers={"Origin": "https://attacker.example"})
        assert foreign.status_code == 403
        same = httpx.post(url + "/mcp", json={}, headers={"Origin": url})
        assert same.status_code == 401  # reaches the MCP endpoint: sign-in required
        for _ in range(2):  # the same answers again, now from the remembered verdicts
            again = httpx.get(metadata, headers={"Host": "attacker.example"})
            assert (again.status_code, again.text) == (421, rebound.text)
            assert httpx.post(url + "/mcp", json={},
                              headers={"Origin": "https://attacker.example"}).status_code == 403
            assert httpx.post(url + "/mcp", json={}, headers={"Origin": url}).status_code == 401
            assert httpx.get(metadata).status_code == 200
    with serving(settings, allowed_hosts=("mcp.internal",)) as server:
        named = httpx.get(base(server) + "/.well-known/oauth-authorization-server",
                          headers={"Host": "mcp.internal"})
        assert named.status_code == 200


def test_consent_page_uses_an_inline_icon(env: Any) -> None:
    _, settings = env
    with serving(settings) as server:
        client_id = register(server, CALLBACK).json()["client_id"]
        http = httpx.Client(follow_redirects=False, timeout=10)
        start = http.get(authorize_url(server, client_id, CALLBACK, pkce()[1]))
        consent = http.get(start.headers["location"])
        assert consent.status_code == 200 and "csrf_token" in consent.text
        html = consent.text
        assert FASTMCP_LOGO_URL not in html
        fetched = re.findall(r'\bsrc="([^"]*)"', html)
        fetched += re.findall(r'<link[^>]*href="([^"]*)"', html)  # stylesheets, icons
        assert fetched and all(s.startswith("data:") or "://" not in s for s in fetched), fetched
        assert re.search(r'<img[^>]+src="data:image/svg\+xml;base64,', html)


def test_open_sessions_per_user_are_capped(env: Any) -> None:
    sb, settings = env
    with serving(settings, max_sessions_per_user=2) as server:
        token = redeem(server, sign_in(server, "alice", password(sb, "alice"))).json()
        ids = []
        for _ in range(3):
            opened = initialize(server, token["access_token"])
            assert opened.status_code == 200, opened.text
            ids.append(opened.headers["mcp-session-id"])
        assert ping(server, token["access_token"], ids[0]).status_code == 404  # least recent
        assert ping(server, token["access_token"], ids[1]).status_code == 200
        assert ping(server, token["access_token"], ids[2]).status_code == 200


def test_test_client_warns_about_a_password_on_the_command_line(tmp_path: Path) -> None:
    base_cmd = [sys.executable, "-m", "oci_mcp_cli", "test-client", "--url",
                "http://127.0.0.1:9/mcp", "--username", "alice"]
    env = {"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    typed = subprocess.run([*base_cmd, "--password", "pw"], capture_output=True, text=True,
                           env=env, timeout=60)
    assert "--password is visible to other users" in typed.stderr
    from_env = subprocess.run(base_cmd, capture_output=True, text=True, timeout=60,
                              env={**env, "OCI_MCP_PASSWORD": "pw"})
    assert "--password is visible" not in from_env.stderr
    assert from_env.returncode != 0  # nothing listens there; only the warning is under test

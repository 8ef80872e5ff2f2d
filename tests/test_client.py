"""Test-client building blocks without a server: headless form handling, --arg parsing, the
encrypted token cache, and connection errors."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from oci_mcp_cli.cli.test_client_cmd import parse_args
from oci_mcp_cli.client.cache import cache_dir, clear_tokens, token_store
from oci_mcp_cli.client.headless import _fill, parse_forms
from oci_mcp_cli.client.session import ClientOptions, run_session
from oci_mcp_cli.core.errors import RemoteError, UserError
from oci_mcp_cli.core.ports import free_port

CONSENT = """<form method="POST" action="/consent">
<input type="hidden" name="txn_id" value="T1"><input type="hidden" name="csrf_token" value="C1">
<button type="submit" name="action" value="approve">Allow</button>
<button type="submit" name="action" value="deny">Deny</button></form>"""
SIGNIN = """<form method="post" action="http://127.0.0.1:9/oauth2/v1/authorize" id="signin">
<input type="hidden" name="txn" value="X"><input type="text" id="username" name="username" value="">
<input type="password" name="password"><button type="submit">Sign in</button></form>"""


def test_consent_form_is_approved() -> None:
    (form,) = parse_forms(CONSENT)
    assert _fill(form, "alice", "pw") == {"txn_id": "T1", "csrf_token": "C1", "action": "approve"}


def test_sign_in_form_is_filled_with_hidden_fields_kept() -> None:
    (form,) = parse_forms(SIGNIN)
    assert form.method == "post" and form.password_field == "password"
    assert _fill(form, "alice", "pw") == {"txn": "X", "username": "alice", "password": "pw"}
    assert _fill(parse_forms("<form><input name='q'></form>")[0], "a", "b") is None


def test_parse_args() -> None:
    assert parse_args(["region=us-ashburn-1", "n=3", "flag=true", "s=a=b"]) == {
        "region": "us-ashburn-1",
        "n": 3,
        "flag": True,
        "s": "a=b",
    }
    with pytest.raises(UserError):
        parse_args(["novalue"])


def test_token_cache_is_encrypted_per_url_and_user(tmp_path: Path) -> None:
    async def main() -> None:
        store = token_store("http://127.0.0.1:1/mcp", "alice", tmp_path)
        await store.put(key="tokens", value={"access_token": "eyJhbGciOi.secret-token.sig"})
        assert (await store.get(key="tokens"))["access_token"].startswith("eyJ")
        other = token_store("http://127.0.0.1:1/mcp", "bob", tmp_path)
        assert await other.get(key="tokens") is None

    anyio.run(main)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert all("secret-token" not in p.read_text(errors="replace") for p in files)
    key = tmp_path / "client" / "key"
    assert key.stat().st_mode & 0o777 == 0o600
    for directory in (
        key.parent,
        key.parent / "tokens",
        cache_dir("http://127.0.0.1:1/mcp", "bob", tmp_path),
    ):
        assert directory.stat().st_mode & 0o777 == 0o700, directory
    assert cache_dir("u", "alice", tmp_path) != cache_dir("u", "bob", tmp_path)
    clear_tokens("http://127.0.0.1:1/mcp", "alice", tmp_path)
    assert not cache_dir("http://127.0.0.1:1/mcp", "alice", tmp_path).exists()


def test_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    options = ClientOptions(
        url=f"http://127.0.0.1:{free_port()}/mcp", username="a", password="b", cache_root=tmp_path
    )
    with pytest.raises(RemoteError, match="cannot connect to the MCP server"):
        anyio.run(run_session, options)

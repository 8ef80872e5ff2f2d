# ruff: noqa: F811  (pytest fixtures imported from provisioning_support)
"""`oci-mcp init` with a session-token profile (`security_token_file`, as `oci session
authenticate` writes it), end to end against the sandbox through the real SDK signer.

The sandbox cannot mint a UPST for its admin: the admin is an IAM user outside every identity
domain and the SCIM admin API accepts API-key signatures only (a sandbox rule). So the UPST here is
a *user's* (alice, minted by ``conftest.mint_upst`` with the sandbox's own UPST key — the claim set
the token exchange produces) and the test asserts what OCI does for a user without the domain
admin role: the regional calls succeed with the session-token signature, and the first SCIM call
fails with a clear message that names the call and the role, exit 1, no traceback.
"""

from __future__ import annotations

from pathlib import Path

from conftest import mint_upst
from provisioning_support import Env, _fast_retries, env, seeded_state  # noqa: F401


def session_profile(env: Env, tmp_path: Path, username: str, *, ttl_s: int = 3600) -> Path:
    """An OCI config with a SESSION profile laid out as `oci session authenticate` writes it."""
    from cryptography.hazmat.primitives import serialization

    token, session_key = mint_upst(env.sb, username, ttl_s=ttl_s)
    token_file, key_file = tmp_path / "token", tmp_path / "session_key.pem"
    token_file.write_text(token)
    key_file.write_bytes(
        session_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    admin = dict(
        line.split("=", 1)
        for line in Path(env.sb.config_file).read_text().splitlines()
        if "=" in line
    )
    config = tmp_path / "config"
    config.write_text(
        "[SESSION]\n"
        "fingerprint=session\n"
        f"key_file={key_file}\n"
        f"tenancy={admin['tenancy']}\n"
        f"region={admin['region']}\n"
        f"security_token_file={token_file}\n"
        f"oci_mcp_endpoint={admin['oci_mcp_endpoint']}\n"
    )
    return config


def test_session_token_profile_signs_and_a_non_admin_gets_a_clear_error(
    env: Env, tmp_path: Path
) -> None:
    config = session_profile(env, tmp_path, "alice")
    env.sb.clear_requests()
    result = env.cli(
        "init", "--dry-run", "--json", "--config-file", str(config), "--profile", "SESSION",
        creds=False,
    )
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert result.stdout == ""  # --json: nothing on stdout when there is no result
    assert "Traceback" not in result.stderr
    assert "list Apps (IdentityDomainsClient.list_apps)" in result.stderr
    assert "Identity Domain Administrator" in result.stderr
    seen = env.sb.requests()
    # The session-token signature was accepted by the regional API (the domain was listed as
    # alice) before the admin API refused the user.
    listed = [r for r in seen if r["path"].startswith("/20160918/domains")]
    assert listed and all(r["status"] == 200 for r in listed), seen
    assert {r["principal"] for r in listed} == {"alice"}, listed
    assert not [r for r in seen if r["method"] != "GET"]
    assert not (tmp_path / "proj").exists()  # nothing written


def test_expired_session_token_is_one_clear_line(env: Env, tmp_path: Path) -> None:
    config = session_profile(env, tmp_path, "alice", ttl_s=-60)
    env.sb.clear_requests()
    result = env.cli(
        "init", "--dry-run", "--json", "--config-file", str(config), "--profile", "SESSION",
        creds=False,
    )
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert "the session token of profile [SESSION]" in result.stderr
    assert "has expired" in result.stderr
    assert "oci session refresh --profile SESSION" in result.stderr
    assert result.stdout == ""
    assert env.sb.requests() == []  # caught before any call


def test_doctor_names_an_expired_session_token(env: Env, tmp_path: Path) -> None:
    config = session_profile(env, tmp_path, "alice", ttl_s=-60)
    result = env.cli(
        "doctor", "--json", "--config-file", str(config), "--profile", "SESSION", creds=False
    )
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert "oci session refresh --profile SESSION" in result.stderr

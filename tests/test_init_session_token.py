# ruff: noqa: F811  (pytest fixtures imported from provisioning_support)
"""`oci-mcp init` with a session-token profile (`security_token_file`, as `oci session
authenticate` writes it), end to end against the sandbox through the real SDK signer.

The profiles come from ``Sandbox.session_profile`` (a UPST minted like the token exchange mints
it, plus the session key). The admin is a Default-domain user with the Identity Domain
Administrator role, so its session token provisions; alice's is refused by the SCIM admin API with
the role message (401 ``NotAuthorized``, docs/sandbox.md).
"""

from __future__ import annotations

import json
import stat

from provisioning_support import Env, _fast_retries, env, seeded_state, steps  # noqa: F401
from typer.testing import Result


def run_as(env: Env, username: str, *args: str, ttl_s: int = 3600) -> Result:
    """``oci-mcp <args>`` with only a session-token profile of ``username`` (requests cleared)."""
    config, profile = env.sb.session_profile(username, "SESSION", ttl_s=ttl_s)
    assert profile == "SESSION"
    env.sb.clear_requests()
    return env.cli(*args, "--config-file", config, "--profile", "SESSION", creds=False)


def test_admin_session_token_profile_provisions_end_to_end(env: Env) -> None:
    import json

    result = run_as(env, "sandbox-admin", "init", "--yes", "--json")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    payload = json.loads(result.stdout)
    assert steps(payload)["app"] == "created", payload
    (app,) = env.apps()  # read back through the API-key profile: exactly one app
    assert app.active
    values = env.env()
    assert values["IAM_CLIENT_ID"] == app.name == payload["client_id"]
    assert stat.S_IMODE(env.env_file.stat().st_mode) == 0o600
    writes = env.writes()
    assert writes and all(r["status"] < 300 for r in writes), writes
    # every SCIM write was signed with the admin's session token, not an API key
    assert {(r["principal"], r["auth"]) for r in writes} == {("sandbox-admin", "upst")}


def test_non_admin_session_token_gets_a_clear_role_error(env: Env) -> None:
    result = run_as(env, "alice", "init", "--yes", "--json")
    assert result.exit_code == 1, (result.stdout, result.stderr)
    error = json.loads(result.stdout)["error"]  # --json: the failure is one JSON object
    assert error["exit_code"] == 1 and "Identity Domain Administrator" in error["hint"]
    assert "Traceback" not in result.stderr
    assert "list Apps (IdentityDomainsClient.list_apps)" in result.stderr
    assert "Identity Domain Administrator" in result.stderr
    seen = env.sb.requests()
    # The session-token signature was accepted by the regional API (the domain was listed as
    # alice) before the admin API refused the user.
    listed = [r for r in seen if r["path"].startswith("/20160918/domains")]
    assert listed and all(r["status"] == 200 for r in listed), seen
    assert {r["principal"] for r in listed} == {"alice"}, listed
    refused = [r for r in seen if "/admin/v1/" in r["path"]]
    assert refused and {(r["status"], r["principal"]) for r in refused} == {(401, "alice")}
    assert not [r for r in seen if r["method"] != "GET"]
    assert not env.env_file.exists()  # nothing written


def test_expired_session_token_is_one_clear_line(env: Env) -> None:
    result = run_as(env, "alice", "init", "--dry-run", "--json", ttl_s=-60)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert "the session token of profile [SESSION]" in result.stderr
    assert "has expired" in result.stderr
    assert "oci session refresh --profile SESSION" in result.stderr
    assert json.loads(result.stdout)["error"]["exit_code"] == 2
    assert env.sb.requests() == []  # caught before any call


def test_doctor_names_an_expired_session_token(env: Env) -> None:
    result = run_as(env, "alice", "doctor", "--json", ttl_s=-60)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert "oci session refresh --profile SESSION" in result.stderr

"""Session-token (``oci session authenticate``-style) profiles against the sandbox's SCIM admin API.

The admin is also a Default-domain user with the Identity Domain Administrator role, so its UPST
may administer; any other user's UPST gets 401 ``NotAuthorized`` (docs/sandbox.md). Everything
goes through the real SDK (``SecurityTokenSigner``) over HTTP.
"""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path
from typing import Any

import httpx
import jwt
import oci
import pytest
from cryptography.hazmat.primitives import serialization
from oci.identity_domains import IdentityDomainsClient

from oci_mcp_cli.sandbox import Sandbox, keys
from oci_mcp_cli.sandbox.models import DOMAIN_ADMIN_ROLE, SCHEMA_VERSION, SandboxState

APP_SCHEMA = "urn:ietf:params:scim:schemas:oracle:idcs:App"
SCIM_ERROR_EXT = "urn:ietf:params:scim:api:oracle:idcs:extension:messages:_error"  # SDK's casing
NO_RETRY = oci.retry.NoneRetryStrategy()


def session_client(config_file: str, profile: str, url: str) -> IdentityDomainsClient:
    """What oci-cli builds for a ``security_token_file`` profile: a SecurityTokenSigner."""
    config = oci.config.from_file(config_file, profile)
    token = Path(config["security_token_file"]).read_text()
    key = oci.signer.load_private_key_from_file(config["key_file"])
    signer = oci.auth.signers.SecurityTokenSigner(token, key)
    return IdentityDomainsClient(config, url, signer=signer, retry_strategy=NO_RETRY)


def scim_client(sb: Sandbox, username: str, domain: int = 0, **kw: Any) -> IdentityDomainsClient:
    config_file, profile = sb.session_profile(username, f"S-{username}", **kw)
    return session_client(config_file, profile, sb.domains[domain]["url"])


def refused(call: Any) -> dict[str, Any]:
    with pytest.raises(oci.exceptions.ServiceError) as info:
        call()
    assert info.value.status == 401
    assert info.value.request_id
    return info.value.args[0]


def new_app(name: str) -> dict[str, Any]:
    return {
        "schemas": [APP_SCHEMA],
        "displayName": name,
        "basedOnTemplate": {"value": "CustomWebAppTemplateId"},
        "clientType": "confidential",
    }


def test_profile_is_laid_out_like_oci_session_authenticate(sb: Sandbox) -> None:
    config_file, profile = sb.session_profile("sandbox-admin", "ADMIN")
    config = oci.config.from_file(config_file, profile)
    assert profile == "ADMIN"
    assert "user" not in config  # `oci session authenticate` writes no user
    assert config["tenancy"] == sb.tenancy_id and config["region"] == "us-ashburn-1"
    assert config["oci_mcp_endpoint"] == sb.url
    key = oci.signer.load_private_key_from_file(config["key_file"])
    assert config["fingerprint"] == keys.fingerprint(key)
    for path in (config_file, config["key_file"], config["security_token_file"]):
        assert stat.S_IMODE(Path(path).stat().st_mode) == 0o600, path
    claims = jwt.decode(
        Path(config["security_token_file"]).read_text(), options={"verify_signature": False}
    )
    state = sb.ctx.store.state
    assert claims["sub"] == state.admin.ocid and claims["tenant"] == sb.tenancy_id
    assert claims["iss"] == "authService.oracle.com" and claims["ttype"] == "upst"
    assert 0 < claims["exp"] - claims["iat"] <= 3600
    jwk = json.loads(claims["jwk"])  # the session key, as a JSON string, like the exchange
    assert jwk["n"] == keys.rsa_jwk(key)["n"]


def test_admin_session_token_administers_the_domain(sb: Sandbox) -> None:
    client = scim_client(sb, "sandbox-admin")
    sb.clear_requests()
    created = client.create_app(app=new_app("via-session")).data
    names = [a.display_name for a in client.list_apps().data.resources]
    assert "via-session" in names
    users = {u.user_name for u in client.list_users().data.resources}
    assert users == {"alice", "bob", "sandbox-admin"}  # the admin is a Default-domain user
    client.delete_app(created.id)
    log = sb.requests()
    assert {(r["principal"], r["auth"], r["status"] < 300) for r in log} == {
        ("sandbox-admin", "upst", True)
    }, log


def test_tenancy_admin_session_token_administers_other_domains(sb: Sandbox) -> None:
    client = scim_client(sb, "sandbox-admin", domain=1)  # Secondary: by IAM policy, as in OCI
    assert [u.user_name for u in client.list_users().data.resources] == ["carol"]


def test_non_admin_session_token_is_not_authorized(sb: Sandbox) -> None:
    client = scim_client(sb, "alice")
    for call in (client.list_apps, lambda: client.create_app(app=new_app("nope"))):
        body = refused(call)
        assert body[SCIM_ERROR_EXT]["messageId"] == "NotAuthorized"
        assert "alice is not authorized" in body["detail"]
        assert "Identity Domain Administrator" in body["detail"]
    admin = scim_client(sb, "sandbox-admin")
    assert "nope" not in [a.display_name for a in admin.list_apps().data.resources]


def test_domain_admin_role_counts_only_in_its_own_domain(sb: Sandbox) -> None:
    # The sandbox has no API to grant admin roles; the test grants carol the role in its state.
    with sb.ctx.store.mutate() as state:
        carol = _user(state, "carol")
        carol.admin_roles = [DOMAIN_ADMIN_ROLE]
    try:
        assert scim_client(sb, "carol", domain=1).list_apps().data is not None  # Secondary
        body = refused(scim_client(sb, "carol", domain=0).list_apps)  # Default: not hers
        assert body[SCIM_ERROR_EXT]["messageId"] == "NotAuthorized"
    finally:
        with sb.ctx.store.mutate() as state:
            _user(state, "carol").admin_roles = []


def test_expired_admin_session_token_is_not_authenticated(sb: Sandbox) -> None:
    body = refused(scim_client(sb, "sandbox-admin", ttl_s=-60).list_apps)
    assert body[SCIM_ERROR_EXT]["messageId"] == "NotAuthenticated"
    assert "expired" in body["detail"]


def test_lifetime_is_capped_and_unknown_users_are_refused(sb: Sandbox) -> None:
    config_file, profile = sb.session_profile("bob", "LONG", ttl_s=7200)
    token = Path(oci.config.from_file(config_file, profile)["security_token_file"]).read_text()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 3600
    with pytest.raises(LookupError, match="nobody"):
        sb.session_profile("nobody")


def test_session_token_hook_binds_the_callers_key(sb: Sandbox) -> None:
    key = keys.new_rsa_key()
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    hook = f"{sb.url}/_sandbox/session-token"
    response = httpx.post(
        hook, json={"username": "sandbox-admin", "public_key": base64.b64encode(der).decode()}
    )
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"token"}  # no private key crosses the wire
    signer = oci.auth.signers.SecurityTokenSigner(response.json()["token"], key)
    client = IdentityDomainsClient(
        {"region": "us-ashburn-1"}, sb.domains[0]["url"], signer=signer, retry_strategy=NO_RETRY
    )
    assert client.list_apps().status == 200
    # signed with another key than the one the token names: not authenticated
    other = oci.auth.signers.SecurityTokenSigner(response.json()["token"], keys.new_rsa_key())
    wrong = IdentityDomainsClient(
        {"region": "us-ashburn-1"}, sb.domains[0]["url"], signer=other, retry_strategy=NO_RETRY
    )
    assert refused(wrong.list_apps)[SCIM_ERROR_EXT]["messageId"] == "NotAuthenticated"
    bad = httpx.post(hook, json={"username": "alice", "public_key": "not-base64"})
    assert bad.status_code == 400 and "public_key" in bad.json()["message"]
    unknown = httpx.post(
        hook, json={"username": "nobody", "public_key": base64.b64encode(der).decode()}
    )
    assert unknown.status_code == 404


def test_ready_line_users_leave_the_admin_out(sb: Sandbox) -> None:
    assert {u["username"] for u in sb.users} == {"alice", "bob", "carol"}


def test_old_state_is_migrated_to_hold_the_admin_user(tmp_path: Path) -> None:
    with Sandbox(state_dir=tmp_path) as first:
        admin_ocid = first.ctx.store.state.admin.ocid
    path = tmp_path / "state.json"
    data = json.loads(path.read_text())
    for domain in data["domains"].values():  # what a schema-1 sandbox saved
        domain["users"] = {
            uid: {k: v for k, v in u.items() if k != "admin_roles"}
            for uid, u in domain["users"].items()
            if u["ocid"] != admin_ocid
        }
    data["schema_version"] = 1
    path.write_text(json.dumps(data))
    with Sandbox(state_dir=tmp_path) as again:
        saved = json.loads(path.read_text())
        assert saved["schema_version"] == SCHEMA_VERSION
        admin = _user(SandboxState.from_dict(saved), "sandbox-admin")
        assert admin.ocid == admin_ocid and admin.admin_roles == [DOMAIN_ADMIN_ROLE]
        assert scim_client(again, "sandbox-admin").list_apps().status == 200
        alice = refused(scim_client(again, "alice").list_apps)  # loaded without admin_roles
        assert alice[SCIM_ERROR_EXT]["messageId"] == "NotAuthorized"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def _user(state: SandboxState, name: str) -> Any:
    return next(u for d in state.domains.values() for u in d.users.values() if u.user_name == name)


def test_a_token_that_worked_still_expires_and_its_user_can_still_be_deactivated(
    sb: Sandbox,
) -> None:
    """The sandbox memoizes a UPST's verified signature (signatures.py ``_verified_upst``): what
    changes with time is checked again at every request — its ``exp`` and its user."""
    import time

    config_file, profile = sb.session_profile("sandbox-admin", "SHORT", ttl_s=2)
    token = Path(oci.config.from_file(config_file, profile)["security_token_file"]).read_text()
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    client = session_client(config_file, profile, sb.domains[0]["url"])
    assert client.list_apps().status == 200  # verified (and memoized) while valid
    deadline = time.monotonic() + 10
    while time.time() < exp and time.monotonic() < deadline:  # the clock passes exp
        time.sleep(0.05)
    body = refused(client.list_apps)
    assert body[SCIM_ERROR_EXT]["messageId"] == "NotAuthenticated"
    assert "expired" in body["detail"]

    carol = scim_client(sb, "carol")  # authenticated, not authorized (not an administrator)
    assert refused(carol.list_apps)[SCIM_ERROR_EXT]["messageId"] == "NotAuthorized"
    with sb.ctx.store.mutate() as state:
        _user(state, "carol").active = False
    try:
        body = refused(carol.list_apps)  # the same token, its user now deactivated
    finally:
        with sb.ctx.store.mutate() as state:
            _user(state, "carol").active = True
    assert body[SCIM_ERROR_EXT]["messageId"] == "NotAuthenticated"
    assert "not active" in body["detail"]

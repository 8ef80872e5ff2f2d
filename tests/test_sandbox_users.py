"""Deactivation through the ordinary SCIM Users API (real IdentityDomainsClient ``patch_user`` /
``put_user``) and what it ends: sign-in, refresh, the UPST exchange, UPST-signed calls; plus the
other conditions that make a fresh UPST exchange fail (app deactivated, trust inactive or removed,
revoked refresh token). Over real HTTP against the sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import oci
import pytest
from oauth_flow import (
    Client,
    admin_domains_client,
    create_app,
    create_trust,
    domain_url,
    parse_page,
    password,
    session_public_key,
)

from oci_mcp_cli.sandbox import Sandbox

CB = "https://mcp.example.com/auth/callback"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
UPST = "urn:oci:token-type:oci-upst"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SCOPE = "openid offline_access"


@dataclass
class Env:
    sb: Sandbox
    url: str
    idc: Any
    mcp: Any  # confidential app: signs users in (refresh grant) and does the UPST exchange
    trust: Any
    http: httpx.Client

    def client(self) -> Client:
        return Client(self.http, self.url, self.mcp.name, self.mcp.client_secret, CB)

    def login(self, username: str) -> dict[str, Any]:
        return self.client().login(username, password(self.sb, username), scope=SCOPE)

    def refresh(self, refresh_token: str) -> httpx.Response:
        return self.client().token({"grant_type": "refresh_token", "refresh_token": refresh_token})

    def exchange(self, subject: str) -> httpx.Response:
        data = {"grant_type": EXCHANGE, "requested_token_type": UPST, "subject_token": subject,
                "subject_token_type": "jwt", "public_key": session_public_key()}
        return self.http.post(f"{self.url}/oauth2/v1/token", data=data,
                              auth=(self.mcp.name, self.mcp.client_secret))

    def user(self, username: str) -> Any:
        found = self.idc.list_users(filter=f'userName eq "{username}"').data.resources
        assert len(found) == 1, found
        return found[0]

    def set_active(self, username: str, active: bool, **kwargs: Any) -> Any:
        from oci.identity_domains.models import Operations, PatchOp

        op = PatchOp(schemas=[PATCH_SCHEMA],
                     operations=[Operations(op="REPLACE", path="active", value=active)])
        return self.idc.patch_user(self.user(username).id, patch_op=op, **kwargs).data


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with Sandbox(state_dir=tmp_path_factory.mktemp("users")) as sb, \
            httpx.Client(timeout=10) as http:
        url = domain_url(sb)
        idc = admin_domains_client(sb, url)
        grants = ["authorization_code", "client_credentials", "refresh_token"]
        mcp = create_app(idc, "mcp-server", redirect_uris=[CB], grants=grants,
                         allowed_operations=["introspect"])
        trust = create_trust(idc, url, [mcp.name])
        yield Env(sb, url, idc, mcp, trust, http)


def _oauth_error(response: httpx.Response, error: str, status: int = 400) -> str:
    """RFC 6749 §5.2 error JSON (with no-store), as the token endpoint answers; the description."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "error_description"} and body["error"] == error, body
    assert response.headers["cache-control"] == "no-store"
    return body["error_description"]


def _upst_client(env: Env, access_token: str) -> Any:
    """ObjectStorageClient signed with a UPST the real TokenExchangeSigner got for the token."""
    signer = oci.auth.signers.TokenExchangeSigner(
        access_token, env.url, env.mcp.name, env.mcp.client_secret
    )
    return oci.object_storage.ObjectStorageClient(
        {"region": "us-ashburn-1"}, signer=signer, service_endpoint=env.sb.url,
        retry_strategy=oci.retry.NoneRetryStrategy(),
    )


def test_patch_user_deactivates_through_the_sdk(env: Env) -> None:
    before = env.user("bob")
    assert before.active is True
    patched = env.set_active("bob", False)
    assert patched.active is False and patched.user_name == "bob"
    assert patched.meta.version != before.meta.version  # a new ETag
    assert env.idc.get_user(before.id).data.active is False
    with pytest.raises(oci.exceptions.ServiceError) as stale:  # If-Match with the old version
        env.set_active("bob", True, if_match=before.meta.version)
    assert stale.value.status == 412
    assert env.set_active("bob", True).active is True


def test_inactive_user_is_refused_everywhere_until_reactivated(env: Env) -> None:
    tokens = env.login("alice")
    storage = _upst_client(env, tokens["access_token"])
    assert storage.get_namespace().data == "sandboxns"
    env.set_active("alice", False)
    try:
        # Sign-in: the same page and message as a wrong password (no account enumeration).
        client = env.client()
        page = parse_page(client.authorize(scope=SCOPE))
        refused = parse_page(client.submit(page, "alice", password(env.sb, "alice")))
        assert refused.status == 401 and "incorrect" in refused.error.lower()
        # Refresh and exchange: 400 invalid_grant naming the rule.
        assert "not active" in _oauth_error(env.refresh(tokens["refresh_token"]), "invalid_grant")
        assert "not active" in _oauth_error(env.exchange(tokens["access_token"]), "invalid_grant")
        with pytest.raises(Exception, match="400"):  # the SDK signer surfaces it (HTTPError)
            _upst_client(env, tokens["access_token"])
        # The UPST issued before: OCI calls signed with it are refused (401 NotAuthenticated).
        with pytest.raises(oci.exceptions.ServiceError) as denied:
            storage.get_namespace()
        assert denied.value.status == 401 and denied.value.code == "NotAuthenticated"
        info = env.http.post(f"{env.url}/oauth2/v1/introspect",
                             data={"token": tokens["access_token"]},
                             auth=(env.mcp.name, env.mcp.client_secret))
        assert info.json() == {"active": False}
    finally:
        env.set_active("alice", True)
    # Reactivated: the refresh token (not spent by the refused attempt) and the exchange work.
    refreshed = env.refresh(tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    assert env.exchange(refreshed.json()["access_token"]).status_code == 200
    assert storage.get_namespace().data == "sandboxns"
    assert env.login("alice")["access_token"]


def test_put_user_replaces_the_emulated_attributes(env: Env) -> None:
    user = env.user("bob")
    user.active = False
    user.display_name = "Bob Builder"
    put = env.idc.put_user(user.id, user=user).data
    assert (put.active, put.display_name, put.name.formatted) == (False, "Bob Builder",
                                                                  "Bob Builder")
    put.active = True
    put.emails = None
    with pytest.raises(oci.exceptions.ServiceError) as no_email:
        env.idc.put_user(user.id, user=put)
    assert no_email.value.status == 400
    assert "primary email" in no_email.value.args[0]["detail"]
    put.emails = env.user("bob").emails
    put.title = "Engineer"  # a User attribute the sandbox does not store
    with pytest.raises(oci.exceptions.ServiceError) as unemulated:
        env.idc.put_user(user.id, user=put)
    assert unemulated.value.status == 400 and "title" in unemulated.value.args[0]["detail"]
    put.title = None
    assert env.idc.put_user(user.id, user=put).data.active is True
    assert env.login("bob")["access_token"]


def test_user_patch_rules(env: Env) -> None:
    admin = env.user("sandbox-admin")
    with pytest.raises(oci.exceptions.ServiceError) as itself:
        env.set_active("sandbox-admin", False)
    assert itself.value.status == 400 and "itself" in itself.value.args[0]["detail"]
    assert env.idc.get_user(admin.id).data.active is True
    body = {"schemas": [PATCH_SCHEMA],
            "Operations": [{"op": "replace", "path": "active", "value": "no"}]}
    with pytest.raises(oci.exceptions.ServiceError) as bad_type:
        env.idc.patch_user(env.user("bob").id, patch_op=body)
    assert bad_type.value.status == 400
    with pytest.raises(oci.exceptions.ServiceError) as taken:  # userName is unique
        env.idc.patch_user(env.user("bob").id, patch_op={
            "schemas": [PATCH_SCHEMA],
            "Operations": [{"op": "replace", "path": "userName", "value": "ALICE"}]})
    assert taken.value.status == 409
    with pytest.raises(oci.exceptions.ServiceError) as missing:
        env.idc.patch_user("0" * 32, patch_op=body)
    assert missing.value.status == 404


def test_only_a_domain_administrator_may_patch_users(env: Env, user_client: Any) -> None:
    from oci.identity_domains import IdentityDomainsClient
    from oci.identity_domains.models import Operations, PatchOp

    as_bob = user_client(env.sb, "bob", IdentityDomainsClient)
    as_bob.base_client.endpoint = env.url  # the domain URL (it takes no service_endpoint path)
    op = PatchOp(schemas=[PATCH_SCHEMA],
                 operations=[Operations(op="REPLACE", path="active", value=False)])
    with pytest.raises(oci.exceptions.ServiceError) as denied:
        as_bob.patch_user(env.user("alice").id, patch_op=op)
    assert denied.value.status == 401
    assert "NotAuthorized" in denied.value.args[0]["detail"]
    assert env.user("alice").active is True


def test_exchange_fails_when_the_app_is_deactivated(env: Env) -> None:
    subject = env.login("bob")["access_token"]
    env.idc.put_app_status_changer(env.mcp.id, app_status_changer={
        "schemas": ["urn:ietf:params:scim:schemas:oracle:idcs:AppStatusChanger"],
        "active": False})
    try:
        refused = env.exchange(subject)
        assert "not active" in _oauth_error(refused, "invalid_client", status=401)
    finally:
        env.idc.put_app_status_changer(env.mcp.id, app_status_changer={
            "schemas": ["urn:ietf:params:scim:schemas:oracle:idcs:AppStatusChanger"],
            "active": True})
    assert env.exchange(subject).status_code == 200


def test_exchange_fails_when_the_trust_is_inactive_or_removed(env: Env) -> None:
    from oci.identity_domains.models import Operations, PatchOp

    subject = env.login("bob")["access_token"]
    op = PatchOp(schemas=[PATCH_SCHEMA],
                 operations=[Operations(op="REPLACE", path="active", value=False)])
    env.idc.patch_identity_propagation_trust(env.trust.id, patch_op=op)
    assert "inactive" in _oauth_error(env.exchange(subject), "invalid_grant")
    env.idc.delete_identity_propagation_trust(env.trust.id)
    try:
        detail = _oauth_error(env.exchange(subject), "invalid_grant")
        assert "no identity propagation trust" in detail
    finally:
        env.trust = create_trust(env.idc, env.url, [env.mcp.name])
    assert env.exchange(subject).status_code == 200


def test_revoked_refresh_token_ends_refresh_and_exchange(env: Env) -> None:
    """RFC 7009 §2.1: revoking the refresh token revokes the access tokens issued with it."""
    tokens = env.login("bob")
    revoked = env.http.post(f"{env.url}/oauth2/v1/revoke",
                            data={"token": tokens["refresh_token"]},
                            auth=(env.mcp.name, env.mcp.client_secret))
    assert revoked.status_code == 200
    assert "revoked" in _oauth_error(env.refresh(tokens["refresh_token"]), "invalid_grant")
    assert "revoked" in _oauth_error(env.exchange(tokens["access_token"]), "invalid_grant")

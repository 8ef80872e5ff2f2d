"""SCIM Groups and Grants of a sandbox domain, and app access enforced by the domain
(``allowAccessControl``): through the real IdentityDomainsClient and real HTTP sign-ins."""

from __future__ import annotations

import uuid
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
from oci._vendor import requests  # the SDK signer is an AuthBase of its vendored requests
from oci.identity_domains import models as m

from oci_mcp_cli.sandbox import Sandbox

GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
GRANT = "urn:ietf:params:scim:schemas:oracle:idcs:Grant"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
EXT = "urn:ietf:params:scim:api:oracle:idcs:extension:messages:Error"
CB = "https://mcp.example.com/auth/callback"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
UPST = "urn:oci:token-type:oci-upst"
NOT_GRANTED_PAGE = "You are not authorized to access the app. Contact your system administrator."
NOT_GRANTED = {"error": "invalid_grant",
               "error_description": "User is not authorized to access the app."}
TO_GROUP, TO_USER = "ADMINISTRATOR_TO_GROUP", "ADMINISTRATOR_TO_USER"


@dataclass
class Env:
    sb: Sandbox
    url: str
    idc: Any
    http: httpx.Client
    users: dict[str, str]  # userName -> SCIM id
    mcp_users: str  # the seeded group's id
    mcp: Any  # the MCP server's app: allowAccessControl, granted to mcp-users
    open_app: Any  # an app without allowAccessControl

    def client(self, app: Any = None) -> Client:
        app = app or self.mcp
        return Client(self.http, self.url, app.name, app.client_secret, CB)

    def exchange(self, subject: str) -> httpx.Response:
        data = {"grant_type": EXCHANGE, "requested_token_type": UPST, "subject_token": subject,
                "subject_token_type": "jwt", "public_key": session_public_key()}
        return self.http.post(f"{self.url}/oauth2/v1/token", data=data,
                              auth=(self.mcp.name, self.mcp.client_secret))

    def set_member(self, group_id: str, username: str, member: bool) -> None:
        uid = self.users[username]
        op = ({"op": "add", "path": "members", "value": [{"value": uid, "type": "User"}]}
              if member else {"op": "remove", "path": f'members[value eq "{uid}"]'})
        self.idc.patch_group(group_id, patch_op={"schemas": [PATCH], "Operations": [op]})


def grant_body(mechanism: str, grantee_type: str, grantee: str, app_id: str) -> m.Grant:
    return m.Grant(schemas=[GRANT], grant_mechanism=mechanism,
                   grantee=m.GrantGrantee(type=grantee_type, value=grantee),
                   app=m.GrantApp(value=app_id))


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with Sandbox(state_dir=tmp_path_factory.mktemp("grants")) as sb, \
            httpx.Client(timeout=10) as http:
        url = domain_url(sb)
        idc = admin_domains_client(sb, url)
        users = {u.user_name: u.id for u in idc.list_users().data.resources}
        seeded = idc.list_groups(filter='displayName eq "mcp-users"').data.resources
        assert len(seeded) == 1, "the sandbox seeds the group mcp-users"
        grants = ["authorization_code", "client_credentials", "refresh_token"]
        mcp = create_app(idc, "mcp-server", redirect_uris=[CB], grants=grants)
        idc.patch_app(mcp.id, patch_op={"schemas": [PATCH], "Operations": [
            {"op": "replace", "path": "allowAccessControl", "value": True}]})
        idc.create_grant(grant=grant_body(TO_GROUP, "Group", seeded[0].id, mcp.id))
        create_trust(idc, url, [mcp.name])
        open_app = create_app(idc, "open-app", redirect_uris=[CB], grants=grants)
        yield Env(sb, url, idc, http, users, seeded[0].id, mcp, open_app)


def fails(status: int, call: Any, *words: str) -> dict[str, Any]:
    """``call`` fails with a SCIM error of ``status`` whose detail holds ``words``."""
    with pytest.raises(oci.exceptions.ServiceError) as info:
        call()
    body = info.value.args[0]
    assert info.value.status == status, body
    for word in words:
        assert word in body["detail"], body["detail"]
    assert any(k.startswith(EXT[:40]) for k in body), body  # the IDCS messageId extension
    return body


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# ---- Groups ---------------------------------------------------------------------------------


def test_seeded_group_holds_alice_not_bob(env: Env) -> None:
    group = env.idc.get_group(env.mcp_users, attributes="members").data
    assert group.display_name == "mcp-users" and group.schemas == [GROUP]
    assert [mb.value for mb in group.members] == [env.users["alice"]]
    assert group.members[0].type == "User" and group.members[0].display == "Alice"
    assert group.members[0].ref == f"{env.url}/admin/v1/Users/{env.users['alice']}"
    assert group.meta.resource_type == "Group"
    default = env.idc.get_group(env.mcp_users).data
    assert default.members is None  # members: returned: request
    assert default.ocid.startswith("ocid1.domaingroup.") and default.domain_ocid


def test_group_create_filter_patch_delete(env: Env) -> None:
    name = unique("team")
    created = env.idc.create_group(group=m.Group(
        schemas=[GROUP], display_name=name,
        members=[m.GroupMembers(value=env.users["bob"], type="User")]))
    assert created.status == 201 and created.headers["Location"].endswith(created.data.id)
    gid = created.data.id
    fails(409, lambda: env.idc.create_group(group=m.Group(schemas=[GROUP],
                                                          display_name=name.upper())), name.upper())
    by_member = env.idc.list_groups(filter=f'members.value eq "{env.users["bob"]}"').data
    assert [g.display_name for g in by_member.resources] == [name]
    by_name = env.idc.list_groups(filter=f'displayName eq "{name}"').data
    assert by_name.total_results == 1 and by_name.resources[0].id == gid
    env.set_member(gid, "alice", True)
    env.set_member(gid, "bob", False)
    members = env.idc.get_group(gid, attributes="members").data.members
    assert [mb.value for mb in members] == [env.users["alice"]]
    assert env.idc.delete_group(gid).status == 204
    fails(404, lambda: env.idc.get_group(gid), gid)


def test_group_put_and_search(env: Env) -> None:
    group = env.idc.create_group(group=m.Group(schemas=[GROUP], display_name=unique("put"))).data
    group.members = [m.GroupMembers(value=env.users["bob"], type="User")]
    replaced = env.idc.put_group(group.id, group=group, attributes="members").data
    assert [mb.value for mb in replaced.members] == [env.users["bob"]]
    search = m.GroupSearchRequest(
        schemas=["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        filter=f'displayName eq "{group.display_name}"')
    found = env.idc.search_groups(group_search_request=search).data.resources
    assert [g.id for g in found] == [group.id]
    env.idc.delete_group(group.id)


def test_groups_and_grants_are_for_administrators_only(env: Env) -> None:
    """alice's own session token is a valid signature, but not an administrator's: 401."""
    config_file, profile = env.sb.session_profile("alice", "S-alice")
    config = oci.config.from_file(config_file, profile)
    token = open(config["security_token_file"]).read().strip()  # noqa: SIM115 - one read
    key = oci.signer.load_private_key_from_file(config["key_file"])
    alice = oci.identity_domains.IdentityDomainsClient(
        config, env.url, signer=oci.auth.signers.SecurityTokenSigner(token, key),
        retry_strategy=oci.retry.NoneRetryStrategy())
    for call in (alice.list_groups, alice.list_grants,
                 lambda: alice.get_group(env.mcp_users),
                 lambda: alice.create_grant(grant=grant_body(
                     TO_USER, "User", env.users["alice"], env.mcp.id))):
        body = fails(401, call, "NotAuthorized")
        assert body["detail"].startswith("NotAuthorized: alice")


def test_group_refuses_bad_bodies(env: Env) -> None:
    fails(400, lambda: env.idc.create_group(group=m.Group(display_name=unique("g"))), "schemas")
    fails(400, lambda: env.idc.create_group(group=m.Group(schemas=[GROUP])), "displayName")
    fails(400, lambda: env.idc.create_group(group=m.Group(
        schemas=[GROUP], display_name=unique("g"),
        members=[m.GroupMembers(value="0" * 32, type="User")])), "0" * 32)


# ---- Grants ---------------------------------------------------------------------------------


def test_grant_create_get_filter_delete(env: Env) -> None:
    app = create_app(env.idc, unique("granted"), redirect_uris=[CB],
                     grants=["authorization_code"])
    created = env.idc.create_grant(grant=grant_body(TO_USER, "User", env.users["bob"], app.id))
    grant = created.data
    assert created.status == 201 and created.headers["Location"].endswith(grant.id)
    assert grant.schemas == [GRANT] and grant.grant_mechanism == TO_USER
    assert (grant.grantee.value, grant.grantee.type, grant.grantee.display) == (
        env.users["bob"], "User", "Bob")
    assert grant.grantee.ref == f"{env.url}/admin/v1/Users/{env.users['bob']}"
    assert (grant.app.value, grant.app.display) == (app.id, app.display_name)
    assert grant.app.ref == f"{env.url}/admin/v1/Apps/{app.id}"
    assert grant.grantor.display == "sandbox-admin" and grant.is_fulfilled is True
    assert grant.ocid.startswith("ocid1.domaingrant.") and grant.meta.resource_type == "Grant"
    assert env.idc.get_grant(grant.id).data.id == grant.id
    group_grant = env.idc.create_grant(
        grant=grant_body(TO_GROUP, "Group", env.mcp_users, app.id)).data
    for flt, expected in (
        (f'app.value eq "{app.id}"', {grant.id, group_grant.id}),
        (f'app.value eq "{app.id}" and grantee.value eq "{env.users["bob"]}"', {grant.id}),
        (f'app.value eq "{app.id}" and grantMechanism eq "{TO_GROUP}"', {group_grant.id}),
        (f'grantee.value eq "{env.mcp_users}" and app.value eq "{app.id}"', {group_grant.id}),
    ):
        assert {g.id for g in env.idc.list_grants(filter=flt).data.resources} == expected, flt
    search = m.GrantSearchRequest(
        schemas=["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        filter=f'app.value eq "{app.id}" and grantMechanism eq "{TO_USER}"')
    assert [g.id for g in env.idc.search_grants(grant_search_request=search).data.resources
            ] == [grant.id]
    assert env.idc.get_grant(grant.id, attributes="compositeKey").data.composite_key
    assert env.idc.get_grant(grant.id).data.composite_key is None  # returned: request
    assert env.idc.delete_grant(grant.id).status == 204
    fails(404, lambda: env.idc.get_grant(grant.id), grant.id)
    assert [g.id for g in env.idc.list_grants(filter=f'app.value eq "{app.id}"').data.resources
            ] == [group_grant.id]


def test_grant_refusals(env: Env) -> None:
    app_id = env.mcp.id
    duplicate = fails(409, lambda: env.idc.create_grant(
        grant=grant_body(TO_GROUP, "Group", env.mcp_users, app_id)), "already exists")
    assert duplicate["status"] == 409
    fails(404, lambda: env.idc.create_grant(
        grant=grant_body(TO_GROUP, "Group", "f" * 32, app_id)), "f" * 32, "Group")
    fails(404, lambda: env.idc.create_grant(
        grant=grant_body(TO_USER, "User", "e" * 32, app_id)), "e" * 32, "User")
    fails(404, lambda: env.idc.create_grant(
        grant=grant_body(TO_GROUP, "Group", env.mcp_users, "d" * 32)), "d" * 32, "App")
    fails(400, lambda: env.idc.create_grant(
        grant=grant_body("NOT_A_MECHANISM", "Group", env.mcp_users, app_id)), "grantMechanism")
    fails(400, lambda: env.idc.create_grant(
        grant=grant_body(TO_USER, "Group", env.mcp_users, app_id)), "grantee.type")
    fails(400, lambda: env.idc.create_grant(grant=m.Grant(
        grant_mechanism=TO_GROUP, grantee=m.GrantGrantee(type="Group", value=env.mcp_users),
        app=m.GrantApp(value=app_id))), "schemas")


def test_grants_are_immutable(env: Env) -> None:
    """No put_grant/patch_grant in the SDK; a raw PUT or PATCH is refused with 405."""
    grant = env.idc.list_grants(filter=f'app.value eq "{env.mcp.id}"').data.resources[0]
    config = oci.config.from_file(env.sb.config_file, env.sb.profile)
    signer = oci.signer.Signer(config["tenancy"], config["user"], config["fingerprint"],
                               config["key_file"])
    url = f"{env.url}/admin/v1/Grants/{grant.id}"
    body = {"schemas": [PATCH], "Operations": [
        {"op": "replace", "path": "grantMechanism", "value": TO_USER}]}
    for method in ("PUT", "PATCH"):
        response = requests.request(method, url, json=body, auth=signer, timeout=10)
        assert response.status_code == 405, response.text
        assert response.json()["status"] == "405" and "immutable" in response.json()["detail"]
    assert env.idc.get_grant(grant.id).data.grant_mechanism == TO_GROUP


def test_deleting_a_group_or_an_app_deletes_its_grants(env: Env) -> None:
    group = env.idc.create_group(group=m.Group(schemas=[GROUP], display_name=unique("g"))).data
    app = create_app(env.idc, unique("cascade"), redirect_uris=[CB],
                     grants=["authorization_code"], active=False)
    to_group = env.idc.create_grant(grant=grant_body(TO_GROUP, "Group", group.id, app.id)).data
    to_user = env.idc.create_grant(
        grant=grant_body(TO_USER, "User", env.users["alice"], app.id)).data
    env.idc.delete_group(group.id)
    fails(404, lambda: env.idc.get_grant(to_group.id))
    assert env.idc.get_grant(to_user.id).data.id == to_user.id
    env.idc.delete_app(app.id)
    fails(404, lambda: env.idc.get_grant(to_user.id))


def test_app_keeps_allow_access_control(env: Env) -> None:
    app = create_app(env.idc, unique("acl"), redirect_uris=[CB], grants=["authorization_code"])
    assert app.allow_access_control is None
    patched = env.idc.patch_app(app.id, patch_op={"schemas": [PATCH], "Operations": [
        {"op": "replace", "path": "allowAccessControl", "value": True}]}).data
    assert patched.allow_access_control is True
    assert env.idc.get_app(app.id).data.allow_access_control is True
    current = env.idc.get_app(app.id).data
    current.allow_access_control = False
    assert env.idc.put_app(app.id, app=current).data.allow_access_control is False
    fails(400, lambda: env.idc.patch_app(app.id, patch_op={"schemas": [PATCH], "Operations": [
        {"op": "replace", "path": "allowAccessControl", "value": "yes"}]}), "allowAccessControl")


# ---- enforcement ----------------------------------------------------------------------------


def test_granted_member_signs_in_and_the_others_get_the_domain_page(env: Env) -> None:
    tokens = env.client().login("alice", password(env.sb, "alice"))
    assert tokens["access_token"]
    client = env.client()
    page = parse_page(client.authorize())
    refused = client.submit(page, "bob", password(env.sb, "bob"))
    assert refused.status_code == 403 and "location" not in refused.headers
    assert refused.headers["cache-control"] == "no-store"
    assert refused.headers["x-frame-options"] == "DENY"
    assert NOT_GRANTED_PAGE in refused.text
    assert '<p id="error-code">AUTHZ_APP_NOT_GRANTED</p>' in refused.text
    assert "code=" not in refused.text


def test_a_direct_user_grant_lets_bob_in_until_it_is_deleted(env: Env) -> None:
    grant = env.idc.create_grant(
        grant=grant_body(TO_USER, "User", env.users["bob"], env.mcp.id)).data
    try:
        assert env.client().login("bob", password(env.sb, "bob"))["access_token"]
    finally:
        env.idc.delete_grant(grant.id)
    client = env.client()
    refused = client.submit(parse_page(client.authorize()), "bob", password(env.sb, "bob"))
    assert refused.status_code == 403


def test_an_app_without_access_control_lets_everyone_in(env: Env) -> None:
    for user in ("alice", "bob"):
        assert env.client(env.open_app).login(user, password(env.sb, user))["access_token"]


def test_refresh_is_refused_after_removal_from_the_group(env: Env) -> None:
    client = env.client()
    tokens = client.login("alice", password(env.sb, "alice"), scope="openid offline_access")
    refresh = tokens["refresh_token"]
    env.set_member(env.mcp_users, "alice", False)
    try:
        refused = client.token({"grant_type": "refresh_token", "refresh_token": refresh})
        assert refused.status_code == 400 and refused.json() == NOT_GRANTED
    finally:
        env.set_member(env.mcp_users, "alice", True)
    again = client.token({"grant_type": "refresh_token", "refresh_token": refresh})
    assert again.status_code == 200, again.text  # refused, not spent: granted again, it works


def test_exchange_is_refused_after_removal_from_the_group(env: Env) -> None:
    access = env.client().login("alice", password(env.sb, "alice"))["access_token"]
    assert env.exchange(access).status_code == 200
    env.set_member(env.mcp_users, "alice", False)
    try:
        refused = env.exchange(access)
        assert refused.status_code == 400 and refused.json() == NOT_GRANTED
    finally:
        env.set_member(env.mcp_users, "alice", True)
    assert env.exchange(access).status_code == 200


def test_a_state_saved_before_groups_is_migrated_to_hold_the_seeded_group(tmp_path: Any) -> None:
    import json

    with Sandbox(state_dir=tmp_path):
        pass
    path = tmp_path / "state.json"
    data = json.loads(path.read_text())
    for domain in data["domains"].values():  # what a schema-2 sandbox saved
        del domain["groups"], domain["grants"]
    data["schema_version"] = 2
    path.write_text(json.dumps(data))
    with Sandbox(state_dir=tmp_path) as again:
        idc = admin_domains_client(again, domain_url(again))
        groups = idc.list_groups(filter='displayName eq "mcp-users"', attributes="members").data
        alice = idc.list_users(filter='userName eq "alice"').data.resources[0]
        assert [mb.value for mb in groups.resources[0].members] == [alice.id]


def test_every_wire_name_is_the_sdk_models(env: Env) -> None:
    """Raw JSON of a Group (with members) and a Grant: each key, nested ones included, is a wire
    name from the SDK model's attribute_map, so nothing is lost or renamed on the SDK's side."""
    config = oci.config.from_file(env.sb.config_file, env.sb.profile)
    signer = oci.signer.Signer(config["tenancy"], config["user"], config["fingerprint"],
                               config["key_file"])

    def wire_names(model: Any) -> set[str]:
        return set(model().attribute_map.values())

    group = requests.get(f"{env.url}/admin/v1/Groups/{env.mcp_users}",
                         params={"attributeSets": "all"}, auth=signer, timeout=10).json()
    assert set(group) <= wire_names(m.Group), set(group) - wire_names(m.Group)
    for member in group["members"]:
        assert set(member) <= wire_names(m.GroupMembers), member
    grants = requests.get(f"{env.url}/admin/v1/Grants", auth=signer, timeout=10,
                          params={"filter": f'app.value eq "{env.mcp.id}"',
                                  "attributeSets": "all"}).json()["Resources"]
    assert grants
    for grant in grants:
        assert set(grant) <= wire_names(m.Grant), set(grant) - wire_names(m.Grant)
        for key, model in (("grantee", m.GrantGrantee), ("app", m.GrantApp),
                           ("grantor", m.GrantGrantor)):
            assert set(grant[key]) <= wire_names(model), grant[key]
        assert {"id", "ocid", "meta", "schemas", "grantMechanism", "grantee", "app", "grantor",
                "isFulfilled", "compositeKey", "domainOcid", "idcsCreatedBy"} <= set(grant)

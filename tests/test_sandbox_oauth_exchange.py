"""The JWT → UPST token exchange over real HTTP: a real sign-in, then
``oci.auth.signers.TokenExchangeSigner`` and ``ObjectStorageClient`` acting as alice and as bob,
and every trust rule broken on purpose (provisioned with the real IdentityDomainsClient)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import oci
import pytest
from oauth_flow import (
    Client,
    admin_domains_client,
    create_app,
    create_trust,
    domain_url,
    password,
    patch,
    session_public_key,
    wait_past,
)

from oci_mcp_cli.core.ociconfig import load_oci_auth, oci_client
from oci_mcp_cli.sandbox import Sandbox

CB = "https://mcp.example.com/auth/callback"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
UPST = "urn:oci:token-type:oci-upst"


@dataclass
class Env:
    sb: Sandbox
    url: str
    idc: Any
    mcp: Any  # the MCP server's app: signs users in and does the exchange
    other: Any  # another confidential app of the domain, not in the trust
    trust: Any
    http: httpx.Client
    compartments: dict[str, str]  # name -> OCID (admin view)

    def login(self, username: str, app: Any = None) -> str:
        app = app or self.mcp
        client = Client(self.http, self.url, app.name, app.client_secret, CB)
        return client.login(username, password(self.sb, username))["access_token"]

    def exchange(self, subject: str, app: Any = None, **overrides: str) -> httpx.Response:
        app = app or self.mcp
        data = {"grant_type": EXCHANGE, "requested_token_type": UPST,
                "subject_token": subject, "subject_token_type": "jwt",
                "public_key": session_public_key()}
        data.update(overrides)
        return self.http.post(f"{self.url}/oauth2/v1/token", data=data,
                              auth=(app.name, app.client_secret))

    def patch_trust(self, path: str, value: Any) -> None:
        patch(self.idc.patch_identity_propagation_trust, self.trust.id, path, value)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    state_dir = tmp_path_factory.mktemp("exchange")
    with Sandbox(state_dir=state_dir) as sb, httpx.Client(timeout=10) as http:
        url = domain_url(sb)
        idc = admin_domains_client(sb, url)
        grants = ["authorization_code", "client_credentials"]
        mcp = create_app(idc, "mcp-server", redirect_uris=[CB], grants=grants)
        other = create_app(idc, "other-app", redirect_uris=[CB], grants=grants)
        trust = create_trust(idc, url, [mcp.name])
        auth = load_oci_auth(sb.config_file, sb.profile)
        identity = oci_client(oci.identity.IdentityClient, auth)
        listed = identity.list_compartments(sb.tenancy_id, compartment_id_in_subtree=True).data
        yield Env(sb, url, idc, mcp, other, trust, http, {c.name: c.id for c in listed})


@pytest.fixture
def restore_trust(env: Env) -> Iterator[None]:
    before = env.idc.get_identity_propagation_trust(env.trust.id).data
    yield
    for path, value in (("active", before.active), ("issuer", before.issuer),
                        ("oauthClients", before.oauth_clients),
                        ("clientClaimName", before.client_claim_name),
                        ("clientClaimValues", before.client_claim_values),
                        ("subjectClaimName", before.subject_claim_name),
                        ("subjectMappingAttribute", before.subject_mapping_attribute),
                        ("publicKeyEndpoint", before.public_key_endpoint)):
        env.patch_trust(path, value)


@pytest.fixture
def restore_config(env: Env) -> Iterator[None]:
    before = env.http.get(f"{env.sb.url}/_sandbox/config").json()
    yield
    env.sb.set_config(**before)


def object_storage(env: Env, signer: Any) -> Any:
    """The per-user client, built the way the server builds it (profile endpoint + UPST signer)."""
    auth = load_oci_auth(env.sb.config_file, env.sb.profile)
    return oci_client(oci.object_storage.ObjectStorageClient, auth, signer=signer)


def buckets(client: Any, compartment_id: str) -> list[str]:
    return sorted(b.name for b in client.list_buckets("sandboxns", compartment_id).data)


def test_alice_and_bob_act_as_themselves_through_the_upst(env: Env) -> None:
    views = {}
    for user in ("alice", "bob"):
        signer = oci.auth.signers.TokenExchangeSigner(env.login(user), env.url, env.mcp.name,
                                                      env.mcp.client_secret)
        client = object_storage(env, signer)
        assert client.get_namespace().data == "sandboxns"
        views[user] = {}
        for name, ocid in env.compartments.items():
            try:
                views[user][name] = buckets(client, ocid)
            except oci.exceptions.ServiceError as exc:
                assert exc.status == 404 and exc.code == "NotAuthorizedOrNotFound"
    assert views["alice"] == {"engineering": ["eng-artifacts", "eng-logs"],
                              "engineering-dev": ["dev-scratch"], "shared": ["shared-docs"]}
    assert views["bob"] == {"finance": ["fin-reports"], "shared": ["shared-docs"]}


def test_upst_has_the_claims_oci_needs(env: Env) -> None:
    response = env.exchange(env.login("alice"))
    assert response.status_code == 200 and list(response.json()) == ["token"]
    upst = jwt.decode(response.json()["token"], options={"verify_signature": False})
    alice = next(u for u in env.idc.list_users().data.resources if u.user_name == "alice")
    assert upst["sub"] == alice.ocid and upst["tenant"] == env.sb.tenancy_id
    assert upst["iss"] == "authService.oracle.com" and upst["aud"] == "oci"
    assert upst["ptype"] == "user" and upst["pstype"] == "natv"
    assert 0 < upst["exp"] - upst["iat"] <= 3600 and upst["jti"] and upst["sess_exp"]
    jwk = json.loads(upst["jwk"])  # a JSON *string*
    assert jwk["kty"] == "RSA" and jwk["alg"] == "RS256" and jwk["use"] == "sig" and jwk["n"]
    env.sb.clear_requests()
    env.exchange(env.login("bob"))
    grants = [r.get("grant_type") for r in env.sb.requests() if r["path"].endswith("/token")]
    assert grants == ["authorization_code", EXCHANGE]


def test_upst_lifetime_is_capped_at_one_hour(env: Env, restore_config: None) -> None:
    env.sb.set_config(upst_ttl_s=7200)
    upst = jwt.decode(env.exchange(env.login("alice")).json()["token"],
                      options={"verify_signature": False})
    assert upst["exp"] - upst["iat"] == 3600
    env.sb.set_config(upst_ttl_s=120)
    upst = jwt.decode(env.exchange(env.login("alice")).json()["token"],
                      options={"verify_signature": False})
    assert upst["exp"] - upst["iat"] == 120


def test_sdk_signer_surfaces_a_refused_exchange(env: Env, restore_trust: None) -> None:
    env.patch_trust("active", False)
    with pytest.raises(oci._vendor.requests.exceptions.HTTPError) as raised:
        oci.auth.signers.TokenExchangeSigner(env.login("alice"), env.url, env.mcp.name,
                                             env.mcp.client_secret)
    assert raised.value.response.status_code == 400


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("active", False, "no active identity propagation trust"),
        ("oauthClients", ["someone-else"], "is not in the trust's oauthClients"),
        ("issuer", "https://other.example.com/", "no identity propagation trust in this domain"),
        ("clientClaimValues", ["someone-else"], "client claim check failed"),
        ("clientClaimName", "azp", "client claim check failed"),
        ("subjectMappingAttribute", "emails.value", "no user in this domain"),
        ("subjectMappingAttribute", "employeeNumber", "subjectMappingAttribute"),
        ("subjectClaimName", "nosuchclaim", "has no 'nosuchclaim' claim"),
        ("publicKeyEndpoint", "https://idcs-x.identity.oraclecloud.com/admin/v1/SigningCert/jwk",
         "is not this domain's JWKS"),
    ],
)
def test_each_trust_rule_refuses_the_exchange(
    env: Env, restore_trust: None, path: str, value: Any, message: str
) -> None:
    subject = env.login("alice")
    env.patch_trust(path, value)
    response = env.exchange(subject)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "invalid_grant" and message in body["error_description"]


def test_subject_can_be_mapped_by_another_claim_and_attribute(
    env: Env, restore_trust: None
) -> None:
    env.patch_trust("subjectClaimName", "user_ocid")
    env.patch_trust("subjectMappingAttribute", "ocid")
    upst = jwt.decode(env.exchange(env.login("bob")).json()["token"],
                      options={"verify_signature": False})
    bob = next(u for u in env.idc.list_users().data.resources if u.user_name == "bob")
    assert upst["sub"] == bob.ocid


def test_client_not_in_the_trust_is_refused(env: Env) -> None:
    response = env.exchange(env.login("alice"), app=env.other)
    assert response.status_code == 400
    assert "is not in the trust's oauthClients" in response.json()["error_description"]


def test_wrong_client_secret_is_invalid_client(env: Env) -> None:
    subject = env.login("alice")
    response = env.http.post(
        f"{env.url}/oauth2/v1/token", auth=(env.mcp.name, "wrong"),
        data={"grant_type": EXCHANGE, "requested_token_type": UPST, "subject_token": subject,
              "subject_token_type": "jwt", "public_key": session_public_key()})
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"public_key": "not base64!"}, "public_key is not a base64 DER"),
        ({"public_key": "QUJDRA=="}, "public_key is not a base64 DER"),
        ({"public_key": ""}, "public_key is required"),
        ({"requested_token_type": "urn:oci:token-type:oci-rpst"}, "requested_token_type"),
        ({"subject_token_type": "saml"}, "subject_token_type must be jwt"),
        ({"subject_token": ""}, "subject_token is required"),
    ],
)
def test_malformed_exchange_requests_are_invalid_request(
    env: Env, overrides: dict[str, str], message: str
) -> None:
    response = env.exchange(env.login("alice"), **overrides)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert message in response.json()["error_description"]


def test_subject_token_must_be_a_live_token_of_this_domain(
    env: Env, restore_config: None
) -> None:
    assert env.exchange("not.a.jwt").json()["error_description"] == "subject_token is not a JWT"
    # A token of the Secondary domain has the same issuer but another signing key.
    secondary = domain_url(env.sb, "Secondary")
    idc2 = admin_domains_client(env.sb, secondary)
    app2 = create_app(idc2, "secondary-app", redirect_uris=[CB], grants=["authorization_code"])
    client2 = Client(env.http, secondary, app2.name, app2.client_secret, CB)
    carol = client2.login("carol", password(env.sb, "carol"))["access_token"]
    foreign = env.exchange(carol)
    assert foreign.json()["error_description"] == (
        "subject_token signature check failed: the token signature is not valid for this "
        "domain's signing key")

    env.sb.set_config(access_token_ttl_s=1)
    subject = env.login("alice")
    wait_past(jwt.decode(subject, options={"verify_signature": False})["exp"])
    expired = env.exchange(subject)
    assert expired.status_code == 400 and expired.json()["error_description"] == (
        "subject_token has expired")


def test_revoked_subject_token_is_refused(env: Env) -> None:
    subject = env.login("alice")
    revoked = env.http.post(f"{env.url}/oauth2/v1/revoke", data={"token": subject},
                            auth=(env.mcp.name, env.mcp.client_secret))
    assert revoked.status_code == 200
    assert env.exchange(subject).json()["error_description"] == "subject_token has been revoked"

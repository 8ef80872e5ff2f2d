"""Sandbox OIDC/OAuth endpoints over real HTTP: discovery, JWKS, the sign-in page, every grant,
userinfo, introspection and revocation — including each rule broken on purpose.

Apps and settings are provisioned with the real ``IdentityDomainsClient`` and the admin profile the
sandbox wrote; flows are driven with httpx through the HTML sign-in form.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import oci
import pytest
from oauth_flow import (
    ISSUER,
    Client,
    admin_domains_client,
    claims,
    create_app,
    domain_url,
    introspect,
    parse_page,
    password,
    redirect_query,
    set_public_jwks,
    wait_past,
)

from oci_mcp_cli.sandbox import Sandbox

HTTPS_CB = "https://app.example.com/auth/callback"
HTTP_CB = "http://127.0.0.1:8765/auth/callback"


@dataclass
class Env:
    sb: Sandbox
    url: str
    idc: Any
    web: Any  # confidential app: code + refresh + client_credentials, http allowed, introspect
    strict: Any  # code only, http redirect registered but allUrlSchemesAllowed false
    http: httpx.Client

    def client(self, app: Any, redirect_uri: str = HTTPS_CB) -> Client:
        return Client(self.http, self.url, app.name, app.client_secret, redirect_uri)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    state_dir = tmp_path_factory.mktemp("oauth")
    with Sandbox(state_dir=state_dir) as sb, httpx.Client(timeout=10) as http:
        url = domain_url(sb)
        idc = admin_domains_client(sb, url)
        web = create_app(idc, "web", redirect_uris=[HTTPS_CB, HTTP_CB], all_url_schemes=True,
                         grants=["authorization_code", "refresh_token", "client_credentials"],
                         allowed_operations=["introspect"])
        strict = create_app(idc, "strict", redirect_uris=[HTTPS_CB], grants=["authorization_code"])
        yield Env(sb, url, idc, web, strict, http)


@pytest.fixture
def restore_config(env: Env) -> Iterator[None]:
    before = env.http.get(f"{env.sb.url}/_sandbox/config").json()
    yield
    env.sb.set_config(**before)


# --- discovery and JWKS --------------------------------------------------------------------------


def test_discovery_document_has_what_fastmcp_strict_mode_needs(env: Env) -> None:
    doc = env.http.get(f"{env.url}/.well-known/openid-configuration").json()
    assert doc["issuer"] == ISSUER
    assert doc["authorization_endpoint"] == f"{env.url}/oauth2/v1/authorize"
    assert doc["token_endpoint"] == f"{env.url}/oauth2/v1/token"
    assert doc["jwks_uri"] == f"{env.url}/admin/v1/SigningCert/jwk"
    for key in ("userinfo_endpoint", "revocation_endpoint", "introspection_endpoint"):
        assert doc[key].startswith(f"{env.url}/oauth2/v1/")
    for key in ("response_types_supported", "subject_types_supported",
                "id_token_signing_alg_values_supported"):
        assert doc[key]
    assert "registration_endpoint" not in doc
    assert "code_challenge_methods_supported" not in doc


def test_fastmcp_accepts_the_discovery_and_verifies_tokens_via_the_jwks(env: Env) -> None:
    import asyncio

    from fastmcp.server.auth.oidc_proxy import JWTVerifier, OIDCConfiguration

    config = OIDCConfiguration.get_oidc_configuration(
        f"{env.url}/.well-known/openid-configuration", strict=True, timeout_seconds=10)
    body = env.client(env.web).login("alice", password(env.sb, "alice"))
    verifier = JWTVerifier(jwks_uri=str(config.jwks_uri), issuer=str(config.issuer),
                           required_scopes=["openid"], audience=env.url)
    set_public_jwks(env.idc, True)  # FastMCP fetches the JWKS anonymously
    try:
        token = asyncio.run(verifier.load_access_token(body["access_token"]))
    finally:
        set_public_jwks(env.idc, False)
    assert token is not None and token.claims["sub"] == "alice"
    assert token.client_id == env.web.name


def test_unknown_domain_is_404(env: Env) -> None:
    response = env.http.get(f"{env.sb.url}/idcs-{'0' * 32}/.well-known/openid-configuration")
    assert response.status_code == 404


def test_jwks_is_closed_to_anonymous_callers_until_public_access(env: Env) -> None:
    jwks = f"{env.url}/admin/v1/SigningCert/jwk"
    closed = env.http.get(jwks)
    assert closed.status_code == 401
    body = closed.json()
    assert body["status"] == "401"
    ext = "urn:ietf:params:scim:api:oracle:idcs:extension:messages:Error"
    assert body[ext]["messageId"] == "error.common.exception.unauthorizedAccess"
    assert env.http.get(jwks, headers={"Authorization": "Bearer not-a-token"}).status_code == 401

    # A valid domain access token, or an OCI-signed request, may read it regardless.
    token = env.client(env.web).token({"grant_type": "client_credentials",
                                       "scope": "urn:opc:idm:__myscopes__"}).json()["access_token"]
    assert env.http.get(jwks, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    from oci._vendor import requests  # the SDK's own HTTP stack; its Signer is a requests auth

    config = oci.config.from_file(env.sb.config_file, env.sb.profile)
    signer = oci.signer.Signer(config["tenancy"], config["user"], config["fingerprint"],
                               config["key_file"])
    assert requests.get(jwks, auth=signer, timeout=10).status_code == 200

    set_public_jwks(env.idc, True)
    try:
        keys = env.http.get(jwks).json()["keys"]
    finally:
        set_public_jwks(env.idc, False)
    assert env.http.get(jwks).status_code == 401
    [key] = keys
    assert key["kid"] == "SIGNING_KEY" and key["kty"] == "RSA" and key["alg"] == "RS256"
    assert key["key_ops"] == ["encrypt", "sign"] and key["x5c"] and key["x5t"] and key["x5t#S256"]
    # The published key verifies the domain's tokens.
    header = jwt.get_unverified_header(token)
    assert header["kid"] == "SIGNING_KEY" and header["x5t"] == key["x5t"]
    verified = jwt.decode(token, jwt.PyJWK(key, algorithm="RS256").key, algorithms=["RS256"],
                          audience=env.url)
    assert verified["iss"] == ISSUER


# --- authorize and the sign-in page -------------------------------------------------------


def test_authorization_code_flow_with_s256_gives_reference_shaped_tokens(env: Env) -> None:
    client = env.client(env.web)
    env.sb.clear_requests()
    body = client.login("alice", password(env.sb, "alice"), scope="openid profile email",
                        resource="http://127.0.0.1:8000/mcp")
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert "refresh_token" not in body  # no offline_access
    at = claims(body["access_token"])
    alice = next(u for u in env.idc.list_users().data.resources if u.user_name == "alice")
    guid = next(d["guid"] for d in env.sb.domains if d["url"] == env.url)
    assert at["iss"] == ISSUER and at["sub"] == "alice" and at["sub_type"] == "user"
    assert at["sub_mappingattr"] == "userName" and at["user_id"] == alice.id
    assert at["user_ocid"] == alice.ocid and at["user_displayname"] == alice.display_name
    assert at["client_id"] == env.web.name and at["client_guid"] == env.web.id
    assert at["client_name"] == "web"
    assert at["aud"] == [env.url, f"urn:opc:lbaas:logicalguid={guid}"]
    assert at["scope"] == "openid profile email" and at["tok_type"] == "AT"
    assert at["tenant"] == guid and at["tenant_iss"] == env.url
    assert at["ca_ocid"] == env.sb.tenancy_id and at["domain"] == "Default"
    assert at["exp"] - at["iat"] == 3600 and at["jti"] and at["gtp"] == "azc"
    it = claims(body["id_token"])
    assert it["tok_type"] == "IT" and it["aud"] == env.web.name and it["sub"] == "alice"
    assert it["nonce"] == client.last["nonce"]

    info = env.http.get(f"{env.url}/oauth2/v1/userinfo",
                        headers={"Authorization": f"Bearer {body['access_token']}"})
    assert info.status_code == 200 and info.json()["sub"] == "alice"
    grants = [r.get("grant_type") for r in env.sb.requests() if r["path"].endswith("/token")]
    assert grants == ["authorization_code"]


def test_pkce_plain_and_no_pkce_work_for_confidential_clients(env: Env) -> None:
    client = env.client(env.web, HTTP_CB)
    assert "access_token" in client.login("bob", password(env.sb, "bob"), pkce="plain")
    client.verifier = None
    assert "access_token" in client.login("bob", password(env.sb, "bob"), pkce=None)


def test_bad_password_re_renders_the_page_with_an_error_and_the_same_params(env: Env) -> None:
    client = env.client(env.web)
    page = parse_page(client.authorize())
    assert page.status == 200 and page.fields["txn"]
    assert 'name="username"' in page.html and 'type="password"' in page.html
    again = parse_page(client.submit(page, "alice", "wrong"))
    assert again.status == 401
    assert "incorrect user name or password" in again.error
    assert again.fields == {**page.fields, "username": "alice"}  # same hidden params and txn
    ok = client.submit(again, "alice", password(env.sb, "alice"))
    assert ok.status_code == 302 and redirect_query(ok)["state"] == client.last["state"]
    # The transaction is spent: replaying the form does not sign in again.
    replay = parse_page(client.submit(again, "alice", password(env.sb, "alice")))
    assert replay.status == 400 and "expired" in replay.error


def test_only_users_of_that_domain_can_sign_in(env: Env) -> None:
    client = env.client(env.web)
    page = parse_page(client.authorize())
    carol = parse_page(client.submit(page, "carol", password(env.sb, "carol")))  # Secondary
    assert carol.status == 401 and "incorrect" in carol.error


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"client_id": "nosuchclient"}, "is not an OAuth client"),
        ({"redirect_uri": "https://evil.example.com/cb"}, "is not registered"),
        ({"redirect_uri": HTTPS_CB + "/"}, "is not registered"),
    ],
)
def test_untrusted_client_or_redirect_gets_an_error_page_not_a_redirect(
    env: Env, change: dict[str, str], message: str
) -> None:
    response = env.client(env.web).authorize(**change)
    assert response.status_code == 400 and "location" not in response.headers
    assert message in parse_page(response).error


def test_http_redirect_needs_all_url_schemes_allowed(env: Env) -> None:
    # The admin API refuses to register it (so the authorize-time check is a second line)...
    with pytest.raises(oci.exceptions.ServiceError) as refused:
        create_app(env.idc, "http-app", redirect_uris=[HTTP_CB], grants=["authorization_code"])
    assert refused.value.status == 400
    # ...and an unregistered http redirect gets the error page.
    response = env.client(env.strict, HTTP_CB).authorize()
    assert response.status_code == 400 and "location" not in response.headers
    assert "is not registered" in parse_page(response).error
    assert env.client(env.strict, HTTPS_CB).authorize().status_code == 200


def test_inactive_client_gets_an_error_page(env: Env) -> None:
    app = create_app(env.idc, "inactive-app", redirect_uris=[HTTPS_CB],
                     grants=["authorization_code"], active=False)
    response = env.client(app).authorize()
    assert response.status_code == 400 and "is not active" in parse_page(response).error
    token = env.client(app).token({"grant_type": "client_credentials", "scope": "openid"})
    assert token.status_code == 401 and token.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "openid nonsense"}, "invalid_scope"),
        ({"scope": ""}, "invalid_scope"),
        ({"code_challenge_method": "S512"}, "invalid_request"),
    ],
)
def test_errors_after_a_valid_redirect_go_back_to_it_with_state(
    env: Env, change: dict[str, str], error: str
) -> None:
    client = env.client(env.web)
    response = client.authorize(**change)
    assert response.status_code == 302
    assert response.headers["location"].startswith(HTTPS_CB + "?")
    query = redirect_query(response)
    assert query["error"] == error and query["state"] == client.last["state"]


# --- token endpoint -----------------------------------------------------------------------------


def test_pkce_mismatch_is_invalid_grant(env: Env) -> None:
    client = env.client(env.web)
    code = client.sign_in("alice", password(env.sb, "alice"))
    response = client.redeem(code, code_verifier="x" * 50)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert "PKCE" in response.json()["error_description"]


def test_missing_code_verifier_is_invalid_grant(env: Env) -> None:
    client = env.client(env.web)
    code = client.sign_in("alice", password(env.sb, "alice"))
    client.verifier = None
    response = client.redeem(code)
    assert response.json()["error"] == "invalid_grant"
    assert "code_verifier is required" in response.json()["error_description"]


def test_codes_are_one_time(env: Env) -> None:
    client = env.client(env.web)
    code = client.sign_in("alice", password(env.sb, "alice"))
    assert client.redeem(code).status_code == 200
    again = client.redeem(code)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert "already been used" in again.json()["error_description"]


def test_redirect_uri_must_match_at_the_token_endpoint(env: Env) -> None:
    client = env.client(env.web)
    code = client.sign_in("alice", password(env.sb, "alice"))
    response = client.redeem(code, redirect_uri=HTTP_CB)
    assert response.json()["error"] == "invalid_grant"
    assert "redirect_uri does not match" in response.json()["error_description"]


def test_codes_are_bound_to_their_client(env: Env) -> None:
    code = env.client(env.web).sign_in("alice", password(env.sb, "alice"))
    other = env.client(env.strict)
    response = other.redeem(code)
    assert response.json()["error"] == "invalid_grant"
    assert "another client" in response.json()["error_description"]


def test_expired_code_is_invalid_grant(env: Env, restore_config: None) -> None:
    env.sb.set_config(auth_code_ttl_s=1)
    client = env.client(env.web)
    code = client.sign_in("alice", password(env.sb, "alice"))
    wait_past(time.time() + 1)  # the code was issued before now, with a 1 s lifetime
    response = client.redeem(code)
    assert response.json()["error"] == "invalid_grant"
    assert "expired" in response.json()["error_description"]


def test_wrong_client_secret_is_401_invalid_client(env: Env) -> None:
    client = env.client(env.web)
    data = {"grant_type": "client_credentials", "scope": "urn:opc:idm:__myscopes__"}
    basic = client.token(data, secret="wrong")
    assert basic.status_code == 401 and basic.json()["error"] == "invalid_client"
    assert basic.headers["www-authenticate"].startswith("Basic")
    post = client.token(data, basic=False, secret="wrong")
    assert post.status_code == 401 and post.json()["error"] == "invalid_client"
    assert client.token(data, basic=False).status_code == 200  # client_secret_post works
    missing = env.http.post(f"{env.url}/oauth2/v1/token", data=data)
    assert missing.status_code == 401 and missing.json()["error"] == "invalid_client"


def test_refresh_tokens_need_offline_access_and_rotate(env: Env) -> None:
    client = env.client(env.web)
    body = client.login("alice", password(env.sb, "alice"), scope="openid offline_access")
    first = body["refresh_token"]
    assert first.startswith("AQIDBA")
    refreshed = client.token({"grant_type": "refresh_token", "refresh_token": first})
    assert refreshed.status_code == 200, refreshed.text
    second = refreshed.json()
    assert claims(second["access_token"])["sub"] == "alice"
    assert second["refresh_token"] != first
    wider = client.token({"grant_type": "refresh_token", "refresh_token": second["refresh_token"],
                          "scope": "openid offline_access email"})
    assert wider.json()["error"] == "invalid_scope"
    # Reusing the rotated-out token is refused (and revokes the family: see the security tests).
    reused = client.token({"grant_type": "refresh_token", "refresh_token": first})
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"


def test_no_refresh_token_without_offline_access_or_the_grant(env: Env) -> None:
    without_scope = env.client(env.web).login("alice", password(env.sb, "alice"))
    assert "refresh_token" not in without_scope
    strict = env.client(env.strict)
    without_grant = strict.login("alice", password(env.sb, "alice"),
                                 scope="openid offline_access")
    assert "refresh_token" not in without_grant
    response = strict.token({"grant_type": "refresh_token", "refresh_token": "AQIDBAUwnope"})
    assert response.json()["error"] == "unauthorized_client"
    bogus = env.client(env.web).token({"grant_type": "refresh_token",
                                       "refresh_token": "AQIDBAUwnope"})
    assert bogus.json()["error"] == "invalid_grant"


def test_client_credentials_token_is_a_client_token(env: Env) -> None:
    client = env.client(env.web)
    response = client.token({"grant_type": "client_credentials",
                             "scope": "urn:opc:idm:__myscopes__"})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    at = claims(body["access_token"])
    assert at["sub"] == env.web.name and at["sub_type"] == "client" and "user_id" not in at
    no_scope = client.token({"grant_type": "client_credentials"})
    assert no_scope.json()["error"] == "invalid_scope"
    denied = env.client(env.strict).token({"grant_type": "client_credentials",
                                           "scope": "urn:opc:idm:__myscopes__"})
    assert denied.json()["error"] == "unauthorized_client"


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"grant_type": "password", "username": "alice", "password": "x"},
         "unsupported_grant_type"),
        ({"grant_type": "urn:example:nope"}, "unsupported_grant_type"),
        ({}, "invalid_request"),
        ({"grant_type": "authorization_code"}, "invalid_request"),
    ],
)
def test_bad_grant_requests_get_rfc6749_errors(env: Env, data: dict[str, str], error: str) -> None:
    response = env.client(env.web).token(data)
    assert response.status_code == 400 and response.json()["error"] == error
    assert response.json()["error_description"]


def test_token_endpoint_needs_a_form_body(env: Env) -> None:
    response = env.http.post(f"{env.url}/oauth2/v1/token", json={"grant_type": "x"},
                             auth=(env.web.name, env.web.client_secret))
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    repeated = env.http.post(f"{env.url}/oauth2/v1/token",
                             content="grant_type=client_credentials&grant_type=password",
                             headers={"content-type": "application/x-www-form-urlencoded"},
                             auth=(env.web.name, env.web.client_secret))
    assert repeated.json()["error"] == "invalid_request"
    assert "repeated" in repeated.json()["error_description"]


def test_access_token_lifetime_follows_the_runtime_config(env: Env, restore_config: None) -> None:
    env.sb.set_config(access_token_ttl_s=1)
    client = env.client(env.web)
    body = client.login("alice", password(env.sb, "alice"))
    assert body["expires_in"] == 1
    exp = claims(body["access_token"])["exp"]
    wait_past(exp)
    auth = {"Authorization": f"Bearer {body['access_token']}"}
    info = env.http.get(f"{env.url}/oauth2/v1/userinfo", headers=auth)
    assert info.status_code == 401 and "expired" in info.json()["error_description"]
    assert 'error="invalid_token"' in info.headers["www-authenticate"]
    assert introspect(env, body["access_token"]) == {"active": False}


# --- userinfo / introspect / revoke -----------------------------------------------------------


def test_userinfo_needs_openid_and_a_token_of_this_domain(env: Env) -> None:
    body = env.client(env.web).login("bob", password(env.sb, "bob"), scope="profile")
    auth = {"Authorization": f"Bearer {body['access_token']}"}
    no_openid = env.http.get(f"{env.url}/oauth2/v1/userinfo", headers=auth)
    assert no_openid.status_code == 403 and no_openid.json()["error"] == "insufficient_scope"
    secondary = domain_url(env.sb, "Secondary")
    elsewhere = env.http.get(f"{secondary}/oauth2/v1/userinfo", headers=auth)
    assert elsewhere.status_code == 401
    assert env.http.get(f"{env.url}/oauth2/v1/userinfo").status_code == 401


def test_introspect_and_revoke(env: Env) -> None:
    client = env.client(env.web)
    body = client.login("alice", password(env.sb, "alice"), scope="openid offline_access")
    active = introspect(env, body["access_token"])
    assert active["active"] is True and active["sub"] == "alice" and active["username"] == "alice"
    assert introspect(env, body["refresh_token"])["active"] is True
    assert introspect(env, "garbage") == {"active": False}
    denied = env.http.post(f"{env.url}/oauth2/v1/introspect", data={"token": "x"},
                           auth=(env.strict.name, env.strict.client_secret))
    assert denied.json()["error"] == "unauthorized_client"  # no allowedOperations introspect

    other = env.http.post(f"{env.url}/oauth2/v1/revoke", data={"token": body["access_token"]},
                          auth=(env.strict.name, env.strict.client_secret))
    assert other.status_code == 400 and other.json()["error"] == "unauthorized_client"
    for token in (body["access_token"], body["refresh_token"], "unknown-token"):
        revoked = env.http.post(f"{env.url}/oauth2/v1/revoke", data={"token": token},
                                auth=(env.web.name, env.web.client_secret))
        assert revoked.status_code == 200
    assert introspect(env, body["access_token"]) == {"active": False}
    info = env.http.get(f"{env.url}/oauth2/v1/userinfo",
                        headers={"Authorization": f"Bearer {body['access_token']}"})
    assert info.status_code == 401 and "revoked" in info.json()["error_description"]
    refresh = client.token({"grant_type": "refresh_token", "refresh_token": body["refresh_token"]})
    assert refresh.json()["error"] == "invalid_grant"


def test_refresh_tokens_and_revocations_survive_a_restart(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    state_dir = tmp_path_factory.mktemp("oauth-restart")
    with Sandbox(state_dir=state_dir) as sb, httpx.Client(timeout=10) as http:
        url = domain_url(sb)
        app = create_app(admin_domains_client(sb, url), "restart", redirect_uris=[HTTPS_CB],
                         grants=["authorization_code", "refresh_token"])
        client = Client(http, url, app.name, app.client_secret, HTTPS_CB)
        body = client.login("alice", password(sb, "alice"), scope="openid offline_access")
        revoke = http.post(f"{url}/oauth2/v1/revoke", data={"token": body["access_token"]},
                           auth=(app.name, app.client_secret))
        assert revoke.status_code == 200
    with Sandbox(state_dir=state_dir) as sb, httpx.Client(timeout=10) as http:
        url = domain_url(sb)  # new port, same domain
        client = Client(http, url, app.name, app.client_secret, HTTPS_CB)
        refreshed = client.token({"grant_type": "refresh_token",
                                  "refresh_token": body["refresh_token"]})
        assert refreshed.status_code == 200, refreshed.text
        info = http.get(f"{url}/oauth2/v1/userinfo",
                        headers={"Authorization": f"Bearer {body['access_token']}"})
        assert info.status_code == 401  # still revoked (and from another base URL anyway)

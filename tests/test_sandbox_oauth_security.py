"""Adversarial checks of the sandbox's OAuth/OIDC side over real HTTP: the sign-in transaction,
escaping, parameter pollution, code replay, refresh-token rotation/reuse, client authentication
encodings, response headers, ID token binding, userinfo shape and who may run the UPST exchange."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest
from oauth_flow import (
    ISSUER,
    Client,
    admin_domains_client,
    claims,
    create_app,
    create_trust,
    domain_url,
    introspect,
    parse_page,
    password,
    redirect_query,
    session_public_key,
    wait_past,
)

from oci_mcp_cli.sandbox import Sandbox

CB = "https://app.example.com/auth/callback"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
UPST = "urn:oci:token-type:oci-upst"
GRANTS = ["authorization_code", "refresh_token", "client_credentials"]


@dataclass
class Env:
    sb: Sandbox
    url: str
    idc: Any
    web: Any  # confidential: code + refresh + client_credentials; in the trust
    http: httpx.Client

    def client(self, app: Any = None) -> Client:
        app = app or self.web
        return Client(self.http, self.url, app.name, app.client_secret or "", CB)

    def exchange(self, subject: str, app: Any = None, *, basic: bool = True) -> httpx.Response:
        app = app or self.web
        data = {"grant_type": EXCHANGE, "requested_token_type": UPST, "subject_token": subject,
                "subject_token_type": "jwt", "public_key": session_public_key()}
        if basic:
            return self.http.post(f"{self.url}/oauth2/v1/token", data=data,
                                  auth=(app.name, app.client_secret))
        return self.http.post(f"{self.url}/oauth2/v1/token", data={**data, "client_id": app.name})


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with Sandbox(state_dir=tmp_path_factory.mktemp("oauth-sec")) as sb, \
            httpx.Client(timeout=10) as http:
        url = domain_url(sb)
        idc = admin_domains_client(sb, url)
        web = create_app(idc, "web", redirect_uris=[CB], grants=GRANTS,
                         allowed_operations=["introspect"])
        yield Env(sb, url, idc, web, http)


def userinfo(env: Env, token: str) -> httpx.Response:
    return env.http.get(f"{env.url}/oauth2/v1/userinfo",
                        headers={"Authorization": f"Bearer {token}"})


# --- the sign-in page and its transaction -----------------------------------------------------


def test_echoed_parameters_are_escaped_and_round_trip(env: Env) -> None:
    evil = '"><script>alert(1)</script>'
    client = env.client()
    page = parse_page(client.authorize(state=evil, nonce=evil, resource=evil))
    assert page.status == 200 and "<script>" not in page.html
    assert page.fields["state"] == evil and page.fields["resource"] == evil
    bad = parse_page(client.submit(page, evil, "wrong"))
    assert bad.status == 401 and "<script>" not in bad.html and bad.fields["username"] == evil
    ok = client.submit(bad, "alice", password(env.sb, "alice"))
    assert redirect_query(ok)["state"] == evil
    # An unregistered redirect_uri is echoed in the error page, escaped, and not followed.
    response = client.authorize(redirect_uri=f"https://evil.example.com/{evil}")
    assert response.status_code == 400 and "location" not in response.headers
    assert "<script>" not in response.text


def test_sign_in_page_cannot_be_framed_or_cached(env: Env) -> None:
    response = env.client().authorize()
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def test_a_transaction_is_bound_to_its_domain(env: Env) -> None:
    page = parse_page(env.client().authorize())
    secondary = domain_url(env.sb, "Secondary")
    data = {**page.fields, "username": "carol", "password": password(env.sb, "carol")}
    response = env.http.post(f"{secondary}/oauth2/v1/authorize", data=data)
    assert response.status_code == 400 and "location" not in response.headers
    assert "expired" in parse_page(response).error


def test_tampered_hidden_fields_do_not_change_the_validated_request(env: Env) -> None:
    client = env.client()
    page = parse_page(client.authorize())
    page.fields.update(redirect_uri="https://evil.example.com/cb", client_id="someone-else",
                       scope="openid offline_access")
    response = client.submit(page, "alice", password(env.sb, "alice"))
    assert response.status_code == 302 and response.headers["location"].startswith(CB + "?")
    body = client.redeem(redirect_query(response)["code"]).json()
    assert claims(body["access_token"])["scope"] == "openid" and "refresh_token" not in body


def test_too_many_wrong_passwords_end_the_transaction(env: Env) -> None:
    client = env.client()
    first = page = parse_page(client.authorize())
    for _ in range(4):
        page = parse_page(client.submit(page, "alice", "wrong"))
        assert page.status == 401 and page.fields["txn"] == first.fields["txn"]
    last = parse_page(client.submit(page, "alice", "wrong"))
    assert last.status == 400 and "too many" in last.error.lower() and "txn" not in last.fields
    again = parse_page(client.submit(first, "alice", password(env.sb, "alice")))
    assert again.status == 400 and "expired" in again.error


@pytest.mark.parametrize("name", ["redirect_uri", "client_id"])
def test_repeated_client_or_redirect_parameter_gets_an_error_page(env: Env, name: str) -> None:
    client = env.client()
    params = {"client_id": env.web.name, "response_type": "code", "redirect_uri": CB,
              "scope": "openid", "state": "s1"}
    query = urlencode(params) + "&" + urlencode({name: params[name]})
    response = env.http.get(f"{env.url}/oauth2/v1/authorize?{query}")
    assert response.status_code == 400 and "location" not in response.headers
    assert "repeated" in parse_page(response).error
    assert client.authorize().status_code == 200


def test_other_repeated_parameters_are_invalid_request_at_the_redirect(env: Env) -> None:
    params = {"client_id": env.web.name, "response_type": "code", "redirect_uri": CB,
              "scope": "openid", "state": "s1"}
    query = urlencode(params) + "&scope=openid+offline_access"
    response = env.http.get(f"{env.url}/oauth2/v1/authorize?{query}")
    assert response.status_code == 302
    result = redirect_query(response)
    assert result["error"] == "invalid_request" and "scope" in result["error_description"]
    assert result["state"] == "s1"


# --- codes and tokens ----------------------------------------------------------------------------


def test_a_replayed_code_revokes_what_it_issued(env: Env) -> None:
    client = env.client()
    code = client.sign_in("alice", password(env.sb, "alice"), scope="openid offline_access")
    body = client.redeem(code).json()
    assert userinfo(env, body["access_token"]).status_code == 200
    replay = client.redeem(code)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    info = userinfo(env, body["access_token"])
    assert info.status_code == 401 and "revoked" in info.json()["error_description"]
    refresh = client.token({"grant_type": "refresh_token", "refresh_token": body["refresh_token"]})
    assert refresh.json()["error"] == "invalid_grant"


def test_resource_is_tolerated_on_authorize_and_token(env: Env) -> None:
    """FastMCP's proxy sends ``resource=<base>/mcp`` (RFC 8707); the sandbox ignores it."""
    client = env.client()
    resource = "http://127.0.0.1:8000/mcp"
    code = client.sign_in("bob", password(env.sb, "bob"), resource=resource)
    response = client.redeem(code, resource=resource)
    assert response.status_code == 200, response.text
    assert claims(response.json()["access_token"])["aud"][0] == env.url


def test_id_token_binds_client_nonce_and_access_token(env: Env) -> None:
    client = env.client()
    body = client.login("alice", password(env.sb, "alice"), scope="openid offline_access")
    it = claims(body["id_token"])
    assert it["aud"] == env.web.name and it["azp"] == env.web.name and it["iss"] == ISSUER
    assert it["nonce"] == client.last["nonce"]
    digest = hashlib.sha256(body["access_token"].encode("ascii")).digest()
    assert it["at_hash"] == base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
    # OIDC Core §12.2: a refreshed ID token keeps the original auth_time, has no nonce.
    wait_past(it["auth_time"] + 1)  # so that "now" differs from the original sign-in second
    refreshed = client.token({"grant_type": "refresh_token",
                              "refresh_token": body["refresh_token"]}).json()
    it2 = claims(refreshed["id_token"])
    assert it2["auth_time"] == it["auth_time"] and "nonce" not in it2
    assert it2["sub"] == it["sub"] and it2["aud"] == it["aud"]


def test_refresh_scope_may_narrow_but_the_new_refresh_token_keeps_the_grant(env: Env) -> None:
    client = env.client()
    body = client.login("alice", password(env.sb, "alice"),
                        scope="openid profile email offline_access")
    # FastMCP resends the stored scopes on refresh: the same set (any order) is fine.
    same = client.token({"grant_type": "refresh_token", "refresh_token": body["refresh_token"],
                         "scope": "offline_access email profile openid"})
    assert same.status_code == 200, same.text
    narrow = client.token({"grant_type": "refresh_token",
                           "refresh_token": same.json()["refresh_token"], "scope": "openid"})
    assert narrow.status_code == 200, narrow.text
    assert claims(narrow.json()["access_token"])["scope"] == "openid"
    # RFC 6749 §6: the new refresh token has the original token's scope.
    rt = narrow.json()["refresh_token"]
    assert introspect(env, rt)["scope"] == "openid profile email offline_access"
    full = client.token({"grant_type": "refresh_token", "refresh_token": rt})
    assert claims(full.json()["access_token"])["scope"] == "openid profile email offline_access"


def test_reusing_a_rotated_refresh_token_revokes_the_family(env: Env) -> None:
    client = env.client()
    first = client.login("alice", password(env.sb, "alice"),
                         scope="openid offline_access")["refresh_token"]
    second = client.token({"grant_type": "refresh_token", "refresh_token": first}).json()
    reuse = client.token({"grant_type": "refresh_token", "refresh_token": first})
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    assert "reuse" in reuse.json()["error_description"]
    after = client.token({"grant_type": "refresh_token",
                          "refresh_token": second["refresh_token"]})
    assert after.json()["error"] == "invalid_grant"
    assert introspect(env, second["refresh_token"]) == {"active": False}


def test_token_responses_are_not_cacheable(env: Env) -> None:
    data = {"grant_type": "client_credentials", "scope": "urn:opc:idm:__myscopes__"}
    for response in (env.client().token(data), env.client().token(data, secret="wrong"),
                     env.client().token({"grant_type": "nope"})):
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["pragma"] == "no-cache"


def test_basic_credentials_are_form_url_decoded(env: Env) -> None:
    """RFC 6749 §2.3.1: client id and secret are form-urlencoded before Basic encoding."""
    def pct(value: str) -> str:
        return "".join(f"%{b:02X}" for b in value.encode())

    raw = f"{pct(env.web.name)}:{pct(env.web.client_secret)}"
    header = "Basic " + base64.b64encode(raw.encode()).decode()
    response = env.http.post(f"{env.url}/oauth2/v1/token",
                             data={"grant_type": "client_credentials",
                                   "scope": "urn:opc:idm:__myscopes__"},
                             headers={"Authorization": header})
    assert response.status_code == 200, response.text
    assert quote(env.web.client_secret) == env.web.client_secret  # no accidental plain match


def test_userinfo_has_the_reference_field_set(env: Env) -> None:
    body = env.client().login("alice", password(env.sb, "alice"), scope="openid profile email")
    info = userinfo(env, body["access_token"]).json()
    assert set(info) == {"birthdate", "email", "email_verified", "family_name", "gender",
                         "given_name", "appRoles", "name", "preferred_username", "sub",
                         "updated_at", "website"}
    assert info["sub"] == "alice" and isinstance(info["updated_at"], int)


def test_tokens_of_another_domain_are_not_active_here(env: Env) -> None:
    secondary = domain_url(env.sb, "Secondary")
    idc2 = admin_domains_client(env.sb, secondary)
    app2 = create_app(idc2, "secondary-sec", redirect_uris=[CB], grants=GRANTS)
    carol = Client(env.http, secondary, app2.name, app2.client_secret, CB).login(
        "carol", password(env.sb, "carol"), scope="openid offline_access")
    assert introspect(env, carol["access_token"]) == {"active": False}
    assert introspect(env, carol["refresh_token"]) == {"active": False}
    assert userinfo(env, carol["access_token"]).status_code == 401
    cross = env.client().token({"grant_type": "refresh_token",
                                "refresh_token": carol["refresh_token"]})
    assert cross.json()["error"] == "invalid_grant"


# --- who may run the UPST exchange --------------------------------------------------------------


@pytest.fixture(scope="module")
def exchange_apps(env: Env) -> dict[str, Any]:
    public = create_app(env.idc, "public-sec", redirect_uris=[CB], client_type="public",
                        grants=["authorization_code"])
    no_cc = create_app(env.idc, "no-cc-sec", redirect_uris=[CB], grants=["authorization_code"])
    create_trust(env.idc, env.url, [env.web.name, public.name, no_cc.name],
                 client_claim_name="iss", client_claim_values=[ISSUER])
    return {"public": public, "no_cc": no_cc}


def test_the_exchange_works_for_the_trusted_confidential_client(
    env: Env, exchange_apps: dict[str, Any]
) -> None:
    subject = env.client().login("alice", password(env.sb, "alice"))["access_token"]
    response = env.exchange(subject)
    assert response.status_code == 200, response.text


def test_a_public_client_cannot_run_the_exchange(env: Env, exchange_apps: dict[str, Any]) -> None:
    subject = env.client().login("alice", password(env.sb, "alice"))["access_token"]
    response = env.exchange(subject, exchange_apps["public"], basic=False)
    assert response.status_code == 400 and response.json()["error"] == "unauthorized_client"
    assert "confidential" in response.json()["error_description"]


def test_the_exchange_needs_the_client_credentials_grant(
    env: Env, exchange_apps: dict[str, Any]
) -> None:
    subject = env.client().login("alice", password(env.sb, "alice"))["access_token"]
    response = env.exchange(subject, exchange_apps["no_cc"])
    assert response.status_code == 400 and response.json()["error"] == "unauthorized_client"
    assert "client_credentials" in response.json()["error_description"]


def test_an_id_token_is_not_a_subject_token(env: Env, exchange_apps: dict[str, Any]) -> None:
    body = env.client().login("alice", password(env.sb, "alice"))
    response = env.exchange(body["id_token"])
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert "not an access token" in response.json()["error_description"]

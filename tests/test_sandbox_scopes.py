"""Sandbox: resource apps and custom scopes (reference §2.2, §8.2-8.3, §9; issue 12).

Through the real SDK (SCIM) and real HTTP (OAuth): ``isOAuthResource``/``audience``/
``scopes[].value`` with the read-only ``fqs``; ``allowedScopes`` on clients; fully qualified
scopes at /authorize and /token, bare in the token with ``aud`` = the primary audience; scopes a
client is not allowed are refused; such a token is exchanged for a UPST.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import oci
import pytest

from oci_mcp_cli.sandbox import Sandbox
from tests.oauth_flow import (
    APP_SCHEMA,
    Client,
    admin_domains_client,
    claims,
    create_app,
    create_trust,
    domain_url,
    password,
    session_public_key,
    set_public_jwks,
)

AUDIENCE = "https://api.example.com/"
REDIRECT = "https://mcp.example.com/auth/callback"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from oci.identity_domains.models import App, AppAllowedScopes, AppBasedOnTemplate, AppScopes

    with Sandbox(state_dir=tmp_path_factory.mktemp("scopes")) as sb, \
            httpx.Client(timeout=10) as http:
        url = domain_url(sb)
        idc = admin_domains_client(sb, url)
        resource = idc.create_app(app=App(
            schemas=[APP_SCHEMA], display_name="photos-api",
            based_on_template=AppBasedOnTemplate(value="CustomWebAppTemplateId"),
            is_o_auth_resource=True, audience=AUDIENCE, active=True,
            scopes=[AppScopes(value="photos.read", fqs="ignored"), AppScopes(value="photos.write")],
        )).data
        allowed = create_app(idc, "photos-client", redirect_uris=[REDIRECT],
                             grants=["authorization_code", "client_credentials"])
        idc.patch_app(allowed.id, patch_op=_patch("allowedScopes",
                                                  [{"fqs": AUDIENCE + "photos.read"}]))
        other = create_app(idc, "other-client", redirect_uris=[REDIRECT],
                           grants=["authorization_code", "client_credentials"])
        set_public_jwks(idc, True)
        create_trust(idc, url, [allowed.name])
        yield {"sb": sb, "http": http, "url": url, "idc": idc, "resource": resource,
               "allowed": idc.get_app(allowed.id).data, "other": other,
               "models": (App, AppAllowedScopes)}


def _patch(path: str, value: Any) -> Any:
    from oci_mcp_cli.provisioning.scim import patch_op

    return patch_op([("REPLACE", path, value)])


def _client(env: dict[str, Any], app: Any) -> Client:
    return Client(env["http"], env["url"], app.name, app.client_secret, REDIRECT)


def test_resource_app_has_read_only_fqs(env: dict[str, Any]) -> None:
    app = env["idc"].get_app(env["resource"].id).data
    assert app.is_o_auth_resource and app.audience == AUDIENCE
    assert {s.value: s.fqs for s in app.scopes} == {
        "photos.read": AUDIENCE + "photos.read", "photos.write": AUDIENCE + "photos.write"}
    assert [s.fqs for s in env["allowed"].allowed_scopes] == [AUDIENCE + "photos.read"]
    assert env["allowed"].allowed_scopes[0].id_of_defining_app == env["resource"].id


def test_scim_refuses_bad_resource_apps_and_unknown_allowed_scopes(env: dict[str, Any]) -> None:
    from oci.identity_domains.models import AppBasedOnTemplate

    App, _ = env["models"]
    idc = env["idc"]
    base = {"schemas": [APP_SCHEMA],
            "based_on_template": AppBasedOnTemplate(value="CustomWebAppTemplateId")}
    cases = [
        (App(display_name="no-aud", is_o_auth_resource=True, **base), 400),
        (App(display_name="dup-aud", is_o_auth_resource=True, audience=AUDIENCE, **base), 409),
    ]
    for body, status in cases:
        with pytest.raises(oci.exceptions.ServiceError) as info:
            idc.create_app(app=body)
        assert info.value.status == status
    with pytest.raises(oci.exceptions.ServiceError) as info:  # bare scope: not an fqs
        idc.patch_app(env["other"].id, patch_op=_patch("allowedScopes", [{"fqs": "photos.read"}]))
    assert info.value.status == 400


def test_fully_qualified_at_authorize_bare_in_the_token(env: dict[str, Any]) -> None:
    sb = env["sb"]
    client = _client(env, env["allowed"])
    tokens = client.login("alice", password(sb, "alice"),
                          scope=f"openid {AUDIENCE}photos.read")
    at = claims(tokens["access_token"])
    assert at["scope"] == "openid photos.read"
    assert at["aud"] == AUDIENCE
    # The same token is exchanged for alice's UPST (the trust lists this client).
    response = client.token({
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "requested_token_type": "urn:oci:token-type:oci-upst",
        "subject_token": tokens["access_token"], "subject_token_type": "jwt",
        "public_key": session_public_key()})
    assert response.status_code == 200, response.text
    assert claims(response.json()["token"])["sub"].startswith("ocid1.user.")


def test_without_a_resource_scope_the_domain_audience_stays(env: dict[str, Any]) -> None:
    client = _client(env, env["allowed"])
    at = claims(client.login("bob", password(env["sb"], "bob"), scope="openid")["access_token"])
    assert at["scope"] == "openid" and env["url"] in at["aud"]


@pytest.mark.parametrize("scope", ["photos.read", AUDIENCE + "photos.write"])
def test_bare_or_not_allowed_scopes_are_refused(env: dict[str, Any], scope: str) -> None:
    client = _client(env, env["allowed"])
    response = client.authorize(scope=f"openid {scope}")
    assert response.status_code == 302
    assert "error=invalid_scope" in response.headers["location"]


def test_a_client_without_allowed_scopes_is_refused(env: dict[str, Any]) -> None:
    client = _client(env, env["other"])
    response = client.authorize(scope=f"openid {AUDIENCE}photos.read")
    assert "error=invalid_scope" in response.headers["location"]


def test_client_credentials_with_a_qualified_scope(env: dict[str, Any]) -> None:
    client = _client(env, env["allowed"])
    response = client.token({"grant_type": "client_credentials",
                             "scope": AUDIENCE + "photos.read"})
    assert response.status_code == 200, response.text
    at = claims(response.json()["access_token"])
    assert at["scope"] == "photos.read" and at["aud"] == AUDIENCE and at["sub_type"] == "client"
    bare = client.token({"grant_type": "client_credentials", "scope": "photos.read"})
    assert bare.status_code == 400 and bare.json()["error"] == "invalid_scope"

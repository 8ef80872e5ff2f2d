"""Fidelity fixes from comparing the sandbox with Oracle's published material (issue 11), over
real HTTP with the real SDK: the UPST's header and claims, the documented app templates, the
``idcsCreatedBy`` reference, ``opc-request-id`` on the anonymous JWKS 401, and the OCI-signed
form of the JWT → UPST exchange (signed with the SDK's own signer on a raw request)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
import oci
import pytest
from conftest import mint_upst
from oauth_flow import (
    APP_SCHEMA,
    Client,
    admin_domains_client,
    create_app,
    create_trust,
    domain_url,
    password,
    session_public_key,
)
from oci._vendor import requests  # the SDK signer is an AuthBase of its vendored requests
from oci.identity_domains.models import App, AppBasedOnTemplate

from oci_mcp_cli.sandbox import Sandbox, keys

CB = "https://mcp.example.com/auth/callback"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
UPST = "urn:oci:token-type:oci-upst"
NO_RETRY = oci.retry.NoneRetryStrategy()


@dataclass
class Env:
    sb: Sandbox
    url: str
    idc: Any
    mcp: Any
    http: httpx.Client
    config: dict[str, Any]

    def subject(self, username: str = "alice") -> str:
        client = Client(self.http, self.url, self.mcp.name, self.mcp.client_secret, CB)
        return client.login(username, password(self.sb, username))["access_token"]

    def exchange_form(self, subject: str, public_key: str, **extra: str) -> dict[str, str]:
        return {"grant_type": EXCHANGE, "requested_token_type": UPST, "subject_token": subject,
                "subject_token_type": "jwt", "public_key": public_key, **extra}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with Sandbox(state_dir=tmp_path_factory.mktemp("fidelity")) as sb, \
            httpx.Client(timeout=10) as http:
        url = domain_url(sb)
        idc = admin_domains_client(sb, url)
        mcp = create_app(idc, "mcp-server", redirect_uris=[CB],
                         grants=["authorization_code", "client_credentials"])
        create_trust(idc, url, [mcp.name])
        yield Env(sb, url, idc, mcp, http, oci.config.from_file(sb.config_file, sb.profile))


def exchange(env: Env, username: str = "alice") -> tuple[str, Any]:
    """A UPST from the exchange over HTTP (client_secret_basic), and its session key."""
    key = keys.new_rsa_key()
    response = env.http.post(f"{env.url}/oauth2/v1/token",
                             data=env.exchange_form(env.subject(username), _spki(key)),
                             auth=(env.mcp.name, env.mcp.client_secret))
    assert response.status_code == 200, response.text
    return response.json()["token"], key


def _spki(key: Any) -> str:
    import base64

    from cryptography.hazmat.primitives import serialization

    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def namespace_as(env: Env, token: str, key: Any) -> str:
    signer = oci.auth.signers.SecurityTokenSigner(token, key)
    client = oci.object_storage.ObjectStorageClient({"region": "us-ashburn-1"}, signer=signer,
                                                    service_endpoint=env.sb.url,
                                                    retry_strategy=NO_RETRY)
    return client.get_namespace().data


# --- the UPST -------------------------------------------------------------------------------


def test_upst_header_and_claims_follow_published_tokens(env: Env) -> None:
    token, key = exchange(env)
    header = jwt.get_unverified_header(token)
    # observed authService header: {"kid":"asw_phx_1715632587076","alg":"RS256"} — no "typ"
    assert set(header) == {"kid", "alg"}, header
    assert header["alg"] == "RS256"
    assert re.fullmatch(r"asw_iad_\d{13}", header["kid"]), header["kid"]  # home region IAD
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["domain_name"] == "Default"  # the domain's name, not its GUID
    assert str(uuid.UUID(claims["jti"])) == claims["jti"]  # a UUID, hyphenated
    assert claims["iss"] == "authService.oracle.com" and claims["ptype"] == "user"
    # the sandbox still accepts its own (changed) token for OCI signatures
    assert namespace_as(env, token, key) == "sandboxns"


def test_upst_kid_is_stable_across_tokens(env: Env) -> None:
    first, _ = exchange(env, "alice")
    second, _ = exchange(env, "bob")
    assert jwt.get_unverified_header(first)["kid"] == jwt.get_unverified_header(second)["kid"]
    assert jwt.decode(second, options={"verify_signature": False})["domain_name"] == "Default"


# --- SCIM: templates, idcsCreatedBy ------------------------------------------------------


def _app(name: str, template: str) -> App:
    return App(schemas=[APP_SCHEMA], display_name=name,
               based_on_template=AppBasedOnTemplate(value=template))


def test_custom_enterprise_app_template_is_accepted(env: Env) -> None:
    created = env.idc.create_app(app=_app("enterprise-app", "CustomEnterpriseAppTemplateId"))
    assert created.status == 201
    assert created.data.based_on_template.value == "CustomEnterpriseAppTemplateId"
    assert created.data.client_secret is None  # not a CustomWebAppTemplateId OAuth client


def test_an_unknown_template_is_still_refused(env: Env) -> None:
    with pytest.raises(oci.exceptions.ServiceError) as info:
        env.idc.create_app(app=_app("made-up", "NoSuchTemplateId"))
    assert info.value.status == 400
    assert "template" in info.value.args[0]["detail"].lower()


def test_idcs_created_by_names_the_creating_user_with_a_ref(env: Env) -> None:
    created = env.idc.create_app(app=_app("ref-check", "CustomWebAppTemplateId")).data
    admin = env.idc.list_users(filter='userName eq "sandbox-admin"').data.resources[0]
    by = created.idcs_created_by
    assert (by.value, by.type, by.display) == (admin.id, "User", "sandbox-admin")
    assert by.ref == f"{env.url}/admin/v1/Users/{admin.id}"
    again = env.idc.get_app(created.id).data.idcs_created_by
    assert again.ref == by.ref


# --- JWKS 401 -------------------------------------------------------------------------------


def test_anonymous_jwks_401_carries_opc_request_id(env: Env) -> None:
    response = env.http.get(f"{env.url}/admin/v1/SigningCert/jwk",
                            headers={"opc-request-id": "CLIENTID0123456789ABCDEF01234567"})
    assert response.status_code == 401
    assert response.json()["status"] == "401"
    assert response.headers["opc-request-id"].startswith("CLIENTID0123456789ABCDEF01234567/")
    plain = env.http.get(f"{env.url}/admin/v1/SigningCert/jwk")
    assert re.fullmatch(r"[0-9A-F]{32}", plain.headers["opc-request-id"])


# --- the OCI-signed exchange -----------------------------------------------------------------


def signed_post(env: Env, signer: Any, form: dict[str, str], *,
                tamper: bool = False) -> httpx.Response:
    """POST the form to the token endpoint with the SDK signer's headers (no client secret)."""
    url = f"{env.url}/oauth2/v1/token"
    body = urlencode(form).encode()
    prepared = requests.Request(
        "POST", url, data=body, headers={"content-type": "application/x-www-form-urlencoded"}
    ).prepare()
    signer(prepared)
    headers = dict(prepared.headers)
    if tamper:
        body = body.replace(b"jwt", b"JWT", 1)  # same length, different bytes
    return env.http.post(url, content=body, headers=headers)


def api_key_signer(config: dict[str, Any]) -> Any:
    return oci.signer.Signer(config["tenancy"], config["user"], config["fingerprint"],
                             config["key_file"])


def test_a_signed_exchange_by_the_admin_api_key_returns_a_working_upst(env: Env) -> None:
    key = keys.new_rsa_key()
    form = env.exchange_form(env.subject("bob"), _spki(key), client_id=env.mcp.name)
    response = signed_post(env, api_key_signer(env.config), form)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    token = response.json()["token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    bob = next(u for u in env.idc.list_users(filter='userName eq "bob"').data.resources)
    assert claims["sub"] == bob.ocid
    assert namespace_as(env, token, key) == "sandboxns"


def test_a_signed_exchange_with_a_tampered_body_is_invalid_client(env: Env) -> None:
    form = env.exchange_form(env.subject(), session_public_key(), client_id=env.mcp.name)
    response = signed_post(env, api_key_signer(env.config), form, tamper=True)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert "signature" in response.json()["error_description"].lower()


def test_a_signed_exchange_by_a_non_administrator_is_refused(env: Env) -> None:
    token, session_key = mint_upst(env.sb, "alice")
    signer = oci.auth.signers.SecurityTokenSigner(token, session_key)
    form = env.exchange_form(env.subject(), session_public_key(), client_id=env.mcp.name)
    response = signed_post(env, signer, form)
    assert response.status_code == 401
    body = response.json()
    assert body["error"] == "invalid_client" and "alice" in body["error_description"]


def test_a_signature_authenticates_only_the_upst_exchange(env: Env) -> None:
    form = {"grant_type": "client_credentials", "scope": "urn:opc:idm:__myscopes__",
            "client_id": env.mcp.name}
    response = signed_post(env, api_key_signer(env.config), form)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_a_signed_exchange_needs_client_id_and_no_secret(env: Env) -> None:
    signer = api_key_signer(env.config)
    form = env.exchange_form(env.subject(), session_public_key())
    missing = signed_post(env, signer, form)
    assert (missing.status_code, missing.json()["error"]) == (400, "invalid_request")
    both = signed_post(env, signer, {**form, "client_id": env.mcp.name,
                                     "client_secret": env.mcp.client_secret})
    assert (both.status_code, both.json()["error"]) == (400, "invalid_request")


def test_a_signed_exchange_still_applies_the_trust_rules(env: Env) -> None:
    other = create_app(env.idc, "not-in-trust", redirect_uris=[CB],
                       grants=["authorization_code", "client_credentials"])
    form = env.exchange_form(env.subject(), session_public_key(), client_id=other.name)
    response = signed_post(env, api_key_signer(env.config), form)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert "oauthClients" in response.json()["error_description"]

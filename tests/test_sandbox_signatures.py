"""OCI request-signature verification of the sandbox, driven by the real SDK signer over HTTP."""

from __future__ import annotations

import email.utils
import time
from pathlib import Path
from typing import Any

import httpx
import oci
import pytest
from oci._vendor import requests  # the SDK signer is an AuthBase of its vendored requests
from oci.identity_domains import IdentityDomainsClient

from oci_mcp_cli.sandbox import Sandbox, keys

APP_SCHEMA = "urn:ietf:params:scim:schemas:oracle:idcs:App"
NO_RETRY = oci.retry.NoneRetryStrategy()


@pytest.fixture(scope="module")
def sb(shared_sb: Sandbox) -> Sandbox:
    """The session's shared sandbox: these tests read it and add only apps of their own."""
    return shared_sb


def identity(config: dict[str, Any], sb: Sandbox, signer: Any = None) -> Any:
    kwargs = {"signer": signer} if signer else {}
    return oci.identity.IdentityClient(
        config, service_endpoint=sb.url, retry_strategy=NO_RETRY, **kwargs
    )


def api_signer(config: dict[str, Any], cls: type = oci.signer.Signer) -> Any:
    return cls(config["tenancy"], config["user"], config["fingerprint"], config["key_file"])


def expect_401(call: Any, *words: str) -> oci.exceptions.ServiceError:
    with pytest.raises(oci.exceptions.ServiceError) as info:
        call()
    assert info.value.status == 401
    assert info.value.code == "NotAuthenticated"
    assert info.value.request_id
    for word in words:
        assert word in info.value.message
    return info.value


def test_signed_call_with_the_written_profile_works(sb: Sandbox, config: dict) -> None:
    regions = identity(config, sb).list_regions().data
    assert {r.name for r in regions} == {"us-ashburn-1", "us-phoenix-1"}


def test_unsigned_call_is_401_oci_json_with_request_id(sb: Sandbox) -> None:
    response = httpx.get(f"{sb.url}/20160918/regions", headers={"opc-request-id": "ABC123"})
    assert response.status_code == 401
    assert response.json()["code"] == "NotAuthenticated"
    assert response.headers["opc-request-id"].startswith("ABC123/")


def test_unsigned_scim_call_is_401_scim_error(sb: Sandbox) -> None:
    response = httpx.get(f"{sb.domains[0]['url']}/admin/v1/Apps")
    assert response.status_code == 401
    body = response.json()
    assert body["status"] == "401"
    assert "NotAuthenticated" in body["detail"]
    ext = "urn:ietf:params:scim:api:oracle:idcs:extension:messages:Error"
    assert body[ext]["messageId"] == "NotAuthenticated"


def test_wrong_private_key_fails_verification(sb: Sandbox, config: dict, tmp_path: Path) -> None:
    other = tmp_path / "other.pem"
    other.write_bytes(keys.private_pem(keys.new_rsa_key()))
    wrong = {**config, "key_file": str(other)}  # same keyId, different key
    expect_401(identity(wrong, sb).list_regions, "Failed to verify")


def test_unknown_api_key_is_rejected(sb: Sandbox, config: dict, tmp_path: Path) -> None:
    key = keys.new_rsa_key()
    other = tmp_path / "other.pem"
    other.write_bytes(keys.private_pem(key))
    unknown = {**config, "key_file": str(other), "fingerprint": keys.fingerprint(key)}
    expect_401(identity(unknown, sb).list_regions, "unknown API key")


class StaleDateSigner(oci.signer.Signer):
    """Signs with a date header ``offset_s`` in the past (the SDK keeps a preset date)."""

    offset_s = 600

    def __call__(self, request: Any, enforce_content_headers: bool = True) -> Any:
        request.headers["date"] = email.utils.formatdate(time.time() - self.offset_s, usegmt=True)
        return super().__call__(request, enforce_content_headers)


def test_stale_date_is_rejected(sb: Sandbox, config: dict) -> None:
    client = identity(config, sb, api_signer(config, StaleDateSigner))
    expect_401(client.list_regions, "date")


def test_date_within_clock_skew_is_accepted(sb: Sandbox, config: dict) -> None:
    class SlightlyOld(StaleDateSigner):
        offset_s = 120

    assert identity(config, sb, api_signer(config, SlightlyOld)).list_regions().data


class TamperingSigner(oci.signer.Signer):
    """Signs the body, then changes it (same length) as a man in the middle would."""

    def __call__(self, request: Any, enforce_content_headers: bool = True) -> Any:
        signed = super().__call__(request, enforce_content_headers)
        body = signed.body
        if isinstance(body, bytes):
            signed.body = body.replace(b"original", b"tampered")
        elif isinstance(body, str):
            signed.body = body.replace("original", "tampered")
        return signed


def expect_body_hash_refused(client: IdentityDomainsClient, display_name: str) -> None:
    """Creating an app through ``client`` is refused for its body hash (x-content-sha256)."""
    app = {
        "schemas": [APP_SCHEMA],
        "displayName": display_name,
        "basedOnTemplate": {"value": "CustomWebAppTemplateId"},
    }
    with pytest.raises(oci.exceptions.ServiceError) as info:
        client.create_app(app=app)
    assert info.value.status == 401
    assert "x-content-sha256" in info.value.args[0]["detail"]


def test_tampered_body_fails_x_content_sha256(sb: Sandbox, config: dict) -> None:
    url = sb.domains[0]["url"]
    client = IdentityDomainsClient(
        config, url, signer=api_signer(config, TamperingSigner), retry_strategy=NO_RETRY
    )
    expect_body_hash_refused(client, "original")
    honest = IdentityDomainsClient(config, url, retry_strategy=NO_RETRY)
    assert honest.list_apps(filter='displayName eq "tampered"').data.total_results == 0


def test_post_without_body_headers_in_signature_is_rejected(sb: Sandbox, config: dict) -> None:
    class BasicOnly(oci.signer.Signer):
        def __call__(self, request: Any, enforce_content_headers: bool = True) -> Any:
            return super().__call__(request, enforce_content_headers=False)

    client = IdentityDomainsClient(
        config, sb.domains[0]["url"], signer=api_signer(config, BasicOnly), retry_strategy=NO_RETRY
    )
    expect_body_hash_refused(client, "basic-only")


class Reordered(requests.auth.AuthBase):
    """The SDK signature with its Authorization parameters in another order (as Oracle's docs)."""

    def __init__(self, signer: Any, **overrides: str):
        self.signer, self.overrides = signer, overrides

    def __call__(self, request: Any) -> Any:
        signed = self.signer(request)
        from oci_mcp_cli.sandbox.signatures import parse_authorization

        params = {**parse_authorization(signed.headers["authorization"]), **self.overrides}
        order = ["version", "keyId", "algorithm", "headers", "signature"]
        signed.headers["authorization"] = "Signature " + ",".join(
            f'{k}="{params[k]}"' for k in order
        )
        return signed


def test_authorization_parameters_in_any_order(sb: Sandbox, config: dict) -> None:
    response = requests.get(
        f"{sb.url}/20160918/regions", auth=Reordered(api_signer(config)), timeout=10
    )
    assert response.status_code == 200, response.text


def test_signature_version_and_algorithm_are_enforced(sb: Sandbox, config: dict) -> None:
    for override in ({"version": "2"}, {"algorithm": "hmac-sha256"}):
        response = requests.get(
            f"{sb.url}/20160918/regions", auth=Reordered(api_signer(config), **override), timeout=10
        )
        assert response.status_code == 401
        assert list(override)[0] in response.json()["message"]


def test_query_string_is_part_of_the_signed_target(sb: Sandbox, config: dict) -> None:
    class SwapQuery(requests.auth.AuthBase):
        def __call__(self, request: Any) -> Any:
            signed = api_signer(config)(request)
            signed.url = signed.url.replace("compartmentId=", "compartmentId=x")
            return signed

    response = requests.get(
        f"{sb.url}/20160918/compartments",
        params={"compartmentId": sb.tenancy_id},
        auth=SwapQuery(),
        timeout=10,
    )
    assert response.status_code == 401


def test_upst_signed_call(sb: Sandbox, user_client: Any) -> None:
    client = user_client(sb, "alice", oci.identity.IdentityClient)
    assert client.get_tenancy(sb.tenancy_id).data.name == "sandbox-tenancy"
    assert any(r["principal"] == "alice" and r["auth"] == "upst" for r in sb.requests())


def test_expired_upst_is_rejected(sb: Sandbox, user_client: Any) -> None:
    client = user_client(sb, "alice", oci.identity.IdentityClient, ttl_s=-600)
    expect_401(lambda: client.get_tenancy(sb.tenancy_id), "expired")


def test_upst_not_signed_by_the_sandbox_is_rejected(sb: Sandbox, config: dict) -> None:
    import jwt

    session = keys.new_rsa_key()
    forged = jwt.encode(
        {
            "sub": "ocid1.user.oc1..x",
            "tenant": sb.tenancy_id,
            "iat": int(time.time()),
            "exp": int(time.time()) + 600,
            "jwk": "{}",
        },
        keys.new_rsa_key(),
        algorithm="RS256",
    )
    signer = oci.auth.signers.SecurityTokenSigner(forged, session)
    client = identity({"region": "us-ashburn-1"}, sb, signer)
    expect_401(client.list_regions, "invalid")


def test_scim_admin_refuses_a_non_admin_upst(sb: Sandbox, user_client: Any) -> None:
    """A valid UPST authenticates, but alice is no domain admin: 401 NotAuthorized (not
    NotAuthenticated). The admin's own UPST is accepted: tests/test_sandbox_session.py."""
    import oci.identity_domains

    token_client = user_client(sb, "alice", oci.identity.IdentityClient)
    signer = token_client.base_client.signer
    client = IdentityDomainsClient(
        {"region": "us-ashburn-1"}, sb.domains[0]["url"], signer=signer, retry_strategy=NO_RETRY
    )
    with pytest.raises(oci.exceptions.ServiceError) as info:
        client.list_apps()
    assert info.value.status == 401
    assert info.value.args[0]["detail"].startswith("NotAuthorized: alice is not authorized")


def test_the_fast_header_split_gives_what_parse_http_list_gives() -> None:
    """``split_http_list`` (the ``Authorization`` header's parameters, without a loop over every
    character: a session token makes the header ≈ 2.4 KB) returns exactly what
    ``urllib.request.parse_http_list`` returns — on the signed header's shape and on every short
    string of quotes, commas, backslashes and the rest (seeded, so the same strings each run)."""
    import random
    from urllib.request import parse_http_list

    from oci_mcp_cli.sandbox.signatures import split_http_list

    token = "eyJ" + "a" * 2100
    header = (f'version="1",keyId="ST${token}",algorithm="rsa-sha256",'
              f'headers="date (request-target) host",signature="{"b" * 344}"')
    assert split_http_list(header) == parse_http_list(header)
    assert len(split_http_list(header)) == 5
    rng = random.Random(23)
    alphabet = ["a", "=", ",", '"', " ", "\\", "x"]
    for _ in range(50_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
        assert split_http_list(text) == parse_http_list(text), repr(text)

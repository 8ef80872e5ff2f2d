"""Adversarial fidelity review of the sandbox (non-OAuth parts), through the real SDK over HTTP.

Each test pins one rule where the sandbox used to be laxer than OCI (or than the reference's
stricter reading): signature binding to the served host, duplicate/unsigned inputs, forged UPSTs,
OCI list pagination, SCIM filter/PatchOp semantics, attribute types, and state-dir privacy.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import stat
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import oci
import pytest
from oci._vendor import requests  # the SDK signer is an AuthBase of its vendored requests
from oci.identity_domains import IdentityDomainsClient

from oci_mcp_cli.sandbox import Sandbox, keys
from oci_mcp_cli.sandbox.hooks import mint_session_token

APP = "urn:ietf:params:scim:schemas:oracle:idcs:App"
TRUST = "urn:ietf:params:scim:schemas:oracle:idcs:IdentityPropagationTrust"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
STATUS = "urn:ietf:params:scim:schemas:oracle:idcs:AppStatusChanger"
NO_RETRY = oci.retry.NoneRetryStrategy()


@pytest.fixture(scope="module")
def signer(config: dict[str, Any]) -> Any:
    return oci.signer.Signer(
        config["tenancy"], config["user"], config["fingerprint"], config["key_file"]
    )


@pytest.fixture(scope="module")
def dc(sb: Sandbox, config: dict) -> Any:
    return IdentityDomainsClient(config, sb.domains[0]["url"], retry_strategy=NO_RETRY)


@pytest.fixture(scope="module")
def ic(sb: Sandbox, config: dict) -> Any:
    return oci.identity.IdentityClient(config, service_endpoint=sb.url, retry_strategy=NO_RETRY)


def signed_headers(signer: Any, method: str, url: str, body: bytes | None = None) -> list:
    """The headers the SDK signer produces for a request (as a list, so tests can add dupes)."""
    prepared = requests.Request(method, url, data=body).prepare()
    signer(prepared)
    return list(prepared.headers.items())


def scim_fails(status: int, call: Any, *words: str) -> dict[str, Any]:
    with pytest.raises(oci.exceptions.ServiceError) as info:
        call()
    assert info.value.status == status, info.value.args[0]
    body = info.value.args[0]
    for word in words:
        assert word in body["detail"], body["detail"]
    return body


def new_app(dc: Any, **extra: Any) -> Any:
    body = {
        "schemas": [APP],
        "displayName": f"fid-{uuid.uuid4().hex[:8]}",
        "basedOnTemplate": {"value": "CustomWebAppTemplateId"},
        "isOAuthClient": True,
        "clientType": "confidential",
        **extra,
    }
    return dc.create_app(app=body).data


def patch(dc: Any, app_id: str, *ops: dict[str, Any]) -> Any:
    return dc.patch_app(app_id, patch_op={"schemas": [PATCH], "Operations": list(ops)})


# ---- OCI request signatures ---------------------------------------------------------------------


def test_signature_for_one_domain_cannot_be_replayed_on_another(sb: Sandbox, signer: Any) -> None:
    """`host` is signed: a request signed for domain A, replayed on domain B's port, is refused."""
    a, b = sb.domains[0]["url"], sb.domains[1]["url"]
    headers = signed_headers(signer, "GET", f"{a}/admin/v1/Apps")
    assert httpx.get(f"{a}/admin/v1/Apps", headers=headers).status_code == 200
    replayed = httpx.get(f"{b}/admin/v1/Apps", headers=headers)
    assert replayed.status_code == 401
    assert "host" in replayed.json()["detail"]


def test_duplicate_signed_header_fails_verification(sb: Sandbox, signer: Any) -> None:
    """draft-cavage §2.3: repeated headers are joined with ', ', so a smuggled second date fails."""
    url = f"{sb.url}/20160918/regions"
    headers = signed_headers(signer, "GET", url)
    assert httpx.get(url, headers=headers).status_code == 200
    smuggled = httpx.get(url, headers=[*headers, ("date", "Thu, 01 Jan 1970 00:00:00 GMT")])
    assert smuggled.status_code == 401
    assert smuggled.json()["code"] == "NotAuthenticated"


def test_body_on_get_must_be_covered_by_the_signature(sb: Sandbox, signer: Any) -> None:
    url = f"{sb.url}/20160918/regions"
    headers = [
        (k, v) for k, v in signed_headers(signer, "GET", url) if k.lower() != "content-length"
    ]
    response = httpx.request("GET", url, headers=headers, content=b'{"smuggled": true}')
    assert response.status_code == 401
    assert "body" in response.json()["message"]


def _upst_claims(sb: Sandbox, username: str) -> tuple[dict[str, Any], Any]:
    """The claims of a genuine sandbox-minted UPST (to re-sign forged), plus its session key."""
    import jwt

    session = keys.new_rsa_key()
    token = mint_session_token(sb.ctx, username, session.public_key(), ttl_s=600)
    return jwt.decode(token, options={"verify_signature": False}), session


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _expect_upst_refused(sb: Sandbox, token: str, session: Any) -> None:
    signer = oci.auth.signers.SecurityTokenSigner(token, session)
    client = oci.identity.IdentityClient(
        {"region": "us-ashburn-1"}, service_endpoint=sb.url, signer=signer, retry_strategy=NO_RETRY
    )
    with pytest.raises(oci.exceptions.ServiceError) as info:
        client.list_regions()
    assert info.value.status == 401
    assert info.value.code == "NotAuthenticated"


def test_upst_signed_by_a_domain_key_is_refused(sb: Sandbox) -> None:
    """Domain access-token keys must not mint UPSTs: only the upst (authService) key does."""
    import jwt

    claims, session = _upst_claims(sb, "alice")
    from oci_mcp_cli.sandbox.oauth.tokens import domain_material

    state = sb.ctx.store.state  # the key as the domain signs with it (made on first use)
    domain_key = domain_material(sb.ctx, next(iter(state.domains.values()))).key
    token = jwt.encode(claims, domain_key, algorithm="RS256", headers={"kid": "SIGNING_KEY"})
    _expect_upst_refused(sb, token, session)


@pytest.mark.parametrize("alg", ["none", "HS256"])
def test_upst_with_alg_confusion_is_refused(sb: Sandbox, alg: str) -> None:
    claims, session = _upst_claims(sb, "alice")
    header = _b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    signing_input = f"{header}.{_b64(json.dumps(claims).encode())}"
    if alg == "none":
        token = signing_input + "."
    else:  # HMAC keyed with the upst public key PEM (the classic RS/HS confusion)
        upst_key = keys.load_private_pem(sb.ctx.store.read_file(sb.ctx.store.state.upst_key_file))
        secret = keys.public_pem(upst_key.public_key()).encode()
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        token = f"{signing_input}.{_b64(mac)}"
    _expect_upst_refused(sb, token, session)


# ---- OCI list pagination ------------------------------------------------------------------------


def test_oci_lists_honour_limit_and_page(sb: Sandbox, ic: Any, config: dict) -> None:
    everything = ic.list_compartments(sb.tenancy_id, compartment_id_in_subtree=True).data
    assert len(everything) == 4
    first = ic.list_compartments(sb.tenancy_id, compartment_id_in_subtree=True, limit=3)
    assert len(first.data) == 3
    assert first.has_next_page and first.next_page
    rest = ic.list_compartments(
        sb.tenancy_id, compartment_id_in_subtree=True, limit=3, page=first.next_page
    )
    assert len(rest.data) == 1 and not rest.has_next_page
    assert {c.id for c in first.data + rest.data} == {c.id for c in everything}

    paged = oci.pagination.list_call_get_all_results(
        ic.list_compartments, sb.tenancy_id, compartment_id_in_subtree=True, limit=1
    )
    assert [c.id for c in paged.data] == [c.id for c in everything]
    domains = oci.pagination.list_call_get_all_results(
        ic.list_domains, compartment_id=sb.tenancy_id, limit=1
    ).data
    assert [d.display_name for d in domains] == ["Default", "Secondary"]

    os_client = oci.object_storage.ObjectStorageClient(
        config, service_endpoint=sb.url, retry_strategy=NO_RETRY
    )
    eng = next(c.id for c in everything if c.name == "engineering")
    one = os_client.list_buckets("sandboxns", eng, limit=1)
    assert len(one.data) == 1 and one.next_page
    all_buckets = oci.pagination.list_call_get_all_results(
        os_client.list_buckets, "sandboxns", eng, limit=1
    ).data
    assert sorted(b.name for b in all_buckets) == ["eng-artifacts", "eng-logs"]


def test_bad_limit_or_page_is_400(sb: Sandbox, ic: Any) -> None:
    for kwargs in ({"limit": 0}, {"page": "not-a-token"}):
        with pytest.raises(oci.exceptions.ServiceError) as info:
            ic.list_compartments(sb.tenancy_id, **kwargs)
        assert info.value.status == 400
        assert info.value.code == "InvalidParameter"


# ---- SCIM filters -------------------------------------------------------------------------------


def test_filter_string_literals_are_json_strings(dc: Any) -> None:
    app = new_app(dc, displayName=f'q"uo\\te-{uuid.uuid4().hex[:6]}')
    escaped = app.display_name.replace("\\", "\\\\").replace('"', '\\"')
    assert dc.list_apps(filter=f'displayName eq "{escaped}"').data.total_results == 1
    unicode_escaped = escaped.replace('\\"', "\\u0022")
    assert dc.list_apps(filter=f'displayname EQ "{unicode_escaped}"').data.total_results == 1
    scim_fails(400, lambda: dc.list_apps(filter='displayName eq "bad \\x escape"'), "filter")


def defined_scopes(dc: Any, *values: str) -> list[str]:
    """Fully qualified scopes a new resource app defines (a client's allowedScopes must name
    existing ones)."""
    audience = f"https://res.example.com/{uuid.uuid4().hex[:6]}/"
    new_app(
        dc,
        isOAuthResource=True,
        audience=audience,
        scopes=[{"value": v} for v in values],
    )
    return [audience + v for v in values]


def test_filter_value_path_on_complex_attributes(dc: Any) -> None:
    (scope,) = defined_scopes(dc, "read")
    app = new_app(dc, allowedScopes=[{"fqs": scope}], active=True)
    fqs = app.allowed_scopes[0].fqs
    found = dc.list_apps(filter=f'allowedScopes[fqs eq "{fqs}"]').data
    assert [a.id for a in found.resources] == [app.id]
    both = dc.list_apps(
        filter=f'allowedScopes[fqs sw "{fqs[:-3]}" and fqs ew "{fqs[-3:]}"] and active eq true'
    ).data
    assert [a.id for a in both.resources] == [app.id]
    assert dc.list_apps(filter=f'allowedScopes[fqs eq "{fqs}x"]').data.total_results == 0
    scim_fails(400, lambda: dc.list_apps(filter='allowedScopes[fqs eq "x"'), "filter")


def test_filter_precedence_and_booleans(dc: Any) -> None:
    tag = uuid.uuid4().hex[:6]
    on = new_app(dc, displayName=f"prec-{tag}-on", active=True)
    new_app(dc, displayName=f"prec-{tag}-off", active=False)
    # and binds tighter than or: (nothing) or (prec-tag and active)
    flt = f'displayName eq "no-such-app" or displayName sw "prec-{tag}" and active eq true'
    assert [a.id for a in dc.list_apps(filter=flt).data.resources] == [on.id]
    flt = f'(displayName eq "no-such-app" or displayName sw "PREC-{tag}") and ACTIVE eq false'
    assert [a.display_name for a in dc.list_apps(filter=flt).data.resources] == [f"prec-{tag}-off"]


# ---- SCIM PatchOp and attribute rules -----------------------------------------------------------


def test_patch_multi_valued_add_remove_replace(dc: Any) -> None:
    app = new_app(dc, allowedGrants=["authorization_code"])
    grants = patch(
        dc,
        app.id,
        {"op": "add", "path": "allowedGrants", "value": ["authorization_code", "refresh_token"]},
    ).data.allowed_grants
    assert grants == ["authorization_code", "refresh_token"]  # appended, de-duplicated
    grants = patch(
        dc, app.id, {"op": "remove", "path": "allowedGrants", "value": ["refresh_token"]}
    ).data.allowed_grants
    assert grants == ["authorization_code"]  # only the given value went
    grants = patch(
        dc,
        app.id,
        {"op": "replace", "path": "allowedGrants", "value": ["client_credentials"]},
    ).data.allowed_grants
    assert grants == ["client_credentials"]
    assert patch(dc, app.id, {"op": "remove", "path": "allowedGrants"}).data.allowed_grants is None
    a, b = defined_scopes(dc, "a", "b")
    scopes = patch(
        dc,
        app.id,
        {"op": "add", "path": "allowedScopes", "value": [{"fqs": a}, {"fqs": b}]},
        {"op": "remove", "path": "allowedScopes", "value": [{"fqs": a}]},
    ).data.allowed_scopes
    assert [s.fqs for s in scopes] == [b]


def test_attribute_types_are_enforced_on_post_put_and_patch(dc: Any) -> None:
    scim_fails(400, lambda: new_app(dc, allowedGrants="authorization_code"), "allowedGrants")
    scim_fails(400, lambda: new_app(dc, accessTokenExpiry="3600"), "accessTokenExpiry")
    scim_fails(400, lambda: new_app(dc, allowedScopes=["plain-string"]), "allowedScopes")
    app = new_app(dc)
    scim_fails(
        400,
        lambda: patch(dc, app.id, {"op": "replace", "path": "allowedGrants", "value": "x"}),
        "allowedGrants",
    )
    scim_fails(
        400,
        lambda: patch(dc, app.id, {"op": "replace", "path": "displayName", "value": 5}),
        "displayName",
    )
    body = {
        "schemas": [APP],
        "displayName": app.display_name,
        "basedOnTemplate": {"value": "CustomWebAppTemplateId"},
        "redirectUris": "https://a.example.com/cb",
    }
    scim_fails(400, lambda: dc.put_app(app.id, app=body), "redirectUris")
    assert dc.get_app(app.id).data.redirect_uris is None  # nothing was stored


def test_patch_of_a_read_only_attribute_is_400(dc: Any) -> None:
    app = new_app(dc)
    for path in ("id", "clientSecret", "meta.version"):
        scim_fails(
            400,
            lambda p=path: patch(dc, app.id, {"op": "replace", "path": p, "value": "x"}),
            "read-only",
        )
    assert dc.get_app(app.id).data.client_secret == app.client_secret


def test_required_attributes_are_enforced_on_put(dc: Any) -> None:
    app = new_app(dc)
    scim_fails(
        400,
        lambda: dc.put_app(app.id, app={"schemas": [APP], "displayName": app.display_name}),
        "basedOnTemplate.value",
    )
    trust = dc.create_identity_propagation_trust(
        identity_propagation_trust={
            "schemas": [TRUST],
            "name": "fid",
            "type": "JWT",
            "issuer": f"https://issuer.example.com/{uuid.uuid4().hex}",
        }
    ).data
    scim_fails(
        400,
        lambda: dc.put_identity_propagation_trust(
            trust.id,
            identity_propagation_trust={"schemas": [TRUST], "name": "fid", "type": "JWT"},
        ),
        "issuer",
    )


def test_etag_location_and_meta_version_stay_consistent(dc: Any, sb: Sandbox) -> None:
    created = dc.create_app(
        app={
            "schemas": [APP],
            "displayName": f"fid-{uuid.uuid4().hex[:8]}",
            "basedOnTemplate": {"value": "CustomWebAppTemplateId"},
        }
    )
    app = created.data
    assert created.headers["Location"] == f"{sb.domains[0]['url']}/admin/v1/Apps/{app.id}"
    assert created.headers["Location"] == app.meta.location
    assert created.headers["ETag"] == app.meta.version
    versions = {app.meta.version}
    patched = patch(dc, app.id, {"op": "replace", "path": "description", "value": "d"})
    assert patched.headers["ETag"] == patched.data.meta.version
    versions.add(patched.data.meta.version)
    dc.put_app_status_changer(app.id, app_status_changer={"schemas": [STATUS], "active": True})
    got = dc.get_app(app.id)
    assert got.headers["ETag"] == got.data.meta.version
    versions.add(got.data.meta.version)
    assert len(versions) == 3  # every change bumps the version
    with pytest.raises(oci.exceptions.ServiceError) as info:
        dc.patch_app(
            app.id,
            patch_op={
                "schemas": [PATCH],
                "Operations": [{"op": "add", "path": "description", "value": "f"}],
            },
            if_match=patched.data.meta.version,  # stale since the status change
        )
    assert info.value.status == 412


# ---- state dir privacy --------------------------------------------------------------------------


def test_an_existing_loose_state_dir_is_made_private(tmp_path: Path) -> None:
    state_dir = tmp_path / "loose"
    state_dir.mkdir(mode=0o755)
    state_dir.chmod(0o755)
    with Sandbox(state_dir=state_dir):
        assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700


def test_a_shared_non_sandbox_dir_is_refused_as_state_dir(tmp_path: Path) -> None:
    from oci_mcp_cli.core.errors import UserError

    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "notes.txt").write_text("not ours")
    shared.chmod(0o755)
    with pytest.raises(UserError, match="state dir"):
        Sandbox(state_dir=shared)
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755  # left alone


def test_oci_lists_honour_sort_and_filters(sb: Sandbox, ic: Any) -> None:
    names = [
        d.display_name
        for d in ic.list_domains(sb.tenancy_id, sort_by="NAME", sort_order="DESC").data
    ]
    assert names == ["Secondary", "Default"]
    assert [
        d.display_name for d in ic.list_domains(sb.tenancy_id, license_type="premium").data
    ] == ["Secondary"]
    assert ic.list_domains(sb.tenancy_id, is_hidden_on_login=True).data == []
    home = ic.list_domains(sb.tenancy_id).data[0].home_region_url
    assert len(ic.list_domains(sb.tenancy_id, home_region_url=home).data) == 1
    comps = ic.list_compartments(sb.tenancy_id, compartment_id_in_subtree=True, sort_by="NAME")
    assert [c.name for c in comps.data] == sorted(c.name for c in comps.data)
    assert len(comps.data) == 4
    with pytest.raises(oci.exceptions.ServiceError) as info:
        ic.base_client.call_api(
            resource_path="/compartments",
            method="GET",
            query_params={"compartmentId": sb.tenancy_id, "sortBy": "SIZE"},
            header_params={"accept": "application/json"},
            response_type="list[Compartment]",
        )
    assert info.value.status == 400


def test_date_in_the_future_beyond_skew_is_refused(sb: Sandbox, config: dict) -> None:
    import email.utils

    class FutureDate(oci.signer.Signer):
        def __call__(self, request: Any, enforce_content_headers: bool = True) -> Any:
            request.headers["date"] = email.utils.formatdate(time.time() + 600, usegmt=True)
            return super().__call__(request, enforce_content_headers)

    future = FutureDate(
        config["tenancy"], config["user"], config["fingerprint"], config["key_file"]
    )
    client = oci.identity.IdentityClient(
        config, service_endpoint=sb.url, signer=future, retry_strategy=NO_RETRY
    )
    with pytest.raises(oci.exceptions.ServiceError) as info:
        client.list_regions()
    assert info.value.status == 401
    assert "date" in info.value.message


def test_patch_value_filters_replace_and_remove_sub_attributes(dc: Any) -> None:
    a, b, z, y = defined_scopes(dc, "a", "b", "z", "y")
    app = new_app(dc, allowedScopes=[{"fqs": a}, {"fqs": b}])
    scopes = patch(
        dc, app.id, {"op": "replace", "path": f'allowedScopes[fqs eq "{a}"]', "value": {"fqs": z}}
    ).data.allowed_scopes
    assert [s.fqs for s in scopes] == [z, b]
    scim_fails(
        400,
        lambda: patch(
            dc,
            app.id,
            {"op": "replace", "path": 'allowedScopes[fqs eq "q"]', "value": {"fqs": y}},
        ),
        "allowedScopes",
    )
    # A client may only be allowed scopes some resource app of the domain defines.
    scim_fails(400, lambda: new_app(dc, allowedScopes=[{"fqs": "https://nowhere/x"}]), "defines")
    app = new_app(
        dc,
        isOAuthResource=True,
        audience=f"https://res.example.com/{uuid.uuid4().hex[:6]}/",
        scopes=[
            {"value": "read", "description": "r"},
            {"value": "write", "description": "w"},
        ],
    )
    scopes = patch(
        dc, app.id, {"op": "remove", "path": 'scopes[value eq "read"].description'}
    ).data.scopes
    assert [(s.value, s.description) for s in scopes] == [("read", None), ("write", "w")]

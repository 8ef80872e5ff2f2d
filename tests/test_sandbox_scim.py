"""SCIM admin API of a sandbox domain through the real IdentityDomainsClient."""

from __future__ import annotations

import re
import uuid
from typing import Any

import oci
import pytest
from oci._vendor import requests  # the SDK signer is an AuthBase of its vendored requests
from oci.identity_domains import IdentityDomainsClient
from oci.identity_domains import models as m

from oci_mcp_cli.sandbox import Sandbox

APP = "urn:ietf:params:scim:schemas:oracle:idcs:App"
TRUST = "urn:ietf:params:scim:schemas:oracle:idcs:IdentityPropagationTrust"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
STATUS = "urn:ietf:params:scim:schemas:oracle:idcs:AppStatusChanger"
SETTINGS = "urn:ietf:params:scim:schemas:oracle:idcs:Settings"
EXT = "urn:ietf:params:scim:api:oracle:idcs:extension:messages:Error"


@pytest.fixture(scope="module")
def dc(sb: Sandbox, config: dict) -> Any:
    return IdentityDomainsClient(
        config, sb.domains[0]["url"], retry_strategy=oci.retry.NoneRetryStrategy()
    )


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def app_body(display_name: str, **extra: Any) -> dict[str, Any]:
    return {
        "schemas": [APP],
        "displayName": display_name,
        "isOAuthClient": True,
        "clientType": "confidential",
        "basedOnTemplate": {"value": "CustomWebAppTemplateId"},
        "redirectUris": ["https://mcp.example.com/auth/callback"],
        **extra,
    }


def fails(status: int, call: Any, *detail_words: str) -> dict[str, Any]:
    """Run ``call``; it must fail with a SCIM error of ``status`` (SDK: code/message None)."""
    with pytest.raises(oci.exceptions.ServiceError) as info:
        call()
    err = info.value
    assert err.status == status, err.args[0]
    body = err.args[0]  # the SDK merges the SCIM body here (its own int "status" wins)
    assert err.code is None
    for word in detail_words:
        assert word in body["detail"], body["detail"]
    ext = next(v for k, v in body.items() if k.startswith(EXT[:40]) and isinstance(v, dict))
    assert ext.get("message_id") or ext.get("messageId")  # the SDK snake-cases merged keys
    return {**body, "message_id": ext.get("message_id") or ext.get("messageId")}


def patch_op(*ops: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH], "Operations": list(ops)}


# ---- Apps ---------------------------------------------------------------------------------------


def test_create_app_generates_ids_secret_and_meta(dc: Any, sb: Sandbox) -> None:
    name = unique("created")
    response = dc.create_app(
        app=m.App(
            schemas=[APP],
            display_name=name,
            is_o_auth_client=True,
            client_type="confidential",
            based_on_template=m.AppBasedOnTemplate(value="CustomWebAppTemplateId"),
            redirect_uris=["https://mcp.example.com/auth/callback"],
            allowed_grants=["authorization_code", "client_credentials"],
        )
    )
    app = response.data
    assert response.status == 201
    assert response.headers["Location"] == f"{sb.domains[0]['url']}/admin/v1/Apps/{app.id}"
    assert re.fullmatch(r"[0-9a-f]{32}", app.id)
    assert re.fullmatch(r"[0-9a-f]{32}", app.name)
    assert re.fullmatch(r"idcscs-[0-9a-f-]{36}", app.client_secret)
    assert app.ocid.startswith("ocid1.domainapp.")
    assert app.meta.resource_type == "App" and app.meta.created and app.meta.version
    assert app.active is False  # assumption: inactive unless the body says active
    again = dc.get_app(app.id).data
    assert (again.name, again.client_secret) == (app.name, app.client_secret)


def test_public_client_gets_no_secret(dc: Any) -> None:
    body = app_body(
        unique("public"),
        clientType="public",
        basedOnTemplate={"value": "CustomBrowserMobileTemplateId"},
    )
    assert dc.create_app(app=body).data.client_secret is None


@pytest.mark.parametrize("missing", ["schemas", "displayName", "basedOnTemplate"])
def test_create_app_missing_required_attribute_is_400(dc: Any, missing: str) -> None:
    body = app_body(unique("missing"))
    del body[missing]
    expected = "basedOnTemplate.value" if missing == "basedOnTemplate" else missing
    body_err = fails(400, lambda: dc.create_app(app=body), "Missing required attribute", expected)
    assert body_err["message_id"] == "error.common.validation.missingReqAttributes"


def test_invalid_enum_and_unknown_attribute_are_400(dc: Any) -> None:
    fails(400, lambda: dc.create_app(app=app_body(unique("e"), clientType="secret")), "clientType")
    fails(
        400,
        lambda: dc.create_app(app=app_body(unique("e"), redirectUri="https://x")),
        "Unknown attribute",
    )
    fails(400, lambda: dc.create_app(app=app_body(unique("e"), name="bad-name!")), "name")


def test_duplicate_display_name_is_409_case_insensitive(dc: Any) -> None:
    name = unique("Dup")
    dc.create_app(app=app_body(name))
    fails(409, lambda: dc.create_app(app=app_body(name.upper())), "displayName")


def test_http_redirect_needs_all_url_schemes_allowed(dc: Any) -> None:
    http = ["http://localhost:8000/auth/callback"]
    fails(
        400,
        lambda: dc.create_app(app=app_body(unique("http"), redirectUris=http)),
        "allUrlSchemesAllowed",
    )
    ok = dc.create_app(app=app_body(unique("http"), redirectUris=http, allUrlSchemesAllowed=True))
    assert ok.data.redirect_uris == http
    fails(
        400,
        lambda: dc.patch_app(
            ok.data.id,
            patch_op=patch_op({"op": "replace", "path": "allUrlSchemesAllowed", "value": False}),
        ),
        "https",
    )


def test_delete_active_app_is_refused_until_deactivated(dc: Any) -> None:
    app = dc.create_app(app=app_body(unique("active"), active=True)).data
    assert app.active is True
    fails(409, lambda: dc.delete_app(app.id), "active")
    fails(409, lambda: dc.delete_app(app.id, force_delete=True), "active")
    changed = dc.put_app_status_changer(
        app.id, app_status_changer=m.AppStatusChanger(schemas=[STATUS], active=False)
    )
    assert changed.data.active is False and changed.data.id == app.id
    assert dc.delete_app(app.id).status == 204
    fails(404, lambda: dc.get_app(app.id))


def test_app_status_changer_rules(dc: Any) -> None:
    app = dc.create_app(app=app_body(unique("status"))).data
    fails(
        400,
        lambda: dc.put_app_status_changer(app.id, app_status_changer={"schemas": [STATUS]}),
        "active",
    )
    fails(
        400,
        lambda: dc.put_app_status_changer(app.id, app_status_changer={"active": True}),
        "schemas",
    )
    fails(
        404,
        lambda: dc.put_app_status_changer(
            "0" * 32, app_status_changer={"schemas": [STATUS], "active": True}
        ),
    )
    dc.put_app_status_changer(app.id, app_status_changer={"schemas": [STATUS], "active": True})
    assert dc.get_app(app.id).data.active is True


def test_unknown_app_id_is_404_everywhere(dc: Any) -> None:
    missing = "f" * 32
    fails(404, lambda: dc.get_app(missing))
    fails(404, lambda: dc.put_app(missing, app=app_body(unique("x"))))
    fails(
        404,
        lambda: dc.patch_app(
            missing, patch_op=patch_op({"op": "replace", "path": "description", "value": "x"})
        ),
    )
    fails(404, lambda: dc.delete_app(missing))


def test_filter_semantics(dc: Any) -> None:
    tag = uuid.uuid4().hex[:6]
    for suffix in ("alpha", "beta", "alphabet"):
        dc.create_app(app=app_body(f"flt-{tag}-{suffix}", description=f"d-{suffix}"))

    def names(flt: str) -> set[str]:
        return {a.display_name for a in dc.list_apps(filter=flt).data.resources}

    assert names(f'displayName eq "FLT-{tag}-ALPHA"') == {f"flt-{tag}-alpha"}
    assert names(f'DISPLAYNAME sw "flt-{tag}-alpha"') == {f"flt-{tag}-alpha", f"flt-{tag}-alphabet"}
    assert names(f'displayname co "{tag}-bet"') == {f"flt-{tag}-beta"}
    assert names(f'displayName sw "flt-{tag}" and description eq "d-beta"') == {f"flt-{tag}-beta"}
    assert names(f'displayName eq "flt-{tag}-beta" or displayName eq "flt-{tag}-alpha"') == {
        f"flt-{tag}-alpha",
        f"flt-{tag}-beta",
    }
    assert names(f'displayName sw "flt-{tag}" and not (description ew "bet")') == {
        f"flt-{tag}-alpha",
        f"flt-{tag}-beta",
    }
    assert names(
        f'basedOnTemplate.value eq "CustomWebAppTemplateId" and displayName sw "flt-{tag}"'
    ) == {f"flt-{tag}-alpha", f"flt-{tag}-beta", f"flt-{tag}-alphabet"}
    assert names('displayName eq "nothing-like-this"') == set()
    fails(400, lambda: dc.list_apps(filter="displayName eq"), "filter")
    fails(400, lambda: dc.list_apps(filter='displayName like "x"'), "operator")


def test_list_response_and_paging(dc: Any) -> None:
    tag = unique("page")
    for i in range(3):
        dc.create_app(app=app_body(f"{tag}-{i}"))
    flt = f'displayName sw "{tag}"'
    page = dc.list_apps(filter=flt, start_index=2, count=1, sort_by="displayName").data
    assert (page.total_results, page.start_index, page.items_per_page) == (3, 2, 1)
    assert [a.display_name for a in page.resources] == [f"{tag}-1"]
    assert page.schemas == ["urn:ietf:params:scim:api:messages:2.0:ListResponse"]
    found = dc.search_apps(
        app_search_request=m.AppSearchRequest(
            schemas=["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], filter=flt
        )
    ).data
    assert found.total_results == 3


def test_patch_is_case_insensitive_and_validated(dc: Any) -> None:
    app = dc.create_app(app=app_body(unique("patch"))).data
    new_uris = ["https://new.example.com/auth/callback"]
    dc.patch_app(
        app.id, patch_op=patch_op({"op": "replace", "path": "REDIRECTURIS", "value": new_uris})
    )
    assert dc.get_app(app.id).data.redirect_uris == new_uris
    dc.patch_app(
        app.id,
        patch_op=m.PatchOp(
            schemas=[PATCH],
            operations=[m.Operations(op="ADD", path="allowedGrants", value=["client_credentials"])],
        ),
    )
    dc.patch_app(
        app.id,
        patch_op=patch_op({"Op": "Add", "Path": "AllowedGrants", "value": ["authorization_code"]}),
    )
    assert dc.get_app(app.id).data.allowed_grants == ["client_credentials", "authorization_code"]
    dc.patch_app(app.id, patch_op=patch_op({"op": "remove", "path": "allowedGrants"}))
    assert dc.get_app(app.id).data.allowed_grants is None
    fails(
        400,
        lambda: dc.patch_app(
            app.id, patch_op=patch_op({"op": "replace", "path": "name", "value": "othername"})
        ),
        "immutable",
    )
    fails(
        400,
        lambda: dc.patch_app(
            app.id, patch_op=patch_op({"op": "move", "path": "description", "value": "x"})
        ),
        "op",
    )
    fails(400, lambda: dc.patch_app(app.id, patch_op={"Operations": []}), "schemas")


def test_put_replaces_and_keeps_immutables(dc: Any) -> None:
    app = dc.create_app(app=app_body(unique("put"))).data
    body = app_body(app.display_name, description="replaced")
    put = dc.put_app(app.id, app=body).data
    assert (put.description, put.name, put.client_secret) == (
        "replaced",
        app.name,
        app.client_secret,
    )
    fails(400, lambda: dc.put_app(app.id, app={**body, "name": "changed"}), "immutable")
    fails(
        400,
        lambda: dc.put_app(
            app.id, app={**body, "basedOnTemplate": {"value": "CustomBrowserMobileTemplateId"}}
        ),
        "immutable",
    )
    fails(
        400,
        lambda: dc.put_app(app.id, app={k: v for k, v in body.items() if k != "schemas"}),
        "schemas",
    )


def test_if_match_mismatch_is_412(dc: Any) -> None:
    app = dc.create_app(app=app_body(unique("etag"))).data
    fails(
        412,
        lambda: dc.patch_app(
            app.id,
            if_match="stale",
            patch_op=patch_op({"op": "replace", "path": "description", "value": "x"}),
        ),
    )
    dc.patch_app(
        app.id,
        if_match=app.meta.version,
        patch_op=patch_op({"op": "replace", "path": "description", "value": "x"}),
    )


def test_attribute_sets_repeated_or_comma_separated(dc: Any, sb: Sandbox, config: dict) -> None:
    app = dc.create_app(app=app_body(unique("sets"), description="full")).data
    repeated = dc.get_app(app.id, attribute_sets=["all", "default"]).data
    assert repeated.description == "full"
    signer = oci.signer.Signer(
        config["tenancy"], config["user"], config["fingerprint"], config["key_file"]
    )
    url = f"{sb.domains[0]['url']}/admin/v1/Apps/{app.id}"
    comma = requests.get(url, params={"attributeSets": "always,default"}, auth=signer, timeout=10)
    assert comma.status_code == 200 and comma.json()["description"] == "full"
    bad = requests.get(url, params={"attributeSets": "all,everything"}, auth=signer, timeout=10)
    assert bad.status_code == 400 and "everything" in bad.json()["detail"]
    assert bad.json()["status"] == "400"  # SCIM: a string on the wire
    only = dc.get_app(app.id, attributes="description").data
    assert only.description == "full" and only.id == app.id and only.redirect_uris is None
    always = dc.get_app(app.id, attribute_sets=["always"]).data
    assert always.display_name == app.display_name and always.description is None


# ---- Settings -----------------------------------------------------------------------------------


def test_settings_defaults_put_and_patch(dc: Any) -> None:
    settings = dc.get_setting("Settings", attributes="signingCertPublicAccess").data
    assert settings.signing_cert_public_access is False
    assert dc.list_settings().data.total_results == 1
    fails(
        400,
        lambda: dc.put_setting(
            "Settings", setting={"schemas": [SETTINGS], "signingCertPublicAccess": True}
        ),
        "csrAccess",
    )
    fails(
        400,
        lambda: dc.put_setting(
            "Settings", setting={"schemas": [SETTINGS], "csrAccess": "sometimes"}
        ),
        "csrAccess",
    )
    put = dc.put_setting(
        "Settings",
        setting={"schemas": [SETTINGS], "csrAccess": "none", "signingCertPublicAccess": True},
    ).data
    assert put.signing_cert_public_access is True
    dc.patch_setting(
        "Settings",
        patch_op=patch_op({"op": "replace", "path": "SigningCertPublicAccess", "value": False}),
    )
    assert dc.get_setting("Settings").data.signing_cert_public_access is False
    fails(404, lambda: dc.get_setting("Other"))


# ---- Identity propagation trusts ----------------------------------------------------------------


def trust_body(issuer: str, **extra: Any) -> dict[str, Any]:
    return {
        "schemas": [TRUST],
        "name": "For Token Exchange",
        "type": "JWT",
        "issuer": issuer,
        "subjectClaimName": "sub",
        "subjectMappingAttribute": "userName",
        "subjectType": "User",
        "clientClaimName": "client_id",
        "clientClaimValues": ["c1"],
        "oauthClients": ["c1"],
        **extra,
    }


def test_trust_lifecycle(dc: Any, sb: Sandbox) -> None:
    issuer = f"https://{unique('issuer')}.example.com/"
    created = dc.create_identity_propagation_trust(identity_propagation_trust=trust_body(issuer))
    trust = created.data
    assert created.status == 201 and created.headers["Location"].endswith(trust.id)
    assert trust.active is False  # the documented default
    found = dc.list_identity_propagation_trusts(filter=f'ISSUER eq "{issuer}"').data
    assert [t.id for t in found.resources] == [trust.id]
    patched = dc.patch_identity_propagation_trust(
        trust.id, patch_op=patch_op({"op": "replace", "path": "active", "value": True})
    )
    assert patched.data.active is True
    put = dc.put_identity_propagation_trust(
        trust.id,
        identity_propagation_trust=trust_body(
            issuer, active=True, publicKeyEndpoint="https://x/jwk"
        ),
    ).data
    assert put.public_key_endpoint == "https://x/jwk"
    assert dc.delete_identity_propagation_trust(trust.id).status == 204
    fails(404, lambda: dc.get_identity_propagation_trust(trust.id))


def test_trust_rules(dc: Any) -> None:
    issuer = f"https://{unique('issuer')}.example.com/"
    trust = dc.create_identity_propagation_trust(identity_propagation_trust=trust_body(issuer)).data
    fails(
        409,
        lambda: dc.create_identity_propagation_trust(
            identity_propagation_trust=trust_body(issuer, name="another")
        ),
        "issuer",
    )
    for missing in ("schemas", "name", "type", "issuer"):
        body = trust_body(f"https://{unique('i')}/")
        del body[missing]
        fails(
            400,
            lambda b=body: dc.create_identity_propagation_trust(identity_propagation_trust=b),
            missing,
        )
    fails(
        400,
        lambda: dc.create_identity_propagation_trust(
            identity_propagation_trust=trust_body(f"https://{unique('i')}/", type="jwt")
        ),
        "type",
    )
    fails(
        400,
        lambda: dc.create_identity_propagation_trust(
            identity_propagation_trust=trust_body(f"https://{unique('i')}/", subjectType="Person")
        ),
        "subjectType",
    )
    fails(
        400,
        lambda: dc.patch_identity_propagation_trust(
            trust.id, patch_op=patch_op({"op": "replace", "path": "name", "value": "renamed"})
        ),
        "immutable",
    )
    fails(
        400,
        lambda: dc.put_identity_propagation_trust(
            trust.id, identity_propagation_trust=trust_body(issuer, name="renamed")
        ),
        "immutable",
    )
    fails(404, lambda: dc.delete_identity_propagation_trust("0" * 32))


# ---- Users --------------------------------------------------------------------------------------


def test_users_list_and_get(dc: Any, sb: Sandbox, config: dict) -> None:
    users = dc.list_users().data.resources
    assert {u.user_name for u in users} == {"alice", "bob", "sandbox-admin"}  # admin is one too
    (alice,) = dc.list_users(filter='username eq "ALICE"').data.resources
    got = dc.get_user(alice.id).data
    assert got.user_name == "alice" and got.emails[0].value == "alice@example.com"
    assert dc.get_user(alice.id).data.password is None  # never returned
    fails(404, lambda: dc.get_user("0" * 32))
    secondary = IdentityDomainsClient(config, sb.domains[1]["url"])
    assert [u.user_name for u in secondary.list_users().data.resources] == ["carol"]

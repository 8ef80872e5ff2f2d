"""Unit tests of the sandbox's SCIM PatchOp (RFC 7644 §3.5.2; fully qualified paths §3.10)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from oci_mcp_cli.sandbox.scim.patch import PATCH_SCHEMA, apply_patch
from oci_mcp_cli.sandbox.scim.resources import APP, USERS, canonical_for
from oci_mcp_cli.sandbox.wire import ScimError

APP_SCHEMA = "urn:ietf:params:scim:schemas:oracle:idcs:App"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
OCI_TAGS = "urn:ietf:params:scim:schemas:oracle:idcs:extension:OCITags"

APP_RESOURCE: dict[str, Any] = {
    "schemas": [APP_SCHEMA],
    "id": "a1",
    "displayName": "web",
    "description": "a web app",
    "redirectUris": ["https://a.example/cb"],
    "allowedGrants": ["authorization_code"],
    "basedOnTemplate": {"value": "CustomWebAppTemplateId"},
}
USER_RESOURCE: dict[str, Any] = {
    "schemas": [USER_SCHEMA],
    "id": "u1",
    "userName": "alice",
    "name": {"givenName": "Alice", "familyName": "Liddell"},
    "emails": [
        {"value": "alice@example.com", "type": "work", "primary": True},
        {"value": "alice@home.example", "type": "home", "primary": False},
    ],
}


def patch_app(*operations: dict[str, Any]) -> dict[str, Any]:
    body = {"schemas": [PATCH_SCHEMA], "Operations": list(operations)}
    return apply_patch(APP_RESOURCE, body, canonical_for(APP), APP.read_only)


def patch_user(*operations: dict[str, Any]) -> dict[str, Any]:
    body = {"schemas": [PATCH_SCHEMA], "Operations": list(operations)}
    return apply_patch(USER_RESOURCE, body, canonical_for(USERS), USERS.read_only)


def error_of(*operations: dict[str, Any]) -> ScimError:
    with pytest.raises(ScimError) as caught:
        patch_app(*operations)
    return caught.value


def test_the_resource_is_not_changed_in_place() -> None:
    before = copy.deepcopy(APP_RESOURCE)
    patch_app({"op": "replace", "path": "displayName", "value": "x"})
    assert before == APP_RESOURCE


def test_replace_add_remove_with_paths() -> None:
    assert patch_app({"op": "replace", "path": "displayName", "value": "x"})["displayName"] == "x"
    added = patch_app({"op": "add", "path": "redirectUris", "value": ["https://b.example/cb"]})
    assert added["redirectUris"] == ["https://a.example/cb", "https://b.example/cb"]
    assert "description" not in patch_app({"op": "remove", "path": "description"})
    values = patch_app({"op": "remove", "path": "allowedGrants", "value": "authorization_code"})
    assert "allowedGrants" not in values  # an emptied multi-valued attribute is unassigned


def test_op_and_attribute_names_are_case_insensitive() -> None:
    patched = patch_app({"OP": "Replace", "PATH": "DISPLAYNAME", "Value": "x"})
    assert patched["displayName"] == "x"
    assert "DISPLAYNAME" not in patched
    sub = patch_app({"op": "replace", "path": "BasedOnTemplate.VALUE", "value": "t"})
    assert sub["basedOnTemplate"] == {"value": "t"}


def test_operations_without_a_path() -> None:
    patched = patch_app({"op": "replace", "value": {"DisplayName": "x", "description": "y"}})
    assert (patched["displayName"], patched["description"]) == ("x", "y")
    added = patch_app({"op": "add", "value": {"allowedGrants": ["refresh_token"]}})
    assert added["allowedGrants"] == ["authorization_code", "refresh_token"]


def test_value_filter_paths() -> None:
    replaced = patch_user(
        {"op": "replace", "path": 'emails[type eq "home"].value', "value": "a@new.example"}
    )
    assert replaced["emails"][1] == {
        "value": "a@new.example",
        "type": "home",
        "primary": False,
    }
    removed = patch_user({"op": "remove", "path": 'emails[type eq "home"]'})
    assert [e["type"] for e in removed["emails"]] == ["work"]
    with pytest.raises(ScimError) as caught:
        patch_user({"op": "replace", "path": 'emails[type eq "other"].value', "value": "x"})
    assert caught.value.message_id == "error.common.validation.noTarget"


def test_fully_qualified_paths_of_the_resource_schema() -> None:
    patched = patch_app({"op": "replace", "path": f"{APP_SCHEMA}:displayName", "value": "x"})
    assert patched["displayName"] == "x"
    assert not any(k.startswith("urn:") for k in patched)
    upper = patch_app({"op": "replace", "path": f"{APP_SCHEMA.upper()}:DISPLAYNAME", "value": "y"})
    assert upper["displayName"] == "y"
    assert "description" not in patch_app({"op": "remove", "path": f"{APP_SCHEMA}:description"})
    user = patch_user(
        {"op": "replace", "path": f"{USER_SCHEMA}:name.givenName", "value": "Al"},
        {"op": "remove", "path": f'{USER_SCHEMA}:emails[type eq "home"]'},
    )
    assert user["name"]["givenName"] == "Al"
    assert len(user["emails"]) == 1
    keyed = patch_app({"op": "replace", "value": {f"{APP_SCHEMA}:displayName": "z"}})
    assert keyed["displayName"] == "z"


def test_fully_qualified_paths_of_an_extension_schema() -> None:
    user = patch_user({"op": "add", "path": f"{ENTERPRISE}:employeeNumber", "value": "42"})
    assert user[ENTERPRISE] == {"employeeNumber": "42"}
    user2 = apply_patch(
        user,
        {
            "schemas": [PATCH_SCHEMA],
            "Operations": [
                {"op": "replace", "path": f"{ENTERPRISE}:EMPLOYEENUMBER", "value": "7"},
                {"op": "add", "path": f"{ENTERPRISE}:manager.value", "value": "m1"},
            ],
        },
        canonical_for(USERS),
    )
    assert user2[ENTERPRISE] == {"employeeNumber": "7", "manager": {"value": "m1"}}
    value = {f"{ENTERPRISE}:employeeNumber": "1", f"{ENTERPRISE}:costCenter": "c"}
    both = patch_user({"op": "add", "value": value})
    assert both[ENTERPRISE] == {"employeeNumber": "1", "costCenter": "c"}
    tags = patch_app({"op": "add", "path": OCI_TAGS, "value": {"freeformTags": []}})
    assert tags[OCI_TAGS] == {"freeformTags": []}
    # removing from an extension the resource does not hold changes nothing
    assert patch_user({"op": "remove", "path": f"{ENTERPRISE}:employeeNumber"}) == USER_RESOURCE


@pytest.mark.parametrize(
    "path",
    [
        "a b",
        "emails[type eq",
        "urn:example:unknown:displayName",
        f"{USER_SCHEMA}:userName",  # not an App schema
    ],
)
def test_invalid_path_is_400_invalid_patch_op(path: str) -> None:
    error = error_of({"op": "replace", "path": path, "value": "x"})
    assert error.status == 400
    assert error.message_id == "error.common.validation.invalidPatchOp"
    assert error.detail.startswith(f"Invalid PatchOp path {path!r}")


def test_unknown_attribute_and_read_only_paths() -> None:
    error = error_of({"op": "replace", "path": "nope", "value": "x"})
    assert (error.status, error.message_id) == (400, "error.common.validation.invalidAttribute")
    for path in ("id", f"{APP_SCHEMA}:id", "meta.version"):
        error = error_of({"op": "replace", "path": path, "value": "x"})
        assert error.message_id == "error.common.validation.readOnlyAttribute"


def test_malformed_patch_bodies() -> None:
    assert error_of({"op": "move", "path": "displayName"}).message_id.endswith("invalidPatchOp")
    assert error_of({"op": "remove"}).message_id == "error.common.validation.noTarget"
    with pytest.raises(ScimError) as caught:
        apply_patch(APP_RESOURCE, {"Operations": []}, canonical_for(APP))
    assert caught.value.message_id == "error.common.validation.missingReqAttributes"

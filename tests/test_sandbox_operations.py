"""The generic operation machinery (sandbox/operations.py): metadata read from the SDK's client
methods, and what every served operation gets from it — required parameters, request-body
fields checked against the SDK's model, HEAD on a GET route, request-id headers.

Raw requests here are signed by the SDK's own signer (``oci.signer.Signer``) over the SDK's
vendored ``requests``, because the SDK's clients refuse to send the malformed calls these tests
make (a missing required parameter, an unknown body field); nothing is mocked.
"""

from __future__ import annotations

import json
from typing import Any

import oci
import pytest
from oci._vendor import requests

from oci_mcp_cli.sandbox import Sandbox
from oci_mcp_cli.sandbox.operations import base_path, spec


@pytest.fixture(scope="module")
def signer(config: dict) -> Any:
    return oci.signer.Signer(
        config["tenancy"], config["user"], config["fingerprint"], config["key_file"]
    )


def test_spec_is_read_from_the_sdk_client_method() -> None:
    got = spec("oci.object_storage.ObjectStorageClient", "get_bucket")
    assert (got.method, got.path, got.response_type) == (
        "GET",
        "/n/{namespaceName}/b/{bucketName}",
        "Bucket",
    )
    assert {"if-match", "if-none-match", "opc-client-request-id"} <= set(got.headers)
    assert got.query == ("fields",) and got.required == ("namespaceName", "bucketName")
    search = spec("oci.resource_search.ResourceSearchClient", "search_resources")
    assert (search.method, search.body_model) == ("POST", "SearchDetails")
    assert spec("oci.identity.IdentityClient", "list_users").is_list()
    assert base_path("oci.identity.IdentityClient") == "/20160918"
    assert base_path("oci.object_storage.ObjectStorageClient") == ""
    for wrong in ("get_bukket", "base_client", "__init__"):
        with pytest.raises(LookupError, match=wrong):
            spec("oci.object_storage.ObjectStorageClient", wrong)


def test_missing_required_query_parameter(sb: Sandbox, signer: Any) -> None:
    for path in ("/20160918/instances", "/20160918/vcns", "/20160918/availabilityDomains"):
        r = requests.get(sb.url + path, auth=signer, timeout=30)
        assert r.status_code == 400, path
        assert r.json() == {
            "code": "MissingParameter",
            "message": "Missing the required parameter compartmentId",
        }
        assert r.headers["opc-request-id"]


def test_request_body_fields_are_the_sdk_models(sb: Sandbox, signer: Any) -> None:
    body = {"name": "typo-bucket", "compartmentId": sb.tenancy_id, "storageTeir": "Archive"}
    r = requests.post(
        f"{sb.url}/n/sandboxns/b",
        data=json.dumps(body),
        auth=signer,
        timeout=30,
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400 and r.json()["code"] == "InvalidParameter"
    assert "storageTeir" in r.json()["message"]
    search = {"type": "Structured", "query": "query all resources", "matchingContextType": "NONE"}
    r = requests.post(
        f"{sb.url}/20180409/resources",
        data=json.dumps(search),
        auth=signer,
        timeout=30,
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 200 and r.json()["items"]


def test_head_of_a_get_route_and_request_ids(sb: Sandbox, signer: Any) -> None:
    r = requests.head(
        f"{sb.url}/n/sandboxns/b/shared-docs/o",
        auth=signer,
        timeout=30,
        headers={"opc-client-request-id": "mine-1", "opc-request-id": "client-2"},
    )
    assert r.status_code == 200 and r.content == b""
    assert r.headers["opc-client-request-id"] == "mine-1"
    assert r.headers["opc-request-id"].startswith("client-2/")

"""Object Storage operations the sandbox serves from the SDK's operation metadata (issue 23 §2).

Every call goes through the real ``ObjectStorageClient`` over real HTTP, signed as alice or bob
with a UPST (``user_client``) or as the admin with its API key; nothing is mocked. The seed's
policies let alice manage object-family in engineering (and engineering-dev) and read shared;
bob manages finance and reads shared. Error codes are the ones Object Storage documents
(docs/sandbox.md "Operations served from the SDK's metadata").
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any

import oci
import pytest
from oci._vendor import requests

from oci_mcp_cli.sandbox import Sandbox

NS = "sandboxns"
OS = oci.object_storage.ObjectStorageClient


def service_error(call: Callable[[], Any]) -> Any:
    with pytest.raises(oci.exceptions.ServiceError) as err:
        call()
    return err.value


@pytest.fixture(scope="module")
def ids(sb: Sandbox, config: dict) -> dict[str, str]:
    ic = oci.identity.IdentityClient(config, service_endpoint=sb.url)
    found = ic.list_compartments(sb.tenancy_id, compartment_id_in_subtree=True).data
    return {c.name: c.id for c in found}


@pytest.fixture(scope="module")
def alice(sb: Sandbox) -> Any:
    from tests.conftest import mint_upst

    return _client(sb, *mint_upst(sb, "alice"))


@pytest.fixture(scope="module")
def bob(sb: Sandbox) -> Any:
    from tests.conftest import mint_upst

    return _client(sb, *mint_upst(sb, "bob"))


def _client(sb: Sandbox, token: str, key: Any) -> Any:
    signer = oci.auth.signers.SecurityTokenSigner(token, key)
    return OS(
        {"region": "us-ashburn-1"},
        signer=signer,
        service_endpoint=sb.url,
        retry_strategy=oci.retry.NoneRetryStrategy(),
    )


# ---- GetBucket / HeadBucket ---------------------------------------------------------------------


def test_get_bucket_answers_for_every_bucket_list_buckets_returned(
    alice: Any, ids: dict[str, str]
) -> None:
    """The bug of issue 23: ``get_bucket`` on a listed bucket was 404 NotAuthorizedOrNotFound."""
    listed = alice.list_buckets(NS, ids["engineering"]).data
    assert {b.name for b in listed} == {"eng-artifacts", "eng-logs"}
    for summary in listed:
        got = alice.get_bucket(NS, summary.name)
        assert got.data.name == summary.name
        assert got.data.compartment_id == ids["engineering"]
        assert got.data.etag == summary.etag == got.headers["ETag"]
        assert got.data.public_access_type == "NoPublicAccess"
        assert got.data.storage_tier == "Standard"
        assert got.headers["opc-request-id"]


def test_get_bucket_body_has_every_sdk_attribute(sb: Sandbox, config: dict) -> None:
    """Every attribute of the SDK's ``Bucket`` is on the wire, ``null`` when unset."""
    signer = oci.signer.Signer(
        config["tenancy"], config["user"], config["fingerprint"], config["key_file"]
    )
    body = requests.get(f"{sb.url}/n/{NS}/b/shared-docs", auth=signer, timeout=30).json()
    wire = list(oci.object_storage.models.Bucket().attribute_map.values())
    assert list(body) == wire
    assert body["kmsKeyId"] is None and body["approximateCount"] is None
    assert body["id"].startswith("ocid1.bucket.")


def test_get_bucket_of_another_users_compartment_is_bucket_not_found(bob: Any) -> None:
    err = service_error(lambda: bob.get_bucket(NS, "eng-artifacts"))
    missing = service_error(lambda: bob.get_bucket(NS, "no-such-bucket"))
    assert (err.status, err.code) == (missing.status, missing.code) == (404, "BucketNotFound")
    assert "eng-artifacts" in err.message


def test_head_bucket_conditionals(alice: Any) -> None:
    etag = alice.head_bucket(NS, "eng-logs").headers["ETag"]
    assert alice.get_bucket(NS, "eng-logs", if_match=etag).status == 200
    failed = service_error(lambda: alice.head_bucket(NS, "eng-logs", if_match="other"))
    assert failed.status == 412  # a HEAD answer has no body, so no code
    failed = service_error(lambda: alice.get_bucket(NS, "eng-logs", if_match="other"))
    assert (failed.status, failed.code) == (412, "IfMatchFailed")
    unchanged = service_error(lambda: alice.get_bucket(NS, "eng-logs", if_none_match=etag))
    assert unchanged.status == 304
    assert alice.head_bucket(NS, "eng-logs", if_none_match="other").status == 200
    gone = service_error(lambda: alice.head_bucket(NS, "no-such-bucket"))
    assert gone.status == 404


def test_namespace_metadata(alice: Any, sb: Sandbox) -> None:
    meta = alice.get_namespace_metadata(NS).data
    assert meta.namespace == NS
    assert meta.default_s3_compartment_id == meta.default_swift_compartment_id == sb.tenancy_id
    assert service_error(lambda: alice.get_namespace_metadata("otherns")).status == 404


# ---- CreateBucket / DeleteBucket -----------------------------------------------------------------


def _details(name: str, compartment: str) -> Any:
    return oci.object_storage.models.CreateBucketDetails(name=name, compartment_id=compartment)


def test_create_and_delete_bucket_where_the_policy_allows(alice: Any, ids: dict[str, str]) -> None:
    created = alice.create_bucket(NS, _details("alice-new", ids["engineering-dev"]))
    assert created.status == 200
    assert created.data.name == "alice-new" and created.data.created_by
    assert created.headers["Location"].endswith(f"/n/{NS}/b/alice-new")
    assert created.headers["ETag"] == created.data.etag
    assert "alice-new" in {b.name for b in alice.list_buckets(NS, ids["engineering-dev"]).data}
    again = service_error(
        lambda: alice.create_bucket(NS, _details("alice-new", ids["engineering-dev"]))
    )
    assert (again.status, again.code) == (409, "BucketAlreadyExists")
    assert alice.delete_bucket(NS, "alice-new").status == 204
    gone = service_error(lambda: alice.get_bucket(NS, "alice-new"))
    assert (gone.status, gone.code) == (404, "BucketNotFound")


def test_writes_refused_where_only_read_or_nothing_is_granted(
    alice: Any, bob: Any, ids: dict[str, str]
) -> None:
    for who, compartment in ((alice, "shared"), (alice, "finance"), (bob, "engineering")):
        details = _details("x-new", ids[compartment])
        err = service_error(lambda c=who, d=details: c.create_bucket(NS, d))  # type: ignore[misc]
        assert (err.status, err.code) == (404, "NotAuthorizedOrNotFound")
    err = service_error(lambda: alice.delete_bucket(NS, "shared-docs"))
    assert (err.status, err.code) == (404, "BucketNotFound")
    err = service_error(lambda: bob.delete_bucket(NS, "eng-logs"))
    assert (err.status, err.code) == (404, "BucketNotFound")
    assert alice.get_bucket(NS, "shared-docs").data.name == "shared-docs"
    assert alice.get_bucket(NS, "eng-logs").data.name == "eng-logs"


def test_create_bucket_rejects_bad_input(alice: Any, ids: dict[str, str]) -> None:
    err = service_error(lambda: alice.create_bucket(NS, _details("bad/name", ids["engineering"])))
    assert (err.status, err.code) == (400, "InvalidParameter")


# ---- Objects ---------------------------------------------------------------------------------


def test_put_get_head_delete_object(alice: Any, bob: Any) -> None:
    body = b"hello from alice\n"
    put = alice.put_object(NS, "eng-artifacts", "dir/hello.txt", body, content_type="text/plain")
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    assert put.headers["opc-content-md5"] == md5
    etag = put.headers["ETag"]
    got = alice.get_object(NS, "eng-artifacts", "dir/hello.txt")
    assert got.data.content == body
    assert got.headers["ETag"] == etag
    assert got.headers["Content-Type"].startswith("text/plain")
    assert got.headers["Content-MD5"] == md5
    head = alice.head_object(NS, "eng-artifacts", "dir/hello.txt")
    assert head.headers["Content-Length"] == str(len(body))
    assert head.headers["ETag"] == etag
    assert (
        service_error(
            lambda: alice.get_object(NS, "eng-artifacts", "dir/hello.txt", if_none_match=etag)
        ).status
        == 304
    )
    stale = service_error(
        lambda: alice.put_object(NS, "eng-artifacts", "dir/hello.txt", b"x", if_match="old")
    )
    assert (stale.status, stale.code) == (412, "IfMatchFailed")
    hidden = service_error(lambda: bob.get_object(NS, "eng-artifacts", "dir/hello.txt"))
    assert (hidden.status, hidden.code) == (404, "BucketNotFound")
    not_empty = service_error(lambda: alice.delete_bucket(NS, "eng-artifacts"))
    assert (not_empty.status, not_empty.code) == (409, "BucketNotEmpty")
    assert alice.delete_object(NS, "eng-artifacts", "dir/hello.txt").status == 204
    missing = service_error(lambda: alice.get_object(NS, "eng-artifacts", "dir/hello.txt"))
    assert (missing.status, missing.code) == (404, "ObjectNotFound")


def test_read_only_grant_reads_objects_but_cannot_write(
    sb: Sandbox, config: dict, alice: Any
) -> None:
    admin = OS(config, service_endpoint=sb.url)
    admin.put_object(NS, "shared-docs", "readme.md", b"# shared\n")
    assert alice.get_object(NS, "shared-docs", "readme.md").data.content == b"# shared\n"
    err = service_error(lambda: alice.put_object(NS, "shared-docs", "alice.md", b"no"))
    assert (err.status, err.code) == (404, "BucketNotFound")
    err = service_error(lambda: alice.delete_object(NS, "shared-docs", "readme.md"))
    assert (err.status, err.code) == (404, "BucketNotFound")
    admin.delete_object(NS, "shared-docs", "readme.md")


def test_list_objects_prefix_delimiter_and_paging(bob: Any) -> None:
    names = ["a.txt", "b/1.txt", "b/2.txt", "b/c/3.txt", "d.txt"]
    for name in names:
        bob.put_object(NS, "fin-reports", name, name.encode())
    try:
        listed = bob.list_objects(NS, "fin-reports").data
        assert [o.name for o in listed.objects] == names
        assert listed.next_start_with is None and listed.prefixes is None
        assert listed.objects[0].size is None  # only name unless fields asks for more
        full = bob.list_objects(NS, "fin-reports", fields="name,size,etag,md5,timeCreated")
        assert full.data.objects[1].size == len(b"b/1.txt") and full.data.objects[1].etag
        top = bob.list_objects(NS, "fin-reports", delimiter="/").data
        assert [o.name for o in top.objects] == ["a.txt", "d.txt"] and top.prefixes == ["b/"]
        under_b = bob.list_objects(NS, "fin-reports", prefix="b/", delimiter="/").data
        assert [o.name for o in under_b.objects] == ["b/1.txt", "b/2.txt"]
        assert under_b.prefixes == ["b/c/"]
        page = bob.list_objects(NS, "fin-reports", limit=2).data
        assert [o.name for o in page.objects] == ["a.txt", "b/1.txt"]
        assert page.next_start_with == "b/2.txt"
        rest = bob.list_objects(NS, "fin-reports", start=page.next_start_with).data
        assert [o.name for o in rest.objects] == ["b/2.txt", "b/c/3.txt", "d.txt"]
        bad = service_error(lambda: bob.list_objects(NS, "fin-reports", limit=0))
        assert (bad.status, bad.code) == (400, "InvalidParameter")
    finally:
        for name in names:
            bob.delete_object(NS, "fin-reports", name)
    assert bob.list_objects(NS, "fin-reports").data.objects == []


def test_a_state_saved_before_policies_and_compute_is_migrated(tmp_path: Any) -> None:
    """A state dir saved by an older sandbox (schema 3: no IAM policies, no VCNs or instances)
    is brought up to date on its next start: alice may write where the seed policies let her,
    and the seeded instances are listed — not a sandbox whose users can suddenly write nothing."""
    import json

    from tests.conftest import mint_upst

    with Sandbox(state_dir=tmp_path):
        pass
    path = tmp_path / "state.json"
    data = json.loads(path.read_text())
    for key in ("policies", "vcns", "subnets", "instances"):  # what a schema-3 sandbox saved
        data.pop(key, None)
    data["schema_version"] = 3
    path.write_text(json.dumps(data))
    with Sandbox(state_dir=tmp_path) as again:
        config = {"region": "us-ashburn-1"}
        ic = oci.identity.IdentityClient(
            oci.config.from_file(again.config_file, again.profile), service_endpoint=again.url
        )
        compartments = {
            c.name: c.id
            for c in ic.list_compartments(again.tenancy_id, compartment_id_in_subtree=True).data
        }
        token, key = mint_upst(again, "alice")
        client = _client(again, token, key)
        made = client.create_bucket(NS, _details("after-upgrade", compartments["engineering"]))
        assert made.status == 200
        signer = oci.auth.signers.SecurityTokenSigner(token, key)
        compute = oci.core.ComputeClient(config, signer=signer, service_endpoint=again.url)
        names = {i.display_name for i in compute.list_instances(compartments["engineering"]).data}
        assert "eng-app-1" in names
        assert json.loads(path.read_text())["schema_version"] >= 4

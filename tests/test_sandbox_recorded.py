"""The sandbox answers in the wire format recorded from real OCI (issue 23, section 1).

Evidence: the oci CLI's own VCR cassettes in the public ``oracle/oci-cli`` repository (git
history), cited per test as ``path @ commit``:

- ``OS_TAGS`` = services/object_storage/tests/objectstorage_cassettes/
  object_storage_test_bucket_list_with_tags.yml @ e7dcba5b (2023-01-25 recording) — the same test
  recorded in 2018 under services/object_storage/tests/cassettes/ @ eea9437c agrees.
- ``OS_LIST`` = services/object_storage/tests/objectstorage_cassettes/
  object_storage_test_list_options.yml @ e7dcba5b (2023).
- ``IAM_ALL`` = services/identity/tests/cassettes/identity_test_all_operations_cassette.yml
  @ eea9437c (2018-06-22 recording).
- ``IAM_LIST`` = services/identity/tests/cassettes/for_generated/
  identity_test_list_compartments.yml @ eea9437c (2018-10-03).
- ``IAM_GETC`` / ``IAM_GETU`` = …/for_generated/identity_test_get_compartment.yml /
  identity_test_get_user.yml @ eea9437c.

Everything goes through the real SDK over real HTTP; where a test must tell an *absent* key from
a ``null`` one (the SDK models map both to ``None``) it reads the raw body of a request signed by
the SDK's own signer. The seed has five buckets and four lower-case compartments; tests that need
more (paging, ordering) add them to the state directly, because the sandbox does not serve
CreateBucket / CreateCompartment (yet) — nothing else is mocked.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import oci
import pytest
from oci._vendor import requests  # the SDK's vendored requests: its signer is an AuthBase of it

from oci_mcp_cli.sandbox import Sandbox
from oci_mcp_cli.sandbox.models import Bucket, Compartment

NO_RETRY = oci.retry.NoneRetryStrategy()
SHA1_HEX = re.compile(r"[0-9a-f]{40}")
REC_PREFIX = "ocid1.compartment.oc1..rec"  # compartments a test adds (and removes again)


@pytest.fixture(scope="module")
def ic(sb: Sandbox, config: dict) -> Any:
    return oci.identity.IdentityClient(config, service_endpoint=sb.url, retry_strategy=NO_RETRY)


@pytest.fixture(scope="module")
def osc(sb: Sandbox, config: dict) -> Any:
    return oci.object_storage.ObjectStorageClient(
        config, service_endpoint=sb.url, retry_strategy=NO_RETRY
    )


@pytest.fixture(scope="module")
def signer(config: dict) -> Any:
    return oci.signer.Signer(
        config["tenancy"], config["user"], config["fingerprint"], config["key_file"]
    )


def raw_get(sb: Sandbox, signer: Any, path: str, **params: str) -> Any:
    """A GET signed by the SDK's signer, without following redirects: the raw response."""
    response = requests.get(
        sb.url + path, params=params, auth=signer, allow_redirects=False, timeout=30
    )
    return response


def comp_ids(ic: Any, sb: Sandbox) -> dict[str, str]:
    data = ic.list_compartments(sb.tenancy_id, compartment_id_in_subtree=True).data
    return {c.name: c.id for c in data}


# ---- ListBuckets -------------------------------------------------------------------------------


def test_list_buckets_tags_are_null_unless_fields_tags(sb: Sandbox, ic: Any, osc: Any) -> None:
    """OS_TAGS: without ``fields=tags`` every summary has ``"freeformTags": null,
    "definedTags": null``; with it, ``{}`` (the buckets carry no tags)."""
    eng = comp_ids(ic, sb)["engineering"]
    plain = osc.list_buckets("sandboxns", eng).data
    assert plain and all(b.freeform_tags is None and b.defined_tags is None for b in plain)
    tagged = osc.list_buckets("sandboxns", eng, fields=["tags"]).data
    assert tagged and all(b.freeform_tags == {} and b.defined_tags == {} for b in tagged)


def test_list_bucket_etag_is_a_stable_uuid(sb: Sandbox, ic: Any, osc: Any) -> None:
    """OS_TAGS / OS_LIST: ``etag`` is a UUID (``c780dfa6-9a0a-4bb4-929e-1a122ffb9162``), the same
    in every listing of the same bucket, different between buckets."""
    eng = comp_ids(ic, sb)["engineering"]
    first = {b.name: b.etag for b in osc.list_buckets("sandboxns", eng).data}
    again = {b.name: b.etag for b in osc.list_buckets("sandboxns", eng).data}
    assert first == again and len(set(first.values())) == len(first) == 2
    for etag in first.values():
        assert str(uuid.UUID(etag)) == etag


def test_list_buckets_pages_25_by_default_in_byte_order(sb: Sandbox, ic: Any, osc: Any) -> None:
    """OS_TAGS: without ``limit`` a page holds 25 buckets and ``opc-next-page`` follows; OS_LIST:
    names come in byte order (``Cli1000000ReadOnlyTestBucket1``, ``…2``, … before ``…10``
    would be case- or number-aware; they are not), and ``limit=1000`` returns all of them."""
    shared = comp_ids(ic, sb)["shared"]
    names = [f"rec-{i:02d}" for i in range(30)] + ["Zeta", "_under", "alpha", "Beta"]
    with sb.ctx.store.mutate() as state:  # no CreateBucket in the sandbox yet (issue 23 §2)
        for name in names:
            state.buckets.append(Bucket(name, shared, "sandboxns", "2026-01-01T00:00:00.000Z", "x"))
    expected = sorted([*names, "shared-docs"], key=lambda n: n.encode())
    assert expected[:3] == ["Beta", "Zeta", "_under"]  # byte order, not case-insensitive

    first = osc.list_buckets("sandboxns", shared)
    assert len(first.data) == 25 and first.next_page
    assert [b.name for b in first.data] == expected[:25]
    rest = osc.list_buckets("sandboxns", shared, page=first.next_page)
    assert [b.name for b in rest.data] == expected[25:] and rest.next_page is None
    everything = osc.list_buckets("sandboxns", shared, limit=1000)
    assert [b.name for b in everything.data] == expected and everything.next_page is None


def test_list_buckets_refuses_fields_other_than_tags(sb: Sandbox, ic: Any, signer: Any) -> None:
    """The SDK allows only ``fields=tags`` (``ListBuckets``: "The only supported value of this
    parameter is 'tags' for now"); the sandbox refuses anything else with 400 rather than
    ignoring it (stricter reading: what OCI answers is not recorded)."""
    eng = comp_ids(ic, sb)["engineering"]
    path = "/n/sandboxns/b"
    assert raw_get(sb, signer, path, compartmentId=eng, fields="tags").status_code == 200
    for bad in ("tags,size", "approximateCount", ""):
        response = raw_get(sb, signer, path, compartmentId=eng, fields=bad)
        if bad == "":  # an empty value names no field: the plain listing
            assert response.status_code == 200
            continue
        assert response.status_code == 400, bad
        assert response.json()["code"] == "InvalidParameter"


def test_object_storage_echoes_opc_client_request_id(sb: Sandbox, ic: Any, osc: Any) -> None:
    """OS_TAGS: every Object Storage answer carries the ``opc-client-request-id`` the client
    sent (``519CFE654A644C97B80F3B3E118B7518`` in, the same out) — errors included."""
    eng = comp_ids(ic, sb)["engineering"]
    listed = osc.list_buckets("sandboxns", eng, opc_client_request_id="REC-LIST-1")
    assert listed.headers["opc-client-request-id"] == "REC-LIST-1"
    ns = osc.get_namespace(opc_client_request_id="REC-NS-1")
    assert ns.headers["opc-client-request-id"] == "REC-NS-1"
    with pytest.raises(oci.exceptions.ServiceError) as info:
        osc.list_buckets("otherns", eng, opc_client_request_id="REC-ERR-1")
    assert info.value.status == 404
    assert info.value.headers["opc-client-request-id"] == "REC-ERR-1"


# ---- ListCompartments --------------------------------------------------------------------------


def test_is_accessible_only_with_access_level_accessible(sb: Sandbox, signer: Any) -> None:
    """IAM_LIST: with ``accessLevel=ACCESSIBLE`` every item has ``"isAccessible": true``; with
    ``ANY`` or without the parameter the key is absent (not null) — IAM_ALL lists the same way."""
    path = "/20160918/compartments"
    for params in ({}, {"accessLevel": "ANY"}, {"compartmentIdInSubtree": "true"}):
        items = raw_get(sb, signer, path, compartmentId=sb.tenancy_id, **params).json()
        assert items and all("isAccessible" not in c for c in items), params
    accessible = raw_get(sb, signer, path, compartmentId=sb.tenancy_id, accessLevel="ACCESSIBLE")
    assert accessible.json() and all(c["isAccessible"] is True for c in accessible.json())


def test_opc_limit_is_echoed_and_capped_at_100(sb: Sandbox, signer: Any) -> None:
    """IAM_ALL: ``limit=1000`` → ``opc-limit: 100``; IAM_LIST: ``limit=10`` → ``opc-limit: 10``.
    Without ``limit`` the sandbox pages by 25 and says so, as the recorded IAM lists without
    ``limit`` do (ListPolicies, ListTagNamespaces in IAM_ALL and tag_management.yml:
    ``opc-limit: 25``)."""
    path = "/20160918/compartments"
    for limit, echoed in (("1000", "100"), ("100", "100"), ("10", "10"), ("2", "2")):
        response = raw_get(sb, signer, path, compartmentId=sb.tenancy_id, limit=limit)
        assert response.status_code == 200
        assert response.headers["opc-limit"] == echoed
    plain = raw_get(sb, signer, path, compartmentId=sb.tenancy_id)
    assert plain.headers["opc-limit"] == "25"


def test_list_compartments_with_a_trailing_slash_is_served(sb: Sandbox, signer: Any) -> None:
    """IAM_ALL: the 2018 SDK called ``GET /20160918/compartments/?…`` and got the list (200), not a
    redirect."""
    response = raw_get(sb, signer, "/20160918/compartments/", compartmentId=sb.tenancy_id)
    assert response.status_code == 200, response.status_code
    assert {c["name"] for c in response.json()} == {"engineering", "finance", "shared"}


def test_compartments_default_order_is_by_name_case_insensitive(
    sb: Sandbox, ic: Any, config: dict
) -> None:
    """IAM_LIST: without ``sortBy`` the children of a compartment come by name, case-insensitive
    (``__STS0344_482``, ``__STS0384_1032``, ``CP-1``, …, ``ParentCompTest``,
    ``test-compartment``); an explicit ``sortBy=NAME`` stays case-sensitive, as the SDK documents
    ("The NAME sort order is case sensitive")."""
    with sb.ctx.store.mutate() as state:  # no CreateCompartment in the sandbox (issue 23 §2)
        for name in ("Zulu", "_rec", "Alpha-rec"):
            cid = f"{REC_PREFIX}{name.lower().strip('_-')}"
            state.compartments[cid] = Compartment(
                cid, name, state.tenancy_id, name, "2026-01-01T00:00:00.000Z"
            )
    try:
        names = [c.name for c in ic.list_compartments(sb.tenancy_id).data]
        assert names == ["_rec", "Alpha-rec", "engineering", "finance", "shared", "Zulu"]
        by_name = ic.list_compartments(sb.tenancy_id, sort_by="NAME").data
        assert [c.name for c in by_name] == sorted(names)  # "Alpha-rec", "Zulu", "_rec", …
    finally:
        with sb.ctx.store.mutate() as state:
            for cid in [k for k in state.compartments if k.startswith(REC_PREFIX)]:
                del state.compartments[cid]


def test_the_subtree_comes_in_no_name_order(sb: Sandbox, ic: Any) -> None:
    """IAM_LIST: with ``compartmentIdInSubtree=true`` the recorded order is not by name
    (``CP-21``, ``LevelTwoChild``, ``CP-31``, ``CP-211``, …). The sandbox lists the subtree in
    OCID order, so a client that needs an order has to ask for one (``sortBy``)."""
    comps = ic.list_compartments(sb.tenancy_id, compartment_id_in_subtree=True).data
    assert [c.id for c in comps] == sorted(c.id for c in comps)
    by_name = ic.list_compartments(sb.tenancy_id, compartment_id_in_subtree=True, sort_by="NAME")
    assert [c.name for c in by_name.data] == sorted(c.name for c in comps)


# ---- GetCompartment / GetUser ------------------------------------------------------------------


def test_get_compartment_of_the_tenancy(sb: Sandbox, ic: Any, signer: Any) -> None:
    """IAM_GETC: the root compartment has no ``compartmentId`` key, a real ``timeCreated`` and
    ``"isAccessible": true``; the answer carries an ``ETag`` (40 hex), as GET of any compartment
    does (IAM_ALL)."""
    response = raw_get(sb, signer, f"/20160918/compartments/{sb.tenancy_id}")
    body = response.json()
    assert "compartmentId" not in body
    assert body["isAccessible"] is True and body["id"] == sb.tenancy_id
    assert SHA1_HEX.fullmatch(response.headers["ETag"])
    root = ic.get_compartment(sb.tenancy_id)
    assert root.data.time_created is not None and root.data.name == "sandbox-tenancy"
    assert root.headers["etag"] == response.headers["ETag"]  # stable while nothing changes
    eng = ic.get_compartment(comp_ids(ic, sb)["engineering"])
    assert SHA1_HEX.fullmatch(eng.headers["etag"]) and eng.headers["etag"] != root.headers["etag"]


def test_get_user_has_every_sdk_attribute_and_capabilities(sb: Sandbox, signer: Any) -> None:
    """IAM_GETU / IAM_ALL: a user carries ``capabilities`` (``canUseConsolePassword``,
    ``canUseApiKeys``, …) and its unset fields as ``null`` (``identityProviderId``,
    ``externalIdentifier``); here every attribute of the SDK's ``User`` model is present and
    ``capabilities`` has every key of ``UserCapabilities``; every user has a ``timeCreated``
    (the admin included); the answer carries an ``ETag``."""
    user_keys = set(oci.identity.models.User().attribute_map.values())
    capability_keys = set(oci.identity.models.UserCapabilities().attribute_map.values())
    state = sb.ctx.store.state
    ocids = [state.admin.ocid] + [u.ocid for d in state.domains.values() for u in d.users.values()]
    for ocid in dict.fromkeys(ocids):
        response = raw_get(sb, signer, f"/20160918/users/{ocid}")
        assert response.status_code == 200
        body = response.json()
        assert set(body) == user_keys, set(body) ^ user_keys
        assert set(body["capabilities"]) == capability_keys
        assert body["timeCreated"], body["name"]
        assert body["identityProviderId"] is None and body["externalIdentifier"] is None
        assert SHA1_HEX.fullmatch(response.headers["ETag"])


def test_sdk_reads_the_user_capabilities(sb: Sandbox, ic: Any) -> None:
    """The same through the SDK's models: ``User.capabilities`` deserializes (a
    ``UserCapabilities``, every flag a bool), ``time_created`` is set for the admin too."""
    user = ic.get_user(sb.ctx.store.state.admin.ocid).data
    assert isinstance(user.capabilities, oci.identity.models.UserCapabilities)
    assert user.capabilities.can_use_api_keys is True
    assert user.time_created is not None


# ---- the admin's API key file ------------------------------------------------------------------


def test_an_older_state_dirs_admin_key_gets_the_label_on_start(tmp_path: Any) -> None:
    """A state dir written before the ``OCI_API_KEY`` label (see tests/test_transparent.py for the
    oci CLI's own layout) gets it on the next start; the key itself is unchanged and still signs."""
    with Sandbox(state_dir=tmp_path) as sb:
        key_file = tmp_path / sb.ctx.store.state.admin.private_key_file
    labelled = key_file.read_bytes()
    assert labelled.endswith(b"-----END PRIVATE KEY-----\nOCI_API_KEY")
    key_file.write_bytes(labelled.removesuffix(b"OCI_API_KEY"))  # as an older sandbox wrote it
    with Sandbox(state_dir=tmp_path) as sb:
        assert key_file.read_bytes() == labelled
        config = oci.config.from_file(sb.config_file, sb.profile)
        client = oci.object_storage.ObjectStorageClient(
            config, service_endpoint=sb.url, retry_strategy=NO_RETRY
        )
        assert client.get_namespace().data == "sandboxns"

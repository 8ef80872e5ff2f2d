"""Compute, networking and Resource Search reads from the SDK's operation metadata (issue 23 §2).

Real ``ComputeClient`` / ``VirtualNetworkClient`` / ``ResourceSearchClient`` over real HTTP as
the admin, alice and bob. The seed has one VCN + subnet + instance in engineering, finance and
shared, and an instance in engineering-dev; alice sees engineering (+dev) and shared, bob finance
and shared.
"""

from __future__ import annotations

from typing import Any

import oci
import pytest

from oci_mcp_cli.sandbox import Sandbox

NO_RETRY = oci.retry.NoneRetryStrategy()


def client(sb: Sandbox, who: str, cls: Any, config: dict) -> Any:
    if who == "admin":
        return cls(config, service_endpoint=sb.url, retry_strategy=NO_RETRY)
    from tests.conftest import mint_upst

    token, key = mint_upst(sb, who)
    signer = oci.auth.signers.SecurityTokenSigner(token, key)
    return cls(
        {"region": "us-ashburn-1"},
        signer=signer,
        service_endpoint=sb.url,
        retry_strategy=NO_RETRY,
    )


@pytest.fixture(scope="module")
def ids(sb: Sandbox, config: dict) -> dict[str, str]:
    ic = client(sb, "admin", oci.identity.IdentityClient, config)
    found = ic.list_compartments(sb.tenancy_id, compartment_id_in_subtree=True).data
    return {c.name: c.id for c in found}


def not_found(call: Any) -> None:
    with pytest.raises(oci.exceptions.ServiceError) as err:
        call()
    assert (err.value.status, err.value.code) == (404, "NotAuthorizedOrNotFound")
    assert "on the oci-mcp sandbox" not in err.value.message  # served, not an unknown route


def test_instances_per_user(sb: Sandbox, config: dict, ids: dict[str, str]) -> None:
    alice = client(sb, "alice", oci.core.ComputeClient, config)
    bob = client(sb, "bob", oci.core.ComputeClient, config)
    eng = alice.list_instances(ids["engineering"]).data
    assert [i.display_name for i in eng] == ["eng-app-1"]
    assert eng[0].lifecycle_state == "RUNNING" and eng[0].shape == "VM.Standard.E4.Flex"
    assert eng[0].availability_domain.endswith("US-ASHBURN-AD-1")
    assert eng[0].region == "iad" and eng[0].fault_domain == "FAULT-DOMAIN-1"
    got = alice.get_instance(eng[0].id)
    assert got.data.id == eng[0].id and got.headers["etag"]
    assert [i.display_name for i in alice.list_instances(ids["engineering-dev"]).data] == [
        "dev-box"
    ]
    assert [i.display_name for i in bob.list_instances(ids["finance"]).data] == ["fin-db-1"]
    assert [i.display_name for i in bob.list_instances(ids["shared"]).data] == ["shared-bastion"]
    not_found(lambda: bob.list_instances(ids["engineering"]))
    not_found(lambda: bob.get_instance(eng[0].id))
    not_found(lambda: alice.get_instance("ocid1.instance.oc1.iad.nosuch"))
    assert alice.list_instances(ids["engineering"], lifecycle_state="STOPPED").data == []
    assert alice.list_instances(ids["engineering"], display_name="eng-app-1").data == eng


def test_vcns_and_subnets_per_user(sb: Sandbox, config: dict, ids: dict[str, str]) -> None:
    alice = client(sb, "alice", oci.core.VirtualNetworkClient, config)
    bob = client(sb, "bob", oci.core.VirtualNetworkClient, config)
    (vcn,) = alice.list_vcns(ids["engineering"]).data
    assert (vcn.display_name, vcn.cidr_block, vcn.lifecycle_state) == (
        "eng-vcn",
        "10.0.0.0/16",
        "AVAILABLE",
    )
    (subnet,) = alice.list_subnets(ids["engineering"], vcn_id=vcn.id).data
    assert (subnet.display_name, subnet.vcn_id, subnet.cidr_block) == (
        "eng-subnet",
        vcn.id,
        "10.0.1.0/24",
    )
    assert [v.display_name for v in bob.list_vcns(ids["finance"]).data] == ["fin-vcn"]
    assert [s.display_name for s in bob.list_subnets(ids["shared"]).data] == ["shared-subnet"]
    not_found(lambda: bob.list_vcns(ids["engineering"]))
    not_found(lambda: alice.list_subnets(ids["finance"]))


def _search(who: Any, query: str, **kw: Any) -> Any:
    details = oci.resource_search.models.StructuredSearchDetails(query=query, type="Structured")
    return who.search_resources(details, **kw)


def test_search_all_resources_per_user(sb: Sandbox, config: dict, ids: dict[str, str]) -> None:
    alice = client(sb, "alice", oci.resource_search.ResourceSearchClient, config)
    bob = client(sb, "bob", oci.resource_search.ResourceSearchClient, config)
    admin = client(sb, "admin", oci.resource_search.ResourceSearchClient, config)
    seen = {
        name: {
            (r.resource_type, r.display_name) for r in _search(c, "query all resources").data.items
        }
        for name, c in (("alice", alice), ("bob", bob), ("admin", admin))
    }
    assert ("Instance", "eng-app-1") in seen["alice"] and ("Bucket", "eng-logs") in seen["alice"]
    assert ("Instance", "shared-bastion") in seen["alice"] & seen["bob"]
    assert not {n for _, n in seen["alice"]} & {"fin-db-1", "fin-vcn", "fin-reports", "finance"}
    assert not {n for _, n in seen["bob"]} & {"eng-app-1", "dev-box", "eng-logs", "engineering"}
    assert (
        seen["alice"] | seen["bob"] == seen["admin"] != seen["alice"]
    )  # all in their compartments
    vcns = _search(alice, "query vcn resources").data.items
    assert {(r.resource_type, r.display_name) for r in vcns} == {
        ("Vcn", "eng-vcn"),
        ("Vcn", "shared-vcn"),
    }
    assert {r.compartment_id for r in vcns} == {ids["engineering"], ids["shared"]}
    both = _search(bob, "QUERY Instance, Bucket RESOURCES").data.items
    assert {r.display_name for r in both} == {
        "fin-db-1",
        "shared-bastion",
        "fin-reports",
        "shared-docs",
    }
    page = _search(admin, "query all resources", limit=3)
    assert len(page.data.items) == 3 and page.next_page


def test_search_refuses_what_it_cannot_answer(sb: Sandbox, config: dict) -> None:
    alice = client(sb, "alice", oci.resource_search.ResourceSearchClient, config)
    for query in (
        "query all resources where freeformTags.key = 'x'",
        "query all resources where compartmentId = 'a' || displayName = 'b'",
        "select everything",
    ):
        with pytest.raises(oci.exceptions.ServiceError) as err:
            _search(alice, query)
        assert (err.value.status, err.value.code) == (400, "InvalidParameter")
    free = oci.resource_search.models.FreeTextSearchDetails(text="eng", type="FreeText")
    with pytest.raises(oci.exceptions.ServiceError) as err:
        alice.search_resources(free)
    assert (err.value.status, err.value.code) == (400, "InvalidParameter")


def test_search_where_compartment_and_display_name(
    sb: Sandbox, config: dict, ids: dict[str, str]
) -> None:
    """The clauses Oracle's resource-search server sends: ``compartmentId = '…'`` and
    ``displayName =~ '…'`` (case-insensitive substring), joined by ``&&``."""
    alice = client(sb, "alice", oci.resource_search.ResourceSearchClient, config)
    bob = client(sb, "bob", oci.resource_search.ResourceSearchClient, config)
    eng = ids["engineering"]
    found = _search(alice, f"query all resources where compartmentId = '{eng}'").data.items
    assert {(r.resource_type, r.display_name) for r in found} == {
        ("Instance", "eng-app-1"),
        ("Vcn", "eng-vcn"),
        ("Subnet", "eng-subnet"),
        ("Bucket", "eng-artifacts"),
        ("Bucket", "eng-logs"),
        ("Compartment", "engineering-dev"),
    }
    assert _search(bob, f"query all resources where compartmentId = '{eng}'").data.items == []
    query = f"query instance resources where compartmentId = '{eng}' && displayName =~ 'APP'"
    assert [r.display_name for r in _search(alice, query).data.items] == ["eng-app-1"]
    types = {t.name for t in alice.list_resource_types().data}
    assert types == {"Instance", "Vcn", "Subnet", "Bucket", "Compartment"}

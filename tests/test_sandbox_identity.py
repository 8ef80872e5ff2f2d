"""IAM control plane and Object Storage of the sandbox through the real SDK clients."""

from __future__ import annotations

from typing import Any

import oci
import pytest

from oci_mcp_cli.sandbox import Sandbox

NO_RETRY = oci.retry.NoneRetryStrategy()


@pytest.fixture(scope="module")
def sb(shared_sb: Sandbox) -> Sandbox:
    """The session's shared sandbox: these tests only read its seed state."""
    return shared_sb


@pytest.fixture(scope="module")
def admin(sb: Sandbox, config: dict) -> Any:
    return oci.identity.IdentityClient(config, service_endpoint=sb.url, retry_strategy=NO_RETRY)


@pytest.fixture(scope="module")
def admin_os(sb: Sandbox, config: dict) -> Any:
    return oci.object_storage.ObjectStorageClient(
        config, service_endpoint=sb.url, retry_strategy=NO_RETRY
    )


def comp_ids(admin: Any, sb: Sandbox) -> dict[str, str]:
    data = admin.list_compartments(sb.tenancy_id, compartment_id_in_subtree=True).data
    return {c.name: c.id for c in data}


def not_found(call: Any) -> None:
    with pytest.raises(oci.exceptions.ServiceError) as info:
        call()
    assert (info.value.status, info.value.code) == (404, "NotAuthorizedOrNotFound")


def test_list_domains_has_the_reference_fields(sb: Sandbox, admin: Any) -> None:
    domains = admin.list_domains(compartment_id=sb.tenancy_id).data
    assert [(d.display_name, d.type) for d in domains] == [
        ("Default", "DEFAULT"),
        ("Secondary", "SECONDARY"),
    ]
    first = domains[0]
    assert first.url == sb.domains[0]["url"] == first.home_region_url
    assert first.id.startswith("ocid1.domain.")
    assert first.compartment_id == sb.tenancy_id
    assert first.lifecycle_state == "ACTIVE"
    assert first.home_region == "us-ashburn-1"
    assert first.time_created is not None
    assert admin.get_domain(first.id).data.display_name == "Default"


def test_list_domains_filters_and_compartment_rules(sb: Sandbox, admin: Any) -> None:
    assert [
        d.display_name
        for d in admin.list_domains(compartment_id=sb.tenancy_id, type="SECONDARY").data
    ] == ["Secondary"]
    assert [
        d.type
        for d in admin.list_domains(compartment_id=sb.tenancy_id, display_name="Default").data
    ] == ["DEFAULT"]
    assert admin.list_domains(compartment_id=comp_ids(admin, sb)["finance"]).data == []
    not_found(lambda: admin.list_domains(compartment_id="ocid1.compartment.oc1..nope"))
    not_found(lambda: admin.get_domain("ocid1.domain.oc1..nope"))


def test_regions_subscriptions_and_tenancy(sb: Sandbox, admin: Any) -> None:
    assert {r.key for r in admin.list_regions().data} == {"IAD", "PHX"}
    subs = admin.list_region_subscriptions(sb.tenancy_id).data
    assert {s.region_name: s.is_home_region for s in subs} == {
        "us-ashburn-1": True,
        "us-phoenix-1": False,
    }
    tenancy = admin.get_tenancy(sb.tenancy_id).data
    assert (tenancy.name, tenancy.home_region_key) == ("sandbox-tenancy", "IAD")
    not_found(lambda: admin.get_tenancy("ocid1.tenancy.oc1..other"))


def test_admin_sees_every_compartment(sb: Sandbox, admin: Any) -> None:
    assert set(comp_ids(admin, sb)) == {"engineering", "engineering-dev", "finance", "shared"}
    top = admin.list_compartments(sb.tenancy_id).data
    assert {c.name for c in top} == {"engineering", "finance", "shared"}
    eng = comp_ids(admin, sb)["engineering"]
    assert [c.name for c in admin.list_compartments(eng).data] == ["engineering-dev"]
    assert admin.get_compartment(eng).data.name == "engineering"
    with pytest.raises(oci.exceptions.ServiceError) as info:
        admin.list_compartments(eng, compartment_id_in_subtree=True)
    assert info.value.status == 400


def test_two_users_see_different_compartments(sb: Sandbox, admin: Any, user_client: Any) -> None:
    ids = comp_ids(admin, sb)
    alice = user_client(sb, "alice", oci.identity.IdentityClient)
    bob = user_client(sb, "bob", oci.identity.IdentityClient)
    seen_by = {
        name: {
            c.name
            for c in client.list_compartments(
                sb.tenancy_id, compartment_id_in_subtree=True, access_level="ACCESSIBLE"
            ).data
        }
        for name, client in (("alice", alice), ("bob", bob))
    }
    assert seen_by == {
        "alice": {"engineering", "engineering-dev", "shared"},
        "bob": {"finance", "shared"},
    }
    assert alice.get_compartment(ids["engineering"]).data.name == "engineering"
    not_found(lambda: alice.get_compartment(ids["finance"]))
    not_found(lambda: bob.list_compartments(ids["engineering"]))


def test_two_users_see_different_buckets(sb: Sandbox, admin: Any, user_client: Any) -> None:
    ids = comp_ids(admin, sb)
    alice = user_client(sb, "alice", oci.object_storage.ObjectStorageClient)
    bob = user_client(sb, "bob", oci.object_storage.ObjectStorageClient)
    ns = alice.get_namespace().data
    assert ns == "sandboxns"
    assert {b.name for b in alice.list_buckets(ns, ids["engineering"]).data} == {
        "eng-artifacts",
        "eng-logs",
    }
    assert [b.name for b in bob.list_buckets(ns, ids["finance"]).data] == ["fin-reports"]
    assert [b.name for b in bob.list_buckets(ns, ids["shared"]).data] == ["shared-docs"]
    not_found(lambda: alice.list_buckets(ns, ids["finance"]))
    not_found(lambda: bob.list_buckets(ns, ids["engineering-dev"]))


def test_bucket_summary_wire_fields(sb: Sandbox, admin: Any, admin_os: Any) -> None:
    ids = comp_ids(admin, sb)
    (bucket,) = admin_os.list_buckets("sandboxns", ids["engineering-dev"]).data
    assert bucket.name == "dev-scratch"
    assert bucket.namespace == "sandboxns"
    assert bucket.compartment_id == ids["engineering-dev"]
    assert bucket.created_by and bucket.etag and bucket.time_created
    not_found(lambda: admin_os.list_buckets("otherns", ids["engineering"]))
    not_found(lambda: admin_os.list_buckets("sandboxns", "ocid1.compartment.oc1..nope"))


def test_get_user_visibility(sb: Sandbox, admin: Any, user_client: Any) -> None:
    state = sb.ctx.store.state
    users = {u.user_name: u.ocid for d in state.domains.values() for u in d.users.values()}
    assert admin.get_user(users["alice"]).data.name == "alice"
    assert admin.get_user(state.admin.ocid).data.name == "sandbox-admin"
    alice = user_client(sb, "alice", oci.identity.IdentityClient)
    assert alice.get_user(users["alice"]).data.email == "alice@example.com"
    not_found(lambda: alice.get_user(users["bob"]))
    not_found(lambda: alice.get_user(state.admin.ocid))


def test_written_profile_reaches_the_sandbox_through_core(sb: Sandbox) -> None:
    from oci_mcp_cli.core.ociconfig import load_oci_auth, oci_client

    auth = load_oci_auth(sb.config_file, "SANDBOX")
    assert auth.service_endpoint == sb.url
    client = oci_client(oci.identity.IdentityClient, auth)
    assert len(client.list_domains(compartment_id=auth.tenancy_id).data) == 2

"""IAM read operations served from the SDK's operation metadata (issue 23 §2): availability and
fault domains, users, groups and policies, as the admin and as alice and bob.

Real ``IdentityClient`` over real HTTP, signed with the admin's API key or a user's UPST. Users,
groups and policies live in the tenancy; reading them takes ``inspect`` on them, which only the
administrators hold, so alice and bob get OCI's ``404 NotAuthorizedOrNotFound`` there.
"""

from __future__ import annotations

from typing import Any

import oci
import pytest

from oci_mcp_cli.sandbox import Sandbox

IC = oci.identity.IdentityClient


@pytest.fixture(scope="module")
def admin(sb: Sandbox, config: dict) -> Any:
    return IC(config, service_endpoint=sb.url, retry_strategy=oci.retry.NoneRetryStrategy())


@pytest.fixture(scope="module")
def ids(sb: Sandbox, admin: Any) -> dict[str, str]:
    found = admin.list_compartments(sb.tenancy_id, compartment_id_in_subtree=True).data
    return {c.name: c.id for c in found}


def as_user(sb: Sandbox, username: str) -> Any:
    from tests.conftest import mint_upst

    token, key = mint_upst(sb, username)
    signer = oci.auth.signers.SecurityTokenSigner(token, key)
    return IC(
        {"region": "us-ashburn-1"},
        signer=signer,
        service_endpoint=sb.url,
        retry_strategy=oci.retry.NoneRetryStrategy(),
    )


def error(call: Any) -> tuple[int, str]:
    with pytest.raises(oci.exceptions.ServiceError) as err:
        call()
    assert "on the oci-mcp sandbox" not in err.value.message  # served, not an unknown route
    return err.value.status, err.value.code


def test_availability_and_fault_domains(sb: Sandbox, admin: Any, ids: dict[str, str]) -> None:
    alice = as_user(sb, "alice")
    ads = alice.list_availability_domains(sb.tenancy_id).data
    assert [a.name.split(":")[1] for a in ads] == [f"US-ASHBURN-AD-{n}" for n in (1, 2, 3)]
    assert all(a.compartment_id == sb.tenancy_id and a.id.startswith("ocid1.") for a in ads)
    assert [a.name for a in admin.list_availability_domains(ids["finance"]).data] == [
        a.name for a in ads
    ]
    assert error(lambda: alice.list_availability_domains(ids["finance"])) == (
        404,
        "NotAuthorizedOrNotFound",
    )
    fds = alice.list_fault_domains(ids["engineering"], ads[0].name).data
    assert [f.name for f in fds] == ["FAULT-DOMAIN-1", "FAULT-DOMAIN-2", "FAULT-DOMAIN-3"]
    assert {(f.availability_domain, f.compartment_id) for f in fds} == {
        (ads[0].name, ids["engineering"])
    }
    assert (
        error(lambda: alice.list_fault_domains(ids["engineering"], "XXXX:NOWHERE-AD-9"))[0] == 400
    )
    assert error(
        lambda: as_user(sb, "bob").list_fault_domains(ids["engineering"], ads[0].name)
    ) == (
        404,
        "NotAuthorizedOrNotFound",
    )


def test_admin_lists_users_groups_and_policies(sb: Sandbox, admin: Any) -> None:
    users = admin.list_users(sb.tenancy_id).data
    assert {u.name for u in users} == {"sandbox-admin", "alice", "bob"}  # the Default domain's
    assert all(u.capabilities is not None and u.time_created for u in users)
    assert [u.name for u in admin.list_users(sb.tenancy_id, name="bob").data] == ["bob"]
    groups = admin.list_groups(sb.tenancy_id).data
    assert [g.name for g in groups] == ["Administrators"]
    policies = {p.name: p for p in admin.list_policies(sb.tenancy_id).data}
    assert set(policies) == {"Administrators", "alice-access", "bob-access", "carol-access"}
    assert policies["alice-access"].statements == [
        "Allow any-user to manage all-resources in compartment engineering"
        " where request.user.name = 'alice'",
        "Allow any-user to read all-resources in compartment shared"
        " where request.user.name = 'alice'",
    ]
    page = admin.list_policies(sb.tenancy_id, limit=2)
    assert len(page.data) == 2 and page.next_page
    rest = admin.list_policies(sb.tenancy_id, limit=2, page=page.next_page).data
    assert {p.name for p in page.data + rest} == set(policies)
    assert error(lambda: admin.list_users("ocid1.compartment.oc1..nosuch")) == (
        404,
        "NotAuthorizedOrNotFound",
    )


@pytest.mark.parametrize("username", ["alice", "bob"])
def test_users_without_inspect_get_not_authorized_or_not_found(sb: Sandbox, username: str) -> None:
    user = as_user(sb, username)
    for call in (user.list_users, user.list_groups, user.list_policies):
        assert error(lambda c=call: c(sb.tenancy_id)) == (404, "NotAuthorizedOrNotFound")
    assert user.get_tenancy(sb.tenancy_id).data.name == "sandbox-tenancy"


def test_seed_policies_grant_reads_exactly_where_users_see(sb: Sandbox) -> None:
    """The statements the sandbox evaluates for writes agree with what users may read."""
    from oci_mcp_cli.sandbox.policies import granted_compartments

    with sb.ctx.store.read() as state:
        for domain in state.domains.values():
            for user in domain.users.values():
                granted = granted_compartments(state, user.ocid, "read", "object-family")
                if user.ocid == state.admin.ocid:
                    assert granted is None
                else:
                    assert granted == set(user.visible_compartments), user.user_name

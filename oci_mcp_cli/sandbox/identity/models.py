"""IAM rules of the sandbox: what a principal may see (no HTTP, no wire shapes).

Users see only the compartments the seed grants them; anything a principal may not see is
``404 NotAuthorizedOrNotFound``, as in OCI.
"""

from __future__ import annotations

from dataclasses import dataclass

from oci_mcp_cli.sandbox.models import Compartment, Domain, SandboxState
from oci_mcp_cli.sandbox.wire import OciApiError, not_found


@dataclass(frozen=True)
class IamUser:
    """What ``GET /users/{id}`` shows of a user (the tenancy admin or a domain user)."""

    ocid: str
    name: str
    email: str
    time_created: str


def can_see(state: SandboxState, principal_ocid: str, compartment_id: str) -> bool:
    if compartment_id == state.tenancy_id:
        return True
    visible = state.visible_compartments(principal_ocid)
    return compartment_id in state.compartments and (visible is None or compartment_id in visible)


def domains_in(state: SandboxState, principal_ocid: str, compartment_id: str) -> list[Domain]:
    """The domains of a compartment (all of them live in the tenancy)."""
    if not can_see(state, principal_ocid, compartment_id):
        raise not_found(f"Compartment {compartment_id}")
    return [] if compartment_id != state.tenancy_id else list(state.domains.values())


def domain_by_ocid(state: SandboxState, domain_id: str) -> Domain:
    for domain in state.domains.values():
        if domain.ocid == domain_id:
            return domain
    raise not_found(f"Domain {domain_id}")


def check_tenancy(state: SandboxState, tenancy_id: str) -> None:
    if tenancy_id != state.tenancy_id:
        raise not_found(f"Tenancy {tenancy_id}")


def tenancy_time_created(state: SandboxState) -> str:
    """When the tenancy was created: the seed makes it first, so no later than its oldest
    compartment or domain (the state keeps no separate timestamp for it)."""
    return min(
        [c.time_created for c in state.compartments.values()]
        + [d.time_created for d in state.domains.values()]
    )


def home_region_key(state: SandboxState) -> str:
    return next(r["key"] for r in state.regions if r["name"] == state.home_region)


def compartments_under(
    state: SandboxState, principal_ocid: str, parent: str, subtree: bool, name: str | None
) -> list[Compartment]:
    """``ListCompartments``: children of ``parent`` (or the whole tree from the tenancy)."""
    if subtree and parent != state.tenancy_id:
        raise OciApiError(
            400,
            "InvalidParameter",
            "compartmentIdInSubtree=true is only valid with the tenancy OCID",
        )
    if not can_see(state, principal_ocid, parent):
        raise not_found(f"Compartment {parent}")
    visible = state.visible_compartments(principal_ocid)
    found = [
        c
        for c in state.compartments.values()
        if (subtree or c.parent_id == parent)
        and (visible is None or c.id in visible)
        and (not name or c.name == name)
    ]
    if subtree:  # recorded in no name order: the sandbox uses OCID order (docs/sandbox.md)
        return sorted(found, key=lambda c: c.id)
    return sorted(found, key=lambda c: (c.name.casefold(), c.name))  # recorded default order


def compartment(state: SandboxState, principal_ocid: str, cid: str) -> Compartment:
    """A compartment the principal may see (not the tenancy: the caller renders the root)."""
    if not can_see(state, principal_ocid, cid):
        raise not_found(f"Compartment {cid}")
    return state.compartments[cid]


def iam_user(state: SandboxState, principal_ocid: str, uid: str) -> IamUser:
    """The admin sees every user; a user sees only itself. A user was created with its domain
    (the admin, a user of the Default domain too, with the tenancy when a state predates that)."""
    is_admin = principal_ocid == state.admin.ocid
    found = state.find_user_by_ocid(uid)
    if uid == state.admin.ocid and is_admin and found is None:
        email = f"{state.admin.name}@example.com"
        return IamUser(uid, state.admin.name, email, tenancy_time_created(state))
    if found is None or not (is_admin or uid == principal_ocid):
        raise not_found(f"User {uid}")
    domain, user = found
    return IamUser(uid, user.user_name, user.email, domain.time_created)

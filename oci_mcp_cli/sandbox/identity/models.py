"""IAM rules of the sandbox: what a principal may see (no HTTP, no wire shapes).

Users see only the compartments the seed grants them; anything a principal may not see is
``404 NotAuthorizedOrNotFound``, as in OCI.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from oci_mcp_cli.sandbox.models import (
    Compartment,
    Domain,
    Policy,
    SandboxState,
    availability_domain_name,
)
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


# ---- Served from the SDK's metadata (docs/sandbox.md "Operations served …") ----

AD_COUNT = 3  # us-ashburn-1 has three availability domains
FAULT_DOMAINS = ("FAULT-DOMAIN-1", "FAULT-DOMAIN-2", "FAULT-DOMAIN-3")


@dataclass(frozen=True)
class AvailabilityDomain:
    name: str  # "<tenancy prefix>:US-ASHBURN-AD-1"
    id: str


def _digest(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


def availability_domains(
    state: SandboxState, principal_ocid: str, compartment_id: str
) -> list[AvailabilityDomain]:
    """The home region's ADs, named with a tenancy-specific prefix as OCI names them."""
    if not can_see(state, principal_ocid, compartment_id):
        raise not_found(f"Compartment {compartment_id}")
    return [
        AvailabilityDomain(
            availability_domain_name(state.tenancy_id, state.home_region, n),
            f"ocid1.availabilitydomain.oc1..aaaaaaaa{_digest(state.tenancy_id, str(n))[:52]}",
        )
        for n in range(1, AD_COUNT + 1)
    ]


def fault_domains(
    state: SandboxState, principal_ocid: str, compartment_id: str, ad_name: str
) -> list[tuple[str, str]]:
    """``(name, id)`` of the fault domains of one AD."""
    if ad_name not in {a.name for a in availability_domains(state, principal_ocid, compartment_id)}:
        raise OciApiError(400, "InvalidParameter", f"Unknown availabilityDomain {ad_name}")
    return [
        (fd, f"ocid1.faultdomain.oc1..aaaaaaaa{_digest(ad_name, fd)[:52]}") for fd in FAULT_DOMAINS
    ]


def require_inspect_iam(state: SandboxState, principal_ocid: str, compartment_id: str) -> None:
    """Users, groups and policies take ``inspect`` on them: only the administrators have it
    (the seed grants users nothing on IAM resources); others get 404, as OCI answers."""
    if not can_see(state, principal_ocid, compartment_id) or not state.is_tenancy_admin(
        principal_ocid
    ):
        raise not_found(f"Compartment {compartment_id}")


def tenancy_users(state: SandboxState, principal_ocid: str, compartment_id: str) -> list[IamUser]:
    """ListUsers: the Default domain's users (IAM shows that domain's), in the tenancy only."""
    require_inspect_iam(state, principal_ocid, compartment_id)
    default = next((d for d in state.domains.values() if d.type == "DEFAULT"), None)
    if compartment_id != state.tenancy_id or default is None:
        return []
    return [
        IamUser(u.ocid, u.user_name, u.email, default.time_created) for u in default.users.values()
    ]


@dataclass(frozen=True)
class IamGroup:
    id: str
    name: str
    description: str
    time_created: str


def tenancy_groups(state: SandboxState, principal_ocid: str, compartment_id: str) -> list[IamGroup]:
    """ListGroups: the Administrators group the admin belongs to (the one the policies name)."""
    require_inspect_iam(state, principal_ocid, compartment_id)
    if compartment_id != state.tenancy_id:
        return []
    gid = f"ocid1.group.oc1..aaaaaaaa{_digest(state.tenancy_id, 'Administrators')[:52]}"
    return [IamGroup(gid, "Administrators", "Tenancy administrators", tenancy_time_created(state))]


def tenancy_policies(state: SandboxState, principal_ocid: str, compartment_id: str) -> list[Policy]:
    require_inspect_iam(state, principal_ocid, compartment_id)
    return [p for p in state.policies if p.compartment_id == compartment_id]

"""Compute and networking rules: what a principal may read (no HTTP, no wire shapes).

Reads follow the compartments a principal sees; anything else is ``404
NotAuthorizedOrNotFound``, missing or forbidden alike, as OCI answers.
"""

from __future__ import annotations

from typing import TypeVar

from oci_mcp_cli.sandbox.identity.models import can_see
from oci_mcp_cli.sandbox.models import Instance, SandboxState, Subnet, Vcn
from oci_mcp_cli.sandbox.wire import not_found

R = TypeVar("R", Instance, Vcn, Subnet)


def in_compartment(
    state: SandboxState, principal_ocid: str, compartment_id: str, items: list[R]
) -> list[R]:
    if not can_see(state, principal_ocid, compartment_id):
        raise not_found(f"Compartment {compartment_id}")
    return [i for i in items if i.compartment_id == compartment_id]


def by_id(state: SandboxState, principal_ocid: str, ocid: str, items: list[R], kind: str) -> R:
    found = next((i for i in items if i.id == ocid), None)
    if found is None or not can_see(state, principal_ocid, found.compartment_id):
        raise not_found(f"{kind} {ocid}")
    return found

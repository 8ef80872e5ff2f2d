"""Object Storage rules: the namespace and the buckets a principal may list (no HTTP).

A compartment the principal may not see is ``404 NotAuthorizedOrNotFound``. Buckets are listed by
name in byte order (as recorded: ``…Bucket1``, ``…Bucket10``, ``…Bucket100``; upper case first).
"""

from __future__ import annotations

from oci_mcp_cli.sandbox.models import Bucket, SandboxState
from oci_mcp_cli.sandbox.wire import not_found


def buckets_in(
    state: SandboxState, principal_ocid: str, namespace: str, compartment_id: str
) -> list[Bucket]:
    if namespace != state.namespace:
        raise not_found(f"Namespace {namespace}")
    visible = state.visible_compartments(principal_ocid)
    known = compartment_id in state.compartments or compartment_id == state.tenancy_id
    if not known or (visible is not None and compartment_id not in visible):
        raise not_found(f"Compartment {compartment_id}")
    found = [b for b in state.buckets if b.compartment_id == compartment_id]
    return sorted(found, key=lambda b: b.name.encode())

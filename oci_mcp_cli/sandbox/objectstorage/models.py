"""Object Storage rules: the namespace and the buckets a principal may list (no HTTP).

A compartment the principal may not see is ``404 NotAuthorizedOrNotFound``. Buckets are listed by
name in byte order (as recorded: ``…Bucket1``, ``…Bucket10``, ``…Bucket100``; upper case first).
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid

from oci_mcp_cli.sandbox import policies
from oci_mcp_cli.sandbox.models import Bucket, SandboxState, StoredObject
from oci_mcp_cli.sandbox.seed import now_iso
from oci_mcp_cli.sandbox.wire import OciApiError, not_found


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


# ---- Buckets and objects by name (the operations of docs/sandbox.md "Operations served …") ----

BUCKET_NAME = re.compile(r"^[A-Za-z0-9._-]{1,256}$")
FAMILY = "object-family"


def bucket_not_found(namespace: str, name: str) -> OciApiError:
    """Object Storage's 404 for a bucket that is missing *or* not the caller's to see."""
    return OciApiError(
        404,
        "BucketNotFound",
        f"Either the bucket named '{name}' does not exist in the namespace '{namespace}' or you"
        " are not authorized to access it",
    )


def bucket_ocid(b: Bucket) -> str:
    """A bucket's OCID: stable, derived from its identity (the state keeps none)."""
    digest = hashlib.sha256(f"{b.namespace}/{b.name}/{b.time_created}".encode()).hexdigest()
    return f"ocid1.bucket.oc1.iad.aaaaaaaa{digest[:52]}"


def check_namespace(state: SandboxState, namespace: str) -> None:
    if namespace != state.namespace:
        raise not_found(f"Namespace {namespace}")


def bucket(
    state: SandboxState, principal_ocid: str, namespace: str, name: str, *, write: bool = False
) -> Bucket:
    """A bucket the principal may read (or, with ``write``, manage): else ``BucketNotFound``."""
    check_namespace(state, namespace)
    found = next((b for b in state.buckets if b.name == name), None)
    if found is None or not may_access(state, principal_ocid, found.compartment_id, write):
        raise bucket_not_found(namespace, name)
    return found


def may_access(state: SandboxState, principal_ocid: str, compartment_id: str, write: bool) -> bool:
    if write:
        return policies.allows(state, principal_ocid, "manage", FAMILY, compartment_id)
    visible = state.visible_compartments(principal_ocid)
    return visible is None or compartment_id in visible


def create_bucket(
    state: SandboxState, principal_ocid: str, namespace: str, name: str, compartment_id: str
) -> Bucket:
    check_namespace(state, namespace)
    if not BUCKET_NAME.match(name):
        raise OciApiError(
            400,
            "InvalidParameter",
            "A bucket name may hold only letters, digits, '.', '-' and '_' (1 to 256)",
        )
    if compartment_id not in state.compartments and compartment_id != state.tenancy_id:
        raise not_found(f"Compartment {compartment_id}")
    if not may_access(state, principal_ocid, compartment_id, write=True):
        raise not_found(f"Compartment {compartment_id}")
    if any(b.name == name for b in state.buckets):
        raise OciApiError(
            409,
            "BucketAlreadyExists",
            f"Either the bucket '{name}' in namespace '{namespace}' already exists or you are"
            " not authorized to create it",
        )
    created = Bucket(name, compartment_id, namespace, now_iso(), principal_ocid)
    state.buckets.append(created)
    return created


def delete_bucket(state: SandboxState, b: Bucket) -> None:
    if any(o.bucket == b.name for o in state.objects):
        raise OciApiError(
            409,
            "BucketNotEmpty",
            f"Bucket named '{b.name}' is not empty. Delete all objects first.",
        )
    state.buckets.remove(b)


def objects_in(state: SandboxState, b: Bucket) -> list[StoredObject]:
    """A bucket's objects in name order (UTF-8 byte order, as the buckets)."""
    found = [o for o in state.objects if o.bucket == b.name]
    return sorted(found, key=lambda o: o.name.encode())


def find_object(state: SandboxState, b: Bucket, name: str) -> StoredObject | None:
    return next((o for o in state.objects if o.bucket == b.name and o.name == name), None)


def get_object(state: SandboxState, b: Bucket, name: str) -> StoredObject:
    found = find_object(state, b, name)
    if found is None:
        raise OciApiError(
            404,
            "ObjectNotFound",
            f"The object '{name}' was not found in the bucket '{b.name}'",
        )
    return found


def put_object(
    state: SandboxState, b: Bucket, name: str, data: bytes, content_type: str
) -> StoredObject:
    """Create or replace an object; a new ETag each time."""
    old = find_object(state, b, name)
    now = now_iso()
    new = StoredObject(
        namespace=b.namespace,
        bucket=b.name,
        name=name,
        data=base64.b64encode(data).decode(),
        content_type=content_type,
        md5=base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode(),
        etag=str(uuid.uuid4()),
        time_created=old.time_created if old else now,
        time_modified=now,
    )
    if old is not None:
        state.objects.remove(old)
    state.objects.append(new)
    return new

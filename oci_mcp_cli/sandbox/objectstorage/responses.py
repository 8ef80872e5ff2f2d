"""Object Storage wire layer: parse the request, apply :mod:`.models`, answer in OCI's JSON.

Each handler serves one SDK operation (``Call -> Reply``, see :mod:`..operations`); the table
in :mod:`.urls` names the operations, the SDK's metadata gives their routes and parameters.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from oci_mcp_cli.sandbox.objectstorage import models
from oci_mcp_cli.sandbox.operations import Call, Reply, model_wire
from oci_mcp_cli.sandbox.wire import OciApiError, Paging, with_tags

if TYPE_CHECKING:
    from oci_mcp_cli.sandbox.context import SandboxContext
    from oci_mcp_cli.sandbox.models import Bucket, SandboxState, StoredObject

# ListBuckets pages by 25 without ``limit`` (recorded: 25 items and ``opc-next-page``); no
# ``opc-limit`` header.
BUCKET_PAGING = Paging(default_limit=25)
LIST_FIELDS = ("tags",)  # the SDK's allowed values of ``fields`` (ListBuckets)
BUCKET_FIELDS = ("approximateCount", "approximateSize", "autoTiering")  # GetBucket
OBJECT_FIELDS = (
    "name",
    "size",
    "etag",
    "timeCreated",
    "md5",
    "timeModified",
    "storageTier",
    "archivalState",
)
OBJECTS_LIMIT = 1000  # ListObjects: default and largest page


def _etag(b: Bucket) -> str:
    """A UUID (version 4 form, as recorded), stable for one bucket: derived from its identity."""
    digest = hashlib.sha256(f"{b.namespace}/{b.name}/{b.time_created}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def _fields(raw: str | None, allowed: tuple[str, ...]) -> set[str]:
    wanted = {f for f in (raw or "").split(",") if f}
    if wanted - set(allowed):
        raise OciApiError(400, "InvalidParameter", f"fields may only name {', '.join(allowed)}")
    return wanted


def bucket_summary_wire(b: Bucket, tags: bool) -> dict[str, Any]:
    """A ``BucketSummary``; tags ``null`` unless the list asked for ``fields=tags``."""
    return with_tags(
        {
            "namespace": b.namespace,
            "name": b.name,
            "compartmentId": b.compartment_id,
            "createdBy": b.created_by,
            "timeCreated": b.time_created,
            "etag": _etag(b),
        },
        shown=tags,
    )


def bucket_wire(state: SandboxState, b: Bucket, fields: set[str]) -> dict[str, Any]:
    """A ``Bucket``: every SDK attribute; the approximate counts only when ``fields`` asks."""
    objects = models.objects_in(state, b)
    size = sum(len(base64.b64decode(o.data)) for o in objects)
    return model_wire(
        "object_storage",
        "Bucket",
        namespace=b.namespace,
        name=b.name,
        compartment_id=b.compartment_id,
        metadata={},
        created_by=b.created_by,
        time_created=b.time_created,
        etag=_etag(b),
        public_access_type="NoPublicAccess",
        storage_tier="Standard",
        object_events_enabled=False,
        freeform_tags={},
        defined_tags={},
        replication_enabled=False,
        is_read_only=False,
        id=models.bucket_ocid(b),
        versioning="Disabled",
        approximate_count=len(objects) if "approximateCount" in fields else None,
        approximate_size=size if "approximateSize" in fields else None,
        auto_tiering="Disabled" if "autoTiering" in fields else None,
    )


def _http_date(iso: str) -> str:
    return email.utils.format_datetime(datetime.fromisoformat(iso), usegmt=True)


def object_headers(o: StoredObject, size: int) -> dict[str, str]:
    return {
        "Content-Type": o.content_type,
        "Content-MD5": o.md5,
        "Content-Length": str(size),
        "Last-Modified": _http_date(o.time_modified),
        "Accept-Ranges": "bytes",
        "archival-state": "Available",
        "storage-tier": "Standard",
    }


def object_summary_wire(o: StoredObject, fields: set[str]) -> dict[str, Any]:
    """An ``ObjectSummary``: the name, and the other attributes ``fields`` names."""
    values = {
        "size": len(base64.b64decode(o.data)),
        "etag": o.etag,
        "time_created": o.time_created,
        "md5": o.md5,
        "time_modified": o.time_modified,
        "storage_tier": "Standard",
        "archival_state": None,
    }
    wire_to_attr = {"timeCreated": "time_created", "timeModified": "time_modified"}
    wire_to_attr |= {"storageTier": "storage_tier", "archivalState": "archival_state"}
    chosen = {wire_to_attr.get(f, f) for f in fields}
    shown = {k: v for k, v in values.items() if k in chosen}
    return model_wire("object_storage", "ObjectSummary", name=o.name, **shown)


def _objects_limit(raw: str | None) -> int:
    if raw is None:
        return OBJECTS_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= OBJECTS_LIMIT:
        raise OciApiError(
            400, "InvalidParameter", f"limit must be an integer from 1 to {OBJECTS_LIMIT}"
        )
    return int(raw)


def list_objects_page(
    objects: list[StoredObject], call: Call
) -> tuple[list[StoredObject], list[str] | None, str | None]:
    """ListObjects over name-ordered ``objects``: ``prefix``, ``start`` (inclusive),
    ``startAfter``, ``end`` (exclusive), ``delimiter`` (``/`` only: rolls names up into
    ``prefixes``) and ``limit``; ``nextStartWith`` names the first entry not returned."""
    prefix = call.query("prefix") or ""
    start, after, end = call.query("start"), call.query("startAfter"), call.query("end")
    delimiter = call.query("delimiter")
    if delimiter not in (None, "/"):
        raise OciApiError(400, "InvalidParameter", "Only '/' is supported as a delimiter")
    limit = _objects_limit(call.query("limit"))
    entries: list[tuple[str, StoredObject | None, str]] = []  # (name, object, prefix)
    seen: set[str] = set()
    for o in objects:
        key = o.name.encode()
        if (
            not o.name.startswith(prefix)
            or (start is not None and key < start.encode())
            or (after is not None and key <= after.encode())
            or (end is not None and key >= end.encode())
        ):
            continue
        rest = o.name[len(prefix) :]
        if delimiter and delimiter in rest:
            rolled = prefix + rest.split(delimiter, 1)[0] + delimiter
            if rolled not in seen:
                seen.add(rolled)
                entries.append((o.name, None, rolled))
            continue
        entries.append((o.name, o, ""))
    page = entries[:limit]
    following = entries[limit][0] if len(entries) > limit else None
    found = [o for _, o, _ in page if o is not None]
    prefixes = [p for _, o, p in page if o is None] if delimiter else None
    return found, prefixes, following


class ObjectStorageResponses:
    """The Object Storage handlers of one sandbox."""

    def __init__(self, ctx: SandboxContext):
        self.ctx = ctx

    # ---- namespace ----
    def get_namespace(self, call: Call) -> Reply:
        with self.ctx.store.read() as state:
            return Reply(state.namespace)

    def get_namespace_metadata(self, call: Call) -> Reply:
        with self.ctx.store.read() as state:
            models.check_namespace(state, call.path["namespaceName"])
            return Reply(
                model_wire(
                    "object_storage",
                    "NamespaceMetadata",
                    namespace=state.namespace,
                    default_s3_compartment_id=state.tenancy_id,
                    default_swift_compartment_id=state.tenancy_id,
                )
            )

    # ---- buckets ----
    def list_buckets(self, call: Call) -> Reply:
        compartment = call.required_query("compartmentId")
        tags = "tags" in _fields(call.query("fields"), LIST_FIELDS)
        with self.ctx.store.read() as state:
            found = models.buckets_in(
                state, call.principal.ocid, call.path["namespaceName"], compartment
            )
            return Reply([bucket_summary_wire(b, tags) for b in found])

    def get_bucket(self, call: Call) -> Reply:
        fields = _fields(call.query("fields"), BUCKET_FIELDS)
        with self.ctx.store.read() as state:
            b = self._bucket(state, call)
            return Reply(bucket_wire(state, b, fields), etag=_etag(b))

    def head_bucket(self, call: Call) -> Reply:
        with self.ctx.store.read() as state:
            return Reply(etag=_etag(self._bucket(state, call)))

    def create_bucket(self, call: Call) -> Reply:
        details = call.json_body()
        name, compartment = details.get("name"), details.get("compartmentId")
        if not isinstance(name, str) or not isinstance(compartment, str):
            raise OciApiError(400, "InvalidParameter", "name and compartmentId are required")
        ns = call.path["namespaceName"]
        with self.ctx.store.mutate() as state:
            b = models.create_bucket(state, call.principal.ocid, ns, name, compartment)
            location = f"{self.ctx.base_url}/n/{ns}/b/{name}"
            return Reply(
                bucket_wire(state, b, set()), etag=_etag(b), headers={"Location": location}
            )

    def delete_bucket(self, call: Call) -> Reply:
        with self.ctx.store.mutate() as state:
            b = self._bucket(state, call, write=True)
            call.check_write_preconditions(_etag(b))
            models.delete_bucket(state, b)
            return Reply(status=204)

    # ---- objects ----
    def list_objects(self, call: Call) -> Reply:
        fields = _fields(call.query("fields"), OBJECT_FIELDS)
        with self.ctx.store.read() as state:
            b = self._bucket(state, call)
            found, prefixes, following = list_objects_page(models.objects_in(state, b), call)
            return Reply(
                model_wire(
                    "object_storage",
                    "ListObjects",
                    objects=[object_summary_wire(o, fields) for o in found],
                    prefixes=prefixes,
                    next_start_with=following,
                )
            )

    def get_object(self, call: Call) -> Reply:
        with self.ctx.store.read() as state:
            o = models.get_object(state, self._bucket(state, call), call.path["objectName"])
            data = base64.b64decode(o.data)
            headers = object_headers(o, len(data))
            return Reply(data, etag=o.etag, headers=headers, media_type=o.content_type)

    head_object = get_object  # the same headers; the generic endpoint drops the body

    def put_object(self, call: Call) -> Reply:
        content_type = call.header("content-type") or "application/octet-stream"
        with self.ctx.store.mutate() as state:
            b = self._bucket(state, call, write=True)
            name = call.path["objectName"]
            old = models.find_object(state, b, name)
            call.check_write_preconditions(old.etag if old else None)
            o = models.put_object(state, b, name, call.body, content_type)
            headers = {"opc-content-md5": o.md5, "last-modified": _http_date(o.time_modified)}
            return Reply(b"", etag=o.etag, headers=headers)

    def delete_object(self, call: Call) -> Reply:
        with self.ctx.store.mutate() as state:
            b = self._bucket(state, call, write=True)
            o = models.get_object(state, b, call.path["objectName"])
            call.check_write_preconditions(o.etag)
            state.objects.remove(o)
            return Reply(status=204, headers={"last-modified": _http_date(o.time_modified)})

    def _bucket(self, state: SandboxState, call: Call, *, write: bool = False) -> Bucket:
        path = call.path
        return models.bucket(
            state, call.principal.ocid, path["namespaceName"], path["bucketName"], write=write
        )

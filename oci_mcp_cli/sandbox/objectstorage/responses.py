"""Object Storage wire layer: parse the request, apply :mod:`.models`, answer in OCI's JSON."""

from __future__ import annotations

import hashlib
import uuid
from typing import TYPE_CHECKING, Any

from oci_mcp_cli.sandbox.objectstorage import models
from oci_mcp_cli.sandbox.wire import (
    OciApiError,
    Paging,
    json_response,
    oci_list_response,
    with_tags,
)

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from oci_mcp_cli.sandbox.context import SandboxContext
    from oci_mcp_cli.sandbox.models import Bucket
    from oci_mcp_cli.sandbox.signatures import Principal

# ListBuckets pages by 25 without ``limit`` (recorded: 25 items and ``opc-next-page``); no
# ``opc-limit`` header.
BUCKET_PAGING = Paging(default_limit=25)
LIST_FIELDS = ("tags",)  # the SDK's allowed values of ``fields``


def _etag(b: Bucket) -> str:
    """A UUID (version 4 form, as recorded), stable for one bucket: derived from its identity."""
    digest = hashlib.sha256(f"{b.namespace}/{b.name}/{b.time_created}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def _fields(request: Request) -> set[str]:
    wanted = {f for f in request.query_params.get("fields", "").split(",") if f}
    unknown = wanted - set(LIST_FIELDS)
    if unknown:
        raise OciApiError(
            400, "InvalidParameter", f"fields may only name {', '.join(LIST_FIELDS)}"
        )
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


class ObjectStorageResponses:
    """The Object Storage handlers of one sandbox (``(request, principal, body) -> Response``)."""

    def __init__(self, ctx: SandboxContext):
        self.ctx = ctx

    def namespace(self, request: Request, principal: Principal, body: bytes) -> Response:
        with self.ctx.store.read() as state:
            return json_response(request, state.namespace)

    def list_buckets(self, request: Request, principal: Principal, body: bytes) -> Response:
        compartment = request.query_params.get("compartmentId")
        if not compartment:
            raise OciApiError(
                400, "MissingParameter", "Missing the required parameter compartmentId"
            )
        tags = "tags" in _fields(request)
        with self.ctx.store.read() as state:
            buckets = models.buckets_in(
                state, principal.ocid, request.path_params["ns"], compartment
            )
            wire = [bucket_summary_wire(b, tags) for b in buckets]
        return oci_list_response(request, wire, BUCKET_PAGING)

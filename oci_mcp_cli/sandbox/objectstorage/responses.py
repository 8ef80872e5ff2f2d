"""Object Storage wire layer: parse the request, apply :mod:`.models`, answer in OCI's JSON."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from oci_mcp_cli.sandbox.objectstorage import models
from oci_mcp_cli.sandbox.wire import OciApiError, json_response, oci_list_response, with_tags

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from oci_mcp_cli.sandbox.context import SandboxContext
    from oci_mcp_cli.sandbox.models import Bucket
    from oci_mcp_cli.sandbox.signatures import Principal


def _etag(b: Bucket) -> str:
    return hashlib.sha256(f"{b.namespace}/{b.name}".encode()).hexdigest()[:32]


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
        with self.ctx.store.read() as state:
            buckets = models.buckets_in(
                state, principal.ocid, request.path_params["ns"], compartment
            )
            return oci_list_response(
                request,
                [
                    with_tags(
                        {
                            "namespace": b.namespace,
                            "name": b.name,
                            "compartmentId": b.compartment_id,
                            "createdBy": b.created_by,
                            "timeCreated": b.time_created,
                            "etag": _etag(b),
                        }
                    )
                    for b in buckets
                ],
            )

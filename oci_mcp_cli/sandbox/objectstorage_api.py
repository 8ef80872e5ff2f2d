"""Object Storage at the root: ``GET /n`` (namespace) and ``GET /n/{ns}/b`` (list buckets).

Signed calls only; a compartment the principal may not see is ``404 NotAuthorizedOrNotFound``.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from oci_mcp_cli.sandbox.wire import (
    OciApiError,
    json_response,
    not_found,
    oci_list_response,
    signed_endpoint,
)

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from oci_mcp_cli.sandbox.context import SandboxContext
    from oci_mcp_cli.sandbox.signatures import Principal


def routes(ctx: SandboxContext) -> list[Route]:
    from starlette.routing import Route

    def namespace(request: Request, principal: Principal, body: bytes) -> Response:
        with ctx.store.read() as state:
            return json_response(request, state.namespace)

    def list_buckets(request: Request, principal: Principal, body: bytes) -> Response:
        compartment = request.query_params.get("compartmentId")
        if not compartment:
            raise OciApiError(
                400, "MissingParameter", "Missing the required parameter compartmentId"
            )
        with ctx.store.read() as state:
            if request.path_params["ns"] != state.namespace:
                raise not_found(f"Namespace {request.path_params['ns']}")
            visible = state.visible_compartments(principal.ocid)
            known = compartment in state.compartments or compartment == state.tenancy_id
            if not known or (visible is not None and compartment not in visible):
                raise not_found(f"Compartment {compartment}")
            buckets = [b for b in state.buckets if b.compartment_id == compartment]
            return oci_list_response(
                request,
                [
                    {
                        "namespace": b.namespace,
                        "name": b.name,
                        "compartmentId": b.compartment_id,
                        "createdBy": b.created_by,
                        "timeCreated": b.time_created,
                        "etag": hashlib.sha256(f"{b.namespace}/{b.name}".encode()).hexdigest()[:32],
                        "freeformTags": {},
                        "definedTags": {},
                    }
                    for b in buckets
                ],
            )

    ns_endpoint = signed_endpoint(ctx, namespace)
    list_endpoint = signed_endpoint(ctx, list_buckets)
    return [
        Route("/n", ns_endpoint, methods=["GET"]),
        Route("/n/", ns_endpoint, methods=["GET"]),
        Route("/n/{ns}/b", list_endpoint, methods=["GET"]),
        Route("/n/{ns}/b/", list_endpoint, methods=["GET"]),
    ]

"""The Object Storage route table (with and without the trailing slash the SDK may send). Every
answer repeats the client's ``opc-client-request-id``, as recorded from Object Storage."""

from __future__ import annotations

from typing import TYPE_CHECKING

from oci_mcp_cli.sandbox.objectstorage.responses import ObjectStorageResponses
from oci_mcp_cli.sandbox.wire import signed_endpoint

if TYPE_CHECKING:
    from starlette.routing import Route

    from oci_mcp_cli.sandbox.context import SandboxContext


ECHO = ("opc-client-request-id",)


def routes(ctx: SandboxContext) -> list[Route]:
    from starlette.routing import Route

    api = ObjectStorageResponses(ctx)
    ns_endpoint = signed_endpoint(ctx, api.namespace, echo=ECHO)
    list_endpoint = signed_endpoint(ctx, api.list_buckets, echo=ECHO)
    return [
        Route("/n", ns_endpoint, methods=["GET"]),
        Route("/n/", ns_endpoint, methods=["GET"]),
        Route("/n/{ns}/b", list_endpoint, methods=["GET"]),
        Route("/n/{ns}/b/", list_endpoint, methods=["GET"]),
    ]

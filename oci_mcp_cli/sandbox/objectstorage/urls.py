"""The Object Storage route table: the SDK operations served and the handler of each; routes,
parameters and response models come from the SDK (:mod:`..operations`). Collections also answer
with the trailing slash the SDK may send. Every answer repeats the client's
``opc-client-request-id``, as recorded from Object Storage."""

from __future__ import annotations

from typing import TYPE_CHECKING

from oci_mcp_cli.sandbox.objectstorage.responses import BUCKET_PAGING, ObjectStorageResponses
from oci_mcp_cli.sandbox.operations import Served, operation_routes

if TYPE_CHECKING:
    from starlette.routing import Route

    from oci_mcp_cli.sandbox.context import SandboxContext


CLIENT = "oci.object_storage.ObjectStorageClient"
ECHO = ("opc-client-request-id",)


def routes(ctx: SandboxContext) -> list[Route]:
    api = ObjectStorageResponses(ctx)
    table = [
        Served("get_namespace", api.get_namespace),
        Served("get_namespace_metadata", api.get_namespace_metadata),
        Served("list_buckets", api.list_buckets, BUCKET_PAGING),
        Served("create_bucket", api.create_bucket),
        Served("get_bucket", api.get_bucket),
        Served("head_bucket", api.head_bucket),
        Served("delete_bucket", api.delete_bucket),
        Served("list_objects", api.list_objects),
        Served("get_object", api.get_object),
        Served("head_object", api.head_object),
        Served("put_object", api.put_object),
        Served("delete_object", api.delete_object),
    ]
    return operation_routes(ctx, CLIENT, table, echo=ECHO, trailing_slash=True)

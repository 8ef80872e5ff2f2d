"""The Resource Search operation served (route and parameters from the SDK's metadata)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from oci_mcp_cli.sandbox.operations import Served, operation_routes
from oci_mcp_cli.sandbox.search.responses import SearchResponses

if TYPE_CHECKING:
    from starlette.routing import Route

    from oci_mcp_cli.sandbox.context import SandboxContext

CLIENT = "oci.resource_search.ResourceSearchClient"


def routes(ctx: SandboxContext) -> list[Route]:
    api = SearchResponses(ctx)
    table = [
        Served("search_resources", api.search_resources),
        Served("list_resource_types", api.list_resource_types),
    ]
    return operation_routes(ctx, CLIENT, table)

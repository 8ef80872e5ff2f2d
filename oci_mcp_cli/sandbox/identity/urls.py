"""The IAM route table: ``GET /20160918/...``, every route behind the OCI signature check.

Collections also answer with a trailing slash (``/compartments/``), as recorded from OCI when the
SDK sent one: served there, not redirected."""

from __future__ import annotations

from typing import TYPE_CHECKING

from oci_mcp_cli.sandbox.identity.responses import IAM_PAGING, IdentityOperations, IdentityResponses
from oci_mcp_cli.sandbox.operations import Served, operation_routes
from oci_mcp_cli.sandbox.wire import signed_endpoint

if TYPE_CHECKING:
    from starlette.routing import Route

    from oci_mcp_cli.sandbox.context import SandboxContext

BASE = "/20160918"
CLIENT = "oci.identity.IdentityClient"


def routes(ctx: SandboxContext) -> list[Route]:
    from starlette.routing import Route

    api = IdentityResponses(ctx)
    table = [
        ("/domains", api.list_domains),
        ("/domains/{id}", api.get_domain),
        ("/regions", api.list_regions),
        ("/tenancies/{id}/regionSubscriptions", api.region_subscriptions),
        ("/tenancies/{id}", api.get_tenancy),
        ("/compartments", api.list_compartments),
        ("/compartments/", api.list_compartments),
        ("/compartments/{id}", api.get_compartment),
        ("/users/{id}", api.get_user),
    ]
    ops = IdentityOperations(ctx)
    served = [  # the SDK's metadata gives each its route, parameters and response model
        Served("list_availability_domains", ops.list_availability_domains),
        Served("list_fault_domains", ops.list_fault_domains),
        Served("list_users", ops.list_users, IAM_PAGING),
        Served("list_groups", ops.list_groups, IAM_PAGING),
        Served("list_policies", ops.list_policies, IAM_PAGING),
    ]
    hand_written = [
        Route(BASE + path, signed_endpoint(ctx, fn), methods=["GET"]) for path, fn in table
    ]
    return hand_written + operation_routes(ctx, CLIENT, served)
